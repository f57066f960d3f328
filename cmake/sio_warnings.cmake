# Warnings for our own targets only: an INTERFACE target linked PRIVATE, so nothing leaks to users.
add_library(sio_warnings INTERFACE)
target_compile_options(sio_warnings INTERFACE -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor
                                              -Wcast-align -Wunused -Woverloaded-virtual)
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
  # GCC 12 reports Asio's coroutine frame allocator (operator new with a size, delete without)
  # as mismatched; the pair is correct.
  target_compile_options(sio_warnings INTERFACE -Wno-mismatched-new-delete)
endif()
if(SIO_WERROR)
  target_compile_options(sio_warnings INTERFACE -Werror)
endif()
