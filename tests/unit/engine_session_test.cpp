// The Engine.IO server session state machine, driven by a fake clock.
#include "sio/engine/server_session.hpp"

#include "sio/codec/engine_io.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace {

using namespace std::chrono_literals;
using sio::engine::close_reasons::forced_close;
using sio::engine::close_reasons::parse_error;
using sio::engine::close_reasons::ping_timeout;
using sio::engine::close_reasons::slow_consumer;
using sio::engine::close_reasons::transport_close;
using sio::engine::close_reasons::transport_error;
using sio::engine::outgoing;
using sio::engine::request_status;
using sio::engine::send_status;
using sio::engine::server_session;
using sio::engine::server_session_config;
using sio::engine::session_state;
using sio::engine::transport_kind;
using sio::engine::upgrade_status;
namespace eio = sio::codec::eio;

using time_point = server_session::time_point;
using strings = std::vector<std::string>;

const std::string sid = "AAAAAAAAAAAAAAAAAAAA";

std::string as_payload(const std::vector<outgoing>& out) {
    return eio::encode_payload(sio::engine::to_packets(out));
}

// "4xxx…" of `size` characters in all. Built in place: `"4" + std::string(n, 'x')` trips a
// false -Wrestrict in GCC 12.
std::string message_text(std::size_t size) {
    std::string text(size, 'x');
    text[0] = '4';
    return text;
}

strings as_frames(const std::vector<outgoing>& out) {
    strings frames;
    for (const auto& o : out) frames.push_back(eio::encode_text(sio::engine::to_packet(o)));
    return frames;
}

// A session plus the clock it lives by, with the small moves of a driver spelled out.
struct harness {
    time_point now{std::chrono::hours(1)};
    time_point start = now;
    server_session s;

    explicit harness(transport_kind t, server_session_config cfg = {}) : s(sid, t, std::move(cfg), now) {}

    // Starts a polling session and consumes the handshake response.
    static harness polling(server_session_config cfg = {}) {
        harness h(transport_kind::polling, std::move(cfg));
        h.s.take_polling_response();
        return h;
    }
    static harness websocket(server_session_config cfg = {}) {
        harness h(transport_kind::websocket, std::move(cfg));
        h.s.take_websocket_frames();
        return h;
    }

    // Issues a GET; returns the payload when it is answered at once.
    std::optional<std::string> get() {
        EXPECT_EQ(s.on_polling_get(), request_status::ok);
        return response();
    }
    std::optional<std::string> response() {
        auto r = s.take_polling_response();
        if (!r) return std::nullopt;
        return as_payload(*r);
    }
    request_status post(std::string_view body) {
        const auto begun = s.begin_polling_post();
        if (begun != request_status::ok) return begun;
        return s.finish_polling_post(now, body);
    }
    strings frames() { return as_frames(s.take_websocket_frames()); }
    void frame(std::string_view text) { s.on_websocket_frame(now, text, false); }

    // Moves the clock forward, firing every deadline met on the way, as a driver's timer would.
    void advance(std::chrono::milliseconds d) {
        const auto target = now + d;
        while (auto deadline = s.next_deadline()) {
            if (*deadline > target) break;
            now = *deadline;
            s.on_timer(now);
            if (s.next_deadline() == deadline) {
                ADD_FAILURE() << "on_timer() left its deadline in place";
                break;
            }
        }
        now = target;
    }
    std::chrono::milliseconds elapsed() const {
        return std::chrono::duration_cast<std::chrono::milliseconds>(now - start);
    }
    strings delivered() {
        strings out;
        for (auto& p : s.take_delivered()) out.push_back(eio::encode_text(p));
        return out;
    }
};

// Brings a polling session to "upgrading" with the probe answered; the pending GET is released.
void probe(harness& h) {
    ASSERT_EQ(h.s.on_websocket_upgrade(h.now), upgrade_status::accepted);
    h.frame("2probe");
    ASSERT_EQ(h.frames(), strings{"3probe"});
}

// --- handshake ---------------------------------------------------------------------------------

struct handshake_case {
    const char* name;
    transport_kind transport;
    server_session_config config;
    std::string expected;
};

TEST(engine_session, open_packet_carries_handshake_of_config) {
    server_session_config custom;
    custom.ping_interval = 300ms;
    custom.ping_timeout = 200ms;
    custom.max_payload = 5000;
    server_session_config no_upgrades;
    no_upgrades.upgrades.clear();
    const std::vector<handshake_case> cases = {
        {"polling defaults", transport_kind::polling, {},
         R"(0{"sid":"AAAAAAAAAAAAAAAAAAAA","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000})"},
        {"websocket has nowhere to upgrade", transport_kind::websocket, {},
         R"(0{"sid":"AAAAAAAAAAAAAAAAAAAA","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000})"},
        {"custom timings", transport_kind::polling, custom,
         R"(0{"sid":"AAAAAAAAAAAAAAAAAAAA","upgrades":["websocket"],"pingInterval":300,"pingTimeout":200,"maxPayload":5000})"},
        {"upgrades disabled", transport_kind::polling, no_upgrades,
         R"(0{"sid":"AAAAAAAAAAAAAAAAAAAA","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000})"},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.name);
        harness h(c.transport, c.config);
        EXPECT_EQ(h.s.state(), session_state::open);
        if (c.transport == transport_kind::polling) {
            // The handshake GET is pending from the start and gets the open packet alone.
            ASSERT_TRUE(h.s.has_polling_response());
            EXPECT_EQ(h.response(), c.expected);
            EXPECT_TRUE(h.frames().empty());
        } else {
            EXPECT_EQ(h.frames(), strings{c.expected});
            EXPECT_FALSE(h.s.has_polling_response());
        }
    }
}

