#!/usr/bin/env bash
# The model against reality: each experiments/testbed-*.json scenario run by 'mqttsim run' and by 'mqttsim testbed', judged with 'mqttsim compare' and derived bounds.
. "$(dirname "$0")/lib.sh"

EXP=$MQTTSIM_ROOT/experiments
# Below this share of idle CPU over a testbed run (in percent), the host ran
# other work beside the testbed, and the millisecond latency test skips.
BUSY_IDLE=25

# sim NAME: the simulation of experiments/NAME.json into sim/; skips the
# test when this build does not simulate every key the scenario uses yet
# (run says so: "not simulated yet, so these keys change nothing").
sim() {
  "$MQTTSIM" run "$EXP/$1.json" --out sim --quiet > sim.out 2> sim.err ||
    { fail "mqttsim run $1: $(cat sim.err)"; return 1; }
  if grep -q "not simulated yet" sim.err; then
    t_skip "$1: 'mqttsim run' does not simulate $(sed -n 's/.*change nothing in this run: //p' sim.err) yet, so there is nothing to compare the testbed with"
  fi
}
# real NAME [OPTIONS]: the testbed run of the same scenario into real/ (at
# most 2 minutes, stopped and failed beyond).
# The share of the CPUs left idle over the run, in percent, goes to
# real.idle (from /proc/stat's first line: idle and iowait against all).
real() {
  local name=$1; shift
  local before after rc
  before=$(cpu_times)
  timeout -k 5 120 "$MQTTSIM" testbed "$EXP/$name.json" --out real "$@" > real.out 2> real.err
  rc=$?
  after=$(cpu_times)
  awk -v b="$before" -v a="$after" 'BEGIN {split(b, x); split(a, y)
    t = y[1] - x[1]; print (t > 0 ? int(100 * (y[2] - x[2]) / t) : 100)}' > real.idle
  echo "    testbed $name: the host's CPUs $(cat real.idle)% idle over the run"
  expect_eq "$rc" 0 "(testbed $name: $(tail -3 real.err))"
}
# cpu_times: "TOTAL IDLE" jiffies of all CPUs since boot.
cpu_times() {
  awk '$1 == "cpu" {for (i = 2; i <= 9 && i <= NF; i++) t += $i; print t, $5 + $6; exit}' /proc/stat
}
# col DIR PUB SUB COLUMN: a figure of one QoS pair from DIR/results.csv.
col() {
  awk -F, -v p="$2" -v s="$3" -v c="$4" 'NR == 1 {for (i = 1; i <= NF; i++) k[$i] = i; next}
    $4 == p && $5 == s {print $k[c]}' "$1/results.csv"
}
# verdict FIGURE PUB SUB: compare's verdict on one figure (from --csv).
verdict() {
  awk -F, -v f="$1" -v p="$2" -v s="$3" '$4 == f && $1 == p && $2 == s {print $NF}' cmp.csv
}
# show FIGURE: the two sides of a figure for every pair, for the log.
show() {
  awk -F, -v f="$1" '$4 == f {printf "    %s/%s %-16s sim %-10.6g real %-10.6g %s\n", $1, $2, f, $5, $9, $NF}' cmp.csv
}

# late_host: skips the test, with the reason, when the host could not keep
# real time: its CPUs under BUSY_IDLE% idle over the run (other work beside
# the testbed delays the clients and Mosquitto by milliseconds), or the
# relay of real/ more than 1% of its deliveries over 1 ms late (as on a
# virtual machine whose CPU the hypervisor steals). Latencies measured then
# are the host's, not the network's, and judge nothing to the millisecond.
late_host() {
  local late frames idle
  idle=$(cat real.idle 2>/dev/null || echo 100)
  if [ "$idle" -lt "$BUSY_IDLE" ]; then
    t_skip "the host was busy: its CPUs were ${idle}% idle over the testbed run (under ${BUSY_IDLE}%: other work ran beside it), so the testbed's latencies are the host's, not the network's (compare: $(grep differ cmp.csv | cut -d, -f1,4,5,9 | tr '\n' ' '))"
  fi
  late=$(grep -o '"late_over_1ms":[[:space:]]*[0-9]*' real/testbed.json | awk -F: '{s += $2} END {print s + 0}')
  frames=$(grep -o '"frames":[[:space:]]*[0-9]*' real/testbed.json | awk -F: '{s += $2} END {print s + 0}')
  if [ "$frames" -gt 0 ] && [ $((late * 100)) -gt "$frames" ]; then
    t_skip "the host did not keep real time: $late of the relay's $frames deliveries were over 1 ms late, so the testbed's latencies are not the network's (compare: $(grep differ cmp.csv | cut -d, -f1,4,5,9 | tr '\n' ' '))"
  fi
  return 0
}

