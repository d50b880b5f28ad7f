#!/usr/bin/env bash
# mqttsim client against Mosquitto 2.0, mosquitto_pub/mosquitto_sub against mqttsim broker, on loopback.
. "$(dirname "$0")/lib.sh"

# Every process a test starts is recorded here and stopped by pid, also when a
# test fails or the suite is interrupted.
TOP=$(mktemp -d)
PIDS="$TOP/pids"
: > "$PIDS"
stop_pid() {  # $1: a pid this suite started
  kill "$1" 2>/dev/null
  for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$1" 2>/dev/null || break; sleep 0.05; done
  kill -9 "$1" 2>/dev/null
  wait "$1" 2>/dev/null
  sed -i "/^$1\$/d" "$PIDS"
}
cleanup() {
  local p
  for p in $(cat "$PIDS" 2>/dev/null); do
    # Only a process that is still one of ours: a reused pid is left alone.
    grep -qaE 'mosquitto|mqttsim|perl' "/proc/$p/cmdline" 2>/dev/null && stop_pid "$p"
  done
  rm -rf "$TOP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if ! command -v mosquitto >/dev/null && [ -x /usr/sbin/mosquitto ]; then PATH="$PATH:/usr/sbin"; fi
for c in mosquitto mosquitto_pub mosquitto_sub; do
  command -v "$c" >/dev/null || { echo "missing $c (Debian packages mosquitto, mosquitto-clients: make test installs them)"; exit 1; }
done

# Mosquitto on a free loopback port, with a config of our own; one for the suite.
MPORT=
for _ in 1 2 3 4 5 6 7 8 9 10; do
  port=$((20000 + RANDOM % 30000))
  cat > "$TOP/mosquitto.conf" <<EOF
listener $port 127.0.0.1
allow_anonymous true
persistence false
log_dest file $TOP/mosquitto.log
EOF
  mosquitto -c "$TOP/mosquitto.conf" 2>"$TOP/mosquitto.err" &
  mpid=$!
  echo $mpid >> "$PIDS"
  for _ in $(seq 50); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && { MPORT=$port; break; }
    kill -0 $mpid 2>/dev/null || break
    sleep 0.05
  done
  [ -n "$MPORT" ] && break
  stop_pid $mpid
done
[ -n "$MPORT" ] || { echo "cannot start mosquitto: $(cat "$TOP/mosquitto.err")"; exit 1; }
MVERSION=$(mosquitto -h 2>/dev/null | sed -n 's/^mosquitto version \([0-9.]*\).*/\1/p')

# Starts `mqttsim broker` on a port the kernel picks; sets BPID and BPORT.
start_broker() {
  "$MQTTSIM" broker --listen 127.0.0.1:0 "$@" > broker.out 2> broker.err &
  BPID=$!
  echo $BPID >> "$PIDS"
  BPORT=
  for _ in $(seq 100); do
    BPORT=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\) .*/\1/p' broker.out)
    [ -n "$BPORT" ] && return 0
    sleep 0.02
  done
  fail "mqttsim broker did not start: $(cat broker.err)"
  return 1
}

# The CSV cell of column $2 in the line of group (pub $3, sub $4) of results.csv $1.
cell() {
  awk -F, -v col="$2" -v p="$3" -v s="$4" '
    NR == 1 { for (i = 1; i <= NF; i++) if ($i == col) c = i; next }
    $4 == p && $5 == s { print $c }' "$1"
}

# ---------------------------------------------------------------- Mosquitto --

