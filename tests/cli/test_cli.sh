#!/usr/bin/env bash
# The command line: help texts, usage errors, and bad configs that must fail cleanly (exit 2, nothing written).
. "$(dirname "$0")/lib.sh"

# A valid config: one publisher, one subscriber.
good_config() {
  cat > "${1:-good.json}" <<'JSON'
{"name": "good",
 "link": {"loss": {"model": "bernoulli", "p": 0.1}, "delay": {"dist": "constant", "ms": 10}},
 "clients": [
   {"role": "publisher", "topic": "t/1", "qos": 1, "rate_hz": 10},
   {"role": "subscriber", "subscribe": [{"filter": "t/#", "qos": 1}]}]}
JSON
}

# run_cli ARGS...: runs mqttsim, leaving $rc, $out (stdout) and $err (stderr).
run_cli() {
  "$MQTTSIM" "$@" >stdout.txt 2>stderr.txt
  rc=$?
  out=$(cat stdout.txt)
  err=$(cat stderr.txt)
}

# bad_run FILE MESSAGE [ARGS...]: `run FILE --out out ARGS` must exit 2, say
# MESSAGE on stderr and write nothing (neither out/ nor the default results/).
bad_run() {
  local file=$1 msg=$2
  shift 2
  run_cli run "$file" --out out "$@"
  expect_eq "$rc" 2 "(exit status of run $file $*)"
  expect_contains "$err" "$msg"
  expect_eq "$out" "" "(stdout of a failed run)"
  expect_no_file out
  expect_no_file results
}

# ---------------------------------------------------------------- help --

t_main_help_lists_every_command() {
  for h in --help -h help; do
    run_cli $h
    expect_eq "$rc" 0 "(exit status of mqttsim $h)"
    for c in run sweep merge trace check; do expect_contains "$out" "  $c "; done
    expect_contains "$out" "Exit status"
  done
  run_cli --version
  expect_eq "$rc" 0
  expect_contains "$out" "mqttsim "
}

t_each_command_has_help_with_its_options() {
  local opts
  for c in run sweep merge trace check; do
    case $c in
      run) opts="--set --seed --reps --rep-index --out --quiet" ;;
      sweep) opts="-j --jobs --out --shard" ;;
      merge) opts="--out" ;;
      trace) opts="--messages --set --seed" ;;
      check) opts="--help" ;;
    esac
    run_cli "$c" --help
    expect_eq "$rc" 0 "(exit status of $c --help)"
    expect_contains "$out" "usage: mqttsim $c"
    for o in $opts; do expect_contains "$out" "$o"; done
    local direct=$out
    run_cli help "$c"
    expect_eq "$rc" 0 "(exit status of help $c)"
    expect_eq "$out" "$direct" "(help $c differs from $c --help)"
    run_cli "$c" -h
    expect_eq "$out" "$direct" "($c -h differs from $c --help)"
  done
  # --help wins over anything else on the line, even a missing file.
  run_cli run nothing.json --help
  expect_eq "$rc" 0
  expect_no_file out
}

# ---------------------------------------------------------- bad usage --

t_no_arguments_is_bad_usage() {
  run_cli
  expect_eq "$rc" 2
  expect_contains "$err" "usage: mqttsim COMMAND"
}

t_unknown_command_is_bad_usage() {
  run_cli frobnicate x.json
  expect_eq "$rc" 2
  expect_contains "$err" "unknown command 'frobnicate'"
  run_cli help frobnicate
  expect_eq "$rc" 2
  expect_contains "$err" "unknown command 'frobnicate'"
  run_cli --frobnicate
  expect_eq "$rc" 2
  expect_contains "$err" "unknown option '--frobnicate'"
}

