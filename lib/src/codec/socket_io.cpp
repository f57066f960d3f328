#include "sio/codec/socket_io.hpp"

#include "sio/codec/msgpack.hpp"

#include "json_reader.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <functional>
#include <limits>
#include <memory>
#include <utility>

namespace sio::codec::socketio {
namespace {

using detail::parse_json;
using detail::show_text;

constexpr std::array<std::string_view, 6> reserved_event_names = {
    "connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener"};

bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }

bool is_json_whitespace(char c) noexcept { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// A byte of the input as it reads in a reason: 'x' when printable ASCII, else 0x1f.
std::string show_byte(char c) {
    const auto u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u < 0x7f) return std::string{'\'', c, '\''};
    static constexpr char hex[] = "0123456789abcdef";
    return std::string{'0', 'x', hex[u >> 4], hex[u & 15]};
}

std::string type_name(const json* v) { return v ? std::string(v->type_name()) : std::string("nothing"); }

// A namespace starts with '/' and holds no ',' (the default parser ends it at the first ','). Empty
// stands for the main namespace.
std::optional<error> namespace_error(std::string_view nsp) {
    if (nsp.empty() || (nsp.front() == '/' && nsp.find(',') == std::string_view::npos)) return std::nullopt;
    return make_error(errc::invalid_namespace,
                      "namespace must start with '/' and hold no ',': got '" + show_text(nsp) + "'");
}

// --- header --------------------------------------------------------------------------------

struct header {
    packet_type type = packet_type::event;
    std::size_t attachments = 0;
    std::string_view nsp;  // empty: the main namespace, not written
    std::optional<std::uint64_t> id;
    std::size_t payload_at = 0;  // offset of the JSON payload; the frame's size when there is none
};

// Reads decimal digits from s[i]; the value stops growing once it is past `cap`, so any number
// of digits is read without overflow (and any value past `cap` is refused alike). i ends past
// the digits.
std::uint64_t read_count(std::string_view s, std::size_t& i, std::uint64_t cap) noexcept {
    std::uint64_t v = 0;
    for (; i < s.size() && is_digit(s[i]); ++i) {
        if (v <= cap) v = v * 10 + static_cast<std::uint64_t>(s[i] - '0');
    }
    return v;
}

result<header> parse_header(std::string_view s, const decoder_options& o) {
    header h;
    if (s.empty()) return make_error(errc::empty_input, "empty Socket.IO packet");
    if (s[0] < '0' || s[0] > '6') {
        return make_error(errc::unknown_packet_type,
                          "unknown packet type " + show_byte(s[0]) + " (a packet starts with a digit 0-6)");
    }
    h.type = static_cast<packet_type>(s[0] - '0');
    std::size_t i = 1;

    if (is_binary_type(h.type)) {
        const auto name = [&] { return std::string(to_string(h.type, o.version)); };
        const std::size_t digits_at = i;
        // Saturating above the limit is enough: any larger value is refused the same way.
        const std::uint64_t cap =
            std::min<std::uint64_t>(o.max_attachments, std::numeric_limits<std::uint64_t>::max() / 10 - 1);
        const std::uint64_t n = read_count(s, i, cap);
        if (i == digits_at || i == s.size() || s[i] != '-') {
            return make_error(errc::invalid_attachments,
                              name() + " header must give the attachment count followed by '-', as in \"" +
                                  std::to_string(static_cast<int>(h.type)) + "1-\"");
        }
        if (n == 0) {
            return make_error(errc::invalid_attachments,
                              name() + " declares 0 attachments; a binary packet carries at least one");
        }
        if (n > o.max_attachments) {
            const std::string count(s.substr(digits_at, std::min<std::size_t>(i - digits_at, 24)));
            return make_error(errc::too_many_attachments,
                              name() + " declares " + count + (i - digits_at > 24 ? "..." : "") +
                                  " attachments, over the limit of " + std::to_string(o.max_attachments));
        }
        h.attachments = static_cast<std::size_t>(n);
        ++i;  // '-'
    }

    // The namespace runs to the first ',' or, with nothing after it, to the end of the frame.
    if (i < s.size() && s[i] == '/') {
        const std::size_t comma = s.find(',', i);
        const std::size_t end = comma == std::string_view::npos ? s.size() : comma;
        h.nsp = s.substr(i, end - i);
        i = comma == std::string_view::npos ? s.size() : comma + 1;
    }

    if (i < s.size() && is_digit(s[i])) {
        const std::size_t start = i;
        for (; i < s.size() && is_digit(s[i]); ++i) {
        }
        std::uint64_t id = 0;
        const auto [end, ec] = std::from_chars(s.data() + start, s.data() + i, id);
        if (ec != std::errc{} || end != s.data() + i) {
            return make_error(errc::invalid_ack_id,
                              "ack id " + show_text(s.substr(start, i - start)) + " does not fit in 64 bits");
        }
        h.id = id;
    }
    h.payload_at = i;
    return h;
}

// A frame whose JSON fails to parse may simply have lost the '/' of its namespace
// ("2admin,[...]"); say so rather than report a JSON syntax error at its first letter.
std::optional<error> misplaced_namespace(std::string_view rest) {
    if (rest.empty()) return std::nullopt;
    const auto c = static_cast<unsigned char>(rest[0]);
    const bool word = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == '.' || c >= 0x80;
    const std::size_t comma = rest.find(',');
    if (!word || comma == std::string_view::npos || rest.find_first_of("[{\"") < comma) return std::nullopt;
    return make_error(errc::invalid_namespace,
                      "namespace must start with '/': got '" + show_text(rest.substr(0, comma)) + "'");
}

// --- payload shape -------------------------------------------------------------------------

std::optional<error> invalid(std::string reason) {
    return make_error(errc::invalid_payload, std::move(reason));
}

std::optional<error> check_shape(packet_type type, const json* data, protocol version) {
    // Names are spelled out only on failure: this runs for every packet decoded.
    const auto name = [&] { return std::string(to_string(type, version)); };
    switch (type) {
    case packet_type::connect:
        // Auth data in CONNECT came with v5; socket.io 2.x takes it in the namespace's query.
        if (data && version == protocol::v4)
            return invalid("invalid payload: in protocol v4 CONNECT carries no data, got " + type_name(data));
        if (data && !data->is_object())
            return invalid("invalid payload: " + name() + " data must be an object, got " + type_name(data));
        return std::nullopt;
    case packet_type::disconnect:
        if (data) return invalid("invalid payload: " + name() + " carries no data, got " + type_name(data));
        return std::nullopt;
    case packet_type::event:
    case packet_type::binary_event: {
        if (!data || !data->is_array() || data->empty()) {
            return invalid("invalid payload: " + name() +
                           " data must be a non-empty array starting with the event name, got " +
                           (data && data->is_array() ? std::string("an empty array") : type_name(data)));
        }
        const json& event_name = data->front();
        if (event_name.is_number()) return std::nullopt;  // the reference accepts numeric names
        if (!event_name.is_string()) {
            return invalid("invalid payload: the event name must be a string or a number, got " +
                           type_name(&event_name));
        }
        if (is_reserved_event_name(event_name.get_ref<const std::string&>()))
            return invalid("reserved event name '" + event_name.get_ref<const std::string&>() + "'");
        return std::nullopt;
    }
    case packet_type::ack:
    case packet_type::binary_ack:
        if (!data || !data->is_array()) {
            return invalid("invalid payload: " + name() + " data must be an array (possibly empty), got " +
                           type_name(data));
        }
        return std::nullopt;
    case packet_type::connect_error:
        if (version == protocol::v4 && !data) return std::nullopt;  // socket.io 2.x may send a bare "4"
        if (!data || !(data->is_string() || data->is_object())) {
            return invalid("invalid payload: " + name() + " data must be a string or an object, got " +
                           type_name(data));
        }
        return std::nullopt;
    }
    return invalid("invalid payload: unknown packet type");
}

// --- placeholders --------------------------------------------------------------------------

// Finds every {"_placeholder":true,"num":N} in `v` (a placeholder's own members are not
// searched: the whole object is replaced, as the reference does). N must be an integer below
// `count`; a float with an integral value passes, as it does in JavaScript.
template <class Slot>
std::optional<error> find_placeholders(json& v, std::size_t count, std::vector<Slot>& out) {
    if (v.is_array()) {
        for (auto& e : *v.get_ptr<json::array_t*>()) {
            if (auto err = find_placeholders(e, count, out)) return err;
        }
        return std::nullopt;
    }
    if (!v.is_object()) return std::nullopt;
    auto& members = *v.get_ptr<json::object_t*>();
    const auto mark = members.find("_placeholder");
    if (mark == members.end() || mark->second != true) {
        for (auto& m : members) {
            if (auto err = find_placeholders(m.second, count, out)) return err;
        }
        return std::nullopt;
    }
    const auto num = members.find("num");
    const json* n = num == members.end() ? nullptr : &num->second;
    std::optional<std::size_t> index;
    if (n && n->is_number_unsigned()) {
        if (n->get<std::uint64_t>() < count) index = static_cast<std::size_t>(n->get<std::uint64_t>());
    } else if (n && n->is_number_integer()) {
        if (n->get<std::int64_t>() >= 0 && static_cast<std::uint64_t>(n->get<std::int64_t>()) < count)
            index = static_cast<std::size_t>(n->get<std::int64_t>());
    } else if (n && n->is_number_float()) {
        const double d = n->get<double>();
        if (d >= 0 && d < static_cast<double>(count) && d == static_cast<double>(static_cast<std::size_t>(d)))
            index = static_cast<std::size_t>(d);
    }
    if (!index) {
        const std::string got =
            n ? show_text(n->dump(-1, ' ', false, json::error_handler_t::replace)) : "nothing";
        return make_error(errc::invalid_attachments,
                          "placeholder num must be an integer from 0 to " + std::to_string(count - 1) +
                              " (the packet declares " + std::to_string(count) + " attachments), got " + got);
    }
    out.push_back(Slot{&v, *index});
    return std::nullopt;
}

// --- encoding ------------------------------------------------------------------------------

bool has_binary(const json& v) {
    switch (v.type()) {
    case json::value_t::binary: return true;
    case json::value_t::array:
        return std::any_of(v.begin(), v.end(), [](const json& e) { return has_binary(e); });
    case json::value_t::object:
        for (const auto& m : *v.get_ptr<const json::object_t*>()) {
            if (has_binary(m.second)) return true;
        }
        return false;
    default: return false;
    }
}

json placeholder(std::size_t num) {
    json p = json::object();
    auto& members = *p.get_ptr<json::object_t*>();
    members.emplace_back("_placeholder", true);
    members.emplace_back("num", num);
    return p;
}

// A copy of `v` whose binary values become placeholders, their bytes appended to `out` in
// depth-first order.
json strip_binary(const json& v, std::vector<std::string>& out) {
    switch (v.type()) {
    case json::value_t::binary: {
        const auto& b = v.get_binary();
        out.emplace_back(reinterpret_cast<const char*>(b.data()), b.size());
        return placeholder(out.size() - 1);
    }
    case json::value_t::array: {
        json copy = json::array();
        auto& elements = *copy.get_ptr<json::array_t*>();
        elements.reserve(v.size());
        for (const auto& e : v) elements.push_back(strip_binary(e, out));
        return copy;
    }
    case json::value_t::object: {
        json copy = json::object();
        auto& members = *copy.get_ptr<json::object_t*>();
        members.reserve(v.size());
        for (const auto& m : *v.get_ptr<const json::object_t*>())
            members.emplace_back(m.first, strip_binary(m.second, out));
        return copy;
    }
    default: return v;
    }
}

// A copy of `v` with binary values as a Node.js Buffer writes itself in JSON.
json buffers_as_objects(const json& v) {
    switch (v.type()) {
    case json::value_t::binary: {
        json o = json::object();
        auto& members = *o.get_ptr<json::object_t*>();
        members.emplace_back("type", "Buffer");
        json bytes = json::array();
        for (std::uint8_t b : v.get_binary()) bytes.push_back(b);
        members.emplace_back("data", std::move(bytes));
        return o;
    }
    case json::value_t::array: {
        json copy = json::array();
        for (const auto& e : v) copy.push_back(buffers_as_objects(e));
        return copy;
    }
    case json::value_t::object: {
        json copy = json::object();
        auto& members = *copy.get_ptr<json::object_t*>();
        for (const auto& m : *v.get_ptr<const json::object_t*>())
            members.emplace_back(m.first, buffers_as_objects(m.second));
        return copy;
    }
    default: return v;
    }
}

// Serialises straight into `out` (json::dump would build a string to be copied again).
void append_json(std::string& out, const json& v) {
    nlohmann::detail::serializer<json> s(nlohmann::detail::output_adapter<char>(out), ' ',
                                         json::error_handler_t::replace);
    s.dump(v, false, false, 0);
}

template <class Int>
void append_number(std::string& out, Int v) {
    std::array<char, 24> buf{};
    const auto r = std::to_chars(buf.data(), buf.data() + buf.size(), v);
    out.append(buf.data(), r.ptr);
}

// --- describe ------------------------------------------------------------------------------

void append_escaped(std::string& out, std::string_view s) {
    static constexpr char hex[] = "0123456789abcdef";
    for (char c : s) {
        const auto u = static_cast<unsigned char>(c);
        if (u < 0x20 || u == 0x7f) {
            out += "\\x";
            out += hex[u >> 4];
            out += hex[u & 15];
        } else {
            out += c;
        }
    }
}

void append_readable(std::string& out, const json& v) {
    if (!has_binary(v)) {
        append_json(out, v);
        return;
    }
    if (v.is_binary()) {
        static constexpr char hex[] = "0123456789abcdef";
        static constexpr std::size_t shown = 16;
        const auto& b = v.get_binary();
        out += '<';
        append_number(out, b.size());
        out += b.size() == 1 ? " byte" : " bytes";
        for (std::size_t i = 0; i < b.size() && i < shown; ++i) {
            out += i == 0 ? ": " : " ";
            out += hex[b[i] >> 4];
            out += hex[b[i] & 15];
        }
        if (b.size() > shown) out += " ...";
        out += '>';
        return;
    }
    if (v.is_array()) {
        out += '[';
        bool first = true;
        for (const auto& e : v) {
            if (!first) out += ',';
            first = false;
            append_readable(out, e);
        }
        out += ']';
        return;
    }
    out += '{';
    bool first = true;
    for (const auto& m : *v.get_ptr<const json::object_t*>()) {
        if (!first) out += ',';
        first = false;
        append_json(out, json(m.first));
        out += ':';
        append_readable(out, m.second);
    }
    out += '}';
}

}  // namespace

