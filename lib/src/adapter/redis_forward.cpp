// Request forwarding through Redis (redis_forward.hpp): the sending side (forward, the pending
// requests, their sweep) and the owner's side (serve: the request over a loopback connection to
// this server's own listener, and the answer published back).
#include "sio/adapter/redis_forward.hpp"

#include "resp_conn.hpp"

#include "sio/transport/exception_text.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include <algorithm>
#include <atomic>
#include <unordered_map>

namespace sio::adapter::redis {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using nl = nlohmann::json;
using detail::resp_conn;
using clock_type = std::chrono::steady_clock;
using done_fn = std::function<void(std::optional<engine::forwarded_response>, engine::forward_failure)>;
constexpr auto tok = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t tag_size = 8;
constexpr std::size_t plain_sid_size = 20;  // engine::generate_sid()

using header_list = std::vector<std::pair<std::string, std::string>>;

nl headers_json(const header_list& h) {
    nl out = nl::array();
    for (const auto& [k, v] : h) out.push_back(nl::array({k, v}));
    return out;
}

std::optional<header_list> headers_of(const nl& j) {
    if (!j.is_array()) return std::nullopt;
    header_list out;
    for (const auto& e : j) {
        if (!e.is_array() || e.size() != 2 || !e[0].is_string() || !e[1].is_string()) return std::nullopt;
        out.emplace_back(e[0].get<std::string>(), e[1].get<std::string>());
    }
    return out;
}

nl binary_of(const std::string& s) { return nl::binary(std::vector<std::uint8_t>(s.begin(), s.end())); }

std::string text_of_binary(const nl& j) {
    const auto& b = j.get_binary();
    return std::string(b.begin(), b.end());
}

std::string pack(const nl& j) {
    const auto bytes = nl::to_msgpack(j);
    return std::string(bytes.begin(), bytes.end());
}

class forwarder_impl final : public forwarder, public std::enable_shared_from_this<forwarder_impl> {
public:
    forwarder_impl(asio::any_io_executor executor, options redis, forward_options fo)
        : strand_(asio::make_strand(executor)), redis_(std::move(redis)), fo_(fo), tag_(detail::random_id(tag_size)),
          sweep_(strand_) {}

    std::string sid_prefix() const override { return tag_; }

    std::optional<std::string> owner_of(std::string_view sid) const override {
        if (sid.size() != tag_size + plain_sid_size) return std::nullopt;
        auto owner = sid.substr(0, tag_size);
        if (owner == tag_) return std::nullopt;
        return std::string{owner};
    }

    void forward(std::string owner, engine::forwarded_request req, done_fn done) override {
        asio::post(strand_, [self = shared_from_this(), owner = std::move(owner), req = std::move(req),
                             done = std::move(done)]() mutable { self->send(std::move(owner), std::move(req), std::move(done)); });
    }

    void start(asio::ip::tcp::endpoint local) override {
        if (local.address().is_unspecified()) {
            local.address(local.address().is_v6() ? asio::ip::address(asio::ip::address_v6::loopback())
                                                  : asio::ip::address(asio::ip::address_v4::loopback()));
        }
        asio::post(strand_, [self = shared_from_this(), local] { self->start_on_strand(local); });
    }

    void stop() override {
        asio::post(strand_, [self = shared_from_this()] {
            self->stopped_ = true;
            if (self->pub_) self->pub_->stop();
            if (self->sub_) self->sub_->stop();
            self->sweep_.cancel();
            self->fail_all(engine::forward_failure::unreachable);
        });
    }

    forward_stats stats() const override {
        forward_stats s;
        s.connected = up_.load(std::memory_order_relaxed);
        s.sent = sent_.load(std::memory_order_relaxed);
        s.served = served_.load(std::memory_order_relaxed);
        s.malformed = malformed_.load(std::memory_order_relaxed);
        return s;
    }

    const std::string& node() const noexcept override { return tag_; }

private:
    struct pending {
        std::string owner;
        done_fn done;
        clock_type::time_point started;
    };

    std::string channel(std::string_view node) const { return fmt::format("{}-forward#{}#", redis_.prefix, node); }

    void log(std::string_view line) const {
        if (redis_.log) redis_.log(line);
    }

    void start_on_strand(asio::ip::tcp::endpoint local) {
        local_ = local;
        std::weak_ptr<forwarder_impl> weak = shared_from_this();
        pub_ = std::make_shared<resp_conn>(strand_, redis_, "forward publisher");
        sub_ = std::make_shared<resp_conn>(strand_, redis_, "forward subscriber");
        sub_->track_replies = false;
        auto update = [weak] {
            if (auto self = weak.lock()) self->up_ = self->pub_->up() && self->sub_->up();
        };
        pub_->on_up = update;
        sub_->on_up = [weak] {
            auto self = weak.lock();
            if (!self) return;
            self->sub_->send({"SUBSCRIBE", self->channel(self->tag_)});
            self->up_ = self->pub_->up();
        };
        auto down = [weak] {
            auto self = weak.lock();
            if (!self) return;
            self->up_ = false;
            // Answers come on the subscriber: what waits for one will not get it.
            self->fail_all(engine::forward_failure::unreachable);
        };
        pub_->on_down = down;
        sub_->on_down = down;
        sub_->on_push = [weak](const redisReply* r) {
            if (auto self = weak.lock()) self->on_push(r);
        };
        pub_->start();
        sub_->start();
    }

