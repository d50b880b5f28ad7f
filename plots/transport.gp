# Four panels side by side against x: loss ratio, duplicate ratio, out-of-order
# ratio and p99 latency (log scale), one line per QoS pair and value of every
# other varied key (for stream-vs-datagram: the transport), with 95%
# confidence intervals when the sweep has replications.
# Usage: gnuplot -e "csv='OUT/sweep.csv'; out='OUT/fig-transport'; x='link.loss.p'" plots/transport.gp
# Writes out.png and out.svg.
script = ARG0
plotdir = system("dirname '".script."'")
need = "loss_ratio dup_ratio out_of_order_ratio latency_p99_ms"
load plotdir."/common.gp"
array col[4] = ["loss_ratio", "dup_ratio", "out_of_order_ratio", "latency_p99_ms"]
array ylab[4] = ["loss ratio (lost / expected)", "duplicate ratio (duplicates / expected)", \
                 "out-of-order ratio (late first deliveries / expected)", \
                 "p99 latency, publish to first delivery (ms, log scale)"]
array ttl[4] = ["Lost", "Duplicated", "Out of order", "p99 latency"]
witherr = ci("loss_ratio_ci_lo") && ci("loss_ratio_ci_hi")
# Lines of one transport share a dash pattern; the QoS keeps its colour.
dash(i) = (strstrt(lab[i], "stream") > 0) ? 1 : 2
qcol(i) = (strstrt(lab[i], "QoS 0") == 1) ? 1 : (strstrt(lab[i], "QoS 1") == 1) ? 2 : \
          (strstrt(lab[i], "QoS 2") == 1) ? 3 : 3 + i
do for [ext in "png svg"] {
    if (ext eq "png") {
        set terminal pngcairo noenhanced size 1600,1000 font 'sans,11'
    } else {
        set terminal svg noenhanced size 1600,1000 dynamic font 'sans,11' background '#ffffff'
    }
    set output out.".".ext
    set multiplot layout 2,2 title "MQTT over a stream (TCP) and over datagrams: what each QoS loses, duplicates and reorders, and its p99 latency".(witherr ? " (means, error bars: 95% CI)" : "") noenhanced
    do for [k = 1:4] {
        set title ttl[k]
        set ylabel ylab[k]
        if (k == 4) { set logscale y; set yrange [*:*] } else { unset logscale y; set yrange [0:*] }
        set key top left font ',9'
        c = col[k]
        if (witherr) {
            plot for [i = 1:nser] src(i) using "_x":c:(column(c."_ci_lo")):(column(c."_ci_hi")) \
                 with yerrorlines linecolor qcol(i) dashtype dash(i) linewidth 2 title lab[i]
        } else {
            plot for [i = 1:nser] src(i) using "_x":c with linespoints linecolor qcol(i) \
                 dashtype dash(i) linewidth 2 title lab[i]
        }
    }
    unset multiplot
    unset output
}
