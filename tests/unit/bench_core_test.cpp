// sio-bench's pure parts: the histogram against exact percentiles, the open-model schedule,
// counters merged across threads, bytes per layer, durations and process figures.
#include "sio-bench/core/histogram.hpp"
#include "sio-bench/core/model.hpp"

#include <gtest/gtest.h>

#include <chrono>

#include <string_view>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>
#include <unistd.h>

using namespace sio::bench;

namespace {
std::uint64_t exact_percentile(std::vector<std::uint64_t> v, double q) {
    std::sort(v.begin(), v.end());
    auto rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(v.size())));
    rank = std::max<std::size_t>(rank, 1);
    return v[rank - 1];
}
void expect_within(std::uint64_t got, std::uint64_t want) {
    const double tol = std::max(1.0, static_cast<double>(want) * histogram::relative_error() * 2);
    EXPECT_NEAR(static_cast<double>(got), static_cast<double>(want), tol) << "want " << want;
}
}  // namespace

TEST(bench_histogram, small_values_are_exact) {
    histogram h;
    for (std::uint64_t v = 0; v < 256; ++v) h.record(v);
    EXPECT_EQ(h.count(), 256u);
    EXPECT_EQ(h.percentile(0.5), 127u);
    EXPECT_EQ(h.max(), 255u);
}

TEST(bench_histogram, index_round_trips_within_bucket) {
    for (std::uint64_t v : {0ull, 1ull, 255ull, 256ull, 257ull, 1000ull, 123456789ull, (1ull << 40) + 12345, ~0ull}) {
        const auto i = histogram::index_of(v);
        EXPECT_LE(histogram::lowest_of(i), v);
        EXPECT_LT(v - histogram::lowest_of(i), histogram::width_of(i));
    }
}

TEST(bench_histogram, percentiles_of_known_distributions_within_stated_error) {
    std::mt19937_64 rng(42);
    std::uniform_int_distribution<std::uint64_t> uniform(1, 10'000'000);
    std::lognormal_distribution<double> lognormal(7.0, 1.5);
    for (int dist = 0; dist < 2; ++dist) {
        histogram h;
        std::vector<std::uint64_t> values;
        for (int i = 0; i < 200'000; ++i) {
            const std::uint64_t v = dist == 0 ? uniform(rng) : static_cast<std::uint64_t>(lognormal(rng));
            values.push_back(v);
            h.record(v);
        }
        for (double q : {0.5, 0.9, 0.99, 0.999}) expect_within(h.percentile(q), exact_percentile(values, q));
        EXPECT_EQ(h.percentile(1.0), *std::max_element(values.begin(), values.end()));
    }
}

TEST(bench_histogram, merging_equals_recording_into_one) {
    histogram a, b, all;
    for (std::uint64_t v = 1; v < 100000; v += 7) { a.record(v); all.record(v); }
    for (std::uint64_t v = 5; v < 3000000; v += 1013) { b.record(v); all.record(v); }
    a.merge(b);
    EXPECT_EQ(a.count(), all.count());
    for (double q : {0.5, 0.9, 0.99, 0.999, 1.0}) EXPECT_EQ(a.percentile(q), all.percentile(q));
}

TEST(bench_histogram, empty_reports_zero) {
    histogram h;
    EXPECT_EQ(h.percentile(0.99), 0u);
    EXPECT_EQ(h.max(), 0u);
}

TEST(bench_schedule, send_times_are_fixed_in_advance_and_spread_over_clients) {
    auto s0 = schedule::make(10, 0, 4);
    auto s1 = schedule::make(10, 1, 4);
    EXPECT_EQ(s0.interval, std::chrono::milliseconds(100));
    EXPECT_EQ(s0.due(0), std::chrono::nanoseconds(0));
    EXPECT_EQ(s0.due(5), std::chrono::milliseconds(500));
    EXPECT_EQ(s1.due(0), std::chrono::milliseconds(25));
    EXPECT_EQ(s0.count_before(std::chrono::seconds(1)), 10u);
    EXPECT_EQ(s1.count_before(std::chrono::seconds(1)), 10u);
    EXPECT_EQ(s1.count_before(std::chrono::milliseconds(25)), 0u);
}

