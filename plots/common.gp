# Shared set-up of the figure scripts, loaded by each of them (not run alone).
# In:  script (the figure script), csv, out (default: csv without .csv), x (default: the first column),
#      xlabel (default: from x), need (the columns the figure uses), plotdir.
# Out: nser series, lab[i] their legend texts, src(i) their data (tab-separated,
#      with the x value or category index in column "_x"; srcx(i, "-v zero=C")
#      the same with a first row where C is 0), ci(c) whether column c
#      has values, and term(ext) the command selecting the pngcairo or svg terminal.
# A missing input, column or row stops gnuplot with a message and exit status 1.
if (!exists("csv")) {
    print "plot: no input; run as: gnuplot -e \"csv='OUT/sweep.csv'; out='OUT/fig'\" ".script
    exit status 2
}
if (system("test -r '".csv."' && echo y") ne "y") {
    print "plot: cannot read ".csv
    exit status 1
}
if (!exists("out")) { out = (strlen(csv) > 4 && csv[strlen(csv)-3:] eq ".csv") ? csv[1:strlen(csv)-4] : csv }
awk = "awk -f '".plotdir."/csv.awk' -f '".plotdir."/series.awk'"
if (!exists("x")) { x = system(awk." -v mode=first '".csv."'") }
missing = system(sprintf("%s -v mode=check -v need='%s' -v x='%s' '%s'", awk, need, x, csv))
if (missing ne "") {
    print sprintf("plot: %s has no column named: %s (%s needs: %s %s)", csv, missing, script, x, need)
    exit status 1
}
awk = awk." -v x='".x."'"
nser = int(system(awk." -v mode=count '".csv."'"))
if (nser < 1) {
    print "plot: ".csv." has no data rows"
    exit status 1
}
array lab[nser]
do for [i = 1:nser] { lab[i] = system(sprintf("%s -v mode=label -v i=%d '%s'", awk, i, csv)) }
srcx(i, opts) = sprintf("< %s -v mode=rows -v i=%d %s '%s'", awk, i, opts, csv)
src(i) = srcx(i, "")
ci(c) = system(sprintf("%s -v mode=nonempty -v name='%s' '%s'", awk, c, csv)) eq "1"
colmin(c) = system(sprintf("%s -v mode=min -v name='%s' '%s'", awk, c, csv))
xt = system(sprintf("%s -v mode=xtics '%s'", awk, csv))

if (!exists("xlabel")) {
    xlabel = (x eq "link.loss.p") ? "packet loss probability per link direction (link.loss.p)" : x
}
term(ext) = (ext eq "png") ? "set terminal pngcairo noenhanced size 960,640 font 'sans,11'" \
                           : "set terminal svg noenhanced size 960,640 dynamic font 'sans,11' background '#ffffff'"
set datafile separator "\t"
set datafile columnheaders
set datafile missing ""
set grid
set key box opaque
set xlabel xlabel
if (xt ne "") {
    eval "set xtics ".xt
    set offsets 0.5, 0.5, 0, 0
    xlines = int(system(sprintf("%s -v mode=xlines '%s'", awk, csv)))
    set bmargin xlines + 3
    set xlabel xlabel offset 0, -(xlines - 1)
}
