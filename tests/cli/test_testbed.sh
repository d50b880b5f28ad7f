#!/usr/bin/env bash
# mqttsim testbed as root: the relay's delay, loss, bandwidth and outages on real packets, Mosquitto through it, cleanup on every path out, refusals.
. "$(dirname "$0")/lib.sh"

# The testbed in the foreground, stopped (SIGTERM, then SIGKILL) should it
# ever hang, so a broken build fails this suite instead of stalling it.
tb() { timeout -k 5 90 "$MQTTSIM" testbed "$@"; }

# tb_cfg NAME LINK [DURATION]: one publisher and one subscriber on LINK.
tb_cfg() {
  cat > "$1.json" <<JSON
{"name": "$1", "seed": 5, "duration_s": ${3:-2}, "drain_s": 2, "link": $2,
 "clients": [
   {"role": "publisher", "topic": "t/1", "qos": 1, "rate_hz": 10},
   {"role": "subscriber", "subscribe": [{"filter": "t/#", "qos": 1}]}]}
JSON
}

# The client command for ping traffic: the publisher's instance pings the
# broker's address with the arguments in PING_ARGS (exported), its output
# into its output directory; the subscriber only says it is ready.
PING_CMD='echo ready >&3; if [ "$MQTTSIM_TB_ROLE" = publisher ]; then ping -n $PING_ARGS "$MQTTSIM_TB_BROKER" > "$MQTTSIM_TB_OUT/ping" 2>&1; fi; echo "$MQTTSIM_TB_ARGV" > "$MQTTSIM_TB_OUT/argv"; cd /proc/sys/net/ipv4 && cat tcp_sack tcp_dsack tcp_timestamps tcp_recovery tcp_early_retrans tcp_frto tcp_retries2 tcp_syn_retries | tr "\n" " " > "$MQTTSIM_TB_OUT/sysctl"; ip route show 198.18.0.1 > "$MQTTSIM_TB_OUT/route"; ip link show tb0 > "$MQTTSIM_TB_OUT/mtu"'
# Clients that stay until stopped.
SLEEP_CMD='echo ready >&3; exec sleep 60'

# A number from testbed.json: json_num FILE KEY [NTH]: the NTH (default 1)
# "KEY": N in the file (cJSON prints one key per line).
json_num() { grep -o "\"$2\":[[:space:]]*[0-9][0-9.e+-]*" "$1" | sed -n "${3:-1}p" | sed 's/.*:[[:space:]]*//'; }
# The relay's count KEY of client c0.0 in direction DIR (up or down).
link_count() { awk -v d="\"$2\":" -v k="\"$3\":" '$1 == d {in_d = 1} in_d && $1 == k {gsub(/,/, "", $2); print $2; exit}' "$1"; }

# ping's min RTT and the median of its replies' RTTs: the median, not ping's
# average, so that one reply delayed by a stall of a loaded machine does not
# move it (a systematic error moves every reply, and so the median).
ping_rtt() {
  sed -n 's|.* time=\([0-9.]*\) ms.*|\1|p' "$1" | sort -g |
    awk '{v[NR] = $1} END {if (NR) printf "%s %s\n", v[1], NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'
}
# ping_run NAME LINK PING_ARGS [TESTBED OPTIONS]: a testbed run of config NAME
# on LINK whose publisher pings the broker; fails the test on a non-zero exit.
ping_run() {
  local name=$1 link=$2 args=$3; shift 3
  tb_cfg "$name" "$link"
  PING_ARGS="$args" tb "$name.json" --out o --client-cmd "$PING_CMD" "$@" >out.txt 2>err.txt
  expect_eq "$?" 0 "$(cat err.txt)"
}
# expect_rtt MIN MAX_MEDIAN WHY: ping's min RTT >= MIN and its median <= MAX_MEDIAN.
expect_rtt() {
  local min med
  read -r min med <<< "$(ping_rtt o/rep0/c0.0/ping)"
  echo "    rtt min $min ms, median $med ms ($3)"
  [ -n "$med" ] || fail "no reply times in o/rep0/c0.0/ping"
  awk -v m="$min" -v a="$med" -v lo="$1" -v hi="$2" 'BEGIN {exit !(m >= lo && a <= hi)}' ||
    fail "rtt min $min median $med, expected >= $1 and <= $2"
}
# ping's count of echo requests sent, and the time it spent sending them (ms).
ping_sent() { sed -n 's/^\([0-9]*\) packets transmitted.*/\1/p' "$1"; }
ping_time() { sed -n 's/.* time \([0-9]*\)ms$/\1/p' "$1"; }

