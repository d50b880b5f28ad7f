#!/usr/bin/env bash
# mqttsim sweep, merge and check end to end: validation, -j independence,
# resume after an interrupt, shards merged locally and through GNU parallel.
. "$(dirname "$0")/lib.sh"

# A tiny experiment: three publishers at QoS 0/1/2, one subscriber each.
# $1: duration in seconds (default 2).
base() {
  cat > base.json <<JSON
{"name": "tiny", "seed": 7, "replications": 2, "duration_s": ${1:-2}, "drain_s": 30,
 "transport": "datagram",
 "broker": {"retry_interval_ms": 100, "max_retries": -1},
 "link": {"loss": {"model": "bernoulli", "p": 0.1}, "delay": {"dist": "constant", "ms": 5}},
 "clients": [
   {"role": "publisher", "topic": "q/0", "qos": 0, "rate_hz": 10},
   {"role": "publisher", "topic": "q/1", "qos": 1, "rate_hz": 10},
   {"role": "publisher", "topic": "q/2", "qos": 2, "rate_hz": 10},
   {"role": "subscriber", "subscribe": [{"filter": "q/0", "qos": 0}]},
   {"role": "subscriber", "subscribe": [{"filter": "q/1", "qos": 1}]},
   {"role": "subscriber", "subscribe": [{"filter": "q/2", "qos": 2}]}]}
JSON
}

# s.json: 3 loss values x 2 methods, 2 replications = 12 jobs.
sweep() {
  base "$@"
  cat > s.json <<JSON
{"base": "base.json",
 "vary": {"link.loss.p": [0, 0.2, 0.4], "broker.qos2_method": ["A", "B"]}}
JSON
}

t_help() {
  out=$("$MQTTSIM" sweep --help)
  expect_eq "$?" 0 "(sweep --help)"
  expect_contains "$out" "--shard I/N"
  expect_contains "$("$MQTTSIM" merge --help)" "--out DIR"
}

t_check_prints_a_summary() {
  sweep
  out=$("$MQTTSIM" check s.json)
  expect_eq "$?" 0 "(exit status)"
  expect_contains "$out" "points: 6"
  expect_contains "$out" "link.loss.p: 3 values"
  expect_contains "$out" "replications: 2"
  expect_contains "$out" "jobs: 12"
  expect_no_file results
}

t_bad_vary_path_is_named() {
  base
  echo '{"base": "base.json", "vary": {"link.los.p": [0, 0.1]}}' > bad.json
  err=$("$MQTTSIM" sweep bad.json --out out 2>&1 >/dev/null)
  expect_eq "$?" 2 "(exit status)"
  expect_contains "$err" "link.los.p"
  expect_no_file out
  err=$("$MQTTSIM" check bad.json 2>&1 >/dev/null)
  expect_eq "$?" 2 "(check exit status)"
  expect_contains "$err" "link.los.p"
}

t_bad_value_names_point_and_key() {
  base
  echo '{"base": "base.json", "vary": {"link.loss.p": [0, 0.1, 1.5]}}' > bad.json
  err=$("$MQTTSIM" sweep bad.json --out out 2>&1 >/dev/null)
  expect_eq "$?" 2 "(exit status)"
  expect_contains "$err" "point 3 of 3 (link.loss.p=1.5)"
  expect_contains "$err" "link.loss.p"
  expect_no_file out
}

# Two keys that set one config key would label rows with values that never
# ran: both are named, before anything runs, by check too.
t_overlapping_vary_keys_are_rejected() {
  base
  echo '{"base": "base.json", "vary": {"link.loss.p": [0.1, 0.3], "link.loss": [{"model": "none"}]}}' > o.json
  err=$("$MQTTSIM" check o.json 2>&1 >/dev/null)
  expect_eq "$?" 2 "(check exit status)"
  expect_contains "$err" 'o.json: vary: keys "link.loss.p" and "link.loss" overlap'
  err=$("$MQTTSIM" sweep o.json --out out 2>&1 >/dev/null)
  expect_eq "$?" 2 "(sweep exit status)"
  expect_contains "$err" '"link.loss.p" and "link.loss"'
  expect_no_file out
  echo '{"base": "base.json", "vary": {"clients.1.qos": [0, 1], "clients.01.qos": [2]}}' > d.json
  err=$("$MQTTSIM" check d.json 2>&1 >/dev/null)
  expect_eq "$?" 2 "(check exit status, same key)"
  expect_contains "$err" 'd.json: vary: keys "clients.1.qos" and "clients.01.qos" name the same config key'
}