t_unknown_option_is_bad_usage() {
  good_config
  run_cli run good.json --out out --frobnicate
  expect_eq "$rc" 2
  expect_contains "$err" "mqttsim run: unknown option '--frobnicate'"
  expect_contains "$err" "usage: mqttsim run CONFIG"
  expect_no_file out
  run_cli run good.json -x
  expect_eq "$rc" 2
  expect_contains "$err" "unknown option '-x'"
  run_cli check good.json --quiet
  expect_eq "$rc" 2
  expect_contains "$err" "mqttsim check: unknown option '--quiet'"
  run_cli run good.json --quiet=yes --out out
  expect_eq "$rc" 2
  expect_contains "$err" "option '--quiet' takes no value"
  expect_no_file out
}

t_missing_arguments_are_bad_usage() {
  good_config
  run_cli run
  expect_eq "$rc" 2
  expect_contains "$err" "mqttsim run: missing the CONFIG file"
  expect_contains "$err" "usage: mqttsim run CONFIG"
  run_cli run good.json --out out --seed
  expect_eq "$rc" 2
  expect_contains "$err" "option '--seed' needs a value"
  expect_no_file out
  run_cli run good.json good.json --out out
  expect_eq "$rc" 2
  expect_contains "$err" "expected one CONFIG file, got 2 arguments"
  expect_no_file out
  run_cli run good.json --out=
  expect_eq "$rc" 2
  expect_contains "$err" "option '--out' needs a non-empty value"
  run_cli trace
  expect_eq "$rc" 2
  expect_contains "$err" "mqttsim trace: missing the CONFIG file"
  run_cli sweep
  expect_eq "$rc" 2
  expect_contains "$err" "mqttsim sweep: missing the SWEEP file"
  run_cli check
  expect_eq "$rc" 2
  expect_contains "$err" "mqttsim check: missing the CONFIG or SWEEP file"
  run_cli merge a b
  expect_eq "$rc" 2
  expect_contains "$err" "mqttsim merge: missing --out DIR"
  run_cli merge --out m
  expect_eq "$rc" 2
  expect_contains "$err" "missing the sweep output directories"
  expect_no_file m
}

t_bad_option_values_are_bad_usage() {
  good_config
  printf '{"base": "good.json", "vary": {"link.loss.p": [0, 0.1]}}\n' > s.json
  local args msg
  while IFS='|' read -r args msg; do
    # shellcheck disable=SC2086
    run_cli $args
    expect_eq "$rc" 2 "(exit status of: $args)"
    expect_contains "$err" "$msg"
    expect_contains "$err" "usage: mqttsim"
  done <<'CASES'
run good.json --out out --reps 0|--reps: expected an integer from 1 to 1000000, got '0'
run good.json --out out --reps=two|--reps: expected an integer from 1 to 1000000, got 'two'
run good.json --out out --seed -1|--seed: expected an integer from 0 to 9007199254740991, got '-1'
run good.json --out out --seed 9007199254740992|--seed: expected an integer from 0 to 9007199254740991
run good.json --out out --rep-index x|--rep-index: expected an integer replication index >= 0, got 'x'
run good.json --out out --rep-index 1|--rep-index 1: out of range, the config has 1 replication (indices 0 to 0)
run --rep-index=3 --reps 3 good.json --out out|--rep-index 3: out of range, the config has 3 replications (indices 0 to 2)
trace good.json --messages 0|--messages: expected an integer >= 1, got '0'
trace good.json -n -3|-n: expected an integer >= 1, got '-3'
sweep s.json -j 0|-j: expected a number of jobs from 1 to 4096, got '0'
sweep s.json -jx|-j: expected a number of jobs from 1 to 4096, got 'x'
sweep s.json --shard 0/2|--shard: expected I/N with 1 <= I <= N (e.g. 2/4), got '0/2'
sweep s.json --shard 3/2|--shard: expected I/N with 1 <= I <= N (e.g. 2/4), got '3/2'
sweep s.json --shard=2|--shard: expected I/N with 1 <= I <= N (e.g. 2/4), got '2'
sweep s.json --shard 1/x|--shard: expected I/N with 1 <= I <= N (e.g. 2/4), got '1/x'
sweep s.json --shard /2|--shard: expected I/N with 1 <= I <= N (e.g. 2/4), got '/2'
CASES
  expect_no_file out
}

