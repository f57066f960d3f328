// The Admin UI's basic authentication, as @socket.io/admin-ui does it: a user name and a bcrypt
// hash of the password; a client that logged in gets a session id ("session" event), which it
// presents instead of the password when it reconnects.
#pragma once

#include <sio/codec/json.hpp>

#include <cstddef>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>

namespace sio::serve {

// Checks "USER:BCRYPT_HASH" (a $2a$, $2b$ or $2y$ hash the system's crypt() takes); an error
// sentence, or empty.
std::string check_admin_auth(std::string_view spec);

// True when `password` hashes to `hash` (bcrypt through libxcrypt's crypt_r; compared in
// constant time).
bool bcrypt_matches(std::string_view password, const std::string& hash);

class admin_auth {
public:
    // `spec` passed check_admin_auth.
    explicit admin_auth(std::string_view spec);

    const std::string& user() const noexcept { return user_; }
    // The CONNECT payload {sessionId} of a known session, or {username, password} matching.
    bool admits(const sio::codec::json& auth);
    // A new session id for a client that logged in with its password; nullopt when it came with
    // a known session id.
    std::optional<std::string> new_session_unless_known(const sio::codec::json& auth);

    static constexpr std::size_t max_sessions = 10000;  // the oldest are forgotten first

private:
    bool known_session(const sio::codec::json& auth);

    std::string user_;
    std::string hash_;
    std::mutex mutex_;  // guards the sessions
    std::unordered_set<std::string> sessions_;
    std::deque<std::string> order_;
};

}  // namespace sio::serve