# No process, namespace or device of the run in FILE (testbed.json) is
# left: every recorded pid gone (or a zombie, which holds nothing), every
# recorded namespace inode unreferenced by any process, fd or mount, no
# namespace of the run's names, no TUN device in this namespace.
expect_nothing_left() {
  local f=$1 name=$2 pid ino n
  local pids inos
  pids=$(sed -n '/"pids":/,/"netns_inodes":/p' "$f" | grep -o ':[[:space:]]*[0-9]\+' | tr -dc '0-9\n')
  inos=$(sed -n '/"netns_inodes":/,/]/p' "$f" | grep -o '[0-9]\{4,\}')
  [ -n "$pids" ] || fail "no pid recorded in $f"
  [ -n "$inos" ] || fail "no namespace recorded in $f"
  for pid in $pids; do
    # Up to 5 s: after a SIGKILL of the testbed the kernel kills and reaps
    # its PID namespace asynchronously.
    for _ in $(seq 50); do
      [ -d "/proc/$pid" ] && [ "$(awk '/^State/{print $2}' "/proc/$pid/status" 2>/dev/null)" != Z ] || break
      sleep 0.1
    done
    if [ -d "/proc/$pid" ] && [ "$(awk '/^State/{print $2}' "/proc/$pid/status" 2>/dev/null)" != Z ]; then
      fail "process $pid of the run is still alive: $(awk '/^(Name|State)/' "/proc/$pid/status" | tr '\n' ' ')"
    fi
  done
  for ino in $inos; do
    # Up to 5 s as well: the processes of a killed PID namespace let go of
    # their network namespace as the kernel reaps them, which on a loaded
    # machine can take longer than the reaping of the ones recorded.
    for _ in $(seq 50); do
      n=$( (ls -l /proc/[0-9]*/ns/net /proc/[0-9]*/fd 2>/dev/null; cat /proc/self/mountinfo) | grep -c "net:\[$ino\]")
      [ "$n" = 0 ] && break
      sleep 0.1
    done
    [ "$n" = 0 ] || fail "namespace net:[$ino] still referenced ($n): $( (ls -l /proc/[0-9]*/ns/net 2>/dev/null) | grep "net:\[$ino\]" | head -3 | tr -s ' ' | cut -d' ' -f9- | tr '\n' ' ')"
  done
  ip netns list | grep -q "mqttsim-$name-" && fail "a namespace mqttsim-$name-* is listed"
  ip -o link show | grep -q ': tb[0-9]' && fail "a tb* device in the host namespace"
  return 0
}

# Waits (up to 10 s) until the run in DIR has started its clients.
wait_clients() {
  for _ in $(seq 100); do
    grep -q '"c1.0":[[:space:]]*[0-9]' "$1/testbed.json" 2>/dev/null && return 0
    sleep 0.1
  done
  fail "the clients never started"; return 1
}

