#!/usr/bin/env bash
# `cmake --install` puts the tools in bin, the man pages in share/man/man1 and the completions
# where bash, zsh and fish look for them; the installed tools run.
source "$(dirname "$0")/lib.sh"
prefix=$(mktemp -d); trap 'rm -rf "$prefix"' EXIT
"$CMAKE_COMMAND" --install "$SIO_BUILD_DIR" --prefix "$prefix" >/dev/null
for t in sio-serve sio-cli sio-inspect sio-bench; do
  [[ -x $prefix/bin/$t ]] || fail "missing $prefix/bin/$t"
  "$prefix/bin/$t" --version | grep -qx "$t $SIO_VERSION" || fail "installed $t --version"
  [[ -f $prefix/share/man/man1/$t.1 ]] || fail "missing man page $t.1"
  [[ -f $prefix/share/bash-completion/completions/$t ]] || fail "missing bash completion for $t"
  [[ -f $prefix/share/zsh/site-functions/_$t ]] || fail "missing zsh completion for $t"
  [[ -f $prefix/share/fish/vendor_completions.d/$t.fish ]] || fail "missing fish completion for $t"
  bash -n "$prefix/share/bash-completion/completions/$t" || fail "bash completion for $t has a syntax error"
done
echo ok
