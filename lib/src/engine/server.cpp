// The Engine.IO v4 server driver: sockets, HTTP requests, WebSockets, timers and the sid
// registry around the pure state machine of server_session.hpp.
//
// Threads and strands. Every accepted connection gets its own strand and one coroutine that
// reads its HTTP requests. Every session gets its own strand too; a connection reaches a session
// only by running a piece of code on the session's strand (co_spawn ... use_awaitable) and then
// writes the answer itself. A WebSocket belongs to its session: its socket is moved onto the
// session's strand, where one reader handler and one writer use it: the writer is a coroutine
// while a backlog lasts, and otherwise a non-blocking write made on the strand (write_now), never
// both at once.
// GCC 12 at -O3 inlines Asio's coroutine frame allocator and then misreads its recycling
// allocation as a new/free mismatch (a false positive); the warning is off for this file only.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

#include "sio/engine/server.hpp"

#include "sio/codec/json.hpp"
#include "sio/codec/percent.hpp"
#include "sio/codec/ws_frame.hpp"
#include "sio/transport/http_server.hpp"
#include "sio/transport/ws_handshake.hpp"
#include "sio/transport/ws_stream.hpp"

#include <fmt/format.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/detect_ssl.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/websocket/rfc6455.hpp>

#include <openssl/rand.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <deque>
#include <functional>
#include <mutex>
#include <span>
#include <stdexcept>
#include <unordered_map>
#include <utility>

namespace sio::engine {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace eio = codec::eio;
using tcp = asio::ip::tcp;
using boost::system::error_code;

namespace {

constexpr auto tok = asio::as_tuple(asio::use_awaitable);
// Where one session (or the acceptor) runs: a strand of the server's executor, or with
// server_options::single_threaded the executor itself.
using strand_type = asio::any_io_executor;

strand_type make_session_executor(const asio::any_io_executor& ex, bool single_threaded) {
    if (single_threaded) return ex;
    return asio::make_strand(ex);
}

// True when the caller runs on `ex` now (so it may act at once instead of posting). Without a
// strand, on an io_context run by one thread: when that thread is the caller.
bool running_on(const strand_type& ex) {
    if (const auto* st = ex.target<asio::strand<asio::any_io_executor>>()) return st->running_in_this_thread();
    if (const auto* io = ex.target<asio::io_context::executor_type>()) return io->running_in_this_thread();
    return false;
}
using request_type = http::request<http::string_body>;
using response_type = http::response<http::string_body>;
using clock_type = server_session::clock;

constexpr std::string_view forced_server_close = "forced server close";

// The text of the exception being handled, for a log line (inside a catch block only).
std::string current_exception_text() {
    try {
        throw;
    } catch (const std::exception& e) {
        return e.what();
    } catch (...) {
        return "an exception that is not a std::exception";
    }
}
constexpr std::size_t shard_count = 16;

std::string lower(std::string_view s) {
    std::string out{s};
    std::transform(out.begin(), out.end(), out.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return out;
}

std::map<std::string, std::string> parse_query(std::string_view q) {
    std::map<std::string, std::string> out;
    while (!q.empty()) {
        const auto amp = q.find('&');
        const auto part = q.substr(0, amp);
        q = amp == std::string_view::npos ? std::string_view{} : q.substr(amp + 1);
        if (part.empty()) continue;
        const auto eq = part.find('=');
        auto key = codec::percent_decode(part.substr(0, eq), true);
        auto value = eq == std::string_view::npos ? std::string{} : codec::percent_decode(part.substr(eq + 1), true);
        out.emplace(std::move(key), std::move(value));  // the first occurrence wins
    }
    return out;
}

std::string query_value(const std::map<std::string, std::string>& q, const std::string& key) {
    const auto it = q.find(key);
    return it == q.end() ? std::string{} : it->second;
}

response_type make_response(http::status status, unsigned version, bool keep_alive,
                            std::string body, std::string_view content_type) {
    response_type res{status, version};
    if (!content_type.empty()) res.set(http::field::content_type, content_type);
    res.body() = std::move(body);
    res.keep_alive(keep_alive);
    res.prepare_payload();
    return res;
}

response_type error_response(handshake_error e, unsigned version, bool keep_alive) {
    codec::json j;
    j["code"] = static_cast<int>(e);
    j["message"] = std::string{message(e)};
    return make_response(static_cast<http::status>(http_status(e)), version, keep_alive, j.dump(),
                         "application/json");
}

}  // namespace

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

// --- shared server state -----------------------------------------------------------------------

namespace {
using connection = transport::http_connection;
using transport::next_step;
}  // namespace

struct server::impl {
    impl(std::vector<asio::any_io_executor> event_loops, server_options opts)
        : loops(std::move(event_loops)), executor(loops.at(0)), options(with_loops(std::move(opts), loops.size())) {
        // Requests below the path are Engine.IO's: normalise it to end with '/'.
        if (options.path.empty() || options.path.back() != '/') options.path.push_back('/');
        // Nothing to offer when WebSocket or upgrades are off.
        if (!options.allow_websocket || !options.allow_upgrades) options.session.upgrades.clear();
        // One count of queued bytes over every session: the total bound and the gauge.
        if (!options.session.total_queued)
            options.session.total_queued = std::make_shared<std::atomic<std::size_t>>(0);
    }

    // Several loops: each is run by one thread, so nothing of a session needs a strand.
    static server_options with_loops(server_options o, std::size_t count) {
        if (count > 1) o.single_threaded = true;
        return o;
    }

    std::vector<asio::any_io_executor> loops;  // loops[0] is `executor`
    asio::any_io_executor executor;
    server_options options;
    std::shared_ptr<transport::http_listener> http;  // set once by server's constructor
    std::atomic<bool> stopped{false};
    // Where a session opened by a request on `c` runs: on one thread per loop, the
    // connection's loop; otherwise a strand of its own.
    strand_type session_executor_for(const asio::any_io_executor& connection_executor) const {
        if (options.single_threaded) return connection_executor;
        return asio::make_strand(executor);
    }
    mutable std::mutex handlers_mutex;
    open_handler on_open;
    http_handler on_http;

    // sid -> session, sharded so that threads creating and finding sessions rarely meet on a lock.
    struct shard {
        mutable std::mutex mutex;
        std::unordered_map<std::string, std::weak_ptr<session>> sessions;
    };
    std::array<shard, shard_count> shards;

