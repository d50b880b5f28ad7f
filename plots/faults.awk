# Reads a sweep.csv for plots/faults.gp: a grid with one row per case (the
# first column, in file order) and one column per QoS pair (pub_qos, sub_qos),
# loaded after csv.awk (awk -f csv.awk -f faults.awk).
#   -v mode=check need="a b"  print the needed columns the header lacks
#   -v mode=cells name=C      print one line per cell: column index (0..),
#                             row index (0 = the last case, so the first is on
#                             top), a colour value in [0, 1] (log10 of C's mean
#                             from 1e-5 to 1; 0 when the mean is 0), and the
#                             mean with its 95% CI half-width as a label
#   -v mode=ytics / xtics     print a gnuplot tics list of the cases / QoS pairs
#   -v mode=nrows / ncols     print the number of cases / QoS pairs
function fmt(v) {
  if (v == 0) return "0"
  if (v >= 0.001) return sprintf("%.4f", v)
  return sprintf("%.2e", v)
}
BEGIN { nrow = 0; ncol = 0; nc = 0 }
{ sub(/\r$/, "") }
NR == 1 {
  nh = split_csv($0, h)
  for (j = 1; j <= nh; j++) col[h[j]] = j
  if (mode == "check") {
    miss = ""
    nn = split(need, w, " ")
    for (j = 1; j <= nn; j++) if (w[j] != "" && !(w[j] in col)) miss = miss (miss == "" ? "" : " ") w[j]
    print miss
    exit
  }
  next
}
{
  n = split_csv($0, f)
  c = f[1]
  if (!(c in ri)) { ri[c] = nrow++; rname[nrow - 1] = c }
  p = f[col["pub_qos"]] SUBSEP f[col["sub_qos"]]
  if (!(p in ci)) {
    ci[p] = ncol++
    cname[ncol - 1] = (f[col["pub_qos"]] == f[col["sub_qos"]]) ? "QoS " f[col["pub_qos"]] \
                      : "pub " f[col["pub_qos"]] " / sub " f[col["sub_qos"]]
  }
  if (mode == "cells") {
    v = f[col[name]]
    lo = (name "_ci_lo" in col) ? f[col[name "_ci_lo"]] : ""
    hi = (name "_ci_hi" in col) ? f[col[name "_ci_hi"]] : ""
    cell_c[nc] = ci[p]; cell_r[nc] = ri[c]; cell_v[nc] = v; cell_lo[nc] = lo; cell_hi[nc] = hi; nc++
  }
}
END {
  if (mode == "check") exit
  if (mode == "nrows") print nrow
  else if (mode == "ncols") print ncol
  else if (mode == "ytics") {
    t = ""
    # A tic label is a format: "10% loss" is written "10%% loss".
    for (j = 0; j < nrow; j++) { r = rname[j]; gsub(/%/, "%%", r); gsub(/"/, "'", r); t = t (j ? ", " : "") "\"" r "\" " (nrow - 1 - j) }
    print "(" t ")"
  } else if (mode == "xtics") {
    t = ""
    for (j = 0; j < ncol; j++) t = t (j ? ", " : "") "\"" cname[j] "\" " j
    print "(" t ")"
  } else if (mode == "cells") {
    for (k = 0; k < nc; k++) {
      v = cell_v[k]
      if (!is_num(v)) { print cell_c[k] "\t" (nrow - 1 - cell_r[k]) "\t0\tn/a"; continue }
      v += 0
      colour = (v <= 0) ? 0 : (log(v) / log(10) + 5) / 5
      if (colour < 0.02 && v > 0) colour = 0.02
      if (colour > 1) colour = 1
      lab = fmt(v)
      if (v > 0 && is_num(cell_lo[k]) && is_num(cell_hi[k]))
        lab = lab "\\n±" fmt((cell_hi[k] - cell_lo[k]) / 2)
      print cell_c[k] "\t" (nrow - 1 - cell_r[k]) "\t" colour "\t" lab
    }
  }
}
