// sio-cli: REPL commands, NDJSON lines and event arguments as typed (durations and the JSON-or-string
// rule itself: tools_grammar_test.cpp).
#include "sio-cli/core/command.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

using namespace sio::cli;
using namespace std::chrono_literals;

namespace {

command parsed(std::string_view line) {
    auto r = parse_input_line(line);
    EXPECT_TRUE(r.value) << line << ": " << r.error;
    return r.value.value_or(command{});
}

std::vector<std::uint8_t> bytes(const json& v) { return static_cast<const std::vector<std::uint8_t>&>(v.get_binary()); }

std::string refused(std::string_view line) {
    auto r = parse_input_line(line);
    EXPECT_FALSE(r.value) << line << " was accepted";
    return r.error;
}

}  // namespace

TEST(cli_arg, json_when_it_parses_else_the_word) {
    std::string error;
    EXPECT_EQ(*parse_arg("42", error), json(42));
    EXPECT_EQ(*parse_arg("true", error), json(true));
    EXPECT_EQ(*parse_arg("null", error), json(nullptr));
    EXPECT_EQ(*parse_arg("\"42\"", error), json("42"));
    EXPECT_EQ(*parse_arg("hello", error), json("hello"));
    EXPECT_EQ(*parse_arg("{\"a\":[1,2]}", error), json::parse(R"({"a":[1,2]})"));
    EXPECT_EQ(*parse_arg("nullable", error), json("nullable"));
    EXPECT_FALSE(parse_arg("{broken", error));
    EXPECT_NE(error.find("invalid JSON at column 2"), std::string::npos) << error;
}

TEST(cli_arg, binary_from_hex_base64_and_file) {
    std::string error;
    auto hex = parse_arg("@hex:0102fF", error);
    ASSERT_TRUE(hex && hex->is_binary());
    EXPECT_EQ(bytes(*hex), (std::vector<std::uint8_t>{1, 2, 255}));
    auto b64 = parse_arg("@base64:AQID", error);
    ASSERT_TRUE(b64 && b64->is_binary());
    EXPECT_EQ(bytes(*b64), (std::vector<std::uint8_t>{1, 2, 3}));

    const std::string path = testing::TempDir() + "cli_arg_binary.bin";
    std::ofstream(path, std::ios::binary) << std::string("\0\x01z", 3);
    auto file = parse_arg("@file:" + path, error);
    ASSERT_TRUE(file && file->is_binary());
    EXPECT_EQ(bytes(*file), (std::vector<std::uint8_t>{0, 1, 'z'}));
    std::remove(path.c_str());

    EXPECT_FALSE(parse_arg("@hex:abc", error));
    EXPECT_NE(error.find("odd number"), std::string::npos);
    EXPECT_FALSE(parse_arg("@hex:zz", error));
    EXPECT_FALSE(parse_arg("@base64:A", error));
    EXPECT_FALSE(parse_arg("@file:/nonexistent/sio-cli-test", error));
    EXPECT_NE(error.find("cannot read"), std::string::npos);
    // Other words starting with '@' are plain strings.
    EXPECT_EQ(*parse_arg("@alice", error), json("@alice"));
}

