#!/usr/bin/env bash
# Runs every Go fuzz target in the module for a bounded number of executions
# (default 100000 each). A count, not a duration: duration budgets race Go's
# fuzz coordinator at the deadline (go.dev/issue/75804, fixed in Go 1.27).
set -euo pipefail
cd "$(dirname "$0")/.."
t="${1:-100000x}"
for pkg in $(go list ./...); do
  dir=$(go list -f '{{.Dir}}' "$pkg")
  for f in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //' | sort -u); do
    echo "fuzz: $pkg $f ($t)"
    go test "$pkg" -run '^$' -fuzz "^$f\$" -fuzztime "$t" -fuzzminimizetime 50x >/tmp/limbic-fuzz.log 2>&1 || { cat /tmp/limbic-fuzz.log; exit 1; }
  done
done