TEST(engine_session, handshake_decodes_with_the_codec) {
    harness h(transport_kind::polling);
    auto payload = h.response();
    ASSERT_TRUE(payload);
    auto packets = eio::decode_payload(*payload);
    ASSERT_TRUE(packets);
    ASSERT_EQ(packets->size(), 1u);
    EXPECT_EQ((*packets)[0].type, eio::packet_type::open);
    auto hs = eio::decode_handshake((*packets)[0].data);
    ASSERT_TRUE(hs);
    EXPECT_EQ(hs->sid, sid);
    EXPECT_EQ(hs->upgrades, strings{"websocket"});
    EXPECT_EQ(hs->ping_interval_ms, 25000u);
    EXPECT_EQ(hs->ping_timeout_ms, 20000u);
    EXPECT_EQ(hs->max_payload, std::optional<std::uint64_t>{1000000});
}

// --- heartbeat ---------------------------------------------------------------------------------

TEST(engine_session, pings_every_interval_after_each_pong_over_simulated_minutes) {
    auto h = harness::websocket();
    std::vector<std::chrono::milliseconds> pings;
    // Ten minutes of a client that answers every ping 40 ms later.
    while (h.elapsed() < 10min) {
        h.advance(10ms);
        for (const auto& f : h.frames()) {
            if (f != "2") continue;
            pings.push_back(h.elapsed());
            h.advance(40ms);
            h.frame("3");
        }
        ASSERT_EQ(h.s.state(), session_state::open) << "at " << h.elapsed().count() << " ms";
    }
    // The first ping comes one interval after the handshake, each next one an interval after
    // the pong (so the cadence is interval + round trip).
    ASSERT_EQ(pings.size(), 23u);
    EXPECT_EQ(pings[0], 25000ms);
    for (std::size_t i = 1; i < pings.size(); ++i) EXPECT_EQ(pings[i] - pings[i - 1], 25040ms) << i;
}

TEST(engine_session, only_one_ping_is_outstanding_at_a_time) {
    auto h = harness::websocket();
    h.advance(25s);
    EXPECT_EQ(h.frames(), strings{"2"});
    h.advance(19s);  // no pong: no second ping either, only the timeout is pending
    EXPECT_TRUE(h.frames().empty());
    EXPECT_EQ(h.s.next_deadline(), h.start + 45s);
}

TEST(engine_session, pong_in_time_keeps_session_alive) {
    auto h = harness::websocket();
    h.advance(25s);
    ASSERT_EQ(h.frames(), strings{"2"});
    h.advance(19999ms);
    h.frame("3");
    h.advance(30s);
    EXPECT_EQ(h.s.state(), session_state::open);
    EXPECT_FALSE(h.s.take_close_reason());
    // Next ping one interval after the pong.
    EXPECT_EQ(h.frames(), strings{"2"});
}

TEST(engine_session, closes_with_ping_timeout_when_no_pong) {
    auto h = harness::websocket();
    h.advance(25s);
    ASSERT_EQ(h.frames(), strings{"2"});
    h.advance(19999ms);
    EXPECT_EQ(h.s.state(), session_state::open);
    h.advance(1ms);
    EXPECT_EQ(h.s.state(), session_state::closed);
    EXPECT_EQ(h.s.take_close_reason(), std::string{ping_timeout});
    EXPECT_EQ(h.frames(), strings{"1"});
    EXPECT_TRUE(h.s.take_websocket_close());
}

TEST(engine_session, late_pong_closes_even_before_the_timer_fires) {
    auto h = harness::websocket();
    h.advance(25s);
    ASSERT_EQ(h.frames(), strings{"2"});
    h.now += 20001ms;  // the driver's timer has not run yet
    h.frame("3");
    EXPECT_EQ(h.s.state(), session_state::closed);
    EXPECT_EQ(h.s.take_close_reason(), std::string{ping_timeout});
}

TEST(engine_session, messages_without_pong_do_not_prevent_ping_timeout) {
    auto h = harness::websocket();
    h.advance(25s);
    ASSERT_EQ(h.frames(), strings{"2"});
    for (int i = 0; i < 19; ++i) {
        h.advance(1s);
        h.frame("4still here");
    }
    h.advance(1s);
    EXPECT_EQ(h.s.take_close_reason(), std::string{ping_timeout});
    EXPECT_EQ(h.delivered().size(), 19u);
}

