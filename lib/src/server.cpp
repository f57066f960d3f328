#include "sio/server.hpp"

#include "connection.hpp"

#include "sio/transport/exception_text.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>

#include <fmt/format.h>

#include <cstdio>
#include <utility>
#include <vector>

namespace sio {

namespace asio = boost::asio;
namespace sp = codec::socketio;

namespace {

std::string normalize_nsp(std::string_view name) {
    if (name.empty()) return "/";
    if (name.front() == '/') return std::string(name);
    std::string out = "/";
    out += name;
    return out;
}

}  // namespace

// --- server ----------------------------------------------------------------------------------

std::shared_ptr<server> server::create(asio::any_io_executor executor,
                                       std::shared_ptr<engine::server> engine,
                                       server_options options) {
    auto self = std::make_shared<server>(passkey{}, std::move(executor), std::move(engine),
                                         std::move(options));
    self->of("/");
    std::weak_ptr<server> weak = self;
    self->engine_->set_open_handler(
        [weak](engine::session_handle session,
               const engine::handshake_request& request) -> std::shared_ptr<engine::session_listener> {
            auto srv = weak.lock();
            if (!srv) return nullptr;  // the Socket.IO server is gone: refuse the session
            if (srv->closing_) return nullptr;  // shutting down
            // Everything of the connection (its timers, its sockets' ack timers) runs where
            // the Engine.IO session runs: one place per session, no lock between them.
            auto where = session.executor();
            auto conn = std::make_shared<detail::connection>(srv, std::move(session), request, std::move(where));
            {
                std::lock_guard lock(srv->mutex_);
                // Drop the entries of connections that are gone, so the map stays small.
                std::erase_if(srv->live_, [](const auto& e) { return e.second.expired(); });
                srv->live_.emplace(conn.get(), conn);
            }
            conn->start();
            return conn;
        });
    return self;
}

server::server(passkey, asio::any_io_executor executor, std::shared_ptr<engine::server> engine,
               server_options options)
    : executor_(std::move(executor)),
      engine_(std::move(engine)),
      options_(std::make_shared<const server_options>(std::move(options))) {}

namespace_& server::of(std::string_view name) {
    auto key = normalize_nsp(name);
    std::lock_guard lock(mutex_);
    auto it = namespaces_.find(key);
    if (it == namespaces_.end()) {
        it = namespaces_.emplace(key, namespace_::create(key, options_->recovery, options_->parser)).first;
        if (cluster_) {
            it->second->set_cluster(cluster_);
            cluster_->add_namespace(key);
        }
    }
    return *it->second;
}

void server::set_cluster(std::shared_ptr<adapter::redis::cluster> c, std::shared_ptr<void> keep) {
    std::lock_guard lock(mutex_);
    cluster_ = std::move(c);
    cluster_keep_ = std::move(keep);
    for (auto& [name, nsp] : namespaces_) {
        nsp->set_cluster(cluster_);
        if (cluster_) cluster_->add_namespace(name);
    }
}

std::shared_ptr<adapter::redis::cluster> server::cluster() const {
    std::lock_guard lock(mutex_);
    return cluster_;
}

std::shared_ptr<namespace_> server::find(std::string_view name) const {
    std::lock_guard lock(mutex_);
    auto it = namespaces_.find(name);
    return it == namespaces_.end() ? nullptr : it->second;
}

std::size_t server::namespace_count() const {
    std::lock_guard lock(mutex_);
    return namespaces_.size();
}

std::size_t server::room_count() const {
    std::vector<std::shared_ptr<namespace_>> all;
    {
        std::lock_guard lock(mutex_);
        for (const auto& [name, nsp] : namespaces_) all.push_back(nsp);
    }
    std::size_t n = 0;
    for (const auto& nsp : all) {
        const auto rooms = nsp->adapter().room_count();
        const auto own = nsp->adapter().socket_count();  // one private room per socket
        n += rooms > own ? rooms - own : 0;
    }
    return n;
}

void server::close() {
    closing_ = true;
    std::vector<std::shared_ptr<detail::connection>> conns;
    {
        std::lock_guard lock(mutex_);
        for (const auto& [key, weak] : live_)
            if (auto c = weak.lock()) conns.push_back(std::move(c));
    }
    for (const auto& c : conns) c->shutdown();
}

void server::log(std::string_view what) const {
    if (options_->log) options_->log(what);
}

}  // namespace sio