t_unknown_sweep_key_is_named() {
  base
  echo '{"base": "base.json", "vary": {"link.loss.p": [0]}, "replicatons": 3}' > bad.json
  err=$("$MQTTSIM" sweep bad.json --out out 2>&1 >/dev/null)
  expect_eq "$?" 2 "(exit status)"
  expect_contains "$err" '"replicatons"'
}

t_csv_layout_and_default_out() {
  sweep
  "$MQTTSIM" sweep s.json -j 2 >/dev/null 2>err.txt
  expect_eq "$?" 0 "(exit status; $(cat err.txt))"
  csv=results/s/sweep.csv
  expect_file "$csv"
  expect_contains "$(head -1 "$csv")" "link.loss.p,broker.qos2_method,replications,pub_qos,sub_qos,qos,published,"
  expect_contains "$(head -1 "$csv")" ",delivery_ratio_ci_lo,delivery_ratio_ci_hi,"
  expect_eq "$(wc -l < "$csv")" 19 "(1 header + 6 points x 3 QoS pairs)"
  # Grid order (first key slowest), then the QoS pair; strings without quotes.
  expect_eq "$(sed -n '2p;5p;8p' "$csv" | cut -d, -f1-6 | tr '\n' ' ')" \
            "0,A,2,0,0,0 0,B,2,0,0,0 0.2,A,2,0,0,0 "
  # Without loss everything arrives; QoS 0 at 40% loss per direction loses some.
  expect_eq "$(awk -F, 'NR>1 && $1==0 && $14!=1' "$csv" | wc -l)" 0 "(delivery_ratio 1 at loss 0)"
  expect_eq "$(awk -F, 'NR>1 && $1==0.4 && $4==0 && $14<0.6' "$csv" | wc -l)" 2
  expect_file results/s/sweep.json
  expect_file results/s/latency_cdf.csv
  expect_eq "$(ls results/s/jobs | wc -l)" 12
}

t_jobs_do_not_change_results() {
  sweep
  "$MQTTSIM" sweep s.json -j 1 --out j1 >/dev/null 2>&1
  "$MQTTSIM" sweep s.json -j 2 --out j2 >/dev/null 2>&1
  "$MQTTSIM" sweep s.json -j 5 --out j5 >/dev/null 2>&1
  cmp -s j1/sweep.csv j2/sweep.csv || fail "sweep.csv differs between -j 1 and -j 2"
  cmp -s j1/sweep.csv j5/sweep.csv || fail "sweep.csv differs between -j 1 and -j 5"
  cmp -s j1/latency_cdf.csv j2/latency_cdf.csv || fail "latency_cdf.csv differs"
  expect_file j1/sweep.csv
}

# Common random numbers: replication r of every point draws the same streams,
# so two points that differ only in the experiment's name (no random stream
# depends on it) give identical rows.
t_points_share_random_numbers() {
  base
  echo '{"base": "base.json", "replications": 2, "vary": {"link.loss.p": [0.3], "name": ["x", "y"]}}' > s.json
  "$MQTTSIM" sweep s.json --out out >/dev/null 2>&1
  expect_eq "$?" 0
  cmp -s <(sed -n '2,4p' out/sweep.csv | cut -d, -f3-) <(sed -n '5,7p' out/sweep.csv | cut -d, -f3-) ||
    fail "equal points gave different rows: $(cat out/sweep.csv | cut -c1-80)"
  expect_eq "$(cut -d, -f2 out/sweep.csv | tr '\n' ' ')" "name x x x y y y "
}

# A value given twice in vary would make two points of one sweep.csv row.
t_vary_refuses_a_repeated_value() {
  base
  echo '{"base": "base.json", "vary": {"link.loss.p": [0.3, 0.1, 0.30]}}' > s.json
  err=$("$MQTTSIM" check s.json 2>&1 >/dev/null)
  expect_eq "$?" 2 "(check exit status)"
  expect_contains "$err" 's.json: vary.link.loss.p: value 0.3 appears twice (values 1 and 3)'
  "$MQTTSIM" sweep s.json --out out >/dev/null 2>&1
  expect_eq "$?" 2 "(sweep exit status)"
  expect_no_file out
}

