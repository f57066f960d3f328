#!/usr/bin/env bash
# Fails when a file of the codec layer (sio::codec) includes Asio, Beast or any other I/O library.
# Usage: codec_is_sans_io.sh LIB_DIR     check lib/include/sio/codec and lib/src/codec
#        codec_is_sans_io.sh --self-test show that a violation is caught
set -euo pipefail

check() {
  local lib=$1 found
  found=$(grep -rnE '^[[:space:]]*#[[:space:]]*include[[:space:]]*[<"](boost/|asio|beast|openssl/|sys/socket|netinet/|arpa/|thread>|sio/(transport|engine|adapter)/)' \
            "$lib/include/sio/codec" "$lib/src/codec" || true)
  if [[ -n $found ]]; then
    echo "codec layer includes I/O headers:" >&2
    echo "$found" >&2
    return 1
  fi
  local n
  n=$(find "$lib/include/sio/codec" "$lib/src/codec" -type f | wc -l)
  if (( n == 0 )); then
    echo "no codec files found under $lib" >&2
    return 1
  fi
  echo "codec layer is sans-I/O ($n files checked)"
}

if [[ ${1:-} == --self-test ]]; then
  tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
  mkdir -p "$tmp/include/sio/codec" "$tmp/src/codec"
  printf '#include <string>\n' > "$tmp/include/sio/codec/ok.hpp"
  check "$tmp" >/dev/null || { echo "self-test: clean tree reported as violation" >&2; exit 1; }
  for bad in '#include <boost/asio.hpp>' '#  include "boost/beast/core.hpp"' '#include <thread>'; do
    printf '%s\n' "$bad" > "$tmp/src/codec/bad.cpp"
    if check "$tmp" 2>/dev/null; then echo "self-test: '$bad' not caught" >&2; exit 1; fi
  done
  echo "self-test: violations are caught"
  exit 0
fi
check "${1:?usage: codec_is_sans_io.sh LIB_DIR | --self-test}"
