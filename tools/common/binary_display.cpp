#include "common/binary_display.hpp"

#include "common/terminal.hpp"
#include "sio/codec/base64.hpp"

#include <fmt/core.h>

namespace sio::tools {

using codec::json;

namespace {

constexpr std::string_view reset = "\x1b[0m";
constexpr std::string_view green = "\x1b[32m";
constexpr std::string_view yellow = "\x1b[33m";
constexpr std::string_view blue = "\x1b[34m";
constexpr std::string_view magenta = "\x1b[35m";

void paint(std::string_view color, std::string_view text, bool on, std::string& out) {
    if (on) out += color;
    out += text;
    if (on) out += reset;
}

std::string dump_string(const std::string& s) {
    return neutralize(json(s).dump(-1, ' ', false, json::error_handler_t::replace));
}

std::string_view as_chars(const json::binary_t& bytes) {
    return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

bool is_portable_binary(const json& v) {
    return v.is_object() && v.size() == 1 && v.begin().key() == binary_key && v.begin().value().is_string();
}

void render(const json& v, bool color, std::string& out) {
    switch (v.type()) {
    case json::value_t::object: {
        out += '{';
        bool first = true;
        for (auto it = v.begin(); it != v.end(); ++it) {
            if (!first) out += ',';
            first = false;
            paint(blue, dump_string(it.key()), color, out);
            out += ':';
            render(it.value(), color, out);
        }
        out += '}';
        break;
    }
    case json::value_t::array: {
        out += '[';
        bool first = true;
        for (const auto& e : v) {
            if (!first) out += ',';
            first = false;
            render(e, color, out);
        }
        out += ']';
        break;
    }
    case json::value_t::string:
        paint(green, dump_string(v.get_ref<const std::string&>()), color, out);
        break;
    case json::value_t::binary:
        paint(magenta, binary_text(v.get_binary()), color, out);
        break;
    case json::value_t::boolean:
    case json::value_t::null:
        paint(magenta, v.dump(), color, out);
        break;
    default:
        paint(yellow, v.dump(), color, out);
        break;
    }
}

}  // namespace

json portable(const json& value) {
    switch (value.type()) {
    case json::value_t::binary:
        return json{{std::string(binary_key), codec::base64_encode(as_chars(value.get_binary()))}};
    case json::value_t::array: {
        json out = json::array();
        for (const auto& e : value) out.push_back(portable(e));
        return out;
    }
    case json::value_t::object: {
        json out = json::object();
        for (auto it = value.begin(); it != value.end(); ++it) out[it.key()] = portable(it.value());
        return out;
    }
    default:
        return value;
    }
}

std::optional<json> from_portable(json value, std::string& error) {
    if (is_portable_binary(value)) {
        const auto& text = value.begin().value().get_ref<const std::string&>();
        auto bytes = codec::base64_decode(text);
        if (!bytes) {
            error = fmt::format("{{\"$binary\": \"{}\"}}: not base64 ({})", neutralize(text), bytes.err().reason);
            return std::nullopt;
        }
        return json::binary(json::binary_t::container_type(bytes->begin(), bytes->end()));
    }
    if (value.is_array() || value.is_object()) {
        for (auto& e : value) {
            auto converted = from_portable(std::move(e), error);
            if (!converted) return std::nullopt;
            e = std::move(*converted);
        }
    }
    return value;
}

std::string binary_text(const json::binary_t& bytes) {
    std::string text = fmt::format("<{} byte{}", bytes.size(), bytes.size() == 1 ? "" : "s");
    if (!bytes.empty()) text += ':';
    for (std::size_t i = 0; i < bytes.size() && i < 16; ++i) text += fmt::format(" {:02x}", bytes[i]);
    if (bytes.size() > 16) text += " ...";
    text += '>';
    return text;
}

std::string render_json(const json& value, bool color) {
    std::string out;
    render(value, color, out);
    return out;
}

}  // namespace sio::tools