TEST(cli_words, json_values_with_blanks_stay_one_word) {
    std::vector<std::string> words;
    std::string error;
    ASSERT_TRUE(split_words(R"( "chat message"  {"a": [1, "x y"]}  [1, 2] plain "esc\"aped" )", words, error));
    EXPECT_EQ(words, (std::vector<std::string>{R"("chat message")", R"({"a": [1, "x y"]})", "[1, 2]", "plain",
                                               R"("esc\"aped")"}));
}

TEST(cli_words, unterminated_and_glued_values_are_refused) {
    std::vector<std::string> words;
    std::string error;
    EXPECT_FALSE(split_words(R"({"a": 1)", words, error));
    EXPECT_NE(error.find("unterminated object"), std::string::npos);
    EXPECT_FALSE(split_words(R"("abc)", words, error));
    EXPECT_NE(error.find("unterminated string"), std::string::npos);
    EXPECT_FALSE(split_words(R"("abc"def)", words, error));
    EXPECT_NE(error.find("unexpected 'd'"), std::string::npos);
}

TEST(cli_command, emit_with_bare_quoted_and_json_arguments) {
    auto c = parsed(R"(emit "chat message" hello 42 {"room": "a b"} [1] "7")");
    EXPECT_EQ(c.kind, command_kind::emit);
    EXPECT_EQ(c.event, "chat message");
    EXPECT_EQ(c.args, json::parse(R"(["hello", 42, {"room": "a b"}, [1], "7"])"));
    EXPECT_FALSE(c.ack);
    EXPECT_TRUE(c.nsp.empty());
}

TEST(cli_command, emit_ack_with_and_without_timeout) {
    auto a = parsed("emit --ack echo hi");
    EXPECT_TRUE(a.ack);
    EXPECT_FALSE(a.ack_timeout);
    EXPECT_EQ(a.event, "echo");
    auto b = parsed("emit --ack=250ms echo");
    EXPECT_TRUE(b.ack);
    EXPECT_EQ(b.ack_timeout, 250ms);
    EXPECT_EQ(b.args, json::array());
    EXPECT_NE(refused("emit --ack=soon echo").find("not a duration"), std::string::npos);
    // A bare number is milliseconds, as for sio-cli's flags.
    EXPECT_EQ(parsed("emit --ack=1500 echo").ack_timeout, 1500ms);
    EXPECT_NE(refused("emit --loud echo").find("unknown option '--loud'"), std::string::npos);
}

TEST(cli_command, emit_refuses_missing_and_reserved_names) {
    EXPECT_NE(refused("emit").find("needs an event name"), std::string::npos);
    EXPECT_NE(refused("emit --ack").find("needs an event name"), std::string::npos);
    EXPECT_NE(refused("emit connect").find("reserved"), std::string::npos);
    EXPECT_NE(refused("emit \"disconnect\" x").find("reserved"), std::string::npos);
    EXPECT_NE(refused("emit \"\"").find("empty event name"), std::string::npos);
    EXPECT_NE(refused("emit x {oops").find("unterminated"), std::string::npos);
    // The same rule as --emit: text that starts like JSON must be JSON, and the error says where.
    EXPECT_NE(refused("emit x ok 3rd").find("argument 2: invalid JSON at column 2"), std::string::npos);
}

TEST(cli_command, on_off_ns_and_the_simple_commands) {
    EXPECT_EQ(parsed("on *").event, "*");
    EXPECT_EQ(parsed("on *").kind, command_kind::on);
    auto off = parsed("off \"user connected\"");
    EXPECT_EQ(off.kind, command_kind::off);
    EXPECT_EQ(off.event, "user connected");
    EXPECT_NE(refused("on").find("one event name"), std::string::npos);
    EXPECT_NE(refused("on a b").find("one event name"), std::string::npos);

    EXPECT_EQ(parsed("ns /admin").nsp, "/admin");
    EXPECT_EQ(parsed("ns admin").nsp, "/admin");
    EXPECT_EQ(parsed("ns").nsp, "");
    EXPECT_EQ(parsed("ns").kind, command_kind::ns);
    refused("ns /a /b");

    EXPECT_EQ(parsed("connect").kind, command_kind::connect);
    EXPECT_EQ(parsed("disconnect").kind, command_kind::disconnect);
    EXPECT_EQ(parsed("status").kind, command_kind::status);
    EXPECT_EQ(parsed("history").kind, command_kind::history);
    EXPECT_EQ(parsed("help").kind, command_kind::help);
    EXPECT_EQ(parsed("quit").kind, command_kind::quit);
    EXPECT_EQ(parsed("exit").kind, command_kind::quit);
    EXPECT_EQ(parsed("   ").kind, command_kind::empty);
    EXPECT_EQ(parsed("# a comment").kind, command_kind::empty);
    EXPECT_NE(refused("status now").find("takes no arguments"), std::string::npos);
    EXPECT_NE(refused("shout x").find("unknown command 'shout'"), std::string::npos);
}

TEST(cli_command, raw_decodes_the_packet_as_written) {
    auto c = parsed(R"(raw 2/admin,7["hi",{"a":1}])");
    EXPECT_EQ(c.kind, command_kind::raw);
    ASSERT_TRUE(c.packet);
    EXPECT_EQ(c.packet->type, sio::codec::socketio::packet_type::event);
    EXPECT_EQ(c.packet->nsp, "/admin");
    EXPECT_EQ(c.packet->id, 7u);
    EXPECT_EQ(*c.packet->data, json::parse(R"(["hi",{"a":1}])"));
    EXPECT_EQ(c.nsp, "/admin");
    // Without a namespace in the packet the REPL sends it on the current one.
    EXPECT_EQ(parsed(R"(raw 2["hi"])").nsp, "");
    // Attachments cannot be typed: binary packets are refused.
    EXPECT_NE(refused(R"(raw 51-["bin",{"_placeholder":true,"num":0}])").find("not a Socket.IO packet"), std::string::npos);
    EXPECT_NE(refused("raw").find("needs a packet"), std::string::npos);
    EXPECT_NE(refused("raw 9x").find("not a Socket.IO packet"), std::string::npos);
}

TEST(cli_ndjson, every_field) {
    auto c = parsed(R"({"event":"chat message","args":["hi",{"x":1}],"ack":true,"nsp":"/admin"})");
    EXPECT_EQ(c.kind, command_kind::emit);
    EXPECT_EQ(c.event, "chat message");
    EXPECT_EQ(c.args, json::parse(R"(["hi",{"x":1}])"));
    EXPECT_TRUE(c.ack);
    EXPECT_EQ(c.nsp, "/admin");
    auto minimal = parsed(R"({"event":"ping"})");
    EXPECT_EQ(minimal.args, json::array());
    EXPECT_FALSE(minimal.ack);
    EXPECT_EQ(parsed(R"({"event":"e","ack":"2s"})").ack_timeout, 2000ms);
    EXPECT_EQ(parsed(R"({"event":"e","ack":150})").ack_timeout, 150ms);
    EXPECT_EQ(parsed(R"({"event":"e","nsp":"x"})").nsp, "/x");
}

TEST(cli_ndjson, refuses_bad_shapes_with_the_field_named) {
    EXPECT_NE(refused(R"({"args":[]})").find("missing \"event\""), std::string::npos);
    EXPECT_NE(refused(R"({"event":1})").find("\"event\" must be a string"), std::string::npos);
    EXPECT_NE(refused(R"({"event":"e","args":"x"})").find("\"args\" must be an array"), std::string::npos);
    EXPECT_NE(refused(R"({"event":"e","ack":"later"})").find("\"ack\""), std::string::npos);
    EXPECT_NE(refused(R"({"event":"e","ack":[1]})").find("\"ack\" must be"), std::string::npos);
    EXPECT_NE(refused(R"({"event":"e","room":"x"})").find("unknown key \"room\""), std::string::npos);
    EXPECT_NE(refused(R"({"event":"connect"})").find("reserved"), std::string::npos);
    EXPECT_NE(refused(R"({"event":)").find("not a JSON object"), std::string::npos);
}

TEST(cli_command, help_lists_every_command) {
    const auto text = help_text();
    for (auto name : {"emit", "on", "off", "ns", "connect", "disconnect", "status", "raw", "history", "help", "quit"}) {
        EXPECT_NE(text.find(std::string("  ") + name), std::string::npos) << name;
    }
}

TEST(cli_command, quote_event_only_when_needed) {
    EXPECT_EQ(quote_event("echo"), "echo");
    EXPECT_EQ(quote_event("chat message"), "\"chat message\"");
    EXPECT_EQ(quote_event("say\"hi"), "\"say\\\"hi\"");
    EXPECT_EQ(quote_event("{x"), "\"{x\"");
}
