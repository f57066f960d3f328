#include "sio/adapter/redis.hpp"

#include "sio/codec/percent.hpp"
#include "sio/transport/client_connect.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include "sio/transport/exception_text.hpp"
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/error.hpp>
#include <fmt/format.h>
#include <hiredis/hiredis.h>
#include <openssl/ssl.h>

#include <array>
#include <charconv>
#include <deque>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <tuple>
#include <variant>

namespace sio::adapter::redis {

namespace asio = boost::asio;
using asio::ip::tcp;
using tuple_awaitable_t = asio::as_tuple_t<asio::use_awaitable_t<>>;
constexpr tuple_awaitable_t use_tuple{};
using strand_t = asio::strand<asio::any_io_executor>;

namespace {

std::string random_id(std::size_t n) {
    static constexpr std::string_view alphabet =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";
    thread_local std::mt19937_64 rng{std::random_device{}()};
    std::uniform_int_distribution<std::size_t> pick(0, alphabet.size() - 1);
    std::string out;
    for (std::size_t i = 0; i < n; ++i) out.push_back(alphabet[pick(rng)]);
    return out;
}

std::string format_command(const std::vector<std::string>& args) {
    std::vector<const char*> argv;
    std::vector<std::size_t> lens;
    for (const auto& a : args) {
        argv.push_back(a.data());
        lens.push_back(a.size());
    }
    char* out = nullptr;
    const int n = redisFormatCommandArgv(&out, static_cast<int>(argv.size()), argv.data(), lens.data());
    if (n < 0 || !out) return {};
    std::string cmd(out, static_cast<std::size_t>(n));
    redisFreeCommand(out);
    return cmd;
}

struct reader_deleter {
    void operator()(redisReader* r) const noexcept { redisReaderFree(r); }
};
struct reply_deleter {
    void operator()(redisReply* r) const noexcept { freeReplyObject(r); }
};
using reply_ptr = std::unique_ptr<redisReply, reply_deleter>;

std::string_view str_of(const redisReply* r) {
    if (!r || (r->type != REDIS_REPLY_STRING && r->type != REDIS_REPLY_STATUS)) return {};
    return {r->str, r->len};
}

broadcast_options to_local(const broadcast_opts& o) {
    broadcast_options out;
    out.rooms.insert(o.rooms.begin(), o.rooms.end());
    out.except.insert(o.except.begin(), o.except.end());
    out.flags.volatile_packet = o.flag("volatile");
    out.flags.local = true;  // delivered here only, never published again
    return out;
}

broadcast_opts to_wire(const broadcast_options& o) {
    broadcast_opts out;
    out.rooms.assign(o.rooms.begin(), o.rooms.end());
    out.except.assign(o.except.begin(), o.except.end());
    if (o.flags.volatile_packet) out.flags["volatile"] = true;
    return out;
}

// One RESP connection on the cluster's strand: connect, read replies, write queued commands,
// reconnect with backoff until stopped. Every member is touched on the strand only.
class resp_conn : public std::enable_shared_from_this<resp_conn> {
public:
    using reply_fn = std::function<void(const redisReply*)>;  // nullptr: no reply (link down)

    resp_conn(strand_t strand, options opts, std::string role)
        : strand_(strand), opts_(std::move(opts)), role_(std::move(role)), wake_(strand) {}

    std::function<void()> on_up;
    std::function<void()> on_down;
    std::function<void(const redisReply*)> on_push;  // subscriber: every reply
    bool track_replies = true;                        // publisher: replies answer commands in order

    void start() {
        asio::co_spawn(strand_, run(shared_from_this()), [self = shared_from_this()](std::exception_ptr e) {
            // A bug or no memory: the link is down for good, and the log says why.
            if (e) self->log(fmt::format("redis {}: stopped on an error: {}", self->role_, transport::exception_text(e)));
        });
    }

    void stop() {
        stopped_ = true;
        attempts_.cancel_all();
        if (stream_) transport::lowest(*stream_).close();
        wake_.cancel();
        if (backoff_timer_) backoff_timer_->cancel();
    }

    bool up() const noexcept { return up_; }