TEST(engine_session, polling_ping_waits_for_a_get_and_pong_comes_by_post) {
    auto h = harness::polling();
    EXPECT_EQ(h.post("4hello"), request_status::ok);  // the client is there
    h.advance(25s);
    // No GET pending: the ping is queued and the timeout runs.
    EXPECT_FALSE(h.s.has_polling_response());
    h.advance(5s);
    EXPECT_EQ(h.get(), "2");
    h.advance(1s);
    EXPECT_EQ(h.post("3"), request_status::ok);
    h.advance(24s);
    EXPECT_EQ(h.s.state(), session_state::open);
    EXPECT_EQ(h.get(), std::nullopt);
    h.advance(1s);  // 25 s after the pong
    EXPECT_EQ(h.response(), "2");
}

// --- polling -----------------------------------------------------------------------------------

TEST(engine_session, polling_get_waits_then_receives_batched_packets) {
    auto h = harness::polling();
    EXPECT_EQ(h.get(), std::nullopt);  // nothing to send: the GET is parked
    EXPECT_FALSE(h.s.has_polling_response());
    ASSERT_EQ(h.s.send("hello"), send_status::queued);
    EXPECT_TRUE(h.s.has_polling_response());
    // Sent before the driver took the answer: the same response carries both.
    ASSERT_EQ(h.s.send(std::string("\x01\x02\x03", 3), true), send_status::queued);
    EXPECT_EQ(h.response(), "4hello\x1e" "bAQID");
    EXPECT_FALSE(h.s.has_polling_response());
    EXPECT_EQ(h.s.queued_bytes(), 0u);
}

TEST(engine_session, packets_queued_without_get_go_out_together_on_next_get) {
    auto h = harness::polling();
    for (const char* m : {"a", "b", "c"}) ASSERT_EQ(h.s.send(m), send_status::queued);
    EXPECT_FALSE(h.s.has_polling_response());
    EXPECT_EQ(h.s.queued_bytes(), 6u);
    EXPECT_EQ(h.get(), "4a\x1e" "4b\x1e" "4c");
    EXPECT_EQ(h.get(), std::nullopt);
}

TEST(engine_session, second_concurrent_get_is_rejected_and_closes_session) {
    auto h = harness::polling();
    ASSERT_EQ(h.get(), std::nullopt);
    EXPECT_EQ(h.s.on_polling_get(), request_status::overlap);
    EXPECT_EQ(h.s.state(), session_state::closed);
    EXPECT_EQ(h.s.take_close_reason(), std::string{transport_error});
    // The first GET is released with a close packet.
    EXPECT_EQ(h.response(), "1");
}

TEST(engine_session, get_answered_but_not_taken_still_counts_as_pending) {
    auto h = harness::polling();
    ASSERT_EQ(h.s.on_polling_get(), request_status::ok);
    h.s.send("x");
    EXPECT_EQ(h.s.on_polling_get(), request_status::overlap);
}

TEST(engine_session, second_concurrent_post_is_rejected_and_closes_session) {
    auto h = harness::polling();
    ASSERT_EQ(h.s.begin_polling_post(), request_status::ok);
    EXPECT_EQ(h.s.begin_polling_post(), request_status::overlap);
    EXPECT_EQ(h.s.take_close_reason(), std::string{transport_error});
}

TEST(engine_session, posted_messages_are_delivered_in_order) {
    auto h = harness::polling();
    EXPECT_EQ(h.post("4one\x1e" "bAQID\x1e" "4three"), request_status::ok);
    auto got = h.s.take_delivered();
    ASSERT_EQ(got.size(), 3u);
    EXPECT_EQ(got[0], (eio::packet{eio::packet_type::message, "one", false}));
    EXPECT_EQ(got[1], (eio::packet{eio::packet_type::message, std::string("\x01\x02\x03", 3), true}));
    EXPECT_EQ(got[2], (eio::packet{eio::packet_type::message, "three", false}));
    EXPECT_TRUE(h.s.take_delivered().empty());
}

TEST(engine_session, post_over_max_payload_is_refused_without_closing) {
    server_session_config cfg;
    cfg.max_payload = 10;
    auto h = harness::polling(cfg);
    EXPECT_EQ(h.post(message_text(11)), request_status::payload_too_large);
    EXPECT_EQ(h.s.state(), session_state::open);
    EXPECT_TRUE(h.s.take_delivered().empty());
    EXPECT_EQ(h.post(message_text(10)), request_status::ok);
    EXPECT_EQ(h.s.take_delivered().size(), 1u);
}

TEST(engine_session, abandoned_post_frees_the_slot) {
    auto h = harness::polling();
    ASSERT_EQ(h.s.begin_polling_post(), request_status::ok);
    h.s.abandon_polling_post();
    EXPECT_EQ(h.s.begin_polling_post(), request_status::ok);
    EXPECT_EQ(h.s.state(), session_state::open);
}

// --- upgrade -----------------------------------------------------------------------------------

