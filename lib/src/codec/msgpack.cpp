#include "sio/codec/msgpack.hpp"

#include "sio/codec/utf8.hpp"

#include <msgpuck.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <optional>

namespace sio::codec {

namespace {

// --- writer ------------------------------------------------------------------------------------

class writer {
public:
    void value(const json& v) {
        switch (v.type()) {
        case json::value_t::null:
        case json::value_t::discarded: put(mp_sizeof_nil(), [](char* p) { return mp_encode_nil(p); }); break;
        case json::value_t::boolean: {
            const bool b = v.get<bool>();
            put(mp_sizeof_bool(b), [b](char* p) { return mp_encode_bool(p, b); });
            break;
        }
        case json::value_t::number_unsigned: unsigned_int(v.get<std::uint64_t>()); break;
        case json::value_t::number_integer: signed_int(v.get<std::int64_t>()); break;
        case json::value_t::number_float: number(v.get<double>()); break;
        case json::value_t::string: string(v.get_ref<const json::string_t&>()); break;
        case json::value_t::binary: {
            const auto& b = v.get_binary();
            const auto n = static_cast<std::uint32_t>(b.size());
            put(mp_sizeof_binl(n), [n](char* p) { return mp_encode_binl(p, n); });
            out_.append(reinterpret_cast<const char*>(b.data()), b.size());
            break;
        }
        case json::value_t::array: {
            const auto n = static_cast<std::uint32_t>(v.size());
            put(mp_sizeof_array(n), [n](char* p) { return mp_encode_array(p, n); });
            for (const auto& e : v) value(e);
            break;
        }
        case json::value_t::object: {
            const auto n = static_cast<std::uint32_t>(v.size());
            put(mp_sizeof_map(n), [n](char* p) { return mp_encode_map(p, n); });
            for (const auto& [k, e] : v.items()) {
                string(k);
                value(e);
            }
            break;
        }
        }
    }

    void string(std::string_view s) {
        const auto n = static_cast<std::uint32_t>(s.size());
        put(mp_sizeof_strl(n), [n](char* p) { return mp_encode_strl(p, n); });
        out_.append(s);
    }

    std::string take() { return std::move(out_); }

private:
    template <class Fn>
    void put(std::size_t size, Fn&& fn) {
        const auto at = out_.size();
        out_.resize(at + size);
        fn(out_.data() + at);
    }

    void unsigned_int(std::uint64_t u) {
        put(mp_sizeof_uint(u), [u](char* p) { return mp_encode_uint(p, u); });
    }
    void signed_int(std::int64_t i) {
        if (i >= 0) {
            unsigned_int(static_cast<std::uint64_t>(i));
            return;
        }
        put(mp_sizeof_int(i), [i](char* p) { return mp_encode_int(p, i); });
    }
    // JavaScript has one number type: notepack writes any integral value as an integer.
    void number(double d) {
        constexpr double two63 = 9223372036854775808.0;
        if (std::isfinite(d) && std::floor(d) == d && d >= -two63 && d < two63 * 2) {
            if (d >= 0) {
                unsigned_int(static_cast<std::uint64_t>(d));
            } else {
                signed_int(static_cast<std::int64_t>(d));
            }
            return;
        }
        put(mp_sizeof_double(d), [d](char* p) { return mp_encode_double(p, d); });
    }

