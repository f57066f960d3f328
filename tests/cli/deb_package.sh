#!/usr/bin/env bash
# `cpack -G DEB` makes a Debian package of the build: installed with dpkg, every tool runs from
# /usr/bin, man finds its page under /usr/share/man, the completions are in place, and the
# package declares the shared libraries it needs. Removed again at the end, leaving the system as
# it was. The package is built in a directory of its own, not in the build tree.
# Needs root and dpkg; exits 77 (skipped) without them, or when sio's tools are already on the
# system (installed by hand or by an earlier package), which this test must not touch.
source "$(dirname "$0")/lib.sh"
tools=(sio-serve sio-cli sio-inspect sio-bench)
skip() { echo "skipped: $*"; exit 77; }
[[ $(id -u) == 0 ]] || skip "installing a package needs root"
command -v dpkg >/dev/null || skip "no dpkg"
command -v man >/dev/null || fail "no man (scripts/setup installs man-db)"
status=$(dpkg-query -W -f='${db:Status-Status}' sio-tools 2>/dev/null || true)
[[ -z $status || $status == not-installed ]] || skip "a sio-tools package is already on this system ($status)"
for t in "${tools[@]}"; do
  for f in /usr/bin/$t /usr/share/man/man1/$t.1; do
    [[ ! -e $f ]] || skip "$f already exists"
  done
done

tmp=$(mktemp -d)
installed=
cleanup() {
  if [[ -n $installed ]]; then
    dpkg -r sio-tools >/dev/null 2>"$tmp/remove.err" || echo "FAIL: dpkg -r sio-tools: $(cat "$tmp/remove.err")" >&2
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT

cpack=${CPACK_COMMAND:-$(dirname "$CMAKE_COMMAND")/cpack}
"$cpack" -G DEB --config "$SIO_BUILD_DIR/CPackConfig.cmake" -B "$tmp/pkg" >"$tmp/cpack.log" 2>&1 ||
  fail "cpack -G DEB: $(cat "$tmp/cpack.log")"
debs=("$tmp"/pkg/sio-tools_*.deb)
[[ ${#debs[@]} == 1 && -f ${debs[0]} ]] || fail "expected one sio-tools_*.deb in $tmp/pkg: $(ls "$tmp/pkg")"
deb=${debs[0]}
[[ $(basename "$deb") == sio-tools_${SIO_VERSION}_*.deb ]] || fail "package file name $(basename "$deb")"

# What the package says and holds.
fields=$(dpkg-deb -f "$deb" Package Version Depends)
contains "$fields" "Package: sio-tools"
contains "$fields" "Version: $SIO_VERSION"
depends=$(dpkg-deb -f "$deb" Depends)
for lib in libc6 libstdc++6 libssl3 libfmt libboost-program-options1.81; do
  contains "$depends" "$lib"
done
listing=$(dpkg-deb -c "$deb")
for t in "${tools[@]}"; do
  contains "$listing" "./usr/bin/$t"
  contains "$listing" "./usr/share/man/man1/$t.1"
  contains "$listing" "./usr/share/bash-completion/completions/$t"
  contains "$listing" "./usr/share/zsh/site-functions/_$t"
  contains "$listing" "./usr/share/fish/vendor_completions.d/$t.fish"
done
[[ $listing != *"./usr/include"* && $listing != *"./usr/lib"* ]] || fail "the package holds more than the tools: $listing"

# Installed. Some minimal images tell dpkg to leave out every man page (path-exclude); these are
# let in, since finding them is part of what is tested.
installed=1
dpkg --path-include='/usr/share/man/man1/sio-*' -i "$deb" >"$tmp/install.log" 2>&1 ||
  fail "dpkg -i: $(cat "$tmp/install.log")"
for t in "${tools[@]}"; do
  [[ $(dpkg -S "/usr/bin/$t" 2>/dev/null) == "sio-tools: /usr/bin/$t" ]] || fail "/usr/bin/$t does not belong to sio-tools"
  v=$(env -i PATH=/usr/bin:/bin "/usr/bin/$t" --version) || fail "/usr/bin/$t --version failed"
  [[ $v == "$t $SIO_VERSION" ]] || fail "/usr/bin/$t --version printed '$v'"
  page=$(env -i PATH=/usr/bin:/bin HOME="$tmp" man -w "$t") || fail "man -w $t found nothing"
  [[ $page == /usr/share/man/man1/$t.1* ]] || fail "man -w $t: $page"
  env -i PATH=/usr/bin:/bin HOME="$tmp" MANPAGER=cat MANWIDTH=80 man "$t" 2>/dev/null | grep -q "^NAME" ||
    fail "man $t does not render"
done

# Removed: nothing of it is left.
installed=
dpkg -r sio-tools >"$tmp/remove.log" 2>&1 || fail "dpkg -r: $(cat "$tmp/remove.log")"
status=$(dpkg-query -W -f='${db:Status-Status}' sio-tools 2>/dev/null || true)
[[ -z $status || $status == not-installed ]] || fail "sio-tools still known to dpkg after dpkg -r: $status"
for t in "${tools[@]}"; do
  for f in /usr/bin/$t /usr/share/man/man1/$t.1 /usr/share/bash-completion/completions/$t \
           /usr/share/zsh/site-functions/_$t /usr/share/fish/vendor_completions.d/$t.fish; do
    [[ ! -e $f ]] || fail "$f left behind after dpkg -r"
  done
done
echo ok
