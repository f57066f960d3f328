// Runs one scenario on one transport: one io_context per thread, clients spread over them,
// counters per thread summed at the end. Every run is bounded in time: it ends at most
// `timeout` + 1 s after ramp-up + duration, whatever the server does.
#pragma once

#include "sio-bench/core/model.hpp"

#include <atomic>
#include <chrono>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace sio::bench {

struct bench_options {
    std::string url;
    std::string transport = "websocket";  // websocket|polling|upgrade|all
    std::string scenario = "echo";        // echo|broadcast|connect|idle
    unsigned clients = 10;
    unsigned senders = 1;                 // broadcast: clients that emit (on top of --clients listeners)
    std::chrono::microseconds ramp_up{0};
    std::chrono::microseconds duration{std::chrono::seconds(10)};
    double rate = 10;  // messages per second per client (per sender for broadcast)
    std::size_t payload = 32;
    unsigned in_flight = 1;
    unsigned threads = 1;
    std::string event = "echo";           // echo: acked event; broadcast: the event asking for a broadcast
    std::string listen_event = "sio-bench";  // broadcast: the event the listeners receive
    std::string nsp = "/";
    std::string auth;  // JSON object
    std::vector<std::pair<std::string, std::string>> headers;
    std::string path = "/socket.io/";                         // Engine.IO path
    std::vector<std::pair<std::string, std::string>> query;  // added to every request's query
    bool tls_verify = true;                                   // --insecure turns it off
    std::string ca_file, cert_file, key_file;                 // PEM files; empty: system store, no client certificate
    bool raw = false;
    bool msgpack = false;  // --parser msgpack: the server uses socket.io-msgpack-parser
    long server_pid = 0;
    bool json = false;
    bool csv = false;
    std::string html;  // --html FILE
    std::string ensure;  // --ensure conditions, as written
    bool progress = false;
    std::chrono::microseconds timeout{std::chrono::seconds(10)};  // connect, ack, and drain at the end
};

// The live figures the progress line shows (called about four times a second, off the workers).
struct live_figures {
    double elapsed_s = 0;
    double total_s = 0;
    std::uint64_t connected = 0;
    std::uint64_t received = 0;
    double received_per_s = 0;  // since the previous call
    std::uint64_t errors = 0;
    std::uint64_t recent_p99_us = 0;  // p99 of the last second
};

// Set (from a signal handler) to end the current run early: the clients close, answers still in
// flight count as "interrupted", and the figures so far are reported.
extern std::atomic<bool> interrupt_requested;

run_result run_scenario(const bench_options& options, const std::string& transport,
                        const std::function<void(const live_figures&)>& progress = {});

}  // namespace sio::bench