    std::string out_;
};

// --- bounds ------------------------------------------------------------------------------------

// Whether [p, end) starts with one complete msgpack value, every header and payload in bounds;
// `after` is then where it ends. Walked without recursion, the elements still to come counted in
// 64 bits (msgpuck's mp_check counts them in an int, which a map of 2^31 entries overflows).
bool complete_value(const char* p, const char* end, const char** after) {
    std::uint64_t pending = 1;
    const auto left = [&] { return static_cast<std::uint64_t>(end - p); };
    const auto be = [&](std::size_t n) {
        std::uint64_t v = 0;
        for (std::size_t i = 0; i < n; ++i) v = (v << 8) | static_cast<std::uint8_t>(p[i]);
        return v;
    };
    // Skips a length of `width` bytes, then (plus `extra` bytes, an extension's type) that many.
    const auto sized = [&](std::size_t width, std::size_t extra) {
        if (left() < width) return false;
        const auto n = be(width);
        p += width;
        if (left() < extra || left() - extra < n) return false;
        p += extra + n;
        return true;
    };
    const auto fixed = [&](std::uint64_t n) {
        if (left() < n) return false;
        p += n;
        return true;
    };
    while (pending > 0) {
        // Every element takes at least one byte.
        if (pending > left()) return false;
        --pending;
        const auto b = static_cast<std::uint8_t>(*p++);
        bool ok = true;
        if (b <= 0x7f || b >= 0xe0) {
            // positive or negative fixint
        } else if (b <= 0x8f) {
            pending += 2u * (b & 0x0fu);
        } else if (b <= 0x9f) {
            pending += b & 0x0fu;
        } else if (b <= 0xbf) {
            ok = fixed(b & 0x1fu);
        } else {
            switch (b) {
            case 0xc0: case 0xc2: case 0xc3: break;
            case 0xc4: case 0xd9: ok = sized(1, 0); break;
            case 0xc5: case 0xda: ok = sized(2, 0); break;
            case 0xc6: case 0xdb: ok = sized(4, 0); break;
            case 0xc7: ok = sized(1, 1); break;
            case 0xc8: ok = sized(2, 1); break;
            case 0xc9: ok = sized(4, 1); break;
            case 0xcc: case 0xd0: ok = fixed(1); break;
            case 0xcd: case 0xd1: ok = fixed(2); break;
            case 0xca: case 0xce: case 0xd2: ok = fixed(4); break;
            case 0xcb: case 0xcf: case 0xd3: ok = fixed(8); break;
            case 0xd4: ok = fixed(2); break;
            case 0xd5: ok = fixed(3); break;
            case 0xd6: ok = fixed(5); break;
            case 0xd7: ok = fixed(9); break;
            case 0xd8: ok = fixed(17); break;
            case 0xdc: ok = left() >= 2; if (ok) { pending += be(2); p += 2; } break;
            case 0xdd: ok = left() >= 4; if (ok) { pending += be(4); p += 4; } break;
            case 0xde: ok = left() >= 2; if (ok) { pending += 2 * be(2); p += 2; } break;
            case 0xdf: ok = left() >= 4; if (ok) { pending += 2 * be(4); p += 4; } break;
            default: ok = false;  // 0xc1: never used
            }
        }
        if (!ok) return false;
    }
    *after = p;
    return true;
}

// --- reader ------------------------------------------------------------------------------------

struct reader {
    const char* p;
    std::size_t max_depth;

    // A msgpack str as text: bytes that are not UTF-8 become U+FFFD, as Node decodes them (and
    // as every string a JSON decoder gives, it is then valid UTF-8).
    static std::string text(const char* s, std::uint32_t n) {
        const std::string_view v(s, n);
        return first_invalid_utf8(v) == std::string_view::npos ? std::string(v) : to_valid_utf8(v);
    }

    // notepack.io's JavaScript undefined: fixext 1 of type 0 (notepack.io 2 writes every undefined
    // value so, socket.io-client's CONNECT without auth among them).
    static bool is_undefined(const char* at) {
        return static_cast<std::uint8_t>(at[0]) == 0xd4 && at[1] == 0;
    }

