#include "sio/transport/event_loop.hpp"

#include "sio/codec/ws_frame.hpp"
#include "sio/transport/exception_text.hpp"
#include "sio/transport/ws_stream.hpp"

#include <boost/asio/execution/context.hpp>
#include <boost/asio/execution_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/query.hpp>

#include <exception>
#include <mutex>
#include <string>

namespace sio::transport {

namespace asio = boost::asio;
using boost::system::error_code;

namespace {

// Deadlines handled in one turn of the loop at most: when many fall due at once (sessions that
// connected together ping together), the rest wait a turn and other work runs between.
constexpr int max_deadlines_per_turn = 512;

}  // namespace

// --- timer_queue -------------------------------------------------------------------------------

// The loop-shared queues of one io_context, told when it shuts down (an Asio service: every
// service is shut down before any is destroyed, so the timers can still be let go then).
class loop_timers final : public asio::execution_context::service {
public:
    static asio::execution_context::id id;
    explicit loop_timers(asio::execution_context& context) : asio::execution_context::service(context) {}

    void add(std::weak_ptr<timer_queue> q) {
        std::lock_guard lock{mutex_};
        queues_.push_back(std::move(q));
    }

private:
    void shutdown() override {
        std::vector<std::weak_ptr<timer_queue>> queues;
        {
            std::lock_guard lock{mutex_};
            queues.swap(queues_);
        }
        for (auto& w : queues)
            if (auto q = w.lock()) {
                q->armed_ = timer_queue::time_point::max();
                q->timer_.reset();
            }
    }

    std::mutex mutex_;
    std::vector<std::weak_ptr<timer_queue>> queues_;  // one per server on this loop: few
};

asio::execution_context::id loop_timers::id;

timer_queue::timer_queue(asio::any_io_executor executor) { timer_.emplace(std::move(executor)); }

std::shared_ptr<timer_queue> timer_queue::for_loop(asio::any_io_executor executor) {
    auto& context = asio::query(executor, asio::execution::context);
    auto q = std::make_shared<timer_queue>(std::move(executor));
    asio::use_service<loop_timers>(context).add(q);
    return q;
}

timer_queue::~timer_queue() {
    // A client still queued outlives the queue only when its loop is being torn down; it must
    // not believe it is scheduled.
    for (auto* c : heap_) c->slot_ = deadline_client::unscheduled;
}

void timer_queue::place(std::size_t i, deadline_client* c) noexcept {
    heap_[i] = c;
    c->slot_ = static_cast<std::uint32_t>(i);
}

void timer_queue::sift_up(std::size_t i) noexcept {
    auto* c = heap_[i];
    while (i > 0) {
        const std::size_t parent = (i - 1) / 2;
        if (heap_[parent]->due_ <= c->due_) break;
        place(i, heap_[parent]);
        i = parent;
    }
    place(i, c);
}

void timer_queue::sift_down(std::size_t i) noexcept {
    auto* c = heap_[i];
    const std::size_t n = heap_.size();
    for (;;) {
        std::size_t child = 2 * i + 1;
        if (child >= n) break;
        if (child + 1 < n && heap_[child + 1]->due_ < heap_[child]->due_) ++child;
        if (c->due_ <= heap_[child]->due_) break;
        place(i, heap_[child]);
        i = child;
    }
    place(i, c);
}

void timer_queue::remove_at(std::size_t i) noexcept {
    heap_[i]->slot_ = deadline_client::unscheduled;
    auto* last = heap_.back();
    heap_.pop_back();
    if (i == heap_.size()) return;  // it was the last one
    place(i, last);
    sift_up(i);
    sift_down(last->slot_);
}

void timer_queue::schedule(deadline_client& c, time_point when) {
    const bool first_changes = heap_.empty() || when < heap_.front()->due_ || heap_.front() == &c;
    if (c.scheduled()) {
        c.due_ = when;
        sift_up(c.slot_);
        sift_down(c.slot_);
    } else {
        c.due_ = when;
        heap_.push_back(&c);
        sift_up(heap_.size() - 1);
    }
    if (first_changes) arm();
}

void timer_queue::cancel(deadline_client& c) noexcept {
    if (!c.scheduled()) return;
    const bool was_first = c.slot_ == 0;
    remove_at(c.slot_);
    if (was_first && heap_.empty() && armed_ != time_point::max()) {
        // Nothing left to wait for: the loop must be free to run out of work.
        armed_ = time_point::max();
        if (timer_) timer_->cancel();
    }
    // Otherwise the wait pending for the old first deadline stays; it finds nothing due, or an
    // earlier deadline than it must, and waits again for the right one.
}

void timer_queue::arm() {
    if (heap_.empty() || !timer_) return;
    const auto due = heap_.front()->due_;
    if (due == armed_) return;
    armed_ = due;
    // Replaces the pending wait, if any: its handler runs with operation_aborted and does nothing.
    timer_->expires_at(due);
    timer_->async_wait([self = shared_from_this(), due](error_code ec) {
        if (ec || self->armed_ != due) return;  // replaced, or cancelled
        self->armed_ = time_point::max();
        self->on_timer();
    });
}

void timer_queue::on_timer() {
    const auto now = std::chrono::steady_clock::now();
    for (int n = 0; n < max_deadlines_per_turn && !heap_.empty() && heap_.front()->due_ <= now; ++n) {
        auto* c = heap_.front();
        remove_at(0);
        c->on_deadline();  // may schedule itself, or others, again
    }
    arm();
}

// --- write_cork --------------------------------------------------------------------------------

void write_cork::add(std::shared_ptr<ws_stream> s) {
    pending_.push_back(std::move(s));
    if (posted_) return;
    posted_ = true;
    asio::post(executor_, [self = shared_from_this()] { self->flush_all(); });
}

void write_cork::flush_all() {
    posted_ = false;
    flushing_.swap(pending_);
    for (auto& s : flushing_) {
        s->flush_scheduled_ = false;
        try {
            s->flush();
        } catch (...) {
            // Only the owner's on_ws_writable can throw here (for want of memory): that stream
            // ends and says why; the others of the loop are still written.
            s->fail(codec::ws::close_code::internal_error,
                    "writing the WebSocket failed: " + exception_text(std::current_exception()), false);
        }
    }
    flushing_.clear();
}

}  // namespace sio::transport
