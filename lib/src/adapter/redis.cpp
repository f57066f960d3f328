#include "sio/adapter/redis.hpp"

#include "resp_conn.hpp"

#include "sio/codec/percent.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <fmt/format.h>
#include <hiredis/hiredis.h>

#include <charconv>
#include <map>
#include <optional>
#include <set>

namespace sio::adapter::redis {

namespace asio = boost::asio;
using detail::random_id;
using detail::resp_conn;
using detail::str_of;
using detail::strand_t;
using detail::to_local;
using detail::to_wire;

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

namespace {

struct pubsub_impl : detail::link_counters, std::enable_shared_from_this<pubsub_impl> {
    pubsub_impl(asio::any_io_executor ex, options o, std::weak_ptr<local_node> l, std::string id)
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
        if (count_malformed()) log(fmt::format("redis: dropped a malformed message on {}: {}", channel, why));
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

class pubsub_cluster final : public cluster {
public:
    pubsub_cluster(asio::any_io_executor executor, options opts, std::weak_ptr<local_node> local, std::string id)
        : cluster(id, adapter_kind::pubsub),
          impl_(std::make_shared<pubsub_impl>(executor, std::move(opts), std::move(local), id)) {}
    ~pubsub_cluster() override {
        asio::post(impl_->strand, [i = impl_] { i->stop(); });
    }

