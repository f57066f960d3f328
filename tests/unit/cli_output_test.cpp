// sio-cli: what it prints (--json objects, lines for people), neutralised terminal escapes,
// event filters and tab completion.
#include "sio-cli/core/completion.hpp"
#include "sio-cli/core/filter.hpp"
#include "sio-cli/core/format.hpp"

#include <gtest/gtest.h>

#include <regex>

using namespace sio::cli;

TEST(cli_neutralize, escapes_controls_c1_and_bidi_but_keeps_text) {
    EXPECT_EQ(neutralize("plain héllo ✓"), "plain héllo ✓");
    EXPECT_EQ(neutralize("\x1b[2Jboom"), "\\u001b[2Jboom");
    EXPECT_EQ(neutralize("a\nb\tc\rd"), "a\\nb\\tc\\rd");
    EXPECT_EQ(neutralize("\x7f"), "\\u007f");
    EXPECT_EQ(neutralize("\xc2\x9b" "31m"), "\\u009b31m");       // C1 CSI
    EXPECT_EQ(neutralize("x\xe2\x80\xaey"), "x\\u202ey");          // RIGHT-TO-LEFT OVERRIDE
    EXPECT_EQ(neutralize("\xff\xc3"), "\xef\xbf\xbd\xef\xbf\xbd");  // not UTF-8
    EXPECT_EQ(neutralize("\xed\xa0\x80"), "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");  // surrogate
}

TEST(cli_format, json_record_has_exactly_the_documented_shape) {
    record r;
    r.ts = std::chrono::system_clock::time_point(std::chrono::milliseconds(1700000000123));
    r.dir = "in";
    r.nsp = "/admin";
    r.type = "event";
    r.event = "chat message";
    r.args = json::array({"hi", json::binary({1, 2, 3})});
    r.id = 7;
    r.transport = "websocket";
    const auto line = format_json(r);
    EXPECT_EQ(line, R"({"ts":1700000000123,"dir":"in","nsp":"/admin","type":"event","event":"chat message",)"
                    R"("args":["hi",{"$binary":"AQID"}],"id":7,"transport":"websocket"})");
    record info;
    info.type = "error";
    info.args = json::array({"ack timeout"});
    const auto parsed = json::parse(format_json(info));
    EXPECT_TRUE(parsed["event"].is_null());
    EXPECT_TRUE(parsed["id"].is_null());
    EXPECT_TRUE(parsed["transport"].is_null());
    EXPECT_EQ(parsed["dir"], "info");
    EXPECT_EQ(parsed.size(), 8u);
}

TEST(cli_format, json_record_neutralises_yet_stays_json) {
    record r;
    r.event = "e\x1b]0;pwned\x07";
    r.args = json::array({"\xc2\x9b" "2J", "caf\xc3\xa9", std::string("\xff")});
    const auto line = format_json(r);
    EXPECT_EQ(line.find('\x1b'), std::string::npos);
    EXPECT_EQ(line.find("\xc2\x9b"), std::string::npos);
    const auto parsed = json::parse(line);
    EXPECT_EQ(parsed["event"], "e\x1b]0;pwned\x07");
    EXPECT_EQ(parsed["args"][0], "\xc2\x9b" "2J");
    EXPECT_EQ(parsed["args"][1], "caf\xc3\xa9");
    EXPECT_EQ(parsed["args"][2], "\xef\xbf\xbd");
}

TEST(cli_format, human_line_shows_time_namespace_event_args_and_ack_id) {
    record r;
    r.dir = "in";
    r.nsp = "/";
    r.event = "chat message";
    r.args = json::parse(R"([{"text":"hi","n":1,"ok":true,"x":null}])");
    r.id = 3;
    const auto plain = format_human(r, false);
    EXPECT_TRUE(std::regex_match(plain, std::regex(R"(\d\d:\d\d:\d\d\.\d\d\d / <- chat message \{"text":"hi","n":1,"ok":true,"x":null\} #3)")))
        << plain;
    const auto coloured = format_human(r, true);
    EXPECT_NE(coloured.find("\x1b[32m\"hi\"\x1b[0m"), std::string::npos) << coloured;
    EXPECT_NE(coloured.find("\x1b[34m\"text\"\x1b[0m"), std::string::npos);
    EXPECT_NE(coloured.find("\x1b[33m1\x1b[0m"), std::string::npos);

    record out;
    out.dir = "out";
    out.type = "ack";
    out.args = json::array({json::binary({0xde, 0xad})});
    EXPECT_NE(format_human(out, false).find("/ -> ack <2 bytes: de ad>"), std::string::npos);
}