namespace sio::detail {

namespace asio = boost::asio;
namespace sp = codec::socketio;

namespace {

// The decoder of every connection of this thread that is not waiting for attachments: one
// decoded packet leaves it idle again (a packet with attachments moves to its connection).
sp::decoder& shared_decoder(const sp::decoder_options& options) {
    thread_local std::optional<sp::decoder> shared;
    if (!shared || !(shared->options() == options)) shared.emplace(options);
    return *shared;
}

}  // namespace

connection::connection(const std::shared_ptr<server>& srv, engine::session_handle session,
                       const engine::handshake_request& request, asio::any_io_executor strand)
    : server_(srv),
      session_(std::move(session)),
      options_(srv->options_),
      strand_(std::move(strand)),
      counter_(srv->connections_) {
    auto hs = std::make_shared<handshake>();
    hs->address = request.remote_address;
    hs->transport = request.transport;
    hs->query = request.query;
    hs->headers = request.headers;
    hs->session_id = session_.sid();
    hs->time = std::chrono::system_clock::now();
    handshake_ = std::move(hs);
    counter_->fetch_add(1);
}

connection::~connection() { counter_->fetch_sub(1); }

void connection::start() {
    connect_timer_ = std::make_unique<asio::steady_timer>(strand_, options_->connect_timeout);
    std::weak_ptr<connection> weak = shared_from_this();
    connect_timer_->async_wait([weak](boost::system::error_code ec) {
        if (ec) return;  // cancelled: a namespace was joined or the session closed
        auto self = weak.lock();
        if (!self || self->closed_.load()) return;
        {
            std::lock_guard lock(self->mutex_);
            if (self->joined_any_) return;
        }
        self->log("no namespace joined within the connect timeout");
        self->close(engine::close_reasons::forced_close);
    });
}

void connection::cancel_connect_timer() {
    std::weak_ptr<connection> weak = shared_from_this();
    // The timer belongs to the strand: cancel it there, not from the caller's thread.
    asio::post(strand_, [weak] {
        if (auto self = weak.lock()) self->connect_timer_.reset();  // cancels its wait
    });
}

void connection::log(std::string_view what) const {
    if (options_->log) options_->log(fmt::format("session {}: {}", session_.sid(), what));
}

void connection::on_message(codec::eio::packet message) {
    if (closed_.load()) return;
    if (options_->parser == sp::wire_parser::msgpack) {
        auto p = message.binary ? sp::decode_msgpack(message.data, options_->decoder)
                                : codec::result<sp::packet>(codec::make_error(
                                      codec::errc::unexpected_text,
                                      "a text packet, but this server uses the msgpack parser: the client seems to "
                                      "use the default parser (socket.io-client needs parser: "
                                      "require(\"socket.io-msgpack-parser\"))"));
        if (!p) {
            log(fmt::format("closing: undecodable packet: {}", p.err().reason));
            close(engine::close_reasons::parse_error);
            return;
        }
        on_packet(std::move(*p));
        return;
    }
    auto& d = pending_ ? *pending_ : shared_decoder(options_->decoder);
    const auto status = message.binary ? d.feed_binary(message.data) : d.feed_text(message.data);
    switch (status) {
    case sp::decode_status::need_more:
        // Attachments follow: the packet so far becomes this connection's own.
        if (!pending_) pending_ = std::make_unique<sp::decoder>(std::exchange(d, sp::decoder{options_->decoder}));
        return;
    case sp::decode_status::bad: {
        const auto error = d.last_error();
        pending_.reset();
        log(fmt::format("closing: undecodable packet: {}{}", error.reason,
                        error.code == codec::make_error_code(codec::errc::unexpected_binary)
                            ? " (a client with socket.io-msgpack-parser sends every packet as binary)"
                            : ""));
        close(engine::close_reasons::parse_error);
        return;
    }
    case sp::decode_status::done: {
        auto packet = d.take();
        pending_.reset();
        on_packet(std::move(packet));
        return;
    }
    }
}

void connection::on_packet(sp::packet p) {
    using t = sp::packet_type;
    if (p.type == t::connect) {
        on_connect_packet(std::move(p));
        return;
    }
    std::shared_ptr<socket> s;
    {
        std::lock_guard lock(mutex_);
        if (auto it = sockets_.find(p.nsp); it != sockets_.end()) s = it->second;
    }
    if (!s || p.type == t::connect_error) {
        invalid_state(fmt::format("{} for namespace {} which is not joined", sp::to_string(p.type),
                                  p.nsp));
        return;
    }
    s->on_packet(std::move(p));
}

void connection::invalid_state(std::string_view why) {
    // The reference closes the whole connection on a packet that makes no sense in its state.
    log(fmt::format("closing: invalid state: {}", why));
    close(disconnect_reasons::forced_server_close);
}

std::shared_ptr<const handshake> connection::handshake_for(json auth) {
    if (handshake_->auth == auth) return handshake_;
    if (handshake_.use_count() == 1) {
        // No socket holds it (the first CONNECT, or the others left): it takes this auth.
        handshake_->auth = std::move(auth);
        return handshake_;
    }
    auto copy = std::make_shared<handshake>(*handshake_);
    copy->auth = std::move(auth);
    return copy;
}

void connection::on_connect_packet(sp::packet p) {
    auto srv = server_.lock();
    auto nsp = srv ? srv->find(p.nsp) : nullptr;
    if (!nsp) {
        sp::packet answer{sp::packet_type::connect_error, p.nsp, std::nullopt,
                          json{{"message", "Invalid namespace"}}};
        report(server_event::kind::connect_refused, p.nsp, {}, "Invalid namespace");
        send(answer);
        return;
    }
    bool repeated = false;
    {
        std::lock_guard lock(mutex_);
        repeated = sockets_.count(p.nsp) != 0 || !connecting_.insert(p.nsp).second;
    }
    if (repeated) {
        // socket.io-client sends CONNECT twice when connect() is called on a socket that is
        // already connecting (manager.socket("/x") connects by itself; then .connect()). The
        // reference creates both sockets when the two arrive together; answering the first
        // serves the client, so the repeat is dropped rather than failing the whole session.
        log(fmt::format("repeated CONNECT to {} ignored", p.nsp));
        return;
    }
    json auth = p.data && p.data->is_object() ? std::move(*p.data) : json::object();
    if (auto c = nsp->cluster(); c && c->keeps_sessions() && nsp->recovery()) {
        restore_from_cluster(nsp, *c, std::move(auth));
        return;
    }
    std::optional<adapter::persisted_session> restoring;
    if (auto* store = nsp->recovery()) {
        // {"pid", "offset"} ride in the CONNECT payload beside the application's auth; taken out
        // so that middleware and handlers see only the latter.
        auto pid = auth.find("pid");
        if (pid != auth.end() && pid->is_string()) {
            std::string offset;
            if (auto o = auth.find("offset"); o != auth.end() && o->is_string())
                offset = o->get<std::string>();
            std::string why;
            restoring = store->take(pid->get<std::string>(), offset, &why);
            log(fmt::format("connection state recovery for {}: {}", p.nsp, restoring ? "session found" : why));
        }
        auth.erase("pid");
        auth.erase("offset");
    }
    create_socket(nsp, std::move(auth), std::move(restoring), std::nullopt);
}

void connection::restore_from_cluster(const std::shared_ptr<namespace_>& nsp, adapter::redis::cluster& c, json auth) {
    auto pid = auth.find("pid");
    if (pid == auth.end() || !pid->is_string()) {
        auth.erase("offset");
        create_socket(nsp, std::move(auth), std::nullopt, std::nullopt);
        return;
    }
    const auto pid_text = pid->get<std::string>();
    std::string offset;
    if (auto o = auth.find("offset"); o != auth.end() && o->is_string()) offset = o->get<std::string>();
    auth.erase("pid");
    auth.erase("offset");
    std::weak_ptr<connection> weak = shared_from_this();
    c.restore_session(nsp->name(), pid_text, offset,
                      [weak, nsp, auth = std::move(auth), strand = strand_](
                          std::optional<adapter::redis::cluster::restored_session> restored, std::string why) mutable {
                          asio::post(strand, [weak, nsp, auth = std::move(auth), restored = std::move(restored),
                                              why = std::move(why)]() mutable {
                              auto self = weak.lock();
                              if (!self) return;
                              self->log(fmt::format("connection state recovery for {} through the cluster: {}",
                                                    nsp->name(), restored ? "session found" : why));
                              self->create_socket(nsp, std::move(auth), std::nullopt, std::move(restored));
                          });
                      });
}

void connection::create_socket(const std::shared_ptr<namespace_>& nsp, json auth,
                               std::optional<adapter::persisted_session> restoring,
                               std::optional<adapter::redis::cluster::restored_session> restored) {
    auto hs = handshake_for(std::move(auth));  // on the session's strand, as every CONNECT
    auto id = restoring ? restoring->sid : restored ? restored->record.sid : engine::generate_sid();
    auto s = std::make_shared<socket>(socket::passkey{}, nsp, weak_from_this(), std::move(id),
                                      std::move(hs), strand_, options_->ack_timeout);
    if (nsp->recovery()) {
        s->pid_ = restoring ? restoring->pid : restored ? restored->record.pid : engine::generate_sid();
        if (restoring) s->restoring_ = std::make_unique<adapter::persisted_session>(std::move(*restoring));
        if (restored) s->restored_ = std::make_unique<adapter::redis::cluster::restored_session>(std::move(*restored));
    }
    std::weak_ptr<connection> weak = shared_from_this();
    nsp->run_middleware(s, [weak, s](std::optional<connect_error> err) {
        if (auto self = weak.lock()) self->finish_connect(s, std::move(err));
    });
}

void connection::finish_connect(const std::shared_ptr<socket>& s, std::optional<connect_error> err) {
    const auto& name = s->nsp().name();
    {
        std::lock_guard lock(mutex_);
        connecting_.erase(name);
        if (closed_.load()) return;
        if (!err) {
            // In sockets_ before anything is sent, so that a concurrent on_close finds it; its
            // packets are buffered until ready().
            sockets_.emplace(name, s);
            joined_any_ = true;
        }
    }
    if (err) {
        report(server_event::kind::connect_refused, name, {}, err->message);
        json data{{"message", err->message}};
        if (err->data) data["data"] = std::move(*err->data);
        send(sp::packet{sp::packet_type::connect_error, name, std::nullopt, std::move(data)});
        return;
    }
    // CONNECT goes out before the socket joins the adapter: a broadcast from another thread
    // must not reach the client ahead of it.
    s->send_connect();
    if (options_->on_event) {
        // Registered before attach(), so that a disconnect racing the attach is reported too.
        std::weak_ptr<connection> weak = shared_from_this();
        s->on_disconnect([weak, nsp = name, id = s->id()](const std::string& reason) {
            if (auto self = weak.lock())
                self->report(server_event::kind::socket_disconnect, nsp, id, reason);
        });
    }
    bool attached = false;
    auto cluster = s->nsp().cluster();
    if (cluster && cluster->keeps_sessions() && s->nsp().recovery()) {
        attached = attach_from_cluster(*cluster, s);
    } else if (auto* store = s->nsp().recovery()) {
        if (s->restoring_) {
            // The missed broadcasts, in order, then the rooms, all under the store's lock: a
            // broadcast made meanwhile is either replayed here or delivered live, never both
            // and never neither.
            const auto& session = *s->restoring_;
            s->first_seq_ = session.first_seq;
            s->recovered_ = true;
            const auto n = store->replay(
                session,
                [&](const json& data) {
                    s->send_packet(sp::packet{sp::packet_type::event, name, std::nullopt, data});
                },
                [&] {
                    attached = s->attach();
                    if (attached) s->nsp().adapter().join(s->id(), session.rooms);
                });
            log(fmt::format("socket {} recovered on {}: {} missed packets replayed", s->id(), name, n));
            s->restoring_.reset();
        } else {
            s->first_seq_ = store->attach_fresh([&] { attached = s->attach(); });
        }
    } else {
        attached = s->attach();
    }
    if (!attached) return;  // the session closed meanwhile
    report(server_event::kind::socket_connect, name, s->id(), {});
    cancel_connect_timer();
    s->nsp().notify_connection(s);
    s->ready();
}

bool connection::attach_from_cluster(adapter::redis::cluster& c, const std::shared_ptr<socket>& s) {
    // Broadcasts this node has read from the stream reached the socket's room only if it was
    // attached: those up to `position` are replayed, later ones arrive live.
    bool attached = false;
    std::size_t replayed = 0;
    auto restored = std::move(s->restored_);
    c.at_position([&](const std::string& position) {
        s->since_ = restored && !restored->record.since.empty() ? restored->record.since : position;
        if (restored) {
            for (auto& [offset, data] : restored->missed) {
                if (!position.empty() && adapter::redis::streams::id_less(position, offset)) break;
                s->send_packet(sp::packet{sp::packet_type::event, s->nsp().name(), std::nullopt, std::move(data)});
                ++replayed;
            }
        }
        attached = s->attach();
        if (attached && restored) s->nsp().adapter().join(s->id(), restored->record.rooms);
    });
    if (!attached) return false;
    s->persist_live();
    if (restored) {
        s->recovered_ = true;
        log(fmt::format("socket {} recovered on {} through the cluster: {} missed packets replayed", s->id(),
                        s->nsp().name(), replayed));
    }
    return true;
}

void connection::on_close(std::string_view reason) {
    if (closed_.exchange(true)) return;
    std::map<std::string, std::shared_ptr<socket>, std::less<>> sockets;
    {
        std::lock_guard lock(mutex_);
        sockets.swap(sockets_);
    }
    pending_.reset();
    cancel_connect_timer();
    for (auto& [name, s] : sockets) s->on_close(reason);
}

void connection::send(const sp::packet& p) { send(encode_frame(p, options_->parser)); }

void connection::send(const adapter::frame& f) {
    if (closed_.load() || !f.text) return;
    // Held across the frames of one packet: another thread's packet must not land between a
    // text frame and its attachments (the client would take it for an attachment).
    std::lock_guard lock(send_mutex_);
    if (!session_.send(f.text, f.binary)) {
        // Closed, or refused (text with a record separator on polling): attachments without
        // their header would be misread, so none go out.
        if (!closed_.load()) log("packet refused by the Engine.IO session");
        return;
    }
    for (const auto& a : f.attachments) session_.send(a, true);
}

void connection::close(std::string_view reason) {
    session_.close(std::string(reason));
}

void connection::remove(const socket& s) {
    std::lock_guard lock(mutex_);
    auto it = sockets_.find(s.nsp().name());
    if (it != sockets_.end() && it->second.get() == &s) sockets_.erase(it);
}

void connection::report(server_event::kind type, std::string_view nsp,
                        std::string_view socket_id, std::string_view reason) const {
    if (!options_->on_event) return;
    server_event e;
    e.type = type;
    e.nsp = nsp;
    e.socket_id = socket_id;
    e.sid = session_.sid();
    e.reason = reason;
    try {
        options_->on_event(e);
    } catch (...) {
        // A failing logger must not take the session down; with the logger itself failing,
        // standard error is the one place left to say so.
        std::fprintf(stderr, "sio: the server's event callback threw: %s\n",
                     transport::exception_text(std::current_exception()).c_str());
    }
}

void connection::shutdown() {
    // As the reference's io.close(): each socket ends here, its disconnect handlers told "server
    // shutting down", and no DISCONNECT is sent; then the Engine.IO session closes. The client
    // sees its transport close and reconnects by itself (to this server once it is back, or to
    // another behind the same address): a restart does not take every user offline. On the
    // session's executor, where everything of the session runs.
    asio::post(strand_, [self = shared_from_this()] {
        self->on_close(disconnect_reasons::server_shutting_down);
        self->close(disconnect_reasons::forced_server_close);
    });
}

void connection::disconnect_all() {
    std::map<std::string, std::shared_ptr<socket>, std::less<>> sockets;
    {
        std::lock_guard lock(mutex_);
        sockets = sockets_;
    }
    for (auto& [name, s] : sockets) s->disconnect(false);
    close(engine::close_reasons::forced_close);
}

}  // namespace sio::detail
