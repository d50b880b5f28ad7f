#!/usr/bin/env bash
# The gnuplot figure scripts (plots/*.gp): drawn by mqttsim sweep, or by hand
# on any sweep.csv with the needed columns; clear errors for missing columns.
. "$(dirname "$0")/lib.sh"
P="$MQTTSIM_ROOT/plots"
FIGS="delivery duplicates latency wire cdf transport"

# A small sweep asking for every figure: 3 loss values, 2 replications.
# $1: replications (default 2), $2: the figures (default: all six).
small_sweep() {
  local figs='"delivery", "duplicates", "latency", "wire", "cdf", "transport"'
  [ $# -ge 2 ] && figs=$2
  cat > base.json <<JSON
{"name": "small", "seed": 11, "duration_s": 5, "drain_s": 30, "transport": "datagram",
 "link": {"loss": {"model": "bernoulli", "p": 0}, "delay": {"dist": "constant", "ms": 10}},
 "clients": [
   {"role": "publisher", "topic": "q/0", "qos": 0, "rate_hz": 10},
   {"role": "publisher", "topic": "q/1", "qos": 1, "rate_hz": 10},
   {"role": "publisher", "topic": "q/2", "qos": 2, "rate_hz": 10},
   {"role": "subscriber", "subscribe": [{"filter": "q/0", "qos": 0}]},
   {"role": "subscriber", "subscribe": [{"filter": "q/1", "qos": 1}]},
   {"role": "subscriber", "subscribe": [{"filter": "q/2", "qos": 2}]}]}
JSON
  cat > s.json <<JSON
{"base": "base.json", "replications": ${1:-2},
 "vary": {"link.loss.p": [0, 0.2, 0.4]},
 "figures": [$figs]}
JSON
}

is_png() { [ "$(head -c 8 "$1" | od -An -tx1 | tr -d ' ')" = "89504e470d0a1a0a" ] || fail "$1 is not a PNG"; }

t_sweep_draws_every_figure() {
  command -v gnuplot >/dev/null || { echo "    (gnuplot not installed: skipped)"; return 0; }
  small_sweep
  "$MQTTSIM" sweep s.json --out out >stdout.txt 2>stderr.txt
  expect_eq "$?" 0 "(exit status: $(cat stderr.txt))"
  for f in $FIGS; do
    expect_file "out/fig-$f.png"
    expect_file "out/fig-$f.svg"
    is_png "out/fig-$f.png"
    expect_contains "$(cat stdout.txt)" "out/fig-$f.png"
  done
  expect_contains "$(cat out/fig-delivery.svg)" "delivery ratio"
  expect_contains "$(cat out/fig-delivery.svg)" "QoS 2"
  expect_eq "$(grep -c . stderr.txt)" 1 "(gnuplot warnings: $(cat stderr.txt))"
}

t_each_script_by_hand() {
  command -v gnuplot >/dev/null || { echo "    (gnuplot not installed: skipped)"; return 0; }
  small_sweep 1 ""
  "$MQTTSIM" sweep s.json --out out >/dev/null 2>&1
  for f in delivery duplicates latency wire transport; do
    gnuplot -e "csv='out/sweep.csv'; out='hand-$f'; x='link.loss.p'" "$P/$f.gp" 2>err.txt
    expect_eq "$?" 0 "($f.gp: $(cat err.txt))"
    is_png "hand-$f.png"
    expect_file "hand-$f.svg"
  done
  # x defaults to the first column, out to the csv path without .csv.
  cp out/sweep.csv copy.csv
  gnuplot -e "csv='copy.csv'" "$P/delivery.gp" && is_png copy.png
  gnuplot -e "csv='out/latency_cdf.csv'; out='cdf'" "$P/cdf.gp" && is_png cdf.png
}

t_missing_column_is_named() {
  command -v gnuplot >/dev/null || { echo "    (gnuplot not installed: skipped)"; return 0; }
  small_sweep 2 ""
  "$MQTTSIM" sweep s.json --out out >/dev/null 2>&1
  # Drop the delivery_ratio column (and its intervals) by name.
  awk -F, -v OFS=, 'NR==1{for(i=1;i<=NF;i++) if($i ~ /^delivery_ratio/) d[i]=1}
    {o=""; for(i=1;i<=NF;i++) if(!(i in d)) o=o (o==""?"":",") $i; print o}' out/sweep.csv > cut.csv
  err=$(gnuplot -e "csv='cut.csv'; out='x'" "$P/delivery.gp" 2>&1)
  [ $? -ne 0 ] || fail "delivery.gp succeeded without delivery_ratio"
  expect_contains "$err" "no column named: delivery_ratio"
  expect_no_file x.png
  # The other figures do not need it.
  gnuplot -e "csv='cut.csv'; out='y'" "$P/duplicates.gp" 2>/dev/null || fail "duplicates.gp failed"
  err=$(gnuplot -e "csv='cut.csv'; out='x'; x='link.loss'" "$P/wire.gp" 2>&1)
  [ $? -ne 0 ] || fail "wire.gp succeeded with a missing x column"
  expect_contains "$err" "no column named: link.loss"
  err=$(gnuplot -e "csv='nothing.csv'" "$P/latency.gp" 2>&1)
  expect_contains "$err" "cannot read nothing.csv"
}

# With two varied keys the figures plot against the numeric one, one line per
# QoS pair and value of the other.
t_second_key_gives_more_lines() {
  command -v gnuplot >/dev/null || { echo "    (gnuplot not installed: skipped)"; return 0; }
  small_sweep 1 '"delivery"'
  sed -i 's/"vary": {/"vary": {"broker.qos2_method": ["A", "B"], /' s.json
  "$MQTTSIM" sweep s.json --out out >/dev/null 2>err.txt
  expect_eq "$?" 0 "($(cat err.txt))"
  svg=$(cat out/fig-delivery.svg)
  expect_contains "$svg" "QoS 1, broker.qos2_method=B"
  expect_contains "$svg" "link.loss.p"
}

# The transport figure: loss, duplicates, out-of-order and p99 latency in
# four panels, one line per QoS pair and transport (stream-vs-datagram.sweep.json).
t_transport_figure_has_a_line_per_qos_and_transport() {
  command -v gnuplot >/dev/null || { echo "    (gnuplot not installed: skipped)"; return 0; }
  small_sweep 2 '"transport"'
  sed -i 's/"vary": {/"vary": {"transport": ["datagram", "stream"], /' s.json
  "$MQTTSIM" sweep s.json --out out >/dev/null 2>err.txt
  expect_eq "$?" 0 "($(cat err.txt))"
  is_png out/fig-transport.png
  svg=$(cat out/fig-transport.svg)
  for l in "QoS 0, transport=datagram" "QoS 2, transport=stream" "Out of order" "p99 latency"; do
    expect_contains "$svg" "$l"
  done
  # Without the out-of-order column the figure is refused by name.
  awk -F, -v OFS=, 'NR==1{for(i=1;i<=NF;i++) if($i ~ /^out_of_order_ratio/) d[i]=1}
    {o=""; for(i=1;i<=NF;i++) if(!(i in d)) o=o (o==""?"":",") $i; print o}' out/sweep.csv > cut.csv
  err=$(gnuplot -e "csv='cut.csv'; out='x'" "$P/transport.gp" 2>&1)
  [ $? -ne 0 ] || fail "transport.gp succeeded without out_of_order_ratio"
  expect_contains "$err" "no column named: out_of_order_ratio"
}

# The faults figure: a grid per measure, a row per case and a column per
# QoS pair, each cell printing its mean (guarantees-under-faults.json).
t_faults_figure_has_a_cell_per_case_and_qos() {
  command -v gnuplot >/dev/null || { echo "    (gnuplot not installed: skipped)"; return 0; }
  small_sweep 2 '"faults"'
  cat > s.json <<'JSON'
{"base": "base.json", "replications": 2, "figures": ["faults"],
 "cases": [{"case": "lossless"}, {"case": "40% loss, both ways", "set": {"link.loss.p": 0.4}}]}
JSON
  "$MQTTSIM" sweep s.json --out out >/dev/null 2>err.txt
  expect_eq "$?" 0 "($(cat err.txt))"
  is_png out/fig-faults.png
  expect_eq "$(head -1 out/sweep.csv | cut -d, -f1)" "case"
  svg=$(cat out/fig-faults.svg)
  for l in "lossless" "40% loss, both ways" "QoS 0" "QoS 2" "Lost (lost / expected)" "Out of order"; do
    expect_contains "$svg" "$l"
  done
  # QoS 0's loss at 40% loss, as the cell prints it (4 decimals).
  cat > cell.awk <<'AWK'
NR == 1 { n = split_csv($0, h); for (j = 1; j <= n; j++) c[h[j]] = j; next }
{ split_csv($0, f); if (f[1] ~ /^40/ && f[c["qos"]] == "0") printf "%.4f", f[c["loss_ratio"]] }
AWK
  want=$(awk -f "$P/csv.awk" -f cell.awk out/sweep.csv)
  [ -n "$want" ] || fail "no QoS 0 row for the 40% case in sweep.csv"
  expect_contains "$svg" ">$want<"
  # Without the out-of-order column the figure is refused by name.
  cut -d, -f1-22 out/sweep.csv > cut.csv
  err=$(gnuplot -e "csv='cut.csv'; out='x'" "$P/faults.gp" 2>&1)
  [ $? -ne 0 ] || fail "faults.gp succeeded without out_of_order_ratio"
  expect_contains "$err" "no column named: out_of_order_ratio"
}

t_without_gnuplot_prints_the_commands() {
  small_sweep
  mkdir bin
  for t in awk sh bash dirname; do p=$(command -v $t) && ln -s "$p" bin/$t; done
  PATH="$PWD/bin" "$MQTTSIM" sweep s.json --out out >/dev/null 2>err.txt
  expect_eq "$?" 0 "(exit status)"
  expect_contains "$(cat err.txt)" "gnuplot is not on PATH"
  expect_contains "$(cat err.txt)" "gnuplot -e \"csv='out/sweep.csv'; out='out/fig-delivery'; x='link.loss.p'\" "
  expect_contains "$(cat err.txt)" "plots/delivery.gp"
  expect_no_file out/fig-delivery.png
  expect_file out/sweep.csv
}

t_main
