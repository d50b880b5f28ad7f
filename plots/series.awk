# Reads a sweep.csv or latency_cdf.csv for the figure scripts (plots/*.gp).
# CSV cells may be quoted (RFC 4180, no line breaks inside a cell): csv.awk,
# loaded first (awk -f csv.awk -f series.awk), splits them.
# A series is one line of a figure: the rows sharing pub_qos, sub_qos and the
# value of every varied key (the columns before `replications`) other than x.
#   -v mode=first            print the first column's name
#   -v mode=check need="a b" print the needed columns (and x) the header lacks
#   -v mode=count            print the number of series
#   -v mode=label i=N        print series N's legend text
#   -v mode=rows i=N         print series N as tab-separated values with a
#                            header, plus a column _x: x itself when every x
#                            is a number, else the index of its category;
#                            with -v zero=C, first a copy of the first row with
#                            column C set to 0 (so a CDF rises from 0)
#   -v mode=xtics            print a gnuplot xtics list when x is categorical
#   -v mode=xlines           print the most lines an xtics label spans (0: numeric x)
#   -v mode=nonempty name=C  print 1 if some row has a value in column C, else 0
#   -v mode=min name=C       print the smallest number in column C
BEGIN { nser = 0; ncat = 0; allnum = 1; found = 0; lo = "" }
{ sub(/\r$/, "") }
NR == 1 {
  nh = split_csv($0, h)
  for (j = 1; j <= nh; j++) col[h[j]] = j
  if (mode == "first") { print h[1]; exit }
  if (mode == "check") {
    miss = ""
    nn = split(need " " x, w, " ")
    for (j = 1; j <= nn; j++)
      if (w[j] != "" && !(w[j] in col) && !((w[j]) in seen)) { miss = miss (miss == "" ? "" : " ") w[j]; seen[w[j]] = 1 }
    print miss
    exit
  }
  xc = (x in col) ? col[x] : 1
  # The series key: varied keys other than x, then the QoS pair.
  nk = 0
  last = ("replications" in col) ? col["replications"] - 1 : 0
  for (j = 1; j <= last; j++) if (j != xc) key[++nk] = j
  if ("pub_qos" in col) key[++nk] = col["pub_qos"]
  if ("sub_qos" in col) key[++nk] = col["sub_qos"]
  if (mode == "rows") {
    line = ""
    for (j = 1; j <= nh; j++) line = line h[j] "\t"
    print line "_x"
  }
  next
}
{
  n = split_csv($0, f)
  k = ""
  for (j = 1; j <= nk; j++) k = k SUBSEP f[key[j]]
  if (!(k in sid)) {
    sid[k] = ++nser
    lab = ""
    if ("pub_qos" in col) {
      p = f[col["pub_qos"]]; s = f[col["sub_qos"]]
      lab = (p == s) ? "QoS " p : "pub QoS " p ", sub QoS " s
    }
    for (j = 1; j <= nk; j++) {
      if (key[j] == col["pub_qos"] || key[j] == col["sub_qos"]) continue
      lab = lab (lab == "" ? "" : ", ") h[key[j]] "=" f[key[j]]
    }
    label[nser] = (lab == "" ? "all rows" : lab)
  }
  xv = f[xc]
  if (!is_num(xv)) allnum = 0
  if (!(xv in cat)) { cat[xv] = ++ncat; catname[ncat] = xv }
  if (mode == "nonempty" && (name in col) && f[col[name]] != "") found = 1
  if (mode == "min" && (name in col) && is_num(f[col[name]]) && (lo == "" || f[col[name]] + 0 < lo + 0)) lo = f[col[name]]
  if (mode == "rows" && sid[k] == i) { nrow++; row[nrow] = $0; rowx[nrow] = xv }
}
END {
  if (mode == "count") print nser
  else if (mode == "label") print label[i]
  else if (mode == "nonempty") print found
  else if (mode == "min") print lo
  else if (mode == "xtics") {
    if (!allnum) {
      t = ""
      # JSON punctuation only lengthens a tick label: {"a":1,"p":0.1} shows as
      # a:1 over p:0.1, one member a line.
      for (j = 1; j <= ncat; j++) { c = catname[j]; gsub(/["{}]/, "", c); gsub(/,/, "\\n", c); t = t (j > 1 ? ", " : "") "\"" c "\" " j }
      print "(" t ")"
    }
  } else if (mode == "xlines") {
    most = 0
    for (j = 1; !allnum && j <= ncat; j++) { c = catname[j]; nl = gsub(/,/, ",", c) + 1; if (nl > most) most = nl }
    print most
  } else if (mode == "rows") {
    for (r = (zero != "" && (zero in col) && nrow > 0) ? 0 : 1; r <= nrow; r++) {
      n = split_csv(row[r ? r : 1], f)
      if (r == 0) f[col[zero]] = 0
      line = ""
      for (j = 1; j <= nh; j++) line = line f[j] "\t"
      print line (allnum ? rowx[r ? r : 1] : cat[rowx[r ? r : 1]])
    }
  }
}
