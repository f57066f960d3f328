// The streams adapter: a cluster link speaking @socket.io/redis-streams-adapter 0.3.x (see
// redis_streams_codec.hpp for the format).
//
// Three RESP connections on one strand: `cmd` (XADD, PUBLISH, PUBSUB NUMSUB, the session
// records, XRANGE), `sub` (SUBSCRIBE to each namespace's public channel and this node's private
// one) and `reader` (one XREAD BLOCK after another, so that it never holds up the others). The
// reader starts at the stream's last entry when it first connects, and after an outage goes on
// from the last entry it read, so that what other nodes added meanwhile still arrives.
#include "resp_conn.hpp"

#include "sio/adapter/redis_streams_codec.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <fmt/format.h>

#include <map>
#include <mutex>

namespace sio::adapter::redis::detail {

namespace asio = boost::asio;
namespace st = streams;
using st::message_type;

namespace {

std::string hex_id() {
    static constexpr std::string_view digits = "0123456789abcdef";
    auto raw = random_id(16);
    std::string out;
    for (unsigned char c : raw) out.push_back(digits[c % 16]);
    return out;
}

// The entries of an XREAD or XRANGE reply: [[id, [field, value, ...]], ...]. Malformed entries
// are left out and counted in `bad`.
struct entry {
    std::string id;
    st::fields fields;
};
std::vector<entry> entries_of(const redisReply* list, std::size_t& bad) {
    std::vector<entry> out;
    if (!list || list->type != REDIS_REPLY_ARRAY) return out;
    for (std::size_t i = 0; i < list->elements; ++i) {
        const auto* e = list->element[i];
        if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 || e->element[1]->type != REDIS_REPLY_ARRAY) {
            ++bad;
            continue;
        }
        entry x{std::string(str_of(e->element[0])), {}};
        const auto* kv = e->element[1];
        for (std::size_t j = 0; j + 1 < kv->elements; j += 2)
            x.fields.emplace_back(str_of(kv->element[j]), str_of(kv->element[j + 1]));
        out.push_back(std::move(x));
    }
    return out;
}

struct streams_impl : std::enable_shared_from_this<streams_impl> {
    streams_impl(asio::any_io_executor ex, options o, std::weak_ptr<local_node> l, std::string id)
        : strand(asio::make_strand(ex)), opts(std::move(o)), local(std::move(l)), uid(std::move(id)),
          retry(strand) {}

    strand_t strand;
    const options opts;
    std::weak_ptr<local_node> local;
    const std::string uid;
    std::shared_ptr<resp_conn> cmd, sub, reader;
    std::vector<std::string> namespaces;
    std::string last_id;               // the reader's position in the stream ("" before the first)
    mutable std::mutex position_mutex;  // guards `position`, read from any thread
    std::string position;              // last_id once the entry's delivery was handed out
    std::uint64_t read_generation = 0;  // one XREAD chain per connection of the reader
    asio::steady_timer retry;          // after an XREAD Redis refused
    bool stopped = false;

    // Requests this node sent (fetchSockets, serverSideEmit with acks) and waits answers for.
    struct request {
        message_type type{};
        std::size_t expected = 0;
        std::size_t got = 0;
        json answers = json::array();
        std::function<void(json)> finish;
        std::shared_ptr<asio::steady_timer> timer;
    };
    std::map<std::string, request, std::less<>> requests;

    // The session records of this node's connected sockets, by pid, written again before they
    // expire so that a socket of a node that dies can still be recovered elsewhere.
    struct live_session {
        std::string nsp;
        st::session_record record;
    };
    std::map<std::string, live_session> live;
    asio::steady_timer refresh_timer{strand};
    bool refreshing = false;

    std::atomic<bool> up{false};
    std::atomic<std::uint64_t> published{0}, received{0}, dropped{0}, malformed{0}, outages{0};
    std::uint64_t logged_malformed = 0;

    void log(std::string_view what) const {
        if (opts.log) opts.log(what);
    }

    void bad_message(std::string_view where, std::string_view why) {
        ++malformed;
        if (logged_malformed < 10 || malformed % 1000 == 0) {
            log(fmt::format("redis: dropped a malformed message on {}: {}", where, why));
            ++logged_malformed;
        }
    }