    void start() override;
    void add_namespace(std::string nsp) override;
    void stop() override;
    void publish(wire_packet packet, const broadcast_options& opts) override;
    void all_rooms(std::string nsp, std::function<void(std::vector<std::string>)> done) override;
    void fetch_sockets(std::string nsp, broadcast_options opts, std::function<void(json)> done) override;
    void remote_join(std::string nsp, const broadcast_options& opts, std::vector<std::string> rooms) override;
    void remote_leave(std::string nsp, const broadcast_options& opts, std::vector<std::string> rooms) override;
    void remote_disconnect(std::string nsp, const broadcast_options& opts, bool close) override;
    void server_side_emit(std::string nsp, json args, std::function<void(json)> done) override;
    stats snapshot() const override;

private:
    std::shared_ptr<pubsub_impl> impl_;
};

}  // namespace

std::shared_ptr<cluster> cluster::create(asio::any_io_executor executor, options opts,
                                         std::weak_ptr<local_node> local) {
    if (opts.kind == adapter_kind::streams)
        return detail::make_streams_cluster(std::move(executor), std::move(opts), std::move(local));
    if (opts.kind == adapter_kind::sharded)
        return detail::make_sharded_cluster(std::move(executor), std::move(opts), std::move(local));
    return std::make_shared<pubsub_cluster>(std::move(executor), std::move(opts), std::move(local), random_id(6));
}

std::string_view kind_name(adapter_kind kind) noexcept {
    switch (kind) {
    case adapter_kind::streams: return "streams";
    case adapter_kind::sharded: return "sharded";
    default: return "pubsub";
    }
}

std::optional<adapter_kind> kind_of(std::string_view name) noexcept {
    if (name == "pubsub") return adapter_kind::pubsub;
    if (name == "streams") return adapter_kind::streams;
    if (name == "sharded") return adapter_kind::sharded;
    return std::nullopt;
}

std::string_view mode_name(subscription_mode mode) noexcept {
    switch (mode) {
    case subscription_mode::static_mode: return "static";
    case subscription_mode::dynamic_private: return "dynamic-private";
    default: return "dynamic";
    }
}

std::optional<subscription_mode> mode_of(std::string_view name) noexcept {
    if (name == "static") return subscription_mode::static_mode;
    if (name == "dynamic") return subscription_mode::dynamic;
    if (name == "dynamic-private") return subscription_mode::dynamic_private;
    return std::nullopt;
}

void pubsub_cluster::start() {
    asio::post(impl_->strand, [i = impl_] { i->start(); });
}

void pubsub_cluster::stop() {
    asio::post(impl_->strand, [i = impl_] { i->stop(); });
}

void pubsub_cluster::add_namespace(std::string nsp) {
    asio::post(impl_->strand, [i = impl_, nsp = std::move(nsp)] {
        for (const auto& n : i->namespaces) {
            if (n == nsp) return;
        }
        i->namespaces.push_back(nsp);
        i->subscribe(nsp);
    });
}

void pubsub_cluster::publish(wire_packet packet, const broadcast_options& opts) {
    if (!impl_->up.load()) {
        ++impl_->dropped;
        return;
    }
    broadcast_message m{uid(), std::move(packet), to_wire(opts)};
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

void pubsub_cluster::all_rooms(std::string nsp, std::function<void(std::vector<std::string>)> done) {
    asio::post(impl_->strand, [i = impl_, nsp = std::move(nsp), done = std::move(done)]() mutable {
        auto l = i->local.lock();
        auto mine = l ? l->all_rooms(nsp) : std::vector<std::string>{};
        i->server_count(nsp, [i, nsp, done, mine](std::size_t n) mutable {
            if (n <= 1) {
                done(std::move(mine));
                return;
            }
            const auto id = random_id(6);
            pubsub_impl::request r;
            r.type = request_type::all_rooms;
            r.expected = n - 1;
            r.rooms.insert(mine.begin(), mine.end());
            r.finish = [done](pubsub_impl::request& q) { done(std::vector<std::string>(q.rooms.begin(), q.rooms.end())); };
            i->track(id, std::move(r));
            i->publish_raw(request_channel(i->opts.prefix, nsp), encode_all_rooms_request(i->uid, id));
        });
    });
}

void pubsub_cluster::fetch_sockets(std::string nsp, broadcast_options opts, std::function<void(json)> done) {
    asio::post(impl_->strand, [i = impl_, nsp = std::move(nsp), opts = std::move(opts), done = std::move(done)]() mutable {
        auto l = i->local.lock();
        json mine = l ? l->fetch_sockets(nsp, opts) : json::array();
        i->server_count(nsp, [i, nsp, done, mine, opts](std::size_t n) mutable {
            if (n <= 1) {
                done(std::move(mine));
                return;
            }
            const auto id = random_id(6);
            pubsub_impl::request r;
            r.type = request_type::remote_fetch;
            r.expected = n - 1;
            r.sockets = std::move(mine);
            r.finish = [done](pubsub_impl::request& q) { done(std::move(q.sockets)); };
            i->track(id, std::move(r));
            i->publish_raw(request_channel(i->opts.prefix, nsp),
                           encode_fetch_sockets_request(i->uid, id, to_wire(opts)));
        });
    });
}

void pubsub_cluster::remote_join(std::string nsp, const broadcast_options& opts, std::vector<std::string> rooms) {
    asio::post(impl_->strand, [i = impl_, nsp = std::move(nsp), o = to_wire(opts), rooms = std::move(rooms)] {
        i->publish_raw(request_channel(i->opts.prefix, nsp), encode_remote_join_request(i->uid, o, rooms));
    });
}

void pubsub_cluster::remote_leave(std::string nsp, const broadcast_options& opts, std::vector<std::string> rooms) {
    asio::post(impl_->strand, [i = impl_, nsp = std::move(nsp), o = to_wire(opts), rooms = std::move(rooms)] {
        i->publish_raw(request_channel(i->opts.prefix, nsp), encode_remote_leave_request(i->uid, o, rooms));
    });
}

void pubsub_cluster::remote_disconnect(std::string nsp, const broadcast_options& opts, bool close) {
    asio::post(impl_->strand, [i = impl_, nsp = std::move(nsp), o = to_wire(opts), close] {
        i->publish_raw(request_channel(i->opts.prefix, nsp), encode_remote_disconnect_request(i->uid, o, close));
    });
}

void pubsub_cluster::server_side_emit(std::string nsp, json args, std::function<void(json)> done) {
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
            pubsub_impl::request r;
            r.type = request_type::server_side_emit;
            r.expected = n - 1;
            r.finish = [done](pubsub_impl::request& q) { done(std::move(q.answers)); };
            i->track(id, std::move(r));
            const std::string_view idv = id;
            i->publish_raw(request_channel(i->opts.prefix, nsp), encode_server_side_emit_request(i->uid, idv, args));
        });
    });
}

stats pubsub_cluster::snapshot() const { return impl_->snapshot(); }

}  // namespace sio::adapter::redis
