// What the four tools read alike from a command line: durations (500ms, 5s, 1m, 1h, a bare
// number in the flag's own unit), event arguments (JSON when it starts like JSON, else a string)
// binary values (one form in JSON, one for people), URLs, headers and listen addresses.
#include "common/argument.hpp"
#include "common/binary_display.hpp"
#include "common/cli.hpp"
#include "common/duration.hpp"
#include "common/listen_address.hpp"
#if SIO_TOOLS_NET
#include "common/net_options.hpp"
#include "sio/transport/url.hpp"
#endif

#include <fmt/core.h>
#include <gtest/gtest.h>

#include <chrono>

using namespace sio::tools;
using namespace std::chrono_literals;
using json = sio::codec::json;
namespace po = boost::program_options;

namespace {

std::optional<std::chrono::milliseconds> ms(std::string_view text) { return parse_duration(text, bare_unit::milliseconds); }
std::optional<std::chrono::milliseconds> sec(std::string_view text) { return parse_duration(text, bare_unit::seconds); }

std::string why_refused(std::string_view text) {
    std::string why;
    EXPECT_FALSE(parse_duration(text, bare_unit::milliseconds, &why)) << text << " was accepted";
    return why;
}

}  // namespace

TEST(tools_duration, parses_each_unit) {
    EXPECT_EQ(ms("250ms"), 250ms);
    EXPECT_EQ(ms("5s"), 5000ms);
    EXPECT_EQ(ms("2m"), 120000ms);
    EXPECT_EQ(ms("1h"), 3600000ms);
    EXPECT_EQ(ms("0s"), 0ms);
    EXPECT_EQ(ms("0"), 0ms);
    EXPECT_EQ(sec("1500ms"), 1500ms);  // a unit wins over the flag's bare unit
}

TEST(tools_duration, decimals_that_make_whole_milliseconds) {
    EXPECT_EQ(ms("1.5s"), 1500ms);
    EXPECT_EQ(ms("0.25s"), 250ms);
    EXPECT_EQ(ms("1.5m"), 90000ms);
    EXPECT_EQ(ms("0.001s"), 1ms);
    EXPECT_EQ(sec("1.5"), 1500ms);
    EXPECT_EQ(ms("2.0ms"), 2ms);
    EXPECT_EQ(why_refused("1.5ms"), "not a whole number of milliseconds");
    EXPECT_EQ(why_refused("0.0001s"), "not a whole number of milliseconds");
    EXPECT_EQ(why_refused("1.5"), "not a whole number of milliseconds");
}

TEST(tools_duration, a_bare_number_takes_the_flags_unit) {
    EXPECT_EQ(ms("2000"), 2000ms);
    EXPECT_EQ(sec("2"), 2000ms);
    EXPECT_EQ(sec("0"), 0ms);
}

TEST(tools_duration, refuses_each_bad_form_and_says_why) {
    EXPECT_EQ(why_refused(""), "empty");
    EXPECT_EQ(why_refused("-1s"), "negative");
    EXPECT_EQ(why_refused("-5"), "negative");
    EXPECT_EQ(why_refused("+5s"), "not a number");
    EXPECT_EQ(why_refused("s"), "no number");
    EXPECT_EQ(why_refused("ms"), "no number");
    EXPECT_EQ(why_refused(".5s"), "no number");
    EXPECT_EQ(why_refused("abc"), "no number");
    EXPECT_EQ(why_refused("1.s"), "no digit after '.'");
    EXPECT_EQ(why_refused("5 s"), "unknown unit ' s'");
    EXPECT_EQ(why_refused("2d"), "unknown unit 'd'");
    EXPECT_EQ(why_refused("1e3ms"), "unknown unit 'e3ms'");
    EXPECT_EQ(why_refused("5sec"), "unknown unit 'sec'");
    EXPECT_EQ(why_refused("1.2.3s"), "unknown unit '.3s'");
    EXPECT_EQ(why_refused("5S"), "unknown unit 'S'");
    EXPECT_FALSE(ms("5s "));
}

