// socket.io-msgpack-parser packets: the bytes below were written by the reference encoder
// (socket.io-msgpack-parser 3.0.2 on notepack.io 2.2.0), as socket.io-client and the socket.io
// server send them.
#include "sio/codec/msgpack.hpp"
#include "sio/codec/socket_io.hpp"

#include <gtest/gtest.h>

#include <string>

namespace sp = sio::codec::socketio;
using sio::codec::errc;
using sio::codec::json;

namespace {

std::string unhex(std::string_view h) {
    std::string out;
    for (std::size_t i = 0; i + 1 < h.size(); i += 2) out.push_back(static_cast<char>(std::stoi(std::string(h.substr(i, 2)), nullptr, 16)));
    return out;
}

sp::packet decoded(std::string_view hex) {
    auto r = sp::decode_msgpack(unhex(hex));
    EXPECT_TRUE(r.has_value()) << hex << ": " << (r ? "" : r.err().reason);
    return r ? *r : sp::packet{};
}

errc refusal(const std::string& bytes) {
    auto r = sp::decode_msgpack(bytes);
    EXPECT_FALSE(r.has_value());
    return r ? errc::ok : static_cast<errc>(r.err().code.value());
}

}  // namespace

TEST(socketio_msgpack, decodes_the_reference_encoders_packets) {
    auto p = decoded("82a47479706500a36e7370a12f");  // {type: 0, nsp: "/"}
    EXPECT_EQ(p.type, sp::packet_type::connect);
    EXPECT_EQ(p.nsp, "/");
    EXPECT_FALSE(p.data);

    p = decoded("83a47479706500a46461746181a5746f6b656ea3616263a36e7370a62f61646d696e");
    EXPECT_EQ(p.nsp, "/admin");
    EXPECT_EQ(*p.data, json({{"token", "abc"}}));

    // socket.io-client's emit with an ack carries "options", which is not part of the packet.
    p = decoded("85a47479706502a46461746193a46563686fa2686981a16e01a76f7074696f6e7381a8636f6d7072657373c3a2696407a36e7370a12f");
    EXPECT_EQ(p.type, sp::packet_type::event);
    EXPECT_EQ(p.id, 7u);
    EXPECT_EQ(*p.data, json::parse(R"(["echo","hi",{"n":1}])"));

    p = decoded("83a47479706502a46461746193a568656c6c6fa5776f726c64c403010203a36e7370a12f");
    ASSERT_TRUE(p.data && (*p.data)[2].is_binary());
    EXPECT_EQ((*p.data)[2], json::binary({1, 2, 3}));

    p = decoded("84a47479706503a46461746194cb3ff8000000000000fdc0c3a26964cd012ca36e7370a12f");
    EXPECT_EQ(p.type, sp::packet_type::ack);
    EXPECT_EQ(p.id, 300u);
    EXPECT_EQ(*p.data, json::parse("[1.5,-3,null,true]"));

    p = decoded("83a47479706504a46461746181a76d657373616765ae4e6f7420617574686f72697a6564a36e7370a12f");
    EXPECT_EQ(p.type, sp::packet_type::connect_error);
    EXPECT_EQ((*p.data)["message"], "Not authorized");

    p = decoded("82a47479706501a36e7370a52f63686174");
    EXPECT_EQ(p.type, sp::packet_type::disconnect);
    EXPECT_EQ(p.nsp, "/chat");
}

TEST(socketio_msgpack, reads_undefined_as_json_stringify_writes_it) {
    // socket.io-client's CONNECT without auth: {type: 0, data: undefined, nsp: "/"}.
    auto p = decoded("83a47479706500a464617461d40000a36e7370a12f");
    EXPECT_EQ(p.type, sp::packet_type::connect);
    EXPECT_FALSE(p.data) << "an undefined property is absent";
    // ["a", undefined, {x: undefined, y: 1}]: null in an array, absent in an object.
    p = decoded("83a47479706502a46461746193a161d4000082a178d40000a17901a36e7370a12f");
    EXPECT_EQ(*p.data, json::parse(R"(["a",null,{"y":1}])"));
}

TEST(socketio_msgpack, replaces_bytes_that_are_not_utf8_as_node_does) {
    // {type: 4, data: {"me\x98sagn": "\xffA"}, nsp: "/"}: a key and a value that are not UTF-8.
    auto q = sp::decode_msgpack(unhex("83a47479706504a46461746181a76d65987361676ea2ff41a36e7370a12f"));
    ASSERT_TRUE(q.has_value()) << q.err().reason;
    EXPECT_EQ(*q->data, json({{"me\xef\xbf\xbdsagn", "\xef\xbf\xbd" "A"}}));
    EXPECT_NO_THROW((void)q->data->dump()) << "valid UTF-8 throughout";
}

