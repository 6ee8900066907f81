#!/usr/bin/env bash
# Usage: benches/flood.sh BIN FLOODS [NAME=VALUE server settings...]
# Memory after connection floods (docs/PERFORMANCE.md, session 12).
# Starts BIN serve on loopback with a fresh data dir, records VmRSS at
# start, then FLOODS times: 1,800 idle WebSocket clients (loadgen, 5 s
# window), all closed; VmRSS and the tickroom_connections gauges 5 s and
# 20 s after each flood. GDB_TRIM=1: call malloc_trim(0) in the server with
# gdb at the end (GDB_TRIM_EACH=1: after each flood) and report RSS again.
# Needs curl, and gdb for the trims.
set -euo pipefail
bin=$1; floods=$2; shift 2
data=$(mktemp -d /tmp/tickroom-flood.XXXXXX)
env "$@" TICKROOM_SERVER_DATA_DIR="$data" TICKROOM_SERVER_HTTP=127.0.0.1:0 TICKROOM_SERVER_QUIC=127.0.0.1:0 \
  RUST_LOG=warn "$bin" serve >"$data/out" 2>"$data/err" &
pid=$!
trap 'kill -TERM $pid 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do grep -q '^{"listening"' "$data/out" 2>/dev/null && break; sleep 0.1; done
l=$(grep '^{"listening"' "$data/out")
ws=$(sed -E 's/.*"ws":"([^"]*)".*/\1/' <<<"$l"); http=$(sed -E 's/.*"http":"([^"]*)".*/\1/' <<<"$l")
rss() { awk '/VmRSS/{print $2}' /proc/$pid/status; }
conns() { curl -s "http://$http/metrics" | awk '/^tickroom_connections\{/{s+=$2} END{print s+0}'; }
sleep 5
echo "start rss_kib=$(rss) conns=$(conns)"
for i in $(seq 1 "$floods"); do
  "$bin" loadgen --ws "$ws" --server-pid $pid --behavior idle --heartbeat-s 0 --clients 1800 --rooms 180 \
     --duration-s 5 --drain-s 1 --source-ips 127.0.0.2-127.0.0.5 --report "$data/flood$i.json" >"$data/lg$i.out" 2>&1
  peak=$(python3 -c "import json;r=json.load(open('$data/flood$i.json'));print((r['server']['rss_kib_peak'], r['clients']['connected']))" 2>/dev/null || echo '?')
  sleep 5; a=$(rss); ca=$(conns)
  sleep 15; b=$(rss); cb=$(conns)
  t=""; if [ -n "${GDB_TRIM_EACH:-}" ]; then gdb -p $pid -batch -ex "call (int) malloc_trim(0)" >/dev/null 2>&1 || true; t=" after-gdb-trim rss_kib=$(rss)"; fi
  echo "flood $i: peak,connected=$peak; +5s rss_kib=$a conns=$ca; +20s rss_kib=$b conns=$cb$t"
done
if [ -n "${GDB_TRIM:-}" ]; then
  gdb -p $pid -batch -ex 'call (int) malloc_trim(0)' >/dev/null 2>&1 || true
  echo "after gdb malloc_trim(0): rss_kib=$(rss)"
fi
grep -h "rss" "$data"/lg*.out | head -5 || true
kill -TERM $pid; wait $pid || true; trap - EXIT
rm -rf "$data"
