// Two Redis adapter nodes in one process on a real redis-server (started by the test on a free
// port; without redis-server the tests fail): broadcasts between them, requests with their
// answers merged (allRooms, fetchSockets, serverSideEmit with ack), a Redis restart, AUTH and
// TLS.
#include "sio/adapter/redis.hpp"
#include "sio/transport/client_connect.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <gtest/gtest.h>

#include <csignal>
#include <cstdlib>
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>

#include <algorithm>
#include <chrono>
#include <optional>
#include <set>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace {

namespace asio = boost::asio;
namespace rd = sio::adapter::redis;
using sio::codec::json;
using namespace std::chrono_literals;

bool run_until(asio::io_context& ioc, const std::function<bool()>& done, std::chrono::milliseconds limit = 5000ms) {
    const auto end = std::chrono::steady_clock::now() + limit;
    while (!done() && std::chrono::steady_clock::now() < end) {
        ioc.run_for(10ms);
        if (ioc.stopped()) ioc.restart();
    }
    return done();
}

unsigned short free_port() {
    asio::io_context ioc;
    asio::ip::tcp::acceptor a(ioc, {asio::ip::make_address("127.0.0.1"), 0});
    return a.local_endpoint().port();
}

bool accepts(unsigned short port) {
    asio::io_context ioc;
    asio::ip::tcp::socket s(ioc);
    boost::system::error_code ec;
    s.connect({asio::ip::make_address("127.0.0.1"), port}, ec);
    return !ec;
}

// Starts a program (searched in PATH) with its output discarded; its pid, or -1.
pid_t spawn_quietly(std::vector<std::string> args) {
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t quiet;
    posix_spawn_file_actions_init(&quiet);
    posix_spawn_file_actions_addopen(&quiet, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&quiet, 2, "/dev/null", O_WRONLY, 0);
    pid_t pid = -1;
    const int rc = posix_spawnp(&pid, argv[0], &quiet, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&quiet);
    return rc == 0 ? pid : -1;
}

// Runs a program with its output discarded; its exit status, or -1.
int run_quietly(std::vector<std::string> args) {
    const pid_t pid = spawn_quietly(std::move(args));
    if (pid < 0) return -1;
    int status = 0;
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status)) return -1;
    return WEXITSTATUS(status);
}

// A fresh directory, removed with the object.
struct temp_dir {
    std::string path;
    temp_dir() {
        std::string pattern = ::testing::TempDir() + "sio-redis-XXXXXX";
        if (mkdtemp(pattern.data())) path = pattern;
    }
    ~temp_dir() {
        if (!path.empty()) run_quietly({"rm", "-rf", path});
    }
};

// redis-server on loopback, killed with the object.
struct redis_process {
    pid_t pid = -1;
    unsigned short port = 0;

    // Tries a few free ports (one may be taken between the probe and the bind). With `tls`, the
    // port speaks TLS only (extra gives the certificate files).
    bool start(unsigned short wanted = 0, const std::vector<std::string>& extra = {}, bool tls = false) {
        for (int attempt = 0; attempt < 5; ++attempt) {
            port = wanted != 0 ? wanted : free_port();
            const std::string p = std::to_string(port);
            std::vector<std::string> args{SIO_REDIS_SERVER, "--port", tls ? "0" : p, "--bind", "127.0.0.1", "--save",
                                          "",  "--appendonly", "no", "--loglevel", "warning"};
            if (tls) {
                args.emplace_back("--tls-port");
                args.push_back(p);
            }
            args.insert(args.end(), extra.begin(), extra.end());
            pid = spawn_quietly(std::move(args));
            if (pid < 0) return false;
            for (int i = 0; i < 100; ++i) {
                if (accepts(port)) return true;
                int status = 0;
                if (waitpid(pid, &status, WNOHANG) == pid) break;  // exited (port taken?)
                std::this_thread::sleep_for(50ms);
            }
            stop();
            std::this_thread::sleep_for(200ms);
        }
        return false;
    }
    void stop() {
        if (pid > 0) {
            kill(pid, SIGKILL);
            int status = 0;
            waitpid(pid, &status, 0);
        }
        pid = -1;
    }
    ~redis_process() { stop(); }
};

