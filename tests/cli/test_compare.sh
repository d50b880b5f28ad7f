#!/usr/bin/env bash
# mqttsim compare: hand-made result directories that agree, differ and are missing; exact intervals; CSV; real runs.
. "$(dirname "$0")/lib.sh"
G="$MQTTSIM_ROOT/tests/golden"

# group P S EXPECTED LOST DUPS P50 P90 P99 [EXTRA]: one group of results.json.
group() {
  printf '{"pub_qos": %s, "sub_qos": %s, "qos": %s, "published": %s, "expected": %s, "unique": %s,
   "duplicates": %s, "lost": %s, "loss_ratio": %s, "dup_ratio": %s,
   "latency_ms": {"mean": %s, "p50": %s, "p90": %s, "p99": %s, "max": %s}%s}' \
    "$1" "$2" "$(( $1 < $2 ? $1 : $2 ))" "$3" "$3" "$(($3 - $4))" "$5" "$4" \
    "$(awk -v l="$4" -v n="$3" 'BEGIN {print l / n}')" "$(awk -v d="$5" -v n="$3" 'BEGIN {print d / n}')" \
    "$6" "$6" "$7" "$8" "$8" "${9:-}"
}
# results DIR REPS GROUP...: a results.json holding the groups.
results() {
  local d=$1 reps=$2; shift 2
  mkdir -p "$d"
  { printf '{"name": "hand", "seed": 1, "replications": %s, "groups": [' "$reps"
    local first=1 g
    for g in "$@"; do [ $first = 1 ] || printf ','; first=0; printf '%s' "$g"; done
    printf ']}\n'; } > "$d/results.json"
}

t_single_runs_that_agree() {
  # 100 and 120 lost of 1000: Clopper-Pearson [0.0821, 0.1203] and [0.1005, 0.1418]
  # overlap; latencies within max(1 ms, ~10%).
  results a 1 "$(group 1 1 1000 100 50 20 25 40)"
  results b 1 "$(group 1 1 1000 120 60 20.8 26 43)"
  "$MQTTSIM" compare a b > out.txt 2> err.txt
  expect_eq "$?" 0 "$(cat out.txt err.txt)"
  expect_eq "$(grep -c ' agree$' out.txt)" 5
  expect_contains "$(cat out.txt)" "0.1 [0.08211, 0.1203]"
  expect_contains "$(cat out.txt)" "0 figures differ"
  # out_of_order is compared only where present.
  grep -q out_of_order out.txt && fail "out_of_order shown though neither side has it"
  return 0
}

t_single_runs_that_differ() {
  results a 1 "$(group 1 1 1000 100 0 20 25 40)"
  results b 1 "$(group 1 1 1000 300 0 23 25 40)"
  "$MQTTSIM" compare a b > out.txt 2> err.txt
  expect_eq "$?" 1
  expect_contains "$(grep loss_ratio out.txt)" "differ: B-A = +0.2"
  expect_contains "$(grep latency_p50 out.txt)" "differ: B-A = +3 (intervals 0.85 apart)"
  expect_contains "$(grep latency_p90 out.txt)" " agree"
  expect_contains "$(cat out.txt)" "2 figures differ"
}

# Exact intervals at a zero count: Clopper-Pearson's upper bound is
# 1 - 0.025^(1/n), Garwood's chi2(0.975; 2)/2/n = 3.689/n.
t_exact_intervals_at_zero() {
  results a 1 "$(group 2 2 1000 0 0 5 5 5)"
  results b 1 "$(group 2 2 1000 3 3 5 5 5)"
  "$MQTTSIM" compare a b --csv > out.txt
  expect_eq "$?" 0
  expect_contains "$(grep loss_ratio out.txt)" "2,2,2,loss_ratio,0,0,0.00368208"
  expect_contains "$(grep dup_ratio out.txt)" "2,2,2,dup_ratio,0,0,0.00368887"
  expect_contains "$(grep loss_ratio out.txt)" ",exact,"
  expect_contains "$(grep latency_p99 out.txt)" "5,4.5,5.5,band"
}

t_replications_compare_confidence_intervals() {
  local ci_a='"ci95": {"loss_ratio": [0.09, 0.11], "dup_ratio": [0, 0], "latency_ms": {"p50": [19, 21], "p90": [24, 26], "p99": [38, 42]}}'
  local ci_b='"ci95": {"loss_ratio": [0.115, 0.13], "dup_ratio": [0, 0], "latency_ms": {"p50": [20.5, 21.5], "p90": [25, 27], "p99": [39, 41]}}'
  results a 5 "$(group 1 1 1000 100 0 20 25 40 ", $ci_a")"
  results b 5 "$(group 1 1 1000 122 0 21 26 40 ", $ci_b")"
  "$MQTTSIM" compare a b > out.txt
  expect_eq "$?" 1
  expect_contains "$(cat out.txt)" "(5 replications)"
  expect_contains "$(grep loss_ratio out.txt)" "0.1 [0.09, 0.11]"
  expect_contains "$(grep loss_ratio out.txt)" "differ: B-A = +0.022 (intervals 0.005 apart)"
  expect_contains "$(grep latency_p50 out.txt)" " agree"
  "$MQTTSIM" compare a b --csv > out.csv
  expect_contains "$(grep loss_ratio out.csv)" ",ci95,"
}

