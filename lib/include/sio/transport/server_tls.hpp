// TLS for servers: a context built from a certificate chain and a private key (PEM files).
//
// TLS 1.2 and 1.3 only; for TLS 1.2 only ECDHE key exchange with AEAD ciphers (forward secrecy,
// no CBC, no RSA key transport); TLS 1.3 suites as OpenSSL defaults them. Compression and
// renegotiation off, server cipher preference on, ALPN "http/1.1" accepted.
#pragma once

#include <boost/asio/ssl/context.hpp>

#include <memory>
#include <string>

namespace sio::transport {

struct server_tls_files {
    std::string cert_file;  // PEM: the certificate, then any intermediates
    std::string key_file;   // PEM: the private key (not encrypted)
};

// The context, or null with `error` set to a sentence naming the file and what is wrong with
// it (missing, unreadable, not PEM, key not matching the certificate).
std::shared_ptr<boost::asio::ssl::context> make_server_tls_context(const server_tls_files& files,
                                                                   std::string& error);

}  // namespace sio::transport
