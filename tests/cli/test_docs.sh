#!/usr/bin/env bash
# The manual's links: every relative link in README.md and docs/*.md leads to a file, and to a heading when it names one.
. "$(dirname "$0")/lib.sh"

# The GitHub anchors of FILE's headings, one per line: the heading's text
# lowercased, ASCII punctuation but '-' and '_' removed, spaces made '-', and
# a repeated anchor numbered (-1, -2, ...). Headings inside fenced code blocks
# do not count. (Non-ASCII characters are kept as they are; GitHub drops
# non-letters among them too, which no heading here relies on.)
anchors() {
  awk '/^```/ { code = !code; next }
       !code && /^#+ / {
         h = $0; sub(/^#+ +/, "", h); sub(/ +#* *$/, "", h); h = tolower(h)
         gsub(/[][!"#$%&'\''()*+,.\/:;<=>?@\\^`{|}~]/, "", h); gsub(/ /, "-", h)
         if (h in seen) { n = seen[h]++; print h "-" n } else { seen[h] = 1; print h }
       }' "$1"
}

# The link targets of FILE, one per line: inline links and images
# [text](target) and reference definitions "[name]: target", outside fenced
# code blocks and code spans.
link_targets() {
  awk '/^```/ { code = !code; next }
       !code {
         line = $0; gsub(/`[^`]*`/, "", line)
         if (match(line, /^ *\[[^]]*\]: +[^ ]+/)) {
           d = substr(line, RSTART, RLENGTH); sub(/^ *\[[^]]*\]: +/, "", d); print d
         }
         while (match(line, /\]\([^)]*\)/)) {
           t = substr(line, RSTART + 2, RLENGTH - 3); sub(/ +"[^"]*"$/, "", t); print t
           line = substr(line, RSTART + RLENGTH)
         }
       }' "$1"
}

# Checks every relative link of the given files; prints one line per dead
# link ("FILE: TARGET: why") and returns 1 if there was one.
check_links() {
  local f t path anchor dest bad=0
  for f in "$@"; do
    while IFS= read -r t; do
      case "$t" in
        [a-zA-Z]*:*) continue ;;   # http:, https:, mailto: ...
      esac
      path=${t%%#*}
      anchor=""
      [ "$path" != "$t" ] && anchor=${t#*#}
      if [ -z "$path" ]; then dest=$f; else dest=$(dirname "$f")/$path; fi
      if [ ! -e "$dest" ]; then
        echo "$f: $t: no such file"; bad=1; continue
      fi
      if [ -n "$anchor" ]; then
        case "$dest" in
          *.md) anchors "$dest" | grep -qxF -- "$anchor" ||
                  { echo "$f: $t: no heading with that anchor in $dest"; bad=1; } ;;
          *) echo "$f: $t: an anchor into a file that is not Markdown"; bad=1 ;;
        esac
      fi
    done < <(link_targets "$f")
  done
  return $bad
}

t_manual_links_resolve() {
  local out
  out=$(cd "$MQTTSIM_ROOT" && check_links README.md docs/*.md)
  expect_eq "$?" 0 "(dead links: $out)"
  # Not vacuous: the README links to every page of the manual, so there are
  # links to check, and a page added to docs/ must be listed in it.
  local page
  for page in "$MQTTSIM_ROOT"/docs/*.md; do
    page=docs/${page##*/}
    link_targets "$MQTTSIM_ROOT/README.md" | grep -qxF "$page" ||
      fail "README.md does not link to $page"
  done
}

# The check fails on a missing file, a missing heading, and a link into a
# heading that exists only inside a code block; it passes links to headings
# with punctuation, repeated headings, images, and links inside code.
t_dead_links_are_found() {
  mkdir -p d/docs d/plots
  echo png > d/plots/fig.png
  cat > d/docs/a.md <<'EOF'
# Page a

## Keys, and defaults
## Repeated
## Repeated

```
## Not a heading
```
EOF
  cat > d/README.md <<'EOF'
# Readme
[a](docs/a.md), [keys](docs/a.md#keys-and-defaults), [again](docs/a.md#repeated-1),
![fig](plots/fig.png), [web](https://example.org/x), [self](#readme),
`[in code](nowhere.md)`
EOF
  (cd d && check_links README.md docs/a.md) > out.txt
  expect_eq "$?" 0 "(good links reported dead: $(cat out.txt))"
  printf '%s\n' '[gone](docs/b.md) [bad](docs/a.md#keys) [fenced](docs/a.md#not-a-heading)' \
    '[ref]: plots/none.png' >> d/README.md
  (cd d && check_links README.md docs/a.md) > out.txt
  expect_eq "$?" 1 "(dead links not reported)"
  expect_contains "$(cat out.txt)" "README.md: docs/b.md: no such file"
  expect_contains "$(cat out.txt)" "README.md: docs/a.md#keys: no heading"
  expect_contains "$(cat out.txt)" "README.md: docs/a.md#not-a-heading: no heading"
  expect_contains "$(cat out.txt)" "README.md: plots/none.png: no such file"
}

t_main
