#!/usr/bin/env bash
# Regenerates the key table of docs/config.md from the program's key table (experiments/keys.c).
# Usage: mk/docs.sh MQTTSIM [--check]   (--check: exit 1 if docs/config.md is stale, change nothing)
set -eu
M=$(realpath "${1:-build/mqttsim}")
cd "$(dirname "$0")/.."
doc=docs/config.md
table=$(mktemp)
out=$(mktemp)
trap 'rm -f "$table" "$out"' EXIT
"$M" help config --markdown > "$table"
grep -q '^<!-- keys:begin' "$doc" && grep -q '^<!-- keys:end' "$doc" || {
  echo "$doc: the <!-- keys:begin --> and <!-- keys:end --> markers are missing" >&2; exit 1; }
awk -v table="$table" '
  /^<!-- keys:begin/ { print; while ((getline line < table) > 0) print line; skip = 1; next }
  /^<!-- keys:end/ { skip = 0 }
  !skip { print }' "$doc" > "$out"
if [ "${2:-}" = --check ]; then
  cmp -s "$out" "$doc" || { echo "$doc is stale: run 'make docs'" >&2; diff "$doc" "$out" | head -20 >&2; exit 1; }
  exit 0
fi
cmp -s "$out" "$doc" || cp "$out" "$doc"