    bool ours(std::string_view nsp) const {
        return std::find(namespaces.begin(), namespaces.end(), nsp) != namespaces.end();
    }

    void update_up() { up = cmd && sub && reader && cmd->up() && sub->up() && reader->up(); }

    void start() {
        if (cmd) return;
        cmd = std::make_shared<resp_conn>(strand, opts, "commands");
        sub = std::make_shared<resp_conn>(strand, opts, "subscriber");
        reader = std::make_shared<resp_conn>(strand, opts, "stream reader");
        sub->track_replies = false;
        auto weak = weak_from_this();
        auto on = [weak](void (streams_impl::*f)()) {
            return [weak, f] {
                if (auto self = weak.lock()) (self.get()->*f)();
            };
        };
        cmd->on_up = on(&streams_impl::update_up);
        sub->on_up = on(&streams_impl::on_sub_up);
        reader->on_up = on(&streams_impl::on_reader_up);
        for (auto* c : {&cmd, &sub, &reader}) (*c)->on_down = on(&streams_impl::on_down);
        sub->on_push = [weak](const redisReply* r) {
            if (auto self = weak.lock()) self->on_push(r);
        };
        for (auto* c : {&cmd, &sub, &reader}) (*c)->start();
    }

    void stop() {
        stopped = true;
        for (auto* c : {&cmd, &sub, &reader}) {
            if (*c) (*c)->stop();
        }
        retry.cancel();
        refresh_timer.cancel();
        for (auto& [id, r] : requests) {
            if (r.timer) r.timer->cancel();
        }
        up = false;
    }

    void on_down() {
        if (up.exchange(false) || outages == 0) ++outages;
    }

    void subscribe(const std::string& nsp) {
        if (sub && sub->up())
            sub->send({"SUBSCRIBE", st::public_channel(opts.prefix, nsp), st::private_channel(opts.prefix, nsp, uid)});
    }

    void on_sub_up() {
        for (const auto& n : namespaces) subscribe(n);
        log(fmt::format("redis: subscribed to {} namespace(s) as node {} (streams adapter, stream {})",
                        namespaces.size(), uid, opts.prefix));
        update_up();
    }

    // --- reading the stream ---------------------------------------------------------------------

    void on_reader_up() {
        update_up();
        const auto gen = ++read_generation;
        if (!last_id.empty()) {
            read_next(gen);
            return;
        }
        // The first connection starts after the stream's last entry ("$", but known by id, so
        // that it can be resumed from after an outage).
        auto weak = weak_from_this();
        reader->send({"XREVRANGE", opts.prefix, "+", "-", "COUNT", "1"}, [weak, gen](const redisReply* r) {
            auto self = weak.lock();
            if (!self || !r) return;
            std::size_t bad = 0;
            auto last = entries_of(r, bad);
            self->last_id = last.empty() ? "0-0" : last.front().id;
            {
                std::lock_guard lock(self->position_mutex);
                self->position = self->last_id;
            }
            self->read_next(gen);
        });
    }

    void read_next(std::uint64_t gen) {
        if (stopped || gen != read_generation || !reader->up()) return;
        auto weak = weak_from_this();
        reader->send({"XREAD", "BLOCK", std::to_string(opts.stream_block.count()), "COUNT",
                      std::to_string(opts.stream_read_count), "STREAMS", opts.prefix, last_id},
                     [weak, gen](const redisReply* r) {
                         if (auto self = weak.lock()) self->on_read(gen, r);
                     });
    }

    void on_read(std::uint64_t gen, const redisReply* r) {
        if (!r || gen != read_generation) return;  // the link went down; on_reader_up resumes
        if (r->type == REDIS_REPLY_ERROR) {
            // WRONGTYPE, an ACL refusal: logged by the connection; tried again in a second.
            retry.expires_after(std::chrono::seconds(1));
            retry.async_wait([weak = weak_from_this(), gen](boost::system::error_code ec) {
                if (auto self = weak.lock(); self && !ec) self->read_next(gen);
            });
            return;
        }
        if (r->type == REDIS_REPLY_ARRAY) {
            for (std::size_t i = 0; i < r->elements; ++i) {
                const auto* s = r->element[i];
                if (s->type != REDIS_REPLY_ARRAY || s->elements != 2) continue;
                std::size_t bad = 0;
                for (auto& e : entries_of(s->element[1], bad)) on_entry(e);
                if (bad) bad_message(opts.prefix, "a stream entry that is not [id, fields]");
            }
        }
        read_next(gen);
    }