TEST(engine_session, full_upgrade_flushes_get_with_noop_and_migrates_queue) {
    auto h = harness::polling();
    ASSERT_EQ(h.get(), std::nullopt);  // the client's long poll
    ASSERT_EQ(h.s.on_websocket_upgrade(h.now), upgrade_status::accepted);
    EXPECT_EQ(h.s.state(), session_state::upgrading);
    EXPECT_FALSE(h.s.has_polling_response());  // nothing yet: the probe has not been answered

    h.frame("2probe");
    EXPECT_EQ(h.frames(), strings{"3probe"});
    EXPECT_EQ(h.response(), "6");  // the pending GET returns so the client can pause polling
    EXPECT_EQ(h.get(), "6");       // and any further GET too, at once

    ASSERT_EQ(h.s.send("queued during upgrade"), send_status::queued);
    ASSERT_EQ(h.s.send("second"), send_status::queued);
    EXPECT_TRUE(h.frames().empty());  // the probe carries nothing but the probe

    h.frame("5");
    EXPECT_EQ(h.s.state(), session_state::open);
    EXPECT_EQ(h.s.transport(), transport_kind::websocket);
    EXPECT_EQ(h.frames(), (strings{"4queued during upgrade", "4second"}));
    EXPECT_FALSE(h.s.take_websocket_close());

    // From now on everything uses the WebSocket and polling is refused.
    h.s.send("after");
    EXPECT_EQ(h.frames(), strings{"4after"});
    h.frame("4from client");
    EXPECT_EQ(h.delivered(), strings{"4from client"});
    EXPECT_EQ(h.s.on_polling_get(), request_status::transport_mismatch);
    EXPECT_EQ(h.s.begin_polling_post(), request_status::transport_mismatch);
    EXPECT_EQ(h.s.state(), session_state::open);
}

TEST(engine_session, untaken_probe_answer_goes_out_before_the_backlog) {
    auto h = harness::polling();
    ASSERT_EQ(h.s.on_websocket_upgrade(h.now), upgrade_status::accepted);
    h.frame("2probe");
    h.s.send("x");
    h.frame("5");  // the driver had not written "3probe" yet
    EXPECT_EQ(h.s.queued_bytes(), 8u);  // "3probe" and "4x"
    EXPECT_EQ(h.frames(), (strings{"3probe", "4x"}));
    EXPECT_EQ(h.s.queued_bytes(), 0u);
}

TEST(engine_session, upgrade_without_probe_releases_pending_get_with_noop) {
    auto h = harness::polling();
    ASSERT_EQ(h.get(), std::nullopt);
    ASSERT_EQ(h.s.on_websocket_upgrade(h.now), upgrade_status::accepted);
    h.frame("5");
    EXPECT_EQ(h.s.transport(), transport_kind::websocket);
    EXPECT_EQ(h.response(), "6");
}

TEST(engine_session, heartbeat_continues_across_upgrade) {
    auto h = harness::polling();
    EXPECT_EQ(h.post("4hello"), request_status::ok);  // the client is there
    h.advance(25s);
    EXPECT_EQ(h.get(), "2");
    probe(h);
    h.frame("5");
    h.advance(20s);  // the pong for the ping sent over polling never came
    EXPECT_EQ(h.s.take_close_reason(), std::string{ping_timeout});
}

// A handshake flood: a polling session whose client sends nothing after the open packet ends
// ping_timeout after it (not ping_interval + ping_timeout); any first request keeps it.
TEST(engine_session, polling_session_without_a_first_request_ends_after_ping_timeout) {
    auto h = harness::polling();
    EXPECT_EQ(h.s.next_deadline(), h.start + 20s);
    h.advance(19999ms);
    EXPECT_EQ(h.s.state(), session_state::open);
    h.advance(1ms);
    EXPECT_EQ(h.s.take_close_reason(), std::string{ping_timeout});

    for (int first = 0; first < 3; ++first) {
        auto k = harness::polling();
        k.advance(19s);
        if (first == 0) EXPECT_EQ(k.get(), std::nullopt);
        if (first == 1) EXPECT_EQ(k.post("4hi"), request_status::ok);
        if (first == 2) EXPECT_EQ(k.s.on_websocket_upgrade(k.now), upgrade_status::accepted);
        k.advance(2s);
        EXPECT_NE(k.s.state(), session_state::closed) << "first request " << first;
        EXPECT_EQ(k.s.take_close_reason(), std::nullopt);
        // The first ping follows at ping_interval as before.
        if (first == 0) {
            k.advance(4s);
            EXPECT_EQ(k.response(), "2");
        }
    }
    // A WebSocket session sends nothing until the first ping; it keeps the usual heartbeat.
    auto w = harness::websocket();
    w.advance(24s);
    EXPECT_EQ(w.s.state(), session_state::open);

    // Short timeouts: never sooner than the grace (5 s), a busy client is not cut off ...
    server_session_config quick;
    quick.ping_timeout = 1s;
    auto q = harness::polling(quick);
    EXPECT_EQ(q.s.next_deadline(), q.start + 5s);
    q.advance(4999ms);
    EXPECT_EQ(q.s.state(), session_state::open);
    q.advance(1ms);
    EXPECT_EQ(q.s.take_close_reason(), std::string{ping_timeout});
    // ... and never later than the heartbeat: then the heartbeat alone decides, as before.
    server_session_config tiny;
    tiny.ping_interval = 300ms;
    tiny.ping_timeout = 300ms;
    auto t = harness::polling(tiny);
    EXPECT_EQ(t.s.next_deadline(), t.start + 300ms);
    t.advance(300ms);
    EXPECT_EQ(t.s.state(), session_state::open);
}

