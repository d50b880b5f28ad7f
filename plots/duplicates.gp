# Duplicate ratio (deliveries beyond the first / expected) against x, one line
# per QoS pair, with 95% confidence intervals when the sweep has replications.
# Usage: gnuplot -e "csv='OUT/sweep.csv'; out='OUT/fig-duplicates'; x='link.loss.p'" plots/duplicates.gp
# Writes out.png and out.svg.
script = ARG0
plotdir = system("dirname '".script."'")
need = "dup_ratio"
load plotdir."/common.gp"
set ylabel "duplicate ratio (duplicate deliveries / expected)"
set yrange [0:*]
set key top left
witherr = ci("dup_ratio_ci_lo") && ci("dup_ratio_ci_hi")
set title "Duplicate deliveries per QoS".(witherr ? " (mean over replications, error bars: 95% CI)" : "")
do for [ext in "png svg"] {
    eval term(ext)
    set output out.".".ext
    if (witherr) {
        plot for [i = 1:nser] src(i) using "_x":"dup_ratio":"dup_ratio_ci_lo":"dup_ratio_ci_hi" \
             with yerrorlines linewidth 2 title lab[i]
    } else {
        plot for [i = 1:nser] src(i) using "_x":"dup_ratio" with linespoints linewidth 2 title lab[i]
    }
    unset output
}
