#!/usr/bin/env bash
# `make run`: the default sweep (QoS 0, 1 and 2 against packet loss) and its figures.
# Usage: bash mk/run.sh BUILD_DIR
set -eu
B=${1:-build}
S=experiments/qos-vs-loss.json
OUT=results/qos-vs-loss
# Start afresh: a sweep resumes from the job results it finds, and those may
# come from an older build of the simulator.
rm -rf "$OUT"
start=$(date +%s)
"$B/mqttsim" sweep "$S" --out "$OUT"
secs=$(( $(date +%s) - start ))
cat <<MSG

Sweep $S finished in ${secs} s.
  data:    $OUT/sweep.csv (one row per loss value and QoS; means and 95% CIs over replications)
  figures: $OUT/fig-delivery.png    delivery ratio against loss
           $OUT/fig-duplicates.png  duplicate deliveries against loss
           $OUT/fig-latency.png     latency p50 and p99 against loss (log scale)
           $OUT/fig-wire.png        packets and bytes on the wire per delivered message
           $OUT/fig-cdf.png         latency CDF at 20% loss (one run)
  (each also as .svg; plots/README describes what they should show)
MSG
