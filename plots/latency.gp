# Latency from publish to first delivery, median (p50, solid) and 99th
# percentile (p99, dashed), against x on a log scale, one colour per QoS pair,
# with 95% confidence intervals when the sweep has replications.
# Usage: gnuplot -e "csv='OUT/sweep.csv'; out='OUT/fig-latency'; x='link.loss.p'" plots/latency.gp
# Writes out.png and out.svg.
script = ARG0
plotdir = system("dirname '".script."'")
need = "latency_p50_ms latency_p99_ms"
load plotdir."/common.gp"
set ylabel "latency, publish to first delivery (ms, log scale)"
set logscale y
set key top left
witherr = ci("latency_p50_ms_ci_lo") && ci("latency_p99_ms_ci_lo")
set title "Latency per QoS: p50 (solid) and p99 (dashed)".(witherr ? "; error bars: 95% CI" : "")
do for [ext in "png svg"] {
    eval term(ext)
    set output out.".".ext
    if (witherr) {
        plot for [i = 1:nser] src(i) using "_x":"latency_p50_ms":"latency_p50_ms_ci_lo":"latency_p50_ms_ci_hi" \
                 with yerrorlines linecolor i linewidth 2 title lab[i]." p50", \
             for [i = 1:nser] src(i) using "_x":"latency_p99_ms":"latency_p99_ms_ci_lo":"latency_p99_ms_ci_hi" \
                 with yerrorlines linecolor i linewidth 2 dashtype 2 title lab[i]." p99"
    } else {
        plot for [i = 1:nser] src(i) using "_x":"latency_p50_ms" with linespoints linecolor i linewidth 2 title lab[i]." p50", \
             for [i = 1:nser] src(i) using "_x":"latency_p99_ms" with linespoints linecolor i linewidth 2 dashtype 2 title lab[i]." p99"
    }
    unset output
}