    void on_entry(const entry& e) {
        if (!st::is_stream_id(e.id)) {
            bad_message(opts.prefix, "a stream entry without a valid id");
            return;
        }
        last_id = e.id;
        auto m = st::decode_entry(e.fields);
        if (!m) {
            bad_message(fmt::format("stream {} entry {}", opts.prefix, e.id), m.err().reason);
        } else if (ours(m->nsp) && (m->uid != uid || held_back(*m))) {
            on_message(*m, e.id);
        }
        std::lock_guard lock(position_mutex);
        position = e.id;
    }

    // This node's own broadcasts of a namespace that recovers connections wait for the stream
    // (publish_stored): they are delivered here when read back, in the stream's order.
    bool held_back(const st::message& m) {
        if (m.type != static_cast<int>(message_type::broadcast) || !m.data.is_object() || m.data.contains("requestId"))
            return false;
        if (auto o = m.data.find("opts"); o != m.data.end() && o->is_object()) {
            if (auto f = o->find("flags"); f != o->end() && f->is_object() && f->value("volatile", false) == true)
                return false;
        }
        auto l = local.lock();
        return l && l->recovery_window(m.nsp).count() > 0;
    }

    // --- messages from other nodes --------------------------------------------------------------

    void on_push(const redisReply* r) {
        if (r && r->type == REDIS_REPLY_ERROR) {
            log(fmt::format("redis sub: error reply: {}", std::string_view(r->str, r->len)));
            return;
        }
        if (!r || r->type != REDIS_REPLY_ARRAY || r->elements < 3 || str_of(r->element[0]) != "message") return;
        const auto channel = str_of(r->element[1]);
        auto m = st::decode_published(str_of(r->element[2]));
        if (!m) {
            bad_message(channel, m.err().reason);
            return;
        }
        if (m->uid == uid || !ours(m->nsp)) return;
        on_message(*m, {});
    }

    // data.opts of a message, for this process; nullopt (counted, logged) when malformed.
    std::optional<broadcast_opts> opts_in(const st::message& m, std::string_view where) {
        auto o = m.data.is_object() ? m.data.find("opts") : m.data.end();
        if (!m.data.is_object() || o == m.data.end()) {
            bad_message(where, "message without opts");
            return std::nullopt;
        }
        auto w = opts_from_json(*o);
        if (!w) {
            bad_message(where, w.err().reason);
            return std::nullopt;
        }
        return std::move(*w);
    }

    void on_message(const st::message& m, std::string_view offset);
    void on_broadcast(const st::message& m, const std::string& where, std::string_view offset);
    void on_fetch(const st::message& m, const std::string& where);
    void on_server_side_emit(const st::message& m, const std::string& where);
    void on_response(const st::message& m);

    // --- session records (recovery.cpp's job, for the whole cluster) ----------------------------

    std::chrono::milliseconds window_of(const std::string& nsp) {
        auto l = local.lock();
        return l ? l->recovery_window(nsp) : std::chrono::milliseconds{};
    }
    void write_session(const std::string& nsp, const st::session_record& r);
    void persist(std::string nsp, st::session_record r, bool gone);
    void forget(const std::string& pid);
    void schedule_refresh();
    using restore_done = std::function<void(std::optional<cluster::restored_session>, std::string)>;
    void restore(std::string nsp, std::string pid, std::string offset, restore_done done);
    void replay_from(std::string nsp, cluster::restored_session s, std::string from, int calls, restore_done done);

    // --- sending --------------------------------------------------------------------------------