# ------------------------------------------------------------ bad configs --

t_bad_json_gives_line_and_column() {
  printf '{\n  "name": "x",\n  "seed": 1 2\n}\n' > bad.json
  bad_run bad.json "bad.json:3:13: invalid JSON near '2'"
}

t_unknown_key_gives_did_you_mean() {
  good_config
  sed 's/"rate_hz"/"rate_h"/' good.json > typo.json
  bad_run typo.json "typo.json: clients.0.rate_h: unknown key; did you mean 'rate_hz'?"
  sed 's/"name"/"colour"/' good.json > odd.json
  bad_run odd.json "odd.json: colour: unknown key; expected one of: name, seed,"
}

t_wrong_type_names_key_and_expectation() {
  good_config
  sed 's/"qos": 1, "rate_hz"/"qos": "high", "rate_hz"/' good.json > type.json
  bad_run type.json 'type.json: clients.0.qos: expected an integer 0, 1 or 2, got "high"'
  sed 's/"ms": 10/"ms": "10"/' good.json > type2.json
  bad_run type2.json 'type2.json: link.delay.ms: expected a number of milliseconds from 0 to 1e9, got "10"'
}

t_probability_outside_0_1() {
  good_config
  sed 's/"p": 0.1/"p": 1.5/' good.json > p.json
  bad_run p.json "p.json: link.loss.p: expected a probability, a number from 0 to 1, got 1.5"
  bad_run good.json "--set: link.loss.p: expected a probability, a number from 0 to 1, got -0.1" \
    --set link.loss.p=-0.1
}

t_negative_rate() {
  good_config
  sed 's/"rate_hz": 10/"rate_hz": -10/' good.json > rate.json
  bad_run rate.json "rate.json: clients.0.rate_hz: expected a rate in messages per second > 0 and <= 1e9, got -10"
}

t_unknown_loss_model() {
  good_config
  sed 's/"bernoulli"/"burst"/' good.json > model.json
  bad_run model.json 'model.json: link.loss.model: expected a loss model (one of "none", "bernoulli", "gilbert_elliott"), got "burst"'
  bad_run good.json 'did you mean "gilbert_elliott"?' --set link.loss.model=gilbert-elliott
}

t_bad_set_path() {
  good_config
  bad_run good.json "--set: link.los: unknown key; did you mean 'loss'?" --set link.los.p=0.2
  bad_run good.json "--set: clients.7: no such element (clients has 2)" --set clients.7.qos=1
  bad_run good.json "--set: expected key.path=value, got 'qos'" --set qos
  bad_run good.json "--set: clients.0.qos: expected an integer 0, 1 or 2, got 3" --set=clients.0.qos=3
  run_cli trace good.json --set link.delay.mss=1
  expect_eq "$rc" 2
  expect_contains "$err" "--set: link.delay.mss: unknown key; did you mean 'ms'?"
}

t_missing_file() {
  bad_run nothing.json "nothing.json: cannot read: No such file or directory"
  run_cli check nothing.json
  expect_eq "$rc" 2
  expect_contains "$err" "nothing.json: cannot read: No such file or directory"
}

t_no_publisher_is_an_error() {
  cat > nopub.json <<'JSON'
{"clients": [{"role": "subscriber", "subscribe": [{"filter": "#", "qos": 0}]}]}
JSON
  bad_run nopub.json "nopub.json: clients: expected at least one publisher and one subscriber, got 0 publishers and 1 subscriber"
}

t_run_on_a_sweep_file_says_so() {
  good_config
  printf '{"base": "good.json", "vary": {"link.loss.p": [0, 0.1]}}\n' > s.json
  bad_run s.json "looks like a sweep file: try 'mqttsim sweep s.json'"
}