# A latency CI narrower than the real-time band is widened to it: 20 ms
# with a CI of zero width (a constant simulated delay) against 20.6 ms
# [20.5, 20.7] agrees (20 -/+ 1 overlaps), while 22.5 [22.4, 22.6] does not
# (bands 19-21 and 21.375-23.625).
t_latency_ci_is_widened_to_the_band() {
  local ci_a='"ci95": {"loss_ratio": [0, 0], "dup_ratio": [0, 0], "latency_ms": {"p50": [20, 20], "p90": [20, 20], "p99": [20, 20]}}'
  local ci_b='"ci95": {"loss_ratio": [0, 0], "dup_ratio": [0, 0], "latency_ms": {"p50": [20.5, 20.7], "p90": [20.5, 20.7], "p99": [22.4, 22.6]}}'
  results a 3 "$(group 0 0 100 0 0 20 20 20 ", $ci_a")"
  results b 3 "$(group 0 0 100 0 0 20.6 20.6 22.5 ", $ci_b")"
  "$MQTTSIM" compare a b --csv > out.csv
  expect_eq "$?" 1
  expect_contains "$(grep latency_p50 out.csv)" "0,0,0,latency_p50_ms,20,19,21,ci95+band,20.6,19.57,21.63,ci95+band,"
  expect_contains "$(grep latency_p50 out.csv)" ",agree"
  expect_contains "$(grep latency_p99 out.csv)" ",differ"
  expect_contains "$(grep loss_ratio out.csv)" ",ci95,"
}

t_pairs_in_one_side_only_are_listed_not_judged() {
  results a 1 "$(group 0 0 100 10 0 20 20 20)" "$(group 1 1 100 0 0 20 20 20)"
  results b 1 "$(group 1 1 100 0 0 20 20 20)" "$(group 2 2 100 0 0 60 60 60)"
  "$MQTTSIM" compare a b > out.txt
  expect_eq "$?" 0
  expect_contains "$(cat out.txt)" "  0   0   0 (only in A)"
  expect_contains "$(cat out.txt)" "  2   2   2 (only in B)"
}

t_bad_input_exits_2() {
  results a 1 "$(group 1 1 1000 100 0 20 25 40)"
  mkdir empty
  "$MQTTSIM" compare a empty > out.txt 2> err.txt
  expect_eq "$?" 2 "(missing results.json)"
  expect_contains "$(cat err.txt)" "empty/results.json: No such file or directory"
  mkdir bad && echo '{"groups": [' > bad/results.json
  "$MQTTSIM" compare a bad 2> err.txt >/dev/null
  expect_eq "$?" 2 "(invalid JSON)"
  expect_contains "$(cat err.txt)" "not valid JSON"
  results c 1 "$(group 2 2 100 0 0 60 60 60)"
  "$MQTTSIM" compare a c 2> err.txt >/dev/null
  expect_eq "$?" 2 "(no common pair)"
  expect_contains "$(cat err.txt)" "have no QoS pair in common"
  "$MQTTSIM" compare a 2> err.txt
  expect_eq "$?" 2 "(one directory)"
  "$MQTTSIM" compare a a --bogus 2> err.txt
  expect_eq "$?" 2 "(bad option)"
  "$MQTTSIM" compare --help > out.txt
  expect_eq "$?" 0
  expect_contains "$(cat out.txt)" "usage: mqttsim compare DIR_A DIR_B [--csv]"
}

# Real result files: a run against itself agrees; against 50% loss it differs.
t_real_runs() {
  "$MQTTSIM" run "$G/tiny.json" --out a --quiet --reps 3
  "$MQTTSIM" run "$G/tiny.json" --out b --quiet --reps 3
  "$MQTTSIM" compare a b > out.txt
  expect_eq "$?" 0 "$(cat out.txt)"
  "$MQTTSIM" run "$G/tiny.json" --out c --quiet --reps 3 --set link.loss.p=0.5
  "$MQTTSIM" compare a c --csv > out.csv
  expect_eq "$?" 1
  expect_eq "$(head -1 out.csv)" "pub_qos,sub_qos,qos,figure,a,a_lo,a_hi,a_interval,b,b_lo,b_hi,b_interval,diff,verdict"
  expect_eq "$(tail -n +2 out.csv | wc -l)" 24 "(4 pairs x 6 figures)"
  expect_contains "$(grep '^2,0,0,loss_ratio' out.csv)" ",differ"
}

t_main
