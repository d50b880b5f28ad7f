#!/usr/bin/env bash
# Interrupted sweeps: SIGKILL of the sweep alone, of its whole process group,
# and SIGTERM, at seeded random moments; the resumed sweep.csv is byte-identical
# to an uninterrupted run's, with no false failure.
. "$(dirname "$0")/lib.sh"

# s.json: 4 points x 2 replications = 8 jobs of about 0.1 s (shorter under
# AddressSanitizer, which is slower), and ref/, the uninterrupted sweep.
setup() {
  local duration=1000
  [ -n "${MQTTSIM_ASAN:-}" ] && duration=300
  cat > base.json <<JSON
{"name": "i", "seed": 5, "replications": 2, "duration_s": $duration, "drain_s": 30,
 "transport": "datagram",
 "broker": {"retry_interval_ms": 100, "max_retries": -1},
 "link": {"loss": {"model": "bernoulli", "p": 0.1}, "delay": {"dist": "constant", "ms": 5}},
 "clients": [
   {"role": "publisher", "topic": "q/1", "qos": 1, "rate_hz": 10},
   {"role": "publisher", "topic": "q/2", "qos": 2, "rate_hz": 10},
   {"role": "subscriber", "subscribe": [{"filter": "q/#", "qos": 2}]}]}
JSON
  echo '{"base": "base.json", "vary": {"link.loss.p": [0, 0.1, 0.2, 0.3]}}' > s.json
  "$MQTTSIM" sweep s.json -j 2 --out ref >/dev/null 2>&1 || fail "the reference sweep failed"
}

# Waits (at most 60 s) until process $1 has finished at least $2 jobs and is
# running one (a .tmp- job directory exists), or has exited. Returns 1 on
# timeout.
wait_for_moment() {
  local pid=$1 k=$2 i
  for i in $(seq 3000); do
    kill -0 "$pid" 2>/dev/null || return 0
    if [ "$(ls out/jobs 2>/dev/null | grep -c '^p')" -ge "$k" ] &&
       [ "$(ls -A out/jobs 2>/dev/null | grep -c '^\.tmp-')" -ge 1 ]; then
      return 0
    fi
    sleep 0.02
  done
  return 1
}

# One trial: starts the sweep as the leader of its own process group, waits
# for a moment drawn from seed $2 (0 to 6 finished jobs, a job running, then 0
# to 99 ms more), sends signal $1 to the sweep alone or, with $3 = group, to
# its group, then resumes and compares. Whatever is left of the group is
# killed by its id at the end.
trial() {
  local sig=$1 seed=$2 how=${3:-alone} pid rc k ms
  command -v setsid >/dev/null || { echo "    (setsid not installed: skipped)"; return 0; }
  RANDOM=$seed
  k=$((RANDOM % 7))
  ms=$((RANDOM % 100))
  rm -rf out
  setsid "$MQTTSIM" sweep s.json -j 2 --out out >/dev/null 2>first.txt &
  pid=$!
  wait_for_moment "$pid" "$k" || fail "seed $seed: the sweep never reached $k finished jobs and a running one"
  sleep "$(printf '0.%03d' "$ms")"
  if [ "$how" = group ]; then kill "-$sig" -- "-$pid" 2>/dev/null; else kill "-$sig" "$pid" 2>/dev/null; fi
  { wait "$pid"; } 2>/dev/null
  rc=$?
  case "$sig" in
    # 143 only when the signal came after the sweep had finished and given
    # its handlers back (its summary line is written): the default action
    # then, with nothing left undone.
    TERM) [ "$rc" -eq 130 ] || [ "$rc" -eq 0 ] ||
            { [ "$rc" -eq 143 ] && grep -qE '^mqttsim: sweep s: 8 jobs \(.*, 0 failed\) in ' first.txt; } ||
            fail "seed $seed: exit status $rc after SIGTERM: $(cat first.txt)" ;;
    KILL) [ "$rc" -eq 137 ] || [ "$rc" -eq 0 ] || fail "seed $seed: exit status $rc after SIGKILL" ;;
  esac
  grep -qE 'failed \(|job\(s\) failed' first.txt && fail "seed $seed: the interrupted sweep reported failures: $(cat first.txt)"
  # At once, as a user might: the resume must wait for, or find gone, every
  # worker of the killed sweep.
  "$MQTTSIM" sweep s.json -j 2 --out out >/dev/null 2>resume.txt
  rc=$?
  expect_eq "$rc" 0 "(seed $seed, SIG$sig $how: resume exit status; $(cat resume.txt))"
  grep -qE 'failed \(|job\(s\) failed' resume.txt && fail "seed $seed: false failures on resume: $(cat resume.txt)"
  cmp -s ref/sweep.csv out/sweep.csv || fail "seed $seed, SIG$sig $how: resumed sweep.csv differs from the uninterrupted one"
  expect_eq "$(ls -A out/jobs | grep -c tmp)" 0 "(seed $seed: temporary job directories left)"
  # The workers died with the sweep: nothing of its group runs any more
  # (zombies are dead; where no init reaps orphans they stay listed).
  if command -v ps >/dev/null; then
    expect_eq "$(ps -o stat= -g "$pid" | grep -vc '^Z')" 0 "(seed $seed: processes of the killed sweep still run)"
  fi
  kill -KILL -- "-$pid" 2>/dev/null
  return 0
}

t_sigkill_of_the_sweep_alone() {
  setup
  for seed in 11 12 13 14; do trial KILL "$seed"; done
}

t_sigkill_of_the_process_group() {
  setup
  for seed in 21 22 23; do trial KILL "$seed" group; done
}

t_sigterm() {
  setup
  for seed in 31 32 33; do trial TERM "$seed"; done
}

# A SIGTERM after the last job, while the figures are drawn: the sweep
# finishes sweep.csv and its figures, then exits 130 (it used to die of the
# signal, exit 143, with the handlers already restored).
t_sigterm_after_the_last_job_finishes_the_results() {
  command -v gnuplot >/dev/null || { echo "    (gnuplot not installed: skipped)"; return 0; }
  setup
  echo '{"base": "base.json", "vary": {"link.loss.p": [0, 0.1, 0.2, 0.3]}, "figures": ["delivery", "duplicates", "latency", "wire", "transport"]}' > s.json
  rm -rf out
  "$MQTTSIM" sweep s.json -j 2 --out out >/dev/null 2>err.txt &
  local pid=$! i rc
  for i in $(seq 3000); do
    [ -f out/sweep.csv ] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.01
  done
  kill -TERM "$pid" 2>/dev/null
  { wait "$pid"; } 2>/dev/null
  rc=$?
  if [ "$rc" = 0 ]; then
    echo "    (the sweep was done before the signal came: nothing to check)"
    return 0
  fi
  expect_eq "$rc" 130 "($(cat err.txt))"
  expect_contains "$(cat err.txt)" "interrupted after the last job"
  cmp -s ref/sweep.csv out/sweep.csv || fail "sweep.csv differs from the uninterrupted one"
}

t_main