# The engine's client publishes and subscribes in one process: every pair of the
# 9-row table delivers every message exactly once at min(pub, sub), in order,
# with both MQTT versions; the decoded QoS of each delivery is in deliveries.csv.
t_client_against_mosquitto_nine_pairs_both_versions() {
  local v p s q n d
  for v in 4 5; do
    for p in 0 1 2; do
      for s in 0 1 2; do
        "$MQTTSIM" client --broker "127.0.0.1:$MPORT" --id "nine-$v$p$s" --version $v \
          --pub "nine/$v$p$s" --qos $p --sub "nine/$v$p$s" --qos $s --count 20 --rate 400 \
          --payload 64 --drain 5 --quiet --out "o$v$p$s" 2> err.txt
        expect_eq "$?" 0 "(v$v pair $p,$s: $(cat err.txt))"
        q=$(( p < s ? p : s ))
        expect_eq "$(cell o$v$p$s/results.csv expected $p $s)" 20 "(v$v pair $p,$s expected)"
        expect_eq "$(cell o$v$p$s/results.csv unique $p $s)" 20 "(v$v pair $p,$s unique)"
        expect_eq "$(cell o$v$p$s/results.csv lost $p $s)" 0 "(v$v pair $p,$s lost)"
        expect_eq "$(cell o$v$p$s/results.csv qos $p $s)" $q "(v$v pair $p,$s group qos)"
        # Every delivery, as decoded from the PUBLISH the broker sent: at min(p, s).
        n=$(awk -F, -v q=$q 'NR > 1 && $2 == q' o$v$p$s/deliveries.csv | wc -l)
        expect_eq "$n" 20 "(v$v pair $p,$s deliveries decoded at QoS $q)"
        d=$(awk -F, 'NR > 1' o$v$p$s/deliveries.csv | wc -l)
        expect_eq "$d" 20 "(v$v pair $p,$s deliveries in all)"
        if [ $q -eq 2 ]; then
          expect_eq "$(cell o$v$p$s/results.csv duplicates $p $s)" 0 "(v$v QoS 2 duplicates)"
        fi
      done
    done
  done
}

# Publisher and subscriber in two processes; their reports combined.
t_two_processes_combined_against_mosquitto() {
  "$MQTTSIM" client --broker "127.0.0.1:$MPORT" --id two-sub --sub two/# --qos 2 \
    --duration 30 --quiet --out sub 3> ready.txt 2> sub.err --ready-fd 3 &
  local spid=$!; echo $spid >> "$PIDS"
  for _ in $(seq 100); do [ -s ready.txt ] && break; sleep 0.02; done
  expect_eq "$(cat ready.txt)" ready "(ready line)"
  "$MQTTSIM" client --broker "127.0.0.1:$MPORT" --id two-pub --pub two/a --qos 1 --count 50 \
    --rate 500 --quiet --out pub 2> pub.err
  expect_eq "$?" 0 "(publisher: $(cat pub.err))"
  sleep 0.3
  stop_pid $spid   # SIGTERM: the subscriber reports and exits 0
  expect_file sub/client.json
  "$MQTTSIM" combine pub sub --out all --quiet
  expect_eq "$?" 0 "(combine)"
  expect_eq "$(cell all/results.csv expected 1 2)" 50
  expect_eq "$(cell all/results.csv unique 1 2)" 50
  expect_eq "$(cell all/results.csv lost 1 2)" 0
  expect_eq "$(cell all/results.csv qos 1 2)" 1
  expect_contains "$(cat all/results.json)" '"two-pub"'
}

