# Warnings for our own targets only: an INTERFACE target linked PRIVATE, so nothing leaks to users.
add_library(sio_warnings INTERFACE)
target_compile_options(sio_warnings INTERFACE -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor
                                              -Wcast-align -Wunused -Woverloaded-virtual)
if(SIO_WERROR)
  target_compile_options(sio_warnings INTERFACE -Werror)
endif()