// --- public --------------------------------------------------------------------------------

std::string_view to_string(packet_type t) noexcept { return to_string(t, protocol::v5); }

std::string_view to_string(packet_type t, protocol version) noexcept {
    switch (t) {
    case packet_type::connect: return "CONNECT";
    case packet_type::disconnect: return "DISCONNECT";
    case packet_type::event: return "EVENT";
    case packet_type::ack: return "ACK";
    case packet_type::connect_error: return version == protocol::v4 ? "ERROR" : "CONNECT_ERROR";
    case packet_type::binary_event: return "BINARY_EVENT";
    case packet_type::binary_ack: return "BINARY_ACK";
    }
    return "UNKNOWN";
}

bool is_reserved_event_name(std::string_view name) noexcept {
    return std::find(reserved_event_names.begin(), reserved_event_names.end(), name) !=
           reserved_event_names.end();
}

encoded encode(const packet& p, protocol /*version: same wire format in v4 and v5*/) {
    encoded out;
    packet_type type = p.type;
    const json* data = p.data ? &*p.data : nullptr;
    json rewritten;  // the data without binary values, when it has any
    const bool event_like = type == packet_type::event || type == packet_type::binary_event;
    const bool ack_like = type == packet_type::ack || type == packet_type::binary_ack;
    if (data && has_binary(*data)) {
        if (event_like || ack_like) {
            rewritten = strip_binary(*data, out.attachments);
            type = event_like ? packet_type::binary_event : packet_type::binary_ack;
        } else {
            rewritten = buffers_as_objects(*data);
        }
        data = &rewritten;
    } else if (is_binary_type(type)) {
        type = type == packet_type::binary_event ? packet_type::event : packet_type::ack;
    }

    out.text.push_back(static_cast<char>('0' + static_cast<int>(type)));
    if (is_binary_type(type)) {
        append_number(out.text, out.attachments.size());
        out.text.push_back('-');
    }
    if (!p.nsp.empty() && p.nsp != "/") {
        out.text += p.nsp;
        out.text.push_back(',');
    }
    if (p.id) append_number(out.text, *p.id);
    if (data) append_json(out.text, *data);
    return out;
}