t_refuses_without_privileges() {
  tb_cfg np '{"delay": {"dist": "constant", "ms": 10}}'
  chmod 755 . && chmod 644 np.json
  # A real unprivileged user...
  setpriv --reuid=65534 --regid=65534 --clear-groups "$MQTTSIM" testbed np.json --out /tmp/never-written \
    --client-cmd true >out.txt 2>err.txt
  expect_eq "$?" 2 "(exit status as nobody)"
  expect_contains "$(cat err.txt)" "needs CAP_SYS_ADMIN (to create network namespaces) and CAP_NET_ADMIN (to configure TUN devices); this process (uid 65534) lacks both: run it as root"
  expect_no_file /tmp/never-written
  # ...and root without CAP_NET_ADMIN (dropped from the bounding set).
  capsh --drop=cap_net_admin -- -c "'$MQTTSIM' testbed np.json --client-cmd true" >out.txt 2>err.txt
  expect_eq "$?" 2 "(exit status without CAP_NET_ADMIN)"
  expect_contains "$(cat err.txt)" "(uid 0) lacks CAP_NET_ADMIN: run it as root"
}

t_refuses_without_tun() {
  tb_cfg nt '{}'
  # A mount namespace where /dev/net is empty: no TUN device node.
  unshare -m sh -c "mount -t tmpfs tmpfs /dev/net && exec '$MQTTSIM' testbed nt.json --client-cmd true" \
    >out.txt 2>err.txt
  expect_eq "$?" 2
  expect_contains "$(cat err.txt)" "cannot open /dev/net/tun: No such file or directory"
}

t_refuses_what_it_cannot_run() {
  tb_cfg long '{}' 1000
  tb long.json --client-cmd true --out o1 >out.txt 2>err.txt
  expect_eq "$?" 2 "(too long)"
  expect_contains "$(cat err.txt)" "may take up to 1002 s (1 replication x (duration_s 1000 + drain_s 2)), more than --max-seconds 600"
  expect_no_file o1
  tb long.json --client-cmd true --max-seconds 2000 --set clients.0.count=40 >out.txt 2>err.txt
  expect_eq "$?" 2 "(too many clients)"
  expect_contains "$(cat err.txt)" "41 client instances (clients.N.count summed), more than the testbed's limit of 32"
  tb long.json --client-cmd true --max-seconds 2000 --set clients.0.rate_hz=10000 >out.txt 2>err.txt
  expect_eq "$?" 2 "(too fast)"
  expect_contains "$(cat err.txt)" "the relay would carry about 80000 packets/s"
  tb_cfg short '{}'
  tb short.json --set transport=datagram --client-cmd true >out.txt 2>err.txt
  expect_eq "$?" 2 "(datagram transport)"
  expect_contains "$(cat err.txt)" "transport \"datagram\": the testbed runs MQTT over real TCP"
  ip netns list | grep -q mqttsim- && fail "a refused run left a namespace"
  return 0
}

t_refuses_when_a_namespace_of_its_name_exists() {
  tb_cfg tbexists '{}'
  ip netns add mqttsim-tbexists-c1.0
  tb tbexists.json --client-cmd true --out o >out.txt 2>err.txt
  local rc=$?
  ip netns delete mqttsim-tbexists-c1.0
  expect_eq "$rc" 2
  expect_contains "$(cat err.txt)" "network namespace mqttsim-tbexists-c1.0 exists (a network kept with --keep?); remove it with 'ip netns delete mqttsim-tbexists-c1.0'"
  expect_no_file o/testbed.json
}

