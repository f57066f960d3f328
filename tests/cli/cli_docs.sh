#!/usr/bin/env bash
# sio-cli: every short option its --help lists is in the man page and the bash, zsh and fish
# completions (docs_match_help.sh checks the long ones); every REPL command (the table `help`
# prints, in tools/sio-cli/core/command.cpp) and every exit status is in --help and the man page.
source "$(dirname "$0")/lib.sh"
src=$SIO_SOURCE_DIR
help=$("$SIO_CLI" --help)
man=$src/man/sio-cli.1

shorts=$(grep -oE '^ +-[a-zA-Z] \[ --' <<<"$help" | grep -oE -- '-[a-zA-Z]' | sort -u)
[[ -n $shorts ]] || fail "--help lists no short options"
for opt in $shorts; do
  letter=${opt#-}
  grep -qF -- "\\fB\\-$letter\\fR" "$man" || grep -qE -- "BR \\\\-$letter " "$man" || fail "$opt missing from man/sio-cli.1"
  grep -qE -- "(^|[^a-zA-Z-])$opt([^a-zA-Z-]|$)" "$src/completions/bash/sio-cli" || fail "$opt missing from the bash completion"
  grep -qE -- "(^|[^a-zA-Z-])$opt([^a-zA-Z-]|$)" "$src/completions/zsh/_sio-cli" || fail "$opt missing from the zsh completion"
  grep -qE -- "-s $letter( |$)" "$src/completions/fish/sio-cli.fish" || fail "$opt missing from the fish completion"
done

commands=$(grep -oE '^ +\{"[a-z]+", "[a-z]' "$src/tools/sio-cli/core/command.cpp" | grep -oE '"[a-z]+"' | tr -d '"' | sort -u)
[[ $(wc -w <<<"$commands") -ge 10 ]] || fail "could not read the REPL commands from command.cpp: $commands"
repl_line=$(grep -A2 '^REPL commands:' <<<"$help")
for c in $commands; do
  grep -qE "(^|[ ,])$c([ ,;.]|$)" <<<"$repl_line" || fail "REPL command '$c' missing from --help: $repl_line"
  sed -n '/^\.SH THE REPL/,/^\.SH /p' "$man" | grep -qF "\\fB$c\\fR" || fail "REPL command '$c' missing from THE REPL in man/sio-cli.1"
done

# Exit statuses: each number in the man page's EXIT STATUS section is in --help's summary.
codes=$(sed -n '/^\.SH EXIT STATUS/,/^\.SH /p' "$man" | grep -A1 '^\.TP' | grep -oE '^\.B [0-9]+' | grep -oE '[0-9]+')
[[ $(wc -w <<<"$codes") -ge 8 ]] || fail "could not read the exit statuses from the man page: $codes"
exit_line=$(grep -A1 '^Exit status:' <<<"$help")
for code in $codes; do
  grep -qE "(^|[ :,])$code [a-zA-Z]" <<<"$exit_line" || fail "exit status $code missing from --help: $exit_line"
done
echo ok