TEST(engine_session, upgrade_timeout_falls_back_to_polling) {
    auto h = harness::polling();
    h.advance(1s);
    probe(h);
    EXPECT_EQ(h.s.next_deadline(), h.start + 11s);  // before the first ping at 25 s
    h.advance(9999ms);
    EXPECT_EQ(h.s.state(), session_state::upgrading);
    EXPECT_FALSE(h.s.take_websocket_close());
    h.advance(1ms);
    EXPECT_EQ(h.s.state(), session_state::open);
    EXPECT_EQ(h.s.transport(), transport_kind::polling);
    EXPECT_TRUE(h.s.take_websocket_close());
    // Polling works as before: GETs wait again, messages come over it.
    EXPECT_EQ(h.get(), std::nullopt);
    h.s.send("still polling");
    EXPECT_EQ(h.response(), "4still polling");
    EXPECT_TRUE(h.frames().empty());
    // And a later upgrade may be tried again.
    EXPECT_EQ(h.s.on_websocket_upgrade(h.now), upgrade_status::accepted);
}

TEST(engine_session, upgrade_timeout_applies_before_the_probe_too) {
    auto h = harness::polling();
    ASSERT_EQ(h.s.on_websocket_upgrade(h.now), upgrade_status::accepted);
    h.advance(10s);
    EXPECT_EQ(h.s.state(), session_state::open);
    EXPECT_TRUE(h.s.take_websocket_close());
    h.frame("5");  // too late: the socket is no longer attached
    EXPECT_EQ(h.s.transport(), transport_kind::polling);
}

TEST(engine_session, messages_during_upgrade_are_not_lost_or_reordered) {
    auto h = harness::polling();
    strings to_client;
    auto collect_payload = [&](const std::optional<std::string>& p) {
        if (!p) return;
        auto packets = eio::decode_payload(*p);
        ASSERT_TRUE(packets);
        for (const auto& pk : *packets)
            if (pk.type == eio::packet_type::message) to_client.push_back(pk.data);
    };
    auto collect_frames = [&] {
        for (const auto& o : h.s.take_websocket_frames())
            if (o.type == eio::packet_type::message) to_client.emplace_back(o.view());
    };

    h.s.send("m1");
    collect_payload(h.get());
    ASSERT_EQ(h.s.on_websocket_upgrade(h.now), upgrade_status::accepted);
    h.s.send("m2");  // before the probe, polling works as usual
    collect_payload(h.get());
    ASSERT_EQ(h.get(), std::nullopt);
    h.frame("2probe");
    collect_frames();  // 3probe only
    collect_payload(h.response());  // noop
    h.s.send("m3");
    h.s.send("m4");
    collect_payload(h.get());  // a GET after the probe takes what is queued
    h.s.send("m5");
    EXPECT_EQ(h.post("4c1\x1e" "4c2"), request_status::ok);  // the client may still POST
    h.frame("5");
    h.s.send("m6");
    collect_frames();
    h.frame("4c3");

    EXPECT_EQ(to_client, (strings{"m1", "m2", "m3", "m4", "m5", "m6"}));
    EXPECT_EQ(h.delivered(), (strings{"4c1", "4c2", "4c3"}));
}

TEST(engine_session, unexpected_packet_on_probe_drops_probe_only) {
    struct probe_case {
        const char* name;
        std::string data;
        bool binary;
    };
    const std::vector<probe_case> cases = {
        {"message before upgrade", "4hello", false},
        {"pong", "3", false},
        {"ping without probe", "2", false},
        {"ping with other data", "2probe2", false},
        {"binary frame", "2probe", true},
        {"undecodable", "x", false},
        {"empty", "", false},
        {"close", "1", false},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.name);
        auto h = harness::polling();
        ASSERT_EQ(h.s.on_websocket_upgrade(h.now), upgrade_status::accepted);
        h.s.on_websocket_frame(h.now, c.data, c.binary);
        EXPECT_EQ(h.s.state(), session_state::open);
        EXPECT_EQ(h.s.transport(), transport_kind::polling);
        EXPECT_TRUE(h.s.take_websocket_close());
        EXPECT_TRUE(h.frames().empty());
        EXPECT_TRUE(h.s.take_delivered().empty());
        EXPECT_FALSE(h.s.take_close_reason());
    }
}

