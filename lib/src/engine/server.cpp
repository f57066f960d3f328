// The Engine.IO v4 server: its facade (create, listen, stop, metrics), the sid generator and the
// handshake error table. The parts: server_state.hpp (the shared state), session.hpp/.cpp (one
// session's driver, session_handle, send_batch), requests.cpp (the requests), and the HTTP
// listener in transport/http_server.cpp.
#include "requests.hpp"
#include "session.hpp"

#include <openssl/rand.h>

#include <stdexcept>

namespace sio::engine {

// --- handshake errors, sids --------------------------------------------------------------------

std::string_view message(handshake_error e) noexcept {
    switch (e) {
    case handshake_error::unknown_transport: return "Transport unknown";
    case handshake_error::unknown_sid: return "Session ID unknown";
    case handshake_error::bad_handshake_method: return "Bad handshake method";
    case handshake_error::bad_request: return "Bad request";
    case handshake_error::forbidden: return "Forbidden";
    case handshake_error::unsupported_protocol_version: return "Unsupported protocol version";
    }
    return "Bad request";
}

std::string_view name(handshake_error e) noexcept {
    switch (e) {
    case handshake_error::unknown_transport: return "UNKNOWN_TRANSPORT";
    case handshake_error::unknown_sid: return "UNKNOWN_SID";
    case handshake_error::bad_handshake_method: return "BAD_HANDSHAKE_METHOD";
    case handshake_error::bad_request: return "BAD_REQUEST";
    case handshake_error::forbidden: return "FORBIDDEN";
    case handshake_error::unsupported_protocol_version: return "UNSUPPORTED_PROTOCOL_VERSION";
    }
    return "BAD_REQUEST";
}

unsigned http_status(handshake_error e) noexcept { return e == handshake_error::forbidden ? 403 : 400; }

std::string generate_sid() {
    std::array<unsigned char, 15> bytes{};
    if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1)
        throw std::runtime_error("RAND_bytes failed: no entropy for a session id");
    static constexpr char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    std::string out;
    out.reserve(20);
    // 15 bytes are exactly 5 groups of 3: 20 characters, no padding.
    for (std::size_t i = 0; i < bytes.size(); i += 3) {
        const std::uint32_t v = (std::uint32_t{bytes[i]} << 16) | (std::uint32_t{bytes[i + 1]} << 8) |
                                std::uint32_t{bytes[i + 2]};
        out.push_back(alphabet[(v >> 18) & 63]);
        out.push_back(alphabet[(v >> 12) & 63]);
        out.push_back(alphabet[(v >> 6) & 63]);
        out.push_back(alphabet[v & 63]);
    }
    return out;
}

// --- server ------------------------------------------------------------------------------------

server::server(std::vector<asio::any_io_executor> loops, server_options options)
    : impl_(std::make_shared<impl>(std::move(loops), options)), options_(std::move(options)) {
    transport::http_listener::config c;
    c.loops = impl_->loops;
    c.single_threaded = impl_->options.single_threaded;
    c.limits.request_timeout = impl_->options.request_timeout;
    c.limits.max_connections = impl_->options.max_connections;
    c.limits.max_connections_per_ip = impl_->options.max_connections_per_ip;
    c.limits.max_header_bytes = impl_->options.max_header_bytes;
    c.limits.max_tls_handshakes = impl_->options.max_tls_handshakes;
    c.server_name = impl_->options.server_name;
    c.tls = impl_->options.tls;
    c.counters = &impl_->metrics;
    // The listener's callbacks reach the server's state without keeping it alive: the state owns
    // the listener.
    std::weak_ptr<impl> weak = impl_;
    c.on_refusal = [weak](const transport::http_refusal& r) {
        auto core = weak.lock();
        if (!core) return;
        server_event e;
        e.type = server_event::kind::request_refused;
        e.remote_address = r.remote_address;
        e.http_status = r.status;
        e.detail = r.detail;
        core->emit(e);
    };
    c.on_failure = [weak](std::string_view what) {
        auto core = weak.lock();
        if (!core) return;
        server_event e;
        e.type = server_event::kind::failure;
        e.detail = std::string{what};
        core->emit(e);
    };
    c.on_request = [weak](std::shared_ptr<connection> conn, http::request_parser<http::string_body>& parser) {
        auto core = weak.lock();
        if (!core) return closed_step();
        return route(std::move(core), std::move(conn), parser);
    };
    c.decorate = [weak](const request_type& req, response_type& res) {
        if (auto core = weak.lock()) add_cors(*core, req[http::field::origin], res);
    };
    impl_->http = transport::http_listener::create(std::move(c));
}

std::shared_ptr<server> server::create(asio::any_io_executor executor, server_options options) {
    return create(std::vector<asio::any_io_executor>{std::move(executor)}, std::move(options));
}

std::shared_ptr<server> server::create(std::vector<asio::any_io_executor> loops, server_options options) {
    if (loops.empty()) throw std::invalid_argument("engine::server::create: no event loop");
    return std::shared_ptr<server>(new server(std::move(loops), std::move(options)));
}

server::~server() {
    stop();
    // The sessions hold the server's state, which holds them: once their closes are posted
    // (each keeps its session until it has run, or until its loop is destroyed), the registry
    // lets them go.
    for (auto& sh : impl_->shards) {
        std::unordered_map<std::string, std::shared_ptr<session>> sessions;
        {
            std::lock_guard lock{sh.mutex};
            sessions.swap(sh.sessions);
        }
    }
}

void server::set_open_handler(open_handler handler) {
    std::lock_guard lock{impl_->handlers_mutex};
    impl_->on_open = std::move(handler);
}

void server::set_http_handler(http_handler handler) {
    std::lock_guard lock{impl_->handlers_mutex};
    impl_->on_http = std::move(handler);
}

error_code server::listen(const tcp::endpoint& endpoint) { return impl_->http->listen(endpoint); }

tcp::endpoint server::local_endpoint() const { return impl_->http->local_endpoint(); }

void server::stop() {
    auto core = impl_;
    if (core->stopped.exchange(true)) return;
    core->http->stop();
    for (auto& sh : core->shards) {
        std::vector<std::shared_ptr<session>> sessions;
        {
            std::lock_guard lock{sh.mutex};
            for (auto& entry : sh.sessions) sessions.push_back(entry.second);
        }
        for (auto& s : sessions) asio::post(s->strand(), [s] { s->force_close(); });
    }
}

void server::stop_accepting() { impl_->http->stop_accepting(); }

std::size_t server::transport_count() const {
    return impl_->live_websockets.load(std::memory_order_relaxed) + impl_->http->connection_count();
}

const server_metrics& server::metrics() const noexcept { return impl_->metrics; }

std::size_t server::queued_bytes() const noexcept {
    const auto& total = impl_->options.session.total_queued;
    return total ? total->load(std::memory_order_relaxed) : 0;
}

bool server::set_tls_context(std::shared_ptr<asio::ssl::context> context) {
    return impl_->http->set_tls_context(std::move(context));
}

std::size_t server::session_count() const {
    std::size_t n = 0;
    for (auto& sh : impl_->shards) {
        std::lock_guard lock{sh.mutex};
        n += sh.sessions.size();
    }
    return n;
}

}  // namespace sio::engine
