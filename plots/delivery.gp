# Delivery ratio (unique deliveries / expected) against x, one line per QoS pair,
# with 95% confidence intervals when the sweep has replications.
# Usage: gnuplot -e "csv='OUT/sweep.csv'; out='OUT/fig-delivery'; x='link.loss.p'" plots/delivery.gp
# Writes out.png and out.svg.
script = ARG0
plotdir = system("dirname '".script."'")
need = "delivery_ratio"
load plotdir."/common.gp"
set ylabel "delivery ratio (unique deliveries / expected)"
set yrange [0:1.05]
set key bottom left
witherr = ci("delivery_ratio_ci_lo") && ci("delivery_ratio_ci_hi")
set title "Delivery ratio per QoS".(witherr ? " (mean over replications, error bars: 95% CI)" : "")
do for [ext in "png svg"] {
    eval term(ext)
    set output out.".".ext
    if (witherr) {
        plot for [i = 1:nser] src(i) using "_x":"delivery_ratio":"delivery_ratio_ci_lo":"delivery_ratio_ci_hi" \
             with yerrorlines linewidth 2 title lab[i]
    } else {
        plot for [i = 1:nser] src(i) using "_x":"delivery_ratio" with linespoints linewidth 2 title lab[i]
    }
    unset output
}