TEST(engine_session, probe_socket_closing_leaves_session_on_polling) {
    auto h = harness::polling();
    probe(h);
    h.s.on_websocket_closed();
    EXPECT_EQ(h.s.state(), session_state::open);
    EXPECT_FALSE(h.s.take_websocket_close());  // it is gone already
    EXPECT_EQ(h.get(), std::nullopt);          // no more noops: GETs wait again
    ASSERT_EQ(h.s.on_websocket_upgrade(h.now), upgrade_status::accepted);
    h.s.on_websocket_error();
    EXPECT_EQ(h.s.state(), session_state::open);
}

TEST(engine_session, concurrent_or_repeated_upgrade_is_refused) {
    auto h = harness::polling();
    ASSERT_EQ(h.s.on_websocket_upgrade(h.now), upgrade_status::accepted);
    EXPECT_EQ(h.s.on_websocket_upgrade(h.now), upgrade_status::refused);
    EXPECT_EQ(h.s.state(), session_state::upgrading);
    h.frame("2probe");
    h.frame("5");
    EXPECT_EQ(h.s.on_websocket_upgrade(h.now), upgrade_status::refused);
    EXPECT_EQ(h.s.state(), session_state::open);

    auto ws = harness::websocket();
    EXPECT_EQ(ws.s.on_websocket_upgrade(ws.now), upgrade_status::refused);
    EXPECT_EQ(ws.s.on_polling_get(), request_status::transport_mismatch);

    server_session_config no_upgrades;
    no_upgrades.upgrades.clear();
    auto plain = harness::polling(no_upgrades);
    EXPECT_EQ(plain.s.on_websocket_upgrade(plain.now), upgrade_status::refused);
}

// --- close -------------------------------------------------------------------------------------

TEST(engine_session, close_packet_from_client_over_polling) {
    auto h = harness::polling();
    ASSERT_EQ(h.get(), std::nullopt);
    EXPECT_EQ(h.post("4last words\x1e" "1\x1e" "4ignored"), request_status::ok);
    EXPECT_EQ(h.s.state(), session_state::closed);
    EXPECT_EQ(h.s.take_close_reason(), std::string{transport_close});
    EXPECT_EQ(h.delivered(), strings{"4last words"});
    EXPECT_EQ(h.response(), "6");  // the pending GET is released
}

TEST(engine_session, close_packet_from_client_over_websocket) {
    auto h = harness::websocket();
    h.frame("1");
    EXPECT_EQ(h.s.take_close_reason(), std::string{transport_close});
    EXPECT_TRUE(h.frames().empty());
    EXPECT_TRUE(h.s.take_websocket_close());
}

TEST(engine_session, server_close_answers_pending_get_with_close_packet) {
    auto h = harness::polling();
    ASSERT_EQ(h.get(), std::nullopt);
    h.s.close(h.now);
    EXPECT_EQ(h.s.state(), session_state::closed);
    EXPECT_EQ(h.response(), "1");
    EXPECT_EQ(h.s.take_close_reason(), std::string{forced_close});
}

TEST(engine_session, server_close_sends_queued_packets_first) {
    auto h = harness::polling();
    ASSERT_EQ(h.get(), std::nullopt);
    h.s.send("bye");
    h.s.close(h.now, "forced server close");
    EXPECT_EQ(h.response(), "4bye\x1e" "1");
    EXPECT_EQ(h.s.take_close_reason(), "forced server close");
}

TEST(engine_session, server_close_without_get_waits_for_next_get) {
    auto h = harness::polling();
    h.s.send("a");
    h.s.close(h.now);
    EXPECT_EQ(h.s.state(), session_state::closing);
    EXPECT_FALSE(h.s.take_close_reason());
    EXPECT_EQ(h.s.send("b"), send_status::not_open);
    EXPECT_EQ(h.post("4ignored while closing"), request_status::ok);
    EXPECT_TRUE(h.s.take_delivered().empty());
    h.advance(29s);  // no ping while closing
    EXPECT_EQ(h.get(), "4a\x1e" "1");
    EXPECT_EQ(h.s.state(), session_state::closed);
    EXPECT_EQ(h.s.take_close_reason(), std::string{forced_close});
}

TEST(engine_session, server_close_without_get_gives_up_after_close_timeout) {
    auto h = harness::polling();
    h.s.close(h.now);
    EXPECT_EQ(h.s.next_deadline(), h.start + 30s);
    h.advance(30s);
    EXPECT_EQ(h.s.state(), session_state::closed);
    EXPECT_EQ(h.s.take_close_reason(), std::string{forced_close});
    EXPECT_EQ(h.s.on_polling_get(), request_status::session_closed);
}

TEST(engine_session, server_close_on_websocket_flushes_then_closes) {
    auto h = harness::websocket();
    h.s.send("a");
    h.s.close(h.now);
    EXPECT_EQ(h.s.state(), session_state::closed);
    EXPECT_EQ(h.frames(), (strings{"4a", "1"}));
    EXPECT_TRUE(h.s.take_websocket_close());
    EXPECT_EQ(h.s.take_close_reason(), std::string{forced_close});
}

