#!/usr/bin/env bash
# mqttsim run and trace end to end: result files, determinism, a golden file, trace flows.
. "$(dirname "$0")/lib.sh"
G="$MQTTSIM_ROOT/tests/golden"

lossless_qos2() {  # $1: broker method, $2: loss p
  cat > q2.json <<JSON
{"name": "q2", "seed": 3, "duration_s": 1, "drain_s": 10, "transport": "datagram",
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

# Over streams the trace shows each connection's life, and each packet
# twice: when it was written into the connection and when its receiver had
# it whole (decoded it), one one-way delay later here.
t_trace_stream_connections_and_reads() {
  cat > st.json <<JSON
{"name": "st", "seed": 3, "duration_s": 20, "drain_s": 20,
 "link": {"delay": {"dist": "constant", "ms": 10}},
 "clients": [
   {"role": "publisher", "topic": "a/b", "qos": 1, "rate_hz": 10},
   {"role": "subscriber", "subscribe": [{"filter": "a/#", "qos": 1}], "keepalive_s": 2,
    "link": {"outages": [[5, 6]]}}]}
JSON
  "$MQTTSIM" trace st.json --messages 60 > trace.txt
  expect_eq "$?" 0
  expect_contains "$(cat trace.txt)" "connections and faults (over the whole run):"
  expect_contains "$(cat trace.txt)" "   5000.000 ms  FAULT outage of c1.0's up link begins (6 s): every frame sent is lost"
  expect_contains "$(cat trace.txt)" "  11000.000 ms  FAULT outage of c1.0's down link ends"
  expect_contains "$(cat trace.txt)" "      0.000 ms  c0.0 opens connection 1"
  expect_contains "$(cat trace.txt)" "     20.000 ms  c0.0: connection 1 established (TCP)"
  expect_contains "$(cat trace.txt)" "     30.000 ms  broker accepts c0.0's connection 1"
  expect_contains "$(cat trace.txt)" "     40.000 ms  c1.0 connected (CONNACK, session present 0) on connection 1"
  # The outage outlasts 1.5 x keepalive: both ends close, the subscriber comes back.
  expect_contains "$(cat trace.txt)" "broker closes c1.0's connection 1 (keepalive)"
  expect_contains "$(cat trace.txt)" "c1.0 closes its connection 1 (keepalive)"
  expect_contains "$(cat trace.txt)" "c1.0 opens connection 2"
  # The first message, written and read on each hop, then acknowledged.
  block=$(awk '/^message 1:/ { on = 1 } on && /^$/ { exit } on' trace.txt)
  t=$(echo "$block" | sed -n 3p | awk '{ print $1 }')
  expect_contains "$block" "PUBLISH id=1 QoS 1 DUP 0 ==>"
  expect_contains "$block" "PUBLISH id=1 QoS 1 DUP 0 ==> read"
  expect_contains "$block" "read <== PUBACK id=1"
  read_at=$(echo "$block" | grep -m1 "==> read" | awk '{ print $1 }')
  expect_eq "$(awk -v a="$t" -v b="$read_at" 'BEGIN { printf "%.3f", b - a }')" "10.000" "(read one delay after written)"
  # A message written into the connection the outage killed is never read.
  expect_contains "$(cat trace.txt)" "==X  unread"
  # Datagram traces keep their form.
  "$MQTTSIM" trace st.json --messages 1 --set transport=datagram > dg.txt
  expect_contains "$(cat dg.txt)" "PUBLISH id=1 QoS 1 DUP 0 -->"
  case "$(cat dg.txt)" in *connections*|*"==>"*) fail "a datagram trace shows stream lines";; esac
}

# A setup that cannot complete fails the run (exit 1, nothing written) with
# the cause the config points to; without loss, loss is never blamed. The
# setup limit follows the config, so a one-way delay of 25 s (setup takes
# 100 s, more than the old fixed 60 s allowed) is runnable where a
# connection can be made.
t_setup_failure_names_its_cause() {
  cat > slow.json <<JSON
{"name": "slow", "duration_s": 1, "drain_s": 10,
 "link": {"delay": {"dist": "constant", "ms": 25000}},
 "clients": [
   {"role": "publisher", "topic": "t/1", "qos": 1, "rate_hz": 10},
   {"role": "subscriber", "subscribe": [{"filter": "t/#", "qos": 1}]}]}
JSON
  "$MQTTSIM" run slow.json --out o1 -q 2>err.txt
  expect_eq "$?" 1
  expect_contains "$(cat err.txt)" "its connect_timeout_s (30 s) is shorter than connecting takes on its link (about 100 s"
  case "$(cat err.txt)" in *lost*) fail "a lossless setup blamed on loss: $(cat err.txt)";; esac
  expect_no_file o1
  "$MQTTSIM" run slow.json --out o2 -q --set transport=datagram 2>err.txt
  expect_eq "$?" 0 "(datagram, 25 s one-way: $(cat err.txt))"
  "$MQTTSIM" run slow.json --out o2 -q --set clients.0.connect_timeout_s=300 \
    --set clients.1.connect_timeout_s=300 --set drain_s=300 2>err.txt
  expect_eq "$?" 0 "(stream, a connect timeout longer than setup: $(cat err.txt))"
  # A round trip beyond the broker's SYN-ACK retransmissions (63 s) cannot connect.
  "$MQTTSIM" run slow.json --out o1 -q --set link.delay.ms=40000 \
    --set clients.0.connect_timeout_s=300 --set clients.1.connect_timeout_s=300 2>err.txt
  expect_eq "$?" 1
  expect_contains "$(cat err.txt)" "outlasts the broker's SYN-ACK retransmissions (63 s"
  "$MQTTSIM" run slow.json --out o3 -q --set link.delay.ms=10 \
    --set 'link.loss={"model": "bernoulli", "p": 1}' 2>err.txt
  expect_eq "$?" 1
  expect_contains "$(cat err.txt)" "c0.0: not connected: its link loses every frame (loss rate up 1, down 1)"
  "$MQTTSIM" run slow.json --out o4 -q --set link.delay.ms=10 --set 'link.outages=[[0, 300]]' 2>err.txt
  expect_eq "$?" 0 "(an outage through the start delays setup, within the limit: $(cat err.txt))"
}