    // Queues a command; false (and `done(nullptr)`) when the connection is down.
    bool send(const std::vector<std::string>& args, reply_fn done = {}) {
        if (!up_) {
            if (done) done(nullptr);
            return false;
        }
        queue_.push_back(format_command(args));
        if (track_replies) pending_.push_back(std::move(done));
        wake_.cancel();
        return true;
    }

private:
    asio::awaitable<void> run(std::shared_ptr<resp_conn> self) {
        auto backoff = opts_.backoff_min;
        bool reported = false;  // the current outage was logged
        while (!stopped_) {
            auto err = co_await connect_once();
            if (stopped_) break;
            if (err) {
                if (stream_) transport::lowest(*stream_).close();
                if (!reported) {
                    log(fmt::format("redis {}: {}; local delivery continues, retrying", role_, *err));
                    reported = true;
                    if (on_down) on_down();
                }
                backoff_timer_.emplace(strand_);
                backoff_timer_->expires_after(backoff);
                co_await backoff_timer_->async_wait(use_tuple);
                backoff = std::min(backoff * 2, opts_.backoff_max);
                continue;
            }
            backoff = opts_.backoff_min;
            reported = false;
            const auto gen = ++generation_;
            up_ = true;
            log(fmt::format("redis {}: connected to {}{}", role_, authority(), opts_.tls ? " over TLS" : ""));
            if (on_up) on_up();
            asio::co_spawn(strand_, writer(self, gen, stream_), [self](std::exception_ptr e) {
                if (e) self->log(fmt::format("redis {}: the writer stopped on an error: {}", self->role_, transport::exception_text(e)));
            });
            auto why = co_await read_loop();
            up_ = false;
            ++generation_;
            wake_.cancel();
            queue_.clear();
            auto pending = std::move(pending_);
            pending_.clear();
            for (auto& p : pending) {
                if (p) p(nullptr);
            }
            if (stream_) transport::lowest(*stream_).close();
            if (stopped_) break;
            log(fmt::format("redis {}: connection to {} lost: {}; local delivery continues, "
                            "reconnecting", role_, authority(), why));
            reported = true;
            if (on_down) on_down();
        }
        co_return;
    }

    std::string authority() const {
        const bool v6 = opts_.host.find(':') != std::string::npos;
        return fmt::format("{}{}{}:{}", v6 ? "[" : "", opts_.host, v6 ? "]" : "", opts_.port);
    }

    // A stream's read and write, whichever stream it is (both give the same awaitable).
    template <class Buffers>
    static asio::awaitable<std::tuple<boost::system::error_code, std::size_t>> read_some(transport::any_stream& stream,
                                                                                         const Buffers& b) {
        return std::visit([&](auto& s) { return s.async_read_some(b, use_tuple); }, stream);
    }
    template <class Buffers>
    static asio::awaitable<std::tuple<boost::system::error_code, std::size_t>> write_all(transport::any_stream& stream,
                                                                                         const Buffers& b) {
        return std::visit([&](auto& s) { return asio::async_write(s, b, use_tuple); }, stream);
    }

    // Resolve, TCP connect, TLS (rediss://) with the server's name checked, then the handshake,
    // all within connect_timeout; stop() ends it at once. nullopt on success, else a sentence.
    asio::awaitable<std::optional<std::string>> connect_once() {
        stream_.reset();
        transport::connect_request req;
        req.target.scheme = opts_.tls ? "https" : "http";
        req.target.secure = opts_.tls;
        req.target.host = opts_.host;
        req.target.port = std::to_string(opts_.port);
        req.tls = opts_.tls_context;
        req.verify = opts_.tls_verify;
        req.deadline = std::chrono::steady_clock::now() + opts_.connect_timeout;
        auto connected = co_await attempts_.run(transport::connect(req));
        if (connected.error == transport::failure::tls_failed)
            co_return fmt::format("{} (TLS to {})", connected.message, authority());
        if (connected.error != transport::failure::none) co_return std::move(connected.message);
        stream_ = std::shared_ptr<transport::any_stream>(std::move(connected.stream));
        if (stopped_) co_return std::string("stopped");
        reader_.reset(redisReaderCreate());
        auto& tcp = transport::lowest(*stream_);
        tcp.expires_at(req.deadline);
        auto refused = co_await handshake();
        if (stream_) transport::lowest(*stream_).expires_never();
        if (!refused) co_return std::nullopt;
        // Over TLS 1.3 a server that wants a client certificate says so only after the handshake,
        // in an alert that a reset connection may swallow.
        const bool hint = opts_.tls && !refused->starts_with("bad RESP") && refused->find(" refused: ") == std::string::npos &&
                          opts_.tls_context && !SSL_CTX_get0_certificate(opts_.tls_context->native_handle());
        co_return fmt::format("connected to {}, but {}{}", authority(), *refused,
                              hint ? " (no client certificate was given: does this Redis ask for one, "
                                     "tls-auth-clients?)"
                                   : "");
    }

