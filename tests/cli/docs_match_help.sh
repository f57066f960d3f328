#!/usr/bin/env bash
# Every long option a tool's --help lists is documented in its man page and offered by its bash,
# zsh and fish completions.
source "$(dirname "$0")/lib.sh"
src=$SIO_SOURCE_DIR
for tool in "$SIO_SERVE" "$SIO_CLI" "$SIO_INSPECT" "$SIO_BENCH"; do
  name=$(basename "$tool")
  opts=$("$tool" --help | grep -oE -- '--[a-z][a-z0-9-]+' | sort -u)
  [[ -n $opts ]] || fail "$name --help lists no options"
  for opt in $opts; do
    bare=${opt#--}
    grep -qF -- "\\-\\-${bare//-/\\-}" "$src/man/$name.1" || fail "$name: $opt missing from man/$name.1"
    grep -qE -- "(^|[^a-z-])$opt([^a-z-]|$)" "$src/completions/bash/$name" || fail "$name: $opt missing from the bash completion"
    grep -qE -- "(^|[^a-z-])$opt([^a-z-]|$)" "$src/completions/zsh/_$name" || fail "$name: $opt missing from the zsh completion"
    grep -qE -- "-l $bare( |$)" "$src/completions/fish/$name.fish" || fail "$name: $opt missing from the fish completion"
  done
done
echo ok