decoder::decoder(decoder_options options) : options_(options), error_(make_error(errc::ok, {})) {}

void decoder::reset() noexcept {
    state_ = state::idle;
    packet_.data.reset();
    slots_.clear();
    uses_.clear();
    attachments_.clear();
    expected_ = 0;
    placed_ = 0;
}

decode_status decoder::fail(error e) {
    reset();
    error_ = std::move(e);
    return decode_status::bad;
}

decode_status decoder::feed_text(std::string_view frame) {
    if (state_ == state::awaiting) {
        return fail(make_error(errc::unexpected_text, "text frame arrived while " +
                                                          std::to_string(expected_ - attachments_.size()) +
                                                          " of " + std::to_string(expected_) +
                                                          " binary attachments were still expected"));
    }
    reset();
    if (frame.size() > options_.max_payload) {
        return fail(make_error(errc::payload_too_large, "packet of " + std::to_string(frame.size()) +
                                                            " bytes, over the limit of " +
                                                            std::to_string(options_.max_payload)));
    }
    auto h = parse_header(frame, options_);
    if (!h) return fail(h.err());

    packet_.type = h->type;
    if (h->nsp.empty()) {
        packet_.nsp = "/";
    } else {
        packet_.nsp.assign(h->nsp);
    }
    packet_.id = h->id;
    const std::string_view rest = frame.substr(h->payload_at);
    if (!rest.empty()) {
        // JSON.parse would skip it, but the reference takes whitespace here for ack id digits
        // (JavaScript's Number(" ") is 0): refuse rather than guess which was meant.
        if (is_json_whitespace(rest.front())) {
            return fail(
                make_error(errc::invalid_json, "whitespace at byte " + std::to_string(h->payload_at) +
                                                   " where the ack id or the JSON payload should start"));
        }
        if (auto err = parse_json(rest, h->payload_at, options_.max_depth, packet_.data.emplace())) {
            if (err->code == errc::invalid_json && h->nsp.empty() && !h->id) {
                if (auto ns = misplaced_namespace(rest)) return fail(std::move(*ns));
            }
            return fail(std::move(*err));
        }
    }
    if (auto err = check_shape(packet_.type, packet_.data ? &*packet_.data : nullptr, options_.version))
        return fail(std::move(*err));

    if (!is_binary_type(packet_.type)) {
        state_ = state::done;
        return decode_status::done;
    }

    // Placeholders are checked now, so that a bad packet is refused before any attachment is
    // buffered, and their places are remembered so the tree is walked only once.
    if (auto err = find_placeholders(*packet_.data, h->attachments, slots_)) return fail(std::move(*err));
    if (slots_.size() < h->attachments) {
        return fail(make_error(errc::invalid_attachments,
                               std::string(to_string(packet_.type, options_.version)) + " declares " +
                                   std::to_string(h->attachments) + " attachments but has " +
                                   std::to_string(slots_.size()) + " placeholders"));
    }
    uses_.assign(h->attachments, 0);
    for (const auto& s : slots_) ++uses_[s.attachment];
    if (auto unused = std::find(uses_.begin(), uses_.end(), 0U); unused != uses_.end()) {
        return fail(make_error(errc::invalid_attachments,
                               "attachment " + std::to_string(unused - uses_.begin()) + " of " +
                                   std::to_string(h->attachments) + " is not referenced by any placeholder"));
    }
    expected_ = h->attachments;
    attachments_.reserve(expected_);
    placed_ = frame.size();
    state_ = state::awaiting;
    return decode_status::need_more;
}

