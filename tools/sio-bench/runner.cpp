#include "sio-bench/runner.hpp"

#include "sio/client.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <fmt/core.h>

#include <algorithm>
#include <atomic>
#include <deque>
#include <memory>
#include <thread>

namespace sio::bench {

namespace asio = boost::asio;
using clock_type = std::chrono::steady_clock;

std::atomic<bool> interrupt_requested{false};

namespace {

std::uint64_t us_between(clock_type::time_point a, clock_type::time_point b) {
    return b > a ? static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(b - a).count()) : 0;
}

std::int64_t to_ns(clock_type::time_point t) {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

clock_type::time_point from_ns(std::int64_t ns) { return clock_type::time_point(std::chrono::nanoseconds(ns)); }

std::string errc_name(std::error_code ec) {
    if (ec.category() == sio::client_category()) {
        switch (static_cast<sio::client_errc>(ec.value())) {
        case sio::client_errc::bad_url: return "bad_url";
        case sio::client_errc::resolve_failed: return "resolve_failed";
        case sio::client_errc::connect_failed: return "connect_failed";
        case sio::client_errc::timeout: return "connect_timeout";
        case sio::client_errc::tls_failed: return "tls_failed";
        case sio::client_errc::proxy_failed: return "proxy_failed";
        case sio::client_errc::handshake_failed: return "handshake_failed";
        case sio::client_errc::protocol_error: return "protocol_error";
        case sio::client_errc::ping_timeout: return "ping_timeout";
        case sio::client_errc::transport_closed: return "transport_closed";
        case sio::client_errc::connect_error: return "connect_error";
        default: break;
        }
    }
    if (ec.category() == sio::socket_category()) {
        switch (static_cast<sio::socket_errc>(ec.value())) {
        case sio::socket_errc::ack_timeout: return "ack_timeout";
        case sio::socket_errc::disconnected: return "disconnected_before_ack";
        case sio::socket_errc::not_connected: return "not_connected";
        default: break;
        }
    }
    return std::string(ec.category().name()) + ":" + std::to_string(ec.value());
}

// A failure on the way to the server, before any transport: the same for every transport.
bool unreachable_error(std::error_code ec) {
    if (ec.category() != sio::client_category()) return false;
    switch (static_cast<sio::client_errc>(ec.value())) {
    case sio::client_errc::bad_url:
    case sio::client_errc::resolve_failed:
    case sio::client_errc::connect_failed:
    case sio::client_errc::tls_failed:
    case sio::client_errc::proxy_failed: return true;
    default: return false;
    }
}

// What every thread shares: the options, the time line and, for broadcast, receipts per message.
struct shared_run {
    const bench_options* opt = nullptr;
    std::string transport;
    clock_type::time_point t0, start, end, hard_end;
    sio::json auth = sio::json::object();
    unsigned listeners = 0;
    std::atomic<unsigned> listeners_connected{0};
    std::atomic<std::uint64_t> next_id{0};
    std::unique_ptr<std::atomic<std::uint32_t>[]> receipts;  // broadcast: per message id
    std::uint64_t receipts_size = 0;
    std::atomic<bool> drained{false};  // broadcast: every listener got every message
    std::atomic<unsigned> senders_done{0};
};

// One thread's share of the clients and its counters. `stats` is touched only on the thread;
// the live_* atomics are read by the progress line.
struct worker {
    asio::io_context ioc{1};
    counters stats;
    histogram recent;  // the last second, for the progress line
    std::shared_ptr<sio::transfer_counters> transfer = std::make_shared<sio::transfer_counters>();
    std::uint64_t window_requests = 0, window_header_bytes = 0, window_received = 0;  // start..end
    bool window_opened = false, window_closed = false;
    // At the end of the measured window (or, when the run ended before, at the end of the run):
    // the snapshot taken at its start becomes the difference.
    void close_window() {
        if (window_closed) return;
        window_closed = true;
        if (!window_opened) {
            window_requests = window_header_bytes = window_received = 0;
            return;
        }
        window_requests = transfer->http_requests.load() - window_requests;
        window_header_bytes = transfer->http_header_bytes.load() - window_header_bytes;
        window_received = stats.received - window_received;
    }
    std::atomic<std::uint64_t> live_connected{0}, live_sent{0}, live_received{0}, live_errors{0}, live_p99{0};

    void error(const std::string& kind, std::uint64_t n = 1) {
        stats.errors[kind] += n;
        live_errors.fetch_add(n, std::memory_order_relaxed);
    }
    // The first reason a client could not connect, in words.
    std::string connect_failure;
    bool unreachable = false;
    bool tls_failed = false;
    // `ec`: the client's error, none for a CONNECT_ERROR (the server answered).
    void could_not_connect(std::string why, std::error_code ec) {
        if (!connect_failure.empty()) return;
        connect_failure = std::move(why);
        unreachable = unreachable_error(ec);
        tls_failed = ec.category() == sio::client_category() &&
                     static_cast<sio::client_errc>(ec.value()) == sio::client_errc::tls_failed;
    }
    void sent() {
        ++stats.sent;
        live_sent.fetch_add(1, std::memory_order_relaxed);
    }
    void received(clock_type::time_point due, clock_type::time_point sent_at, clock_type::time_point now) {
        ++stats.received;
        const auto us = us_between(due, now);
        stats.latency.record(us);
        stats.latency_uncorrected.record(us_between(sent_at, now));
        recent.record(us);
        live_received.fetch_add(1, std::memory_order_relaxed);
        last_received_at = now;
        const auto sec = std::chrono::duration_cast<std::chrono::seconds>(now - t0).count();
        if (sec != this_second) flush_second(sec);
        second_latency.record(us);
    }
    // Latency over time: one point per second.
    clock_type::time_point t0;
    std::int64_t this_second = -1;
    histogram second_latency;
    std::vector<timeline_point> timeline;
    void flush_second(std::int64_t next) {
        if (second_latency.count() > 0) {
            timeline.push_back(timeline_point{this_second, second_latency.count(), second_latency.percentile(0.5),
                                              second_latency.percentile(0.99), second_latency.max()});
            second_latency.reset();
        }
        this_second = next;
    }
    clock_type::time_point last_received_at{};
};

enum class role { echo, raw_echo, connector, idle, listener, sender };

struct bench_client : std::enable_shared_from_this<bench_client> {
    worker* w = nullptr;
    shared_run* run = nullptr;
    const bench_options* opt = nullptr;
    role kind = role::echo;
    std::shared_ptr<sio::client> io;
    std::shared_ptr<sio::client_socket> sock;
    std::shared_ptr<sio::ws_client> raw;
    std::unique_ptr<asio::steady_timer> timer;
    schedule plan;
    clock_type::time_point opened_at, engine_open_at;
    std::uint64_t next = 0;  // next message index
    unsigned in_flight = 0;
    unsigned generation = 0;  // handlers of an earlier connection (connect scenario) are ignored
    bool connected = false;
    bool ever_connected = false;
    bool stopped = false;
    std::string body;
    std::deque<std::pair<clock_type::time_point, clock_type::time_point>> raw_pending;  // (due, sent)

    bool sends() const { return kind == role::echo || kind == role::raw_echo || kind == role::sender; }

    sio::tls_client_options tls_options() const {
        sio::tls_client_options t;
        t.verify = opt->tls_verify;
        t.ca_file = opt->ca_file;
        t.cert_file = opt->cert_file;
        t.key_file = opt->key_file;
        return t;
    }

    void open() {
        ++generation;
        connected = false;
        engine_open_at = {};
        opened_at = clock_type::now();
        const unsigned gen = generation;
        std::weak_ptr<bench_client> wk = weak_from_this();
        const auto timeout = std::chrono::duration_cast<std::chrono::milliseconds>(opt->timeout);
        if (kind == role::raw_echo) {
            sio::ws_client_options o;
            o.url = opt->url;
            o.headers = opt->headers;
            o.tls = tls_options();
            o.connect_timeout = timeout;
            o.own_strand = false;  // each worker's io_context runs on its one thread
            raw = sio::ws_client::create(w->ioc.get_executor(), o);
            raw->on_open([wk](const std::string&) {
                if (auto s = wk.lock()) s->on_connected();
            });
            raw->on_message([wk](std::string, bool) {
                auto s = wk.lock();
                if (!s || s->raw_pending.empty()) return;
                const auto [due, sent] = s->raw_pending.front();
                s->raw_pending.pop_front();
                s->on_answer({}, due, sent);
            });
            raw->on_close([wk](std::error_code ec, unsigned, const std::string& reason) {
                auto s = wk.lock();
                if (!s || s->stopped) return;
                s->w->error(s->ever_connected ? (ec ? errc_name(ec) : std::string("closed_by_server"))
                                              : (ec ? errc_name(ec) : std::string("connect_failed")));
                if (!s->ever_connected)
                    s->w->could_not_connect(!reason.empty() ? reason : ec ? ec.message() : std::string("the server closed the connection"),
                                            ec);
                if (!s->raw_pending.empty()) s->w->error("no_answer_closed", s->raw_pending.size());
                s->raw_pending.clear();
                s->in_flight = 0;
                s->stop();
            });
            raw->open();
            return;
        }
        sio::client_options o;
        o.url = opt->url;
        o.headers = opt->headers;
        o.path = opt->path;
        o.query = opt->query;
        o.tls = tls_options();
        o.transport = run->transport == "polling" ? sio::client_transport::polling
                      : run->transport == "upgrade" ? sio::client_transport::upgrade
                                                    : sio::client_transport::websocket;
        o.parser = opt->msgpack ? sio::client_parser::msgpack : sio::client_parser::json;
        o.reconnection.enabled = false;
        o.connect_timeout = timeout;
        o.ack_timeout = timeout;
        o.counters = w->transfer;
        o.own_strand = false;  // each worker's io_context runs on its one thread, and so do all calls
        io = sio::client::create(w->ioc.get_executor(), o);
        io->on_event([wk, gen](const sio::client_event& e) {
            auto s = wk.lock();
            if (!s || s->generation != gen) return;
            const auto now = clock_type::now();
            if (e.type == sio::client_event::kind::transport_open) {
                s->engine_open_at = now;
                s->w->stats.phase_engine_open.record(us_between(s->opened_at, now));
            } else if (e.type == sio::client_event::kind::upgrade && s->engine_open_at != clock_type::time_point{}) {
                s->w->stats.phase_upgrade.record(us_between(s->engine_open_at, now));
                // connect over upgrade: the connection is complete once upgraded (not from
                // inside the client's own handler).
                if (s->kind == role::connector && s->connected)
                    asio::post(s->w->ioc, [wk, gen] {
                        auto c = wk.lock();
                        if (c && c->generation == gen && !c->stopped) c->connector_next();
                    });
            }
        });
        io->on_open_failed([wk, gen](std::error_code ec, const std::string& message) {
            auto s = wk.lock();
            if (!s || s->generation != gen || s->stopped) return;
            s->w->error(errc_name(ec));
            if (!s->ever_connected) s->w->could_not_connect(message.empty() ? ec.message() : message, ec);
            s->connection_over();
        });
        sock = io->socket(opt->nsp, run->auth);
        sock->on_connect([wk, gen] {
            auto s = wk.lock();
            if (s && s->generation == gen) s->on_connected();
        });
        sock->on_connect_error([wk, gen](const sio::json& data) {
            auto s = wk.lock();
            if (!s || s->generation != gen || s->stopped) return;
            std::string msg = data.is_object() && data.contains("message") && data["message"].is_string()
                                  ? data["message"].get<std::string>()
                                  : std::string("refused");
            s->w->error("connect_error: " + msg);
            if (!s->ever_connected)
                s->w->could_not_connect(fmt::format("the server refused namespace {}: {}", s->opt->nsp, msg), {});
            s->connection_over();
        });
        sock->on_disconnect([wk, gen](const std::string& reason) {
            auto s = wk.lock();
            if (!s || s->generation != gen || s->stopped) return;
            s->w->error("disconnect: " + reason);
            s->connection_over();
        });
        if (kind == role::listener) {
            sock->on(opt->listen_event, [wk](sio::json args, sio::ack_fn) {
                if (auto s = wk.lock()) s->on_broadcast(args);
            });
        }
        io->open();
    }

    // The connection failed or ended before its time: the connect scenario tries again (after a
    // short pause, so that a refusing server does not turn this into a busy loop); the others stop.
    void connection_over() {
        connected = false;
        if (kind == role::connector && clock_type::now() < run->end) {
            drop_connection();
            timer->expires_after(std::chrono::milliseconds(10));
            timer->async_wait([self = weak_from_this()](boost::system::error_code ec) {
                auto s = self.lock();
                if (s && !ec && !s->stopped) s->open();
            });
            return;
        }
        stop();
    }

    void drop_connection() {
        if (io) io->close();
        io.reset();
        sock.reset();
    }

    void on_connected() {
        if (connected || stopped) return;
        connected = true;
        ever_connected = true;
        const auto now = clock_type::now();
        if (io && engine_open_at != clock_type::time_point{}) {
            w->stats.phase_namespace.record(us_between(engine_open_at, now));
            // Nothing more to time unless an upgrade is still to come: spare the per-packet calls.
            if (run->transport != "upgrade") io->on_event({});
        }
        ++w->stats.connected;
        w->live_connected.fetch_add(1, std::memory_order_relaxed);
        w->stats.connect.record(us_between(opened_at, now));
        switch (kind) {
        case role::connector:
            // Over upgrade, the connection is complete once upgraded (see open()).
            if (run->transport != "upgrade") connector_next();
            return;
        case role::listener:
            run->listeners_connected.fetch_add(1, std::memory_order_relaxed);
            return;
        case role::idle:
            return;
        default:
            break;
        }
        // Messages that fell due before this client could send are not sent: the connection
        // time is reported as connect_us, not as message latency.
        if (now > run->start) next = std::max(next, plan.count_before(now - run->start));
        send_due();
    }

    // One connection counts as one "message" of this scenario; then the next one.
    void connector_next() {
        ++w->stats.received;
        w->live_received.fetch_add(1, std::memory_order_relaxed);
        drop_connection();
        connected = false;
        if (clock_type::now() < run->end) open();
        else stop();
    }

    void send_due() {
        if (stopped || !connected) return;
        const auto now = clock_type::now();
        while (in_flight < opt->in_flight) {
            const auto due = run->start + plan.due(next);
            if (due >= run->end) return finish_when_idle();
            if (due > now) break;
            send_one(due, now);
        }
        arm();
    }

    void arm() {
        if (stopped || in_flight >= opt->in_flight) return;
        const auto due = run->start + plan.due(next);
        if (due >= run->end) return finish_when_idle();
        timer->expires_at(due);
        timer->async_wait([self = weak_from_this()](boost::system::error_code ec) {
            if (auto s = self.lock(); s && !ec) s->send_due();
        });
    }

    void send_one(clock_type::time_point due, clock_type::time_point now) {
        ++next;
        if (kind == role::sender) {
            // Nothing is sent before every listener is there: a message sent earlier could not
            // reach all of them.
            if (run->listeners_connected.load(std::memory_order_relaxed) < run->listeners) return;
            const std::uint64_t id = run->next_id.fetch_add(1, std::memory_order_relaxed);
            sio::json data{{"d", to_ns(due)}, {"s", to_ns(now)}, {"i", id}, {"p", body}};
            sio::json args = sio::json::array({opt->listen_event, std::move(data)});
            w->sent();
            sock->emit(opt->event, std::move(args));
            return;
        }
        ++in_flight;
        w->sent();
        if (raw) {
            raw_pending.emplace_back(due, now);
            std::string copy = body;
            raw->send(std::move(copy));
            return;
        }
        sio::json args = sio::json::array({body});
        const std::optional<std::chrono::milliseconds> ack_timeout =
            std::chrono::duration_cast<std::chrono::milliseconds>(opt->timeout);
        sock->emit_with_ack(
            opt->event, std::move(args),
            [self = weak_from_this(), due, now](std::error_code ec, sio::json) {
                if (auto s = self.lock()) s->on_answer(ec, due, now);
            },
            ack_timeout);
    }

    void on_answer(std::error_code ec, clock_type::time_point due, clock_type::time_point sent) {
        if (in_flight == 0) return;  // already written off at the deadline
        --in_flight;
        if (ec) w->error(errc_name(ec));
        else w->received(due, sent, clock_type::now());
        if (stopped) return;
        send_due();
    }

    void on_broadcast(const sio::json& args) {
        const auto now = clock_type::now();
        const sio::json* data = nullptr;
        for (const auto& a : args) {
            if (a.is_object() && a.contains("d") && a.contains("i")) {
                data = &a;
                break;
            }
        }
        if (data == nullptr || !(*data)["d"].is_number_integer() || !(*data)["i"].is_number_unsigned()) {
            w->error("unexpected_broadcast");
            return;
        }
        const auto due = from_ns((*data)["d"].get<std::int64_t>());
        const auto sent = data->contains("s") && (*data)["s"].is_number_integer() ? from_ns((*data)["s"].get<std::int64_t>()) : due;
        w->received(due, sent, now);
        const auto id = (*data)["i"].get<std::uint64_t>();
        if (id < run->receipts_size) {
            const auto n = run->receipts[id].fetch_add(1, std::memory_order_relaxed) + 1;
            if (n == run->listeners) w->stats.fanout.record(us_between(due, now));
        }
    }

    // No more messages to send. A sender stays connected until every delivery is in (its last
    // messages may still be on their way out); the others leave once their answers are in.
    void finish_when_idle() {
        if (kind == role::sender) {
            if (timer) timer->cancel();
            sending_done();
            return;
        }
        // A listener has nothing in flight of its own: it stays until every delivery is in (the
        // drain check stops it) or the deadline. Stopped at the end of the window, it would miss
        // the broadcasts still on their way, and report them as missed deliveries.
        if (kind == role::listener) return;
        if (in_flight == 0) stop();
    }

    // Broadcast: the listeners may stop once every sender has sent its last message and every
    // delivery is in.
    bool done_sending = false;
    void sending_done() {
        if (kind != role::sender || done_sending) return;
        done_sending = true;
        run->senders_done.fetch_add(1);
    }

    void stop() {
        if (stopped) return;
        sending_done();
        stopped = true;
        connected = false;
        if (timer) timer->cancel();
        if (io) io->close();
        if (raw) raw->close();
    }
};

}  // namespace

run_result run_scenario(const bench_options& opt, const std::string& transport,
                        const std::function<void(const live_figures&)>& progress) {
    const bool broadcast = opt.scenario == "broadcast";
    const unsigned total_clients = opt.clients + (broadcast ? opt.senders : 0);
    const unsigned nthreads = std::max(1u, std::min(opt.threads, total_clients));
    std::vector<std::unique_ptr<worker>> workers;
    for (unsigned i = 0; i < nthreads; ++i) workers.push_back(std::make_unique<worker>());

    run_result r;
    r.scenario = opt.scenario;
    r.transport = opt.raw ? "raw-websocket" : transport;
    r.clients = opt.clients;
    if (opt.server_pid > 0) r.server_rss_kib_before = process_rss_kib(opt.server_pid);

    shared_run run;
    run.opt = &opt;
    run.transport = transport;
    if (!opt.auth.empty()) run.auth = sio::json::parse(opt.auth);
    run.listeners = broadcast ? opt.clients : 0;
    if (broadcast) {
        // Receipts are tracked for the messages the schedule can produce (bounded).
        const double per_sender = opt.rate * std::chrono::duration<double>(opt.duration).count() + 2;
        run.receipts_size = static_cast<std::uint64_t>(std::min(1e7, per_sender * opt.senders));
        run.receipts = std::make_unique<std::atomic<std::uint32_t>[]>(run.receipts_size);
    }

    const auto u0 = self_usage();
    run.t0 = clock_type::now();
    run.start = run.t0 + opt.ramp_up;
    run.end = run.start + opt.duration;
    // Hard stop: the run never outlives its duration by more than the timeout plus 1 s.
    run.hard_end = run.end + opt.timeout + std::chrono::seconds(1);

    for (auto& w : workers) w->t0 = run.t0;
    std::vector<std::vector<std::shared_ptr<bench_client>>> per_worker(nthreads);
    for (unsigned c = 0; c < total_clients; ++c) {
        auto& w = *workers[c % nthreads];
        auto bc = std::make_shared<bench_client>();
        bc->w = &w;
        bc->run = &run;
        bc->opt = &opt;
        if (opt.raw) bc->kind = role::raw_echo;
        else if (opt.scenario == "connect") bc->kind = role::connector;
        else if (opt.scenario == "idle") bc->kind = role::idle;
        else if (broadcast) bc->kind = c < opt.clients ? role::listener : role::sender;
        else bc->kind = role::echo;
        bc->plan = broadcast ? schedule::make(opt.rate, c - std::min(c, opt.clients), opt.senders)
                             : schedule::make(opt.rate, c, opt.clients);
        bc->body.assign(opt.payload, 'x');
        bc->timer = std::make_unique<asio::steady_timer>(w.ioc);
        per_worker[c % nthreads].push_back(bc);
        const auto open_at = run.t0 + (total_clients > 1 ? opt.ramp_up * c / total_clients : std::chrono::microseconds(0));
        auto open_timer = std::make_shared<asio::steady_timer>(w.ioc, open_at);
        open_timer->async_wait([bc, open_timer](boost::system::error_code ec) {
            if (!ec && !bc->stopped) bc->open();
        });
    }

    std::vector<std::thread> threads;
    for (unsigned i = 0; i < nthreads; ++i) {
        worker* w = workers[i].get();
        auto& mine = per_worker[i];
        // Figures of the measured window (HTTP requests and header bytes per message).
        auto at_start = std::make_shared<asio::steady_timer>(w->ioc, run.start);
        at_start->async_wait([w, at_start](boost::system::error_code) {
            if (w->window_closed) return;
            w->window_requests = w->transfer->http_requests.load();
            w->window_header_bytes = w->transfer->http_header_bytes.load();
            w->window_received = w->stats.received;
            w->window_opened = true;
        });
        // End of the run: senders stop; answers in flight may still arrive until the deadline.
        auto at_end = std::make_shared<asio::steady_timer>(w->ioc, run.end);
        at_end->async_wait([w, &mine, at_end](boost::system::error_code) {
            w->close_window();
            for (auto& c : mine) {
                if (c->stopped) continue;
                if (!c->ever_connected && c->kind != role::connector) {
                    w->error("connect_unfinished");
                    c->stop();
                } else if (c->kind == role::listener || c->kind == role::sender) {
                    c->finish_when_idle();  // until every delivery is in (drained) or the deadline
                } else if (c->sends() && c->kind != role::sender) {
                    c->finish_when_idle();
                } else {
                    c->stop();
                }
            }
        });
        auto hard = std::make_shared<asio::steady_timer>(w->ioc, run.hard_end);
        hard->async_wait([w, &mine, &run, hard](boost::system::error_code ec) {
            if (ec) return;
            for (auto& c : mine) {
                if (c->in_flight > 0) w->error("no_answer_by_deadline", c->in_flight);
                // Messages that fell due but could not be sent in time (the client was waiting
                // for answers: the server, or the generator, could not keep the rate).
                if (c->ever_connected && (c->kind == role::echo || c->kind == role::raw_echo)) {
                    const auto due = c->plan.count_before(run.end - run.start);
                    if (due > c->next) w->error("unsent_by_deadline", due - c->next);
                }
                c->in_flight = 0;
                c->stop();
            }
            w->ioc.stop();
        });
        // Every 50 ms: listeners stop once drained; once every client of this thread has
        // stopped, a short grace for the closing handshakes, then the thread ends.
        auto check = std::make_shared<asio::steady_timer>(w->ioc);
        auto tick = std::make_shared<std::function<void()>>();
        auto recent_at = std::make_shared<clock_type::time_point>(clock_type::now());
        *tick = [w, check, hard, &mine, &run, recent_at, weak_tick = std::weak_ptr<std::function<void()>>(tick)] {
            check->expires_after(std::chrono::milliseconds(50));
            check->async_wait([w, check, hard, &mine, &run, recent_at, weak_tick](boost::system::error_code ec) {
                if (ec) return;
                const auto now = clock_type::now();
                if (now - *recent_at >= std::chrono::seconds(1)) {
                    w->live_p99.store(w->recent.percentile(0.99), std::memory_order_relaxed);
                    w->recent.reset();
                    *recent_at = now;
                }
                if (now >= run.end && run.drained.load()) {
                    for (auto& c : mine)
                        if (c->kind == role::listener || c->kind == role::sender) c->stop();
                }
                bool all = true;
                for (auto& c : mine) all = all && c->stopped;
                if (all) {
                    hard->expires_after(std::chrono::milliseconds(300));
                    hard->async_wait([w, hard](boost::system::error_code e) {
                        if (!e) w->ioc.stop();
                    });
                    return;
                }
                if (auto t = weak_tick.lock()) (*t)();
            });
        };
        (*tick)();
        threads.emplace_back([w, &mine, tick] {
            w->ioc.run();
            mine.clear();  // the clients end on their own thread
        });
    }

    // This thread: the progress line, the server's memory while the clients are connected, and
    // for broadcast whether every delivery is in.
    bool interrupted = false;
    clock_type::time_point interrupted_at;
    auto last_progress = clock_type::now() - std::chrono::seconds(1);
    // The server's CPU time at the start and the end of the measured window (--server-pid).
    std::optional<std::pair<clock_type::time_point, double>> server_cpu_start, server_cpu_end;
    std::uint64_t last_received = 0;
    for (;;) {
        bool all_done = true;
        for (auto& w : workers) all_done = all_done && w->ioc.stopped();
        if (all_done) break;
        const auto now = clock_type::now();
        if (now > run.hard_end + std::chrono::seconds(2)) break;
        if (!interrupted && interrupt_requested.load()) {
            interrupted = true;
            interrupted_at = now;
            for (std::size_t i = 0; i < workers.size(); ++i) {
                worker* w = workers[i].get();
                auto* mine = &per_worker[i];
                asio::post(w->ioc, [w, mine] {
                    for (auto& c : *mine) {
                        if (c->in_flight > 0) w->error("interrupted", c->in_flight);
                        c->in_flight = 0;
                        c->raw_pending.clear();
                        c->stop();
                    }
                });
            }
        }
        if (opt.server_pid > 0 && now < run.end) {
            if (auto rss = process_rss_kib(opt.server_pid)) r.server_rss_kib_after = rss;
        }
        if (opt.server_pid > 0 && now >= run.start && !server_cpu_start) {
            if (auto cpu = process_cpu_seconds(opt.server_pid)) server_cpu_start.emplace(now, *cpu);
        }
        if (opt.server_pid > 0 && now >= run.end && server_cpu_start && !server_cpu_end) {
            if (auto cpu = process_cpu_seconds(opt.server_pid)) server_cpu_end.emplace(now, *cpu);
        }
        // Read before the counts: every send of a sender that is done is then counted.
        const unsigned senders_done = run.senders_done.load();
        std::uint64_t sent = 0, received = 0;
        for (auto& w : workers) {
            sent += w->live_sent.load();
            received += w->live_received.load();
        }
        if (broadcast && now >= run.end && senders_done >= opt.senders && received >= sent * run.listeners)
            run.drained = true;
        if (progress && now - last_progress >= std::chrono::milliseconds(250)) {
            live_figures f;
            f.elapsed_s = std::chrono::duration<double>(now - run.t0).count();
            f.total_s = std::chrono::duration<double>(run.end - run.t0).count();
            f.received = received;
            const double dt = std::chrono::duration<double>(now - last_progress).count();
            f.received_per_s = dt > 0 && dt < 1 ? static_cast<double>(received - last_received) / dt : 0;
            last_received = received;
            last_progress = now;
            for (auto& w : workers) {
                f.connected += w->live_connected.load();
                f.errors += w->live_errors.load();
                f.recent_p99_us = std::max(f.recent_p99_us, w->live_p99.load());
            }
            progress(f);
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    for (auto& t : threads) t.join();
    const auto t1 = clock_type::now();
    const auto u1 = self_usage();

    std::uint64_t requests = 0, header_bytes = 0, window_received = 0;
    std::vector<std::vector<timeline_point>> timelines;
    for (auto& w : workers) {
        w->close_window();
        w->flush_second(-1);
        timelines.push_back(std::move(w->timeline));
        r.totals.merge(w->stats);
        if (r.connect_failure.empty() && !w->connect_failure.empty()) {
            r.connect_failure = w->connect_failure;
            r.unreachable = w->unreachable;
            r.tls_failed = w->tls_failed;
        }
        requests += w->window_requests;
        header_bytes += w->window_header_bytes;
        window_received += w->window_received;
    }
    r.timeline = merge_timeline(timelines);
    const double wall = std::chrono::duration<double>(t1 - run.t0).count();
    // The rate is taken over the time the answers took to come in: when the server (or the
    // generator) fell behind, that is longer than --duration.
    auto last_answer = interrupted ? std::min(run.end, interrupted_at) : run.end;
    for (auto& w : workers) last_answer = std::max(last_answer, w->last_received_at);
    if (last_answer < run.start) last_answer = run.start;
    r.duration_s = std::chrono::duration<double>(last_answer - run.start).count();
    r.client_cpu_pct = wall > 0 ? 100.0 * (u1.cpu_seconds - u0.cpu_seconds) / wall / static_cast<double>(nthreads) : 0;
    r.client_rss_kib = u1.rss_kib;
    if (broadcast) {
        r.expected = r.totals.sent * run.listeners;
        if (r.totals.received < *r.expected) r.totals.errors["missed_delivery"] += *r.expected - r.totals.received;
    }
    if (opt.raw) {
        r.bytes.payload = 2.0 * static_cast<double>(opt.payload);
        r.bytes.ws_framing = static_cast<double>(ws_header_size(opt.payload, true) + ws_header_size(opt.payload, false));
    } else if (opt.scenario == "echo") {
        const std::uint64_t typical_id = r.totals.sent / std::max(1u, opt.clients) / 2;
        r.bytes = echo_wire_bytes(transport == "polling" ? "polling" : "websocket", opt.nsp, opt.event, opt.payload, typical_id);
        // HTTP headers: measured on the requests made during the measured window.
        r.bytes.http_known = true;
        r.bytes.http = window_received > 0 ? static_cast<double>(header_bytes) / static_cast<double>(window_received) : 0;
        if (transport != "websocket" && window_received > 0)
            r.http_requests_per_msg = static_cast<double>(requests) / static_cast<double>(window_received);
    }
    if (opt.server_pid > 0 && !r.server_rss_kib_after) r.server_rss_kib_after = process_rss_kib(opt.server_pid);
    if (server_cpu_start && server_cpu_end) {
        const double span = std::chrono::duration<double>(server_cpu_end->first - server_cpu_start->first).count();
        if (span > 0) r.server_cpu_pct = 100.0 * (server_cpu_end->second - server_cpu_start->second) / span;
    }
    return r;
}

}  // namespace sio::bench
