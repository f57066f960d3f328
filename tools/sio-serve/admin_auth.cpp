#include "admin_auth.hpp"

#include <crypt.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <fmt/core.h>

#include <cstring>
#include <memory>
#include <stdexcept>

namespace sio::serve {
namespace {

using json = sio::codec::json;

const std::string* string_member(const json& j, const char* name) {
    if (!j.is_object()) return nullptr;
    auto it = j.find(name);
    return it != j.end() && it->is_string() ? &it->get_ref<const std::string&>() : nullptr;
}

bool constant_time_equal(std::string_view a, std::string_view b) {
    return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

// $2a$/$2b$/$2y$, a two-digit cost, 53 characters of salt and hash.
bool looks_like_bcrypt(std::string_view h) {
    if (h.size() != 60 || h[0] != '$' || h[1] != '2' || h[3] != '$' || h[6] != '$') return false;
    if (h[2] != 'a' && h[2] != 'b' && h[2] != 'y') return false;
    if (h[4] < '0' || h[4] > '3' || h[5] < '0' || h[5] > '9') return false;
    for (const char c : h.substr(7)) {
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '/';
        if (!ok) return false;
    }
    return true;
}

std::string random_id() {
    unsigned char bytes[8];
    if (RAND_bytes(bytes, sizeof bytes) != 1) throw std::runtime_error("RAND_bytes failed");
    std::string out;
    for (const unsigned char b : bytes) out += fmt::format("{:02x}", b);
    return out;
}

}  // namespace

bool bcrypt_matches(std::string_view password, const std::string& hash) {
    if (password.find('\0') != std::string_view::npos) return false;  // crypt() would stop there
    auto data = std::make_unique<crypt_data>();  // zeroed, as crypt_r wants it the first time
    const std::string pw(password);
    const char* out = crypt_r(pw.c_str(), hash.c_str(), data.get());
    if (out == nullptr || out[0] == '*') return false;
    return constant_time_equal(out, hash);
}

std::string check_admin_auth(std::string_view spec) {
    const auto colon = spec.find(':');
    if (colon == std::string_view::npos || colon == 0)
        return "--admin-auth: use USER:BCRYPT_HASH, e.g. admin:$2b$10$... (quote it in the shell)";
    const std::string hash(spec.substr(colon + 1));
    if (!looks_like_bcrypt(hash))
        return "--admin-auth: the password must be a bcrypt hash ($2a$, $2b$ or $2y$, 60 characters), as "
               "@socket.io/admin-ui takes it; make one with e.g. htpasswd -nbBC 10 USER PASSWORD or bcryptjs";
    auto data = std::make_unique<crypt_data>();
    const char* out = crypt_r("", hash.c_str(), data.get());
    if (out == nullptr || out[0] == '*' || std::strlen(out) != hash.size())
        return "--admin-auth: this system's crypt() does not take that bcrypt hash";
    return {};
}

admin_auth::admin_auth(std::string_view spec) {
    const auto colon = spec.find(':');
    user_ = std::string(spec.substr(0, colon));
    hash_ = std::string(spec.substr(colon + 1));
}

bool admin_auth::known_session(const json& auth) {
    const std::string* id = string_member(auth, "sessionId");
    if (id == nullptr || id->empty()) return false;
    std::lock_guard lock(mutex_);
    return sessions_.count(*id) != 0;
}

bool admin_auth::admits(const json& auth) {
    if (known_session(auth)) return true;
    const std::string* user = string_member(auth, "username");
    const std::string* password = string_member(auth, "password");
    if (user == nullptr || password == nullptr) return false;
    // Both compared, whatever the user name, so that the time taken does not tell it.
    const bool user_ok = constant_time_equal(*user, user_);
    const bool password_ok = bcrypt_matches(*password, hash_);
    return user_ok && password_ok;
}

std::optional<std::string> admin_auth::new_session_unless_known(const json& auth) {
    if (known_session(auth)) return std::nullopt;
    std::string id = random_id();
    std::lock_guard lock(mutex_);
    sessions_.insert(id);
    order_.push_back(id);
    while (order_.size() > max_sessions) {
        sessions_.erase(order_.front());
        order_.pop_front();
    }
    return id;
}

}  // namespace sio::serve