struct fake_node : rd::local_node {
    std::string name;
    std::vector<std::pair<rd::wire_packet, sio::adapter::broadcast_options>> delivered;
    std::vector<json> server_side;

    explicit fake_node(std::string n) : name(std::move(n)) {}

    void deliver(const rd::wire_packet& p, const sio::adapter::broadcast_options& o) override {
        delivered.emplace_back(p, o);
    }
    std::vector<std::string> all_rooms(std::string_view) override { return {"room-" + name, "sock-" + name}; }
    std::vector<std::string> socket_ids(std::string_view, const sio::adapter::broadcast_options&) override {
        return {"sock-" + name};
    }
    json fetch_sockets(std::string_view, const sio::adapter::broadcast_options& o) override {
        json s = json::object();
        s["id"] = "sock-" + name;
        s["rooms"] = json::array({"sock-" + name});
        s["asked"] = json(std::vector<std::string>(o.rooms.begin(), o.rooms.end()));
        return json::array({s});
    }
    void add_sockets(std::string_view, const sio::adapter::broadcast_options&, const std::vector<std::string>&) override {}
    void del_sockets(std::string_view, const sio::adapter::broadcast_options&, const std::vector<std::string>&) override {}
    void disconnect_sockets(std::string_view, const sio::adapter::broadcast_options&, bool) override {}
    void server_side_emit(std::string_view, json args, std::function<void(json)> ack) override {
        server_side.push_back(args);
        if (ack) ack(json("pong-" + name));
    }
    void broadcast_with_ack(const rd::wire_packet&, const sio::adapter::broadcast_options&, std::chrono::milliseconds,
                            std::function<void(std::size_t)> count, std::function<void(json)> ack) override {
        count(1);
        ack(json::array({"ack-" + name}));
    }
};

void start_all(std::initializer_list<std::shared_ptr<rd::cluster>> nodes) {
    for (const auto& n : nodes) {
        n->add_namespace("/");
        n->start();
    }
}

// Publishes `event` from `from` until `to` has a broadcast delivered (subscriptions settle
// asynchronously), and checks it is that event.
bool broadcast_arrives(asio::io_context& ioc, rd::cluster& from, const fake_node& to, const std::string& event) {
    for (int i = 0; i < 50 && to.delivered.empty(); ++i) {
        rd::wire_packet p;
        p.data = json::array({event, i});
        from.publish(p, {});
        run_until(ioc, [&] { return !to.delivered.empty(); }, 100ms);
    }
    return !to.delivered.empty() && to.delivered.front().first.data[0] == event;
}

bool logged(const std::vector<std::string>& log, std::string_view what) {
    return std::any_of(log.begin(), log.end(), [&](const std::string& l) { return l.find(what) != std::string::npos; });
}

TEST(redis_url, parses_host_port_and_db) {
    auto o = rd::parse_url("redis://10.0.0.5:6380/2");
    ASSERT_TRUE(o);
    EXPECT_EQ(o->host, "10.0.0.5");
    EXPECT_EQ(o->port, 6380);
    EXPECT_EQ(o->db, 2);
    auto d = rd::parse_url("redis://localhost");
    ASSERT_TRUE(d);
    EXPECT_EQ(d->port, 6379);
    EXPECT_EQ(d->db, 0);
    auto v6 = rd::parse_url("redis://[::1]:7000");
    ASSERT_TRUE(v6);
    EXPECT_EQ(v6->host, "::1");
    EXPECT_EQ(v6->port, 7000);
    EXPECT_FALSE(rd::parse_url("http://x:1"));
    EXPECT_FALSE(rd::parse_url("redis://:1"));
    EXPECT_FALSE(rd::parse_url("redis://x:0"));
    EXPECT_FALSE(rd::parse_url("redis://x:70000"));
    EXPECT_FALSE(rd::parse_url("redis://x:1/db"));
}