    // AUTH (when a password is set), SELECT (a database other than 0) and PING, sent together and
    // answered in order; the connection counts as up only once Redis has answered all of them, so
    // that a refusal (WRONGPASS, NOAUTH, a database out of range, a TLS client certificate the
    // server wanted) is reported as such and retried with backoff. nullopt on success, else the
    // reason.
    asio::awaitable<std::optional<std::string>> handshake() {
        std::vector<std::string> names;
        std::string commands;
        if (!opts_.password.empty()) {
            std::vector<std::string> auth{"AUTH"};
            if (!opts_.username.empty()) auth.push_back(opts_.username);
            auth.push_back(opts_.password);
            commands += format_command(auth);
            names.emplace_back("AUTH");
        }
        if (opts_.db != 0) {
            commands += format_command({"SELECT", std::to_string(opts_.db)});
            names.push_back("SELECT " + std::to_string(opts_.db));
        }
        commands += format_command({"PING"});
        names.emplace_back("PING");
        auto [wec, wn] = co_await write_all(*stream_, asio::buffer(commands));
        (void)wn;
        if (wec) co_return names.front() + " not sent: " + wec.message();
        std::array<char, 512> buf{};
        std::size_t answered = 0;
        while (answered < names.size()) {
            void* raw = nullptr;
            if (redisReaderGetReply(reader_.get(), &raw) != REDIS_OK)
                co_return std::string("bad RESP from server: ") + reader_->errstr;
            if (raw) {
                reply_ptr reply(static_cast<redisReply*>(raw));
                if (reply->type == REDIS_REPLY_ERROR)
                    co_return names[answered] + " refused: " + std::string(reply->str, reply->len);
                if (reply->type != REDIS_REPLY_STATUS) co_return names[answered] + ": unexpected reply";
                ++answered;
                continue;
            }
            auto [rec, n] = co_await read_some(*stream_, asio::buffer(buf));
            if (rec == boost::beast::error::timeout) co_return "timed out waiting for the answer to " + names[answered];
            if (rec) co_return names[answered] + " unanswered: " + rec.message();
            if (redisReaderFeed(reader_.get(), buf.data(), n) != REDIS_OK) co_return std::string("RESP reader failed");
        }
        co_return std::nullopt;
    }

    asio::awaitable<std::string> read_loop() {
        std::array<char, 16384> buf{};
        for (;;) {
            auto [ec, n] = co_await read_some(*stream_, asio::buffer(buf));
            if (ec) co_return ec.message();
            if (redisReaderFeed(reader_.get(), buf.data(), n) != REDIS_OK) co_return "RESP reader failed";
            // Bounded by what was fed: each reply consumes bytes.
            for (;;) {
                void* raw = nullptr;
                if (redisReaderGetReply(reader_.get(), &raw) != REDIS_OK) {
                    co_return std::string("bad RESP from server: ") + reader_->errstr;
                }
                if (!raw) break;
                reply_ptr reply(static_cast<redisReply*>(raw));
                dispatch(reply.get());
            }
        }
    }

    void dispatch(const redisReply* r) {
        if (!track_replies) {
            if (on_push) on_push(r);
            return;
        }
        if (pending_.empty()) return;
        auto done = std::move(pending_.front());
        pending_.pop_front();
        if (r->type == REDIS_REPLY_ERROR) {
            log(fmt::format("redis {}: error reply: {}", role_, std::string_view(r->str, r->len)));
        }
        if (done) done(r);
    }

    // `self` keeps the connection alive while the coroutine runs, `stream` the stream it writes to.
    asio::awaitable<void> writer(std::shared_ptr<resp_conn> self, std::uint64_t gen,
                                 std::shared_ptr<transport::any_stream> stream) {
        (void)self;
        while (up_ && generation_ == gen && !stopped_) {
            if (queue_.empty()) {
                wake_.expires_at(asio::steady_timer::time_point::max());
                co_await wake_.async_wait(use_tuple);
                continue;
            }
            std::string batch;
            for (auto& c : queue_) batch += c;
            queue_.clear();
            auto [ec, n] = co_await write_all(*stream, asio::buffer(batch));
            (void)n;
            if (ec) {
                if (generation_ == gen) transport::lowest(*stream).close();
                co_return;
            }
        }
        co_return;
    }

    void log(std::string_view what) const {
        if (opts_.log) opts_.log(what);
    }

