#!/usr/bin/env bash
# The load figures of the README in one sitting: five runs of each throughput shape (SQLite and
# PostgreSQL; the raw generator on 50-vertex routes and python-socketio clients on 500-vertex
# routes), then three runs of the fleet shape. About 25 minutes on two cores; run it on a quiet
# machine, from the repository, after `pip install -e '.[bench]'`. PostgreSQL runs get a fresh
# database each (BENCH_PG, default postgresql+psycopg://postgres@127.0.0.1:5432/escort_bench,
# dropped and created with psql). Prints each run's figures; the last lines are the medians.
set -u
cd "$(dirname "$0")/.."
PY=${PY:-python}
PG=${BENCH_PG:-postgresql+psycopg://postgres@127.0.0.1:5432/escort_bench}
LOG=$(mktemp)
fresh_pg() {
  local name=${PG##*/} server=${PG#*://}
  server=${server%%/*}
  psql -q "postgresql://${server}/postgres" -c "DROP DATABASE IF EXISTS ${name}" -c "CREATE DATABASE ${name}" >/dev/null
}
run() {
  echo "### $*" | tee -a "$LOG"
  "$PY" benchmarks/bench_load.py "$@" 2>&1 | grep -E "fixes acked:|server CPU|ratio|CPU a fix|emit to dispatcher" | tee -a "$LOG"
}
for i in 1 2 3 4 5; do
  echo "== round $i of 5"
  run throughput --seconds 10
  run throughput --seconds 10 --client python-socketio --route-vertices 500
  fresh_pg; run throughput --seconds 10 --database-url "$PG"
  fresh_pg; run throughput --seconds 10 --client python-socketio --route-vertices 500 --database-url "$PG"
done
for i in 1 2 3; do
  echo "== fleet shape, run $i of 3"
  run latency --devices 1000 --interval-s 5 --seconds 60 --dispatchers 2
done
"$PY" - "$LOG" <<'PY'
import re, statistics, sys
runs, cur = {}, None
for line in open(sys.argv[1]):
    if line.startswith("### "):
        cur = runs.setdefault(line[4:].strip(), [])
        cur.append({})
    elif cur is not None and (m := re.search(r"throughput ratio: ([\d.]+)", line)):
        cur[-1]["ratio"] = float(m.group(1))
    elif cur is not None and (m := re.search(r"CPU a fix: ([\d.]+)x", line)):
        cur[-1]["cpu"] = float(m.group(1))
print("\nmedians (range) over the runs:")
for shape, rs in runs.items():
    for key, what in (("ratio", "pipeline/echo fixes/s"), ("cpu", "pipeline/echo CPU a fix")):
        xs = [r[key] for r in rs if key in r]
        if xs:
            print(f"  {shape}: {what} {statistics.median(xs):.2f} ({min(xs):.2f}-{max(xs):.2f}), {len(xs)} runs")
PY
rm -f "$LOG"
