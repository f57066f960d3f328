// The Socket.IO codec's JSON reader: see json_reader.hpp.
#include "json_reader.hpp"

#include <unordered_set>
#include <utility>
#include <vector>

namespace sio::codec::socketio::detail {
namespace {

constexpr std::size_t max_reason_detail = 160;  // bytes of input quoted in an error reason

// Builds the JSON tree from nlohmann's SAX events. Two things the stock DOM parser lacks:
// - a nesting limit, so that deep input cannot exhaust the stack of the recursive code that
//   later walks, compares, copies or prints the tree;
// - linear time for objects with many keys: ordered_json finds a key by scanning the object, so
//   parsing one object of n keys takes n*n/2 string comparisons (a 1 MB object: ~10 s). Past a
//   few keys the builder indexes the object's keys in a hash set instead. A repeated key keeps
//   its first position and takes the last value, as JavaScript's JSON.parse does.
class dom_builder {
public:
    dom_builder(json& root, std::size_t max_depth) : root_(root), max_depth_(max_depth) {}

    // Scalars: put where they belong. Always true: only structure can fail (see open()).
    bool null() { return put(json(nullptr)); }
    bool boolean(bool v) { return put(json(v)); }
    bool number_integer(json::number_integer_t v) { return put(json(v)); }
    bool number_unsigned(json::number_unsigned_t v) { return put(json(v)); }
    bool number_float(json::number_float_t v, const json::string_t&) { return put(json(v)); }
    bool string(json::string_t& v) { return put(json(std::move(v))); }
    bool binary(json::binary_t& v) {  // not produced by JSON text; part of the SAX interface
        return put(json::binary(std::move(static_cast<json::binary_t::container_type&>(v))));
    }

    bool start_object(std::size_t) { return open(json::value_t::object); }
    bool start_array(std::size_t) { return open(json::value_t::array); }
    bool end_object() { return close(); }
    bool end_array() { return close(); }

    bool key(json::string_t& k) {
        frame& f = stack_.back();
        auto& members = *f.value->get_ptr<json::object_t*>();
        if (!f.keys && members.size() < index_from) {
            for (auto& m : members) {
                if (m.first == k) {
                    slot_ = &m.second;
                    return true;
                }
            }
            members.emplace_back(std::move(k), nullptr);
            slot_ = &members.back().second;
            return true;
        }
        if (!f.keys) {
            f.keys = std::make_unique<key_set>(members.size() * 2, key_hash{&members}, key_equal{&members});
            for (std::size_t i = 0; i < members.size(); ++i) f.keys->insert(i);
        }
        members.emplace_back(std::move(k), nullptr);
        auto [it, inserted] = f.keys->insert(members.size() - 1);
        if (!inserted) members.pop_back();
        slot_ = &members.begin()[static_cast<std::ptrdiff_t>(*it)].second;
        return true;
    }

    template <class Exception>
    bool parse_error(std::size_t position, const std::string&, const Exception& ex) {
        error_position_ = position;
        error_what_ = ex.what();
        return false;
    }

    bool too_deep() const noexcept { return too_deep_; }
    std::size_t error_position() const noexcept { return error_position_; }
    const std::string& error_what() const noexcept { return error_what_; }

private:
    static constexpr std::size_t index_from = 16;  // keys scanned linearly below this

    // Hash and equality of member indices by the member's key (indices survive the vector's
    // reallocation, pointers into it do not).
    struct key_hash {
        const json::object_t* members;
        std::size_t operator()(std::size_t i) const noexcept {
            return std::hash<std::string_view>{}(members->begin()[static_cast<std::ptrdiff_t>(i)].first);
        }
    };
    struct key_equal {
        const json::object_t* members;
        bool operator()(std::size_t a, std::size_t b) const noexcept {
            return members->begin()[static_cast<std::ptrdiff_t>(a)].first ==
                   members->begin()[static_cast<std::ptrdiff_t>(b)].first;
        }
    };
    using key_set = std::unordered_set<std::size_t, key_hash, key_equal>;

    struct frame {
        json* value;                    // the open array or object
        std::unique_ptr<key_set> keys;  // objects with many keys only
    };

    // Places a value where the grammar says: the root, the end of the open array, or the slot of
    // the last key of the open object. Values that are containers stay where they are put while
    // they are open (nothing else is added to their parent meanwhile), so pointers to them hold.
    json* place(json&& v) {
        if (stack_.empty()) {
            root_ = std::move(v);
            return &root_;
        }
        json* parent = stack_.back().value;
        if (parent->is_array()) {
            auto& elements = *parent->get_ptr<json::array_t*>();
            elements.push_back(std::move(v));
            return &elements.back();
        }
        *slot_ = std::move(v);
        return slot_;
    }

    bool put(json&& v) {
        place(std::move(v));
        return true;
    }

    bool open(json::value_t t) {
        if (stack_.size() >= max_depth_) {
            too_deep_ = true;
            return false;
        }
        stack_.push_back(frame{place(json(t)), nullptr});
        return true;
    }

    bool close() {
        stack_.pop_back();
        return true;
    }

    json& root_;
    std::size_t max_depth_;
    std::vector<frame> stack_;
    json* slot_ = nullptr;
    bool too_deep_ = false;
    std::size_t error_position_ = 0;
    std::string error_what_;
};

// nlohmann's message without its "[json.exception.parse_error.101] parse error at line 1,
// column 7: " preamble: the position is reported as a byte offset of the frame instead.
std::string json_error_detail(const std::string& what) {
    std::string_view s = what;
    if (auto p = s.find("] "); p != std::string_view::npos && !s.empty() && s.front() == '[')
        s.remove_prefix(p + 2);
    if (s.starts_with("parse error")) {
        if (auto p = s.find(": "); p != std::string_view::npos) s.remove_prefix(p + 2);
    }
    return show_text(s);
}

}  // namespace

// Input quoted in a reason: control bytes escaped so a reason stays on one line, and cut short.
std::string show_text(std::string_view s) {
    std::string out;
    static constexpr char hex[] = "0123456789abcdef";
    for (std::size_t i = 0; i < s.size() && i < max_reason_detail; ++i) {
        const auto u = static_cast<unsigned char>(s[i]);
        if (u < 0x20 || u == 0x7f) {
            out += "\\x";
            out += hex[u >> 4];
            out += hex[u & 15];
        } else {
            out += s[i];
        }
    }
    if (s.size() > max_reason_detail) out += "...";
    return out;
}

std::optional<error> parse_json(std::string_view text, std::size_t offset, std::size_t max_depth, json& out) {
    dom_builder builder(out, max_depth);
    if (json::sax_parse(text.begin(), text.end(), &builder, json::input_format_t::json, true, false))
        return std::nullopt;
    if (builder.too_deep()) {
        return make_error(errc::payload_too_large,
                          "JSON payload nested deeper than " + std::to_string(max_depth) + " levels");
    }
    const std::size_t at = offset + (builder.error_position() > 0 ? builder.error_position() - 1 : 0);
    return make_error(errc::invalid_json, "invalid JSON payload at byte " + std::to_string(at) + ": " +
                                              json_error_detail(builder.error_what()));
}


}  // namespace sio::codec::socketio::detail
