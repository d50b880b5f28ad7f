#!/usr/bin/env bash
# --pcap end to end: tshark decodes the capture, row for row what the run's own trace shows.
. "$(dirname "$0")/lib.sh"

cfg() {  # $1: transport, $2: loss p, $3: mqtt_version
  cat > c.json <<JSON
{"name": "cap", "seed": 7, "duration_s": 2, "drain_s": 30, "transport": "$1",
 "mqtt_version": $3,
 "link": {"loss": {"model": "bernoulli", "p": $2}, "delay": {"dist": "constant", "ms": 10}},
 "clients": [
   {"role": "publisher", "topic": "cap/a", "qos": 2, "rate_hz": 5},
   {"role": "publisher", "topic": "cap/b", "qos": 1, "rate_hz": 5},
   {"role": "subscriber", "subscribe": [{"filter": "cap/#", "qos": 2}]},
   {"role": "subscriber", "subscribe": [{"filter": "cap/b", "qos": 0}]}]}
JSON
}

# The PUBLISH-family packets of a trace as "time_us src type id qos dup",
# sorted: src is the sending address (the broker 198.18.0.1, client i
# 198.18.0.(2+i); the clients here are c0.0 c1.0 c2.0 c3.0). Only the
# packets as sent: stream lines that tell a read (or an unread) are the same
# packet arriving.
trace_rows() {
  awk '
    function ip(n) { if (n == "broker") return "198.18.0.1"; split(n, p, "."); return "198.18.0." (2 + substr(p[1], 2)) }
    / ms  / && /\|/ {
      split($0, col, "|"); pk = col[2]
      if (pk ~ /read/) next
      if (pk !~ /(PUBLISH|PUBACK|PUBREC|PUBREL|PUBCOMP)/) next
      t = $1; snd = col[1]; sub(/^ *[0-9.]+ ms +/, "", snd); gsub(/ /, "", snd)
      rcv = col[3]; gsub(/ /, "", rcv)
      back = pk ~ /<--|<==|X--/
      src = back ? ip(rcv) : ip(snd)
      match(pk, /(PUBLISH|PUBACK|PUBREC|PUBREL|PUBCOMP)/); ty = substr(pk, RSTART, RLENGTH)
      code["PUBLISH"] = 3; code["PUBACK"] = 4; code["PUBREC"] = 5; code["PUBREL"] = 6; code["PUBCOMP"] = 7
      match(pk, /id=[0-9]+/); id = substr(pk, RSTART + 3, RLENGTH - 3)
      q = ""; d = ""
      if (ty == "PUBLISH") { match(pk, /QoS [0-9]/); q = substr(pk, RSTART + 4, 1); match(pk, /DUP [01]/); d = substr(pk, RSTART + 4, 1) }
      printf "%d %s %d %s %s %s\n", t * 1000 + 0.5, src, code[ty], id, q, d
    }' "$1" | sort
}

# The same from the capture, one row per MQTT packet of types 3..7 (a frame
# may carry several: tshark separates their fields with commas).
pcap_rows() {  # $1: file, $2: extra display filter
  tshark -r "$1" -Y "mqtt ${2:-}" -T fields -E separator=' ' -e frame.time_epoch -e ip.src \
      -e mqtt.msgtype -e mqtt.msgid -e mqtt.qos -e mqtt.dupflag 2>/dev/null |
    awk '{ n = split($3, ty, ","); split($4, id, ","); split($5, q, ","); split($6, d, ",")
           for (i = 1; i <= n; i++) if (ty[i] >= 3 && ty[i] <= 7) {
             dq = ty[i] == 3 ? q[i] " " (d[i] == "1" || d[i] == "True" ? 1 : 0) : " "
             printf "%d %s %d %s %s\n", $1 * 1e6 + 0.5, $2, ty[i], id[i], dq } }' | sed 's/ *$//' | sort
}

no_malformed() {
  local n
  n=$(tshark -r "$1" -Y _ws.malformed -T fields -e frame.number 2>/dev/null | wc -l)
  expect_eq "$n" 0 "(malformed packets in $1)"
}