    void finish(std::uint64_t id, std::optional<engine::forwarded_response> res, engine::forward_failure why) {
        const auto it = pending_.find(id);
        if (it == pending_.end()) return;
        auto done = std::move(it->second.done);
        pending_.erase(it);
        done(std::move(res), why);
    }

    void fail_all(engine::forward_failure why) {
        auto all = std::move(pending_);
        pending_.clear();
        for (auto& [id, p] : all) p.done(std::nullopt, why);
    }

    void send(std::string owner, engine::forwarded_request req, done_fn done) {
        if (stopped_ || !up_) {
            done(std::nullopt, engine::forward_failure::unreachable);
            return;
        }
        const auto id = ++next_id_;
        nl m = {{"k", 0}, {"id", id}, {"from", tag_}, {"m", req.method}, {"u", req.target},
                {"h", headers_json(req.headers)}, {"b", binary_of(req.body)}};
        pending_.emplace(id, pending{owner, std::move(done), clock_type::now()});
        ++sent_;
        std::weak_ptr<forwarder_impl> weak = shared_from_this();
        pub_->send({"PUBLISH", channel(owner), pack(m)}, [weak, id](const redisReply* r) {
            auto self = weak.lock();
            if (!self) return;
            if (!r || r->type != REDIS_REPLY_INTEGER) {
                self->finish(id, std::nullopt, engine::forward_failure::unreachable);
            } else if (r->integer == 0) {
                self->finish(id, std::nullopt, engine::forward_failure::owner_gone);
            }
        });
        arm_sweep();
    }

