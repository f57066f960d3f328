// Percent-decoding of URL parts: escapes of either case, a stray '%' kept, '+' only for query
// strings, and bytes that are not UTF-8 passed through.
#include "sio/codec/percent.hpp"

#include <gtest/gtest.h>

#include <string>

using sio::codec::percent_decode;

TEST(percent_decode, decodes_escapes_of_either_case) {
    EXPECT_EQ(percent_decode("p%40ss%3a%3A%2F%20x"), "p@ss::/ x");
    EXPECT_EQ(percent_decode("%e2%82%AC"), "\xe2\x82\xac");
    EXPECT_EQ(percent_decode("%00z"), std::string("\0z", 2));
    EXPECT_EQ(percent_decode(""), "");
}

TEST(percent_decode, keeps_a_percent_without_two_hex_digits) {
    EXPECT_EQ(percent_decode("100%"), "100%");
    EXPECT_EQ(percent_decode("%4"), "%4");
    EXPECT_EQ(percent_decode("%zz%41"), "%zzA");
    EXPECT_EQ(percent_decode("%%41"), "%A");
}

TEST(percent_decode, turns_plus_into_space_only_for_query_strings) {
    EXPECT_EQ(percent_decode("a+b%2B"), "a+b+");
    EXPECT_EQ(percent_decode("a+b%2B", true), "a b+");
}