decode_status decoder::feed_binary(std::string_view frame) {
    if (state_ != state::awaiting) {
        return fail(make_error(errc::unexpected_binary,
                               "binary frame of " + std::to_string(frame.size()) +
                                   " bytes arrived but no binary packet awaits attachments"));
    }
    const std::size_t uses = uses_[attachments_.size()];
    const std::size_t room = options_.max_payload - placed_;  // placed_ never exceeds the limit
    if (frame.size() > room / uses) {
        return fail(make_error(
            errc::payload_too_large,
            "attachment " + std::to_string(attachments_.size()) + " (" + std::to_string(frame.size()) +
                " bytes" + (uses > 1 ? ", placed " + std::to_string(uses) + " times" : std::string()) +
                ") takes the packet over the limit of " + std::to_string(options_.max_payload) + " bytes"));
    }
    placed_ += frame.size() * uses;
    const auto* bytes = reinterpret_cast<const std::uint8_t*>(frame.data());
    attachments_.emplace_back(bytes, bytes + frame.size());
    if (attachments_.size() < expected_) return decode_status::need_more;
    return finish_binary();
}

decode_status decoder::finish_binary() {
    for (const auto& s : slots_) {
        // The last placeholder of an attachment takes its bytes; earlier ones get a copy.
        if (--uses_[s.attachment] == 0) {
            *s.value = json::binary(std::move(attachments_[s.attachment]));
        } else {
            *s.value = json::binary(attachments_[s.attachment]);
        }
    }
    slots_.clear();
    attachments_.clear();
    uses_.clear();
    state_ = state::done;
    return decode_status::done;
}

