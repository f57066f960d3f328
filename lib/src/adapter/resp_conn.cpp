#include "resp_conn.hpp"

#include "sio/transport/exception_text.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/error.hpp>
#include <fmt/format.h>
#include <openssl/ssl.h>

#include <array>
#include <random>
#include <tuple>
#include <variant>

namespace sio::adapter::redis::detail {

namespace asio = boost::asio;
using tuple_awaitable_t = asio::as_tuple_t<asio::use_awaitable_t<>>;
constexpr tuple_awaitable_t use_tuple{};

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

stats link_counters::snapshot() const {
    stats s;
    s.connected = up.load();
    s.published = published.load();
    s.received = received.load();
    s.dropped = dropped.load();
    s.malformed = malformed.load();
    s.outages = outages.load();
    const int n = nodes.load();
    s.nodes = n < 0 ? (s.connected ? 1u : 0u) : static_cast<std::uint32_t>(n);
    return s;
}

bool link_counters::count_malformed() {
    const auto n = ++malformed;
    if (logged_malformed >= 10 && n % 1000 != 0) return false;
    ++logged_malformed;
    return true;
}

namespace {

// A stream's read and write, whichever stream it is (both give the same awaitable).
template <class Buffers>
asio::awaitable<std::tuple<boost::system::error_code, std::size_t>> read_some(transport::any_stream& stream,
                                                                              const Buffers& b) {
    return std::visit([&](auto& s) { return s.async_read_some(b, use_tuple); }, stream);
}
template <class Buffers>
asio::awaitable<std::tuple<boost::system::error_code, std::size_t>> write_all(transport::any_stream& stream,
                                                                              const Buffers& b) {
    return std::visit([&](auto& s) { return asio::async_write(s, b, use_tuple); }, stream);
}

}  // namespace

resp_conn::resp_conn(strand_t strand, options opts, std::string role)
    : strand_(strand), opts_(std::move(opts)), role_(std::move(role)), wake_(strand) {}

void resp_conn::start() {
    asio::co_spawn(strand_, run(shared_from_this()), [self = shared_from_this()](std::exception_ptr e) {
        // A bug or no memory: the link is down for good, and the log says why.
        if (e) self->log(fmt::format("redis {}: stopped on an error: {}", self->role_, transport::exception_text(e)));
    });
}

void resp_conn::stop() {
    stopped_ = true;
    attempts_.cancel_all();
    if (stream_) transport::lowest(*stream_).close();
    wake_.cancel();
    if (backoff_timer_) backoff_timer_->cancel();
}

bool resp_conn::send(const std::vector<std::string>& args, reply_fn done) {
    if (!up_) {
        if (done) done(nullptr);
        return false;
    }
    queue_.push_back(format_command(args));
    if (track_replies) pending_.push_back(std::move(done));
    wake_.cancel();
    return true;
}

asio::awaitable<void> resp_conn::run(std::shared_ptr<resp_conn> self) {
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

std::string resp_conn::authority() const {
    const bool v6 = opts_.host.find(':') != std::string::npos;
    return fmt::format("{}{}{}:{}", v6 ? "[" : "", opts_.host, v6 ? "]" : "", opts_.port);
}

// Resolve, TCP connect, TLS (rediss://) with the server's name checked, then the handshake,
// all within connect_timeout; stop() ends it at once. nullopt on success, else a sentence.
asio::awaitable<std::optional<std::string>> resp_conn::connect_once() {
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
asio::awaitable<std::optional<std::string>> resp_conn::handshake() {
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

asio::awaitable<std::string> resp_conn::read_loop() {
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

void resp_conn::dispatch(const redisReply* r) {
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
asio::awaitable<void> resp_conn::writer(std::shared_ptr<resp_conn> self, std::uint64_t gen,
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

void resp_conn::log(std::string_view what) const {
    if (opts_.log) opts_.log(what);
}

}  // namespace sio::adapter::redis::detail