    strand_t strand_;
    const options opts_;  // a copy: the coroutine may outlive the cluster by a few steps
    const std::string role_;
    // Shared with the writer, which may still be writing to a lost connection's stream while the
    // next connection is made.
    std::shared_ptr<transport::any_stream> stream_;
    transport::attempts attempts_;  // the connection being made, so that stop() ends it at once
    std::unique_ptr<redisReader, reader_deleter> reader_;
    std::deque<std::string> queue_;
    std::deque<reply_fn> pending_;
    asio::steady_timer wake_;
    std::optional<asio::steady_timer> backoff_timer_;
    std::uint64_t generation_ = 0;
    bool up_ = false;
    bool stopped_ = false;
};

}  // namespace

std::optional<options> parse_url(std::string_view url) {
    constexpr std::string_view plain = "redis://";
    constexpr std::string_view secure = "rediss://";
    options o;
    if (url.substr(0, plain.size()) == plain) {
        url.remove_prefix(plain.size());
    } else if (url.substr(0, secure.size()) == secure) {
        url.remove_prefix(secure.size());
        o.tls = true;
    } else {
        return std::nullopt;
    }
    // User info ends at the last '@' before the path (a raw '@' in a password is then kept).
    if (auto at = url.substr(0, url.find('/')).rfind('@'); at != std::string_view::npos) {
        const auto info = url.substr(0, at);
        url.remove_prefix(at + 1);
        const auto colon = info.find(':');
        if (colon == std::string_view::npos) return std::nullopt;  // a user alone: AUTH needs a password
        o.username = codec::percent_decode(info.substr(0, colon));
        o.password = codec::percent_decode(info.substr(colon + 1));
        if (o.password.empty()) return std::nullopt;
    }
    std::string_view hostport = url;
    if (auto slash = url.find('/'); slash != std::string_view::npos) {
        hostport = url.substr(0, slash);
        auto db = url.substr(slash + 1);
        if (!db.empty()) {
            int v = -1;
            auto [p, ec] = std::from_chars(db.data(), db.data() + db.size(), v);
            if (ec != std::errc{} || p != db.data() + db.size() || v < 0) return std::nullopt;
            o.db = v;
        }
    }
    std::string_view host = hostport;
    std::string_view port;
    if (!hostport.empty() && hostport.front() == '[') {
        auto close = hostport.find(']');
        if (close == std::string_view::npos) return std::nullopt;
        host = hostport.substr(1, close - 1);
        auto rest = hostport.substr(close + 1);
        if (!rest.empty()) {
            if (rest.front() != ':') return std::nullopt;
            port = rest.substr(1);
        }
    } else if (auto colon = hostport.rfind(':'); colon != std::string_view::npos) {
        host = hostport.substr(0, colon);
        port = hostport.substr(colon + 1);
    }
    if (host.empty()) return std::nullopt;
    o.host = std::string(host);
    if (!port.empty()) {
        unsigned v = 0;
        auto [p, ec] = std::from_chars(port.data(), port.data() + port.size(), v);
        if (ec != std::errc{} || p != port.data() + port.size() || v == 0 || v > 65535) return std::nullopt;
        o.port = static_cast<std::uint16_t>(v);
    }
    return o;
}

// --- the cluster -------------------------------------------------------------------------------

struct cluster::impl : std::enable_shared_from_this<impl> {
    impl(asio::any_io_executor ex, options o, std::weak_ptr<local_node> l, std::string id)
        : strand(asio::make_strand(ex)), opts(std::move(o)), local(std::move(l)), uid(std::move(id)) {}

    strand_t strand;
    options opts;
    std::weak_ptr<local_node> local;
    const std::string uid;
    std::shared_ptr<resp_conn> pub;
    std::shared_ptr<resp_conn> sub;
    std::vector<std::string> namespaces;
    bool started = false;
    bool stopped = false;

    // Requests this node sent and waits answers for.
    struct request {
        request_type type{};
        std::size_t expected = 0;  // answers to wait for
        std::size_t got = 0;
        std::set<std::string> rooms;
        json sockets = json::array();
        json answers = json::array();
        std::function<void(request&)> finish;
        std::shared_ptr<asio::steady_timer> timer;
    };
    std::map<std::string, request, std::less<>> requests;

    std::atomic<bool> up{false};
    std::atomic<std::uint64_t> published{0}, received{0}, dropped{0}, malformed{0}, outages{0};
    std::uint64_t logged_malformed = 0;

    void log(std::string_view what) const {
        if (opts.log) opts.log(what);
    }

    void update_up() {
        const bool now = pub && sub && pub->up() && sub->up();
        up = now;
    }

    void subscribe(const std::string& nsp) {
        if (!sub || !sub->up()) return;
        sub->send({"PSUBSCRIBE", broadcast_pattern(opts.prefix, nsp)});
        sub->send({"SUBSCRIBE", request_channel(opts.prefix, nsp), response_channel(opts.prefix, nsp),
                   specific_response_channel(opts.prefix, nsp, uid)});
    }