# Session resumption: the subscriber withholds its PUBACK (PUBREC), aborts the
# connection, reconnects with its kept session and gets the PUBLISH again with
# DUP=1 and the same packet identifier, as the bytes show (the host decodes
# what it receives on its own). QoS 1 delivers twice; QoS 2 once.
t_resumption_against_mosquitto_dup_same_id() {
  local q id
  for q in 1 2; do
    "$MQTTSIM" client --broker "127.0.0.1:$MPORT" --id "res$q" --session --sub "res/$q" --qos $q \
      --test-withhold-acks 1 --reconnect-initial 100 --duration 1.2 --trace --out "s$q" \
      --ready-fd 3 3> ready$q.txt > trace$q.txt 2> err$q.txt &
    local spid=$!; echo $spid >> "$PIDS"
    for _ in $(seq 100); do [ -s ready$q.txt ] && break; sleep 0.02; done
    "$MQTTSIM" client --broker "127.0.0.1:$MPORT" --id "respub$q" --pub "res/$q" --qos $q \
      --count 1 --quiet --out "p$q"
    wait $spid; expect_eq "$?" 0 "(subscriber QoS $q: $(cat err$q.txt))"
    sed -i "/^$spid\$/d" "$PIDS"
    first=$(grep -m1 "<- PUBLISH" trace$q.txt)
    id=$(echo "$first" | sed -n 's/.* id=\([0-9]*\) .*/\1/p')
    expect_contains "$first" "qos=$q dup=0"
    [ -n "$id" ] || fail "no PUBLISH received: $(cat trace$q.txt)"
    expect_contains "$(cat trace$q.txt)" "WITHHELD"
    expect_contains "$(cat trace$q.txt)" "down: reset"
    expect_contains "$(cat trace$q.txt)" "CONNACK session_present=1"
    expect_contains "$(grep '<- PUBLISH' trace$q.txt | sed -n 2p)" "id=$id qos=$q dup=1"
    "$MQTTSIM" combine "p$q" "s$q" --out "c$q" --quiet
    expect_eq "$(cell c$q/results.csv unique $q $q)" 1
    expect_eq "$(cell c$q/results.csv duplicates $q $q)" $(( q == 1 ? 1 : 0 )) "(QoS $q duplicates)"
  done
}

t_client_clear_errors() {
  local out
  # A refused connection: a port nothing listens on (the broker's, after it stopped).
  start_broker || return
  local dead=$BPORT; stop_pid $BPID
  out=$("$MQTTSIM" client --broker "127.0.0.1:$dead" --sub x --quiet 2>&1)
  expect_eq "$?" 1 "(refused)"
  expect_contains "$out" "cannot connect to 127.0.0.1:$dead: Connection refused"
  # A bad address.
  out=$("$MQTTSIM" client --broker no-such-host.invalid:1883 --sub x 2>&1)
  expect_eq "$?" 2 "(bad address)"
  expect_contains "$out" "cannot resolve host 'no-such-host.invalid'"
  out=$("$MQTTSIM" client --broker 127.0.0.1:99999 --sub x 2>&1)
  expect_eq "$?" 2
  expect_contains "$out" "expected a port from 0 to 65535"
  # Usage errors.
  out=$("$MQTTSIM" client --qos 1 --sub x 2>&1); expect_eq "$?" 2
  expect_contains "$out" "--qos must follow"
  out=$("$MQTTSIM" client --pub 'a/#' 2>&1); expect_eq "$?" 2
  expect_contains "$out" "not a valid topic name"
  out=$("$MQTTSIM" client --pub a --payload 8 2>&1); expect_eq "$?" 2
  expect_contains "$out" "at least 16 bytes"
  "$MQTTSIM" client --help | grep -q -- "--ready-fd" || fail "client --help lacks --ready-fd"
}

# A broker that refuses the CONNECT (an empty client id with a kept session:
# CONNACK 0x02, MQTT-3.1.3-8), and a peer that closes the connection without a
# word: both said as such, exit 1.
t_client_broker_refuses_or_closes() {
  local out
  out=$("$MQTTSIM" client --broker "127.0.0.1:$MPORT" --id "" --session --sub x 2>&1)
  expect_eq "$?" 1 "(refused by Mosquitto)"
  expect_contains "$out" "refused the connection: CONNACK code 2 (identifier rejected)"
  # A TCP server that takes each connection and closes it at once.
  perl -MIO::Socket::INET -e '$| = 1; my $s = IO::Socket::INET->new(LocalAddr => "127.0.0.1",
    LocalPort => 0, Listen => 5, ReuseAddr => 1) or die; print $s->sockport, "\n";
    while (my $c = $s->accept) { close $c }' > closer.port &
  local cp=$!; echo $cp >> "$PIDS"
  for _ in $(seq 100); do [ -s closer.port ] && break; sleep 0.02; done
  out=$("$MQTTSIM" client --broker "127.0.0.1:$(cat closer.port)" --sub x 2>&1)
  expect_eq "$?" 1 "(peer closed)"
  expect_contains "$out" "before CONNACK (not an MQTT broker"
  stop_pid $cp
}

