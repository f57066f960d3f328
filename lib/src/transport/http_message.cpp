#include "http_message.hpp"

#include <boost/beast/core/string.hpp>
#include <fmt/format.h>

#include <vector>

namespace sio::transport::detail {

namespace beast = boost::beast;
namespace http = beast::http;

std::pair<unsigned, std::string> framing_error(const http_request& req) {
    std::size_t hosts = 0;
    std::string codings;
    bool has_length = false;
    for (const auto& f : req) {
        if (f.name() == http::field::host) ++hosts;
        if (f.name() == http::field::content_length) has_length = true;
        if (f.name() == http::field::transfer_encoding) {
            if (!codings.empty()) codings += ", ";
            codings.append(f.value().data(), f.value().size());
        }
    }
    if (req.version() >= 11 && hosts == 0) return {400, "HTTP/1.1 request without a Host header (RFC 9112 section 3.2)"};
    if (hosts > 1) return {400, fmt::format("{} Host headers (RFC 9112 section 3.2)", hosts)};
    if (req.find(http::field::transfer_encoding) == req.end()) return {0, {}};
    if (req.version() < 11) return {400, "Transfer-Encoding in an HTTP/1.0 request (RFC 9112 section 6.1)"};
    if (has_length) return {400, "both Transfer-Encoding and Content-Length (RFC 9112 section 6.1)"};
    // The codings, without empty list elements.
    std::vector<std::string_view> list;
    for (std::string_view rest = codings; !rest.empty();) {
        const auto comma = rest.find(',');
        auto item = rest.substr(0, comma);
        rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
        while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
        while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
        if (!item.empty()) list.push_back(item);
    }
    const auto shown = fmt::format("Transfer-Encoding \"{}\"", codings);
    if (list.empty() || !beast::iequals(list.back(), "chunked"))
        return {400, shown + " whose last coding is not chunked (RFC 9112 section 6.1)"};
    for (std::size_t i = 0; i + 1 < list.size(); ++i)
        if (beast::iequals(list[i], "chunked")) return {400, shown + " applies chunked twice (RFC 9112 section 7.1)"};
    if (list.size() > 1) return {501, shown + ": only chunked is understood"};
    return {0, {}};
}

bool has_obsolete_fold(std::string_view head) {
    for (auto p = head.find('\n'); p != std::string_view::npos && p + 1 < head.size(); p = head.find('\n', p + 1))
        if (head[p + 1] == ' ' || head[p + 1] == '\t') return true;
    return false;
}

std::string serialize_head(const http_response& res) {
    std::string head;
    head.reserve(192);
    head += res.version() == 10 ? "HTTP/1.0 " : "HTTP/1.1 ";
    head += std::to_string(res.result_int());
    head += ' ';
    const auto reason = res.reason();
    head.append(reason.data(), reason.size());
    head += "\r\n";
    for (const auto& f : res) {
        const auto name = f.name_string();
        const auto value = f.value();
        head.append(name.data(), name.size());
        head += ": ";
        head.append(value.data(), value.size());
        head += "\r\n";
    }
    head += "\r\n";
    return head;
}

}  // namespace sio::transport::detail