    shard& shard_for(const std::string& sid) { return shards[std::hash<std::string>{}(sid) % shard_count]; }

    void add_session(const std::string& sid, std::weak_ptr<session> s) {
        auto& sh = shard_for(sid);
        std::lock_guard lock{sh.mutex};
        sh.sessions[sid] = std::move(s);
    }
    void remove_session(const std::string& sid) {
        auto& sh = shard_for(sid);
        std::lock_guard lock{sh.mutex};
        sh.sessions.erase(sid);
    }
    std::shared_ptr<session> find_session(const std::string& sid) {
        auto& sh = shard_for(sid);
        std::lock_guard lock{sh.mutex};
        const auto it = sh.sessions.find(sid);
        return it == sh.sessions.end() ? nullptr : it->second.lock();
    }

    open_handler get_open_handler() const {
        std::lock_guard lock{handlers_mutex};
        return on_open;
    }
    http_handler get_http_handler() const {
        std::lock_guard lock{handlers_mutex};
        return on_http;
    }

    bool origin_allowed(std::string_view origin) const {
        if (origin.empty() || options.allowed_origins.empty()) return true;
        return std::find(options.allowed_origins.begin(), options.allowed_origins.end(), origin) !=
               options.allowed_origins.end();
    }
    // Whether `origin` gets CORS headers.
    bool cors_allowed(std::string_view origin) const {
        if (origin.empty()) return false;
        return std::any_of(options.cors_origins.begin(), options.cors_origins.end(),
                           [&](const std::string& o) { return o == "*" || o == origin; });
    }

    mutable server_metrics metrics;  // counted from const paths too
    std::atomic<std::size_t> live_websockets{0};

    void emit(const server_event& e) const {
        if (!options.on_event) return;
        try {
            options.on_event(e);
        } catch (...) {
            // A failing logger must not take a session or a connection down.
        }
    }
};

// --- session -----------------------------------------------------------------------------------

namespace {

// What a session's WebSocket holds on to for as long as it lives (with its connection's place
// under the limits, which the transport adds): its count among the live WebSockets (a graceful
// shutdown waits for them).
struct ws_hold {
    explicit ws_hold(std::shared_ptr<server::impl> c);
    ~ws_hold();
    ws_hold(const ws_hold&) = delete;
    ws_hold& operator=(const ws_hold&) = delete;
    std::shared_ptr<server::impl> core;
};

// How a WebSocket reaches its session: the stream's owner, naming the stream, so that a stream
// the session has let go (closed or dropped) is told apart from the current one.
struct ws_link final : transport::ws_owner {
    ws_link(std::weak_ptr<session> s, const transport::ws_stream* w) : owner(std::move(s)), stream(w) {}
    void on_ws_message(std::string_view data, bool binary) override;
    void on_ws_writable() override;
    void on_ws_end(const transport::ws_end& end) override;
    std::weak_ptr<session> owner;
    const transport::ws_stream* stream;
};
}  // namespace

class session : public std::enable_shared_from_this<session> {
public:
    using time_point = server_session::time_point;

    session(std::shared_ptr<server::impl> core, strand_type strand, transport_kind transport)
        : core_(std::move(core)), strand_(std::move(strand)),
          sm_(generate_sid(), transport, core_->options.session, clock_type::now()),
          timer_(strand_), get_signal_(strand_) {
        sid_ = sm_.sid();
        timer_.expires_at(asio::steady_timer::time_point::max());  // until pump() sets a deadline
        get_parked_ = transport == transport_kind::polling;  // the handshake GET
        on_websocket_ = transport == transport_kind::websocket;
        ws_pending_ = transport == transport_kind::websocket;  // its socket is on the way
    }

    const strand_type& strand() const noexcept { return strand_; }
    const std::string& sid() const noexcept { return sid_; }
    bool closed() const noexcept { return closed_.load(); }
    bool on_websocket() const noexcept { return on_websocket_.load(); }

    // Asks the open handler for a listener; false when it refused the session. On the strand.
    asio::awaitable<bool> start(handshake_request hreq, std::uint64_t connection_id) {
        auto self = shared_from_this();
        get_owner_ = connection_id;
        session_handle handle{weak_from_this()};
        handle.sid_ = sid_;
        auto handler = core_->get_open_handler();
        std::shared_ptr<session_listener> listener;
        if (handler) listener = handler(handle, hreq);
        if (!listener) {
            // Refused: the session never existed for anyone; no listener, no on_close.
            closed_ = true;
            finished_ = true;
            co_return false;
        }
        listener_ = std::move(listener);
        remote_address_ = hreq.remote_address;
        counted_ = sm_.transport();
        server_metrics::add(gauge(*counted_), 1);
        server_metrics::add(core_->metrics.sessions_opened);
        core_->emit(event(server_event::kind::session_open));
        core_->add_session(sid_, weak_from_this());
        pump();
        if (!finished_) wait_timer();
        co_return true;
    }

    // --- polling (each on the strand) ----------------------------------------------------------

    struct get_result {
        request_status status = request_status::ok;
        std::optional<std::string> body;  // the payload to answer with; nullopt: the GET is lost
    };

    asio::awaitable<get_result> polling_get(std::uint64_t connection_id) {
        auto self = shared_from_this();
        // An overlapping GET fails the session in the machine; the parked one gets the answer.
        const auto st = sm_.on_polling_get();
        if (st != request_status::ok || get_parked_) {
            pump();
            co_return get_result{st, std::nullopt};
        }
        get_parked_ = true;
        get_owner_ = connection_id;
        pump();
        co_return co_await wait_parked_get();
    }

    asio::awaitable<get_result> wait_parked_get() {
        auto self = shared_from_this();
        while (!get_answer_ && !get_lost_) {
            get_signal_.expires_at(asio::steady_timer::time_point::max());
            co_await get_signal_.async_wait(tok);
        }
        get_result r{request_status::ok, std::move(get_answer_)};
        get_answer_.reset();
        get_lost_ = false;
        get_parked_ = false;
        co_return r;
    }

    // The connection of the parked GET closed before its answer.
    void polling_get_lost(std::uint64_t connection_id) {
        if (!get_parked_ || get_owner_ != connection_id || get_answer_) return;
        get_lost_ = true;
        get_signal_.cancel();
        sm_.on_polling_get_failed();
        pump();
    }