TEST(tools_duration, refuses_overflow_without_wrapping) {
    EXPECT_EQ(ms("1000000000000"), std::chrono::milliseconds(1'000'000'000'000));
    EXPECT_EQ(why_refused("1000000000001"), "too long");
    EXPECT_EQ(why_refused("99999999999999999999999999s"), "too long");
    EXPECT_EQ(why_refused("300000000h"), "too long");
    EXPECT_EQ(why_refused("1.0000000001s"), "too many digits");
}

TEST(tools_duration, formats_the_shortest_exact_unit) {
    EXPECT_EQ(format_duration(250ms), "250ms");
    EXPECT_EQ(format_duration(5000ms), "5s");
    EXPECT_EQ(format_duration(1500ms), "1500ms");
    EXPECT_EQ(format_duration(120000ms), "2m");
    EXPECT_EQ(format_duration(7200000ms), "2h");
    EXPECT_EQ(format_duration(0ms), "0ms");
    for (auto d : {1ms, 999ms, 61000ms, 3660000ms}) EXPECT_EQ(ms(format_duration(d)), d);
}

TEST(tools_duration, read_duration_names_the_flag_and_the_forms) {
    std::chrono::milliseconds d{};
    EXPECT_FALSE(read_duration("timeout", "2s", bare_unit::milliseconds, d));
    EXPECT_EQ(d, 2000ms);
    EXPECT_EQ(*read_duration("timeout", "soon", bare_unit::milliseconds, d),
              "--timeout 'soon': no number (use 500ms, 5s, 1m; a bare number is milliseconds)");
    EXPECT_EQ(*read_duration("duration", "-1", bare_unit::seconds, d),
              "--duration '-1': negative (use 500ms, 5s, 1m; a bare number is seconds)");
}

namespace {

// Parses `args` with one duration flag bound to `target`; the usage error's text, or "".
template <class T>
std::string parse_flag(std::initializer_list<const char*> args, bare_unit bare, T* target) {
    po::options_description d;
    d.add_options()("wait", duration_value("wait", bare, target), "how long");
    std::vector<const char*> argv{"tool"};
    argv.insert(argv.end(), args.begin(), args.end());
    po::variables_map vm;
    try {
        po::store(po::command_line_parser(static_cast<int>(argv.size()), argv.data()).options(d).run(), vm);
        po::notify(vm);
    } catch (const po::error& e) {
        return e.what();
    }
    return {};
}

}  // namespace

TEST(tools_duration, program_options_value) {
    std::chrono::milliseconds d{10s};
    EXPECT_EQ(parse_flag({}, bare_unit::seconds, &d), "");
    EXPECT_EQ(d, 10s);  // the default, shown and read back as "10s"
    EXPECT_EQ(parse_flag({"--wait", "1500ms"}, bare_unit::seconds, &d), "");
    EXPECT_EQ(d, 1500ms);
    EXPECT_EQ(parse_flag({"--wait", "3"}, bare_unit::seconds, &d), "");
    EXPECT_EQ(d, 3s);
    EXPECT_EQ(parse_flag({"--wait", "x"}, bare_unit::seconds, &d),
              "--wait 'x': no number (use 500ms, 5s, 1m; a bare number is seconds)");

    unsigned count_ms = 25000;
    EXPECT_EQ(parse_flag({"--wait", "2s"}, bare_unit::milliseconds, &count_ms), "");
    EXPECT_EQ(count_ms, 2000u);
    EXPECT_EQ(parse_flag({"--wait", "1m"}, bare_unit::milliseconds, &count_ms), "");
    EXPECT_EQ(count_ms, 60000u);
    EXPECT_EQ(parse_flag({"--wait", "250"}, bare_unit::milliseconds, &count_ms), "");
    EXPECT_EQ(count_ms, 250u);
    EXPECT_NE(parse_flag({"--wait", "50d"}, bare_unit::milliseconds, &count_ms).find("--wait '50d': unknown unit 'd'"),
              std::string::npos);
    // Fits a duration, not an unsigned count of milliseconds (49.7 days).
    EXPECT_NE(parse_flag({"--wait", "1200h"}, bare_unit::milliseconds, &count_ms).find("--wait '1200h': too long"),
              std::string::npos);
    EXPECT_EQ(count_ms, 250u);
}