# Nine QoS pairs with widely spread (lognormal) delays: latency_cdf.csv
# (about 28 KB) is larger than results.json (about 21 KB) and results.csv, and
# written after them.
nine_pairs() {
  cat > nine.json <<JSON
{"name": "nine", "seed": 3, "duration_s": 200, "drain_s": 30, "transport": "datagram",
 "link": {"loss": {"model": "bernoulli", "p": 0.1},
          "delay": {"dist": "lognormal", "mean_ms": 20, "sd_ms": 1000}},
 "clients": [
   {"role": "publisher", "topic": "q/0", "qos": 0, "rate_hz": 20},
   {"role": "publisher", "topic": "q/1", "qos": 1, "rate_hz": 20},
   {"role": "publisher", "topic": "q/2", "qos": 2, "rate_hz": 20},
   {"role": "subscriber", "subscribe": [{"filter": "q/#", "qos": 0}]},
   {"role": "subscriber", "subscribe": [{"filter": "q/#", "qos": 1}]},
   {"role": "subscriber", "subscribe": [{"filter": "q/#", "qos": 2}]}]}
JSON
}

# The three result files are one set. A write that fails (here the file size
# limit, RLIMIT_FSIZE, between the sizes of results.json and latency_cdf.csv,
# with SIGXFSZ ignored so that write() fails with EFBIG) leaves the old set
# untouched, or in a fresh directory nothing; never new files beside old ones.
t_failed_write_leaves_the_old_set_or_none() {
  nine_pairs
  "$MQTTSIM" run nine.json --out out --quiet || fail "the first run failed"
  cp -r out old
  json=$(stat -c %s old/results.json) cdf=$(stat -c %s old/latency_cdf.csv)
  k=$(( (json + cdf) / 2 / 1024 ))
  [ $((json + 512)) -lt $((k * 1024)) ] && [ $((k * 1024 + 512)) -lt "$cdf" ] ||
    fail "no size limit between results.json ($json bytes) and latency_cdf.csv ($cdf bytes)"
  ( trap '' XFSZ; ulimit -f "$k"; exec "$MQTTSIM" run nine.json --out out --quiet --seed 4 ) 2>err.txt
  expect_eq "$?" 1 "(exit status of the failed write)"
  expect_contains "$(cat err.txt)" "cannot write results to out"
  for f in results.json results.csv latency_cdf.csv; do
    cmp -s old/$f out/$f || fail "$f changed: the old set is mixed with the new one"
  done
  expect_eq "$(ls -A out | tr '\n' ' ')" "latency_cdf.csv results.csv results.json " "(files left in out)"
  ( trap '' XFSZ; ulimit -f "$k"; exec "$MQTTSIM" run nine.json --out fresh --quiet ) 2>err.txt
  expect_eq "$?" 1 "(exit status, fresh directory)"
  expect_no_file fresh
  # Without the limit the set is replaced as a whole.
  "$MQTTSIM" run nine.json --out out --quiet --seed 4
  cmp -s old/results.csv out/results.csv && fail "the set was not replaced"
  return 0
}