    void start() {
        if (started) return;
        started = true;
        auto weak = weak_from_this();
        pub = std::make_shared<resp_conn>(strand, opts, "publisher");
        sub = std::make_shared<resp_conn>(strand, opts, "subscriber");
        sub->track_replies = false;
        pub->on_up = [weak] {
            if (auto self = weak.lock()) self->update_up();
        };
        sub->on_up = [weak] {
            auto self = weak.lock();
            if (!self) return;
            for (const auto& n : self->namespaces) self->subscribe(n);
            self->log(fmt::format("redis: subscribed to {} namespace(s) as node {}", self->namespaces.size(),
                                  self->uid));
            self->update_up();
        };
        auto down = [weak] {
            auto self = weak.lock();
            if (!self) return;
            if (self->up.exchange(false) || self->outages == 0) ++self->outages;
        };
        pub->on_down = down;
        sub->on_down = down;
        sub->on_push = [weak](const redisReply* r) {
            if (auto self = weak.lock()) self->on_push(r);
        };
        pub->start();
        sub->start();
    }

    void stop() {
        stopped = true;
        if (pub) pub->stop();
        if (sub) sub->stop();
        for (auto& [id, r] : requests) {
            if (r.timer) r.timer->cancel();
        }
        up = false;
    }

    void bad_message(std::string_view channel, std::string_view why) {
        ++malformed;
        // Logged, but not flooded: the first ten, then one in a thousand.
        if (logged_malformed < 10 || malformed % 1000 == 0) {
            log(fmt::format("redis: dropped a malformed message on {}: {}", channel, why));
            ++logged_malformed;
        }
    }

    void on_push(const redisReply* r) {
        if (r && r->type == REDIS_REPLY_ERROR) {  // a refused (P)SUBSCRIBE: NOAUTH, ACL
            log(fmt::format("redis sub: error reply: {}", std::string_view(r->str, r->len)));
            return;
        }
        if (!r || r->type != REDIS_REPLY_ARRAY || r->elements < 3) return;
        const auto kind = str_of(r->element[0]);
        if (kind == "pmessage" && r->elements >= 4) {
            on_broadcast(str_of(r->element[2]), str_of(r->element[3]));
        } else if (kind == "message") {
            on_message(str_of(r->element[1]), str_of(r->element[2]));
        }
    }

    void on_broadcast(std::string_view channel, std::string_view payload) {
        for (const auto& nsp : namespaces) {
            if (!room_of_channel(opts.prefix, nsp, channel)) continue;
            auto m = decode_broadcast(payload);
            if (!m) {
                bad_message(channel, m.err().reason);
                return;
            }
            if (m->uid == uid) return;
            if (m->packet.nsp != nsp) return;
            if (m->packet.type != 2 && m->packet.type != 5) return;  // only events are broadcast
            if (!m->packet.data.is_array() || m->packet.data.empty()) {
                bad_message(channel, "packet data is not a non-empty array");
                return;
            }
            if (auto l = local.lock()) {
                ++received;
                l->deliver(m->packet, to_local(m->opts));
            }
            return;
        }
    }

    void on_message(std::string_view channel, std::string_view payload) {
        for (const auto& nsp : namespaces) {
            if (channel == request_channel(opts.prefix, nsp)) {
                on_request(nsp, channel, payload);
                return;
            }
            if (channel.substr(0, response_channel(opts.prefix, nsp).size()) == response_channel(opts.prefix, nsp)) {
                on_response(channel, payload);
                return;
            }
        }
    }

    void publish_raw(const std::string& channel, std::string payload) {
        if (pub && pub->up()) pub->send({"PUBLISH", channel, std::move(payload)});
    }

    void respond(const std::string& nsp, std::string payload) {
        publish_raw(response_channel(opts.prefix, nsp), std::move(payload));
    }

