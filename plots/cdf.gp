# Latency CDF of a single run, one step line per QoS pair, latency on a log
# scale when every latency is positive. Input: a latency_cdf.csv (columns
# pub_qos, sub_qos, latency_ms, cdf); `point` optionally names the run in the title.
# Usage: gnuplot -e "csv='OUT/latency_cdf.csv'; out='OUT/fig-cdf'" plots/cdf.gp
# Writes out.png and out.svg.
script = ARG0
plotdir = system("dirname '".script."'")
if (!exists("x")) { x = "latency_ms" }
if (!exists("xlabel")) { xlabel = "latency, publish to first delivery (ms)" }
need = "latency_ms cdf"
load plotdir."/common.gp"
set ylabel "fraction of delivered messages (CDF)"
set yrange [0:1.02]
set key bottom right
lmin = colmin(x)
if (lmin ne "" && lmin + 0 > 0) { set logscale x; set xlabel xlabel.", log scale" }
set title "Latency CDF per QoS".(exists("point") ? " (".point.")" : "")
do for [ext in "png svg"] {
    eval term(ext)
    set output out.".".ext
    plot for [i = 1:nser] srcx(i, "-v zero=cdf") using "_x":"cdf" with steps linewidth 2 title lab[i]
    unset output
}