    // XADD to the stream; `done` (when given) with the entry's id, or "" when it was not added.
    void add(st::message m, std::function<void(std::string)> done = {}) {
        m.uid = uid;
        std::vector<std::string> args{"XADD", opts.prefix, "MAXLEN", "~", std::to_string(opts.stream_max_len), "*"};
        for (auto& [k, v] : st::encode_entry(m)) {
            args.push_back(std::move(k));
            args.push_back(std::move(v));
        }
        if (!cmd || !cmd->up()) {
            ++dropped;
            if (done) done({});
            return;
        }
        cmd->send(args, [done = std::move(done)](const redisReply* r) {
            if (done) done(r && r->type == REDIS_REPLY_STRING ? std::string(str_of(r)) : std::string());
        });
    }

    void publish_to(const std::string& channel, st::message m) {
        m.uid = uid;
        if (cmd && cmd->up()) cmd->send({"PUBLISH", channel, st::encode_published(m)});
    }

    void respond(const st::message& to, message_type type, json data) {
        publish_to(st::private_channel(opts.prefix, to.nsp, to.uid), st::message{{}, to.nsp, static_cast<int>(type), std::move(data)});
    }

    // PUBSUB NUMSUB of the public channel: the nodes of the cluster, this one included (0 when
    // Redis is down).
    void server_count(const std::string& nsp, std::function<void(std::size_t)> go) {
        if (!cmd || !cmd->up()) {
            go(0);
            return;
        }
        cmd->send({"PUBSUB", "NUMSUB", st::public_channel(opts.prefix, nsp)}, [go](const redisReply* r) {
            std::size_t n = 0;
            if (r && r->type == REDIS_REPLY_ARRAY && r->elements >= 2 && r->element[1]->type == REDIS_REPLY_INTEGER &&
                r->element[1]->integer > 0)
                n = static_cast<std::size_t>(r->element[1]->integer);
            go(n);
        });
    }