# ------------------------------------------------------------ mqttsim broker --

# mosquitto_sub and mosquitto_pub against the engine's broker: the 9 pairs, the
# payload intact and the QoS downgraded, both MQTT versions.
t_mosquitto_clients_against_mqttsim_broker_nine_pairs() {
  start_broker || return
  local v p s q line V
  for v in 4 5; do
    [ $v = 4 ] && V=mqttv311 || V=mqttv5
    for p in 0 1 2; do
      for s in 0 1 2; do
        q=$(( p < s ? p : s ))
        timeout 5 mosquitto_sub -V $V -p "$BPORT" -t "m/$v$p$s" -q $s -C 1 -F '%t|%q|%p|%l' \
          > "sub$v$p$s.txt" 2>&1 &
        local sp=$!
        # The subscription is in place once the broker has sent its SUBACK.
        for _ in $(seq 100); do
          kill -USR1 $BPID; sleep 0.02
          [ "$(grep -c '^packets sent:.*SUBACK' broker.out)" -gt 0 ] &&
            [ "$(sed -n 's/.*SUBACK \([0-9]*\).*/\1/p' broker.out | tail -1)" -ge $(( (v - 4) * 9 + p * 3 + s + 1 )) ] && break
        done
        mosquitto_pub -V $V -p "$BPORT" -t "m/$v$p$s" -q $p -m "payload $v$p$s: intact ~!"
        expect_eq "$?" 0 "(mosquitto_pub v$v q$p)"
        wait $sp
        expect_eq "$?" 0 "(mosquitto_sub v$v pair $p,$s)"
        line=$(cat "sub$v$p$s.txt")
        expect_eq "$line" "m/$v$p$s|$q|payload $v$p$s: intact ~!|22" "(v$v pair $p,$s)"
      done
    done
  done
  stop_pid $BPID
  expect_contains "$(cat broker.out)" "stopping"
}

# A persistent session: mosquitto_sub -c subscribes and leaves; QoS 1 messages
# published meanwhile are queued, QoS 0 ones are not (queue_qos0_messages
# false); at reconnection the queued ones arrive in order, and nothing else.
t_persistent_session_mosquitto_sub_c() {
  start_broker || return
  timeout 5 mosquitto_sub -p "$BPORT" -c -i keeper -q 1 -t keep/t -E
  expect_eq "$?" 0 "(first subscription)"
  local m
  for m in "q1 one:1" "q0 lost:0" "q1 two:1" "q2 three:2"; do
    mosquitto_pub -p "$BPORT" -q "${m:1:1}" -t keep/t -m "${m#* }"
  done
  # Not -C 3: mosquitto_sub would exit at the third message with its last
  # PUBACKs still unsent (and the SUBACK unread), so they would come again.
  timeout 5 mosquitto_sub -p "$BPORT" -c -i keeper -q 1 -t keep/t -W 1 -F '%q %p' > got.txt 2>/dev/null
  expect_eq "$(tr '\n' ';' < got.txt)" "1 one:1;1 two:1;1 three:2;"
  # The session is still there: nothing more was queued, so a short wait gets nothing.
  timeout 5 mosquitto_sub -p "$BPORT" -c -i keeper -q 1 -t keep/t -W 1 -F '%q %p' > more.txt 2>/dev/null
  expect_eq "$(cat more.txt)" ""
  kill -USR1 $BPID; sleep 0.1
  expect_contains "$(cat broker.out)" "disconnected 1"
  stop_pid $BPID
}