    asio::awaitable<request_status> begin_post() {
        auto self = shared_from_this();
        const auto st = sm_.begin_polling_post();
        pump();
        co_return st;
    }
    asio::awaitable<request_status> finish_post(std::string body) {
        auto self = shared_from_this();
        const auto st = sm_.finish_polling_post(clock_type::now(), body);
        pump();
        co_return st;
    }
    asio::awaitable<void> abandon_post(bool failed) {
        auto self = shared_from_this();
        if (failed) {
            sm_.on_polling_post_failed();
        } else {
            sm_.abandon_polling_post();
        }
        pump();
        co_return;
    }

    // --- WebSocket -----------------------------------------------------------------------------

    // A WebSocket request naming this sid; true when it becomes the probe. On the strand.
    asio::awaitable<bool> attach_probe() {
        auto self = shared_from_this();
        if (ws_ || ws_pending_) co_return false;  // a previous WebSocket is still attached
        const auto st = sm_.on_websocket_upgrade(clock_type::now());
        if (st == upgrade_status::accepted) {
            ws_pending_ = true;
            ws_pending_close_ = false;
        }
        pump();
        co_return st == upgrade_status::accepted;
    }

    // The WebSocket this session was promised (attach_probe, or a WebSocket handshake) has
    // answered its upgrade request with 101: it becomes the session's transport. On the strand.
    void attach_websocket(std::shared_ptr<transport::ws_stream> w, std::string pending) {
        if (!ws_pending_) {
            close_unwanted(*w);
            return;
        }
        ws_pending_ = false;
        if (ws_pending_close_) {
            // The machine gave up on this WebSocket before it arrived.
            close_unwanted(*w);
            return;
        }
        ws_ = w;
        w->start(std::make_shared<ws_link>(weak_from_this(), w.get()), std::move(pending));
        pump();
    }

    // The promised WebSocket never arrived (its 101 could not be written). On the strand.
    void websocket_lost() {
        if (!ws_pending_) return;
        ws_pending_ = false;
        if (!ws_pending_close_) sm_.on_websocket_error();
        pump();
    }

    // A WebSocket the session does not take: its handshake is complete, and it is closed at
    // once, as the reference does with a second WebSocket for a session.
    static void close_unwanted(transport::ws_stream& w) {
        w.start(nullptr);
        w.close(codec::ws::close_code::normal);
    }

    // --- from the WebSocket (ws_link), on the strand ---------------------------------------------

    void on_ws_message(const transport::ws_stream* w, std::string_view data, bool binary) {
        if (ws_.get() != w) return;
        try {
            sm_.on_websocket_frame(clock_type::now(), data, binary);
            pump();
        } catch (...) {
            // Nothing a peer sends may take the server down: this WebSocket ends, and why is told.
            report_failure("reading a WebSocket message", current_exception_text());
            if (ws_.get() == w) ws_->close(codec::ws::close_code::internal_error);
            drop_websocket(false);
        }
    }

    void on_ws_writable(const transport::ws_stream* w) {
        if (ws_.get() != w) return;
        for (auto& o : sm_.take_websocket_frames()) send_frame(*ws_, o);
    }

    void on_ws_end(const transport::ws_stream* w, const transport::ws_end& end) {
        if (ws_.get() != w) return;  // let go already: the machine is done with it
        if (end.how == transport::ws_end::kind::failed && end.code == codec::ws::close_code::too_big) {
            server_metrics::add(core_->metrics.payloads_too_large);
            server_event e = event(server_event::kind::request_refused);
            e.transport = "websocket";
            // The parser's reason says which limit: the bytes (maxPayload) or the frames.
            e.detail = end.reason.find(" frames") != std::string::npos
                           ? fmt::format("WebSocket {}: over the limit of frames a message may have; closing the session",
                                         end.reason)
                           : fmt::format("WebSocket {} is over maxPayload ({} bytes); closing the session", end.reason,
                                         core_->options.session.max_payload);
            core_->emit(e);
        }
        drop_websocket(end.how == transport::ws_end::kind::peer_closed);
    }


    // --- upper layer ---------------------------------------------------------------------------

    bool send_here(std::shared_ptr<const std::string> data, bool binary) {
        if (!binary && data && data->find('\x1e') != std::string::npos &&
            sm_.transport() == transport_kind::polling)
            return false;
        const std::size_t size = data ? data->size() : 0;
        const auto st = sm_.send(std::move(data), binary);
        if (st == send_status::queued) {
            server_metrics::add(core_->metrics.packets_out);
            server_metrics::add(core_->metrics.bytes_out, size);
        }
        pump();
        return st == send_status::queued;
    }

    void close_here(std::string_view reason) {
        if (sm_.transport() == transport_kind::polling && sm_.state() == session_state::open &&
            sm_.queued_bytes() > 0) {
            // Messages are waiting for the next GET. The machine would answer it with them and
            // the close packet in one payload, and socket.io-client handles a payload's messages
            // on the next tick but its close packet at once: the close would overtake them (a
            // DISCONNECT would be reported as "transport close"). So the close waits until a GET
            // has taken the messages, and then travels in a payload of its own. Bounded by the
            // heartbeat: a client that stops polling times out.
            if (!deferred_close_) deferred_close_ = std::string{reason};
            return;
        }
        server_close(reason);
        pump();
    }

    // sm_.close(), remembering that the server ended the session: a polling client that answers
    // the server's DISCONNECT with its own close packet before it collected the server's close
    // packet ends the session too, but it only completed what the server started.
    void server_close(std::string_view reason) {
        if (!requested_close_ && sm_.state() != session_state::closed)
            requested_close_ = std::string{reason};
        sm_.close(clock_type::now(), reason);
    }

    // Server stop: close without waiting for the client to collect the close packet.
    void force_close() {
        server_close(forced_server_close);
        if (sm_.state() == session_state::closing) {
            // Only the close timeout is left to wait for: let it pass now.
            if (auto d = sm_.next_deadline()) sm_.on_timer(*d);
        }
        pump();
    }

private:
    // Waits for the session's next deadline. A plain handler rather than a coroutine: an idle
    // session then holds one pending timer wait, not a coroutine frame and its co_spawn entry
    // (about 0.7 KiB). Cancelled when the deadline moves (pump() re-arms), then waits again.
    void wait_timer() {
        timer_.async_wait([self = shared_from_this()](error_code ec) {
            if (self->finished_) return;
            if (!ec) {
                try {
                    self->armed_.reset();
                    self->sm_.on_timer(clock_type::now());
                    self->pump();
                } catch (...) {
                    // Nothing here throws but for want of memory; the session cannot be trusted
                    // to go on, so it ends, and the operator hears why.
                    self->fail_session("running the session's timer", current_exception_text());
                }
                if (self->finished_) return;
            }
            self->wait_timer();
        });
    }