    void arm_sweep() {
        if (sweeping_ || pending_.empty() || stopped_) return;
        sweeping_ = true;
        sweep_.expires_after(fo_.liveness_interval);
        sweep_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
            self->sweeping_ = false;
            if (ec || self->stopped_) return;
            self->sweep();
            self->arm_sweep();
        });
    }

    // Ends the requests past answer_timeout; asks whether the owners of those waiting longer
    // than liveness_interval still listen.
    void sweep() {
        const auto now = clock_type::now();
        std::vector<std::uint64_t> late;
        std::vector<std::string> owners;
        for (const auto& [id, p] : pending_) {
            if (now - p.started >= fo_.answer_timeout) {
                late.push_back(id);
            } else if (now - p.started >= fo_.liveness_interval &&
                       std::find(owners.begin(), owners.end(), p.owner) == owners.end()) {
                owners.push_back(p.owner);
            }
        }
        for (const auto id : late) finish(id, std::nullopt, engine::forward_failure::timeout);
        std::weak_ptr<forwarder_impl> weak = shared_from_this();
        for (auto& owner : owners) {
            pub_->send({"PUBSUB", "NUMSUB", channel(owner)}, [weak, owner](const redisReply* r) {
                auto self = weak.lock();
                if (!self || !r || r->type != REDIS_REPLY_ARRAY || r->elements != 2) return;
                const auto* n = r->element[1];
                if (n->type == REDIS_REPLY_INTEGER && n->integer == 0) self->owner_gone(owner);
            });
        }
    }

    void owner_gone(const std::string& owner) {
        std::vector<std::uint64_t> ids;
        for (const auto& [id, p] : pending_)
            if (p.owner == owner) ids.push_back(id);
        for (const auto id : ids) finish(id, std::nullopt, engine::forward_failure::owner_gone);
    }

    void malformed(std::string_view why) {
        if (malformed_++ < 10) log(fmt::format("forwarding: dropped a malformed message: {}", why));
    }

    void on_push(const redisReply* r) {
        if (r && r->type == REDIS_REPLY_ERROR) {
            log(fmt::format("redis forward subscriber: error reply: {}", std::string_view(r->str, r->len)));
            return;
        }
        if (!r || r->type != REDIS_REPLY_ARRAY || r->elements < 3) return;
        if (detail::str_of(r->element[0]) != "message") return;
        const auto payload = detail::str_of(r->element[2]);
        const auto m = nl::from_msgpack(payload.begin(), payload.end(), true, false);
        if (m.is_discarded() || !m.is_object()) return malformed("not a msgpack map");
        const auto k = m.find("k");
        const auto id = m.find("id");
        if (k == m.end() || !k->is_number_unsigned() || id == m.end() || !id->is_number_unsigned())
            return malformed("no kind or id");
        if (k->get<unsigned>() == 0) return on_request(m, id->get<std::uint64_t>());
        on_answer(m, id->get<std::uint64_t>());
    }

    void on_answer(const nl& m, std::uint64_t id) {
        if (m.contains("gone")) return finish(id, std::nullopt, engine::forward_failure::owner_gone);
        const auto s = m.find("s");
        const auto b = m.find("b");
        auto headers = headers_of(m.value("h", nl{}));
        if (s == m.end() || !s->is_number_unsigned() || b == m.end() || !b->is_binary() || !headers)
            return malformed("an answer without status, headers or body");
        engine::forwarded_response res;
        res.status = s->get<unsigned>();
        res.headers = std::move(*headers);
        res.body = text_of_binary(*b);
        finish(id, std::move(res), engine::forward_failure::owner_gone);
    }

    void on_request(const nl& m, std::uint64_t id) {
        const auto from = m.find("from");
        const auto method = m.find("m");
        const auto target = m.find("u");
        const auto b = m.find("b");
        auto headers = headers_of(m.value("h", nl{}));
        if (from == m.end() || !from->is_string() || method == m.end() || !method->is_string() || target == m.end() ||
            !target->is_string() || b == m.end() || !b->is_binary() || !headers)
            return malformed("a request without sender, method, target, headers or body");
        engine::forwarded_request req;
        req.method = method->get<std::string>();
        req.target = target->get<std::string>();
        req.headers = std::move(*headers);
        req.body = text_of_binary(*b);
        ++served_;
        auto self = shared_from_this();
        asio::co_spawn(strand_, serve(self, from->get<std::string>(), id, std::move(req)),
                       [self](std::exception_ptr e) {
                           if (e) self->log("forwarding: serving a forwarded request failed: " + transport::exception_text(e));
                       });
    }

    // The request over a connection to this server's own listener; nullopt (and `why`) on failure.
    asio::awaitable<std::optional<engine::forwarded_response>> ask_local(engine::forwarded_request req, std::string& why) {
        const auto verb = http::string_to_verb(req.method);
        if (verb == http::verb::unknown) {
            why = "unknown method " + req.method;
            co_return std::nullopt;
        }
        beast::tcp_stream stream(strand_);
        stream.expires_after(fo_.answer_timeout);
        if (auto [ec] = co_await stream.async_connect(local_, tok); ec) {
            why = "connect: " + ec.message();
            co_return std::nullopt;
        }
        http::request<http::string_body> hr{verb, req.target, 11};
        for (auto& [k, v] : req.headers) hr.insert(k, v);
        hr.body() = std::move(req.body);
        hr.keep_alive(false);
        hr.prepare_payload();
        if (auto [ec, n] = co_await http::async_write(stream, hr, tok); ec) {
            why = "write: " + ec.message();
            co_return std::nullopt;
        }
        beast::flat_buffer buffer;
        http::response_parser<http::string_body> parser;
        parser.body_limit(fo_.max_answer_bytes);
        if (auto [ec, n] = co_await http::async_read(stream, buffer, parser, tok); ec) {
            why = "read: " + ec.message();
            co_return std::nullopt;
        }
        engine::forwarded_response res;
        auto& r = parser.get();
        res.status = r.result_int();
        for (const auto& f : r) res.headers.emplace_back(f.name_string(), f.value());
        res.body = std::move(r.body());
        boost::system::error_code ignored;
        stream.socket().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
        co_return res;
    }

    static asio::awaitable<void> serve(std::shared_ptr<forwarder_impl> self, std::string from, std::uint64_t id,
                                       engine::forwarded_request req) {
        std::string why;
        auto res = co_await self->ask_local(std::move(req), why);
        nl m = {{"k", 1}, {"id", id}};
        if (res) {
            m["s"] = res->status;
            m["h"] = headers_json(res->headers);
            m["b"] = binary_of(res->body);
        } else {
            self->log(fmt::format("forwarding: a request from node {} was not served: {}", from, why));
            m["gone"] = true;
        }
        if (!self->pub_ || !self->pub_->send({"PUBLISH", self->channel(from), pack(m)}))
            self->log(fmt::format("forwarding: the answer to node {} was lost: Redis is down", from));
    }

    asio::strand<asio::any_io_executor> strand_;
    const options redis_;
    const forward_options fo_;
    const std::string tag_;
    asio::ip::tcp::endpoint local_;
    std::shared_ptr<resp_conn> pub_, sub_;
    std::unordered_map<std::uint64_t, pending> pending_;
    asio::steady_timer sweep_;
    bool sweeping_ = false;
    bool stopped_ = false;
    std::uint64_t next_id_ = 0;
    std::atomic<bool> up_{false};
    std::atomic<std::uint64_t> sent_{0}, served_{0}, malformed_{0};
};

}  // namespace

std::shared_ptr<forwarder> forwarder::create(asio::any_io_executor executor, options redis, forward_options forwarding) {
    return std::make_shared<forwarder_impl>(std::move(executor), std::move(redis), forwarding);
}

}  // namespace sio::adapter::redis
