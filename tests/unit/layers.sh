#!/usr/bin/env bash
# Fails when a file of lib/ includes a header of a higher layer (a lower layer never includes a
# higher one), or when a file of the codec includes anything that does I/O.
#
#   layer        its files (under LIB_DIR)                                may include from sio
#   0 codec      include/sio/codec/, src/codec/                           0 only; and no I/O at all
#   1 transport  include/sio/transport/, src/transport/                   0-1
#   2 engine     include/sio/engine/, src/engine/                         0-2
#   3 adapter    include/sio/adapter/, src/adapter/                       0-3
#   4 sio        include/sio/* (top-level headers), src/*, src/client/    everything
#
# An include belongs to the layer of the file it names: "sio/X" or <sio/X> is include/sio/X (a
# top-level header such as sio/client.hpp is layer 4); a quoted name is first looked up next to
# the including file, as the compiler does ("connection.hpp" in src/ is layer 4, "../x.hpp"
# belongs wherever it lands). A source file in a folder of no layer fails too, and so does a
# layer folder left without files (a moved folder, or the wrong LIB_DIR).
#
# Usage: layers.sh LIB_DIR      check every file of every layer; one line per violation,
#                               "file:line: layer X includes layer Y (header)"
#        layers.sh --self-test  show on a temporary tree that each kind of violation is caught
set -euo pipefail

layer_names=(codec transport engine adapter sio)
# Each must hold at least one file.
required_dirs=(include/sio/codec src/codec include/sio/transport src/transport include/sio/engine
               src/engine include/sio/adapter src/adapter include/sio src)
# What the codec may not include: I/O libraries, sockets, threads.
io_re='^(boost/|asio|beast|openssl/|sys/socket|netinet/|arpa/|thread$)'
include_re='^[[:space:]]*#[[:space:]]*include[[:space:]]*([<"])([^>"]*)[>"]'