    // Ends the session after one of its own steps threw; pump() is left in a usable state.
    void fail_session(std::string_view doing, std::string_view why) {
        report_failure(doing, why);
        try {
            server_close(close_reasons::transport_error);
            pump();
        } catch (...) {
            report_failure("closing the session after a failure", current_exception_text());
        }
    }

    // One packet as one WebSocket frame: binary data as it is; text as the Engine.IO type digit
    // and the data, shared with every other session that sends it.
    static void send_frame(transport::ws_stream& w, const outgoing& o) {
        if (o.binary) {
            w.send(true, {}, o.data);
            return;
        }
        const char type = static_cast<char>('0' + static_cast<int>(o.type));
        w.send(false, std::string_view{&type, 1}, o.data);
    }

    // The current WebSocket is gone; `clean` when the peer closed it.
    void drop_websocket(bool clean) {
        if (!ws_) return;
        ws_.reset();
        if (clean) {
            sm_.on_websocket_closed();
        } else {
            sm_.on_websocket_error();
        }
        pump();
    }

    // Something failed that must not go unheard: an exception from a handler, or from this
    // session's own code. Reported to the operator with what it was doing and why.
    void report_failure(std::string_view doing, std::string_view why) const {
        server_event e = event(server_event::kind::failure);
        e.detail = fmt::format("{}: {}", doing, why);
        core_->emit(e);
    }

    // An event about this session, on its current transport; the caller adds the details.
    server_event event(server_event::kind type) const {
        server_event e;
        e.type = type;
        e.sid = sid_;
        e.transport = to_string(sm_.transport());
        e.remote_address = remote_address_;
        return e;
    }

    // Pulls every output of the machine, in the documented order, until nothing changes. A
    // listener may call send() or close() from on_message on this strand: that input lands here
    // again, and is handled by another turn of the loop instead of recursion.
    void pump() {
        if (pumping_) {
            repump_ = true;
            return;
        }
        // Cleared however pump() ends: a throw must not leave the session deaf to every later
        // input (each would only ask for a repump that never comes).
        struct pumping_guard {
            bool& flag;
            ~pumping_guard() { flag = false; }
        } guard{pumping_};
        pumping_ = true;
        do {
            repump_ = false;
            // 1. WebSocket frames: the stream takes them when its outbox is empty.
            if (ws_ && sm_.has_websocket_frames()) ws_->wake();
            // 2. Close that WebSocket after what is queued for it.
            if (sm_.take_websocket_close()) {
                if (ws_) {
                    auto w = std::exchange(ws_, nullptr);
                    for (auto& o : sm_.take_websocket_frames()) send_frame(*w, o);
                    w->close(codec::ws::close_code::normal);
                } else if (ws_pending_) {
                    ws_pending_close_ = true;
                }
            }
            // 3. The parked GET.
            if (get_parked_ && !get_answer_ && !get_lost_) {
                if (auto answer = sm_.take_polling_response()) {
                    get_answer_ = encode_answer(*answer);
                    get_signal_.cancel();
                    if (deferred_close_) deferred_close_ready_ = true;
                }
            }
            // 4. Messages for the upper layer.
            auto delivered = sm_.take_delivered();
            if (!delivered.empty()) {
                std::uint64_t bytes = 0;
                for (const auto& p : delivered) bytes += p.data.size();
                server_metrics::add(core_->metrics.packets_in, delivered.size());
                server_metrics::add(core_->metrics.bytes_in, bytes);
            }
            for (auto& p : delivered) {
                if (!listener_) break;
                try {
                    listener_->on_message(std::move(p));
                } catch (...) {
                    // A failing listener ends its own session, nothing else, and says why.
                    report_failure("handling a message", current_exception_text());
                    server_close(close_reasons::transport_error);
                    repump_ = true;
                    break;
                }
            }
            // 5. The end, reported once.
            if (auto reason = sm_.take_close_reason()) {
                if (requested_close_ && *reason == close_reasons::transport_close) reason = requested_close_;
                finished_ = true;
                closed_ = true;
                core_->remove_session(sid_);
                if (counted_) server_metrics::add(gauge(*std::exchange(counted_, std::nullopt)), -1);
                {
                    server_event e = event(server_event::kind::session_close);
                    e.reason = *reason;
                    if (*reason == close_reasons::slow_consumer) server_metrics::add(core_->metrics.slow_consumers);
                    core_->emit(e);
                }
                timer_.cancel();
                if (get_parked_ && !get_answer_) {
                    get_lost_ = true;
                    get_signal_.cancel();
                }
                if (auto l = std::exchange(listener_, nullptr)) {
                    try {
                        l->on_close(*reason);
                    } catch (...) {
                        report_failure("handling the session's end", current_exception_text());
                    }
                }
            }
            // 6. The timer.
            if (!finished_) {
                const auto d = sm_.next_deadline();
                if (d != armed_) {
                    armed_ = d;
                    timer_.expires_at(d ? *d : asio::steady_timer::time_point::max());
                }
            }
            on_websocket_ = sm_.transport() == transport_kind::websocket;
            if (deferred_close_ && !finished_ &&
                (deferred_close_ready_ || sm_.transport() == transport_kind::websocket)) {
                // The messages are on their way (or the session upgraded): now the close. Any
                // queued since then were sent after the close was asked for; they may go with it.
                server_close(*std::exchange(deferred_close_, std::nullopt));
                repump_ = true;
            }
            if (counted_ && *counted_ != sm_.transport()) {
                // The upgrade completed: the session moves from one gauge to the other.
                server_metrics::add(gauge(*counted_), -1);
                counted_ = sm_.transport();
                server_metrics::add(gauge(*counted_), 1);
                server_metrics::add(core_->metrics.upgrades);
                core_->emit(event(server_event::kind::session_upgrade));
            }
        } while (repump_);
    }

