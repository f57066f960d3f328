#!/usr/bin/env bash
# sanitizer_reports.sh DIR: passes when the sanitizer wrote no report into DIR (one file per
# reporting process, named report.PID); otherwise prints every report and fails.
set -uo pipefail
dir=${1:?usage: sanitizer_reports.sh DIR}
shopt -s nullglob
reports=("$dir"/report*)
if (( ${#reports[@]} == 0 )); then
  echo "no sanitizer reports in $dir"
  exit 0
fi
echo "${#reports[@]} process(es) reported:"
for r in "${reports[@]}"; do
  echo "==== $r"
  cat "$r"
done
exit 1
