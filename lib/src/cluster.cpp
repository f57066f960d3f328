#include "sio/cluster.hpp"

#include <fmt/chrono.h>
#include <fmt/format.h>

#include <ctime>

namespace sio {

namespace sp = codec::socketio;
namespace rd = adapter::redis;

namespace {

std::string js_date_string(std::chrono::system_clock::time_point t) {
    // As JavaScript's Date.prototype.toString() writes it on a UTC machine.
    const std::time_t tt = std::chrono::system_clock::to_time_t(t);
    std::tm tm{};
    gmtime_r(&tt, &tm);
    char buf[64];
    std::strftime(buf, sizeof buf, "%a %b %d %Y %H:%M:%S GMT+0000 (Coordinated Universal Time)", &tm);
    return buf;
}

std::vector<std::shared_ptr<socket>> targets_of(namespace_& nsp, const adapter::broadcast_options& o) {
    std::vector<std::shared_ptr<socket>> out;
    nsp.adapter().for_each_target(o, [&](const std::shared_ptr<adapter::member>& m) {
        if (auto s = std::dynamic_pointer_cast<socket>(m)) out.push_back(std::move(s));
    });
    return out;
}

class server_node final : public rd::local_node {
public:
    explicit server_node(std::weak_ptr<server> io) : io_(std::move(io)) {}

    void deliver(const rd::wire_packet& packet, const adapter::broadcast_options& opts) override {
        auto nsp = find(packet.nsp);
        if (!nsp) return;
        const auto& d = packet.data;
        if (nsp->recovery() && d.is_array() && !d.empty() && d[0].is_string()) {
            // Stored with an offset like a local broadcast (unless volatile), so that a socket that
            // drops and comes back gets it too; opts are local(), so it is not published again.
            // (socket.io-client takes the last string argument of every event for the offset once
            // recovery is on: a remote broadcast without one broke the next recovery.)
            broadcast_operator(nsp, opts).emit(d[0].get_ref<const std::string&>(), json(d.begin() + 1, d.end()));
            return;
        }
        // Encoded once for every local target.
        nsp->adapter().broadcast(nsp->encode(sp::packet{sp::packet_type::event, packet.nsp, std::nullopt, packet.data}),
                                 opts);
    }

    void deliver_stored(const rd::wire_packet& packet, const adapter::broadcast_options& opts,
                        std::string_view offset) override {
        auto nsp = find(packet.nsp);
        if (!nsp) return;
        if (!nsp->recovery() || opts.flags.volatile_packet) {
            deliver(packet, opts);
            return;
        }
        // The offset is the broadcast's place in the cluster's stream: valid on every node.
        json data = packet.data;
        data.push_back(std::string(offset));
        nsp->adapter().broadcast(nsp->encode(sp::packet{sp::packet_type::event, packet.nsp, std::nullopt, std::move(data)}),
                                 opts);
    }

    std::chrono::milliseconds recovery_window(std::string_view name) override {
        auto nsp = find(name);
        return nsp && nsp->recovery() ? nsp->recovery()->options().window : std::chrono::milliseconds{};
    }

    room_state room_of(std::string_view name, std::string_view room) override {
        auto nsp = find(name);
        if (!nsp || nsp->adapter().members_of(room).empty()) return room_state::absent;
        return nsp->adapter().contains(room) ? room_state::private_room : room_state::public_room;
    }

    std::vector<std::string> all_rooms(std::string_view name) override {
        auto nsp = find(name);
        return nsp ? nsp->adapter().room_names() : std::vector<std::string>{};
    }

    std::vector<std::string> socket_ids(std::string_view name, const adapter::broadcast_options& o) override {
        auto nsp = find(name);
        return nsp ? nsp->adapter().targets(o) : std::vector<std::string>{};
    }

    json fetch_sockets(std::string_view name, const adapter::broadcast_options& o) override {
        json out = json::array();
        auto nsp = find(name);
        if (!nsp) return out;
        for (auto& s : targets_of(*nsp, o)) out.push_back(describe_socket(*s));
        return out;
    }