    void on_request(const std::string& nsp, std::string_view channel, std::string_view payload) {
        auto q = decode_message(payload);
        if (!q) {
            bad_message(channel, q.err().reason);
            return;
        }
        const json& m = *q;
        auto t = m.find("type");
        if (t == m.end() || !t->is_number_integer()) {
            bad_message(channel, "request without an integer type");
            return;
        }
        std::string request_id;
        if (auto it = m.find("requestId"); it != m.end() && it->is_string()) request_id = it->get<std::string>();
        std::string from;
        if (auto it = m.find("uid"); it != m.end() && it->is_string()) from = it->get<std::string>();
        const bool mine = from == uid || (!request_id.empty() && requests.count(request_id));
        auto l = local.lock();
        if (!l) return;
        auto opts_of = [&](const char* key) -> std::optional<broadcast_options> {
            auto it = m.find(key);
            if (it == m.end()) return broadcast_options{};
            auto o = opts_from_json(*it);
            if (!o) {
                bad_message(channel, o.err().reason);
                return std::nullopt;
            }
            return to_local(*o);
        };
        auto rooms_of = [&](const char* key) {
            std::vector<std::string> out;
            if (auto it = m.find(key); it != m.end() && it->is_array()) {
                for (const auto& e : *it) {
                    if (e.is_string()) out.push_back(e.get<std::string>());
                }
            } else if (it != m.end() && it->is_string()) {
                out.push_back(it->get<std::string>());
            }
            return out;
        };
        switch (static_cast<request_type>(t->get<int>())) {
        case request_type::sockets: {
            if (mine) return;
            broadcast_options o;
            for (auto& r : rooms_of("rooms")) o.rooms.insert(std::move(r));
            respond(nsp, encode_sockets_response(request_id, l->socket_ids(nsp, o)));
            break;
        }
        case request_type::all_rooms:
            if (mine) return;
            respond(nsp, encode_all_rooms_response(request_id, l->all_rooms(nsp)));
            break;
        case request_type::remote_join:
        case request_type::remote_leave:
        case request_type::remote_disconnect: {
            // This node applies its own requests locally when it sends them.
            if (from == uid) return;
            const auto type = static_cast<request_type>(t->get<int>());
            std::optional<broadcast_options> o;
            bool by_sid = false;
            if (m.contains("opts")) {
                o = opts_of("opts");
            } else if (auto sid = m.find("sid"); sid != m.end() && sid->is_string()) {
                o = broadcast_options{};
                o->rooms.insert(sid->get<std::string>());
                by_sid = true;
                if (l->socket_ids(nsp, *o).empty()) return;  // not ours
            }
            if (!o) return;
            if (type == request_type::remote_join) {
                auto rooms = m.contains("opts") ? rooms_of("rooms") : rooms_of("room");
                l->add_sockets(nsp, *o, rooms);
            } else if (type == request_type::remote_leave) {
                auto rooms = m.contains("opts") ? rooms_of("rooms") : rooms_of("room");
                l->del_sockets(nsp, *o, rooms);
            } else {
                auto c = m.find("close");
                l->disconnect_sockets(nsp, *o, c != m.end() && c->is_boolean() && c->get<bool>());
            }
            if (by_sid) respond(nsp, encode_remote_done_response(request_id));
            break;
        }
        case request_type::remote_fetch: {
            if (mine) return;
            auto o = opts_of("opts");
            if (!o) return;
            respond(nsp, encode_fetch_sockets_response(request_id, l->fetch_sockets(nsp, *o)));
            break;
        }
        case request_type::server_side_emit: {
            if (from == uid) return;
            auto data = m.find("data");
            if (data == m.end() || !data->is_array() || data->empty()) {
                bad_message(channel, "serverSideEmit without arguments");
                return;
            }
            std::function<void(json)> ack;
            if (!request_id.empty()) {
                auto weak = weak_from_this();
                auto called = std::make_shared<bool>(false);
                ack = [weak, nsp, request_id, called](json arg) {
                    auto self = weak.lock();
                    if (!self) return;
                    asio::post(self->strand, [self, nsp, request_id, called, arg = std::move(arg)] {
                        if (*called) return;
                        *called = true;
                        self->respond(nsp, encode_server_side_emit_response(request_id, arg));
                    });
                };
            }
            l->server_side_emit(nsp, *data, std::move(ack));
            break;
        }
        case request_type::broadcast: {
            if (from == uid) return;
            auto p = m.find("packet");
            auto raw_opts = m.find("opts");
            if (raw_opts == m.end() || p == m.end() || !p->is_object()) return;
            auto wire_opts = opts_from_json(*raw_opts);
            if (!wire_opts) {
                bad_message(channel, wire_opts.err().reason);
                return;
            }
            const auto o = std::optional<broadcast_options>(to_local(*wire_opts));
            wire_packet packet;
            if (auto d = p->find("data"); d != p->end() && d->is_array() && !d->empty()) {
                packet.data = *d;
            } else {
                bad_message(channel, "broadcast request without packet data");
                return;
            }
            packet.nsp = nsp;
            std::chrono::milliseconds timeout{opts.request_timeout};
            if (auto to = wire_opts->flags.find("timeout"); to != wire_opts->flags.end() && to->is_number() && to->get<double>() >= 0 &&
                                                    to->get<double>() < 86'400'000.0) {
                timeout = std::chrono::milliseconds(static_cast<std::int64_t>(to->get<double>()));
            }
            auto weak = weak_from_this();
            auto count = [weak, nsp, request_id](std::size_t n) {
                auto self = weak.lock();
                if (!self) return;
                asio::post(self->strand, [self, nsp, request_id, n] {
                    self->respond(nsp, encode_broadcast_client_count(request_id, n));
                });
            };
            auto ack = [weak, nsp, request_id](json args) {
                auto self = weak.lock();
                if (!self) return;
                json first = args.is_array() ? (args.empty() ? json() : args[0]) : args;
                asio::post(self->strand, [self, nsp, request_id, first = std::move(first)] {
                    self->respond(nsp, encode_broadcast_ack(request_id, first));
                });
            };
            l->broadcast_with_ack(packet, *o, timeout, count, ack);
            break;
        }
        default: break;
        }
    }