# 10 ms each way and nothing else: ping's round trip is 2 x 10 ms, never
# less (the relay never delivers early) and in the median within 2 ms more
# (the real-time tolerance: the relay's slippage, measured in testbed.json,
# plus the kernel's own path through two TUN devices and back).
t_relay_rtt_lossless() {
  ping_run tbrtt '{"delay": {"dist": "constant", "ms": 10}}' "-c 40 -i 0.025"
  expect_rtt 20.0 22.0 "10 ms each way"
  expect_contains "$(cat o/rep0/c0.0/ping)" "40 received"
  expect_eq "$(link_count o/testbed.json up sent)" 40 "(echo requests through the relay)"
  expect_eq "$(link_count o/testbed.json down delivered)" 40 "(echo replies)"
  # The slippage record covers every delivery, and is ordered.
  expect_eq "$(json_num o/testbed.json frames)" 80 "(deliveries measured for slippage)"
  echo "    slippage: p50 $(json_num o/testbed.json p50_us) us, p99 $(json_num o/testbed.json p99_us) us, max $(json_num o/testbed.json max_us) us, $(json_num o/testbed.json late_over_1ms) later than 1 ms"
  awk -v a="$(json_num o/testbed.json p50_us)" -v b="$(json_num o/testbed.json p99_us)" -v c="$(json_num o/testbed.json max_us)" \
    'BEGIN {exit !(0 <= a && a <= b && b <= c)}' || fail "slippage quantiles out of order"
  expect_contains "$(cat o/testbed.json)" '"status":	"done"'
  expect_contains "$(cat o/testbed.json)" '"mosquitto_version":	"2.0'
  expect_contains "$(cat o/testbed.json)" "\"kernel\":	\"$(uname -r)\""
  # The seam: what 'mqttsim client' would have been given.
  local common="--version 4 --keepalive 60 --clean-start --connect-timeout 30 --reconnect-initial 1000 --reconnect-max 60000 --max-inflight 20 --max-queued 1000 --retransmit reconnect"
  expect_eq "$(cat o/rep0/c0.0/argv)" "$(readlink -f "$MQTTSIM") client --broker 198.18.0.1:1883 --id c0.0 $common --pub t/1 --qos 1 --rate 10 --arrival periodic --payload 32 --duration 2 --drain 2 --seed 5 --rep 0 --out $PWD/o/rep0/c0.0 --ready-fd 3"
  expect_eq "$(cat o/rep0/c1.0/argv)" "$(readlink -f "$MQTTSIM") client --broker 198.18.0.1:1883 --id c1.0 $common --qos2-method A --sub t/# --qos 1 --out $PWD/o/rep0/c1.0 --ready-fd 3"
  # Linux's TCP set to the model's in every namespace, the route to the
  # peer with quickack; the TUN devices' MTU is the model's mss + 40.
  expect_contains "$(cat o/testbed.json)" '"tcp":	"model"'
  expect_contains "$(cat o/rep0/c0.0/sysctl)" "0 0 0 0 0 0 15 6"
  expect_contains "$(cat o/rep0/c0.0/route)" "rto_min 200ms"
  expect_contains "$(cat o/rep0/c0.0/route)" "quickack 1"
  expect_contains "$(cat o/rep0/c0.0/route)" "initcwnd 10"
  expect_contains "$(cat o/rep0/c0.0/mtu)" "mtu 1500"
  expect_nothing_left o/testbed.json tbrtt
}

# Bernoulli p = 0.2 on both directions: the relay's losses per direction
# against p, within 4 standard errors sqrt(p (1-p) / sent).
t_relay_bernoulli_loss() {
  ping_run tbloss '{"loss": {"model": "bernoulli", "p": 0.2}, "delay": {"dist": "constant", "ms": 1}}' "-c 300 -i 0.005 -w 3"
  local d sent lost
  for d in up down; do
    sent=$(link_count o/testbed.json $d sent); lost=$(link_count o/testbed.json $d lost)
    echo "    $d: $lost of $sent lost"
    awk -v s="$sent" -v l="$lost" 'BEGIN {p = 0.2; se = sqrt(p * (1 - p) / s); exit !(s > 100 && (l / s - p) ^ 2 <= (4 * se) ^ 2)}' ||
      fail "$d: $lost of $sent lost, expected 0.2 within 4 SE"
  done
  expect_eq "$(link_count o/testbed.json up sent)" "$(ping_sent o/rep0/c0.0/ping)" "(every request through the relay)"
  expect_eq "$(link_count o/testbed.json down sent)" "$(link_count o/testbed.json up delivered)" "(a reply per delivered request)"
  expect_nothing_left o/testbed.json tbloss
}

# 200 kbit/s and no delay: a 1000-byte IP packet (ping -s 972) serialises in
# exactly 40 ms each way, so the round trip is 80 ms, in the median within
# 2 ms.
t_relay_bandwidth_serialises() {
  ping_run tbbw '{"bandwidth_bps": 200000}' "-c 5 -i 0.25 -s 972"
  expect_rtt 80.0 82.0 "2 x 40 ms serialisation"
  expect_eq "$(link_count o/testbed.json up bytes_delivered)" 5000
}

