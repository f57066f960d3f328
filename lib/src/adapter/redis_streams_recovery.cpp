// The streams adapter's session records, for connection state recovery across the cluster:
// written while a socket lives and for the recovery window after it drops, taken by the server a
// client comes back to, which reads what the client missed from the stream.
#include "redis_streams.hpp"

#include <fmt/format.h>

namespace sio::adapter::redis::detail {

namespace asio = boost::asio;

void streams_impl::write_session(const std::string& nsp, const st::session_record& r) {
    const auto window = window_of(nsp);
    if (window.count() <= 0 || !cmd || !cmd->up()) return;
    cmd->send({"SET", opts.session_prefix + r.pid, st::encode_session(r), "PX", std::to_string(window.count())});
}

void streams_impl::persist(std::string nsp, st::session_record r, bool gone) {
    write_session(nsp, r);
    if (gone) {
        live.erase(r.pid);
        return;
    }
    auto pid = r.pid;
    live.insert_or_assign(std::move(pid), live_session{std::move(nsp), std::move(r)});
    schedule_refresh();
}

void streams_impl::forget(const std::string& pid) {
    live.erase(pid);
    if (cmd && cmd->up()) cmd->send({"DEL", opts.session_prefix + pid});
}

// The live records are written again every half window (the shortest of their namespaces').
void streams_impl::schedule_refresh() {
    if (refreshing || live.empty() || stopped) return;
    auto every = std::chrono::milliseconds::max();
    for (const auto& [pid, l] : live) every = std::min(every, window_of(l.nsp) / 2);
    refreshing = true;
    refresh_timer.expires_after(std::max(every, std::chrono::milliseconds(500)));
    refresh_timer.async_wait([weak = weak_from_this()](boost::system::error_code ec) {
        auto self = weak.lock();
        if (!self || ec) return;
        self->refreshing = false;
        for (const auto& [pid, l] : self->live) self->write_session(l.nsp, l.record);
        self->schedule_refresh();
    });
}

void streams_impl::restore(std::string nsp, std::string pid, std::string offset, restore_done done) {
    if (!cmd || !cmd->up()) return done(std::nullopt, "Redis is down");
    if (!offset.empty() && !st::is_stream_id(offset)) return done(std::nullopt, "the offset is not a stream id");
    // GET and DEL in one transaction, as the Node adapter takes a record (GETDEL is Redis 6.2+).
    const auto key = opts.session_prefix + pid;
    cmd->send({"MULTI"});
    cmd->send({"GET", key});
    cmd->send({"DEL", key});
    auto self = shared_from_this();
    cmd->send({"EXEC"}, [self, nsp, offset, done](const redisReply* r) mutable {
        if (!r || r->type != REDIS_REPLY_ARRAY || r->elements < 1) return done(std::nullopt, "Redis did not answer");
        if (r->element[0]->type != REDIS_REPLY_STRING) return done(std::nullopt, "no session record (expired, or taken)");
        auto record = st::decode_session(str_of(r->element[0]));
        if (!record) return done(std::nullopt, "malformed session record: " + record.err().reason);
        cluster::restored_session s{std::move(*record), {}};
        if (offset.empty()) {
            if (s.record.since.empty()) return done(std::nullopt, "no offset, and the record has no start");
            auto from = s.record.since;
            return self->replay_from(std::move(nsp), std::move(s), std::move(from), 0, std::move(done));
        }
        // The offset must still be in the stream: else what followed it may be trimmed away.
        self->cmd->send({"XRANGE", self->opts.prefix, offset, offset},
                        [self, nsp, offset, s = std::move(s), done](const redisReply* x) mutable {
                            if (!x || x->type != REDIS_REPLY_ARRAY || x->elements == 0)
                                return done(std::nullopt, "the offset is no longer in the stream");
                            self->replay_from(std::move(nsp), std::move(s), offset, 0, std::move(done));
                        });
    });
}

// Reads the stream after `from`, a thousand entries at a time, keeping the broadcasts that reach
// the session's rooms; at most 100 reads.
void streams_impl::replay_from(std::string nsp, cluster::restored_session s, std::string from, int calls,
                               restore_done done) {
    constexpr std::size_t batch = 1000;
    auto start = st::next_id(from);
    if (!start || calls >= 100 || !cmd || !cmd->up()) {
        if (calls >= 100) log(fmt::format("redis: recovery of {} stopped after {} entries", s.record.pid, calls * batch));
        return done(std::move(s), {});
    }
    auto self = shared_from_this();
    cmd->send({"XRANGE", opts.prefix, *start, "+", "COUNT", std::to_string(batch)},
              [self, nsp, s = std::move(s), from, calls, done](const redisReply* r) mutable {
                  if (!r) return done(std::nullopt, "Redis went down during the recovery");
                  std::size_t bad = 0;
                  auto entries = entries_of(r, bad);
                  for (auto& e : entries) {
                      from = e.id;
                      auto m = st::decode_entry(e.fields);
                      if (!m || m->nsp != nsp || m->type != static_cast<int>(message_type::broadcast) ||
                          !m->data.is_object() || m->data.contains("requestId"))
                          continue;
                      auto p = m->data.find("packet");
                      auto o = m->data.find("opts");
                      if (p == m->data.end() || o == m->data.end() || !p->is_object() || p->value("type", 0) != 2) continue;
                      auto w = opts_from_json(*o);
                      auto d = p->find("data");
                      if (!w || w->flag("volatile") || d == p->end() || !d->is_array() || d->empty()) continue;
                      if (!st::reaches(s.record.rooms, *w)) continue;
                      json data = *d;
                      data.push_back(e.id);
                      s.missed.emplace_back(e.id, std::move(data));
                  }
                  if (entries.size() < batch) return done(std::move(s), {});
                  self->replay_from(std::move(nsp), std::move(s), std::move(from), calls + 1, std::move(done));
              });
}

}  // namespace sio::adapter::redis::detail
