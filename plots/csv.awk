# split_csv(line, f): splits one CSV line into f[1..n] and returns n; cells
# may be quoted (RFC 4180, no line breaks inside a cell). is_num(s): whether
# s is a number. Loaded before the
# scripts that use it: awk -f csv.awk -f series.awk.
function split_csv(line, f,    n, i, c, cell, q) {
  if (index(line, "\"") == 0) return split(line, f, ",")
  n = 0; cell = ""; q = 0
  for (i = 1; i <= length(line); i++) {
    c = substr(line, i, 1)
    if (q) {
      if (c == "\"") { if (substr(line, i + 1, 1) == "\"") { cell = cell c; i++ } else q = 0 }
      else cell = cell c
    } else if (c == "\"") q = 1
    else if (c == ",") { f[++n] = cell; cell = "" }
    else cell = cell c
  }
  f[++n] = cell
  return n
}
function is_num(s) { return s ~ /^[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?$/ }