    static std::string encode_answer(const std::vector<outgoing>& answer) {
        // Text containing '\x1e' is refused by send() while on polling, so every packet here
        // can be encoded; a payload with one would be split wrongly by the client.
        return eio::encode_payload(to_packets(answer));
    }

    std::atomic<std::int64_t>& gauge(transport_kind t) const noexcept {
        return t == transport_kind::websocket ? core_->metrics.websocket_sessions
                                              : core_->metrics.polling_sessions;
    }

    std::shared_ptr<server::impl> core_;
    strand_type strand_;
    server_session sm_;
    std::string sid_;
    std::string remote_address_;
    std::optional<transport_kind> counted_;  // the gauge this session counts in, while open
    std::optional<std::string> deferred_close_;  // close_here() waiting for a GET
    bool deferred_close_ready_ = false;          // ... which has taken the messages
    std::optional<std::string> requested_close_;  // the server's close reason, once asked
    std::shared_ptr<session_listener> listener_;
    asio::steady_timer timer_;
    std::optional<time_point> armed_;
    bool pumping_ = false;
    bool repump_ = false;
    bool finished_ = false;
    std::atomic<bool> closed_{false};
    std::atomic<bool> on_websocket_{false};

    // The GET waiting for an answer.
    bool get_parked_ = false;
    bool get_lost_ = false;
    std::uint64_t get_owner_ = 0;
    std::optional<std::string> get_answer_;
    asio::steady_timer get_signal_;

    std::shared_ptr<transport::ws_stream> ws_;  // the attached WebSocket, if any
    bool ws_pending_ = false;        // accepted by the machine, its 101 not written yet
    bool ws_pending_close_ = false;  // ... and the machine wants it closed already
};

namespace {

ws_hold::ws_hold(std::shared_ptr<server::impl> c) : core(std::move(c)) {
    core->live_websockets.fetch_add(1, std::memory_order_relaxed);
}

ws_hold::~ws_hold() { core->live_websockets.fetch_sub(1, std::memory_order_relaxed); }

void ws_link::on_ws_message(std::string_view data, bool binary) {
    if (auto s = owner.lock()) s->on_ws_message(stream, data, binary);
}
void ws_link::on_ws_writable() {
    if (auto s = owner.lock()) s->on_ws_writable(stream);
}
void ws_link::on_ws_end(const transport::ws_end& end) {
    if (auto s = owner.lock()) s->on_ws_end(stream, end);
}

}  // namespace

// --- send_batch --------------------------------------------------------------------------------

// What a batch holds: per executor (an event loop, or a session's strand), the sends and closes
// for its sessions, in the order made.
struct send_batch::state {
    struct item {
        std::shared_ptr<session> target;
        std::shared_ptr<const std::string> data;
        std::optional<std::string> close_reason;  // set: a close, not a send
        bool binary = false;
    };
    struct group {
        asio::any_io_executor executor;
        std::vector<item> items;
    };
    std::vector<group> groups;

    void add(item it) {
        const auto& ex = it.target->strand();
        auto g = std::find_if(groups.begin(), groups.end(), [&](const group& x) { return x.executor == ex; });
        if (g == groups.end()) g = groups.insert(groups.end(), group{ex, {}});
        g->items.push_back(std::move(it));
    }
};

namespace {
thread_local send_batch::state* current_batch = nullptr;
}  // namespace

send_batch::send_batch() : outer_(current_batch) {
    if (!outer_) current_batch = new state;
}

send_batch::~send_batch() {
    if (outer_) return;
    std::unique_ptr<state> st{std::exchange(current_batch, nullptr)};
    for (auto& g : st->groups) {
        asio::post(g.executor, [items = std::move(g.items)]() mutable {
            for (auto& it : items) {
                if (it.close_reason) {
                    it.target->close_here(*it.close_reason);
                } else {
                    it.target->send_here(std::move(it.data), it.binary);
                }
            }
        });
    }
}

// --- session_handle ----------------------------------------------------------------------------

bool session_handle::send(std::shared_ptr<const std::string> data, bool binary) const {
    auto s = session_.lock();
    if (!s || s->closed()) return false;
    if (running_on(s->strand())) return s->send_here(std::move(data), binary);
    // Transports only move from polling to WebSocket, so this refusal cannot be stale.
    if (!binary && data && data->find('\x1e') != std::string::npos && !s->on_websocket())
        return false;
    if (current_batch) {
        current_batch->add({std::move(s), std::move(data), std::nullopt, binary});
        return true;
    }
    asio::post(s->strand(), [s, data = std::move(data), binary]() mutable {
        s->send_here(std::move(data), binary);
    });
    return true;
}

bool session_handle::send(std::string data, bool binary) const {
    return send(std::make_shared<const std::string>(std::move(data)), binary);
}

asio::any_io_executor session_handle::executor() const {
    auto s = session_.lock();
    return s ? s->strand() : asio::any_io_executor{};
}

void session_handle::close(std::string reason) const {
    auto s = session_.lock();
    if (!s || s->closed()) return;
    if (running_on(s->strand())) {
        s->close_here(reason);
        return;
    }
    if (current_batch) {
        current_batch->add({std::move(s), nullptr, std::move(reason), false});
        return;
    }
    asio::post(s->strand(), [s, reason = std::move(reason)] { s->close_here(reason); });
}

// --- connections -------------------------------------------------------------------------------

namespace {

using core_ptr = std::shared_ptr<server::impl>;

void add_cors(const server::impl& core, const request_type& req, response_type& res) {
    if (core.options.cors_origins.empty()) return;
    // The answer depends on the Origin header whenever CORS is configured: caches must know.
    res.set(http::field::vary, "Origin");
    const auto origin = req[http::field::origin];
    if (!core.cors_allowed(origin)) return;
    // Echoed even for "*": a literal "*" is refused by browsers on credentialed requests.
    res.set(http::field::access_control_allow_origin, origin);
    res.set(http::field::access_control_allow_credentials, "true");
}

// Watches the connection of a parked GET: if the client goes away, the session learns it at once
// (as the reference does) rather than at the next ping timeout.
void watch_parked_get(std::shared_ptr<connection> c, std::shared_ptr<session> s,
                      std::shared_ptr<bool> done) {
    auto& sock = c->socket();
    sock.async_wait(tcp::socket::wait_read, [c, s, done](error_code ec) {
        if (*done || ec == asio::error::operation_aborted) return;
        if (!ec) {
            // Readable: either the peer closed or it sent the next request early (pipelining).
            char probe = 0;
            error_code rec;
            c->socket().non_blocking(true, rec);
            const auto n = c->socket().receive(asio::buffer(&probe, 1),
                                                      tcp::socket::message_peek, rec);
            if (!rec && n > 0) return;  // data: the client is alive
            if (rec == asio::error::would_block) return;
        }
        asio::post(s->strand(), [s, id = c->id()] { s->polling_get_lost(id); });
    });
}

handshake_request make_handshake_request(connection& c, const request_type& req,
                                         std::map<std::string, std::string> query,
                                         std::string transport) {
    handshake_request h;
    h.remote_address = c.peer_address();
    h.transport = std::move(transport);
    h.query = std::move(query);
    for (const auto& f : req) h.headers[lower(f.name_string())] = std::string{f.value()};
    return h;
}

// Answers `req` with `res`, with the CORS headers the server's options call for.
asio::awaitable<next_step> respond(connection& c, const server::impl& core, const request_type& req,
                                   response_type res, bool keep_alive = true) {
    add_cors(core, req, res);
    return c.respond(req, std::move(res), keep_alive);
}

// Reads the rest of a request whose headers are in `parser`, up to maxPayload. False on any
// failure; `too_large` tells the body limit apart.
asio::awaitable<bool> read_body(connection& c, http::request_parser<http::string_body>& parser,
                                const server::impl& core, bool& too_large) {
    return c.read_body(parser, core.options.session.max_payload, too_large);
}

// The connection becomes the WebSocket of a session running on `strand`; null when its socket
// is gone. `pending` gets what was read past the upgrade request.
std::shared_ptr<transport::ws_stream> take_socket(connection& c, const strand_type& strand,
                                                  const std::shared_ptr<server::impl>& core, std::string& pending) {
    transport::ws_stream_options o;
    o.role = codec::ws::role::server;
    o.limits.max_message = static_cast<std::size_t>(core->options.session.max_payload);
    o.close_timeout = core->options.request_timeout;
    o.hold = std::make_shared<ws_hold>(core);
    return c.take_websocket(strand, std::move(o), pending);
}

// What one Engine.IO request is, for reporting and answering it. Held by value in the coroutine
// that answers, so that the routing (handle_engine, synchronous) leaves no frame behind it.
struct engine_request {
    core_ptr core;
    std::shared_ptr<connection> c;
    unsigned version = 11;
    std::string transport, sid, origin, remote, method;

