// sio-cli: what the checked flags become (the library's options, the namespace, the mode).
#include "sio-cli/core/options.hpp"

#include <gtest/gtest.h>

#include <cstdlib>

using namespace sio::cli;
using namespace std::chrono_literals;

namespace {

run_plan plan_of(const cli_options& o) {
    run_plan p;
    auto error = make_plan(o, p);
    EXPECT_FALSE(error) << *error;
    return p;
}

cli_options url(std::string u) {
    cli_options o;
    o.url = std::move(u);
    return o;
}

}  // namespace

TEST(cli_plan, url_path_names_the_namespace_and_the_query_stays) {
    auto p = plan_of(url("http://127.0.0.1:3000/admin?token=x&y=1#frag"));
    EXPECT_FALSE(p.raw);
    EXPECT_EQ(p.nsp, "/admin");
    EXPECT_EQ(p.client.url, "http://127.0.0.1:3000/?token=x&y=1");
    EXPECT_EQ(p.client.path, "/socket.io/");
    auto q = plan_of(url("https://example.com"));
    EXPECT_EQ(q.nsp, "/");
    EXPECT_EQ(q.client.url, "https://example.com");
    // An IPv6 host keeps its brackets; the default port is left out.
    EXPECT_EQ(plan_of(url("http://[::1]:3000/admin")).client.url, "http://[::1]:3000");
    EXPECT_EQ(plan_of(url("ws://[::1]:80/x")).ws.url, "ws://[::1]:80/x");
    EXPECT_EQ(plan_of(url("https://[::1]:443?a=1")).client.url, "https://[::1]/?a=1");
    auto o = url("http://h/admin");
    o.nsp = "chat";
    EXPECT_EQ(plan_of(o).nsp, "/chat");
}

TEST(cli_plan, connection_flags_reach_the_client_options) {
    auto o = url("http://h:1");
    o.transport = "polling";
    o.query = {"a=1", "b"};
    o.headers = {"X-One: 1"};
    o.auth = R"({"token":"t"})";
    o.eio = 4;
    o.insecure = true;
    o.ca = "ca.pem";
    o.no_reconnect = true;
    o.connect_timeout = "3s";
    o.timeout = "750ms";
    o.proxy = "none";
    auto p = plan_of(o);
    EXPECT_EQ(p.client.transport, sio::client_transport::polling);
    EXPECT_EQ(p.client.query, (std::vector<std::pair<std::string, std::string>>{{"a", "1"}, {"b", ""}}));
    EXPECT_EQ(p.client.headers, (std::vector<std::pair<std::string, std::string>>{{"X-One", "1"}}));
    EXPECT_EQ(p.auth, sio::json::parse(R"({"token":"t"})"));
    EXPECT_FALSE(p.client.tls.verify);
    EXPECT_EQ(p.client.tls.ca_file, "ca.pem");
    EXPECT_FALSE(p.client.reconnection.enabled);
    EXPECT_EQ(p.client.connect_timeout, 3000ms);
    EXPECT_EQ(p.ack_timeout, 750ms);
    EXPECT_EQ(p.timeout, 750ms);
    EXPECT_EQ(p.client.proxy, "");
}

TEST(cli_plan, reconnection_and_eio3) {
    auto o = url("http://h");
    o.reconnect_attempts = 4;
    o.reconnect_delay = "200ms";
    o.reconnect_delay_max = "2s";
    o.eio = 3;
    auto p = plan_of(o);
    EXPECT_TRUE(p.explicit_attempts);
    EXPECT_EQ(p.client.reconnection.max_attempts, 4u);
    EXPECT_EQ(p.client.reconnection.delay, 200ms);
    EXPECT_EQ(p.client.reconnection.delay_max, 2000ms);
    EXPECT_EQ(p.client.eio_version, 3);
    EXPECT_EQ(p.client.decoder.version, sio::codec::socketio::protocol::v4);
    EXPECT_EQ(p.ack_timeout, 10000ms);  // the default
    EXPECT_FALSE(p.timeout);
}

