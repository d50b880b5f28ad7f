#!/usr/bin/env bash
# Runs every test program (cmocka binaries and shell suites) and prints one summary line.
# Usage: tests/run.sh BUILD_DIR [NAME_FILTER]
set -u
B=${1:-build}
filter=${2:-}
export MQTTSIM="$PWD/$B/mqttsim" MQTTSIM_ROOT="$PWD" CMOCKA_MESSAGE_OUTPUT=stdout
progs=()
for t in "$B"/tests/test_*; do
  [ -x "$t" ] && [[ "$t" != *.d && "$t" != *.o ]] && progs+=("$t")
done
for t in tests/cli/test_*.sh; do [ -f "$t" ] && progs+=("$t"); done
passed=0 failed=0 skipped=0 failing=()
for t in "${progs[@]}"; do
  [ -n "$filter" ] && [[ "$t" != *"$filter"* ]] && continue
  log=$(mktemp)
  start=$(date +%s)
  if [[ "$t" == *.sh ]]; then bash "$t" >"$log" 2>&1; else "$t" >"$log" 2>&1; fi
  rc=$?
  secs=$(( $(date +%s) - start ))
  run=$(sed -n 's/^\[==========\] \([0-9]*\) test(s) run\./\1/p' "$log" | tail -1)
  fail=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test(s).*/\1/p' "$log" | tail -1)
  fail=${fail:-0}
  skip=$(sed -n 's/^\[  SKIPPED \] \([0-9]*\) test(s).*/\1/p' "$log" | tail -1)
  skip=${skip:-0}; skipped=$((skipped + skip))
  if [ -z "$run" ]; then run=1; fail=1; fi           # crashed before its summary
  if [ "$rc" -ne 0 ] && [ "$fail" -eq 0 ]; then fail=1; fi   # sanitizer or exit failure
  passed=$((passed + run - fail)); failed=$((failed + fail))
  if [ "$fail" -gt 0 ]; then
    failing+=("$t"); echo "FAIL $t (${secs}s)"; sed 's/^/    /' "$log" | tail -40
  elif [ "$skip" -gt 0 ]; then
    echo "ok   $t: $run tests, $skip skipped (${secs}s)"
    grep '^SKIP: ' "$log" | sed "s|^SKIP: |skipped $t: |"
  else
    echo "ok   $t: $run tests (${secs}s)"
  fi
  rm -f "$log"
done
[ ${#failing[@]} -gt 0 ] && echo "failing: ${failing[*]}"
# CI reads the last line: it is exactly "N passed, N failed"; skipped tests
# (those that need root, run as another user) are counted on the line before.
[ "$skipped" -gt 0 ] && echo "$skipped skipped"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
