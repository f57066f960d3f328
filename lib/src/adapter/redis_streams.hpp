// The streams adapter's state (redis_streams.cpp: the connections, the stream reader, the
// messages between nodes; redis_streams_recovery.cpp: the session records), on one strand.
// Both speak socket.io-adapter's ClusterAdapter messages, so the sharded adapter
// (redis_sharded.cpp) derives from it and replaces what travels differently: the connections, the
// subscriptions, how a message is sent, and how the nodes are counted (the virtual members).
//
// Three RESP connections: `cmd` (XADD, PUBLISH, PUBSUB NUMSUB, the session records, XRANGE),
// `sub` (SUBSCRIBE to each namespace's public channel and this node's private one) and `reader`
// (one XREAD BLOCK after another, so that it never holds up the others). The reader starts at the
// stream's last entry when it first connects, and after an outage goes on from the last entry it
// read, so that what other nodes added meanwhile still arrives.
#pragma once

#include "resp_conn.hpp"

#include "sio/adapter/redis_streams_codec.hpp"

#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace sio::adapter::redis::detail {

namespace asio = boost::asio;
namespace st = streams;
using st::message_type;

// 16 hex digits, as the Node adapter's ids.
std::string hex_id();

// The entries of an XREAD or XRANGE reply: [[id, [field, value, ...]], ...]. Malformed entries
// are left out and counted in `bad`.
struct entry {
    std::string id;
    st::fields fields;
};
std::vector<entry> entries_of(const redisReply* list, std::size_t& bad);

struct streams_impl : link_counters, std::enable_shared_from_this<streams_impl> {
    streams_impl(asio::any_io_executor ex, options o, std::weak_ptr<local_node> l, std::string id)
        : strand(asio::make_strand(ex)), opts(std::move(o)), local(std::move(l)), uid(std::move(id)),
          retry(strand) {}
    virtual ~streams_impl() = default;

    strand_t strand;
    const options opts;
    std::weak_ptr<local_node> local;
    const std::string uid;
    std::shared_ptr<resp_conn> cmd, sub, reader;
    std::vector<std::string> namespaces;
    std::string last_id;               // the reader's position in the stream ("" before the first)
    std::mutex position_mutex;         // guards `position`, and is held while a broadcast is delivered
    std::string position;              // last_id once the entry's delivery was handed out
    std::uint64_t read_generation = 0;  // one XREAD chain per connection of the reader
    asio::steady_timer retry;          // after an XREAD Redis refused
    std::chrono::milliseconds retry_delay{};
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


    void log(std::string_view what) const;

    void bad_message(std::string_view where, std::string_view why);

    bool ours(std::string_view nsp) const;

    // What the sharded adapter does differently: no stream (and no reader connection), pushes
    // of sharded pub/sub ("smessage") in its own encoding, the nodes counted per shard.
    virtual bool reads_stream() const { return true; }
    virtual std::string_view push_kind() const { return "message"; }
    virtual result<st::message> decode_push(std::string_view bytes) const { return st::decode_published(bytes); }
    virtual const char* numsub() const { return "NUMSUB"; }
    // The connection `start` makes for `role` ("commands", "subscriber", "stream reader").
    virtual std::shared_ptr<resp_conn> make_conn(const std::string& role) {
        return std::make_shared<resp_conn>(strand, opts, role);
    }

    void update_up() {
        up = cmd && sub && cmd->up() && sub->up() && (!reads_stream() || (reader && reader->up()));
    }

    void start();

    void stop();

    void on_down();

    virtual void subscribe(const std::string& nsp);

    virtual void on_sub_up();

    // A room of this node was created or deleted (the sharded adapter's subscriptions).
    virtual void on_room_changed(const std::string& nsp, const std::string& room) { (void)nsp, (void)room; }

    // --- reading the stream ---------------------------------------------------------------------

    void on_reader_up();

    void read_next(std::uint64_t gen);

    void on_read(std::uint64_t gen, const redisReply* r);

    void on_entry(const entry& e);

    // This node's own broadcasts of a namespace that recovers connections wait for the stream
    // (publish_stored): they are delivered here when read back, in the stream's order.
    bool held_back(const st::message& m);

    // --- messages from other nodes --------------------------------------------------------------

    void on_push(const redisReply* r);

    // data.opts of a message, for this process; nullopt (counted, logged) when malformed.
    std::optional<broadcast_opts> opts_in(const st::message& m, std::string_view where);

    void on_message(const st::message& m, std::string_view offset);
    void on_broadcast(const st::message& m, const std::string& where, std::string_view offset);
    void on_fetch(const st::message& m, const std::string& where);
    void on_server_side_emit(const st::message& m, const std::string& where);
    void on_response(const st::message& m);

    // --- session records (recovery.cpp's job, for the whole cluster) ----------------------------

    std::chrono::milliseconds window_of(const std::string& nsp);
    void write_session(const std::string& nsp, const st::session_record& r);
    void persist(std::string nsp, st::session_record r, bool gone);
    void forget(const std::string& pid);
    void schedule_refresh();
    using restore_done = std::function<void(std::optional<cluster::restored_session>, std::string)>;
    void restore(std::string nsp, std::string pid, std::string offset, restore_done done);
    void replay_from(std::string nsp, cluster::restored_session s, std::string from, int calls, restore_done done);

    // --- sending --------------------------------------------------------------------------------

    // XADD to the stream; `done` (when given) with the entry's id, or "" when it was not added.
    // XADD; `done` (when given) with whether the entry was refused: true when it was not added
    // (Redis down, or an error reply), false when added or when the link went down before the
    // answer (the entry may be there).
    virtual void add(st::message m, std::function<void(bool refused)> done = {});

    virtual void publish_to(const std::string& channel, st::message m);

    void respond(const st::message& to, message_type type, json data);

    // PUBSUB NUMSUB of the public channel: the nodes of the cluster, this one included (0 when
    // Redis is down).
    void server_count(const std::string& nsp, std::function<void(std::size_t)> go);

    // Sends a request to the other nodes and calls `finish` once with every answer, or with what
    // came before request_timeout.
    void ask(std::string nsp, message_type type, json data, json mine, std::function<void(json)> finish);
};

// The cluster object over a streams_impl (or a class derived from it), for `kind`.
std::shared_ptr<cluster> make_cluster_on(std::shared_ptr<streams_impl> impl, adapter_kind kind);

}  // namespace sio::adapter::redis::detail