    // Sends a request to the other nodes and calls `finish` once with every answer, or with what
    // came before request_timeout.
    void ask(std::string nsp, message_type type, json data, json mine, std::function<void(json)> finish) {
        server_count(nsp, [self = shared_from_this(), nsp, type, data = std::move(data), mine = std::move(mine),
                           finish = std::move(finish)](std::size_t n) mutable {
            if (n <= 1) {
                finish(std::move(mine));
                return;
            }
            const auto id = hex_id();
            request r{type, n - 1, 0, std::move(mine), std::move(finish), std::make_shared<asio::steady_timer>(self->strand)};
            r.timer->expires_after(self->opts.request_timeout);
            r.timer->async_wait([weak = self->weak_from_this(), id](boost::system::error_code ec) {
                auto s = weak.lock();
                if (ec || !s) return;
                auto it = s->requests.find(id);
                if (it == s->requests.end()) return;
                s->log(fmt::format("redis: request {} timed out with {} of {} answers", id, it->second.got,
                                   it->second.expected));
                auto done = std::move(it->second);
                s->requests.erase(it);
                done.finish(std::move(done.answers));
            });
            self->requests.emplace(id, std::move(r));
            data["requestId"] = id;
            self->publish_to(st::public_channel(self->opts.prefix, nsp),
                             st::message{{}, nsp, static_cast<int>(type), std::move(data)});
        });
    }
};

std::vector<std::string> rooms_in(const json& data) {
    std::vector<std::string> out;
    if (auto it = data.find("rooms"); it != data.end() && it->is_array()) {
        for (const auto& e : *it) {
            if (e.is_string()) out.push_back(e.get<std::string>());
        }
    }
    return out;
}

void streams_impl::on_message(const st::message& m, std::string_view offset) {
    auto l = local.lock();
    if (!l) return;
    const auto where = fmt::format("{} (type {} from {})", offset.empty() ? st::public_channel(opts.prefix, m.nsp) : opts.prefix,
                                   m.type, m.uid);
    switch (static_cast<message_type>(m.type)) {
    case message_type::broadcast: on_broadcast(m, where, offset); break;
    case message_type::sockets_join:
    case message_type::sockets_leave:
    case message_type::disconnect_sockets: {
        auto o = opts_in(m, where);
        if (!o) return;
        const auto targets = to_local(*o);
        if (m.type == static_cast<int>(message_type::sockets_join)) {
            l->add_sockets(m.nsp, targets, rooms_in(m.data));
        } else if (m.type == static_cast<int>(message_type::sockets_leave)) {
            l->del_sockets(m.nsp, targets, rooms_in(m.data));
        } else {
            auto c = m.data.find("close");
            l->disconnect_sockets(m.nsp, targets, c != m.data.end() && c->is_boolean() && c->get<bool>());
        }
        break;
    }
    case message_type::fetch_sockets: on_fetch(m, where); break;
    case message_type::server_side_emit: on_server_side_emit(m, where); break;
    case message_type::fetch_sockets_response:
    case message_type::server_side_emit_response: on_response(m); break;
    default: break;  // heartbeats, and the answers to broadcasts with acks, which this node does not send
    }
}

void streams_impl::on_broadcast(const st::message& m, const std::string& where, std::string_view offset) {
    auto o = opts_in(m, where);
    if (!o) return;
    auto p = m.data.find("packet");
    if (p == m.data.end() || !p->is_object() || !p->contains("data") || !(*p)["data"].is_array() ||
        (*p)["data"].empty()) {
        bad_message(where, "broadcast without packet data");
        return;
    }
    auto l = local.lock();
    if (!l) return;
    wire_packet packet;
    packet.data = (*p)["data"];
    packet.nsp = m.nsp;
    auto rid = m.data.find("requestId");
    if (rid == m.data.end() || !rid->is_string()) {
        if (m.uid != uid) ++received;
        if (offset.empty())
            l->deliver(packet, to_local(*o));
        else
            l->deliver_stored(packet, to_local(*o), offset);
        return;
    }
    std::chrono::milliseconds timeout{opts.request_timeout};
    if (auto to = o->flags.find("timeout");
        to != o->flags.end() && to->is_number() && to->get<double>() >= 0 && to->get<double>() < 86'400'000.0)
        timeout = std::chrono::milliseconds(static_cast<std::int64_t>(to->get<double>()));
    auto weak = weak_from_this();
    const auto id = rid->get<std::string>();
    auto answer = [weak, m, id](message_type type, json value) {
        auto self = weak.lock();
        if (!self) return;
        asio::post(self->strand, [self, m, id, type, value = std::move(value)]() mutable {
            json d = json::object();
            d["requestId"] = id;
            d[type == message_type::broadcast_ack ? "packet" : "clientCount"] = std::move(value);
            self->respond(m, type, std::move(d));
        });
    };
    l->broadcast_with_ack(
        packet, to_local(*o), timeout, [answer](std::size_t n) { answer(message_type::broadcast_client_count, n); },
        [answer](json args) {
            answer(message_type::broadcast_ack, args.is_array() ? (args.empty() ? json() : args[0]) : args);
        });
}

void streams_impl::on_fetch(const st::message& m, const std::string& where) {
    auto o = opts_in(m, where);
    auto rid = m.data.is_object() ? m.data.find("requestId") : m.data.end();
    if (!o || rid == m.data.end() || !rid->is_string()) return;
    auto l = local.lock();
    if (!l) return;
    json d = json::object();
    d["requestId"] = *rid;
    d["sockets"] = l->fetch_sockets(m.nsp, to_local(*o));
    respond(m, message_type::fetch_sockets_response, std::move(d));
}

void streams_impl::on_server_side_emit(const st::message& m, const std::string& where) {
    auto args = m.data.is_object() ? m.data.find("packet") : m.data.end();
    if (args == m.data.end() || !args->is_array() || args->empty()) {
        bad_message(where, "serverSideEmit without arguments");
        return;
    }
    auto l = local.lock();
    if (!l) return;
    std::function<void(json)> ack;
    if (auto rid = m.data.find("requestId"); rid != m.data.end() && rid->is_string()) {
        auto called = std::make_shared<bool>(false);
        ack = [weak = weak_from_this(), m, id = rid->get<std::string>(), called](json arg) {
            auto self = weak.lock();
            if (!self) return;
            asio::post(self->strand, [self, m, id, called, arg = std::move(arg)]() mutable {
                if (std::exchange(*called, true)) return;
                json d = json::object();
                d["requestId"] = id;
                d["packet"] = std::move(arg);
                self->respond(m, message_type::server_side_emit_response, std::move(d));
            });
        };
    }
    l->server_side_emit(m.nsp, *args, std::move(ack));
}

void streams_impl::on_response(const st::message& m) {
    auto rid = m.data.is_object() ? m.data.find("requestId") : m.data.end();
    if (rid == m.data.end() || !rid->is_string()) return;
    auto it = requests.find(rid->get<std::string>());
    if (it == requests.end()) return;
    auto& r = it->second;
    if (m.type == static_cast<int>(message_type::fetch_sockets_response)) {
        auto s = m.data.find("sockets");
        if (r.type != message_type::fetch_sockets || s == m.data.end() || !s->is_array()) return;
        for (const auto& e : *s) r.answers.push_back(e);
    } else {
        if (r.type != message_type::server_side_emit) return;
        r.answers.push_back(m.data.contains("packet") ? m.data["packet"] : json());
    }
    if (++r.got < r.expected) return;
    auto done = std::move(r);
    requests.erase(it);
    done.timer->cancel();
    done.finish(std::move(done.answers));
}

void streams_impl::write_session(const std::string& nsp, const st::session_record& r) {
    const auto window = window_of(nsp);
    if (window.count() <= 0 || !cmd || !cmd->up()) return;
    cmd->send({"SET", opts.session_prefix + r.pid, st::encode_session(r), "PX", std::to_string(window.count())});
}

void streams_impl::persist(std::string nsp, st::session_record r, bool gone) {
    write_session(nsp, r);
    if (gone) {
        live.erase(r.pid);
        return;
    }
    auto pid = r.pid;
    live.insert_or_assign(std::move(pid), live_session{std::move(nsp), std::move(r)});
    schedule_refresh();
}

void streams_impl::forget(const std::string& pid) {
    live.erase(pid);
    if (cmd && cmd->up()) cmd->send({"DEL", opts.session_prefix + pid});
}

// The live records are written again every half window (the shortest of their namespaces').
void streams_impl::schedule_refresh() {
    if (refreshing || live.empty() || stopped) return;
    auto every = std::chrono::milliseconds::max();
    for (const auto& [pid, l] : live) every = std::min(every, window_of(l.nsp) / 2);
    refreshing = true;
    refresh_timer.expires_after(std::max(every, std::chrono::milliseconds(500)));
    refresh_timer.async_wait([weak = weak_from_this()](boost::system::error_code ec) {
        auto self = weak.lock();
        if (!self || ec) return;
        self->refreshing = false;
        for (const auto& [pid, l] : self->live) self->write_session(l.nsp, l.record);
        self->schedule_refresh();
    });
}

void streams_impl::restore(std::string nsp, std::string pid, std::string offset, restore_done done) {
    if (!cmd || !cmd->up()) return done(std::nullopt, "Redis is down");
    if (!offset.empty() && !st::is_stream_id(offset)) return done(std::nullopt, "the offset is not a stream id");
    // GET and DEL in one transaction, as the Node adapter takes a record (GETDEL is Redis 6.2+).
    const auto key = opts.session_prefix + pid;
    cmd->send({"MULTI"});
    cmd->send({"GET", key});
    cmd->send({"DEL", key});
    auto self = shared_from_this();
    cmd->send({"EXEC"}, [self, nsp, offset, done](const redisReply* r) mutable {
        if (!r || r->type != REDIS_REPLY_ARRAY || r->elements < 1) return done(std::nullopt, "Redis did not answer");
        if (r->element[0]->type != REDIS_REPLY_STRING) return done(std::nullopt, "no session record (expired, or taken)");
        auto record = st::decode_session(str_of(r->element[0]));
        if (!record) return done(std::nullopt, "malformed session record: " + record.err().reason);
        cluster::restored_session s{std::move(*record), {}};
        if (offset.empty()) {
            if (s.record.since.empty()) return done(std::nullopt, "no offset, and the record has no start");
            auto from = s.record.since;
            return self->replay_from(std::move(nsp), std::move(s), std::move(from), 0, std::move(done));
        }
        // The offset must still be in the stream: else what followed it may be trimmed away.
        self->cmd->send({"XRANGE", self->opts.prefix, offset, offset},
                        [self, nsp, offset, s = std::move(s), done](const redisReply* x) mutable {
                            if (!x || x->type != REDIS_REPLY_ARRAY || x->elements == 0)
                                return done(std::nullopt, "the offset is no longer in the stream");
                            self->replay_from(std::move(nsp), std::move(s), offset, 0, std::move(done));
                        });
    });
}

// Reads the stream after `from`, a thousand entries at a time, keeping the broadcasts that reach
// the session's rooms; at most 100 reads.
void streams_impl::replay_from(std::string nsp, cluster::restored_session s, std::string from, int calls,
                               restore_done done) {
    constexpr std::size_t batch = 1000;
    auto start = st::next_id(from);
    if (!start || calls >= 100 || !cmd || !cmd->up()) {
        if (calls >= 100) log(fmt::format("redis: recovery of {} stopped after {} entries", s.record.pid, calls * batch));
        return done(std::move(s), {});
    }
    auto self = shared_from_this();
    cmd->send({"XRANGE", opts.prefix, *start, "+", "COUNT", std::to_string(batch)},
              [self, nsp, s = std::move(s), from, calls, done](const redisReply* r) mutable {
                  if (!r) return done(std::nullopt, "Redis went down during the recovery");
                  std::size_t bad = 0;
                  auto entries = entries_of(r, bad);
                  for (auto& e : entries) {
                      from = e.id;
                      auto m = st::decode_entry(e.fields);
                      if (!m || m->nsp != nsp || m->type != static_cast<int>(message_type::broadcast) ||
                          !m->data.is_object() || m->data.contains("requestId"))
                          continue;
                      auto p = m->data.find("packet");
                      auto o = m->data.find("opts");
                      if (p == m->data.end() || o == m->data.end() || !p->is_object() || p->value("type", 0) != 2) continue;
                      auto w = opts_from_json(*o);
                      auto d = p->find("data");
                      if (!w || w->flag("volatile") || d == p->end() || !d->is_array() || d->empty()) continue;
                      if (!st::reaches(s.record.rooms, *w)) continue;
                      json data = *d;
                      data.push_back(e.id);
                      s.missed.emplace_back(e.id, std::move(data));
                  }
                  if (entries.size() < batch) return done(std::move(s), {});
                  self->replay_from(std::move(nsp), std::move(s), std::move(from), calls + 1, std::move(done));
              });
}

class streams_cluster final : public cluster {
public:
    streams_cluster(asio::any_io_executor executor, options opts, std::weak_ptr<local_node> local, std::string id)
        : cluster(id, adapter_kind::streams),
          impl_(std::make_shared<streams_impl>(executor, std::move(opts), std::move(local), id)) {}
    ~streams_cluster() override {
        post([](streams_impl& i) { i.stop(); });
    }