    void add_sockets(std::string_view name, const adapter::broadcast_options& o,
                     const std::vector<std::string>& rooms) override {
        auto nsp = find(name);
        if (!nsp) return;
        for (auto& s : targets_of(*nsp, o)) {
            for (const auto& r : rooms) s->join(r);
        }
    }

    void del_sockets(std::string_view name, const adapter::broadcast_options& o,
                     const std::vector<std::string>& rooms) override {
        auto nsp = find(name);
        if (!nsp) return;
        for (auto& s : targets_of(*nsp, o)) {
            for (const auto& r : rooms) s->leave(r);
        }
    }

    void disconnect_sockets(std::string_view name, const adapter::broadcast_options& o, bool close) override {
        auto nsp = find(name);
        if (!nsp) return;
        for (auto& s : targets_of(*nsp, o)) s->disconnect(close);
    }

    void server_side_emit(std::string_view name, json args, std::function<void(json)> ack) override {
        auto nsp = find(name);
        if (!nsp) return;
        nsp->notify_server_side_emit(std::move(args), std::move(ack));
    }

    void broadcast_with_ack(const rd::wire_packet& packet, const adapter::broadcast_options& o,
                            std::chrono::milliseconds timeout, std::function<void(std::size_t)> count,
                            std::function<void(json)> ack) override {
        auto nsp = find(packet.nsp);
        if (!nsp || !packet.data.is_array() || packet.data.empty() || !packet.data[0].is_string()) {
            count(0);
            return;
        }
        const auto event = packet.data[0].get<std::string>();
        json args = json::array();
        for (std::size_t i = 1; i < packet.data.size(); ++i) args.push_back(packet.data[i]);
        auto targets = targets_of(*nsp, o);
        count(targets.size());
        for (auto& s : targets) {
            s->emit_with_ack(event, args, [ack](std::error_code ec, json reply) {
                if (!ec) ack(std::move(reply));
            }, timeout);
        }
    }

private:
    std::shared_ptr<namespace_> find(std::string_view name) const {
        auto io = io_.lock();
        return io ? io->find(name) : nullptr;
    }

    std::weak_ptr<server> io_;
};

}  // namespace

json describe_socket(const socket& s) {
    const auto& hs = s.handshake();
    json headers = json::object();
    for (const auto& [k, v] : hs.headers) headers[k] = v;
    json query = json::object();
    std::string url = "/socket.io/?";
    bool first = true;
    for (const auto& [k, v] : hs.query) {
        query[k] = v;
        if (!first) url += '&';
        first = false;
        url += k + "=" + v;
    }
    const auto issued = std::chrono::duration_cast<std::chrono::milliseconds>(hs.time.time_since_epoch()).count();
    json handshake = json::object();
    handshake["headers"] = std::move(headers);
    handshake["time"] = js_date_string(hs.time);
    handshake["address"] = hs.address;
    handshake["xdomain"] = hs.headers.count("origin") > 0;
    handshake["secure"] = false;
    handshake["issued"] = issued;
    handshake["url"] = url;
    handshake["query"] = std::move(query);
    handshake["auth"] = hs.auth;
    json rooms = json::array();
    for (auto& r : s.rooms()) rooms.push_back(r);
    json out = json::object();
    out["id"] = s.id();
    out["handshake"] = std::move(handshake);
    out["rooms"] = std::move(rooms);
    out["data"] = s.data();
    return out;
}

std::shared_ptr<rd::cluster> attach_redis(const std::shared_ptr<server>& io, boost::asio::any_io_executor executor,
                                          rd::options options) {
    auto node = std::make_shared<server_node>(io);
    auto c = rd::cluster::create(std::move(executor), std::move(options), node);
    io->set_cluster(c, node);
    c->start();
    return c;
}

}  // namespace sio