# An outage of the up direction from 0.6 s for 0.4 s, pings every 20 ms: the
# relay loses the requests it reads inside the window, counted apart, and
# nothing else: one run of consecutive requests. The replies around the hole
# (ping -D stamps each) belong to the last request sent before the window
# and the first sent after it, so they lie at least 0.4 s apart (less the
# round trip's jitter, 2 ms) and at most 0.4 s plus two of ping's gaps
# between requests (30 ms each at most, allowing for its timer).
t_relay_outage_window() {
  ping_run tbout '{"delay": {"dist": "constant", "ms": 1}, "up": {"outages": [[0.6, 0.4]]}}' "-D -c 60 -i 0.02 -w 3"
  local n sent hole
  n=$(link_count o/testbed.json up lost_outage); sent=$(ping_sent o/rep0/c0.0/ping)
  expect_eq "$(link_count o/testbed.json up lost)" 0
  expect_eq "$(link_count o/testbed.json down lost_outage)" 0
  expect_eq "$(link_count o/testbed.json up sent)" "$sent"
  expect_contains "$(cat o/rep0/c0.0/ping)" "$((sent - n)) received"
  # seq and time of every reply; the hole is the one gap in the sequence.
  hole=$(sed -n 's/^\[\([0-9.]*\)\].*icmp_seq=\([0-9]*\) .*/\2 \1/p' o/rep0/c0.0/ping |
    awk 'NR > 1 && $1 != seq + 1 {gaps++; missing = $1 - seq - 1; dt = $2 - t} {seq = $1; t = $2}
         END {printf "%d %d %.4f", gaps, missing, dt}')
  read -r gaps missing dt <<< "$hole"
  echo "    $n of $sent requests lost to the outage; replies around the hole $dt s apart"
  expect_eq "$gaps" 1 "(holes in the replies)"
  expect_eq "$missing" "$n" "(requests missing = lost to the outage)"
  awk -v d="$dt" 'BEGIN {exit !(d >= 0.398 && d <= 0.46)}' || fail "replies around the hole $dt s apart, expected 0.4 to 0.46"
}

# Mosquitto in its namespace, mosquitto_sub and mosquitto_pub in theirs,
# through the relay with 2% loss and 10 ms each way: at QoS 0, 1 and 2 every
# message arrives (TCP recovers the losses), once and in order.
t_mosquitto_qos012_through_the_relay() {
  cat > tbmq.json <<'JSON'
{"name": "tbmq", "duration_s": 2, "drain_s": 2,
 "link": {"delay": {"dist": "constant", "ms": 10}, "loss": {"model": "bernoulli", "p": 0.02}},
 "clients": [
   {"role": "publisher", "topic": "t/0", "qos": 0}, {"role": "publisher", "topic": "t/1", "qos": 1},
   {"role": "publisher", "topic": "t/2", "qos": 2},
   {"role": "subscriber", "subscribe": [{"filter": "t/0", "qos": 0}]},
   {"role": "subscriber", "subscribe": [{"filter": "t/1", "qos": 1}]},
   {"role": "subscriber", "subscribe": [{"filter": "t/2", "qos": 2}]}]}
JSON
  cat > mq.sh <<'SH'
if [ "$MQTTSIM_TB_ROLE" = subscriber ]; then
  f=${MQTTSIM_TB_FILTERS%:*}; q=${MQTTSIM_TB_FILTERS##*:}
  stdbuf -oL mosquitto_sub -d -h "$MQTTSIM_TB_BROKER" -i "$MQTTSIM_TB_CLIENT" -t "$f" -q "$q" -C 20 -W 20 |
    while read -r line; do
      case "$line" in *"received SUBACK"*) echo ready >&3 ;; Client*|Subscribed*) ;; *) echo "$line" >> "$MQTTSIM_TB_OUT/got" ;; esac
    done