    void start() override {
        post([](streams_impl& i) { i.start(); });
    }
    void stop() override {
        post([](streams_impl& i) { i.stop(); });
    }
    void add_namespace(std::string nsp) override {
        post([nsp = std::move(nsp)](streams_impl& i) {
            if (i.ours(nsp)) return;
            i.namespaces.push_back(nsp);
            i.subscribe(nsp);
        });
    }

    void publish(wire_packet packet, const broadcast_options& opts) override {
        if (!impl_->up.load()) {
            ++impl_->dropped;
            return;
        }
        ++impl_->published;
        auto data = st::broadcast_data(packet, to_wire(opts));
        post([nsp = packet.nsp, data = std::move(data)](streams_impl& i) mutable {
            i.add(st::message{{}, nsp, static_cast<int>(message_type::broadcast), std::move(data)});
        });
    }

    // The streams adapter has no request for every room of the cluster: this node's.
    void all_rooms(std::string nsp, std::function<void(std::vector<std::string>)> done) override {
        post([nsp = std::move(nsp), done = std::move(done)](streams_impl& i) {
            auto l = i.local.lock();
            done(l ? l->all_rooms(nsp) : std::vector<std::string>{});
        });
    }

    void fetch_sockets(std::string nsp, broadcast_options opts, std::function<void(json)> done) override {
        post([nsp = std::move(nsp), opts = std::move(opts), done = std::move(done)](streams_impl& i) mutable {
            auto l = i.local.lock();
            json mine = l ? l->fetch_sockets(nsp, opts) : json::array();
            json data = json::object();
            data["opts"] = opts_to_json(to_wire(opts), true);
            i.ask(nsp, message_type::fetch_sockets, std::move(data), std::move(mine), std::move(done));
        });
    }

