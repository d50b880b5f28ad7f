#!/usr/bin/env bash
# `make fuzz`: builds each libFuzzer harness of tests/fuzz/ with clang and runs it.
# Usage: bash mk/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]
# Each target runs for SECONDS (default 60) from its committed seeds
# (tests/fuzz/corpus/NAME, read only) plus a work corpus in build-fuzz/, then
# its line coverage of the code under test is measured by replaying the final
# corpus through a coverage build. A crash leaves its input in build-fuzz/ and
# stops with status 1: copy it to tests/fuzz/regress/NAME/ so `make test`
# replays it from then on.
set -eu
secs=${1:-60}
shift || true
targets=${*:-codec session config configrun tcp broker client}
CC=${FUZZ_CC:-clang}
B=build-fuzz
PKG_CFLAGS=$(pkg-config --cflags gsl libcjson)
PKG_LIBS="$(pkg-config --libs gsl libcjson cmocka) -lm"
mkdir -p "$B"
lib_src=$(ls sim/*.c models/*.c experiments/*.c | grep -v experiments/main.c)

# Which source files each target is about, for the coverage report.
declare -A COVER=([codec]="models/codec.c models/utf8.c models/topic.c"
                [session]="models/session.c models/broker.c models/subs.c models/msg.c"
                [config]="experiments/config.c experiments/keys.c"
                [configrun]="experiments/config.c experiments/keys.c experiments/run.c models/net.c models/broker.c models/session.c"
                [tcp]="sim/tcp.c sim/link.c sim/fifo.c"
                [broker]="models/broker.c models/session.c models/subs.c models/codec.c models/msg.c"
                [client]="models/session.c models/codec.c models/msg.c")
# The harness file (and seed corpus) of each target that shares another's.
declare -A SRC=([configrun]=config)

build() { # build NAME FLAGS...
    local name=$1 out=$2; shift 2
    $CC -std=c11 -D_POSIX_C_SOURCE=200809L -O1 -g -I. $PKG_CFLAGS "$@" \
        -DFUZZ_TARGET=fuzz_$name $lib_src tests/fuzz/${SRC[$name]:-$name}.c tests/fuzz/bytes.c tests/fuzz/libfuzzer.c \
        -o "$out" $PKG_LIBS
}

status=0
for t in $targets; do
    echo "== fuzz $t: building"
    build "$t" "$B/fuzz-$t" -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
    mkdir -p "$B/corpus-$t"
    seeds=tests/fuzz/corpus/${SRC[$t]:-$t}
    echo "== fuzz $t: running for ${secs}s"
    log="$B/fuzz-$t.log"
    if ! "$B/fuzz-$t" -max_total_time="$secs" -timeout=60 -print_final_stats=1 \
        -artifact_prefix="$B/crash-$t-" "$B/corpus-$t" "$seeds" >"$log" 2>&1; then
        echo "fuzz $t: FAILED; input and log in $B/ (crash-$t-*, $log):"
        grep -E "invariant broken|ERROR: |SUMMARY" "$log" | head -5
        status=1
        continue
    fi
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    cov=$(grep -E '^#[0-9]+.*cov:' "$log" | tail -1 | sed -E 's/.*cov: ([0-9]+) ft: ([0-9]+) corp: ([^ ]+).*/\1 edges, \2 features, corpus \3/')
    echo "fuzz $t: $runs executions, $cov"
    # A plateau shows as edges flat over the later part of the run: the
    # execution that found the last new edge, and edges at each share of it.
    grep -E '^#[0-9]+.*cov:' "$log" | sed -E 's/^#([0-9]+).*cov: ([0-9]+).*/\1 \2/' | \
        awk -v runs="$runs" '{ n[NR] = $1; c[NR] = $2; if ($2 > best) { best = $2; at = $1 } }
        END {
            if (!NR || !runs) exit
            printf "    last new edge at execution %d (%.0f%% of the run); edges at", at, 100 * at / runs
            split("10 25 50 75 100", share)
            for (k = 1; k <= 5; k++) {
                e = 0
                for (i = 1; i <= NR && n[i] <= runs * share[k] / 100; i++) e = c[i]
                printf " %s%%: %d", share[k], e
            }
            printf "\n"
        }'

    # Line coverage: replay the whole corpus through an instrumented build.
    if [ -n "${COVER[$t]:-}" ] && command -v llvm-profdata >/dev/null && command -v llvm-cov >/dev/null; then
        build "$t" "$B/cov-$t" -fsanitize=fuzzer -fprofile-instr-generate -fcoverage-mapping
        LLVM_PROFILE_FILE="$B/cov-$t.profraw" "$B/cov-$t" -runs=0 "$B/corpus-$t" "$seeds" >/dev/null 2>&1
        llvm-profdata merge -sparse "$B/cov-$t.profraw" -o "$B/cov-$t.profdata"
        files=$(for f in ${COVER[$t]}; do [ -f "$f" ] && echo "$f"; done)
        llvm-cov report "$B/cov-$t" -instr-profile="$B/cov-$t.profdata" $files | \
            awk 'NR==1 || /^[a-z]/ || /^TOTAL/ {print "    " $0}'
    fi
done
exit $status