TEST(bench_schedule, corrected_latency_includes_the_stall_uncorrected_does_not) {
    // A server that stalls one second: with rate 100/s, messages due during the stall are sent
    // late by a closed-loop sender; measuring from the due time keeps the stall in the figures.
    auto s = schedule::make(100, 0, 1);
    histogram corrected, uncorrected;
    const auto stall_end = std::chrono::milliseconds(1000);
    for (std::uint64_t k = 0; k < 200; ++k) {
        const auto due = s.due(k);
        const auto sent = std::max<std::chrono::nanoseconds>(due, k == 0 ? due : stall_end);
        const auto answered = k == 0 ? stall_end : sent + std::chrono::microseconds(100);
        corrected.record(static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(answered - due).count()));
        uncorrected.record(static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(answered - sent).count()));
    }
    EXPECT_GE(corrected.percentile(0.99), 950'000u);
    EXPECT_LT(uncorrected.percentile(0.99), 1'000u);
}

TEST(bench_counters, per_thread_counters_sum) {
    counters a, b;
    a.sent = 3; a.received = 2; a.errors["ack_timeout"] = 1; a.latency.record(10);
    b.sent = 4; b.received = 4; b.errors["ack_timeout"] = 2; b.errors["connect_failed"] = 1; b.latency.record(20);
    a.merge(b);
    EXPECT_EQ(a.sent, 7u);
    EXPECT_EQ(a.received, 6u);
    EXPECT_EQ(a.errors["ack_timeout"], 3u);
    EXPECT_EQ(a.error_total(), 4u);
    EXPECT_EQ(a.latency.count(), 2u);
}

TEST(bench_wire, websocket_header_sizes_follow_rfc6455) {
    EXPECT_EQ(ws_header_size(0, false), 2u);
    EXPECT_EQ(ws_header_size(125, true), 6u);
    EXPECT_EQ(ws_header_size(126, false), 4u);
    EXPECT_EQ(ws_header_size(65535, true), 8u);
    EXPECT_EQ(ws_header_size(65536, false), 10u);
    EXPECT_EQ(ws_header_size(65536, true), 14u);
}

TEST(bench_wire, echo_bytes_by_layer_match_the_encoded_frames) {
    // Out: the frame 421["echo","xxxx"], back: 431["xxxx"]; the user payload is the 4 bytes of
    // "xxxx" each way, everything else is Engine.IO/Socket.IO.
    const std::size_t out_frame = std::string_view{R"(421["echo","xxxx"])"}.size();  // 18
    const std::size_t back_frame = std::string_view{R"(431["xxxx"])"}.size();        // 11
    auto w = echo_wire_bytes("websocket", "/", "echo", 4, 1);
    EXPECT_EQ(w.payload, 8);
    EXPECT_EQ(w.protocol, out_frame + back_frame - 8);
    EXPECT_EQ(w.ws_framing, 6 + 2);
    EXPECT_TRUE(w.http_known);
    auto p = echo_wire_bytes("polling", "/admin", "echo", 4, 1);
    EXPECT_EQ(p.ws_framing, 0);
    EXPECT_FALSE(p.http_known);
    EXPECT_EQ(p.protocol, out_frame + back_frame - 8 + 2 * std::string_view{"/admin,"}.size());  // on both packets
}

TEST(bench_duration, units) {
    EXPECT_EQ(parse_duration("2s"), std::chrono::seconds(2));
    EXPECT_EQ(parse_duration("250ms"), std::chrono::milliseconds(250));
    EXPECT_EQ(parse_duration("1.5m"), std::chrono::seconds(90));
    EXPECT_EQ(parse_duration("3"), std::chrono::seconds(3));
    EXPECT_EQ(parse_duration("100us"), std::chrono::microseconds(100));
    EXPECT_FALSE(parse_duration(""));
    EXPECT_FALSE(parse_duration("-1s"));
    EXPECT_FALSE(parse_duration("5 parsecs"));
    EXPECT_FALSE(parse_duration("1.2.3s"));
}

TEST(bench_process, vmrss_is_read_from_status_text) {
    EXPECT_EQ(parse_vmrss_kib("Name:\tx\nVmRSS:\t   12345 kB\nThreads: 1\n"), 12345u);
    EXPECT_FALSE(parse_vmrss_kib("Name:\tx\n"));
    EXPECT_TRUE(process_rss_kib(getpid()).has_value());
    EXPECT_GT(self_usage().rss_kib, 0u);
}

TEST(bench_process, cpu_ticks_are_read_after_the_command_name) {
    // utime 250 and stime 50 (fields 14 and 15); the name holds spaces and a parenthesis.
    const std::string line = "4242 (sio serve) x) S 1 4242 4242 0 -1 4194560 1200 0 0 0 250 50 0 0 20 0 1 0 99 1000 20";
    EXPECT_EQ(parse_proc_stat_cpu_ticks(line), 300u);
    EXPECT_FALSE(parse_proc_stat_cpu_ticks("4242 (truncated) S 1 2 3"));
    EXPECT_FALSE(parse_proc_stat_cpu_ticks("no parenthesis 1 2 3 4 5 6 7 8 9 10 11 12 13"));
    EXPECT_FALSE(parse_proc_stat_cpu_ticks("1 (x) S 1 1 1 0 -1 0 0 0 0 0 2x5 50 0"));
    // This process: some CPU used, and more after spinning for a while.
    const auto before = process_cpu_seconds(getpid());
    ASSERT_TRUE(before.has_value());
    volatile std::uint64_t sink = 0;
    const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(60);
    while (std::chrono::steady_clock::now() < until) sink = sink + 1;
    const auto after = process_cpu_seconds(getpid());
    ASSERT_TRUE(after.has_value());
    EXPECT_GT(*after, *before);
    EXPECT_FALSE(process_cpu_seconds(-5).has_value());
}

TEST(bench_report, server_cpu_is_reported_per_thousand_messages) {
    run_result r;
    r.scenario = "echo";
    r.transport = "websocket";
    r.duration_s = 2;
    r.totals.received = 40'000;  // 20,000 a second
    EXPECT_FALSE(nlohmann::json::parse(to_json(r)).contains("server_cpu_pct"));
    EXPECT_EQ(format_table({r}).find("server cpu"), std::string::npos);
    r.server_cpu_pct = 50.0;  // half a core: 25 us per message
    auto j = nlohmann::json::parse(to_json(r));
    EXPECT_DOUBLE_EQ(j["server_cpu_pct"].get<double>(), 50.0);
    EXPECT_DOUBLE_EQ(j["server_cpu_ms_per_1000"].get<double>(), 25.0);
    EXPECT_NE(format_table({r}).find("25.0"), std::string::npos);
}

TEST(bench_report, json_has_the_documented_fields_and_table_shows_ratios) {
    run_result a, b;
    a.scenario = b.scenario = "echo";
    a.transport = "websocket"; b.transport = "polling";
    a.clients = b.clients = 2;
    a.duration_s = b.duration_s = 1;
    a.totals.sent = a.totals.received = 100;
    b.totals.sent = b.totals.received = 50;
    a.totals.latency.record(100);
    b.totals.latency.record(400);
    auto j = nlohmann::json::parse(to_json(a));
    for (auto k : {"scenario", "transport", "clients", "duration_s", "sent", "received", "errors", "msgs_per_s",
                   "latency_us", "latency_uncorrected_us", "connect_us", "bytes_per_msg", "http_requests_per_msg",
                   "client_cpu_pct", "client_rss_kib"})
        EXPECT_TRUE(j.contains(k)) << k;
    EXPECT_EQ(j["msgs_per_s"], 100.0);
    const auto table = format_table({a, b});
    EXPECT_NE(table.find("websocket"), std::string::npos);
    EXPECT_NE(table.find("(x0.50)"), std::string::npos);
    EXPECT_NE(table.find("(x4.00)"), std::string::npos);
}

TEST(bench_report, broadcast_json_has_fanout_and_expected) {
    run_result r;
    r.scenario = "broadcast";
    r.transport = "websocket";
    r.totals.fanout.record(1500);
    r.totals.fanout.record(2500);
    r.expected = 40;
    auto j = nlohmann::json::parse(to_json(r));
    ASSERT_TRUE(j.contains("fanout_us"));
    EXPECT_EQ(j["fanout_us"]["max"], 2500);
    EXPECT_EQ(j["expected"], 40);
    r.scenario = "echo";
    EXPECT_FALSE(nlohmann::json::parse(to_json(r)).contains("fanout_us"));
}

TEST(bench_report, csv_rows_have_as_many_cells_as_the_header) {
    run_result a;
    a.scenario = "echo";
    a.transport = "polling";
    a.totals.received = 7;
    a.totals.latency.record(1000);
    a.http_requests_per_msg = 2.0;
    run_result b = a;
    b.bytes.http_known = false;  // unknown cells stay empty
    b.http_requests_per_msg.reset();
    const auto cells = [](const std::string& line) { return std::count(line.begin(), line.end(), ',') + 1; };
    const auto header = csv_header();
    EXPECT_EQ(cells(header), cells(to_csv_row(a)));
    EXPECT_EQ(cells(header), cells(to_csv_row(b)));
    EXPECT_EQ(to_csv_row(a).rfind("echo,polling,0,", 0), 0u);
    EXPECT_NE(to_csv_row(b).find(",,,"), std::string::npos);
}

TEST(bench_ensure, conditions_parse_and_fail_with_the_measured_value) {
    std::string error;
    auto conds = parse_ensure("p99<50ms, errors=0,msgs_per_s>=100", error);
    ASSERT_TRUE(conds) << error;
    ASSERT_EQ(conds->size(), 3u);
    EXPECT_EQ((*conds)[0].value, 50000.0);
    run_result r;
    r.duration_s = 1;
    r.totals.received = 150;
    for (int i = 0; i < 100; ++i) r.totals.latency.record(1000);
    EXPECT_TRUE(check_ensure(*conds, r).empty());
    r.totals.latency.record(90000, 10);
    r.totals.errors["ack_timeout"] = 2;
    const auto failed = check_ensure(*conds, r);
    ASSERT_EQ(failed.size(), 2u);
    EXPECT_NE(failed[0].find("p99<50ms (was "), std::string::npos);
    EXPECT_EQ(failed[1], "errors=0 (was 2)");
}

TEST(bench_ensure, malformed_conditions_are_refused) {
    std::string error;
    for (const char* bad : {"", "p99", "p99<50", "latency<5ms", "errors=many", "errors=<1", "<5", "p99<50ms,"}) {
        error.clear();
        EXPECT_FALSE(parse_ensure(bad, error)) << bad;
        EXPECT_FALSE(error.empty()) << bad;
    }
}

TEST(bench_report, timelines_of_threads_merge_by_second) {
    const std::vector<std::vector<timeline_point>> per_thread{
        {{0, 10, 100, 900, 1000}, {1, 5, 200, 300, 400}},
        {{1, 7, 150, 800, 900}, {3, 1, 50, 50, 50}}};
    const auto m = merge_timeline(per_thread);
    ASSERT_EQ(m.size(), 3u);
    EXPECT_EQ(m[0].second, 0);
    EXPECT_EQ(m[1].second, 1);
    EXPECT_EQ(m[1].count, 12u);
    EXPECT_EQ(m[1].p99_us, 800u);
    EXPECT_EQ(m[1].max_us, 900u);
    EXPECT_EQ(m[2].second, 3);
}

TEST(bench_report, html_is_self_contained_with_one_curve_per_run_and_percentile_kind) {
    run_result a, b;
    a.scenario = b.scenario = "echo";
    a.transport = "websocket";
    b.transport = "polling";
    for (auto* r : {&a, &b}) {
        r->totals.latency.record(1000);
        r->totals.latency_uncorrected.record(800);
        r->timeline = {{0, 1, 1000, 1000, 1000}, {1, 1, 1000, 1000, 1000}};
    }
    const auto page = to_html({a, b}, "sio-bench http://h/?a=1&b=<2>");
    EXPECT_EQ(page.rfind("<!DOCTYPE html>", 0), 0u);
    EXPECT_EQ(page.find("<script"), std::string::npos);
    EXPECT_EQ(page.find("src="), std::string::npos);
    EXPECT_NE(page.find("a=1&amp;b=&lt;2&gt;"), std::string::npos);
    std::size_t svgs = 0, lines = 0;
    for (auto at = page.find("<svg"); at != std::string::npos; at = page.find("<svg", at + 1)) ++svgs;
    for (auto at = page.find("<polyline"); at != std::string::npos; at = page.find("<polyline", at + 1)) ++lines;
    EXPECT_EQ(svgs, 2u);
    EXPECT_EQ(lines, 2u * 2 + 2u * 2);  // over time: p50 and p99 per run; by percentile: corrected and not per run
}