TEST(engine_session, server_close_while_upgrading_drops_the_probe) {
    auto h = harness::polling();
    probe(h);
    h.s.close(h.now);
    EXPECT_TRUE(h.s.take_websocket_close());
    EXPECT_EQ(h.s.state(), session_state::closing);
    h.frame("5");
    EXPECT_EQ(h.s.transport(), transport_kind::polling);
    EXPECT_EQ(h.get(), "1");
}

TEST(engine_session, transport_failures_close_with_reference_reasons) {
    {
        auto h = harness::websocket();
        h.s.on_websocket_closed();
        EXPECT_EQ(h.s.take_close_reason(), std::string{transport_close});
        EXPECT_FALSE(h.s.take_websocket_close());
    }
    {
        auto h = harness::websocket();
        h.s.on_websocket_error();
        EXPECT_EQ(h.s.take_close_reason(), std::string{transport_error});
    }
    {
        auto h = harness::polling();
        ASSERT_EQ(h.get(), std::nullopt);
        h.s.on_polling_get_failed();
        EXPECT_EQ(h.s.take_close_reason(), std::string{transport_error});
        EXPECT_FALSE(h.s.has_polling_response());  // that GET is gone
    }
    {
        auto h = harness::polling();
        ASSERT_EQ(h.s.begin_polling_post(), request_status::ok);
        h.s.on_polling_post_failed();
        EXPECT_EQ(h.s.take_close_reason(), std::string{transport_error});
    }
}

TEST(engine_session, queue_overflow_closes_with_slow_consumer) {
    server_session_config cfg;
    cfg.max_queue_bytes = 100;
    {
        auto h = harness::websocket(cfg);
        const std::string chunk(19, 'x');  // 20 bytes queued each
        for (int i = 0; i < 5; ++i) ASSERT_EQ(h.s.send(chunk), send_status::queued) << i;
        EXPECT_EQ(h.s.queued_bytes(), 100u);
        EXPECT_EQ(h.s.send("y"), send_status::slow_consumer);
        EXPECT_EQ(h.s.take_close_reason(), std::string{slow_consumer});
        EXPECT_EQ(h.frames(), strings{"1"});  // the backlog is dropped, not delivered late
        EXPECT_TRUE(h.s.take_websocket_close());
    }
    {
        auto h = harness::websocket(cfg);
        const std::string chunk(19, 'x');
        // A writer that keeps up never hits the bound.
        for (int i = 0; i < 50; ++i) {
            ASSERT_EQ(h.s.send(chunk), send_status::queued) << i;
            h.s.take_websocket_frames();
        }
    }
    {
        auto h = harness::polling(cfg);
        std::string big(150, 'z');
        EXPECT_EQ(h.s.send(big), send_status::slow_consumer);
        EXPECT_EQ(h.s.take_close_reason(), std::string{slow_consumer});
        EXPECT_EQ(h.s.on_polling_get(), request_status::session_closed);
    }
}

TEST(engine_session, nothing_is_emitted_after_close) {
    auto h = harness::polling();
    ASSERT_EQ(h.get(), std::nullopt);
    h.s.close(h.now);
    ASSERT_EQ(h.response(), "1");
    ASSERT_EQ(h.s.take_close_reason(), std::string{forced_close});
    EXPECT_EQ(h.s.next_deadline(), std::nullopt);

    EXPECT_EQ(h.s.send("late"), send_status::not_open);
    EXPECT_EQ(h.s.on_polling_get(), request_status::session_closed);
    EXPECT_EQ(h.s.begin_polling_post(), request_status::session_closed);
    EXPECT_EQ(h.s.finish_polling_post(h.now, "4x"), request_status::session_closed);
    EXPECT_EQ(h.s.on_websocket_upgrade(h.now), upgrade_status::refused);
    h.frame("4x");
    h.frame("1");
    h.s.on_websocket_closed();
    h.s.on_websocket_error();
    h.s.on_polling_get_failed();
    h.s.on_polling_post_failed();
    h.s.close(h.now, "again");
    h.advance(10min);

    EXPECT_EQ(h.s.state(), session_state::closed);
    EXPECT_FALSE(h.s.has_polling_response());
    EXPECT_FALSE(h.s.take_polling_response());
    EXPECT_FALSE(h.s.has_websocket_frames());
    EXPECT_TRUE(h.s.take_websocket_frames().empty());
    EXPECT_FALSE(h.s.take_websocket_close());
    EXPECT_TRUE(h.s.take_delivered().empty());
    EXPECT_FALSE(h.s.take_close_reason());  // reported exactly once
    EXPECT_EQ(h.s.close_reason(), forced_close);
}

// --- invalid input -----------------------------------------------------------------------------