# With replications the table keeps its columns: the 95% half-widths go on a
# line of their own under each pair; means of counts keep their fractions;
# the drops line shows where the losses went.
t_table_with_replications() {
  "$MQTTSIM" run "$G/tiny.json" --out out --reps 4 > table.txt
  expect_eq "$?" 0
  head=$(sed -n 2p table.txt)
  expect_contains "$head" "pub sub qos  published"
  # Every pair line and interval line is as wide as the header ("±" is one column).
  awk -v w="${#head}" 'NR > 2 && /^ *[0-9]+ +[0-9]+ +[0-9]+ / || /95% CI/ {
         line = $0; gsub(/±/, "+", line); if (length(line) != w) bad = bad " " NR }
       END { if (bad) { print "lines of another width:" bad; exit 1 } }' table.txt ||
    fail "the table's columns are broken: $(cat table.txt)"
  expect_eq "$(grep -c '95% CI' table.txt)" "$(grep -c '^ *[0-9] *[0-9] *[0-9] ' table.txt)" "(one interval line per pair)"
  # Means of counts as results.csv has them (an integer, else two decimals).
  want=$(awk -F, 'NR == 2 { v = $11; print (v == int(v)) ? v : sprintf("%.2f", v) }' out/results.csv | sed 's/0$//')
  got=$(sed -n 3p table.txt | awk '{ print $8 }')
  expect_eq "$got" "$want" "(mean lost of the first pair)"
  case "$got" in *.*) ;; *) fail "expected a fractional mean of lost over 4 replications, got $got" ;; esac
  expect_contains "$(cat table.txt)" "drops (mean per replication): link "
  expect_contains "$(cat table.txt)" ", queue_full 0, retries_exhausted 0, in_flight_at_end 0"
}