# Lossless, 10 ms each way, QoS 0, 1 and 2 at 50/s for 6 s: every figure
# agrees (compare: single runs, latency bands max(0.5 ms, 5%) each side), and
# the median latency of reality exceeds the model's by 0 to 0.5 ms per
# one-way trip: the relay never delivers early, and a real host adds its
# wake-up and the kernel's path (measured 0.08 to 0.31 ms per trip on the
# 2-core machine). QoS 0 and 1 take two trips (publisher to broker, broker
# to subscriber); QoS 2 six, as Mosquitto and the engine's subscriber both
# pass a message on at PUBREL (method A): PUBLISH, PUBREC, PUBREL on each
# hop. The tail (p90, p99) also holds the hosts' scheduling hiccups; the
# band judges it.
t_lossless_latencies_agree_to_the_millisecond_band() {
  sim testbed-lossless || return
  real testbed-lossless
  "$MQTTSIM" compare sim real --csv > cmp.csv
  # A tail figure (p90, p99: the 30th and 3rd largest of 300) that differs
  # alone is a host's hiccup as often as not on a shared 2-core machine (a
  # client woken 5 ms late twice in 6 s): the run is made once more, and
  # the second must agree. Any other figure, or the tail again, fails.
  if grep differ cmp.csv | grep -qv 'latency_p[9][09]_ms'; then
    late_host
    fail "compare: $(grep differ cmp.csv)"
  elif grep -q differ cmp.csv; then
    echo "    tail figures differ in the first run ($(grep differ cmp.csv | cut -d, -f1,4,5,9 | tr '\n' ' ')): run again"
    rm -rf real
    real testbed-lossless
    "$MQTTSIM" compare sim real --csv > cmp.csv
    local crc=$?
    [ "$crc" = 0 ] || late_host
    expect_eq "$crc" 0 "(compare, second run: $(grep differ cmp.csv))"
  fi
  show latency_p50_ms
  local q f trips
  for q in 0 1 2; do
    trips=$([ "$q" = 2 ] && echo 6 || echo 2)
    expect_eq "$(col real "$q" "$q" lost)" 0 "(QoS $q lost)"
    for f in latency_p50_ms; do
      awk -v s="$(col sim "$q" "$q" "$f")" -v r="$(col real "$q" "$q" "$f")" -v n="$trips" \
        'BEGIN {exit !(r >= s - 0.001 && r - s <= 0.5 * n)}' ||
        { late_host; fail "QoS $q $f: real $(col real "$q" "$q" "$f") ms, simulated $(col sim "$q" "$q" "$f") ms: expected 0 to $((trips * 5 / 10)).$((trips * 5 % 10)) ms more"; }
    done
  done
}

# ratio_within SIM REAL LO HI WHAT: SIM / REAL in [LO, HI].
ratio_within() {
  echo "    $5: simulated $1 ms, real $2 ms, ratio $(awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}') (bounds $3 to $4)"
  awk -v a="$1" -v b="$2" -v lo="$3" -v hi="$4" 'BEGIN {exit !(b > 0 && a / b >= lo && a / b <= hi)}' ||
    fail "$5: simulated p99 $1 ms against real $2 ms, ratio outside [$3, $4]"
}

# 5% Bernoulli loss on every direction of a stream, 4 publishers per QoS at
# 20/s and one subscriber per QoS, 20 s: TCP recovers every loss, so
# nothing is lost at any QoS, in the model or in reality, with Linux set to
# the model's TCP (--tcp model) or as shipped (--tcp linux).
# The p99 latency is a loss-recovery stall, and the factor between two runs'
# p99s comes from the stalls either may have that the other has not:
# - in steady state a segment lost once costs one RTO (about 220 ms at a
#   20 ms RTT: SRTT + max(4 RTTVAR, 200 ms)) or a fast retransmit after
#   three duplicate ACKs (150 ms + RTT); lost again, one more backed-off RTO
#   (440 ms): adjacent steps of that ladder are (RTT + 3 RTO) / (RTT + RTO)
#   = 680 / 240 = 2.8 apart. Linux as shipped repairs a lone loss sooner
#   (SACK and RACK once a later segment is acknowledged, one message interval
#   + 1.25 RTT = 75 ms; TLP at 2 SRTT), up to 220 / 75 = 2.9 times sooner;
# - a connection whose SYN or SYN-ACK was lost (10% of them at 5% loss each
#   way) starts with the 3 s fallback RTO of RFC 6298 5.7 (Linux
#   TCP_TIMEOUT_FALLBACK, in the model too), and its first data loss stalls
#   it for up to 3 s: (RTT + 3 s) / (RTT + RTO) = 3020 / 240 = 12.6, and a
#   shared subscriber connection carries 80 messages/s, so one such stall
#   is well over 1% of a QoS level's messages.
# A single run's p99s therefore agree within a factor of 13 either way and
# no closer can be promised; docs/testbed.md gives the ratios measured.
t_loss5_no_loss_and_p99_within_a_factor() {
  sim testbed-loss5 || return
  local mode lo hi q
  for mode in model linux; do
    rm -rf real
    real testbed-loss5 --tcp "$mode"
    "$MQTTSIM" compare sim real --csv > cmp.csv
    lo=0.077; hi=13
    for q in 0 1 2; do
      expect_eq "$(col sim "$q" "$q" lost)" 0 "(simulated QoS $q lost)"
      expect_eq "$(col real "$q" "$q" lost)" 0 "(real QoS $q lost, --tcp $mode)"
      expect_eq "$(col real "$q" "$q" duplicates)" 0 "(real QoS $q duplicates, --tcp $mode)"
      expect_eq "$(verdict loss_ratio "$q" "$q")" agree
      ratio_within "$(col sim "$q" "$q" latency_p99_ms)" "$(col real "$q" "$q" latency_p99_ms)" \
        "$lo" "$hi" "QoS $q p99, --tcp $mode"
    done
  done
}

