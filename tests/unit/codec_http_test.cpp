// The rule for extra headers the clients are given to send: a token name, and a value that
// cannot end the header or split the request.
#include "sio/codec/http.hpp"

#include <gtest/gtest.h>

#include <string>

using sio::codec::check_header;

TEST(check_header, accepts_token_names_with_any_printable_value) {
    EXPECT_EQ(check_header("Authorization", "Bearer abc.def"), "");
    EXPECT_EQ(check_header("X-Trace_ID.1", ""), "");
    EXPECT_EQ(check_header("!#$%&'*+-.^_`|~", "v"), "");
    EXPECT_EQ(check_header("X-Utf8", "caf\xc3\xa9 \t tab"), "");
}

TEST(check_header, refuses_names_that_are_not_tokens_and_escapes_control_bytes) {
    EXPECT_EQ(check_header("", "v"), "a header without a name");
    EXPECT_EQ(check_header("X Space", "v"), "header name 'X Space' is not an HTTP token");
    EXPECT_EQ(check_header("X:Colon", "v"), "header name 'X:Colon' is not an HTTP token");
    EXPECT_EQ(check_header("X\r\nEvil", "v"), "header name 'X\\x0d\\x0aEvil' is not an HTTP token");
    EXPECT_EQ(check_header("X-\xc3\xa9", "v"), "header name 'X-\\xc3\\xa9' is not an HTTP token");
}

TEST(check_header, refuses_values_that_would_end_the_header_or_split_the_request) {
    const std::string why = "the value of header 'X-A' holds CR, LF or NUL";
    EXPECT_EQ(check_header("X-A", "a\r\nX-Injected: 1"), why);
    EXPECT_EQ(check_header("X-A", "a\nb"), why);
    EXPECT_EQ(check_header("X-A", "a\rb"), why);
    EXPECT_EQ(check_header("X-A", std::string("a\0b", 3)), why);
}
