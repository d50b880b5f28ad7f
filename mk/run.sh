#!/usr/bin/env bash
# `make run`: the default sweep (QoS 0, 1 and 2 against packet loss) and its
# figures, then the same QoS levels over the stream and the datagram transport,
# then the QoS levels under each kind of fault.
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
S2=experiments/stream-vs-datagram.sweep.json
OUT2=results/stream-vs-datagram
rm -rf "$OUT2"
"$B/mqttsim" sweep "$S2" --out "$OUT2"
S3=experiments/guarantees-under-faults.json
OUT3=results/guarantees-under-faults
rm -rf "$OUT3"
"$B/mqttsim" sweep "$S3" --out "$OUT3"
secs=$(( $(date +%s) - start ))
cat <<MSG

Sweeps finished in ${secs} s.
Sweep $S:
  data:    $OUT/sweep.csv (one row per loss value and QoS; means and 95% CIs over replications)
  figures: $OUT/fig-delivery.png    delivery ratio against loss
           $OUT/fig-duplicates.png  duplicate deliveries against loss
           $OUT/fig-latency.png     latency p50 and p99 against loss (log scale)
           $OUT/fig-wire.png        packets and bytes on the wire per delivered message
           $OUT/fig-cdf.png         latency CDF at 20% loss (one run)
Sweep $S2:
  data:    $OUT2/sweep.csv
  figure:  $OUT2/fig-transport.png  loss, duplicates, out-of-order and p99 latency,
                                    stream (TCP) against datagram, per QoS
Sweep $S3:
  data:    $OUT3/sweep.csv (one row per fault and QoS)
  figure:  $OUT3/fig-faults.png     which fault breaks which promise: loss,
                                    duplicates and out-of-order per fault and QoS
  (each also as .svg; plots/README describes what they should show)
MSG