TEST(engine_session, invalid_input_closes_with_reference_reason) {
    struct bad_case {
        const char* name;
        bool websocket;
        std::string input;
        std::string_view reason;
        std::optional<std::string> get_answer;  // polling: what the pending GET receives
    };
    const std::vector<bad_case> cases = {
        {"empty body", false, "", parse_error, "1"},
        {"unknown type", false, "9", parse_error, "1"},
        {"empty element", false, "4a\x1e\x1e" "4b", parse_error, "1"},
        {"bad base64", false, "b!!!!", parse_error, "1"},
        {"client ping (v4: server pings)", false, "2", transport_error, "1"},
        {"empty frame", true, "", parse_error, std::nullopt},
        {"unknown frame type", true, "7", parse_error, std::nullopt},
        {"client ping frame", true, "2", transport_error, std::nullopt},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.name);
        if (c.websocket) {
            auto h = harness::websocket();
            h.frame(c.input);
            EXPECT_EQ(h.s.take_close_reason(), std::string{c.reason});
            EXPECT_EQ(h.frames(), strings{"1"});
            EXPECT_TRUE(h.s.take_websocket_close());
        } else {
            auto h = harness::polling();
            ASSERT_EQ(h.get(), std::nullopt);
            EXPECT_EQ(h.post(c.input), request_status::ok);  // 200 "ok", as the reference
            EXPECT_EQ(h.s.take_close_reason(), std::string{c.reason});
            EXPECT_EQ(h.response(), c.get_answer);
        }
    }
}

TEST(engine_session, valid_but_meaningless_packets_are_ignored) {
    auto h = harness::polling();
    EXPECT_EQ(h.post("0\x1e" "5\x1e" "6\x1e" "4kept"), request_status::ok);
    EXPECT_EQ(h.s.state(), session_state::open);
    EXPECT_EQ(h.delivered(), strings{"4kept"});
}

TEST(engine_session, websocket_frame_over_max_payload_is_a_transport_error) {
    server_session_config cfg;
    cfg.max_payload = 8;
    auto h = harness::websocket(cfg);
    h.frame(message_text(8));
    EXPECT_EQ(h.delivered().size(), 1u);
    h.frame(message_text(9));
    EXPECT_EQ(h.s.take_close_reason(), std::string{transport_error});
    EXPECT_TRUE(h.delivered().empty());
}

TEST(engine_session, binary_websocket_frame_is_a_binary_message) {
    auto h = harness::websocket();
    h.s.on_websocket_frame(h.now, std::string("\x00\xff", 2), true);
    auto got = h.s.take_delivered();
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0], (eio::packet{eio::packet_type::message, std::string("\x00\xff", 2), true}));
}

// --- fan-out -----------------------------------------------------------------------------------

TEST(engine_session, queued_data_is_shared_not_copied) {
    auto a = harness::websocket();
    auto b = harness::polling();
    auto shared = std::make_shared<const std::string>("broadcast");
    ASSERT_EQ(a.s.send(shared), send_status::queued);
    ASSERT_EQ(b.s.send(shared), send_status::queued);
    auto fa = a.s.take_websocket_frames();
    ASSERT_EQ(b.s.on_polling_get(), request_status::ok);
    auto fb = b.s.take_polling_response();
    ASSERT_EQ(fa.size(), 1u);
    ASSERT_TRUE(fb && fb->size() == 1u);
    EXPECT_EQ(fa[0].data.get(), shared.get());
    EXPECT_EQ((*fb)[0].data.get(), shared.get());
}

}  // namespace

TEST(engine_session, total_queue_bound_closes_the_laggards_and_serves_the_rest) {
    server_session_config cfg;
    cfg.max_queue_bytes = 1000;
    cfg.max_total_queue_bytes = 300;
    cfg.lagging_queue_bytes = 50;
    cfg.total_queued = std::make_shared<std::atomic<std::size_t>>(0);
    const std::string chunk(19, 'x');  // 20 bytes queued each
    auto lagging = harness::websocket(cfg);
    for (int i = 0; i < 15; ++i) ASSERT_EQ(lagging.s.send(chunk), send_status::queued) << i;
    EXPECT_EQ(cfg.total_queued->load(), 300u) << "the shared count follows the queue";
    {
        // Another session keeps up: it is served although the total is at the bound.
        auto fast = harness::websocket(cfg);
        fast.s.take_websocket_frames();  // the open packet
        for (int i = 0; i < 20; ++i) {
            ASSERT_EQ(fast.s.send(chunk), send_status::queued) << i;
            fast.s.take_websocket_frames();
        }
        EXPECT_EQ(cfg.total_queued->load(), 300u);
        // The laggard, over its fair share with the total full, is closed.
        EXPECT_EQ(lagging.s.send(chunk), send_status::slow_consumer);
        EXPECT_EQ(lagging.s.take_close_reason(), std::string{slow_consumer});
        EXPECT_EQ(lagging.s.queued_bytes(), 1u) << "only its close packet";
        EXPECT_EQ(cfg.total_queued->load(), 1u) << "a closed session's backlog leaves the total";
        ASSERT_EQ(fast.s.send(chunk), send_status::queued);
        EXPECT_EQ(cfg.total_queued->load(), 21u);
    }
    EXPECT_EQ(cfg.total_queued->load(), 1u) << "a destroyed session's backlog leaves the total";
}