t_resume_after_deleting_jobs() {
  sweep
  "$MQTTSIM" sweep s.json --out full >/dev/null 2>&1
  cp -r full part
  rm -rf part/jobs/p0002-r01 part/jobs/p0005-r00 part/sweep.csv
  mkdir part/jobs/.tmp-p0006-r01     # a leftover of a killed run
  err=$("$MQTTSIM" sweep s.json --out part 2>&1 >/dev/null)
  expect_eq "$?" 0
  expect_contains "$err" "(2 run, 10 already done, 0 failed)"
  cmp -s full/sweep.csv part/sweep.csv || fail "resumed sweep.csv differs"
  expect_no_file part/jobs/.tmp-p0006-r01
}

# A job directory without its results.csv is incomplete: a rerun runs it
# again (it used to fail on every run), and merge replaces it.
t_job_dir_without_results_is_rerun() {
  sweep
  "$MQTTSIM" sweep s.json --out out >/dev/null 2>&1
  cp out/sweep.csv full.csv
  cp -r out a
  cp -r out b
  rm out/jobs/p0002-r01/results.csv out/sweep.csv
  err=$("$MQTTSIM" sweep s.json --out out 2>&1 >/dev/null)
  expect_eq "$?" 0 "(rerun: $err)"
  expect_contains "$err" "(1 run, 11 already done, 0 failed)"
  cmp -s full.csv out/sweep.csv || fail "rerun sweep.csv differs"
  expect_file out/jobs/p0002-r01/results.csv
  expect_no_file out/jobs/p0002-r01/stderr.log
  # merge: a lacks point 2; b has it; m holds an incomplete copy of one job.
  rm -rf a/jobs/p0002-r0* a/sweep.csv
  mkdir -p m
  cp a/sweep.json m/
  cp -r a/jobs m/
  cp -r b/jobs/p0002-r00 m/jobs/
  rm m/jobs/p0002-r00/results.csv
  err=$("$MQTTSIM" merge a b --out m 2>&1 >/dev/null)
  expect_eq "$?" 0 "(merge: $err)"
  cmp -s full.csv m/sweep.csv || fail "merged sweep.csv differs"
  # A source's incomplete job is no source: with b's copy damaged too, it is missing.
  rm -rf m
  rm b/jobs/p0002-r00/results.csv
  err=$("$MQTTSIM" merge a b --out m 2>&1 >/dev/null)
  expect_eq "$?" 1 "(merge with a job missing)"
  expect_contains "$err" "missing job p0002-r00"
  expect_contains "$err" "1 of 12 jobs are missing"
}

