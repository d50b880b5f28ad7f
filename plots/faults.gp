# A grid per measure: one row per case of a sweep with "cases" (the first
# column of sweep.csv), one column per QoS pair; each cell coloured by the
# measure's mean (log scale from 1e-5 to 1, white for 0) with the mean and,
# when the sweep has replications, its 95% CI half-width printed in it.
# Three panels: loss_ratio, dup_ratio, out_of_order_ratio.
# Usage: gnuplot -e "csv='OUT/sweep.csv'; out='OUT/fig-faults'" plots/faults.gp
# Writes out.png and out.svg.
script = ARG0
plotdir = system("dirname '".script."'")
if (!exists("csv")) {
    print "plot: no input; run as: gnuplot -e \"csv='OUT/sweep.csv'; out='OUT/fig-faults'\" ".script
    exit status 2
}
if (system("test -r '".csv."' && echo y") ne "y") {
    print "plot: cannot read ".csv
    exit status 1
}
if (!exists("out")) { out = csv[1:strlen(csv)-4] }
awk = "awk -f '".plotdir."/csv.awk' -f '".plotdir."/faults.awk'"
need = "pub_qos sub_qos loss_ratio dup_ratio out_of_order_ratio"
missing = system(sprintf("%s -v mode=check -v need='%s' '%s'", awk, need, csv))
if (missing ne "") {
    print sprintf("plot: %s has no column named: %s (%s needs: %s)", csv, missing, script, need)
    exit status 1
}
nrows = int(system(sprintf("%s -v mode=nrows '%s'", awk, csv)))
ncols = int(system(sprintf("%s -v mode=ncols '%s'", awk, csv)))
if (nrows < 1) {
    print "plot: ".csv." has no data rows"
    exit status 1
}
yt = system(sprintf("%s -v mode=ytics '%s'", awk, csv))
xt = system(sprintf("%s -v mode=xtics '%s'", awk, csv))
cells(c) = sprintf("< %s -v mode=cells -v name=%s '%s'", awk, c, csv)
array col[3] = ["loss_ratio", "dup_ratio", "out_of_order_ratio"]
array ttl[3] = ["Lost (lost / expected)", "Duplicated (duplicates / expected)", \
                "Out of order (late first deliveries / expected)"]
set datafile separator "\t"
set palette defined (0 "#ffffff", 0.02 "#fff5eb", 0.4 "#fdae6b", 0.7 "#e6550d", 1 "#7f2704")
set cbrange [0:1]
unset colorbox
set xrange [-0.5:ncols - 0.5]
set yrange [-0.5:nrows - 0.5]
eval "set xtics ".xt
set xtics scale 0 font ',11'
unset x2tics
set ytics scale 0
set tics nomirror
set border 0
h = 110 + 58 * nrows
do for [ext in "png svg"] {
    if (ext eq "png") {
        set terminal pngcairo noenhanced size 1500,h font 'sans,10'
    } else {
        set terminal svg noenhanced size 1500,h dynamic font 'sans,10' background '#ffffff'
    }
    set output out.".".ext
    set multiplot title "Which fault breaks which promise: per QoS, the share of (message, subscriber) pairs lost, duplicated and reordered (means; ± half-width of the 95% CI; colour on a log scale, white = 0)" font ',12'
    do for [k = 1:3] {
        # The first panel is wider: it carries the cases' names.
        if (k == 1) { set lmargin at screen 0.0 + 0.20; set rmargin at screen 0.20 + 0.25 } \
        else { set lmargin at screen 0.20 + (k - 1) * 0.27; set rmargin at screen 0.20 + (k - 1) * 0.27 + 0.25 }
        set tmargin at screen 1 - 70.0 / h
        set bmargin at screen 40.0 / h
        if (k == 1) { eval "set ytics ".yt } else { unset ytics }
        set title ttl[k] font ',11'
        plot cells(col[k]) using 1:2:(0.5):(0.5):3 with boxxy fillcolor palette \
             fillstyle solid border linecolor rgb "#bbbbbb" notitle, \
             '' using 1:2:4 with labels font ',9' notitle
    }
    unset multiplot
    unset output
}