TEST(tools_argument, what_starts_like_json) {
    for (auto text : {"{", "[1]", "\"a", "0", "42x", "-1", "-0.5", "true", "false", "null", "null]", "true,"}) {
        EXPECT_TRUE(looks_like_json(text)) << text;
    }
    for (auto text : {"", "hello", "-", "-x", "--ack", "nullable", "true_story", "False", "@hex:00", " {", "Null"}) {
        EXPECT_FALSE(looks_like_json(text)) << text;
    }
}

TEST(tools_argument, json_or_string) {
    std::string error;
    EXPECT_EQ(*parse_json_or_string("42", error), json(42));
    EXPECT_EQ(*parse_json_or_string("-1.5", error), json(-1.5));
    EXPECT_EQ(*parse_json_or_string("true", error), json(true));
    EXPECT_EQ(*parse_json_or_string("null", error), json(nullptr));
    EXPECT_EQ(*parse_json_or_string("\"42\"", error), json("42"));
    EXPECT_EQ(*parse_json_or_string(R"({"a":[1,2]})", error), json::parse(R"({"a":[1,2]})"));
    EXPECT_EQ(*parse_json_or_string("hello", error), json("hello"));
    EXPECT_EQ(*parse_json_or_string("hello world", error), json("hello world"));
    EXPECT_EQ(*parse_json_or_string("", error), json(""));
    EXPECT_EQ(*parse_json_or_string("nullable", error), json("nullable"));
    EXPECT_EQ(error, "");
}

TEST(tools_argument, json_that_does_not_parse_names_the_column) {
    std::string error;
    EXPECT_FALSE(parse_json_or_string(R"({"a":)", error));
    EXPECT_EQ(error.rfind("invalid JSON at column 6: ", 0), 0u) << error;
    EXPECT_FALSE(parse_json_or_string("[1,2", error));
    EXPECT_EQ(error.rfind("invalid JSON at column 5: ", 0), 0u) << error;
    EXPECT_FALSE(parse_json_or_string("3rd", error));
    EXPECT_EQ(error.rfind("invalid JSON at column 2: ", 0), 0u) << error;
    EXPECT_FALSE(parse_json_or_string("\"unterminated", error));
    EXPECT_NE(error.find("invalid JSON at column"), std::string::npos);
    EXPECT_FALSE(parse_json_or_string("[1] x", error));
    EXPECT_EQ(error.rfind("invalid JSON at column 5: ", 0), 0u) << error;
    EXPECT_FALSE(parse_json_or_string("null]", error));
}

using bytes = std::vector<std::uint8_t>;

TEST(tools_binary, json_form_is_base64_at_any_depth) {
    const json value = json::array({json::binary({1, 2, 0xfe}), json{{"name", "a"}, {"data", json::binary(bytes{})}}, 3});
    EXPECT_EQ(portable(value).dump(), R"([{"$binary":"AQL+"},{"name":"a","data":{"$binary":""}},3])");
}

TEST(tools_binary, json_form_reads_back_as_the_same_bytes) {
    const json value = json::array({json::binary({1, 2, 0xfe}), json{{"name", "a"}, {"data", json::binary({7})}}});
    std::string error;
    const auto back = from_portable(portable(value), error);
    ASSERT_TRUE(back) << error;
    EXPECT_EQ(*back, value);
    // The same through the argument rule: what --json prints can be typed back.
    const auto typed = parse_json_or_string(R"({"file":{"$binary":"AQL+"}})", error);
    ASSERT_TRUE(typed) << error;
    EXPECT_EQ((*typed)["file"], json::binary({1, 2, 0xfe}));
    // Only an object of exactly that one key with a string is binary.
    const auto other = parse_json_or_string(R"([{"$binary":"AQ==","x":1},{"$binary":1}])", error);
    ASSERT_TRUE(other) << error;
    EXPECT_TRUE((*other)[0].is_object());
    EXPECT_TRUE((*other)[1].is_object());
}