TEST(cli_plan, ws_urls_and_raw_mean_plain_websocket) {
    auto p = plan_of(url("wss://h/feed"));
    EXPECT_TRUE(p.raw);
    EXPECT_EQ(p.ws.url, "wss://h/feed");
    auto o = url("http://h/x");
    o.raw = true;
    o.subprotocols = {"chat"};
    o.headers = {"A: b"};
    auto q = plan_of(o);
    EXPECT_TRUE(q.raw);
    EXPECT_EQ(q.ws.subprotocols, std::vector<std::string>{"chat"});
    EXPECT_EQ(q.ws.headers.size(), 1u);
}

TEST(cli_plan, scripting_flags) {
    auto o = url("http://h");
    o.emit = {"chat message", "hi", "{\"a\":1}"};
    o.ack = true;
    o.wait_for = "reply*";
    o.count = 3;
    o.json = true;
    o.only = {"a*"};
    auto p = plan_of(o);
    ASSERT_TRUE(p.emit);
    EXPECT_EQ(p.emit->front(), "chat message");
    EXPECT_TRUE(p.ack);
    EXPECT_EQ(p.wait_for, "reply*");
    EXPECT_EQ(p.count, 3u);
    EXPECT_TRUE(p.json_output);
    EXPECT_FALSE(p.color);  // never with --json
    EXPECT_TRUE(p.filter.shown("abc"));
    EXPECT_FALSE(p.filter.shown("b"));
}

TEST(cli_plan, history_file_follows_xdg_state_home) {
    const char* old_state = std::getenv("XDG_STATE_HOME");
    const std::string saved = old_state != nullptr ? old_state : "";
    ::setenv("XDG_STATE_HOME", "/tmp/state-dir", 1);
    EXPECT_EQ(default_history_file(), "/tmp/state-dir/sio/cli_history");
    ::setenv("XDG_STATE_HOME", "relative/ignored", 1);
    ::setenv("HOME", "/home/someone", 1);
    EXPECT_EQ(default_history_file(), "/home/someone/.local/state/sio/cli_history");
    auto o = url("http://h");
    o.history_file = "/x/h";
    EXPECT_EQ(plan_of(o).history_file, "/x/h");
    if (old_state != nullptr) ::setenv("XDG_STATE_HOME", saved.c_str(), 1);
    else ::unsetenv("XDG_STATE_HOME");
}

TEST(cli_plan, durations_take_every_form_and_a_bare_number_is_milliseconds) {
    auto o = url("http://h");
    o.connect_timeout = "1m";
    o.timeout = "2500";
    o.reconnect_delay = "1.5s";
    o.reconnect_delay_max = "3000";
    auto p = plan_of(o);
    EXPECT_EQ(p.client.connect_timeout, 60000ms);
    EXPECT_EQ(p.timeout, 2500ms);
    EXPECT_EQ(p.client.reconnection.delay, 1500ms);
    EXPECT_EQ(p.client.reconnection.delay_max, 3000ms);

    run_plan q;
    o.timeout = "soon";
    EXPECT_EQ(make_plan(o, q), "--timeout 'soon': no number (use 500ms, 5s, 1m; a bare number is milliseconds)");
    o.timeout = "1h";
    o.connect_timeout = "-2s";
    EXPECT_EQ(make_plan(o, q), "--connect-timeout '-2s': negative (use 500ms, 5s, 1m; a bare number is milliseconds)");
}

TEST(cli_plan, an_emit_argument_that_starts_like_json_must_be_json) {
    auto o = url("http://h");
    o.emit = {"echo", "hello", "{\"a\":"};
    run_plan p;
    auto error = make_plan(o, p);
    ASSERT_TRUE(error);
    EXPECT_EQ(error->rfind("--emit: argument 2: invalid JSON at column 6: ", 0), 0u) << *error;
    o.emit = {"echo", "hello", "nullable", "@home"};
    EXPECT_FALSE(make_plan(o, p));
}