# Every trace excerpt in the README and docs/ is what the current build
# prints for the command given beside it (one went stale once when the engine
# changed). An excerpt is the first fenced block after a line holding
# 'printed by `build/mqttsim trace ...`'; the README must have one.
t_doc_trace_excerpts_are_current() {
  local doc n cmd k=0 total=0
  for doc in "$MQTTSIM_ROOT/README.md" "$MQTTSIM_ROOT"/docs/*.md; do
    n=$(grep -c 'printed by `build/mqttsim trace' "$doc")
    [ "$(grep -c 'printed by `build/mqttsim trace [^`]*`' "$doc")" = "$n" ] ||
      fail "${doc#$MQTTSIM_ROOT/}: a 'printed by \`build/mqttsim trace' line must hold the whole command on one line"
    for k in $(seq 1 "$n"); do
      cmd=$(grep -o 'printed by `build/mqttsim trace [^`]*`' "$doc" | sed -n "${k}p" |
            sed 's/^printed by `build\/mqttsim //; s/`$//')
      awk -v want="$k" '/printed by `build\/mqttsim trace/ { seen++; if (seen == want) found = 1; next }
           found && /^```/ { if (inside) exit; inside = 1; next }
           inside { print }' "$doc" > excerpt.txt
      # The output ends with a blank line, the excerpt at its last line.
      printf '%s\n' "$(cd "$MQTTSIM_ROOT" && eval "\"\$MQTTSIM\" $cmd")" > now.txt
      [ -s excerpt.txt ] || fail "${doc#$MQTTSIM_ROOT/}: no fenced block after 'printed by \`build/mqttsim $cmd\`'"
      diff -u excerpt.txt now.txt > diff.txt ||
        fail "${doc#$MQTTSIM_ROOT/}: the trace excerpt is stale; regenerate it with: build/mqttsim $cmd ($(head -12 diff.txt))"
      total=$((total + 1))
    done
    case "$doc" in */README.md) [ "$n" -ge 1 ] || fail "README.md has no 'printed by \`build/mqttsim trace ...\`' line" ;; esac
  done
  echo "    $total trace excerpts checked"
}

# Replications are folded into running statistics as they finish: 20,000 of
# them fit in 400 MB of address space, where keeping each one's results (74 KB)
# needed 1.5 GB. (Not under AddressSanitizer, whose shadow memory needs more.)
t_replications_stream_in_bounded_memory() {
  [ -n "${MQTTSIM_ASAN:-}" ] && { echo "    (AddressSanitizer build: skipped)"; return 0; }
  cat > r.json <<JSON
{"name": "r", "seed": 1, "duration_s": 0.2, "drain_s": 1,
 "clients": [{"role": "publisher", "topic": "x", "qos": 1, "rate_hz": 10},
             {"role": "subscriber", "subscribe": [{"filter": "x", "qos": 1}]}]}
JSON
  ( ulimit -v 400000; exec "$MQTTSIM" run r.json --reps 20000 --out out --quiet ) 2>err.txt
  expect_eq "$?" 0 "(exit status: $(cat err.txt))"
  expect_eq "$(sed -n 2p out/results.csv | cut -d, -f3-9)" "20000,1,1,1,2,2,2" \
    "(replications, pair, published, expected and unique means)"
}

# Out of memory anywhere in a stream run (the TCP model's segments and
# buffers, the engine, the host's tag FIFOs) fails it: exit 1 and nothing
# written, never a result with pairs silently missing (nor an abort from a
# library). Lossless QoS 1 to 5,000 subscribers needs an address space of
# about 60 MB; under smaller limits the run either fails so, or (with
# enough) delivers everything. (Not under
# AddressSanitizer, whose shadow memory needs more.)
t_stream_out_of_memory_fails_the_run() {
  [ -n "${MQTTSIM_ASAN:-}" ] && { echo "    (AddressSanitizer build: skipped)"; return 0; }
  cat > oom.json <<JSON
{"name": "oom", "duration_s": 2, "drain_s": 10,
 "link": {"delay": {"dist": "constant", "ms": 10}},
 "clients": [
   {"role": "publisher", "topic": "t/1", "qos": 1, "rate_hz": 10},
   {"role": "subscriber", "count": 5000, "subscribe": [{"filter": "t/#", "qos": 1}]}]}
JSON
  failed=0
  for lim in 25000 40000 55000 700000; do
    ( ulimit -v $lim; exec "$MQTTSIM" run oom.json --out o$lim --quiet ) 2>err.txt
    rc=$?
    if [ "$rc" -ne 0 ]; then
      expect_eq "$rc" 1 "(limit $lim KB)"
      expect_contains "$(cat err.txt)" "out of memory"
      expect_no_file o$lim
      failed=$((failed + 1))
    else
      expect_eq "$(sed -n 2p o$lim/results.csv | cut -d, -f8-11)" "100000,100000,0,0" \
        "(limit $lim KB: expected, unique, duplicates, lost)"
    fi
  done
  [ "$failed" -ge 2 ] || fail "only $failed of 4 limits ran out of memory"
}

