// Reads the vectors printed by codec_vectors.js (made by the reference Node parsers) and checks
// that sio's codec decodes each to the same packet and encodes the same packet to the same bytes.
// Exit 0 only if every vector matched and at least one of each layer was read.
#include <sio/codec/base64.hpp>
#include <sio/codec/engine_io.hpp>
#include <sio/codec/socket_io.hpp>

#include <cstdio>
#include <iostream>
#include <string>

using namespace sio::codec;

namespace {

// {"$bin": base64} -> json::binary_t, recursively.
json from_portable(const json& v) {
    if (v.is_object() && v.size() == 1 && v.contains("$bin")) {
        auto bytes = base64_decode(v["$bin"].get<std::string>());
        if (!bytes) return v;
        return json::binary(json::binary_t::container_type(bytes->begin(), bytes->end()));
    }
    if (v.is_array()) {
        json out = json::array();
        for (const auto& e : v) out.push_back(from_portable(e));
        return out;
    }
    if (v.is_object()) {
        json out = json::object();
        for (auto it = v.begin(); it != v.end(); ++it) out[it.key()] = from_portable(it.value());
        return out;
    }
    return v;
}

struct counts {
    int sio = 0, eio = 0, failures = 0, number_format_only = 0, refused = 0;
};

void report(counts& c, int line, const std::string& what) {
    ++c.failures;
    if (c.failures <= 20) std::cerr << "line " << line << ": " << what << "\n";
}

// Node and nlohmann format some doubles differently (2.5e-8 vs 2.5e-08, 1e16 vs 1e+16): same
// value, different text. Those are counted and shown, not failed; anything else must be equal.
bool same_text(counts& c, const std::string& ours, const std::string& theirs) {
    if (ours == theirs) return true;
    auto strip = [](const std::string& s) { return s.substr(0, s.find_first_of("[{\"")); };
    if (strip(ours) != strip(theirs)) return false;
    auto a = json::parse(ours.substr(strip(ours).size()), nullptr, false);
    auto b = json::parse(theirs.substr(strip(theirs).size()), nullptr, false);
    if (a.is_discarded() || b.is_discarded() || a != b) return false;
    ++c.number_format_only;
    return true;
}

void check_sio(counts& c, int line, const json& v) {
    ++c.sio;
    const json& p = v["packet"];
    socketio::packet want;
    want.type = static_cast<socketio::packet_type>(p["type"].get<int>());
    want.nsp = p.value("nsp", std::string("/"));
    if (p.contains("id")) want.id = p["id"].get<std::uint64_t>();
    if (p.contains("data")) want.data = from_portable(p["data"]);

    // Encode: same frames as the reference.
    auto enc = socketio::encode(want);
    const json& frames = v["frames"];
    if (frames.empty() || !same_text(c, enc.text, frames[0]["text"].get<std::string>())) {
        report(c, line, "encode: ours " + enc.text + " theirs " + frames[0].dump());
    }
    if (enc.attachments.size() + 1 != frames.size()) {
        report(c, line, "encode: attachment count differs");
    } else {
        for (std::size_t i = 1; i < frames.size(); ++i) {
            if (base64_encode(enc.attachments[i - 1]) != frames[i]["bin"].get<std::string>())
                report(c, line, "encode: attachment " + std::to_string(i - 1) + " differs");
        }
    }

    // Decode: the reference's frames give the same packet.
    socketio::decoder dec;
    socketio::decode_status st = socketio::decode_status::need_more;
    for (const auto& f : frames) {
        if (f.contains("text")) {
            st = dec.feed_text(f["text"].get<std::string>());
        } else {
            auto bytes = base64_decode(f["bin"].get<std::string>());
            st = dec.feed_binary(bytes ? *bytes : std::string());
        }
        if (st == socketio::decode_status::bad) break;
    }
    if (v.contains("reference_refuses")) {
        // The reference decoder refuses these frames; ours must not accept them either.
        if (st != socketio::decode_status::bad)
            report(c, line, "decode accepted what the reference refuses (" +
                                v["reference_refuses"].get<std::string>() + ")");
        else
            ++c.refused;
        return;
    }
    if (st != socketio::decode_status::done) {
        report(c, line, "decode did not finish: " +
                            (st == socketio::decode_status::bad ? dec.last_error().reason : "need more"));
        return;
    }
    auto got = dec.take();
    auto plain = [](socketio::packet_type t) {
        if (t == socketio::packet_type::binary_event) return socketio::packet_type::event;
        if (t == socketio::packet_type::binary_ack) return socketio::packet_type::ack;
        return t;
    };
    if (plain(got.type) != plain(want.type) || got.nsp != want.nsp || got.id != want.id ||
        got.data.has_value() != want.data.has_value() || (got.data && *got.data != *want.data)) {
        report(c, line, "decode: got " + socketio::describe(got) + " want " + socketio::describe(want));
    }
}

void check_eio(counts& c, int line, const json& v) {
    ++c.eio;
    std::vector<eio::packet> want;
    for (const auto& p : v["packets"]) {
        eio::packet pk;
        static const char* names[] = {"open", "close", "ping", "pong", "message", "upgrade", "noop"};
        for (int t = 0; t < 7; ++t)
            if (p["type"] == names[t]) pk.type = static_cast<eio::packet_type>(t);
        if (p["data"].is_object()) {
            auto bytes = base64_decode(p["data"]["$bin"].get<std::string>());
            pk.data = bytes ? *bytes : std::string();
            pk.binary = true;
        } else {
            pk.data = p["data"].get<std::string>();
        }
        want.push_back(std::move(pk));
    }
    const auto payload = v["payload"].get<std::string>();
    if (eio::encode_payload(want) != payload) report(c, line, "eio encode differs: " + payload);
    auto got = eio::decode_payload(payload);
    if (!got) {
        report(c, line, "eio decode failed: " + got.err().reason);
        return;
    }
    bool same = got->size() == want.size();
    for (std::size_t i = 0; same && i < want.size(); ++i) {
        same = (*got)[i].type == want[i].type && (*got)[i].data == want[i].data &&
               (*got)[i].binary == want[i].binary;
    }
    if (!same) report(c, line, "eio decode differs: " + payload);
}

}  // namespace

int main() {
    counts c;
    std::string text;
    int line = 0;
    while (std::getline(std::cin, text)) {
        ++line;
        auto v = json::parse(text, nullptr, false);
        if (v.is_discarded() || !v.is_object()) {
            report(c, line, "not a JSON object");
            continue;
        }
        if (v["layer"] == "sio") check_sio(c, line, v);
        else if (v["layer"] == "eio") check_eio(c, line, v);
        else report(c, line, "unknown layer");
    }
    std::printf("checked %d Socket.IO and %d Engine.IO vectors from the reference parsers: "
                "%d mismatches, %d differing only in number formatting, %d refused by both decoders\n",
                c.sio, c.eio, c.failures, c.number_format_only, c.refused);
    return c.failures == 0 && c.sio > 0 && c.eio > 0 ? 0 : 1;
}