    // A Date: msgpack's timestamp extension (type -1, as notepack.io 3 writes one) or notepack.io
    // 2's fixext 8 of type 0 (socket.io-msgpack-parser 3 uses that one), as the ISO 8601 text
    // JSON.stringify gives a Date ("2026-12-06T01:56:27.000Z"); nullopt for another extension.
    static std::optional<std::string> timestamp(const char* at) {
        const auto byte = [at](std::size_t i) { return static_cast<std::uint8_t>(at[i]); };
        const auto be = [&](std::size_t from, std::size_t n) {
            std::uint64_t v = 0;
            for (std::size_t i = 0; i < n; ++i) v = (v << 8) | byte(from + i);
            return v;
        };
        std::int64_t seconds = 0;
        std::uint64_t nanos = 0;
        if (byte(0) == 0xd7 && byte(1) == 0x00) {  // notepack.io 2's own Date: fixext 8 type 0, signed ms
            const auto ms = static_cast<std::int64_t>(be(2, 8));
            seconds = ms >= 0 ? ms / 1000 : (ms - 999) / 1000;
            nanos = static_cast<std::uint64_t>(ms - seconds * 1000) * 1'000'000;
        } else if (byte(0) == 0xd6 && byte(1) == 0xff) {  // fixext 4: seconds
            seconds = static_cast<std::int64_t>(be(2, 4));
        } else if (byte(0) == 0xd7 && byte(1) == 0xff) {  // fixext 8: 30 bits of ns, 34 of seconds
            const auto v = be(2, 8);
            nanos = v >> 34;
            seconds = static_cast<std::int64_t>(v & 0x3ffffffffull);
        } else if (byte(0) == 0xc7 && byte(1) == 12 && byte(2) == 0xff) {  // ext 8: ns, then signed seconds
            nanos = be(3, 4);
            seconds = static_cast<std::int64_t>(be(7, 8));
        } else {
            return std::nullopt;
        }
        if (nanos >= 1'000'000'000) return std::nullopt;
        const auto days = seconds >= 0 ? seconds / 86400 : (seconds - 86399) / 86400;
        const auto rest = seconds - days * 86400;
        // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
        const std::int64_t z = days + 719468;
        const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
        const std::int64_t doe = z - era * 146097;
        const std::int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
        const std::int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        const std::int64_t mp = (5 * doy + 2) / 153;
        const std::int64_t d = doy - (153 * mp + 2) / 5 + 1;
        const std::int64_t m = mp < 10 ? mp + 3 : mp - 9;
        const std::int64_t y = yoe + era * 400 + (m <= 2 ? 1 : 0);
        if (y < 0 || y > 9999) return std::nullopt;
        char buf[96];  // room for any value the compiler cannot rule out
        std::snprintf(buf, sizeof buf, "%04lld-%02lld-%02lldT%02lld:%02lld:%02lld.%03lluZ", static_cast<long long>(y),
                      static_cast<long long>(m), static_cast<long long>(d), static_cast<long long>(rest / 3600),
                      static_cast<long long>(rest / 60 % 60), static_cast<long long>(rest % 60),
                      static_cast<unsigned long long>(nanos / 1'000'000));
        return std::string(buf);
    }

    // The input was checked by complete_value: every read below stays in bounds.
    std::optional<codec::error> value(json& out, std::size_t depth) {
        if (depth > max_depth) {
            return make_error(errc::payload_too_large, "msgpack nested deeper than the limit");
        }
        switch (mp_typeof(*p)) {
        case MP_NIL: mp_decode_nil(&p); out = nullptr; return std::nullopt;
        case MP_BOOL: out = mp_decode_bool(&p); return std::nullopt;
        case MP_UINT: out = mp_decode_uint(&p); return std::nullopt;
        case MP_INT: out = mp_decode_int(&p); return std::nullopt;
        case MP_FLOAT: out = static_cast<double>(mp_decode_float(&p)); return std::nullopt;
        case MP_DOUBLE: out = mp_decode_double(&p); return std::nullopt;
        case MP_STR: {
            std::uint32_t n = 0;
            const char* s = mp_decode_str(&p, &n);
            out = text(s, n);
            return std::nullopt;
        }
        case MP_BIN: {
            std::uint32_t n = 0;
            const char* s = mp_decode_bin(&p, &n);
            json::binary_t::container_type bytes(reinterpret_cast<const std::uint8_t*>(s),
                                                 reinterpret_cast<const std::uint8_t*>(s) + n);
            out = json::binary(std::move(bytes));
            return std::nullopt;
        }
        case MP_ARRAY: {
            const auto n = mp_decode_array(&p);
            out = json::array();
            for (std::uint32_t i = 0; i < n; ++i) {
                json e;
                if (auto err = value(e, depth + 1)) return err;
                out.push_back(std::move(e));
            }
            return std::nullopt;
        }
        case MP_MAP: {
            const auto n = mp_decode_map(&p);
            out = json::object();
            for (std::uint32_t i = 0; i < n; ++i) {
                if (mp_typeof(*p) != MP_STR) {
                    return make_error(errc::invalid_payload, "msgpack map key is not a string");
                }
                std::uint32_t kn = 0;
                const char* k = mp_decode_str(&p, &kn);
                if (is_undefined(p)) {  // a property set to undefined: absent, as in JSON
                    mp_next(&p);
                    continue;
                }
                json e;
                if (auto err = value(e, depth + 1)) return err;
                out[text(k, kn)] = std::move(e);
            }
            return std::nullopt;
        }
        case MP_EXT:
        default: {
            if (auto t = timestamp(p)) {
                out = *t;
            } else {
                out = nullptr;
            }
            mp_next(&p);
            return std::nullopt;
        }
        }
    }
};

}  // namespace

std::string to_msgpack(const json& value) {
    writer w;
    w.value(value);
    return w.take();
}

result<json> from_msgpack(std::string_view bytes, std::size_t max_depth) {
    if (bytes.empty()) return make_error(errc::empty_input, "empty msgpack message");
    const char* check = bytes.data();
    if (!complete_value(check, bytes.data() + bytes.size(), &check)) {
        return make_error(errc::invalid_payload, "malformed or truncated msgpack");
    }
    if (check != bytes.data() + bytes.size()) {
        return make_error(errc::invalid_payload, "bytes after the msgpack value");
    }
    reader r{bytes.data(), max_depth};
    json out;
    if (auto err = r.value(out, 0)) return std::move(*err);
    return out;
}

}  // namespace sio::codec
