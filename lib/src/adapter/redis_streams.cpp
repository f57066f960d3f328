// The streams adapter: a cluster link speaking @socket.io/redis-streams-adapter 0.3.x (see
// redis_streams_codec.hpp for the format, redis_streams.hpp for the state).
#include "redis_streams.hpp"

#include <boost/asio/post.hpp>
#include <fmt/format.h>

#include <algorithm>

namespace sio::adapter::redis::detail {

namespace asio = boost::asio;

std::string hex_id() {
    static constexpr std::string_view digits = "0123456789abcdef";
    auto raw = random_id(16);
    std::string out;
    for (unsigned char c : raw) out.push_back(digits[c % 16]);
    return out;
}

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

void streams_impl::log(std::string_view what) const {
    if (opts.log) opts.log(what);
}

void streams_impl::bad_message(std::string_view where, std::string_view why) {
    if (count_malformed()) log(fmt::format("redis: dropped a malformed message on {}: {}", where, why));
}

bool streams_impl::ours(std::string_view nsp) const {
    return std::find(namespaces.begin(), namespaces.end(), nsp) != namespaces.end();
}

void streams_impl::start() {
    if (cmd) return;
    cmd = make_conn("commands");
    sub = make_conn("subscriber");
    if (reads_stream()) reader = make_conn("stream reader");
    sub->track_replies = false;
    auto weak = weak_from_this();
    auto on = [weak](void (streams_impl::*f)()) {
        return [weak, f] {
            if (auto self = weak.lock()) (self.get()->*f)();
        };
    };
    cmd->on_up = on(&streams_impl::update_up);
    sub->on_up = on(&streams_impl::on_sub_up);
    if (reader) reader->on_up = on(&streams_impl::on_reader_up);
    sub->on_push = [weak](const redisReply* r) {
        if (auto self = weak.lock()) self->on_push(r);
    };
    for (auto* c : {&cmd, &sub, &reader}) {
        if (!*c) continue;
        (*c)->on_down = on(&streams_impl::on_down);
        (*c)->start();
    }
}

void streams_impl::stop() {
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

void streams_impl::on_down() {
    if (up.exchange(false) || outages == 0) ++outages;
}

void streams_impl::subscribe(const std::string& nsp) {
    if (sub && sub->up())
        sub->send({"SUBSCRIBE", st::public_channel(opts.prefix, nsp), st::private_channel(opts.prefix, nsp, uid)});
}

void streams_impl::on_sub_up() {
    for (const auto& n : namespaces) subscribe(n);
    log(fmt::format("redis: subscribed to {} namespace(s) as node {} (streams adapter, stream {})",
                    namespaces.size(), uid, opts.prefix));
    update_up();
}

void streams_impl::on_reader_up() {
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

void streams_impl::read_next(std::uint64_t gen) {
    if (stopped || gen != read_generation || !reader->up()) return;
    auto weak = weak_from_this();
    reader->send({"XREAD", "BLOCK", std::to_string(opts.stream_block.count()), "COUNT",
                  std::to_string(opts.stream_read_count), "STREAMS", opts.prefix, last_id},
                 [weak, gen](const redisReply* r) {
                     if (auto self = weak.lock()) self->on_read(gen, r);
                 });
}

void streams_impl::on_read(std::uint64_t gen, const redisReply* r) {
    if (!r || gen != read_generation) return;  // the link went down; on_reader_up resumes
    if (r->type == REDIS_REPLY_ERROR) {
        // WRONGTYPE, an ACL refusal: logged by the connection; tried again after 1 s, doubling
        // up to 30 s while Redis keeps refusing.
        retry_delay = std::min(std::max(retry_delay * 2, std::chrono::milliseconds(1000)), std::chrono::milliseconds(30000));
        retry.expires_after(retry_delay);
        retry.async_wait([weak = weak_from_this(), gen](boost::system::error_code ec) {
            if (auto self = weak.lock(); self && !ec) self->read_next(gen);
        });
        return;
    }
    retry_delay = {};
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

void streams_impl::on_entry(const entry& e) {
    if (!st::is_stream_id(e.id)) {
        bad_message(opts.prefix, "a stream entry without a valid id");
        return;
    }
    last_id = e.id;
    auto m = st::decode_entry(e.fields);
    if (!m) bad_message(fmt::format("stream {} entry {}", opts.prefix, e.id), m.err().reason);
    const bool mine = m && ours(m->nsp) && (m->uid != uid || held_back(*m));
    // A broadcast is delivered under the lock, so that a socket attaching (at_position) gets it
    // either live or in its replay, never neither.
    std::unique_lock lock(position_mutex, std::defer_lock);
    if (mine && m->type == static_cast<int>(message_type::broadcast)) lock.lock();
    if (mine) on_message(*m, e.id);
    if (!lock.owns_lock()) lock.lock();
    position = e.id;
}

bool streams_impl::held_back(const st::message& m) {
    if (m.type != static_cast<int>(message_type::broadcast) || !m.data.is_object() || m.data.contains("requestId"))
        return false;
    if (auto o = m.data.find("opts"); o != m.data.end() && o->is_object()) {
        if (auto f = o->find("flags"); f != o->end() && f->is_object() && f->value("volatile", false) == true)
            return false;
    }
    auto l = local.lock();
    return l && l->recovery_window(m.nsp).count() > 0;
}

void streams_impl::on_push(const redisReply* r) {
    if (r && r->type == REDIS_REPLY_ERROR) {
        log(fmt::format("redis sub: error reply: {}", std::string_view(r->str, r->len)));
        return;
    }
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements < 3 || str_of(r->element[0]) != push_kind()) return;
    const auto channel = str_of(r->element[1]);
    auto m = decode_push(str_of(r->element[2]));
    if (!m) {
        bad_message(channel, m.err().reason);
        return;
    }
    if (m->uid == uid || !ours(m->nsp)) return;
    on_message(*m, {});
}

std::optional<broadcast_opts> streams_impl::opts_in(const st::message& m, std::string_view where) {
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

std::chrono::milliseconds streams_impl::window_of(const std::string& nsp) {
    auto l = local.lock();
    return l ? l->recovery_window(nsp) : std::chrono::milliseconds{};
}

void streams_impl::add(st::message m, std::function<void(bool)> done) {
    m.uid = uid;
    std::vector<std::string> args{"XADD", opts.prefix, "MAXLEN", "~", std::to_string(opts.stream_max_len), "*"};
    for (auto& [k, v] : st::encode_entry(m)) {
        args.push_back(std::move(k));
        args.push_back(std::move(v));
    }
    if (!cmd || !cmd->up()) {
        ++dropped;
        if (done) done(true);
        return;
    }
    cmd->send(args, [done = std::move(done)](const redisReply* r) {
        if (done) done(r && r->type != REDIS_REPLY_STRING);
    });
}

void streams_impl::publish_to(const std::string& channel, st::message m) {
    m.uid = uid;
    if (cmd && cmd->up()) cmd->send({"PUBLISH", channel, st::encode_published(m)});
}

void streams_impl::respond(const st::message& to, message_type type, json data) {
    publish_to(st::private_channel(opts.prefix, to.nsp, to.uid), st::message{{}, to.nsp, static_cast<int>(type), std::move(data)});
}

void streams_impl::server_count(const std::string& nsp, std::function<void(std::size_t)> go) {
    if (!cmd || !cmd->up()) {
        go(0);
        return;
    }
    cmd->send({"PUBSUB", numsub(), st::public_channel(opts.prefix, nsp)}, [go](const redisReply* r) {
        std::size_t n = 0;
        if (r && r->type == REDIS_REPLY_ARRAY && r->elements >= 2 && r->element[1]->type == REDIS_REPLY_INTEGER &&
            r->element[1]->integer > 0)
            n = static_cast<std::size_t>(r->element[1]->integer);
        go(n);
    });
}

void streams_impl::ask(std::string nsp, message_type type, json data, json mine, std::function<void(json)> finish) {
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
        // Where the Node adapter puts it: first in serverSideEmit, after the opts in fetchSockets.
        if (type == message_type::server_side_emit) {
            json d = json::object();
            d["requestId"] = id;
            for (auto& [k, v] : data.items()) d[k] = std::move(v);
            data = std::move(d);
        } else {
            data["requestId"] = id;
        }
        self->publish_to(st::public_channel(self->opts.prefix, nsp),
                         st::message{{}, nsp, static_cast<int>(type), std::move(data)});
    });
}

namespace {

std::vector<std::string> rooms_in(const json& data) {
    std::vector<std::string> out;
    if (auto it = data.find("rooms"); it != data.end() && it->is_array()) {
        for (const auto& e : *it) {
            if (e.is_string()) out.push_back(e.get<std::string>());
        }
    }
    return out;
}

}  // namespace

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

namespace {

class streams_cluster final : public cluster {
public:
    streams_cluster(std::shared_ptr<streams_impl> impl, adapter_kind kind)
        : cluster(impl->uid, kind), impl_(std::move(impl)) {}
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

    void room_changed(std::string_view nsp, std::string_view room) override {
        if (kind() != adapter_kind::sharded) return;
        post([nsp = std::string(nsp), room = std::string(room)](streams_impl& i) { i.on_room_changed(nsp, room); });
    }

    // The session records and the stream's order are the streams adapter's alone.
    bool keeps_sessions() const noexcept override { return kind() == adapter_kind::streams; }

    bool publish_stored(wire_packet packet, const broadcast_options& opts) override {
        if (!keeps_sessions() || !impl_->up.load()) return false;
        ++impl_->published;
        auto data = st::broadcast_data(packet, to_wire(opts));
        auto here = opts;
        here.flags.local = true;
        post([packet = std::move(packet), here = std::move(here), data = std::move(data)](streams_impl& i) mutable {
            const auto nsp = packet.nsp;
            auto weak = i.weak_from_this();
            // Refused (Redis went down meanwhile, or answered with an error): it will not come
            // back from the stream, so it is delivered here, with this process's offsets.
            i.add(st::message{{}, nsp, static_cast<int>(message_type::broadcast), std::move(data)},
                  [weak, packet = std::move(packet), here = std::move(here)](bool refused) {
                      auto self = weak.lock();
                      if (!refused || !self) return;
                      self->log(fmt::format("redis: a broadcast of {} was not added to the stream; delivered here only",
                                            packet.nsp));
                      if (auto l = self->local.lock()) l->deliver(packet, here);
                  });
        });
        return true;
    }

    void at_position(const std::function<void(const std::string&)>& fn) override {
        std::lock_guard lock(impl_->position_mutex);
        fn(impl_->position);
    }

    void persist_session(std::string nsp, st::session_record record, bool dropped) override {
        if (!keeps_sessions()) return;
        post([nsp = std::move(nsp), record = std::move(record), dropped](streams_impl& i) mutable {
            i.persist(std::move(nsp), std::move(record), dropped);
        });
    }

    void forget_session(std::string pid) override {
        if (!keeps_sessions()) return;
        post([pid = std::move(pid)](streams_impl& i) { i.forget(pid); });
    }

    void restore_session(std::string nsp, std::string pid, std::string offset,
                         std::function<void(std::optional<restored_session>, std::string)> done) override {
        if (!keeps_sessions()) {
            cluster::restore_session(std::move(nsp), std::move(pid), std::move(offset), std::move(done));
            return;
        }
        post([nsp = std::move(nsp), pid = std::move(pid), offset = std::move(offset), done = std::move(done)](
                 streams_impl& i) mutable { i.restore(std::move(nsp), std::move(pid), std::move(offset), std::move(done)); });
    }

    stats snapshot() const override { return impl_->snapshot(); }

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

std::shared_ptr<cluster> make_cluster_on(std::shared_ptr<streams_impl> impl, adapter_kind kind) {
    return std::make_shared<streams_cluster>(std::move(impl), kind);
}

std::shared_ptr<cluster> make_streams_cluster(asio::any_io_executor executor, options opts,
                                              std::weak_ptr<local_node> local) {
    return make_cluster_on(std::make_shared<streams_impl>(std::move(executor), std::move(opts), std::move(local), hex_id()),
                           adapter_kind::streams);
}

}  // namespace sio::adapter::redis::detail