packet decoder::take() {
    if (state_ != state::done) return packet{};
    state_ = state::idle;
    packet p = std::move(packet_);
    packet_ = packet{};
    return p;
}

result<packet> decode_text(std::string_view text, const decoder_options& options) {
    decoder d(options);
    switch (d.feed_text(text)) {
    case decode_status::done: return d.take();
    case decode_status::bad: return d.last_error();
    case decode_status::need_more: break;
    }
    return make_error(errc::invalid_attachments,
                      "packet announces binary attachments; feed it to a decoder to receive them");
}

std::string encode_msgpack(const packet& p) {
    json m = json::object();
    // BINARY_* exist only for the default parser's attachments.
    const auto type = p.type == packet_type::binary_event ? packet_type::event
                      : p.type == packet_type::binary_ack ? packet_type::ack
                                                          : p.type;
    m["type"] = static_cast<int>(type);
    if (p.data) m["data"] = *p.data;
    m["nsp"] = p.nsp.empty() ? std::string("/") : p.nsp;
    if (p.id) m["id"] = *p.id;
    return to_msgpack(m);
}

result<packet> decode_msgpack(std::string_view frame, const decoder_options& options) {
    if (frame.empty()) return make_error(errc::empty_input, "empty msgpack packet");
    if (frame.size() > options.max_payload) {
        return make_error(errc::payload_too_large, "msgpack packet of " + std::to_string(frame.size()) +
                                                       " bytes, over the limit of " +
                                                       std::to_string(options.max_payload));
    }
    auto value = from_msgpack(frame, options.max_depth);
    if (!value) return value.err();
    if (!value->is_object()) {
        return make_error(errc::invalid_payload, "a msgpack packet must be a map, got " + type_name(&*value));
    }
    auto& m = *value;
    packet p;
    const auto type = m.find("type");
    if (type == m.end() || !type->is_number_integer() || type->get<std::int64_t>() < 0 ||
        type->get<std::int64_t>() > static_cast<int>(packet_type::connect_error)) {
        return make_error(errc::unknown_packet_type, "msgpack packet \"type\" must be an integer 0-4, got " +
                                                         (type == m.end() ? std::string("nothing") : type->dump()));
    }
    p.type = static_cast<packet_type>(type->get<std::int64_t>());
    const auto nsp = m.find("nsp");
    if (nsp == m.end() || !nsp->is_string() || nsp->get_ref<const std::string&>().empty()) {
        return make_error(errc::invalid_namespace, "msgpack packet \"nsp\" must be a string starting with '/', got " +
                                                       (nsp == m.end() ? std::string("nothing") : show_text(nsp->dump())));
    }
    p.nsp = nsp->get<std::string>();
    // The same rule as the default parser's: a packet either parser accepts can be written by both.
    if (auto err = namespace_error(p.nsp)) return std::move(*err);
    if (const auto id = m.find("id"); id != m.end()) {
        if (!id->is_number_integer() || (!id->is_number_unsigned() && id->get<std::int64_t>() < 0)) {
            return make_error(errc::invalid_ack_id, "msgpack packet \"id\" must be a non-negative integer, got " +
                                                        show_text(id->dump()));
        }
        p.id = id->get<std::uint64_t>();
    }
    if (auto data = m.find("data"); data != m.end()) p.data = std::move(*data);
    if (auto err = check_shape(p.type, p.data ? &*p.data : nullptr, protocol::v5)) return std::move(*err);
    return p;
}

std::optional<error> validate(const packet& p, protocol version) {
    if (auto err = namespace_error(p.nsp)) return err;
    return check_shape(p.type, p.data ? &*p.data : nullptr, version);
}

std::string describe(const packet& p, protocol version, std::size_t max_chars) {
    std::string out(to_string(p.type, version));
    out += ' ';
    append_escaped(out, p.nsp.empty() ? std::string_view("/") : std::string_view(p.nsp));
    if (p.id) {
        out += " id=";
        append_number(out, *p.id);
    }
    if (p.data) {
        out += ' ';
        const std::size_t start = out.size();
        append_readable(out, *p.data);
        if (max_chars > 0 && out.size() - start > max_chars) {
            std::size_t cut = start + max_chars;
            // Back off to the start of a UTF-8 sequence so the cut leaves valid text.
            while (cut > start && (static_cast<unsigned char>(out[cut]) & 0xC0) == 0x80) --cut;
            out.resize(cut);
            out += "...";
        }
    }
    return out;
}

}  // namespace sio::codec::socketio
