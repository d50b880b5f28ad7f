# Wire cost per delivered message against x: MQTT packets (left) and bytes
# (right) sent on both hops for flows at each QoS, per unique delivery, one line
# per QoS pair, with 95% confidence intervals when the sweep has replications.
# Usage: gnuplot -e "csv='OUT/sweep.csv'; out='OUT/fig-wire'; x='link.loss.p'" plots/wire.gp
# Writes out.png and out.svg.
script = ARG0
plotdir = system("dirname '".script."'")
need = "wire_packets_per_delivered wire_bytes_per_delivered"
load plotdir."/common.gp"
set key top left
set yrange [0:*]
witherr = ci("wire_packets_per_delivered_ci_lo") && ci("wire_bytes_per_delivered_ci_lo")
do for [ext in "png svg"] {
    eval term(ext)
    set output out.".".ext
    set multiplot layout 1, 2 title "Wire cost per delivered message, per QoS".(witherr ? " (error bars: 95% CI)" : "")
    set title "packets"
    set ylabel "MQTT packets on the wire per delivered message"
    if (witherr) {
        plot for [i = 1:nser] src(i) using "_x":"wire_packets_per_delivered":"wire_packets_per_delivered_ci_lo":"wire_packets_per_delivered_ci_hi" \
             with yerrorlines linewidth 2 title lab[i]
    } else {
        plot for [i = 1:nser] src(i) using "_x":"wire_packets_per_delivered" with linespoints linewidth 2 title lab[i]
    }
    set title "bytes"
    set ylabel "bytes on the wire per delivered message"
    if (witherr) {
        plot for [i = 1:nser] src(i) using "_x":"wire_bytes_per_delivered":"wire_bytes_per_delivered_ci_lo":"wire_bytes_per_delivered_ci_hi" \
             with yerrorlines linewidth 2 title lab[i]
    } else {
        plot for [i = 1:nser] src(i) using "_x":"wire_bytes_per_delivered" with linespoints linewidth 2 title lab[i]
    }
    unset multiplot
    unset output
}