TEST(redis_url, parses_user_and_password) {
    auto p = rd::parse_url("redis://:p%40ss%20w%3A@h:7000/3");
    ASSERT_TRUE(p);
    EXPECT_EQ(p->username, "");
    EXPECT_EQ(p->password, "p@ss w:");
    EXPECT_EQ(p->host, "h");
    EXPECT_EQ(p->port, 7000);
    EXPECT_EQ(p->db, 3);
    auto u = rd::parse_url("redis://alice:a:b@c@[::1]");  // a raw '@' or ':' in the password is kept
    ASSERT_TRUE(u);
    EXPECT_EQ(u->username, "alice");
    EXPECT_EQ(u->password, "a:b@c");
    EXPECT_EQ(u->host, "::1");
    EXPECT_EQ(u->port, 6379);
    EXPECT_TRUE(rd::parse_url("redis://h")->password.empty());
    EXPECT_FALSE(rd::parse_url("redis://alice@h"));  // AUTH needs a password
    EXPECT_FALSE(rd::parse_url("redis://:@h"));
    EXPECT_FALSE(rd::parse_url("redis://:pw@"));
    EXPECT_FALSE(rd::parse_url("redis://:pw@:1"));
}

// A Redis with a password for its default user and an ACL user: nodes with either credential
// join the cluster and share broadcasts; a wrong password is reported as a refused AUTH and the
// node never counts as connected; a node without a password hears NOAUTH when it subscribes.
TEST(redis_cluster, authenticates_with_a_password_or_an_acl_user) {
    redis_process redis;
    ASSERT_TRUE(redis.start(0, {"--requirepass", "def pw", "--user", "alice", "on", ">alice@pw", "~*", "&*", "+@all"}))
        << "cannot start " << SIO_REDIS_SERVER;

    asio::io_context ioc;
    rd::options o;
    o.port = redis.port;
    o.request_timeout = 2000ms;
    o.backoff_max = 300ms;
    auto node_a = std::make_shared<fake_node>("A");
    auto node_b = std::make_shared<fake_node>("B");
    auto oa = o;
    oa.password = "def pw";
    auto ob = o;
    ob.username = "alice";
    ob.password = "alice@pw";
    std::vector<std::string> log_c;
    auto oc = o;
    oc.password = "x7-wr0ng";
    oc.log = [&](std::string_view l) { log_c.emplace_back(l); };
    std::vector<std::string> log_d;
    auto od = o;
    od.log = [&](std::string_view l) { log_d.emplace_back(l); };

    auto a = rd::cluster::create(ioc.get_executor(), oa, node_a);
    auto b = rd::cluster::create(ioc.get_executor(), ob, node_b);
    auto c = rd::cluster::create(ioc.get_executor(), oc, std::make_shared<fake_node>("C"));
    auto d = rd::cluster::create(ioc.get_executor(), od, std::make_shared<fake_node>("D"));
    start_all({a, b, c, d});
    ASSERT_TRUE(run_until(ioc, [&] { return a->snapshot().connected && b->snapshot().connected; }));
    EXPECT_TRUE(broadcast_arrives(ioc, *a, *node_b, "ev")) << "from the default user's node to the ACL user's";
    ASSERT_TRUE(run_until(ioc, [&] { return logged(log_c, "AUTH refused") && logged(log_d, "NOAUTH"); }));
    EXPECT_TRUE(logged(log_c, "WRONGPASS"));
    EXPECT_FALSE(c->snapshot().connected);
    for (const auto& l : log_c) EXPECT_EQ(l.find("x7-wr0ng"), std::string::npos) << "the password was logged: " << l;
    for (const auto& n : {a, b, c, d}) n->stop();
    ioc.run_for(50ms);
}