# A job whose files are not complete and consistent is run again by sweep and
# refused by merge, each reported with its parameters: a results.csv cut to
# its header, a results.json that does not parse, one of another replication
# or of another point, a latency_cdf.csv cut short.
t_damaged_jobs_are_rerun_and_refused() {
  sweep
  "$MQTTSIM" sweep s.json --out out >/dev/null 2>&1
  cp out/sweep.csv full.csv
  cp -r out a
  cp -r out b
  head -1 out/jobs/p0002-r01/results.csv > t && mv t out/jobs/p0002-r01/results.csv
  head -c 300 out/jobs/p0003-r00/results.json > t && mv t out/jobs/p0003-r00/results.json
  cp out/jobs/p0004-r00/results.json out/jobs/p0004-r01/results.json
  cp out/jobs/p0001-r00/* out/jobs/p0005-r00/
  head -c -1 out/jobs/p0006-r01/latency_cdf.csv > t && mv t out/jobs/p0006-r01/latency_cdf.csv
  rm out/sweep.csv
  err=$("$MQTTSIM" sweep s.json --out out 2>&1 >/dev/null)
  expect_eq "$?" 0 "(rerun: $err)"
  expect_contains "$err" "(5 run, 7 already done, 0 failed)"
  expect_contains "$err" "job p0002-r01 in out/jobs is damaged (results.csv has 0 QoS pair line(s), results.json 3 group(s)): point 2 (link.loss.p=0, broker.qos2_method=\"B\"), replication 1; running it again"
  expect_contains "$err" "job p0003-r00 in out/jobs is damaged (results.json is not valid JSON)"
  expect_contains "$err" "job p0004-r01 in out/jobs is damaged (results.json is not the run of this replication alone)"
  expect_contains "$err" "job p0005-r00 in out/jobs is damaged (results.json holds another config than this point's)"
  expect_contains "$err" "job p0006-r01 in out/jobs is damaged (latency_cdf.csv is cut short"
  cmp -s full.csv out/sweep.csv || fail "rerun sweep.csv differs"
  # merge: a's copy of a job is damaged, b's is whole: b's is taken.
  head -1 a/jobs/p0002-r01/results.csv > t && mv t a/jobs/p0002-r01/results.csv
  err=$("$MQTTSIM" merge a b --out m 2>&1 >/dev/null)
  expect_eq "$?" 0 "(merge: $err)"
  expect_contains "$err" "merge: job p0002-r01 in a/jobs is damaged (results.csv has 0 QoS pair line(s), results.json 3 group(s)): point 2 (link.loss.p=0, broker.qos2_method=\"B\"), replication 1; not copied"
  cmp -s full.csv m/sweep.csv || fail "merged sweep.csv differs"
  # With no whole copy anywhere the job is missing, and a damaged copy in the
  # output directory is removed rather than counted.
  rm -rf m
  "$MQTTSIM" merge a --out m >/dev/null 2>&1
  expect_eq "$?" 1 "(merge with the job damaged)"
  mkdir m/jobs/p0002-r01 && cp a/jobs/p0002-r01/* m/jobs/p0002-r01/
  err=$("$MQTTSIM" merge a --out m 2>&1 >/dev/null)
  expect_eq "$?" 1 "(merge again)"
  expect_contains "$err" "merge: job p0002-r01 in m/jobs is damaged"
  expect_contains "$err" "; removed"
  expect_contains "$err" "merge: missing job p0002-r01"
  expect_no_file m/jobs/p0002-r01
  expect_eq "$(grep -c '^0,B,' m/sweep.csv)" 0 "(the damaged point is left out of sweep.csv)"
}

# OUT/sweep.json runs the very jobs of the sweep that wrote it, also when the
# experiment has no "name" (it is named after its file, and inlined in
# sweep.json it would be named "sweep"): a resume from it, and a merge, find
# every job done.
t_recorded_sweep_runs_the_same_jobs() {
  base
  sed -i 's/"name": "tiny", //' base.json
  echo '{"base": "base.json", "vary": {"link.loss.p": [0, 0.2]}}' > s.json
  "$MQTTSIM" sweep s.json --shard 1/2 --out a >/dev/null 2>&1
  "$MQTTSIM" sweep s.json --shard 2/2 --out b >/dev/null 2>&1
  err=$("$MQTTSIM" merge a b --out m 2>&1 >/dev/null)
  expect_eq "$?" 0 "(merge: $err)"
  err=$("$MQTTSIM" sweep m/sweep.json --out m 2>&1 >/dev/null)
  expect_eq "$?" 0 "(resume from sweep.json: $err)"
  expect_contains "$err" "(0 run, 4 already done, 0 failed)"
  expect_eq "$(grep -c '"name":	"base"' m/jobs/p0001-r00/results.json)" 2 "(the experiment's name)"
  # An inline experiment without a name takes the sweep file's.
  { printf '{"vary": {"link.loss.p": [0, 0.2]}, "experiment": '; cat base.json; echo '}'; } > inl.json
  "$MQTTSIM" sweep inl.json --out i >/dev/null 2>&1
  err=$("$MQTTSIM" sweep i/sweep.json --out i 2>&1 >/dev/null)
  expect_eq "$?" 0 "(resume of the inline sweep: $err)"
  expect_contains "$err" "(0 run, 4 already done, 0 failed)"
}

t_resume_after_sigint() {
  sweep 3000    # jobs long enough to interrupt (~0.3 s each)
  "$MQTTSIM" sweep s.json -j 1 --out part >out.txt 2>err.txt &
  pid=$!
  for _ in $(seq 200); do
    [ "$(ls part/jobs 2>/dev/null | grep -c '^p')" -ge 2 ] && break
    sleep 0.05
  done
  kill -INT $pid
  wait $pid
  expect_eq "$?" 130 "(exit status after SIGINT)"
  expect_contains "$(cat err.txt)" "to resume, run again: mqttsim sweep s.json --out part"
  expect_eq "$(ls -A part/jobs | grep -c tmp)" 0 "(temporary job dirs left)"
  n=$(ls part/jobs | wc -l)
  [ "$n" -ge 2 ] && [ "$n" -lt 12 ] || fail "expected some but not all jobs finished, got $n"
  expect_no_file part/sweep.csv
  "$MQTTSIM" sweep s.json --out part >/dev/null 2>&1
  expect_eq "$?" 0 "(resumed run)"
  "$MQTTSIM" sweep s.json --out full >/dev/null 2>&1
  cmp -s full/sweep.csv part/sweep.csv || fail "resumed sweep.csv differs from an uninterrupted one"
}

# A terminal's Ctrl-C signals the whole process group, workers included: the
# jobs it stops are not failures, and the sweep resumes as after a plain SIGINT.
t_ctrl_c_to_the_process_group() {
  command -v setsid >/dev/null || { echo "    (setsid not installed: skipped)"; return 0; }
  base 3000    # jobs long enough to interrupt (~0.2 s each)
  echo '{"base": "base.json", "vary": {"link.loss.p": [0, 0.1, 0.2, 0.4]}}' > s.json
  # Started from a script, setsid runs mqttsim itself as a process group leader.
  setsid "$MQTTSIM" sweep s.json -j 2 --out part >out.txt 2>err.txt &
  pid=$!
  for _ in $(seq 200); do
    [ "$(ls part/jobs 2>/dev/null | grep -c '^p')" -ge 2 ] && break
    sleep 0.02
  done
  expect_eq "$(ps -o pgid= -p $pid | tr -d ' ')" "$pid" "(mqttsim leads its process group)"
  # mqttsim is paused while the signal lands, so that its workers die before
  # it next runs: the order a loaded machine often gives, made certain.
  kill -STOP "$pid"
  kill -INT -- -"$pid"
  sleep 0.2
  kill -CONT "$pid"
  wait $pid
  expect_eq "$?" 130 "(exit status after Ctrl-C)"
  grep -q failed err.txt && fail "stopped jobs reported as failed: $(cat err.txt)"
  expect_contains "$(cat err.txt)" "to resume, run again"
  n=$(ls part/jobs | grep -c '^p')
  [ "$n" -ge 2 ] && [ "$n" -lt 8 ] || fail "expected some but not all jobs finished, got $n"
  "$MQTTSIM" sweep s.json -j 2 --out part >/dev/null 2>err.txt
  expect_eq "$?" 0 "(resumed run: $(cat err.txt))"
  "$MQTTSIM" sweep s.json -j 2 --out full >/dev/null 2>&1
  cmp -s full/sweep.csv part/sweep.csv || fail "resumed sweep.csv differs from an uninterrupted one"
}

# A job that dies is reported with its parameters; the others go on, and
# running again retries just that job.
t_failed_job_is_reported() {
  command -v pgrep >/dev/null || { echo "    (pgrep not installed: skipped)"; return 0; }
  sweep 3000
  "$MQTTSIM" sweep s.json -j 1 --out out >/dev/null 2>err.txt &
  pid=$!
  # The worker to kill must be caught before its job is complete: it is
  # stopped first, and killed only if it is still running (state T, not a
  # zombie) with its job unfinished (with -j 1 the one .tmp- directory is its
  # job's, renamed away when complete). Otherwise it is let go and the next
  # worker is tried.
  killed=""
  for _ in $(seq 1000); do
    for child in $(pgrep -P $pid); do
      kill -STOP "$child" 2>/dev/null || continue
      state=$(awk '{print $3}' "/proc/$child/stat" 2>/dev/null)
      # A stopped process shows T once the signal is taken: wait for it.
      for _ in $(seq 100); do
        [ "$state" = T ] || [ "$state" = Z ] || [ -z "$state" ] && break
        sleep 0.01
        state=$(awk '{print $3}' "/proc/$child/stat" 2>/dev/null)
      done
      if [ "$state" = T ] && [ "$(ls -A out/jobs 2>/dev/null | grep -c '^\.tmp-')" -eq 1 ]; then
        kill -KILL "$child"
        kill -CONT "$child" 2>/dev/null
        killed=$child
        break
      fi
      kill -CONT "$child" 2>/dev/null
    done
    [ -n "$killed" ] && break
    sleep 0.01
  done
  [ -n "$killed" ] || fail "no running worker was caught"
  wait $pid
  expect_eq "$?" 1 "(exit status)"
  expect_contains "$(cat err.txt)" "failed (killed by signal 9): point "
  expect_contains "$(cat err.txt)" "(link.loss.p="
  expect_contains "$(cat err.txt)" "1 job(s) failed"
  expect_eq "$(ls out/jobs | wc -l)" 11 "(finished jobs)"
  expect_eq "$(ls -A out/jobs | grep -c tmp)" 0 "(temporary job dirs left)"
  expect_eq "$(wc -l < out/sweep.csv)" 16 "(the failed point is left out)"
  "$MQTTSIM" sweep s.json --out out >/dev/null 2>err.txt
  expect_eq "$?" 0 "(rerun)"
  expect_contains "$(cat err.txt)" "(1 run, 11 already done, 0 failed)"
  expect_eq "$(wc -l < out/sweep.csv)" 19
}

t_resume_refuses_another_sweep() {
  sweep
  "$MQTTSIM" sweep s.json --out out >/dev/null 2>&1
  sed -i 's/0.4\]/0.5]/' s.json
  err=$("$MQTTSIM" sweep s.json --out out 2>&1 >/dev/null)
  expect_eq "$?" 2 "(exit status)"
  expect_contains "$err" "different sweep"
  # So does a change in the base experiment.
  sed -i 's/0.5\]/0.4]/' s.json
  sed -i 's/"seed": 7/"seed": 8/' base.json
  err=$("$MQTTSIM" sweep s.json --out out 2>&1 >/dev/null)
  expect_eq "$?" 2 "(exit status after a base change)"
  # The order of the vary keys numbers the points: swapping them is another sweep.
  sed -i 's/"seed": 8/"seed": 7/' base.json
  echo '{"base": "base.json", "vary": {"broker.qos2_method": ["A", "B"], "link.loss.p": [0, 0.2, 0.4]}}' > s.json
  err=$("$MQTTSIM" sweep s.json --out out 2>&1 >/dev/null)
  expect_eq "$?" 2 "(exit status after swapping the vary keys)"
  expect_contains "$err" "different sweep"
}

# The same sweep worded differently is the same sweep: keys reordered in the
# base experiment and in cdf_point, or only a figure added. Resume and merge
# accept it and keep the sweep.json first recorded.
t_resume_accepts_an_equivalent_sweep() {
  sweep
  cat > s.json <<JSON
{"base": "base.json", "cdf_point": {"link.loss.p": 0.2, "broker.qos2_method": "B"},
 "vary": {"link.loss.p": [0, 0.2, 0.4], "broker.qos2_method": ["A", "B"]}}
JSON
  "$MQTTSIM" sweep s.json --out out >/dev/null 2>&1
  expect_eq "$?" 0 "(first run)"
  cp out/sweep.json recorded.json
  "$MQTTSIM" sweep s.json --shard 1/2 --out sh1 >/dev/null 2>&1
  cat > base.json <<JSON
{"transport": "datagram", "clients": [
   {"topic": "q/0", "role": "publisher", "rate_hz": 10, "qos": 0},
   {"role": "publisher", "topic": "q/1", "qos": 1, "rate_hz": 10},
   {"role": "publisher", "topic": "q/2", "qos": 2, "rate_hz": 10},
   {"subscribe": [{"qos": 0, "filter": "q/0"}], "role": "subscriber"},
   {"role": "subscriber", "subscribe": [{"filter": "q/1", "qos": 1}]},
   {"role": "subscriber", "subscribe": [{"filter": "q/2", "qos": 2}]}],
 "link": {"delay": {"ms": 5, "dist": "constant"}, "loss": {"p": 0.1, "model": "bernoulli"}},
 "broker": {"max_retries": -1, "retry_interval_ms": 100},
 "drain_s": 30, "duration_s": 2, "replications": 2, "seed": 7, "name": "tiny"}
JSON
  cat > s.json <<JSON
{"figures": ["cdf"], "vary": {"link.loss.p": [0, 0.2, 0.4], "broker.qos2_method": ["A", "B"]},
 "cdf_point": {"broker.qos2_method": "B", "link.loss.p": 0.2}, "base": "base.json"}
JSON
  # No gnuplot on PATH: the figure is only described, quickly.
  err=$(PATH=/nonexistent "$MQTTSIM" sweep s.json --out out 2>&1 >/dev/null)
  expect_eq "$?" 0 "(resume: $err)"
  expect_contains "$err" "(0 run, 12 already done, 0 failed)"
  cmp -s recorded.json out/sweep.json || fail "the recorded sweep.json changed"
  "$MQTTSIM" sweep s.json --shard 2/2 --out sh2 >/dev/null 2>&1
  err=$(PATH=/nonexistent "$MQTTSIM" merge sh1 sh2 --out m 2>&1 >/dev/null)
  expect_eq "$?" 0 "(merge: $err)"
  cmp -s out/sweep.csv m/sweep.csv || fail "merged sweep.csv differs"
  cmp -s out/latency_cdf.csv m/latency_cdf.csv || fail "merged latency_cdf.csv differs"
}

# A shard without points still writes sweep.csv's header.
t_empty_shard_writes_a_header() {
  sweep
  "$MQTTSIM" sweep s.json --shard 7/7 --out o >/dev/null 2>&1
  expect_eq "$?" 0 "(exit status)"
  expect_eq "$(cat o/sweep.csv)" "link.loss.p,broker.qos2_method,replications,pub_qos,sub_qos,qos"
}

t_shards_merge_to_the_unsharded_csv() {
  sweep
  "$MQTTSIM" sweep s.json --out full >/dev/null 2>&1
  "$MQTTSIM" sweep s.json --shard 1/2 --out sh1 >/dev/null 2>&1
  expect_eq "$?" 0 "(shard 1)"
  "$MQTTSIM" sweep s.json --shard 2/2 --out sh2 >/dev/null 2>&1
  # A shard's partial sweep.csv holds its own points: 1, 3, 5 for shard 1.
  expect_eq "$(ls sh1/jobs | tr '\n' ' ')" "p0001-r00 p0001-r01 p0003-r00 p0003-r01 p0005-r00 p0005-r01 "
  expect_eq "$(wc -l < sh1/sweep.csv)" 10
  grep -qxFf sh1/sweep.csv full/sweep.csv || fail "shard rows are not rows of the full sweep"
  "$MQTTSIM" merge sh1 sh2 --out merged >/dev/null 2>err.txt
  expect_eq "$?" 0 "(merge: $(cat err.txt))"
  cmp -s full/sweep.csv merged/sweep.csv || fail "merged sweep.csv differs from the unsharded one"
  cmp -s full/latency_cdf.csv merged/latency_cdf.csv || fail "merged latency_cdf.csv differs"
}

t_merge_reports_missing_jobs_and_fills_them() {
  sweep
  "$MQTTSIM" sweep s.json --out full >/dev/null 2>&1
  "$MQTTSIM" sweep s.json --shard 1/3 --out sh1 >/dev/null 2>&1
  "$MQTTSIM" sweep s.json --shard 3/3 --out sh3 >/dev/null 2>&1
  err=$("$MQTTSIM" merge sh1 sh3 --out m 2>&1 >/dev/null)
  expect_eq "$?" 1 "(exit status)"
  expect_contains "$err" "missing job p0002-r00: point 2 (link.loss.p=0, broker.qos2_method=\"B\"), replication 0"
  expect_contains "$err" "4 of 12 jobs are missing"
  # The merged directory resumes like any sweep output.
  "$MQTTSIM" sweep m/sweep.json --out m >/dev/null 2>&1
  expect_eq "$?" 0 "(filling the missing jobs)"
  cmp -s full/sweep.csv m/sweep.csv || fail "filled sweep.csv differs"
}

t_merge_refuses_different_sweeps() {
  sweep
  "$MQTTSIM" sweep s.json --shard 1/2 --out a >/dev/null 2>&1
  sed -i 's/0.4\]/0.5]/' s.json
  "$MQTTSIM" sweep s.json --shard 2/2 --out b >/dev/null 2>&1
  err=$("$MQTTSIM" merge a b --out m 2>&1 >/dev/null)
  expect_eq "$?" 2 "(exit status)"
  expect_contains "$err" "different sweeps"
  err=$("$MQTTSIM" merge nowhere --out m 2>&1 >/dev/null)
  expect_eq "$?" 2 "(not a sweep directory)"
  expect_contains "$err" "nowhere/sweep.json"
}

# The multi-machine recipe of docs/sweeps.md, with local shards.
t_gnu_parallel_shards() {
  command -v parallel >/dev/null || { echo "    (GNU parallel not installed: skipped)"; return 0; }
  sweep
  "$MQTTSIM" sweep s.json --out full >/dev/null 2>&1
  parallel --will-cite -j2 "$MQTTSIM" sweep s.json --shard {}/3 --out sh{} ::: 1 2 3 >/dev/null 2>&1
  expect_eq "$?" 0 "(parallel)"
  "$MQTTSIM" merge sh1 sh2 sh3 --out merged >/dev/null 2>&1
  expect_eq "$?" 0 "(merge)"
  cmp -s full/sweep.csv merged/sweep.csv || fail "parallel + merge differs from the unsharded sweep"
}

# An --out that is a file, or a directory another sweep is writing, is
# named as such (it used to be only "cannot lock").
t_unusable_out_is_named() {
  sweep
  touch afile
  err=$("$MQTTSIM" sweep s.json --out afile 2>&1 >/dev/null)
  expect_eq "$?" 2 "(sweep exit status)"
  expect_contains "$err" "mqttsim: afile: exists and is not a directory; choose another --out"
  err=$("$MQTTSIM" merge afile --out afile 2>&1 >/dev/null)
  expect_eq "$?" 2 "(merge exit status)"
  "$MQTTSIM" sweep s.json --out out >/dev/null 2>&1
  err=$("$MQTTSIM" merge out --out afile 2>&1 >/dev/null)
  expect_eq "$?" 2 "(merge into a file)"
  expect_contains "$err" "afile: exists and is not a directory"
  # The lock of a live sweep: this shell stands in for it, holding the lock
  # with its pid recorded as a sweep does.
  command -v flock >/dev/null || return 0
  exec 9<>out/.lock
  flock -n 9 || fail "could not take the lock"
  echo $$ > out/.lock
  err=$("$MQTTSIM" sweep s.json --out out 2>&1 >/dev/null)
  expect_eq "$?" 2 "(sweep into a locked directory)"
  expect_contains "$err" "out: another sweep or merge (pid $$) is writing to it"
  exec 9>&-
  "$MQTTSIM" sweep s.json --out out >/dev/null 2>&1
  expect_eq "$?" 0 "(once the lock is released)"
}

t_bad_shard_is_usage_error() {
  sweep
  "$MQTTSIM" sweep s.json --shard 4/3 --out o >/dev/null 2>&1
  expect_eq "$?" 2
  "$MQTTSIM" sweep s.json --shard 0/3 --out o >/dev/null 2>&1
  expect_eq "$?" 2
}

t_progress_only_on_a_terminal() {
  sweep
  "$MQTTSIM" sweep s.json --out a >/dev/null 2>err.txt
  expect_eq "$(tr -cd '\r' < err.txt | wc -c)" 0 "(carriage returns without a terminal)"
  expect_eq "$(wc -l < err.txt)" 1 "(one summary line: $(cat err.txt))"
  command -v script >/dev/null || return 0
  script -qec "\"$MQTTSIM\" sweep s.json --out b >/dev/null" /dev/null > tty.txt
  expect_contains "$(cat tty.txt)" "12/12 jobs, 6/6 points"
  expect_contains "$(cat tty.txt)" "ETA"
}

t_main
