#!/usr/bin/env bash
# mqttsim run and trace end to end: result files, determinism, a golden file, trace flows.
. "$(dirname "$0")/lib.sh"
G="$MQTTSIM_ROOT/tests/golden"

lossless_qos2() {  # $1: broker method, $2: loss p
  cat > q2.json <<JSON
{"name": "q2", "seed": 3, "duration_s": 1, "drain_s": 10,
 "broker": {"qos2_method": "$1"},
 "link": {"loss": {"model": "bernoulli", "p": $2}, "delay": {"dist": "constant", "ms": 10}},
 "clients": [
   {"role": "publisher", "topic": "a/b", "qos": 2, "rate_hz": 10},
   {"role": "subscriber", "subscribe": [{"filter": "a/#", "qos": 2}]}]}
JSON
}

t_run_writes_three_files() {
  "$MQTTSIM" run "$G/tiny.json" --out out >stdout.txt 2>stderr.txt
  expect_eq "$?" 0 "(exit status)"
  expect_file out/results.json
  expect_file out/results.csv
  expect_file out/latency_cdf.csv
  expect_contains "$(cat out/results.json)" '"groups"'
  expect_contains "$(cat out/results.json)" '"seed":	42'
  expect_contains "$(cat out/results.json)" '"in_flight_at_end"'
  expect_contains "$(cat stdout.txt)" "loss_ratio"
  # No temporary file is left behind.
  expect_eq "$(ls -A out | grep -c tmp)" 0
}

t_same_seed_byte_identical() {
  "$MQTTSIM" run "$G/tiny.json" --out a --quiet && "$MQTTSIM" run "$G/tiny.json" --out b --quiet
  cmp -s a/results.csv b/results.csv || fail "results.csv differs between identical runs"
  cmp -s a/latency_cdf.csv b/latency_cdf.csv || fail "latency_cdf.csv differs"
  # results.json differs only in its wall-clock timings.
  cmp -s <(sed '/"timings"/,$d' a/results.json) <(sed '/"timings"/,$d' b/results.json) ||
    fail "results.json differs beyond timings"
  "$MQTTSIM" run "$G/tiny.json" --out c --quiet --seed 43
  cmp -s a/results.csv c/results.csv && fail "another seed gave the same results"
  return 0
}

# The stored golden file pins a tiny run's numbers: any change in the engine,
# the links, the random streams or the metrics shows up here.
t_golden_tiny_results() {
  "$MQTTSIM" run "$G/tiny.json" --out out --quiet
  diff -u "$G/tiny.csv" out/results.csv > diff.txt || fail "results.csv differs from golden: $(head -20 diff.txt)"
}

t_replications_give_confidence_intervals() {
  "$MQTTSIM" run "$G/tiny.json" --out out --quiet --reps 4
  line=$(sed -n 2p out/results.csv)
  expect_contains "$(head -1 out/results.csv)" "loss_ratio_ci_lo"
  # The last column (a CI bound) is filled when there are replications.
  [ -n "${line##*,}" ] || fail "empty CI column with 4 replications: $line"
  expect_contains "$(cat out/results.json)" '"ci95"'
  expect_contains "$(cat out/results.json)" '"replications":	4'
}

t_rep_index_reproduces_a_replication() {
  "$MQTTSIM" run "$G/tiny.json" --out a --quiet
  "$MQTTSIM" run "$G/tiny.json" --out b --quiet --reps 2 --rep-index 0
  "$MQTTSIM" run "$G/tiny.json" --out c --quiet --reps 2 --rep-index 1
  expect_file c/results.csv
  cmp -s a/results.csv b/results.csv || fail "--rep-index 0 differs from a 1-replication run"
  cmp -s a/results.csv c/results.csv && fail "--rep-index 1 equals replication 0"
  return 0
}

t_set_changes_the_run() {
  "$MQTTSIM" run "$G/tiny.json" --out a --quiet --set link.loss.p=0
  # With no loss, every pair is delivered exactly once... except QoS 1, which
  # still cannot duplicate without loss: all ratios are 0.
  awk -F, 'NR > 1 && ($12 != 0 || $13 != 0) { bad = 1 } END { exit bad }' a/results.csv ||
    fail "loss or duplicates on a lossless run: $(cat a/results.csv)"
}

# Lossless QoS 2, method A: the textbook four-packet flow on each hop, and the
# subscriber delivers only at PUBREL.
t_trace_qos2_textbook_flow() {
  lossless_qos2 A 0
  "$MQTTSIM" trace q2.json --messages 1 > trace.txt
  expect_eq "$?" 0
  got=$(grep -oE 'PUBLISH|PUBREC|PUBREL|PUBCOMP|delivers' trace.txt | tr '\n' ' ')
  # pub -> broker: PUBLISH, PUBREC, PUBREL; the broker forwards at PUBREL
  # (method A), so its PUBLISH to the subscriber and its PUBCOMP to the
  # publisher leave at the same instant.
  expect_eq "$got" "PUBLISH PUBREC PUBREL PUBLISH PUBCOMP PUBREC PUBREL delivers PUBCOMP "
  expect_contains "$(cat trace.txt)" "PUBLISH id=1 QoS 2 DUP 0 -->"
  expect_contains "$(cat trace.txt)" "<-- PUBREC id=1"
}

t_trace_qos2_method_b_delivers_on_publish() {
  lossless_qos2 B 0
  "$MQTTSIM" trace q2.json --messages 1 --set 'clients.1.qos2_method="B"' > trace.txt
  got=$(grep -oE 'PUBLISH|PUBREC|PUBREL|PUBCOMP|delivers' trace.txt | tr '\n' ' ')
  # The broker forwards at the first PUBLISH (before its PUBREC leaves); the
  # subscriber passes the message on before answering PUBREC.
  expect_eq "$got" "PUBLISH PUBLISH PUBREC delivers PUBREC PUBREL PUBREL PUBCOMP PUBCOMP "
}

t_trace_marks_lost_packets_and_resends() {
  lossless_qos2 A 0.4
  "$MQTTSIM" trace q2.json --messages 5 > trace.txt
  expect_contains "$(cat trace.txt)" "LOST"
  expect_contains "$(cat trace.txt)" "DUP 1"
  expect_eq "$(grep -c 'delivers it' trace.txt)" 5
}

# Asked for more messages than the run publishes (10 in 1 s at 10 Hz), the
# trace says how many it shows instead of claiming the number asked for.
t_trace_counts_the_messages_it_shows() {
  lossless_qos2 A 0
  "$MQTTSIM" trace q2.json --messages 1000000 > trace.txt
  expect_eq "$?" 0
  expect_contains "$(head -1 trace.txt)" "q2: trace of all 10 messages published, fewer than the 1000000 asked for"
  expect_eq "$(grep -c '^message ' trace.txt)" 10
  "$MQTTSIM" trace q2.json --messages 10 > trace.txt
  expect_contains "$(head -1 trace.txt)" "q2: trace of the first 10 messages"
}

# A bad --out is found before the run, not after it: exit 2, nothing written.
t_unusable_out_exits_2_at_once() {
  touch afile
  "$MQTTSIM" run "$G/tiny.json" --out afile >out.txt 2>err.txt
  expect_eq "$?" 2
  expect_contains "$(cat err.txt)" "not a directory"
  "$MQTTSIM" run "$G/tiny.json" --out afile/sub >out.txt 2>err.txt
  expect_eq "$?" 2
  expect_eq "$(cat out.txt)" ""
}

t_main