    void remote_join(std::string nsp, const broadcast_options& opts, std::vector<std::string> rooms) override {
        add(std::move(nsp), message_type::sockets_join, st::rooms_data(to_wire(opts), rooms));
    }
    void remote_leave(std::string nsp, const broadcast_options& opts, std::vector<std::string> rooms) override {
        add(std::move(nsp), message_type::sockets_leave, st::rooms_data(to_wire(opts), rooms));
    }
    void remote_disconnect(std::string nsp, const broadcast_options& opts, bool close) override {
        add(std::move(nsp), message_type::disconnect_sockets, st::disconnect_data(to_wire(opts), close));
    }

    void server_side_emit(std::string nsp, json args, std::function<void(json)> done) override {
        post([nsp = std::move(nsp), args = std::move(args), done = std::move(done)](streams_impl& i) mutable {
            json data = json::object();
            data["packet"] = std::move(args);
            if (!done) {
                i.publish_to(st::public_channel(i.opts.prefix, nsp),
                             st::message{{}, nsp, static_cast<int>(message_type::server_side_emit), std::move(data)});
                return;
            }
            i.ask(nsp, message_type::server_side_emit, std::move(data), json::array(), std::move(done));
        });
    }

    bool keeps_sessions() const noexcept override { return true; }

    bool publish_stored(wire_packet packet, const broadcast_options& opts) override {
        if (!impl_->up.load()) return false;
        publish(std::move(packet), opts);
        return true;
    }