    void refused(std::optional<handshake_error> e, unsigned status, std::string detail) const {
        server_event ev;
        ev.type = server_event::kind::request_refused;
        ev.sid = sid;
        ev.transport = transport;
        ev.remote_address = remote;
        ev.error = e;
        ev.http_status = status;
        ev.detail = std::move(detail);
        core->emit(ev);
    }
    // Every Engine.IO error answer goes through here: counted by code and reported with why.
    response_type fail(handshake_error e, std::string why = {}, std::string_view eio = {}) const {
        server_metrics::add(core->metrics.handshake_errors[static_cast<std::size_t>(e)]);
        if (why.empty()) {
            switch (e) {
            case handshake_error::unknown_transport:
                why = fmt::format("unknown or disabled transport \"{}\"", transport);
                break;
            case handshake_error::unknown_sid:
                why = fmt::format("unknown sid \"{}\" (expired, or a load balancer without "
                                  "sticky sessions?)",
                                  sid);
                break;
            case handshake_error::bad_handshake_method:
                why = fmt::format("handshake with method {} (only GET opens a session)", method);
                break;
            case handshake_error::forbidden:
                why = origin.empty() ? std::string{"refused by the server"}
                                     : fmt::format("forbidden origin \"{}\"", origin);
                break;
            case handshake_error::unsupported_protocol_version:
                why = fmt::format("unsupported protocol version EIO=\"{}\" (this server speaks 4)", eio);
                break;
            case handshake_error::bad_request: why = "bad request"; break;
            }
        }
        refused(e, http_status(e), std::move(why));
        return error_response(e, version, true);
    }
    std::string too_large_detail(const char* what, const http::request_parser<http::string_body>& parser) const {
        server_metrics::add(core->metrics.payloads_too_large);
        const auto max = core->options.session.max_payload;
        const auto len = parser.content_length();
        return len ? fmt::format("{} of {} bytes is over maxPayload ({} bytes)", what, *len, max)
                   : fmt::format("{} of more than {} bytes is over maxPayload ({} bytes)", what, max, max);
    }
    response_type status_response(request_status st,
                                  const http::request_parser<http::string_body>& parser) const {
        switch (st) {
        case request_status::ok: break;
        case request_status::overlap:
            refused(std::nullopt, 400,
                    fmt::format("overlapping polling {} (one at a time per session); closing the session", method));
            return make_response(http::status::bad_request, version, true, {}, {});
        case request_status::transport_mismatch:
            return fail(handshake_error::bad_request, "polling request for a session on WebSocket");
        case request_status::payload_too_large:
            refused(std::nullopt, 413, too_large_detail("polling POST body", parser));
            return make_response(http::status::payload_too_large, version, false, {}, {});
        case request_status::session_closed: return fail(handshake_error::unknown_sid);
        }
        return make_response(http::status::ok, version, true, "ok", "text/html");
    }
};

// Answers with `res`; first reads the request's body unless `read_first` is false (the
// connection then closes after the answer).
asio::awaitable<next_step> answer(engine_request r, http::request_parser<http::string_body>& parser,
                                  response_type res, bool read_first) {
    bool keep = false;
    if (read_first) {
        bool too_large = false;
        keep = co_await read_body(*r.c, parser, *r.core, too_large);
    }
    co_return co_await respond(*r.c, *r.core, parser.get(), std::move(res), keep);
}

asio::awaitable<next_step> upgrade_to_websocket(engine_request r, http::request_parser<http::string_body>& parser,
                                                std::shared_ptr<session> existing,
                                                std::map<std::string, std::string> query) {
    auto& c = r.c;
    auto& core = r.core;
    bool too_large = false;
    const bool drained = co_await read_body(*c, parser, *core, too_large);
    if (!drained) co_return next_step::close;
    auto handshake = transport::answer_ws_upgrade(parser.get());
    if (!handshake.accepted) {
        r.refused(std::nullopt, handshake.status, handshake.reason);
        auto res = make_response(static_cast<http::status>(handshake.status), r.version, false,
                                 handshake.reason + "\n", "text/plain; charset=utf-8");
        if (handshake.status == 426) res.set(http::field::sec_websocket_version, "13");
        co_return co_await respond(*c, *core, parser.get(), std::move(res), false);
    }
    std::shared_ptr<session> s = existing;
    bool wanted = true;
    if (existing) {
        if (!core->options.allow_upgrades) {
            co_return co_await respond(*c, *core, parser.get(),
                                       r.fail(handshake_error::bad_request, "WebSocket upgrade refused (upgrades are off)"));
        }
        // A session already upgrading or on WebSocket: the handshake completes and the new
        // WebSocket is closed at once, the first untouched (as the reference does).
        wanted = co_await asio::co_spawn(existing->strand(), existing->attach_probe(), asio::use_awaitable);
        if (!wanted)
            r.refused(std::nullopt, 101,
                      "second WebSocket for a session already upgrading or on WebSocket: closed after its handshake");
    } else {
        auto strand = core->session_executor_for(c->lowest().get_executor());
        s = std::make_shared<session>(core, strand, transport_kind::websocket);
        const bool accepted = co_await asio::co_spawn(
            strand, s->start(make_handshake_request(*c, parser.get(), std::move(query), "websocket"), c->id()),
            asio::use_awaitable);
        if (!accepted)
            co_return co_await respond(*c, *core, parser.get(),
                                       r.fail(handshake_error::forbidden, "session refused by the server"));
    }
    const bool switched = co_await c->write_raw(handshake.head);
    std::string pending;
    auto w = switched ? take_socket(*c, s->strand(), core, pending) : nullptr;
    if (!w) {
        if (wanted) asio::post(s->strand(), [s] { s->websocket_lost(); });
        co_return next_step::close;
    }
    if (wanted) {
        asio::post(s->strand(), [s, w, pending = std::move(pending)]() mutable {
            s->attach_websocket(std::move(w), std::move(pending));
        });
    } else {
        asio::post(s->strand(), [w] { session::close_unwanted(*w); });
    }
    co_return next_step::handed_over;
}

// Runs `a`, a session's coroutine, on the session's executor: through co_spawn when the server
// has strands, directly when it runs on one thread (the session's executor is then this one),
// which spares a post and the co_spawn frames (about 0.9 KiB while a GET is parked).
template <class T>
asio::awaitable<T> on_session(const session& s, const server::impl& core, asio::awaitable<T> a) {
    if (core.options.single_threaded && running_on(s.strand())) return a;
    return asio::co_spawn(s.strand(), std::move(a), asio::use_awaitable);
}

// Opens a polling session for a handshake GET; null when the server refused it (`refusal` is
// then the answer). Its own coroutine, so that the parked GET's frame does not hold its locals.
asio::awaitable<std::shared_ptr<session>> open_polling_session(const engine_request& r, const request_type& req,
                                                               std::map<std::string, std::string> query,
                                                               response_type& refusal) {
    auto strand = r.core->session_executor_for(r.c->lowest().get_executor());
    auto s = std::make_shared<session>(r.core, strand, transport_kind::polling);
    auto start = on_session(*s, *r.core, s->start(make_handshake_request(*r.c, req, std::move(query), "polling"), r.c->id()));
    const bool accepted = co_await std::move(start);
    if (accepted) co_return s;
    refusal = r.fail(handshake_error::forbidden, "session refused by the server");
    co_return nullptr;
}

// Waits for what a polling session has to send to its GET.
asio::awaitable<session::get_result> parked_get(std::shared_ptr<connection> c, std::shared_ptr<session> s,
                                                const server::impl& core, bool handshake) {
    if (handshake) {
        auto wait = on_session(*s, core, s->wait_parked_get());
        co_return co_await std::move(wait);
    }
    auto done = std::make_shared<bool>(false);
    watch_parked_get(c, s, done);
    auto get = on_session(*s, core, s->polling_get(c->id()));
    auto got = co_await std::move(get);
    *done = true;
    error_code ignored;
    c->socket().cancel(ignored);
    co_return got;
}

// A polling GET: opens the session when `s` is null (the handshake), then waits for what the
// session has to send. Its frame is part of what an idle polling session's parked GET holds.
asio::awaitable<next_step> polling_get(engine_request r, http::request_parser<http::string_body>& parser,
                                       std::shared_ptr<session> s, std::map<std::string, std::string> query) {
    bool ok = false;
    {
        bool too_large = false;
        auto read = read_body(*r.c, parser, *r.core, too_large);
        ok = co_await std::move(read);
    }
    if (!ok) co_return next_step::close;
    response_type res;
    const bool handshake = !s;
    if (handshake) {
        auto open = open_polling_session(r, parser.get(), std::move(query), res);
        s = co_await std::move(open);
    }
    query.clear();
    if (s) {
        // The GET may wait up to a ping interval: no request timeout while parked, and no read
        // buffer held meanwhile when nothing was sent after the request (about 1.5 KiB).
        r.c->idle();
        auto park = parked_get(r.c, s, *r.core, handshake);
        auto got = co_await std::move(park);
        if (got.status != request_status::ok) {
            res = r.status_response(got.status, parser);
        } else if (!got.body) {
            co_return next_step::close;
        } else {
            res = make_response(http::status::ok, r.version, true, std::move(*got.body), "text/plain; charset=UTF-8");
        }
    }
    auto reply = respond(*r.c, *r.core, parser.get(), std::move(res));
    co_return co_await std::move(reply);
}

asio::awaitable<next_step> polling_post(engine_request r, http::request_parser<http::string_body>& parser,
                                        std::shared_ptr<session> existing) {
    auto& c = r.c;
    auto& core = r.core;
    const auto body_limit = core->options.session.max_payload;
    bool too_large = false;
    auto begin = on_session(*existing, *core, existing->begin_post());
    const auto st = co_await std::move(begin);
    if (st != request_status::ok) {
        const bool drained = co_await read_body(*c, parser, *core, too_large);
        co_return co_await respond(*c, *core, parser.get(), r.status_response(st, parser), drained);
    }
    const bool ok = co_await read_body(*c, parser, *core, too_large);
    if (!ok) {
        auto abandon = on_session(*existing, *core, existing->abandon_post(!too_large));
        co_await std::move(abandon);
        if (!too_large) co_return next_step::close;
        // The rest of the body is unread: answer, then close the connection.
        co_return co_await respond(*c, *core, parser.get(),
                                   r.status_response(request_status::payload_too_large, parser), false);
    }
    auto finish = on_session(*existing, *core, existing->finish_post(std::move(parser.get().body())));
    const auto fst = co_await std::move(finish);
    co_return co_await respond(*c, *core, parser.get(), r.status_response(fst, parser));
}

// Routes an Engine.IO request: checks it as the reference's verify() does, then hands it to the
// coroutine that answers it. Not a coroutine itself, so that a parked GET holds only the frame
// of the path it took.
asio::awaitable<next_step> handle_engine(core_ptr core, std::shared_ptr<connection> c,
                                         http::request_parser<http::string_body>& parser,
                                         std::string_view query_text) {
    const auto& opts = core->options;
    auto& req = parser.get();
    const bool upgrade = websocket::is_upgrade(req);
    auto query = parse_query(query_text);
    engine_request r;
    r.version = req.version();
    r.transport = query_value(query, "transport");
    r.sid = query_value(query, "sid");
    r.origin = std::string{req[http::field::origin]};
    r.remote = c->peer_address();
    r.method = std::string{req.method_string()};
    r.core = core;
    r.c = c;
    const auto& transport = r.transport;

    if (req.method() == http::verb::options) {
        // CORS preflight. Without a CORS match it is answered without CORS headers, which is
        // how the browser learns that the real request is not allowed.
        if (!core->origin_allowed(r.origin)) {
            auto res = r.fail(handshake_error::forbidden);
            return answer(std::move(r), parser, std::move(res), false);
        }
        response_type res{http::status::no_content, r.version};
        if (core->cors_allowed(r.origin)) {
            res.set(http::field::access_control_allow_methods, "GET,HEAD,PUT,PATCH,POST,DELETE");
            if (const auto h = req[http::field::access_control_request_headers]; !h.empty())
                res.set(http::field::access_control_allow_headers, h);
        } else if (!r.origin.empty()) {
            r.refused(std::nullopt, 204,
                      fmt::format("CORS preflight from origin \"{}\" not in the CORS origins "
                                  "(answered without CORS headers)",
                                  r.origin));
        }
        res.keep_alive(true);
        res.prepare_payload();
        return answer(std::move(r), parser, std::move(res), true);
    }

    // The reference's verify(), in its order.
    const bool transport_ok = (transport == "polling" && opts.allow_polling) ||
                              (transport == "websocket" && opts.allow_websocket);
    std::optional<handshake_error> error;
    if (!transport_ok) {
        error = handshake_error::unknown_transport;
    } else if (!core->origin_allowed(r.origin)) {
        error = handshake_error::forbidden;
    }
    std::shared_ptr<session> existing;
    if (!error && !r.sid.empty()) {
        existing = core->find_session(r.sid);
        if (!existing) error = handshake_error::unknown_sid;
    } else if (!error) {
        if (req.method() != http::verb::get) {
            error = handshake_error::bad_handshake_method;
        } else if (transport == "websocket" && !upgrade) {
            error = handshake_error::bad_request;
        } else if (query_value(query, "EIO") != "4") {
            error = handshake_error::unsupported_protocol_version;
        }
    }
    if (!error && upgrade && transport != "websocket") error = handshake_error::bad_request;
    if (!error && !upgrade && transport == "websocket") error = handshake_error::bad_request;
    if (error) {
        auto res = r.fail(*error, {}, query_value(query, "EIO"));
        return answer(std::move(r), parser, std::move(res), true);
    }
    if (upgrade) return upgrade_to_websocket(std::move(r), parser, std::move(existing), std::move(query));
    if (req.method() == http::verb::get) return polling_get(std::move(r), parser, std::move(existing), std::move(query));
    if (req.method() == http::verb::post) return polling_post(std::move(r), parser, std::move(existing));
    auto res = r.fail(handshake_error::bad_request);
    return answer(std::move(r), parser, std::move(res), true);
}

asio::awaitable<next_step> handle_other(core_ptr core, std::shared_ptr<connection> c,
                                        http::request_parser<http::string_body>& parser) {
    bool too_large = false;
    const bool ok = co_await read_body(*c, parser, *core, too_large);
    auto& req = parser.get();
    if (!ok) {
        if (!too_large) co_return next_step::close;
        co_return co_await respond(*c, *core, req,
                                   make_response(http::status::payload_too_large, req.version(),
                                                 false, "Payload Too Large\n", "text/plain"),
                                   false);
    }
    response_type res;
    if (auto handler = core->get_http_handler()) {
        try {
            res = handler(req);
            res.prepare_payload();
        } catch (const std::exception&) {
            res = make_response(http::status::internal_server_error, req.version(), false,
                                "Internal Server Error\n", "text/plain");
        }
    } else {
        res = make_response(http::status::not_found, req.version(), true, "Not Found\n",
                            "text/plain");
    }
    if (res.version() == 0) res.version(req.version());
    co_return co_await respond(*c, *core, req, std::move(res), true);
}

// The listener's request handler: Engine.IO answers its path itself; what lies below it (the
// browser client at /socket.io/socket.io.js, as the reference serves it) and every other path
// goes to the HTTP handler.
asio::awaitable<next_step> route(core_ptr core, std::shared_ptr<connection> c,
                                 http::request_parser<http::string_body>& parser) {
    const std::string_view target{parser.get().target()};
    const auto qpos = target.find('?');
    const auto path = target.substr(0, qpos);
    const auto query = qpos == std::string_view::npos ? std::string_view{} : target.substr(qpos + 1);
    const auto& prefix = core->options.path;
    const bool engine = path == prefix || path == std::string_view{prefix}.substr(0, prefix.size() - 1);
    if (engine) return handle_engine(std::move(core), std::move(c), parser, query);
    return handle_other(std::move(core), std::move(c), parser);
}

asio::awaitable<next_step> closed_step() { co_return next_step::close; }

}  // namespace

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
        if (auto core = weak.lock()) add_cors(*core, req, res);
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

server::~server() { stop(); }

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
            for (auto& [sid, weak] : sh.sessions)
                if (auto s = weak.lock()) sessions.push_back(std::move(s));
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
