// The text of an exception for a log line, wherever one is caught that must not go unheard.
#pragma once

#include <exception>
#include <string>

namespace sio::transport {

// what() of a std::exception; a fixed phrase for anything else.
inline std::string exception_text(const std::exception_ptr& e) {
    try {
        std::rethrow_exception(e);
    } catch (const std::exception& x) {
        return x.what();
    } catch (...) {
        return "an exception that is not a std::exception";
    }
}

}  // namespace sio::transport