# --------------------------------------------------------------- check --

t_check_good_config() {
  good_config
  run_cli check good.json
  expect_eq "$rc" 0
  expect_eq "$out" "good.json: ok (good: 1 publisher, 1 subscriber, duration 10 s, 1 replication)"
  expect_eq "$err" ""
  cat > many.json <<'JSON'
{"duration_s": 2.5, "replications": 3,
 "clients": [{"role": "publisher", "count": 4, "topic": "a"},
             {"role": "publisher", "topic": "b"},
             {"role": "subscriber", "count": 2, "subscribe": [{"filter": "#", "qos": 2}]}]}
JSON
  run_cli check many.json
  expect_eq "$rc" 0
  expect_eq "$out" "many.json: ok (many: 5 publishers, 2 subscribers, duration 2.5 s, 3 replications)"
}

t_check_bad_config() {
  good_config
  sed 's/"t\/1"/"t\/+"/' good.json > wild.json
  run_cli check wild.json
  expect_eq "$rc" 2
  expect_contains "$err" "wild.json: clients.0.topic: expected a topic name (a non-empty string without '+' or '#'), got \"t/+\""
  expect_eq "$out" ""
}

# A file with a top-level "vary" goes to the sweep checker, not the config loader.
t_check_sends_sweeps_to_the_sweep_checker() {
  good_config
  printf '{"base": "good.json", "vary": {"link.loss.p": [0, 0.1]}}\n' > s.json
  run_cli check s.json
  case "$err$out" in *"vary: unknown key"*) fail "check loaded a sweep as a config: $err";; esac
  return 0
}

# -------------------------------------------------------- help config --

t_help_config_lists_every_key() {
  run_cli help config
  expect_eq "$rc" 0
  expect_eq "$err" ""
  for k in name seed duration_s broker.max_inflight link.loss.p link.delay.shape link.up \
           clients.N.topic clients.N.subscribe.N.filter clients.N.qos2_method; do
    expect_contains "$out" "
$k
"
  done
  expect_contains "$out" "default: 1000"
  run_cli help config --markdown
  expect_eq "$rc" 0
  expect_contains "$out" '| `broker.max_queued` | 1000 |'
  run_cli help config --frobnicate
  expect_eq "$rc" 2
  expect_contains "$err" "usage: mqttsim help config [--markdown]"
}

# docs/config.md's table is the program's own: `make docs` regenerates it.
t_docs_table_is_current() {
  bash "$MQTTSIM_ROOT/mk/docs.sh" "$MQTTSIM" --check 2>check.txt
  expect_eq "$?" 0 "(docs/config.md is stale: run 'make docs'; $(head -5 check.txt))"
  # And the check does fail on a stale table.
  mkdir -p repo/mk repo/docs
  cp "$MQTTSIM_ROOT/mk/docs.sh" repo/mk/
  sed 's/^| `seed` | 1 |/| `seed` | 2 |/' "$MQTTSIM_ROOT/docs/config.md" > repo/docs/config.md
  bash repo/mk/docs.sh "$MQTTSIM" --check 2>/dev/null
  expect_eq "$?" 1 "(a stale table must fail the check)"
}

# ------------------------------------------------------------ wave 2 keys --

# {i} gives each client of a group its own topic: 5 publishers on dev/0..4,
# 5 subscribers each on one of them, so every message has one receiver (with
# the pattern taken literally, each would have five).
t_fleet_patterns_expand_per_client() {
  cat > fleet.json <<'JSON'
{"name": "fleet", "duration_s": 1, "drain_s": 1, "clients": [
 {"role": "publisher", "count": 5, "topic": "dev/{i}", "qos": 1, "rate_hz": 10},
 {"role": "subscriber", "count": 5, "subscribe": [{"filter": "dev/{i}", "qos": 1}]}]}
JSON
  run_cli run fleet.json --out out -q
  expect_eq "$rc" 0 "($err)"
  local got
  got=$(python3 -c 'import json,sys; g=json.load(open("out/results.json"))["groups"]; print(sum(x["published"] for x in g), sum(x["expected"] for x in g), sum(x["unique"] for x in g))')
  expect_eq "$got" "50 50 50"
  expect_contains "$(cat out/results.json)" '"topic":	"dev/{i}"'
}

