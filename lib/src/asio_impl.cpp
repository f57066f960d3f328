// Separate compilation: the bodies of Asio, Asio's SSL layer and Beast are compiled here once,
// and every other translation unit sees only declarations (BOOST_ASIO_SEPARATE_COMPILATION and
// BOOST_BEAST_SEPARATE_COMPILATION are set on sio::net's interface).
#include <boost/asio/impl/src.hpp>
#include <boost/asio/ssl/impl/src.hpp>
#include <boost/beast/src.hpp>