    std::string position() const override {
        std::lock_guard lock(impl_->position_mutex);
        return impl_->position;
    }

    void persist_session(std::string nsp, st::session_record record, bool dropped) override {
        post([nsp = std::move(nsp), record = std::move(record), dropped](streams_impl& i) mutable {
            i.persist(std::move(nsp), std::move(record), dropped);
        });
    }

    void forget_session(std::string pid) override {
        post([pid = std::move(pid)](streams_impl& i) { i.forget(pid); });
    }

    void restore_session(std::string nsp, std::string pid, std::string offset,
                         std::function<void(std::optional<restored_session>, std::string)> done) override {
        post([nsp = std::move(nsp), pid = std::move(pid), offset = std::move(offset), done = std::move(done)](
                 streams_impl& i) mutable { i.restore(std::move(nsp), std::move(pid), std::move(offset), std::move(done)); });
    }

    stats snapshot() const override {
        stats s;
        s.connected = impl_->up.load();
        s.published = impl_->published.load();
        s.received = impl_->received.load();
        s.dropped = impl_->dropped.load();
        s.malformed = impl_->malformed.load();
        s.outages = impl_->outages.load();
        return s;
    }

private:
    template <class F>
    void post(F f) {
        asio::post(impl_->strand, [i = impl_, f = std::move(f)]() mutable { f(*i); });
    }

    void add(std::string nsp, message_type type, json data) {
        post([nsp = std::move(nsp), type, data = std::move(data)](streams_impl& i) mutable {
            i.add(st::message{{}, nsp, static_cast<int>(type), std::move(data)});
        });
    }

    std::shared_ptr<streams_impl> impl_;
};

}  // namespace

std::shared_ptr<cluster> make_streams_cluster(asio::any_io_executor executor, options opts,
                                              std::weak_ptr<local_node> local) {
    return std::make_shared<streams_cluster>(std::move(executor), std::move(opts), std::move(local), hex_id());
}

}  // namespace sio::adapter::redis::detail
