# A small assertion library for shell test suites; prints cmocka-style summary lines.
# Each suite: source this, define functions named t_*, then call t_main.
set -u
: "${MQTTSIM:=$PWD/build/mqttsim}"
: "${MQTTSIM_ROOT:=$PWD}"
T_FAILS=0

fail() { echo "    assertion failed: $*"; T_FAILS=$((T_FAILS + 1)); }
expect_eq() { [ "$1" = "$2" ] || fail "expected '$2', got '$1' ${3:-}"; }
expect_contains() { case "$1" in *"$2"*) ;; *) fail "output lacks '$2': $(printf '%s' "$1" | head -c 400)";; esac; }
expect_file() { [ -s "$1" ] || fail "missing or empty file $1"; }
expect_no_file() { [ ! -e "$1" ] || fail "file should not exist: $1"; }

# Reports every t_* test as skipped, the reason on a line of its own.
t_skip_main() {
  local names f
  names=$(declare -F | awk '{print $3}' | grep '^t_' | grep -v '^t_main$' | grep -v '^t_skip_main$')
  echo "SKIP: $1"
  echo "[==========] Running $(echo "$names" | wc -w) test(s)."
  echo "[==========] 0 test(s) run."
  echo "[  SKIPPED ] $(echo "$names" | wc -w) test(s), listed below:"
  for f in $names; do echo "[  SKIPPED ] $f"; done
}

# Inside a test: skip it (the reason on a line of its own) and leave it.
t_skip() { echo "SKIP: $*"; exit 77; }

t_main() {
  local names n=0 nf=0 ns=0 f skipped=""
  names=$(declare -F | awk '{print $3}' | grep '^t_' | grep -v '^t_main$' | grep -v '^t_skip_main$' | grep -v '^t_skip$')
  echo "[==========] Running $(echo "$names" | wc -w) test(s)."
  for f in $names; do
    T_FAILS=0
    T_DIR=$(mktemp -d)
    echo "[ RUN      ] $f"
    ( cd "$T_DIR" && $f; [ "$T_FAILS" -eq 0 ] ) ; local sub=$?
    if [ $sub -eq 77 ]; then echo "[  SKIPPED ] $f"; ns=$((ns + 1)); skipped="$skipped $f"
    elif [ $sub -ne 0 ]; then echo "[  FAILED  ] $f"; nf=$((nf + 1)); else echo "[       OK ] $f"; fi
    rm -rf "$T_DIR"; n=$((n + 1))
  done
  echo "[==========] $((n - ns)) test(s) run."
  echo "[  PASSED  ] $((n - ns - nf)) test(s)."
  if [ $ns -gt 0 ]; then
    echo "[  SKIPPED ] $ns test(s), listed below:"
    for f in $skipped; do echo "[  SKIPPED ] $f"; done
  fi
  [ $nf -gt 0 ] && echo "[  FAILED  ] $nf test(s), listed above."
  [ $nf -eq 0 ]
}