# Sets L to the layer of a path relative to LIB_DIR: 0-4, "none" (a folder of no layer) or ""
# (not a file of sio at all).
layer_of() {
  case $1 in
    include/sio/codec/*     | src/codec/*)     L=0 ;;
    include/sio/transport/* | src/transport/*) L=1 ;;
    include/sio/engine/*    | src/engine/*)    L=2 ;;
    include/sio/adapter/*   | src/adapter/*)   L=3 ;;
    src/client/*)                              L=4 ;;
    include/sio/*/* | src/*/*)                 L=none ;;
    include/sio/* | src/*)                     L=4 ;;
    *)                                         L= ;;
  esac
}

# Sets N to a relative path with its "." and ".." resolved (a/b/../c -> a/c).
normalize() {
  local rest=$1/ part out=()
  while [[ -n $rest ]]; do
    part=${rest%%/*}; rest=${rest#*/}
    case $part in
      '' | .) ;;
      ..) if (( ${#out[@]} )) && [[ ${out[-1]} != .. ]]; then unset 'out[-1]'; else out+=(..); fi ;;
      *) out+=("$part") ;;
    esac
  done
  local IFS=/
  N="${out[*]}"
}

check() {
  local lib=${1%/} errors=0 rel dir
  local -a files=() counts=(0 0 0 0 0)
  local -A file_layer=()
  [[ -d $lib/include/sio && -d $lib/src ]] || { echo "$lib: no include/sio/ or src/ (not a LIB_DIR)" >&2; return 1; }

  while IFS= read -r -d '' f; do
    rel=${f#"$lib"/}
    layer_of "$rel"
    if [[ $L == none || -z $L ]]; then
      echo "$f: in no layer (a new folder? add it to the table in tests/unit/layers.sh)" >&2
      errors=$((errors + 1))
      continue
    fi
    files+=("$f")
    file_layer[$rel]=$L
    counts[L]=$((counts[L] + 1))
  done < <(find "$lib/include" "$lib/src" -type f \( -name '*.hpp' -o -name '*.h' -o -name '*.hh' \
             -o -name '*.ipp' -o -name '*.inl' -o -name '*.cpp' -o -name '*.cc' -o -name '*.cxx' \
             -o -name '*.c' \) -print0 | sort -z)

  for dir in "${required_dirs[@]}"; do
    if [[ -z $(find "$lib/$dir" -maxdepth 1 -type f -print -quit 2>/dev/null) ]]; then
      echo "$lib/$dir: no file in this layer folder (moved? then update tests/unit/layers.sh)" >&2
      errors=$((errors + 1))
    fi
  done

  local line file rest lineno text delim name from to target includes=0
  if (( ${#files[@]} )); then
    while IFS= read -r line; do
      file=${line%%:*}; rest=${line#*:}; lineno=${rest%%:*}; text=${rest#*:}
      [[ $text =~ $include_re ]] || continue
      delim=${BASH_REMATCH[1]}; name=${BASH_REMATCH[2]}
      includes=$((includes + 1))
      rel=${file#"$lib"/}
      from=${file_layer[$rel]}
      if (( from == 0 )) && [[ $name =~ $io_re ]]; then
        echo "$file:$lineno: layer 0 codec includes I/O ($name)" >&2
        errors=$((errors + 1))
        continue
      fi
      # The file the include names, relative to LIB_DIR: next to the includer (quoted names
      # only), else include/sio/...; names of neither kind are not sio's.
      target=
      if [[ $delim == '"' ]]; then
        normalize "${rel%/*}/$name"
        if [[ -f $lib/$N || $name == *../* ]]; then target=$N; fi
      fi
      if [[ -z $target && $name == sio/* ]]; then normalize "include/$name"; target=$N; fi
      [[ -n $target ]] || continue
      layer_of "$target"
      to=$L
      [[ -n $to ]] || continue           # lands outside include/sio and src
      [[ $to == none ]] && to=4          # a folder of no layer: only the top may use it
      if (( to > from )); then
        echo "$file:$lineno: layer $from ${layer_names[from]} includes layer $to ${layer_names[to]} ($name)" >&2
        errors=$((errors + 1))
      fi
    done < <(grep -HnE '^[[:space:]]*#[[:space:]]*include' "${files[@]}" || true)
  fi

  if (( errors )); then
    echo "layers: $errors violation(s) under $lib" >&2
    return 1
  fi
  local summary='' i
  for i in 0 1 2 3 4; do summary+="${summary:+, }${layer_names[i]} ${counts[i]}"; done
  echo "layers: no file includes a higher layer, the codec includes no I/O (files: $summary; $includes includes checked)"
}

self_test() {
  local tmp
  tmp=$(mktemp -d)
  # shellcheck disable=SC2064
  trap "rm -rf '$tmp'" EXIT
  mkdir -p "$tmp"/include/sio/{codec,transport,engine,adapter} "$tmp"/src/{codec,transport,engine,adapter,client}
  put() { printf '%b' "$2" > "$tmp/$1"; }
  # A clean tree: every layer uses all it may, with local and relative includes and a commented one.
  put include/sio/codec/json.hpp  '#pragma once\n#include <nlohmann/json.hpp>\n#include <string>\n'
  put include/sio/codec/packet.hpp '#include "json.hpp"\n#  include "sio/codec/json.hpp"\n// #include <boost/asio.hpp>\n'
  put src/codec/packet.cpp        '#include "sio/codec/packet.hpp"\n#include <msgpuck.h>\n#include "../../include/sio/codec/json.hpp"\n'
  put include/sio/transport/connect.hpp '#include "sio/codec/json.hpp"\n#include <boost/asio/ip/tcp.hpp>\n#include <openssl/ssl.h>\n'
  put src/transport/connect.cpp   '#include "sio/transport/connect.hpp"\n#include <thread>\n#include <sys/socket.h>\n'
  put include/sio/engine/client.hpp '#include "sio/transport/connect.hpp"\n#include <sio/codec/packet.hpp>\n'
  put src/engine/client.cpp       '#include "sio/engine/client.hpp"\n/* #include "sio/client.hpp" */\n// #include "sio/client.hpp"\n'
  put include/sio/adapter/redis.hpp '#include "sio/engine/client.hpp"\n#include "sio/transport/connect.hpp"\n#include "../codec/json.hpp"\n'
  put src/adapter/redis.cpp       '#include "sio/adapter/redis.hpp"\n#include <hiredis/hiredis.h>\n'
  put include/sio/server.hpp      '#include "sio/adapter/redis.hpp"\n#include "sio/engine/client.hpp"\n#include "sio/version.hpp"\n'
  put include/sio/client.hpp      '#include "sio/server.hpp"\n#include "engine/client.hpp"\n'
  put src/connection.hpp          '#include "sio/server.hpp"\n'
  put src/server.cpp              '#include "sio/server.hpp"\n#include "connection.hpp"\n#include "codec/packet.cpp"\n'
  put src/client/client.cpp       '#include <sio/client.hpp>\n#include "../connection.hpp"\n#include "sio/engine/client.hpp"\n'

  local out
  if ! out=$(check "$tmp" 2>&1); then
    echo "self-test: a clean tree is reported as violating:" >&2; echo "$out" >&2; return 1
  fi
  [[ $out == *"(files: codec 3, transport 2, engine 2, adapter 2, sio 5;"* ]] \
    || { echo "self-test: wrong summary for the clean tree: $out" >&2; return 1; }

  # expect FILE LINE_OF_CODE MESSAGE: FILE, holding two clean lines then LINE_OF_CODE, fails with
  # "FILE:3: MESSAGE" and nothing else.
  local cases=0
  expect() {
    local file=$1 code=$2 want="$tmp/$1:3: $3" existed=0
    [[ -e $tmp/$file ]] && { existed=1; cp "$tmp/$file" "$tmp/.saved"; }
    printf '// two clean lines first\n#include <string>\n%s\n' "$code" > "$tmp/$file"
    if out=$(check "$tmp" 2>&1); then
      echo "self-test: not caught: '$code' in $file" >&2; return 1
    fi
    if ! grep -qxF -- "$want" <<< "$out" || (( $(grep -c ': layer ' <<< "$out") != 1 )); then
      printf 'self-test: %s in %s: expected exactly\n  %s\ngot\n%s\n' "$code" "$file" "$want" "$out" >&2; return 1
    fi
    if (( existed )); then mv "$tmp/.saved" "$tmp/$file"; else rm "$tmp/$file"; fi
    cases=$((cases + 1))
  }
  # The codec: no I/O, by any spelling.
  expect src/codec/bad.cpp '#include <boost/asio.hpp>'               'layer 0 codec includes I/O (boost/asio.hpp)'
  expect src/codec/bad.cpp '#  include "boost/beast/core.hpp"'       'layer 0 codec includes I/O (boost/beast/core.hpp)'
  expect include/sio/codec/bad.hpp '#include <asio/ip/tcp.hpp>'      'layer 0 codec includes I/O (asio/ip/tcp.hpp)'
  expect include/sio/codec/bad.hpp '#include <openssl/ssl.h>'        'layer 0 codec includes I/O (openssl/ssl.h)'
  expect src/codec/bad.cpp '#include <sys/socket.h>'                 'layer 0 codec includes I/O (sys/socket.h)'
  expect src/codec/bad.cpp '#include <netinet/in.h>'                 'layer 0 codec includes I/O (netinet/in.h)'
  expect src/codec/bad.cpp '#include <arpa/inet.h>'                  'layer 0 codec includes I/O (arpa/inet.h)'
  expect src/codec/packet.cpp ' # include <thread>'                  'layer 0 codec includes I/O (thread)'
  # Each layer including a higher one, by sio/ name, by relative name, quoted or angled.
  expect src/codec/bad.cpp '#include "sio/transport/connect.hpp"'    'layer 0 codec includes layer 1 transport (sio/transport/connect.hpp)'
  expect include/sio/codec/bad.hpp '#include "../engine/client.hpp"' 'layer 0 codec includes layer 2 engine (../engine/client.hpp)'
  expect src/codec/bad.cpp '#include <sio/detail/thing.hpp>'         'layer 0 codec includes layer 4 sio (sio/detail/thing.hpp)'
  expect src/transport/bad.cpp '#include "sio/engine/client.hpp"'    'layer 1 transport includes layer 2 engine (sio/engine/client.hpp)'
  expect include/sio/transport/bad.hpp '#include <sio/adapter/redis.hpp>' 'layer 1 transport includes layer 3 adapter (sio/adapter/redis.hpp)'
  expect src/engine/bad.cpp '#include "sio/client.hpp"'              'layer 2 engine includes layer 4 sio (sio/client.hpp)'
  expect src/engine/client.cpp '#include "../connection.hpp"'        'layer 2 engine includes layer 4 sio (../connection.hpp)'
  expect include/sio/engine/bad.hpp '#include "sio/adapter/redis.hpp"' 'layer 2 engine includes layer 3 adapter (sio/adapter/redis.hpp)'
  expect include/sio/engine/client.hpp '#include "../client.hpp"'    'layer 2 engine includes layer 4 sio (../client.hpp)'
  expect src/adapter/bad.cpp '#include <sio/server.hpp>'             'layer 3 adapter includes layer 4 sio (sio/server.hpp)'
  expect include/sio/adapter/bad.hpp '#include "sio/version.hpp"'    'layer 3 adapter includes layer 4 sio (sio/version.hpp)'
  expect src/adapter/bad.cpp '#include "../client/impl.hpp"'        'layer 3 adapter includes layer 4 sio (../client/impl.hpp)'

  # A file in a folder of no layer.
  mkdir "$tmp/src/detail"
  put src/detail/thing.cpp '#include <string>\n'
  if out=$(check "$tmp" 2>&1) || [[ $out != *"src/detail/thing.cpp: in no layer"* ]]; then
    echo "self-test: a file in a folder of no layer is not caught: $out" >&2; return 1
  fi
  rm -r "$tmp/src/detail"
  # A layer folder left empty: a layer's own, and the top level (whose subfolders do not count).
  mv "$tmp/src/transport/connect.cpp" "$tmp/connect.cpp"
  if out=$(check "$tmp" 2>&1) || [[ $out != *"$tmp/src/transport: no file in this layer folder"* ]]; then
    echo "self-test: an empty layer folder is not caught: $out" >&2; return 1
  fi
  mv "$tmp/connect.cpp" "$tmp/src/transport/connect.cpp"
  mkdir "$tmp/away"
  mv "$tmp/src/server.cpp" "$tmp/src/connection.hpp" "$tmp/away/"
  sed -i 's|"../connection.hpp"|"sio/server.hpp"|' "$tmp/src/client/client.cpp"
  if out=$(check "$tmp" 2>&1) || [[ $out != *"$tmp/src: no file in this layer folder"* ]]; then
    echo "self-test: a top level without files is not caught: $out" >&2; return 1
  fi
  mv "$tmp/away/server.cpp" "$tmp/away/connection.hpp" "$tmp/src/"
  # Two violations in one file: both reported.
  printf '#include "sio/client.hpp"\n#include <boost/asio.hpp>\n#include "sio/adapter/redis.hpp"\n' > "$tmp/src/codec/bad.cpp"
  if out=$(check "$tmp" 2>&1) || (( $(grep -c ': layer ' <<< "$out") != 3 )); then
    echo "self-test: three violations in one file are not all reported: $out" >&2; return 1
  fi
  rm "$tmp/src/codec/bad.cpp"
  # And the tree is clean again.
  out=$(check "$tmp" 2>&1) || { echo "self-test: the restored tree fails: $out" >&2; return 1; }
  echo "self-test: a clean tree passes; $cases violations of every kind, a file of no layer and empty layer folders are caught"
}

if [[ ${1:-} == --self-test ]]; then
  self_test
  exit
fi
check "${1:?usage: layers.sh LIB_DIR | --self-test}"