# Memory that would grow without bound (issue 13 item 5): a timer retry
# interval far below the round trip is refused by check and run, naming the
# key; a link far too slow for the publishing rate holds ever more frames,
# and the run fails saying so once it holds 2^21 of them (about 450 MB), well
# inside 1 GB of address space, where it used to run out of memory. (The
# limit is not applied under AddressSanitizer, whose shadow memory needs more.)
t_unbounded_resends_are_refused_or_fail_the_run() {
  cat > r5.json <<JSON
{"name": "r5", "duration_s": 1, "transport": "datagram",
 "link": {"delay": {"dist": "constant", "ms": 10}},
 "clients": [{"role": "publisher", "topic": "x", "qos": 1},
             {"role": "subscriber", "subscribe": [{"filter": "x", "qos": 1}]}]}
JSON
  for cmd in check "run --out o5"; do
    "$MQTTSIM" $cmd r5.json --set broker.retry_interval_ms=1e-6 >out.txt 2>err.txt
    expect_eq "$?" 2 "($cmd exit status)"
    expect_contains "$(cat err.txt)" "broker.retry_interval_ms: 1e-06 ms resends an unacknowledged packet about 2e+07 times"
    expect_no_file o5
  done
  cat > slow.json <<JSON
{"name": "slow", "duration_s": 10, "drain_s": 1, "transport": "datagram",
 "link": {"bandwidth_bps": 1000},
 "clients": [{"role": "publisher", "topic": "x", "rate_hz": 1000000},
             {"role": "subscriber", "subscribe": [{"filter": "x", "qos": 0}]}]}
JSON
  if [ -n "${MQTTSIM_ASAN:-}" ]; then
    "$MQTTSIM" run slow.json --out os --quiet 2>err.txt
  else
    ( ulimit -v 1000000; exec "$MQTTSIM" run slow.json --out os --quiet ) 2>err.txt
  fi
  expect_eq "$?" 1 "(exit status: $(cat err.txt))"
  expect_contains "$(cat err.txt)" "2097152 frames ("
  expect_contains "$(cat err.txt)" "bytes) held on the links at once at t = "
  expect_contains "$(cat err.txt)" "the offered load outruns the links"
  expect_no_file os
  # Bytes count too: 16 subscriptions of 65,000 bytes (a 1 MB SUBSCRIBE)
  # resent every 200 ms on a 919 bit/s link (found by the config fuzzer).
  f=$(head -c 65000 /dev/zero | tr '\0' a)
  subs=$(for i in $(seq 16); do printf '{"filter": "%s/%d", "qos": 1},' "$f" "$i"; done)
  cat > big.json <<JSON
{"name": "big", "duration_s": 1, "drain_s": 1e6, "transport": "datagram",
 "clients": [{"role": "publisher", "topic": "x"},
             {"role": "subscriber", "link": {"bandwidth_bps": 919},
              "subscribe": [${subs%,}]}]}
JSON
  if [ -n "${MQTTSIM_ASAN:-}" ]; then
    "$MQTTSIM" run big.json --out ob --quiet 2>err.txt
  else
    ( ulimit -v 1500000; exec "$MQTTSIM" run big.json --out ob --quiet ) 2>err.txt
  fi
  expect_eq "$?" 1 "(exit status: $(cut -c1-300 err.txt))"
  expect_contains "$(cat err.txt)" "bytes) held on the links at once at t = "
  expect_no_file ob
  # Under tighter limits it runs out of memory first, and says so: never a
  # result (a scheduler event that could not be allocated used to stop the
  # publisher silently: exit 0 with 4,194,315 of 10^7 messages published).
  [ -n "${MQTTSIM_ASAN:-}" ] && return 0
  for lim in 300000 500000 1000000; do
    ( ulimit -v $lim; exec "$MQTTSIM" run slow.json --out o$lim --quiet ) 2>err.txt
    expect_eq "$?" 1 "(limit $lim KB: $(cat err.txt))"
    expect_no_file o$lim
  done
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