TEST(cli_format, human_line_never_carries_escapes_from_the_network) {
    record r;
    r.dir = "in";
    r.nsp = "/\x1b[31m";
    r.event = "\x1b[2J";
    r.args = json::array({"\x1b]52;c;AAAA\x07", json{{"\x1b[1mkey", "\xc2\x9b"}}});
    for (bool color : {false, true}) {
        auto line = format_human(r, color);
        // Strip our own colour codes, then no ESC (or C1 CSI) may remain.
        line = std::regex_replace(line, std::regex("\x1b\\[[0-9;]*m"), "");
        EXPECT_EQ(line.find('\x1b'), std::string::npos) << line;
        EXPECT_EQ(line.find('\x07'), std::string::npos) << line;
        EXPECT_EQ(line.find("\xc2\x9b"), std::string::npos) << line;
    }
    record info;
    info.text = "server said \x1b[5mhi";
    EXPECT_NE(format_human(info, false).find("-- server said \\u001b[5mhi"), std::string::npos);
}

TEST(cli_glob, matches_like_a_shell) {
    EXPECT_TRUE(glob_match("*", ""));
    EXPECT_TRUE(glob_match("chat*", "chat message"));
    EXPECT_TRUE(glob_match("*message", "chat message"));
    EXPECT_TRUE(glob_match("user ?onnected", "user connected"));
    EXPECT_TRUE(glob_match("[cm]ark", "mark"));
    EXPECT_TRUE(glob_match("[a-c]x", "bx"));
    EXPECT_FALSE(glob_match("[!a-c]x", "bx"));
    EXPECT_TRUE(glob_match("a\\*", "a*"));
    EXPECT_FALSE(glob_match("a\\*", "ab"));
    EXPECT_TRUE(glob_match("[x", "[x"));
    EXPECT_FALSE(glob_match("chat", "chat message"));
    EXPECT_FALSE(glob_match("?", ""));
    EXPECT_TRUE(glob_match("*a*b*c*", "xxaxxbxxcxx"));
    EXPECT_FALSE(glob_match("*a*b*c*d", std::string(40, 'a') + "bc"));
}

TEST(cli_filter, only_and_ignore_patterns) {
    event_filter all;
    EXPECT_TRUE(all.shown("anything"));
    event_filter f({"chat*", "user*"}, {"user disconnected"});
    EXPECT_TRUE(f.shown("chat message"));
    EXPECT_TRUE(f.shown("user connected"));
    EXPECT_FALSE(f.shown("user disconnected"));
    EXPECT_FALSE(f.shown("typing"));
}

TEST(cli_filter, repl_on_and_off) {
    event_filter f;
    f.off("typing");
    EXPECT_FALSE(f.shown("typing"));
    EXPECT_TRUE(f.shown("chat message"));
    f.on("typing");
    EXPECT_TRUE(f.shown("typing"));
    f.off("*");
    EXPECT_FALSE(f.shown("chat message"));
    f.on("chat*");
    EXPECT_TRUE(f.shown("chat message"));
    EXPECT_FALSE(f.shown("typing"));
    f.off("chat*");
    EXPECT_FALSE(f.shown("chat message"));
    f.on("*");
    EXPECT_TRUE(f.shown("typing"));
    EXPECT_TRUE(f.shown("chat message"));
}

TEST(cli_complete, commands_then_events_then_namespaces) {
    const std::vector<std::string> events{"chat message", "echo", "chat typing", "user connected"};
    auto c = complete("em", events, {});
    EXPECT_EQ(c.insert, "emit ");
    EXPECT_EQ(c.erase, 2u);
    c = complete("emit ec", events, {});
    EXPECT_EQ(c.insert, "echo ");
    EXPECT_EQ(c.erase, 2u);
    c = complete("emit us", events, {});
    EXPECT_EQ(c.insert, "\"user connected\" ");
    c = complete("emit ch", events, {});
    EXPECT_EQ(c.matches, (std::vector<std::string>{"\"chat message\"", "\"chat typing\""}));
    EXPECT_EQ(c.insert, "\"chat ");
    c = complete("emit \"chat m", events, {});
    EXPECT_EQ(c.insert, "\"chat message\" ");
    EXPECT_EQ(c.erase, 7u);
    c = complete("emit --ack=2s ec", events, {});
    EXPECT_EQ(c.insert, "echo ");
    c = complete("on ", events, {});
    EXPECT_EQ(c.matches.size(), 5u);  // four events and *
    c = complete("ns /a", events, {"/", "/admin"});
    EXPECT_EQ(c.insert, "/admin ");
    // Arguments are not completed.
    c = complete("emit echo ec", events, {});
    EXPECT_TRUE(c.matches.empty());
    c = complete("emit zz", events, {});
    EXPECT_TRUE(c.matches.empty());
    EXPECT_TRUE(c.insert.empty());
}
