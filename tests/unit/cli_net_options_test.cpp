// sio-cli: headers, query pairs, proxy selection from flags and the environment, and
// the exit code each failure maps to.
#include "common/net_options.hpp"

#include "sio/client.hpp"
#include "sio/socket_error.hpp"

#include <gtest/gtest.h>

#include <map>

using namespace sio::tools;

TEST(cli_options, header_name_and_value) {
    auto h = parse_header("Authorization:  Bearer x y ");
    ASSERT_TRUE(h);
    EXPECT_EQ(h->first, "Authorization");
    EXPECT_EQ(h->second, "Bearer x y");
    EXPECT_EQ(parse_header("X-Empty:")->second, "");
    EXPECT_FALSE(parse_header("no colon"));
    EXPECT_FALSE(parse_header(": value"));
    EXPECT_FALSE(parse_header("Bad Name: v"));
    EXPECT_FALSE(parse_header("X: a\r\nInjected: 1"));
}

TEST(cli_options, query_pairs) {
    EXPECT_EQ(*parse_query("a=b=c"), (std::pair<std::string, std::string>{"a", "b=c"}));
    EXPECT_EQ(*parse_query("flag"), (std::pair<std::string, std::string>{"flag", ""}));
    EXPECT_FALSE(parse_query("=x"));
    EXPECT_FALSE(parse_query(""));
}

TEST(cli_options, no_proxy_lists) {
    EXPECT_TRUE(no_proxy_matches("*", "anything"));
    EXPECT_TRUE(no_proxy_matches("localhost,127.0.0.1", "127.0.0.1"));
    EXPECT_TRUE(no_proxy_matches("example.com", "api.example.com"));
    EXPECT_TRUE(no_proxy_matches(" .example.com ", "example.com"));
    EXPECT_TRUE(no_proxy_matches("example.com:443", "EXAMPLE.com"));
    EXPECT_FALSE(no_proxy_matches("example.com", "badexample.com"));
    EXPECT_FALSE(no_proxy_matches("", "h"));
}

TEST(cli_options, proxy_from_flag_then_environment) {
    std::map<std::string, std::string> vars{{"https_proxy", "http://sp:1"}, {"HTTP_PROXY", "http://p:2"},
                                            {"no_proxy", "internal.lan"}};
    auto env = [&](const char* name) -> const char* {
        auto it = vars.find(name);
        return it == vars.end() ? nullptr : it->second.c_str();
    };
    EXPECT_EQ(select_proxy("https://h/", std::nullopt, env), "http://sp:1");
    EXPECT_EQ(select_proxy("wss://h/", std::nullopt, env), "http://sp:1");
    EXPECT_EQ(select_proxy("http://h/", std::nullopt, env), "http://p:2");
    EXPECT_EQ(select_proxy("http://a.internal.lan/", std::nullopt, env), "");
    EXPECT_EQ(select_proxy("http://h/", std::string("http://flag:3"), env), "http://flag:3");
    EXPECT_EQ(select_proxy("http://h/", std::string("none"), env), "");
    vars.clear();
    EXPECT_EQ(select_proxy("http://h/", std::nullopt, env), "");
}

namespace {

// A stand-in with the network library's category name, so the mapping is checked without it.
struct fake_category : std::error_category {
    const char* n;
    explicit fake_category(const char* name) : n(name) {}
    const char* name() const noexcept override { return n; }
    std::string message(int) const override { return "x"; }
};

}  // namespace

TEST(cli_options, exit_codes_for_each_failure) {
    static const fake_category client("sio.client");
    static const fake_category socket("sio.socket");
    auto code = [](sio::client_errc e) { return exit_code_for({static_cast<int>(e), client}); };
    EXPECT_EQ(exit_code_for({}), 0);
    EXPECT_EQ(code(sio::client_errc::bad_url), 2);
    EXPECT_EQ(code(sio::client_errc::resolve_failed), 3);
    EXPECT_EQ(code(sio::client_errc::connect_failed), 3);
    EXPECT_EQ(code(sio::client_errc::timeout), 3);
    EXPECT_EQ(code(sio::client_errc::proxy_failed), 3);
    EXPECT_EQ(code(sio::client_errc::handshake_failed), 3);
    EXPECT_EQ(code(sio::client_errc::tls_failed), 4);
    EXPECT_EQ(code(sio::client_errc::connect_error), 5);
    EXPECT_EQ(code(sio::client_errc::transport_closed), 1);
    EXPECT_EQ(exit_code_for({static_cast<int>(sio::socket_errc::ack_timeout), socket}), 6);
    EXPECT_EQ(exit_code_for({static_cast<int>(sio::socket_errc::disconnected), socket}), 1);
    EXPECT_EQ(exit_code_for(std::make_error_code(std::errc::connection_refused)), 1);
}
