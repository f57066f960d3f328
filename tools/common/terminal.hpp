// Text that came from the network, made harmless before it reaches a terminal. Every tool prints
// what servers and peers send (session ids, event names, error messages, close reasons): a string
// holding ESC, BEL or CR could retitle the terminal, clear it, move the cursor or hide a line.
#pragma once

#include <string>
#include <string_view>

namespace sio::tools {

// C0 controls, DEL, C1 controls (CSI U+009B among them) and the bidirectional overrides
// (U+202A-202E, U+2066-2069) are written as \uXXXX (\n \r \t as such), bytes that are not UTF-8 as
// U+FFFD. Everything else is kept, so neutralising a JSON text gives a JSON text with the same
// value, and neutralising twice changes nothing more.
std::string neutralize(std::string_view text);

// The same for text of several lines that we put together: each line on its own, the '\n'
// between them kept. Pieces from the network inside it must be neutralised first (a '\n' of
// theirs would start a line of its own).
std::string neutralize_lines(std::string_view text);

}  // namespace sio::tools