else
  echo ready >&3
  seq 1 20 | mosquitto_pub -h "$MQTTSIM_TB_BROKER" -i "$MQTTSIM_TB_CLIENT" -t "$MQTTSIM_TB_TOPIC" -q "$MQTTSIM_TB_QOS" -l
fi
SH
  tb tbmq.json --out o --client-cmd ". $PWD/mq.sh" >out.txt 2>err.txt
  expect_eq "$?" 0 "$(cat err.txt)"
  local q
  for q in 0 1 2; do
    expect_eq "$(tr '\n' ' ' < o/rep0/c$((q + 3)).0/got)" "$(seq 1 20 | tr '\n' ' ')" "(QoS $q subscriber)"
  done
  expect_contains "$(cat o/rep0/broker.log)" "mosquitto version 2.0"
  expect_contains "$(cat o/rep0/broker.log)" "New client connected from 198.18.1.4"
  # The kernel's own TCP counters, summed over the namespaces: 2% loss made
  # it retransmit, and every segment it sent went through the relay (the
  # relay counts a few less: what was sent after it stopped).
  local segs relayed
  segs=$(( $(json_num o/testbed.json out_segs) + $(json_num o/testbed.json retrans_segs) ))
  relayed=$(grep -o '"sent":[[:space:]]*[0-9]*' o/testbed.json | awk '{s += $2} END {print s}')
  echo "    kernel: $segs segments sent, $(json_num o/testbed.json retrans_segs) retransmitted; relay: $relayed"
  [ "$(json_num o/testbed.json retrans_segs)" -gt 0 ] || fail "no retransmission at 2% loss"
  awk -v k="$segs" -v r="$relayed" 'BEGIN {exit !(r <= k && r >= 0.95 * k)}' || fail "relay $relayed, kernel $segs"
  expect_nothing_left o/testbed.json tbmq
}

# interrupt SIG EXIT: a run whose clients wait, stopped by SIG once they run.
interrupt() {
  tb_cfg "tbsig$1" '{"delay": {"dist": "constant", "ms": 5}}' 30
  set -m # job control: a background job keeps SIGINT, as a foreground one would
  "$MQTTSIM" testbed "tbsig$1.json" --out o --client-cmd "$SLEEP_CMD" >out.txt 2>err.txt &
  local pid=$!
  set +m
  wait_clients o && kill "-$1" "$pid"
  wait "$pid"
  expect_eq "$?" "$2" "(exit status after SIG$1)"
  expect_contains "$(cat err.txt)" "stopped by signal"
  expect_contains "$(cat o/testbed.json)" '"status":	"interrupted"'
  expect_eq "$(ls -d o/.scratch.* 2>/dev/null | wc -l)" 0 "(scratch files left)"
  expect_nothing_left o/testbed.json "tbsig$1"
}
t_cleanup_after_sigint() { interrupt INT 130; }
t_cleanup_after_sigterm() { interrupt TERM 143; }

# A child that dies (relay, broker, a client: SIGKILL) fails the run, named,
# and the rest is removed.
t_cleanup_after_a_child_dies() {
  local who pid tbpid
  for who in relay broker c0.0; do
    rm -rf o
    tb_cfg tbcrash '{}' 30
    "$MQTTSIM" testbed tbcrash.json --out o --client-cmd "$SLEEP_CMD" >out.txt 2>err.txt &
    tbpid=$!
    wait_clients o || { kill "$tbpid"; wait "$tbpid"; continue; }
    pid=$(json_num o/testbed.json "$who")
    kill -KILL "$pid"
    wait "$tbpid"
    expect_eq "$?" 1 "(exit status after $who died)"
    expect_contains "$(cat err.txt)" "$who (pid $pid) was killed by signal 9"
    expect_contains "$(cat o/testbed.json)" '"status":	"failed"'
    expect_nothing_left o/testbed.json tbcrash
  done
}

