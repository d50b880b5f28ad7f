#!/usr/bin/env bash
# Faults end to end: their figures in results.json, results.csv and the table, their events in trace, the RSTs in a capture, bad input.
. "$(dirname "$0")/lib.sh"

# P (QoS 1) and S (QoS 1), kept sessions, 10 ms each way; extra keys for
# the broker ($1) and for S ($2).
faults_cfg() {
  cat > f.json <<JSON
{"name": "f", "seed": 2, "duration_s": 12, "drain_s": 10,
 "link": {"delay": {"dist": "constant", "ms": 10}},
 "broker": {${1:-}},
 "clients": [
   {"role": "publisher", "topic": "t", "qos": 1, "rate_hz": 10, "clean_start": false},
   {"role": "subscriber", "clean_start": false, "subscribe": [{"filter": "t", "qos": 1}]${2:+, $2}}]}
JSON
}

# col NAME: the column NAME of results.csv's first row.
col() {
  awk -F, -v c="$1" 'NR == 1 {for (i = 1; i <= NF; i++) k[$i] = i; next} NR == 2 {print $k[c]}' out/results.csv
}

# S crashes at 1.5 s for 7 s; the broker is killed at 2 s for 5 s. P
# publishes 10 a second, this seed's phase at 99.083 ms: the 5 messages
# that reach the broker between the crash and the kill (published at
# 1499.083 to 1899.083 ms) wait in S's kept session and go with it, and the
# one published at 1999.083 ms, still in flight from P when the broker dies,
# ends when P finds its session gone after the restart: 6 pairs lost, all
# broker_restart. P reads
# the broker's FIN at 2.01 s and backs off: SYN at 3.01 (refused, RST read
# at 3.03), at 5.03 (refused at 5.05), at 9.05 (the broker listening since
# 7 s): CONNACK at 9.09, 7.09 s after the restart. S restarts at 8.5 s and
# has its CONNACK at 8.54, 7.04 s after its crash: mean 7.065 s.
t_broker_restart_figures() {
  faults_cfg '"restarts": [[2, 5]]' '"crashes": [[1.5, 7]]'
  "$MQTTSIM" run f.json --out out > table.txt 2> err.txt
  expect_eq "$?" 0 "(exit status: $(cat err.txt))"
  expect_eq "$(col faults_broker_restarts)" 1
  expect_eq "$(col broker_down_s)" 5
  expect_eq "$(col reconnects)" 2
  expect_eq "$(col reconnect_mean_s)" 7.065
  expect_eq "$(col reconnect_max_s)" 7.09
  expect_eq "$(col faults_unrecovered)" 0
  expect_eq "$(col closes_refused)" 2
  expect_eq "$(col lost)" 6
  # lost is the sum of its causes, and here all of it is the restart's.
  lost=$(col lost)
  sum=$(awk -F, 'NR == 1 {for (i = 1; i <= NF; i++) if ($i ~ /^lost_/) k[i] = 1; next}
                 NR == 2 {s = 0; for (i in k) s += $i; print s}' out/results.csv)
  expect_eq "$sum" "$lost" "(lost against the sum of lost_*)"
  expect_eq "$(col lost_broker_restart)" "$lost"
  expect_contains "$(cat out/results.json)" '"faults_broker_restarts":	1'
  expect_contains "$(cat out/results.json)" '"reconnect_max_s":	7.09'
  expect_contains "$(cat table.txt)" "faults: crashes 1, broker_restarts 1"
  expect_contains "$(cat table.txt)" "reconnects after a fault 2 (mean 7.065 s, max 7.09 s)"
  # broker.restarts is simulated: no warning of keys not simulated.
  expect_eq "$(grep -c 'not simulated' err.txt)" 0
}

# A crash of S at 3 s for 2 s and a reset at 8 s: counted, S's down time,
# its crash close.
t_crash_and_reset_figures() {
  faults_cfg '' '"crashes": [[3, 2]], "resets": [8]'
  "$MQTTSIM" run f.json --out out --quiet
  expect_eq "$?" 0
  expect_eq "$(col faults_crashes)" 1
  expect_eq "$(col faults_resets)" 1
  expect_eq "$(col crash_down_s)" 2
  expect_eq "$(col closes_client_crash)" 1
  expect_eq "$(col closes_reset)" 1
  expect_eq "$(col reconnects)" 2
}

# The trace lists every fault with what follows; the capture of an rst
# reset has one RST from each end at the reset's instant.
t_trace_shows_faults_and_the_rsts() {
  faults_cfg '"restarts": [[6, 1]]' '"resets": [0.5], "crashes": [[3, 1]]'
  "$MQTTSIM" trace f.json --messages 1 --pcap r.pcap > trace.txt
  expect_eq "$?" 0
  expect_contains "$(cat trace.txt)" "connections and faults (over the whole run):"
  expect_contains "$(cat trace.txt)" "500.000 ms  FAULT rst reset of c1.0's connection 1: RST to both ends"
  expect_contains "$(cat trace.txt)" "500.000 ms  c1.0: its connection 1 is down (reset)"
  expect_contains "$(cat trace.txt)" "3000.000 ms  FAULT c1.0 crashes (its session and queue are lost)"
  expect_contains "$(cat trace.txt)" "4000.000 ms  FAULT c1.0 restarts and connects"
  expect_contains "$(cat trace.txt)" "6000.000 ms  FAULT broker killed (persistence off)"
  expect_contains "$(cat trace.txt)" "7000.000 ms  FAULT broker restarted: listening again"
  command -v tshark >/dev/null || { echo "    (tshark not installed: the capture is not read)"; return 0; }
  rsts=$(tshark -r r.pcap -Y 'tcp.flags.reset == 1 && frame.time_relative < 0.6' -T fields \
           -e frame.time_relative -e tcp.srcport 2>/dev/null | sort -u | tr '\t\n' '  ')
  expect_eq "$rsts" "0.500000000 1883 0.500000000 49152 " "(the reset's RSTs)"
}

# Scheduled link outages are in the trace's list too, begin and end, among
# what they cause (testbed-outage: S's link down from 3 s to 7 s, its
# keepalive 2 s: the broker closes at 1.5 x 2 s after it last heard S).
t_trace_shows_scheduled_outages() {
  "$MQTTSIM" trace "$MQTTSIM_ROOT/experiments/testbed-outage.json" --messages 100 > trace.txt 2> err.txt
  expect_eq "$?" 0 "($(cat err.txt))"
  got=$(grep -E 'FAULT|c3.0.*keepalive' trace.txt | sed 's/^ *//' | head -6)
  expect_eq "$got" "3000.000 ms  FAULT outage of c3.0's up link begins (4 s): every frame sent is lost
3000.000 ms  FAULT outage of c3.0's down link begins (4 s): every frame sent is lost
5945.872 ms  broker closes c3.0's connection 1 (keepalive)
6935.872 ms  c3.0 closes its connection 1 (keepalive)
7000.000 ms  FAULT outage of c3.0's up link ends
7000.000 ms  FAULT outage of c3.0's down link ends"
}

# Faults need connections: on a datagram client they are refused, naming
# the key, and nothing is written.
t_datagram_faults_are_refused() {
  faults_cfg '' '"resets": [1]'
  "$MQTTSIM" run f.json --out out --set transport=datagram > out.txt 2> err.txt
  expect_eq "$?" 2
  expect_contains "$(cat err.txt)" 'f.json: clients.1.resets: needs the stream transport'
  expect_no_file out
  faults_cfg '"restarts": {"mtbf_s": 10, "down_s": 1}'
  "$MQTTSIM" run f.json --out out --set clients.0.transport=datagram 2> err.txt
  expect_eq "$?" 2
  expect_contains "$(cat err.txt)" 'f.json: broker.restarts: needs every client on the stream transport (clients.0'
  expect_no_file out
}

# A restart after the run's end is a warning (it never happens); a negative
# or non-finite time is an error naming the key.
t_fault_times_checked() {
  faults_cfg '"restarts": [[100, 1]]'
  "$MQTTSIM" run f.json --out out --quiet 2> err.txt
  expect_eq "$?" 0
  expect_contains "$(cat err.txt)" "warning: f.json: broker.restarts.0: at 100 s, after the run's end"
  expect_eq "$(col faults_broker_restarts)" 0
  rm -rf out
  faults_cfg '' '"crashes": [[-1, 2]]'
  "$MQTTSIM" run f.json --out out 2> err.txt
  expect_eq "$?" 2
  expect_contains "$(cat err.txt)" "f.json: clients.1.crashes.0.0: expected a number of seconds from 0 to 1e9, got -1"
  faults_cfg '' '"resets": {"mtbf_s": 1e999}'
  "$MQTTSIM" run f.json --out out 2> err.txt
  expect_eq "$?" 2
  expect_contains "$(cat err.txt)" "f.json: clients.1.resets.mtbf_s: expected"
  expect_no_file out
}

# Random faults are reproducible: the same seed, the same figures.
t_random_faults_deterministic() {
  faults_cfg '"restarts": {"mtbf_s": 8, "down_s": 1}' '"resets": {"mtbf_s": 4}, "reset_kind": "silent", "keepalive_s": 2, "crashes": {"mtbf_s": 9, "down_s": 0.5}'
  "$MQTTSIM" run f.json --out a --quiet --reps 3 && "$MQTTSIM" run f.json --out b --quiet --reps 3
  cmp -s a/results.csv b/results.csv || fail "random faults differ between identical runs"
  [ "$(awk -F, 'NR == 1 {for (i = 1; i <= NF; i++) k[$i] = i; next} NR == 2 {print $k["faults_resets"]}' a/results.csv)" != 0 ] ||
    fail "no reset drawn"
}

t_main