# An outage of 4 s (from 3 s) on the subscriber's link, both directions,
# longer than 1.5 x its keepalive of 2 s, with a kept session: the broker
# closes the silent connection, QoS 0 messages of the outage and of the
# reconnection are lost (no queueing of QoS 0 for offline clients), QoS 1
# and 2 are queued and delivered at resumption. Over 3 replications the
# QoS 0 loss ratio and QoS 1 duplicate ratio agree within their CIs, and
# QoS 2 is exactly once on both sides (nothing lost, no duplicate).
t_outage_beyond_keepalive_agrees_within_cis() {
  sim testbed-outage || return
  real testbed-outage
  "$MQTTSIM" compare sim real --csv > cmp.csv
  show loss_ratio
  show dup_ratio
  expect_eq "$(verdict loss_ratio 0 0)" agree "(QoS 0 losses)"
  expect_eq "$(verdict dup_ratio 1 1)" agree "(QoS 1 duplicates)"
  expect_eq "$(verdict loss_ratio 1 1)" agree "(QoS 1 losses)"
  local d
  for d in sim real; do
    expect_eq "$(col $d 2 2 lost)" 0 "($d QoS 2 lost)"
    expect_eq "$(col $d 2 2 duplicates)" 0 "($d QoS 2 duplicates)"
    awk -v l="$(col $d 0 0 loss_ratio)" 'BEGIN {exit !(l > 0.3)}' || fail "$d: QoS 0 lost only $(col $d 0 0 loss_ratio) of its messages to a 4 s outage of 10 s"
  done
}

# A broker restart without persistence (Mosquitto killed at 3 s, back at
# 4 s): the sessions are gone. The publishers retry after 0.5 s (refused)
# and 1.5 s and are back at about 4.55 s; the subscriber retries after 2 s,
# so its SUBSCRIBE reaches the new broker at about 5.06 s, and every QoS 1
# and 2 message published from the kill until then (in flight, queued at the
# publishers, or routed while no subscription is in place) is lost: about a
# quarter of them. The subscriber's later retry puts the order of the two
# beyond doubt: with one backoff for all, the publishers' queued PUBLISHes
# and the SUBSCRIBE arrive within the same millisecond, and which goes first
# is a race on real hosts. The loss ratios agree within their CIs over 3
# replications.
t_broker_restart_losses_agree() {
  sim testbed-restart || return
  real testbed-restart
  "$MQTTSIM" compare sim real --csv > cmp.csv
  show loss_ratio
  expect_eq "$(verdict loss_ratio 1 1)" agree "(QoS 1 losses)"
  expect_eq "$(verdict loss_ratio 2 2)" agree "(QoS 2 losses)"
}

if [ "$(id -u)" != 0 ]; then
  t_skip_main "not root (uid $(id -u)): the testbed needs CAP_SYS_ADMIN and CAP_NET_ADMIN"
  exit 0
fi
if [ -n "${MQTTSIM_ASAN:-}" ]; then
  t_skip_main "sanitizer build: the comparisons measure real time, which the sanitizers slow (the testbed's mechanics are tested in test_testbed.sh)"
  exit 0
fi
command -v mosquitto >/dev/null || PATH=$PATH:/usr/sbin command -v mosquitto >/dev/null ||
  { t_skip_main "missing mosquitto (make test installs it)"; exit 0; }
t_main