# SIGKILL of the testbed itself: its children die with it (PR_SET_PDEATHSIG
# and the PID namespace), and with them the namespaces and devices.
t_cleanup_after_sigkill_of_the_testbed() {
  tb_cfg tbkill '{}' 30
  "$MQTTSIM" testbed tbkill.json --out o --client-cmd "$SLEEP_CMD" >out.txt 2>err.txt &
  local pid=$!
  wait_clients o && kill -KILL "$pid"
  wait "$pid"
  sleep 0.5 # the kernel reaps and frees asynchronously
  expect_nothing_left o/testbed.json tbkill
}

# --keep: the namespaces get names, the devices stay with their addresses,
# and the printed commands remove all of it.
t_keep_names_the_network_and_says_how_to_remove_it() {
  ping_run tbkeep '{"delay": {"dist": "constant", "ms": 1}}' "-c 2 -i 0.1" --keep
  expect_contains "$(cat out.txt)" "ip netns delete mqttsim-tbkeep-broker"
  expect_eq "$(ip netns list | grep -c '^mqttsim-tbkeep-')" 3
  expect_contains "$(ip -n mqttsim-tbkeep-c0.0 -o addr show tb0)" "inet 198.18.1.1 peer 198.18.0.1/32"
  expect_contains "$(ip -n mqttsim-tbkeep-broker -o addr show tb1)" "inet 198.18.0.1 peer 198.18.1.2/32"
  local cmd
  grep '^  ip netns delete mqttsim-tbkeep-' out.txt | while read -r cmd; do $cmd; done
  expect_eq "$(ls -d o/.scratch.* | wc -l)" 1 "(the broker's files kept)"
  expect_nothing_left o/testbed.json tbkeep
}

# The real clients: mqttsim client in every namespace, their reports
# combined into run's result files, one replication per network. Two
# replications of a QoS 1 pair over 10 ms each way: 2 x 20 messages, all
# delivered once, in results.json with the config's name and a CI.
t_mqttsim_clients_write_run_results() {
  tb_cfg tbcl '{"delay": {"dist": "constant", "ms": 10}}'
  tb tbcl.json --out o --reps 2 >out.txt 2>err.txt
  expect_eq "$?" 0 "$(cat err.txt)"
  expect_file o/results.json
  expect_file o/results.csv
  expect_contains "$(cat o/results.json)" '"name":	"tbcl"'
  expect_contains "$(cat o/results.json)" '"replications":	2'
  expect_contains "$(tr -d ' \t\n' < o/results.json)" '"pub_qos":1,"sub_qos":1,"qos":1,"published":20,"expected":20,"unique":20,"duplicates":0,"lost":0'
  expect_contains "$(cat o/results.json)" '"ci95"'
  expect_contains "$(cat o/testbed.json)" '"results":	"results.json, results.csv, latency_cdf.csv"'
  local r
  for r in 0 1; do
    expect_file "o/rep$r/c0.0/client.json"
    expect_contains "$(cat "o/rep$r/c0.0/client.json")" "\"rep\":	$r"
  done
  expect_contains "$(cat out.txt)" "  1   1   1         20         20         20          0          0"
  expect_nothing_left o/testbed.json tbcl
}