t_datagram_capture_matches_trace_both_sides() {
  command -v tshark >/dev/null || { echo "    (tshark not installed: skipped)"; return 0; }
  cfg datagram 0.2 4
  "$MQTTSIM" trace c.json --messages 20 --pcap s.pcap >trace.txt
  expect_eq "$?" 0 "(trace --pcap)"
  "$MQTTSIM" trace c.json --messages 20 --pcap r.pcap --pcap-side receiver >trace2.txt
  cmp -s trace.txt trace2.txt || fail "the capture side changed the run"
  trace_rows trace.txt | sed 's/ *$//' >want.txt
  pcap_rows s.pcap >got.txt
  [ "$(wc -l <want.txt)" -ge 60 ] || fail "too few packets traced: $(wc -l <want.txt)"
  grep -q LOST trace.txt || fail "the run lost nothing: the receiver side is not tested"
  diff want.txt got.txt >/dev/null || fail "sender-side capture differs from the trace: $(diff want.txt got.txt | head -5)"
  # Receiver side: the same without the lost ones.
  grep -v LOST trace.txt >kept.txt
  trace_rows kept.txt | sed 's/ *$//' >want2.txt
  pcap_rows r.pcap >got2.txt
  diff want2.txt got2.txt >/dev/null || fail "receiver-side capture differs: $(diff want2.txt got2.txt | head -5)"
  no_malformed s.pcap
  no_malformed r.pcap
  # The topics come from the bytes.
  tshark -r s.pcap -Y 'mqtt.msgtype == 3' -T fields -e mqtt.topic 2>/dev/null | sort -u >topics.txt
  expect_eq "$(tr '\n' ' ' <topics.txt)" "cap/a cap/b "
}

t_stream_capture_matches_trace() {
  command -v tshark >/dev/null || { echo "    (tshark not installed: skipped)"; return 0; }
  for v in 4 5; do
    cfg stream 0 $v
    "$MQTTSIM" trace c.json --messages 20 --pcap s.pcap >trace.txt
    expect_eq "$?" 0 "(trace --pcap, version $v)"
    trace_rows trace.txt | sed 's/ *$//' >want.txt
    pcap_rows s.pcap >got.txt
    [ "$(wc -l <want.txt)" -ge 60 ] || fail "too few packets traced: $(wc -l <want.txt)"
    diff want.txt got.txt >/dev/null || fail "v$v capture differs from the trace: $(diff want.txt got.txt | head -5)"
    no_malformed s.pcap
    # One TCP stream per client connection, with its handshake.
    expect_eq "$(tshark -r s.pcap -Y 'tcp.flags.syn == 1 && tcp.flags.ack == 0' 2>/dev/null | wc -l)" 4 "(SYNs)"
    expect_eq "$(tshark -r s.pcap -T fields -e tcp.stream 2>/dev/null | sort -u | wc -l)" 4 "(TCP streams)"
  done
}

# With loss the model's retransmissions are in the capture too: leaving out
# what tshark marks as retransmitted, each packet the trace shows written is
# there once, and tshark finds the sequence numbers consistent (no
# malformed packet, no ACK of unseen data).
t_stream_capture_with_loss() {
  command -v tshark >/dev/null || { echo "    (tshark not installed: skipped)"; return 0; }
  cfg stream 0.1 4
  "$MQTTSIM" trace c.json --messages 20 --pcap s.pcap >trace.txt
  expect_eq "$?" 0 "(trace --pcap)"
  trace_rows trace.txt | cut -d' ' -f2- | sed 's/ *$//' | sort >want.txt
  pcap_rows s.pcap 'and not tcp.analysis.retransmission' | cut -d' ' -f2- | sort >got.txt
  diff want.txt got.txt >/dev/null || fail "capture differs from the trace: $(diff want.txt got.txt | head -5)"
  [ "$(tshark -r s.pcap -Y tcp.analysis.retransmission 2>/dev/null | wc -l)" -gt 0 ] ||
    fail "no retransmission at 10% loss"
  expect_eq "$(tshark -r s.pcap -Y tcp.analysis.ack_lost_segment 2>/dev/null | wc -l)" 0 "(ACKs of unseen data)"
  no_malformed s.pcap
}

t_run_pcap_and_bad_options() {
  cfg datagram 0 4
  "$MQTTSIM" run c.json --out o --quiet --reps 2 --pcap run.pcap
  expect_eq "$?" 0 "(run --pcap)"
  expect_file run.pcap
  "$MQTTSIM" run c.json --out o2 --quiet --pcap-side receiver >out.txt 2>&1
  expect_eq "$?" 2 "(--pcap-side without --pcap)"
  expect_contains "$(cat out.txt)" "--pcap-side needs --pcap FILE"
  "$MQTTSIM" run c.json --out o3 --quiet --pcap x.pcap --pcap-side middle >out.txt 2>&1
  expect_eq "$?" 2 "(bad side)"
  expect_contains "$(cat out.txt)" "expected sender or receiver, got 'middle'"
  "$MQTTSIM" trace c.json --pcap /nonexistent/x.pcap >out.txt 2>&1
  expect_eq "$?" 2 "(unwritable capture)"
  expect_contains "$(cat out.txt)" "/nonexistent/x.pcap: cannot create the capture"
  if [ -w /dev/full ]; then
    "$MQTTSIM" trace c.json --pcap /dev/full >out.txt 2>&1
    expect_eq "$?" 1 "(a capture that could not be written fails the run)"
    expect_contains "$(cat out.txt)" "could not be written"
  fi
}

t_main