    void on_response(std::string_view channel, std::string_view payload) {
        auto q = decode_message(payload);
        if (!q) {
            bad_message(channel, q.err().reason);
            return;
        }
        auto id = q->find("requestId");
        if (id == q->end() || !id->is_string()) return;
        auto it = requests.find(id->get<std::string>());
        if (it == requests.end()) return;
        auto& r = it->second;
        switch (r.type) {
        case request_type::all_rooms:
            if (auto rooms = q->find("rooms"); rooms != q->end() && rooms->is_array()) {
                for (const auto& e : *rooms) {
                    if (e.is_string()) r.rooms.insert(e.get<std::string>());
                }
            } else {
                return;
            }
            break;
        case request_type::remote_fetch:
            if (auto s = q->find("sockets"); s != q->end() && s->is_array()) {
                for (const auto& e : *s) r.sockets.push_back(e);
            } else {
                return;
            }
            break;
        case request_type::server_side_emit:
            if (auto t = q->find("type"); t == q->end() || *t != static_cast<int>(request_type::server_side_emit)) return;
            r.answers.push_back(q->contains("data") ? (*q)["data"] : json());
            break;
        default: return;
        }
        if (++r.got >= r.expected) {
            auto done = std::move(r);
            requests.erase(it);
            if (done.timer) done.timer->cancel();
            if (done.finish) done.finish(done);
        }
    }

    // Counts the request channel's subscribers, then calls `go` with the count (0 when Redis is
    // down).
    void server_count(const std::string& nsp, std::function<void(std::size_t)> go) {
        if (!pub || !pub->up()) {
            go(0);
            return;
        }
        pub->send({"PUBSUB", "NUMSUB", request_channel(opts.prefix, nsp)}, [go](const redisReply* r) {
            std::size_t n = 0;
            if (r && r->type == REDIS_REPLY_ARRAY && r->elements >= 2 &&
                r->element[1]->type == REDIS_REPLY_INTEGER && r->element[1]->integer > 0) {
                n = static_cast<std::size_t>(r->element[1]->integer);
            }
            go(n);
        });
    }