// rediss:// against a redis-server serving TLS only and asking for a client certificate (Redis's
// default), with one self-signed certificate for 127.0.0.1 as its certificate, its CA and the
// clients' certificate: nodes that verify the server against that CA and present the
// certificate share broadcasts, and so does one that does not verify; a node that trusts only
// the system's CAs fails verification, and one without a client certificate is refused once the
// TLS handshake is over (Redis's alert, or a reset, answers its PING); neither counts as
// connected, and each says why.
TEST(redis_cluster, connects_over_tls_verifying_the_server_with_a_client_certificate) {
    temp_dir dir;
    ASSERT_FALSE(dir.path.empty());
    const std::string cert = dir.path + "/cert.pem";
    const std::string key = dir.path + "/key.pem";
    ASSERT_EQ(run_quietly({SIO_OPENSSL, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                           "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=sio redis test", "-addext",
                           "subjectAltName=IP:127.0.0.1"}),
              0)
        << "cannot make a certificate with " << SIO_OPENSSL;
    redis_process redis;
    ASSERT_TRUE(redis.start(0, {"--tls-cert-file", cert, "--tls-key-file", key, "--tls-ca-cert-file", cert}, true))
        << "cannot start " << SIO_REDIS_SERVER << " with TLS";

    const auto context = [](sio::transport::tls_settings t) {
        std::string error;
        auto ctx = sio::transport::make_client_tls_context(t, error);
        EXPECT_TRUE(ctx) << error;
        return ctx;
    };
    sio::transport::tls_settings trusted;
    trusted.ca_file = cert;
    trusted.cert_file = cert;
    trusted.key_file = key;
    auto unverified = trusted;
    unverified.verify = false;
    unverified.ca_file.clear();
    auto system_store = trusted;
    system_store.ca_file.clear();
    auto anonymous = trusted;
    anonymous.cert_file.clear();
    anonymous.key_file.clear();

    asio::io_context ioc;
    auto url = rd::parse_url("rediss://127.0.0.1:" + std::to_string(redis.port));
    ASSERT_TRUE(url);
    EXPECT_TRUE(url->tls);
    rd::options o = *url;
    o.request_timeout = 2000ms;
    o.backoff_max = 300ms;
    const auto with = [&](sio::transport::tls_settings t, std::vector<std::string>* log = nullptr) {
        auto n = o;
        n.tls_verify = t.verify;
        n.tls_context = context(t);
        if (log) n.log = [log](std::string_view l) { log->emplace_back(l); };
        return n;
    };
    std::vector<std::string> log_c, log_d;
    auto node_a = std::make_shared<fake_node>("A");
    auto node_b = std::make_shared<fake_node>("B");
    auto a = rd::cluster::create(ioc.get_executor(), with(trusted), node_a);
    auto b = rd::cluster::create(ioc.get_executor(), with(unverified), node_b);
    auto c = rd::cluster::create(ioc.get_executor(), with(system_store, &log_c), std::make_shared<fake_node>("C"));
    auto d = rd::cluster::create(ioc.get_executor(), with(anonymous, &log_d), std::make_shared<fake_node>("D"));
    start_all({a, b, c, d});
    ASSERT_TRUE(run_until(ioc, [&] { return a->snapshot().connected && b->snapshot().connected; }));
    EXPECT_TRUE(broadcast_arrives(ioc, *a, *node_b, "over tls")) << "between the two TLS nodes";
    ASSERT_TRUE(run_until(ioc, [&] {
        return logged(log_c, "certificate verification failed") && logged(log_d, "client certificate");
    })) << (log_c.empty() ? "" : log_c.front()) << " / " << (log_d.empty() ? "" : log_d.front());
    EXPECT_FALSE(c->snapshot().connected);
    EXPECT_FALSE(d->snapshot().connected);
    EXPECT_FALSE(logged(log_d, "connected to 127.0.0.1:" + std::to_string(redis.port) + " over TLS"))
        << "refused after the handshake, yet counted as up";
    for (const auto& n : {a, b, c, d}) n->stop();
    ioc.run_for(50ms);
}