# A fleet's config costs memory by its entries, not by the clients they
# expand to: 200,000 clients in two entries load and check within an
# address space far smaller than 200,000 copies of an entry (each client's
# resolved entry, exp_client, is 792 bytes: 158 MB) would need; a 2,000-pair
# fleet at 10% loss runs with each message reaching its own subscriber.
t_fleet_config_costs_its_entries() {
  cat > big.json <<'JSON'
{"name": "big", "duration_s": 100, "transport": "datagram", "clients": [
 {"role": "publisher", "count": 100000, "topic": "fleet/{i}/temp", "qos": 1, "rate_hz": 0.01},
 {"role": "subscriber", "count": 100000, "subscribe": [{"filter": "fleet/{i}/temp", "qos": 1}]}]}
JSON
  # AddressSanitizer reserves its shadow memory up front, far past 60 MB:
  # the sanitizer build checks the fleet without the address-space cap.
  if [ -n "${MQTTSIM_ASAN:-}" ]; then
    "$MQTTSIM" check big.json >out.txt 2>err.txt
  else
    ( ulimit -v 60000; exec "$MQTTSIM" check big.json ) >out.txt 2>err.txt
  fi
  expect_eq "$?" 0 "(check under a 60 MB address space: $(cat err.txt))"
  expect_contains "$(cat out.txt)" "100000 publishers, 100000 subscribers"
  run_cli run big.json --out out -q --set clients.0.count=2000 --set clients.1.count=2000 \
    --set clients.0.rate_hz=0.5 --set duration_s=4 --set drain_s=60 \
    --set link.loss.model=bernoulli --set link.loss.p=0.1
  expect_eq "$rc" 0 "($err)"
  expect_eq "$(sed -n 2p out/results.csv | cut -d, -f7-9,11)" "4000,4000,4000,0" \
    "(published, expected, unique, lost)"
}

# A key the simulator does not use yet is accepted, named in a warning, and
# left out of the resolved config.
t_fault_and_persistence_keys_are_simulated() {
  good_config
  # Every key is simulated now: set, it is used, written, and warned of never.
  run_cli run good.json --out out -q --set broker.persistence=true \
    --set broker.autosave_interval_s=0 --set clients.0.resets=[5]
  expect_eq "$rc" 0 "($err)"
  expect_eq "$err" ""
  expect_contains "$(cat out/results.json)" '"persistence":	true'
  expect_contains "$(cat out/results.json)" '"autosave_interval_s":	0'
  expect_contains "$(cat out/results.json)" '"resets":	[5]'
  run_cli run good.json --out out2 -q --set transport=datagram --set clients.0.keepalive_s=5
  expect_eq "$rc" 0 "($err)"
  expect_eq "$err" ""
  expect_contains "$(cat out2/results.json)" '"transport":	"datagram"'
  expect_contains "$(cat out2/results.json)" '"keepalive_s":	5' 
}

# ------------------------------------------------- values a run cannot do --

# A time that rounds to 0 ns passed check, then aborted the run (SIGABRT) and
# left an empty output directory.
t_time_that_rounds_to_0_ns_fails_cleanly() {
  good_config
  bad_run good.json "--set: broker.retry_interval_ms: expected a number of milliseconds > 0 and <= 1e9, got 1e-07, which rounds to 0 ns" \
    --set broker.retry_interval_ms=1e-7
  run_cli check good.json --set clients.0.retry_interval_ms=1e-7
  expect_eq "$rc" 2
  expect_contains "$err" "--set: clients.0.retry_interval_ms: expected a number of milliseconds"
}

