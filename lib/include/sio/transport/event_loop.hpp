// What one event loop (an io_context run by one thread) keeps for all of its connections, on the
// uWebSockets model (its Loop.h and LoopData.h): one timer for every deadline of the loop, and
// one list of the streams that have frames to write (the cork), flushed once per loop turn.
//
// Both are plain single-threaded structures: every call, and every callback they make, runs on
// the executor they were given. A server whose sessions share one io_context between threads
// gives each session a timer_queue of its own on the session's strand instead (one timer, as
// before), and no cork.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <vector>

namespace sio::transport {

class ws_stream;
class timer_queue;

// Something with one deadline on a timer_queue (an Engine.IO session: its next ping, its pong
// or upgrade timeout). Holds its place in the queue; an idle deadline costs 16 bytes here and
// 8 in the queue, instead of a timer object and its pending wait.
class deadline_client {
public:
    using time_point = std::chrono::steady_clock::time_point;

    // The deadline passed. It is no longer scheduled; the client may schedule it again.
    virtual void on_deadline() noexcept = 0;

    bool scheduled() const noexcept { return slot_ != unscheduled; }
    time_point due() const noexcept { return due_; }

    // The client leaves its queue before it goes (timer_queue::cancel), on the queue's executor.
    virtual ~deadline_client() = default;

protected:
    deadline_client() = default;
    deadline_client(const deadline_client&) = delete;
    deadline_client& operator=(const deadline_client&) = delete;

private:
    friend class timer_queue;
    static constexpr std::uint32_t unscheduled = std::numeric_limits<std::uint32_t>::max();
    time_point due_{};
    std::uint32_t slot_ = unscheduled;  // its index in the queue's heap
};

// Every deadline of a loop in one binary heap, and one steady_timer set to the earliest. Setting,
// moving or cancelling a deadline is O(log n) without an allocation (once the heap has grown).
class timer_queue : public std::enable_shared_from_this<timer_queue> {
public:
    using time_point = deadline_client::time_point;

    explicit timer_queue(boost::asio::any_io_executor executor);
    // A queue shared by a loop's sessions, which may outlive the loop's io_context (a session
    // held by another loop's handler keeps it): its timer is let go when that io_context shuts
    // down, while the timer's service still exists. The queue still takes deadlines after that;
    // none fires.
    static std::shared_ptr<timer_queue> for_loop(boost::asio::any_io_executor executor);
    ~timer_queue();
    timer_queue(const timer_queue&) = delete;
    timer_queue& operator=(const timer_queue&) = delete;

    // Sets (or moves) `c`'s deadline. On the executor.
    void schedule(deadline_client& c, time_point when);
    // Takes `c` out of the queue; nothing if it is not in it. On the executor.
    void cancel(deadline_client& c) noexcept;
    std::size_t size() const noexcept { return heap_.size(); }

private:
    void place(std::size_t i, deadline_client* c) noexcept;
    void sift_up(std::size_t i) noexcept;
    void sift_down(std::size_t i) noexcept;
    void remove_at(std::size_t i) noexcept;
    void arm();
    void on_timer();

    friend class loop_timers;
    std::optional<boost::asio::steady_timer> timer_;  // empty once its io_context shut down
    std::vector<deadline_client*> heap_;  // heap_[0] is due first
    time_point armed_ = time_point::max();  // what the timer waits for; max: no wait pending
};

// The streams of a loop that have frames to write. The first stream added in a loop turn posts
// one flush for the loop; it writes every stream on the list in one gather write each. A stream
// is on the list at most once (it remembers that it is: ws_stream's flush_scheduled_).
class write_cork : public std::enable_shared_from_this<write_cork> {
public:
    explicit write_cork(boost::asio::any_io_executor executor) : executor_(std::move(executor)) {}
    write_cork(const write_cork&) = delete;
    write_cork& operator=(const write_cork&) = delete;

    // Flushes `s` at the end of this loop turn. On the executor.
    void add(std::shared_ptr<ws_stream> s);
    std::size_t size() const noexcept { return pending_.size(); }

private:
    void flush_all();

    boost::asio::any_io_executor executor_;
    std::vector<std::shared_ptr<ws_stream>> pending_;
    std::vector<std::shared_ptr<ws_stream>> flushing_;  // kept for its capacity
    bool posted_ = false;
};

}  // namespace sio::transport