TEST(socketio_msgpack, reads_dates_as_json_stringify_writes_them) {
    // notepack.io 2 (socket.io-msgpack-parser's): fixext 8 of type 0, milliseconds.
    auto p = decoded("83a47479706502a46461746193a47768656ed700000001a249111973d700000001a2491118f8a36e7370a12f");
    EXPECT_EQ(*p.data, json::parse(R"(["when","2026-12-06T01:56:27.123Z","2026-12-06T01:56:27.000Z"])"));
    // notepack.io 3: the timestamp extension (32 and 64 bits).
    EXPECT_EQ(*sio::codec::from_msgpack(unhex("d6ff00000000")), "1970-01-01T00:00:00.000Z");
    EXPECT_EQ(*sio::codec::from_msgpack(unhex("d7ff1d5353006933a13b")), "2025-12-06T03:21:31.123Z");
    // Another extension is null.
    EXPECT_TRUE(sio::codec::from_msgpack(unhex("d40501"))->is_null());
}

TEST(socketio_msgpack, round_trips_what_it_encodes) {
    sp::packet p{sp::packet_type::binary_event, "/admin", 12,
                 json::array({"bin", json::binary({0, 255, 7}), {{"k", json::array({1, 2.5, "x"})}}})};
    auto back = sp::decode_msgpack(sp::encode_msgpack(p));
    ASSERT_TRUE(back.has_value()) << back.err().reason;
    EXPECT_EQ(back->type, sp::packet_type::event) << "no BINARY_EVENT with this parser";
    EXPECT_EQ(back->nsp, "/admin");
    EXPECT_EQ(back->id, 12u);
    EXPECT_EQ(*back->data, *p.data);

    sp::packet c{sp::packet_type::connect, "/", std::nullopt, std::nullopt};
    back = sp::decode_msgpack(sp::encode_msgpack(c));
    ASSERT_TRUE(back.has_value());
    EXPECT_EQ(*back, c);
}

TEST(socketio_msgpack, refuses_what_the_reference_parser_refuses) {
    using sio::codec::to_msgpack;
    EXPECT_EQ(refusal(""), errc::empty_input);
    EXPECT_EQ(refusal("\x93\x01"), errc::invalid_payload);  // truncated
    // A map announcing 4,294,904,367 entries in its 5-byte header (msgpuck's own check counted
    // them in an int that overflowed, and the reader then ran past the end: ASan sees it).
    EXPECT_EQ(refusal(unhex("dfffff0a2f")), errc::invalid_payload);
    EXPECT_EQ(refusal(unhex("ddffffffff01")), errc::invalid_payload);
    EXPECT_EQ(refusal(unhex("c7ff01")), errc::invalid_payload);  // ext 8 longer than the input
    EXPECT_EQ(refusal(to_msgpack(json::array({0, "/"}))), errc::invalid_payload);  // not a map
    EXPECT_EQ(refusal(to_msgpack({{"type", 5}, {"nsp", "/"}, {"data", json::array({"x"})}})), errc::unknown_packet_type);
    EXPECT_EQ(refusal(to_msgpack({{"type", "2"}, {"nsp", "/"}, {"data", json::array({"x"})}})), errc::unknown_packet_type);
    EXPECT_EQ(refusal(to_msgpack({{"type", 2}, {"data", json::array({"x"})}})), errc::invalid_namespace);
    EXPECT_EQ(refusal(to_msgpack({{"type", 2}, {"nsp", 3}, {"data", json::array({"x"})}})), errc::invalid_namespace);
    EXPECT_EQ(refusal(to_msgpack({{"type", 2}, {"nsp", "chat"}, {"data", json::array({"x"})}})), errc::invalid_namespace);
    // A ',' ends the namespace in the default parser, so no namespace holds one: a packet either
    // parser accepts passes validate() and can be written by both.
    EXPECT_EQ(refusal(to_msgpack({{"type", 2}, {"nsp", "/a,b"}, {"data", json::array({"x"})}})), errc::invalid_namespace);
    EXPECT_EQ(refusal(to_msgpack({{"type", 2}, {"nsp", "/"}, {"data", json::array({"x"})}, {"id", -1}})),
              errc::invalid_ack_id);
    EXPECT_EQ(refusal(to_msgpack({{"type", 2}, {"nsp", "/"}, {"data", json::array({"x"})}, {"id", "1"}})),
              errc::invalid_ack_id);
    EXPECT_EQ(refusal(to_msgpack({{"type", 2}, {"nsp", "/"}, {"data", "x"}})), errc::invalid_payload);
    EXPECT_EQ(refusal(to_msgpack({{"type", 2}, {"nsp", "/"}, {"data", json::array({"connect"})}})), errc::invalid_payload);
    EXPECT_EQ(refusal(to_msgpack({{"type", 1}, {"nsp", "/"}, {"data", json::array()}})), errc::invalid_payload);
    EXPECT_EQ(refusal(to_msgpack({{"type", 4}, {"nsp", "/"}, {"data", 3}})), errc::invalid_payload);

    std::string deep(200, '\x91');
    deep.push_back('\x01');
    EXPECT_EQ(refusal(unhex("83a47479706502a36e7370a12fa464617461") + deep), errc::payload_too_large);
    sp::decoder_options small;
    small.max_payload = 10;
    auto big = sp::decode_msgpack(sp::encode_msgpack({sp::packet_type::event, "/", std::nullopt, json::array({std::string(20, 'x')})}), small);
    ASSERT_FALSE(big.has_value());
    EXPECT_EQ(big.err().code, sio::codec::make_error_code(errc::payload_too_large));
}