TEST(redis_cluster, two_nodes_share_broadcasts_and_requests_and_survive_a_restart) {
    redis_process redis;
    ASSERT_TRUE(redis.start()) << "cannot start " << SIO_REDIS_SERVER;

    asio::io_context ioc;
    auto node_a = std::make_shared<fake_node>("A");
    auto node_b = std::make_shared<fake_node>("B");
    std::vector<std::string> log_a;
    rd::options o;
    o.port = redis.port;
    o.request_timeout = 2000ms;
    o.backoff_max = 300ms;
    auto oa = o;
    oa.log = [&](std::string_view l) { log_a.emplace_back(l); };
    auto a = rd::cluster::create(ioc.get_executor(), oa, node_a);
    auto b = rd::cluster::create(ioc.get_executor(), o, node_b);
    a->add_namespace("/");
    b->add_namespace("/");
    a->start();
    b->start();
    ASSERT_TRUE(run_until(ioc, [&] { return a->snapshot().connected && b->snapshot().connected; }));
    EXPECT_NE(a->uid(), b->uid());

    // A broadcast reaches the other node only, binary and rooms intact. Retried until B's
    // subscription is in place (bounded).
    sio::adapter::broadcast_options bo;
    bo.rooms = {"r1"};
    bo.except = {"x"};
    for (int i = 0; i < 50 && node_b->delivered.empty(); ++i) {
        rd::wire_packet p;
        p.data = json::array({"ev", json::binary({1, 2, 3})});
        a->publish(p, bo);
        run_until(ioc, [&] { return !node_b->delivered.empty(); }, 100ms);
    }
    ASSERT_FALSE(node_b->delivered.empty());
    const auto& [packet, opts] = node_b->delivered.front();
    EXPECT_EQ(packet.data[0], "ev");
    ASSERT_TRUE(packet.data[1].is_binary());
    EXPECT_EQ(packet.data[1].get_binary().size(), 3u);
    EXPECT_EQ(opts.rooms, (std::set<std::string, std::less<>>{"r1"}));
    EXPECT_EQ(opts.except, (std::set<std::string, std::less<>>{"x"}));
    EXPECT_TRUE(opts.flags.local);
    run_until(ioc, [] { return false; }, 200ms);
    EXPECT_TRUE(node_a->delivered.empty()) << "a node got its own broadcast";

    // Requests: every node's answer merged with the asking node's own.
    std::optional<std::vector<std::string>> rooms;
    a->all_rooms("/", [&](std::vector<std::string> r) { rooms = std::move(r); });
    ASSERT_TRUE(run_until(ioc, [&] { return rooms.has_value(); }));
    std::sort(rooms->begin(), rooms->end());
    EXPECT_EQ(*rooms, (std::vector<std::string>{"room-A", "room-B", "sock-A", "sock-B"}));

    std::optional<json> sockets;
    sio::adapter::broadcast_options in_r9;
    in_r9.rooms = {"r9"};
    a->fetch_sockets("/", in_r9, [&](json s) { sockets = std::move(s); });
    ASSERT_TRUE(run_until(ioc, [&] { return sockets.has_value(); }));
    ASSERT_EQ(sockets->size(), 2u);
    EXPECT_EQ((*sockets)[1]["id"], "sock-B");
    EXPECT_EQ((*sockets)[1]["asked"], json::array({"r9"}));

    std::optional<json> answers;
    a->server_side_emit("/", json::array({"hello", 1}), [&](json r) { answers = std::move(r); });
    ASSERT_TRUE(run_until(ioc, [&] { return answers.has_value(); }));
    EXPECT_EQ(*answers, json::array({"pong-B"}));
    ASSERT_EQ(node_b->server_side.size(), 1u);
    EXPECT_EQ(node_b->server_side[0], json::array({"hello", 1}));
    EXPECT_TRUE(node_a->server_side.empty()) << "a node answered its own serverSideEmit";

    // Redis goes away: publishing is dropped, not queued; the node reconnects when Redis is back.
    const auto port = redis.port;
    redis.stop();
    ASSERT_TRUE(run_until(ioc, [&] { return !a->snapshot().connected; }));
    a->publish(rd::wire_packet{2, json::array({"lost"}), "/", std::nullopt}, {});
    EXPECT_GE(a->snapshot().dropped, 1u);
    EXPECT_GE(a->snapshot().outages, 1u);
    ASSERT_TRUE(redis.start(port));
    ASSERT_TRUE(run_until(ioc, [&] { return a->snapshot().connected && b->snapshot().connected; }, 10000ms));
    const auto before = node_b->delivered.size();
    for (int i = 0; i < 50 && node_b->delivered.size() == before; ++i) {
        a->publish(rd::wire_packet{2, json::array({"back"}), "/", std::nullopt}, {});
        run_until(ioc, [&] { return node_b->delivered.size() > before; }, 100ms);
    }
    ASSERT_GT(node_b->delivered.size(), before);
    EXPECT_EQ(node_b->delivered.back().first.data[0], "back");
    bool logged_loss = false;
    for (const auto& l : log_a) logged_loss = logged_loss || l.find("lost") != std::string::npos;
    EXPECT_TRUE(logged_loss);

    a->stop();
    b->stop();
    run_until(ioc, [] { return false; }, 100ms);
}

}  // namespace