t_check_takes_set_seed_and_reps() {
  good_config
  run_cli check good.json --set clients.0.qos=2 --reps 3 --seed 7
  expect_eq "$rc" 0 "($err)"
  expect_eq "$out" "good.json: ok (good: 1 publisher, 1 subscriber, duration 10 s, 3 replications)"
  run_cli check good.json --set clients.0.qos=3
  expect_eq "$rc" 2
  expect_contains "$err" "--set: clients.0.qos: expected an integer 0, 1 or 2, got 3"
  expect_eq "$out" ""
  printf '{"base": "good.json", "vary": {"link.loss.p": [0, 0.1]}}\n' > s.json
  run_cli check s.json --set seed=2
  expect_eq "$rc" 2
  expect_contains "$err" "mqttsim check: --set applies to a config, not to a sweep file"
}

t_seed_and_reps_take_what_set_takes() {
  good_config
  run_cli run good.json --out out -q --seed 1e3 --reps 2e0
  expect_eq "$rc" 0 "($err)"
  expect_contains "$(cat out/results.json)" '"seed":	1000,'
  expect_contains "$(cat out/results.json)" '"replications":	2,'
}

t_runs_that_measure_nothing_warn() {
  good_config
  run_cli check good.json --set clients.1.subscribe.0.filter=u/#
  expect_eq "$rc" 0
  expect_eq "$err" "warning: good.json: no subscriber's filter matches any publisher's topic: the run will measure nothing"
  run_cli run good.json --out out -q --set clients.1.subscribe.0.filter=u/#
  expect_eq "$rc" 0
  expect_contains "$err" "no subscriber's filter matches any publisher's topic"
  run_cli check good.json --set clients.0.rate_hz=0.01 --set duration_s=10
  expect_eq "$err" "warning: good.json: the publishers are expected to publish 0.1 messages in all (rate_hz x duration_s): the run may measure nothing"
  run_cli check good.json
  expect_eq "$err" ""
}

t_check_states_what_a_large_fleet_costs() {
  good_config
  run_cli check good.json --set clients.1.count=100000
  expect_eq "$rc" 0
  expect_contains "$out" "note: 100001 clients need about 1 GB of memory while they run (about 12.7 KB each at QoS 1 and 2)"
  run_cli check good.json --set clients.1.count=100000 --set clients.0.qos=0 --set clients.1.subscribe.0.qos=0
  expect_contains "$out" "note: 100001 clients need about 1 GB of memory while they run (about 10.7 KB each at QoS 0)"
  # over datagrams a client has no TCP path: 4.1 KB, so 100,000 stay under a gigabyte
  run_cli check good.json --set clients.1.count=300000 --set transport=datagram
  expect_contains "$out" "note: 300001 clients need about 1 GB of memory while they run (about 4.1 KB each at QoS 1 and 2)"
  run_cli check good.json --set clients.1.count=100000 --set transport=datagram
  expect_eq "$out" "good.json: ok (good: 1 publisher, 100000 subscribers, duration 10 s, 1 replication)"
  run_cli check good.json --set clients.1.count=1000
  expect_eq "$out" "good.json: ok (good: 1 publisher, 1000 subscribers, duration 10 s, 1 replication)"
  run_cli check good.json --set clients.1.count=1000000
  expect_eq "$rc" 2
  expect_contains "$err" "good.json: clients: expected at most 1000000 clients in all, got 1000001"
}

# A sweep whose base is itself a sweep file was told "base: unknown key".
t_sweep_file_as_base_says_so() {
  good_config
  printf '{"base": "good.json", "vary": {"link.loss.p": [0, 0.1]}}\n' > s.json
  printf '{"base": "s.json", "vary": {"seed": [1, 2]}}\n' > s2.json
  run_cli check s2.json
  expect_eq "$rc" 2
  expect_contains "$err" "s.json: a sweep file (it has a top-level \"vary\"), not an experiment config"
}

t_main
