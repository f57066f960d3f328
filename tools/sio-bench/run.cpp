#include "sio-bench/run.hpp"

#include "common/cli.hpp"

#include <fmt/core.h>
#include <sys/resource.h>

#include <csignal>
#include <cstdio>
#include <fstream>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

namespace sio::bench {

namespace {

constexpr const char* name = "sio-bench";

std::string error_summary(const run_result& r) {
    std::string s;
    for (const auto& [k, v] : r.totals.errors) s += fmt::format("{}{} x{}", s.empty() ? "" : ", ", k, v);
    return s.empty() ? std::string("no answer") : s;
}

void print_progress(const std::string& transport, const live_figures& f) {
    fmt::print(stderr, "\r\x1b[K{}: {:.1f}/{:.1f}s  connected {}  received {} ({:.0f}/s)  p99(1s) {} us  errors {}",
               transport, f.elapsed_s, f.total_s, f.connected, f.received, f.received_per_s, f.recent_p99_us, f.errors);
    std::fflush(stderr);
}

std::vector<std::string> transports_of(const bench_options& o) {
    if (o.raw) return {"websocket"};
    if (o.transport == "all") return {"websocket", "polling", "upgrade"};
    return {o.transport};
}

// "polling", "polling and upgrade", "a, b and c".
std::string said_as_list(const std::vector<std::string>& items) {
    std::string s;
    for (std::size_t i = 0; i < items.size(); ++i)
        s += (i == 0 ? "" : i + 1 == items.size() ? " and " : ", ") + items[i];
    return s;
}

// One line on why no client of the run connected: the first failure, in the library's words.
void say_no_connection(const bench_options& o, const run_result& r, bool several_runs) {
    const std::string prefix = several_runs ? r.transport + ": " : std::string();
    if (!r.connect_failure.empty())
        fmt::print(stderr, "{}: {}{}\n", name, prefix, r.connect_failure);
    else
        fmt::print(stderr, "{}: {}no client connected to {} ({})\n", name, prefix, o.url, error_summary(r));
}

void write_html(const std::string& file, const std::vector<run_result>& results, const report_about& about) {
    std::ofstream f(file, std::ios::binary | std::ios::trunc);
    f << to_html(results, about);
    f.close();
    if (!f) throw std::runtime_error("could not write the report to " + file);
}

}  // namespace

void prepare_process(const bench_options& o) {
    // Every client holds a socket (two while polling): raise the soft limit on open files to
    // the hard one, and say so when even that is short.
    rlimit files{};
    if (getrlimit(RLIMIT_NOFILE, &files) == 0) {
        if (files.rlim_cur < files.rlim_max) {
            files.rlim_cur = files.rlim_max;
            if (setrlimit(RLIMIT_NOFILE, &files) != 0 || getrlimit(RLIMIT_NOFILE, &files) != 0)
                fmt::print(stderr, "{}: warning: could not raise the limit on open files (ulimit -n)\n", name);
        }
        const rlim_t needed = static_cast<rlim_t>(o.clients + o.senders) * (o.transport == "websocket" ? 1 : 2) + 64;
        if (files.rlim_cur != RLIM_INFINITY && files.rlim_cur < needed)
            fmt::print(stderr, "{}: warning: {} clients may need {} open files; the limit is {} (ulimit -n)\n", name,
                       o.clients, needed, files.rlim_cur);
    }
    // Ctrl-C ends the run early and still reports it; a second one ends the process.
    std::signal(SIGINT, [](int) {
        if (interrupt_requested.exchange(true)) std::_Exit(exit_interrupted);
    });
}

int run_plan(bench_plan& plan) {
    const auto& options = plan.options;
    const auto transports = transports_of(options);
    plan.about.date = iso8601_utc(std::chrono::system_clock::now());
    std::vector<run_result> results;
    std::vector<std::string> not_run;
    bool no_connection = false, errors = false, ensure_failed = false;
    bool tls_failed = false;  // the first run that connected nobody failed in TLS
    if (options.csv) {
        fmt::print("{}", csv_header());
        std::fflush(stdout);
    }
    for (std::size_t i = 0; i < transports.size(); ++i) {
        const auto& t = transports[i];
        if (interrupt_requested.load()) {
            not_run.assign(transports.begin() + static_cast<std::ptrdiff_t>(i), transports.end());
            break;
        }
        std::function<void(const live_figures&)> progress;
        if (options.progress) progress = [&t](const live_figures& f) { print_progress(t, f); };
        results.push_back(run_scenario(options, t, progress));
        if (options.progress) fmt::print(stderr, "\r\x1b[K");
        const auto& r = results.back();
        if (options.json) {
            fmt::print("{}\n", to_json(r));
            std::fflush(stdout);
        }
        if (options.csv) {
            fmt::print("{}", to_csv_row(r));
            std::fflush(stdout);
        }
        for (const auto& f : check_ensure(plan.ensure, r)) {
            fmt::print(stderr, "{}: {}: failed: {}\n", name, r.transport, f);
            ensure_failed = true;
        }
        if (r.totals.connected == 0 && !interrupt_requested.load()) {
            say_no_connection(options, r, transports.size() > 1);
            if (!no_connection) tls_failed = r.tls_failed;
            no_connection = true;
            // The server cannot be reached at all: the other transports would fail alike.
            if (r.unreachable) break;
        } else if (r.totals.error_total() > 0) {
            errors = true;
        }
        if (r.saturated())
            fmt::print(stderr,
                       "{}: warning: sio-bench used {:.0f}% of its {} thread(s) on {}: the figures may measure "
                       "the generator itself; add --threads or lower the load\n",
                       name, r.client_cpu_pct, options.threads, r.transport);
    }
    if (!options.json && !options.csv) {
        // A run that connected nobody has only zeros to show; its line above says why.
        std::vector<run_result> shown;
        for (const auto& r : results)
            if (r.totals.connected > 0 || interrupt_requested.load()) shown.push_back(r);
        fmt::print("{}", format_table(shown));
        std::fflush(stdout);
    }
    if (!options.html.empty()) write_html(options.html, results, plan.about);
    if (interrupt_requested.load()) {
        if (!not_run.empty() && results.empty())
            fmt::print(stderr, "{}: interrupted before the first run; not run: {}\n", name, said_as_list(not_run));
        else if (!not_run.empty())
            fmt::print(stderr, "{}: interrupted during the {} run; not run: {}\n", name, results.back().transport,
                       said_as_list(not_run));
        return exit_interrupted;
    }
    if (no_connection) return tls_failed ? exit_tls_failed : exit_no_connection;
    if (!plan.ensure.empty()) return ensure_failed ? exit_ensure_failed : int{tools::exit_ok};
    return errors ? exit_run_errors : int{tools::exit_ok};
}

}  // namespace sio::bench
