#include "sio/transport/server_tls.hpp"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>

#include <fmt/core.h>

#include <cstring>
#include <fstream>

namespace sio::transport {

namespace {

// The most recent OpenSSL error as text ("no start line", "key values mismatch", ...).
std::string openssl_reason() {
    unsigned long last = 0;
    while (const unsigned long e = ERR_get_error()) last = e;
    if (last == 0) return "unknown error";
    const char* reason = ERR_reason_error_string(last);
    return reason ? reason : fmt::format("OpenSSL error {:#x}", last);
}

// ALPN: accept http/1.1 when the client offers it, otherwise go on without ALPN.
int select_alpn(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
                unsigned int inlen, void*) {
    static constexpr unsigned char h11[] = {'h', 't', 't', 'p', '/', '1', '.', '1'};
    for (unsigned int i = 0; i < inlen;) {
        const unsigned len = in[i];
        if (i + 1 + len > inlen) break;
        if (len == sizeof h11 && std::memcmp(in + i + 1, h11, len) == 0) {
            *out = in + i + 1;
            *outlen = static_cast<unsigned char>(len);
            return SSL_TLSEXT_ERR_OK;
        }
        i += 1 + len;
    }
    return SSL_TLSEXT_ERR_NOACK;
}

bool readable(const std::string& path) {
    std::ifstream f{path, std::ios::binary};
    return static_cast<bool>(f);
}

}  // namespace

std::shared_ptr<boost::asio::ssl::context> make_server_tls_context(const server_tls_files& files,
                                                                   std::string& error) {
    namespace ssl = boost::asio::ssl;
    if (files.cert_file.empty() || files.key_file.empty()) {
        error = "TLS needs both a certificate and a key";
        return nullptr;
    }
    for (const auto* f : {&files.cert_file, &files.key_file}) {
        if (!readable(*f)) {
            error = fmt::format("cannot read {}: {}", *f, std::strerror(errno));
            return nullptr;
        }
    }
    auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
    SSL_CTX* native = ctx->native_handle();
    ERR_clear_error();
    SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION);
    SSL_CTX_set_options(native, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                                    SSL_OP_CIPHER_SERVER_PREFERENCE);
    // An encrypted key would make OpenSSL prompt on the terminal: refuse it instead.
    SSL_CTX_set_default_passwd_cb(native, [](char*, int, int, void*) { return 0; });
    // TLS 1.2: ECDHE with AES-GCM or ChaCha20-Poly1305 only.
    if (SSL_CTX_set_cipher_list(native,
                                "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
                                "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
                                "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305") != 1) {
        error = "cannot set the TLS 1.2 cipher list: " + openssl_reason();
        return nullptr;
    }
    SSL_CTX_set_alpn_select_cb(native, select_alpn, nullptr);
    if (SSL_CTX_use_certificate_chain_file(native, files.cert_file.c_str()) != 1) {
        error = fmt::format("{} is not a PEM certificate chain: {}", files.cert_file, openssl_reason());
        return nullptr;
    }
    EVP_PKEY* key = nullptr;
    if (BIO* bio = BIO_new_file(files.key_file.c_str(), "r")) {
        key = PEM_read_bio_PrivateKey(bio, nullptr, [](char*, int, int, void*) { return 0; }, nullptr);
        BIO_free(bio);
    }
    if (key == nullptr) {
        error = fmt::format("{} is not an unencrypted PEM private key: {}", files.key_file, openssl_reason());
        return nullptr;
    }
    const int used = SSL_CTX_use_PrivateKey(native, key);
    EVP_PKEY_free(key);
    if (used != 1 || SSL_CTX_check_private_key(native) != 1) {
        error = fmt::format("the key in {} does not match the certificate in {}: {}", files.key_file,
                            files.cert_file, openssl_reason());
        return nullptr;
    }
    return ctx;
}

}  // namespace sio::transport
