#!/usr/bin/env bash
# Every tool answers --help and --version (the version from CMake's project()), and refuses an
# unknown option or a missing argument with exit code 2 and a hint on stderr.
source "$(dirname "$0")/lib.sh"
for tool in "$SIO_SERVE" "$SIO_CLI" "$SIO_INSPECT" "$SIO_BENCH"; do
  name=$(basename "$tool")
  expect_exit 0 "$tool" --help
  contains "$out" "Usage: $name"
  contains "$out" "--version"
  expect_exit 0 "$tool" -h
  contains "$out" "Usage: $name"
  expect_exit 0 "$tool" --version
  [[ $out == "$name $SIO_VERSION" ]] || fail "$name --version printed '$out'"
  expect_exit 2 "$tool" --no-such-option
  contains "$err" "$name:"
  contains "$err" "--help"
  [[ -z $out ]] || fail "$name wrote to stdout on a usage error: $out"
done
# Tools that need a URL say so.
for tool in "$SIO_CLI" "$SIO_BENCH"; do
  expect_exit 2 "$tool"
  contains "$err" "missing argument URL"
done
expect_exit 2 "$SIO_INSPECT"
contains "$err" "missing argument COMMAND"
expect_exit 2 "$SIO_SERVE" --port notaport
echo ok