# The engine's broker takes the config's broker keys: QoS 2 method B and a
# window of 1 are in its banner, and a bad key is refused with its path.
t_broker_config_keys() {
  cat > c.json <<'JSON'
{"name": "b", "broker": {"qos2_method": "B", "max_inflight": 1, "max_queued": 5,
 "queue_qos0_messages": true},
 "clients": [{"role": "publisher", "topic": "t"}, {"role": "subscriber", "subscribe": [{"filter": "t", "qos": 1}]}]}
JSON
  start_broker --config c.json || return
  expect_contains "$(cat broker.out)" "max_inflight 1, max_queued 5, qos2_method B, queue_qos0_messages true"
  # At 100/s the queue of 5 behind the one in flight rides out a 50 ms stall
  # of either end on a loaded machine (at 1000/s, a 5 ms one overflowed it).
  "$MQTTSIM" client --broker "127.0.0.1:$BPORT" --id cfg --pub k/t --qos 2 --sub k/t --qos 2 \
    --count 30 --rate 100 --quiet --out o
  expect_eq "$?" 0
  expect_eq "$(cell o/results.csv unique 2 2)" 30
  # SIGTERM stops it cleanly: exit 0, its port free again.
  kill $BPID; wait $BPID; expect_eq "$?" 0 "(broker exit status on SIGTERM)"
  sed -i "/^$BPID\$/d" "$PIDS"
  expect_contains "$(cat broker.out)" "Terminated: stopping"
  (exec 3<>"/dev/tcp/127.0.0.1/$BPORT") 2>/dev/null && fail "port $BPORT still open"
  local out
  out=$("$MQTTSIM" broker --listen 127.0.0.1:0 --set broker.max_inflightt=3 2>&1)
  expect_eq "$?" 2
  expect_contains "$out" "max_inflightt"
  # A port in use.
  out=$("$MQTTSIM" broker --listen "127.0.0.1:$MPORT" 2>&1)
  expect_eq "$?" 2 "(port in use)"
  expect_contains "$out" "Address already in use"
}

# Malformed packets from a real peer: each closes only its own connection, is
# counted, and a subscriber connected all along keeps getting its messages.
t_broker_malformed_packets_close_only_their_connection() {
  start_broker || return
  timeout 10 mosquitto_sub -p "$BPORT" -t ok/t -q 1 -C 2 -F '%p' > ok.txt &
  local sp=$!
  for _ in $(seq 100); do kill -USR1 $BPID; sleep 0.02; grep -q 'SUBACK 1' broker.out && break; done
  mosquitto_pub -p "$BPORT" -q 1 -t ok/t -m before
  local connect='\x10\x0c\x00\x04MQTT\x04\x02\x00\x3c\x00\x00'   # CONNECT, 3.1.1, id ""
  local bad
  for bad in \
    '\xff\xff\xff\xff\xff' \
    '\x10\xff\xff\xff\xff\x01' \
    '\x10\x0c\x00\x04MQTX\x04\x02\x00\x3c\x00\x00' \
    "$connect"'\x36\x05\x00\x01a\x00\x01' \
    "$connect"'\x32\x05\x00\x03a+b\x00\x01' \
    "$connect"'\x82\x04\x00\x00\x00\x00'; do
    exec 5<>"/dev/tcp/127.0.0.1/$BPORT"
    printf "$bad" >&5
    # The broker closes: reading ends (EOF) well before the timeout.
    timeout 3 cat <&5 > reply.bin
    expect_eq "$?" 0 "(connection not closed after $bad)"
    exec 5<&-
  done
  mosquitto_pub -p "$BPORT" -q 1 -t ok/t -m after
  wait $sp
  expect_eq "$?" 0 "(the subscriber all along)"
  expect_eq "$(tr '\n' ' ' < ok.txt)" "before after "
  kill -USR1 $BPID; sleep 0.1
  local line; line=$(grep '^protocol errors' broker.out | tail -1)
  # Each of the six fails to decode (MQTT-1.5.4, 2.2.2, 3.1.2, 3.3.1-4, 4.7.1, 2.3.1-1).
  expect_contains "$line" "6 malformed packets"
  expect_contains "$(grep '^closed by the broker' broker.out | tail -1)" "protocol_error 6"
  stop_pid $BPID
  expect_contains "$(cat broker.err)" "malformed packet from 127.0.0.1"
}

t_main