# A broker restart: Mosquitto killed (SIGKILL) at 1.5 s and a new one
# started 0.5 s later, the clients reconnecting (their backoff 200 ms); the
# record names both pids and times, both processes are gone at the end, and
# the broker's log holds both lives.
t_broker_restart_kills_and_restarts_mosquitto() {
  cat > tbrs.json <<'JSON'
{"name": "tbrs", "seed": 2, "duration_s": 3, "drain_s": 2,
 "link": {"delay": {"dist": "constant", "ms": 5}},
 "broker": {"restarts": [[1.5, 0.5]]},
 "clients": [
   {"role": "publisher", "topic": "t", "qos": 1, "rate_hz": 10, "reconnect": {"initial_ms": 200}},
   {"role": "subscriber", "clean_start": false, "reconnect": {"initial_ms": 200},
    "subscribe": [{"filter": "t", "qos": 1}]}]}
JSON
  tb tbrs.json --out o >out.txt 2>err.txt
  expect_eq "$?" 0 "$(cat err.txt)"
  local killed started ks ss
  killed=$(json_num o/testbed.json pid_killed); started=$(json_num o/testbed.json pid_started)
  ks=$(json_num o/testbed.json killed_s); ss=$(json_num o/testbed.json started_s)
  echo "    broker $killed killed at $ks s, $started started at $ss s"
  [ -n "$killed" ] && [ -n "$started" ] && [ "$killed" != "$started" ] || fail "pids killed '$killed', started '$started'"
  awk -v k="$ks" -v s="$ss" 'BEGIN {exit !(k >= 1.5 && k < 1.6 && s >= 2.0 && s < 2.1)}' || fail "killed at $ks s, started at $ss s; expected 1.5 and 2.0"
  for pid in $killed $started; do
    [ -d "/proc/$pid" ] && [ "$(awk '/^State/{print $2}' "/proc/$pid/status")" != Z ] && fail "broker $pid alive"
  done
  expect_eq "$(grep -c 'mosquitto version 2.* starting' o/rep0/broker.log)" 2 "(starts in the broker's log)"
  expect_contains "$(cat o/rep0/c1.0.log)" "connection to 198.18.0.1:1883 lost"
  expect_file o/results.json
  expect_nothing_left o/testbed.json tbrs
}

# --broker mqttsim: the engine's broker in the broker's namespace, with the
# config as resolved (a --set included: max_inflight 1), restarted too.
t_mqttsim_broker_runs_and_restarts() {
  tb_cfg tbmb '{"delay": {"dist": "constant", "ms": 5}}'
  tb tbmb.json --out o --broker mqttsim --set broker.max_inflight=1 --set 'broker.restarts=[[1, 0.3]]' >out.txt 2>err.txt
  expect_eq "$?" 0 "$(cat err.txt)"
  expect_contains "$(cat o/rep0/broker.log)" "mqttsim broker: listening on 198.18.0.1:1883"
  expect_contains "$(cat o/rep0/broker.log)" "max_inflight 1,"
  expect_eq "$(grep -c 'listening on' o/rep0/broker.log)" 2 "(the restarted broker's banner)"
  expect_contains "$(cat o/testbed.json)" '"broker":	"mqttsim"'
  expect_file o/results.json
  expect_nothing_left o/testbed.json tbmb
}

# --tcp linux: the kernel's loss recovery as shipped (SACK, timestamps,
# RACK, TLP, F-RTO on; no quickack); tcp.delayed_ack_ms 0 is then not
# applied, and said so.
t_linux_tcp_as_shipped() {
  ping_run tblx '{"delay": {"dist": "constant", "ms": 1}}' "-c 2 -i 0.1" --tcp linux
  expect_contains "$(cat o/rep0/c0.0/sysctl)" "1 1 1 "
  case "$(cat o/rep0/c0.0/route)" in *quickack*) fail "quickack in linux mode";; esac
  expect_contains "$(cat err.txt)" "warning: tcp.delayed_ack_ms: Linux has no setting for this value in --tcp linux mode"
  expect_contains "$(cat o/testbed.json)" '"tcp":	"linux"'
}

# Every test here builds network namespaces and TUN devices: root only. As
# another user the whole suite is reported as skipped, with the reason.
if [ "$(id -u)" != 0 ]; then
  t_skip_main "not root (uid $(id -u)): the testbed needs CAP_SYS_ADMIN and CAP_NET_ADMIN"
  exit 0
fi
for p in mosquitto mosquitto_sub ping ip setpriv capsh stdbuf; do
  command -v "$p" >/dev/null || PATH=$PATH:/usr/sbin command -v "$p" >/dev/null ||
    { t_skip_main "missing $p (make test installs mosquitto, mosquitto-clients, iputils-ping, iproute2, libcap2-bin)"; exit 0; }
done
t_main