TEST(tools_binary, json_form_that_is_not_base64_is_an_error) {
    std::string error;
    EXPECT_FALSE(parse_json_or_string(R"([1,{"a":{"$binary":"%%"}}])", error));
    EXPECT_EQ(error.rfind(R"({"$binary": "%%"}: not base64)", 0), 0u) << error;
}

TEST(tools_binary, text_form_for_people) {
    EXPECT_EQ(binary_text(json::binary_t(bytes{})), "<0 bytes>");
    EXPECT_EQ(binary_text(json::binary_t(bytes{0x0a})), "<1 byte: 0a>");
    bytes many(20, 0xab);
    EXPECT_EQ(binary_text(json::binary_t(many)),
              "<20 bytes: ab ab ab ab ab ab ab ab ab ab ab ab ab ab ab ab ...>");
    const json value = json::array({"x\x1b[2J", json{{"f", json::binary({1, 2})}}});
    EXPECT_EQ(render_json(value, false), R"(["x\u001b[2J",{"f":<2 bytes: 01 02>}])");
    EXPECT_EQ(render_json(json::binary({1}), true), "\x1b[35m<1 byte: 01>\x1b[0m");
}

TEST(tools_listen_address, ip_and_port) {
    auto v4 = parse_listen_address("127.0.0.1:9100");
    ASSERT_TRUE(v4);
    EXPECT_EQ(v4->address().to_string(), "127.0.0.1");
    EXPECT_EQ(v4->port(), 9100);
    auto v6 = parse_listen_address("[::1]:0");
    ASSERT_TRUE(v6);
    EXPECT_TRUE(v6->address().is_v6());
    EXPECT_EQ(v6->port(), 0);
    EXPECT_EQ(parse_listen_address("0.0.0.0:65535")->port(), 65535);
    for (auto bad : {"", "9100", ":9100", "127.0.0.1", "127.0.0.1:", "localhost:9100", "127.0.0.1:65536",
                     "127.0.0.1:99999999999", "127.0.0.1:-1", "127.0.0.1:80x", "[::1:80", "1.2.3:80"}) {
        EXPECT_FALSE(parse_listen_address(bad)) << bad;
    }
}

#if SIO_TOOLS_NET
// One URL reader and one header reader for the tools (common/net_options.hpp, on the library's
// transport::parse_url): the error names what was given and why.
namespace {

std::string url_refused(std::string_view text, sio::tools::url_role role = sio::tools::url_role::server) {
    sio::transport::url u;
    std::string error;
    EXPECT_FALSE(sio::tools::read_url("URL", text, role, u, error)) << text << " was accepted";
    return error;
}

}  // namespace

TEST(tools_url, reads_scheme_host_port_path_query) {
    sio::transport::url u;
    std::string error;
    ASSERT_TRUE(sio::tools::read_url("URL", "HTTPS://Example.com:8443/admin?x=1#frag", sio::tools::url_role::server, u, error))
        << error;
    EXPECT_EQ(u.scheme, "https");
    EXPECT_TRUE(u.secure);
    EXPECT_EQ(u.host, "Example.com");
    EXPECT_EQ(u.port, "8443");
    EXPECT_EQ(u.path, "/admin");
    EXPECT_EQ(u.query, "x=1");
    ASSERT_TRUE(sio::tools::read_url("URL", "ws://[::1]:3000", sio::tools::url_role::server, u, error)) << error;
    EXPECT_EQ(u.host, "::1");
    EXPECT_EQ(u.port, "3000");
    EXPECT_EQ(u.path, "/");
    EXPECT_EQ(u.authority(), "[::1]:3000");
    ASSERT_TRUE(sio::tools::read_url("URL", "wss://h", sio::tools::url_role::server, u, error)) << error;
    EXPECT_EQ(u.port, "443");
    ASSERT_TRUE(sio::tools::read_url("URL", "http://h:65535", sio::tools::url_role::server, u, error)) << error;
    EXPECT_EQ(u.port, "65535");
}

TEST(tools_url, bad_urls_are_refused_with_the_reason) {
    EXPECT_EQ(url_refused("localhost:3000"),
              "URL 'localhost:3000': not an absolute URL (expected http://, https://, ws:// or wss://)");
    EXPECT_EQ(url_refused("ftp://h"), "URL 'ftp://h': unsupported URL scheme 'ftp' (expected http, https, ws or wss)");
    EXPECT_EQ(url_refused("http://"), "URL 'http://': no host");
    EXPECT_EQ(url_refused("http://:3000/x"), "URL 'http://:3000/x': no host");
    EXPECT_EQ(url_refused("http://h:0"), "URL 'http://h:0': invalid port '0' (expected 1 to 65535)");
    EXPECT_EQ(url_refused("http://h:65536"), "URL 'http://h:65536': invalid port '65536' (expected 1 to 65535)");
    EXPECT_EQ(url_refused("http://h:99999999999"),
              "URL 'http://h:99999999999': invalid port '99999999999' (expected 1 to 65535)");
    EXPECT_EQ(url_refused("http://h:3k"), "URL 'http://h:3k': invalid port '3k' (expected 1 to 65535)");
    EXPECT_EQ(url_refused("http://h:-1"), "URL 'http://h:-1': invalid port '-1' (expected 1 to 65535)");
    EXPECT_EQ(url_refused("http://::1:3000"), "URL 'http://::1:3000': an IPv6 address goes in brackets: [::1]:3000");
    EXPECT_EQ(url_refused("http://[::1:3000"),
              "URL 'http://[::1:3000': unterminated IPv6 address (expected [ADDRESS]:PORT)");
    EXPECT_EQ(url_refused("http://[::1]3000"),
              "URL 'http://[::1]3000': unexpected text after the IPv6 address (expected [ADDRESS]:PORT)");
    // Credentials are not sent from a server URL; a proxy's are (Proxy-Authorization).
    EXPECT_EQ(url_refused("http://alice:secret@h:3000"),
              "URL 'http://alice:secret@h:3000': user information (USER:PASSWORD@) is not sent to a server; use -H "
              "'Authorization: ...'");
    sio::transport::url u;
    std::string error;
    ASSERT_TRUE(sio::tools::read_url("--proxy", "http://alice:s%40cret@proxy:3128", sio::tools::url_role::proxy, u, error))
        << error;
    EXPECT_EQ(u.user, "alice");
    EXPECT_EQ(u.password, "s@cret");
    EXPECT_EQ(url_refused("socks5://p:1", sio::tools::url_role::proxy),
              "URL 'socks5://p:1': a proxy is an http://[USER:PASSWORD@]HOST:PORT URL");
    EXPECT_EQ(url_refused("https://p:1", sio::tools::url_role::proxy),
              "URL 'https://p:1': a proxy is an http://[USER:PASSWORD@]HOST:PORT URL");
    EXPECT_EQ(url_refused("http://p:0", sio::tools::url_role::proxy), "URL 'http://p:0': invalid port '0' (expected 1 to 65535)");
}

TEST(tools_header, name_colon_value) {
    std::vector<std::pair<std::string, std::string>> headers;
    std::string error;
    ASSERT_TRUE(sio::tools::read_headers({"Authorization:  Bearer x y ", "X-Empty:", "X-Url: http://a:1"}, headers, error))
        << error;
    ASSERT_EQ(headers.size(), 3u);
    EXPECT_EQ(headers[0], (std::pair<std::string, std::string>{"Authorization", "Bearer x y"}));
    EXPECT_EQ(headers[1].second, "");
    EXPECT_EQ(headers[2].second, "http://a:1");
    for (auto bad : {"NoColon", ": value", "Bad Name: v", "X: a\r\nInjected: 1", "X: a\nb"}) {
        headers.clear();
        EXPECT_FALSE(sio::tools::read_headers({"Ok: 1", bad}, headers, error)) << bad;
        EXPECT_EQ(error, fmt::format("-H '{}': expected 'Name: value'", bad));
    }
}
#endif