    // Registers a request expecting `expected` answers; `finish` runs once, with every answer or
    // at the timeout.
    void track(const std::string& id, request r) {
        r.timer = std::make_shared<asio::steady_timer>(strand);
        r.timer->expires_after(opts.request_timeout);
        auto weak = weak_from_this();
        r.timer->async_wait([weak, id](boost::system::error_code ec) {
            auto self = weak.lock();
            if (ec || !self) return;
            auto it = self->requests.find(id);
            if (it == self->requests.end()) return;
            self->log(fmt::format("redis: request {} timed out with {} of {} answers", id, it->second.got,
                                  it->second.expected));
            auto done = std::move(it->second);
            self->requests.erase(it);
            if (done.finish) done.finish(done);
        });
        requests.emplace(id, std::move(r));
    }
};

cluster::cluster(passkey, asio::any_io_executor executor, options opts, std::weak_ptr<local_node> local)
    : impl_(std::make_shared<impl>(executor, std::move(opts), std::move(local), random_id(6))),
      uid_(impl_->uid) {}

cluster::~cluster() {
    asio::post(impl_->strand, [i = impl_] { i->stop(); });
}

std::shared_ptr<cluster> cluster::create(asio::any_io_executor executor, options opts,
                                         std::weak_ptr<local_node> local) {
    return std::make_shared<cluster>(passkey{}, std::move(executor), std::move(opts), std::move(local));
}

void cluster::start() {
    asio::post(impl_->strand, [i = impl_] { i->start(); });
}

void cluster::stop() {
    asio::post(impl_->strand, [i = impl_] { i->stop(); });
}

void cluster::add_namespace(std::string nsp) {
    asio::post(impl_->strand, [i = impl_, nsp = std::move(nsp)] {
        for (const auto& n : i->namespaces) {
            if (n == nsp) return;
        }
        i->namespaces.push_back(nsp);
        i->subscribe(nsp);
    });
}

void cluster::publish(wire_packet packet, const broadcast_options& opts) {
    if (!impl_->up.load()) {
        ++impl_->dropped;
        return;
    }
    broadcast_message m{uid_, std::move(packet), to_wire(opts)};
    auto channel = channel_for(impl_->opts.prefix, m.packet.nsp, m.opts);
    auto bytes = encode_broadcast(m);
    ++impl_->published;
    asio::post(impl_->strand, [i = impl_, channel = std::move(channel), bytes = std::move(bytes)]() mutable {
        if (!i->pub || !i->pub->up()) {
            ++i->dropped;
            return;
        }
        i->publish_raw(channel, std::move(bytes));
    });
}

void cluster::all_rooms(std::string nsp, std::function<void(std::vector<std::string>)> done) {
    asio::post(impl_->strand, [i = impl_, nsp = std::move(nsp), done = std::move(done)]() mutable {
        auto l = i->local.lock();
        auto mine = l ? l->all_rooms(nsp) : std::vector<std::string>{};
        i->server_count(nsp, [i, nsp, done, mine](std::size_t n) mutable {
            if (n <= 1) {
                done(std::move(mine));
                return;
            }
            const auto id = random_id(6);
            impl::request r;
            r.type = request_type::all_rooms;
            r.expected = n - 1;
            r.rooms.insert(mine.begin(), mine.end());
            r.finish = [done](impl::request& q) { done(std::vector<std::string>(q.rooms.begin(), q.rooms.end())); };
            i->track(id, std::move(r));
            i->publish_raw(request_channel(i->opts.prefix, nsp), encode_all_rooms_request(i->uid, id));
        });
    });
}

void cluster::fetch_sockets(std::string nsp, broadcast_options opts, std::function<void(json)> done) {
    asio::post(impl_->strand, [i = impl_, nsp = std::move(nsp), opts = std::move(opts), done = std::move(done)]() mutable {
        auto l = i->local.lock();
        json mine = l ? l->fetch_sockets(nsp, opts) : json::array();
        i->server_count(nsp, [i, nsp, done, mine, opts](std::size_t n) mutable {
            if (n <= 1) {
                done(std::move(mine));
                return;
            }
            const auto id = random_id(6);
            impl::request r;
            r.type = request_type::remote_fetch;
            r.expected = n - 1;
            r.sockets = std::move(mine);
            r.finish = [done](impl::request& q) { done(std::move(q.sockets)); };
            i->track(id, std::move(r));
            i->publish_raw(request_channel(i->opts.prefix, nsp),
                           encode_fetch_sockets_request(i->uid, id, to_wire(opts)));
        });
    });
}

void cluster::remote_join(std::string nsp, const broadcast_options& opts, std::vector<std::string> rooms) {
    asio::post(impl_->strand, [i = impl_, nsp = std::move(nsp), o = to_wire(opts), rooms = std::move(rooms)] {
        i->publish_raw(request_channel(i->opts.prefix, nsp), encode_remote_join_request(i->uid, o, rooms));
    });
}

void cluster::remote_leave(std::string nsp, const broadcast_options& opts, std::vector<std::string> rooms) {
    asio::post(impl_->strand, [i = impl_, nsp = std::move(nsp), o = to_wire(opts), rooms = std::move(rooms)] {
        i->publish_raw(request_channel(i->opts.prefix, nsp), encode_remote_leave_request(i->uid, o, rooms));
    });
}

void cluster::remote_disconnect(std::string nsp, const broadcast_options& opts, bool close) {
    asio::post(impl_->strand, [i = impl_, nsp = std::move(nsp), o = to_wire(opts), close] {
        i->publish_raw(request_channel(i->opts.prefix, nsp), encode_remote_disconnect_request(i->uid, o, close));
    });
}

void cluster::server_side_emit(std::string nsp, json args, std::function<void(json)> done) {
    asio::post(impl_->strand, [i = impl_, nsp = std::move(nsp), args = std::move(args), done = std::move(done)]() mutable {
        if (!done) {
            i->publish_raw(request_channel(i->opts.prefix, nsp), encode_server_side_emit_request(i->uid, std::nullopt, args));
            return;
        }
        i->server_count(nsp, [i, nsp, args, done](std::size_t n) {
            if (n <= 1) {
                done(json::array());
                return;
            }
            const auto id = random_id(6);
            impl::request r;
            r.type = request_type::server_side_emit;
            r.expected = n - 1;
            r.finish = [done](impl::request& q) { done(std::move(q.answers)); };
            i->track(id, std::move(r));
            const std::string_view idv = id;
            i->publish_raw(request_channel(i->opts.prefix, nsp), encode_server_side_emit_request(i->uid, idv, args));
        });
    });
}

stats cluster::snapshot() const {
    stats s;
    s.connected = impl_->up.load();
    s.published = impl_->published.load();
    s.received = impl_->received.load();
    s.dropped = impl_->dropped.load();
    s.malformed = impl_->malformed.load();
    s.outages = impl_->outages.load();
    return s;
}

}  // namespace sio::adapter::redis
