#!/usr/bin/env bash
# Idle connections over a cluster placed by matchmaking:
#
#   benches/cluster_idle.sh [nodes] [clients] [loadgen processes]
#
# Starts N release nodes (default 6) against the Redis at REDIS_URL
# (default redis://127.0.0.1:6379) under a fresh key prefix, then runs
# `tickroom loadgen --matchmake` with idle clients spread over the nodes by
# matchmaking (each process, nodes and load generator alike, holds fewer
# than the 20,000 files a process may open). Prints each node's seats, RSS
# and CPU over the measured window, and the totals per connection.
set -euo pipefail
cd "$(dirname "$0")/.."
nodes=${1:-6}
clients=${2:-100000}
procs=${3:-8}
cargo build --release -q
bin=target/release/tickroom
redis=${REDIS_URL:-redis://127.0.0.1:6379}
prefix="bench-idle-$$"
work=$(mktemp -d /tmp/tickroom-idle.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
for i in $(seq 1 "$nodes"); do
  mkdir -p "$work/n$i"
  TICKROOM_SERVER_DATA_DIR="$work/n$i" TICKROOM_SERVER_HTTP=127.0.0.1:0 TICKROOM_SERVER_QUIC=127.0.0.1:0 \
    TICKROOM_CLUSTER_REDIS_URL="$redis" TICKROOM_CLUSTER_PREFIX="$prefix" \
    TICKROOM_AUTH_SESSION_SECRET="a shared secret for the idle bench, 32+ bytes" \
    TICKROOM_CLUSTER_NEW_CONNECTIONS_PER_IP_PER_S=100000 \
    TICKROOM_NET_MAX_CONNECTIONS_PER_IP=100000 \
    TICKROOM_CLUSTER_REDIS_TIMEOUT_MS="${REDIS_TIMEOUT_MS:-1000}" \
    RUST_LOG=warn "$bin" serve >"$work/n$i/out" 2>"$work/n$i/err" &
  pids+=($!)
done
http=()
for i in $(seq 1 "$nodes"); do
  for _ in $(seq 1 100); do
    grep -q '^{"listening"' "$work/n$i/out" 2>/dev/null && break
    sleep 0.1
  done
  line=$(grep '^{"listening"' "$work/n$i/out")
  http+=("$(sed -E 's/.*"http":"([^"]*)".*/\1/' <<<"$line")")
done
ws1=$(grep '^{"listening"' "$work/n1/out" | sed -E 's/.*"ws":"([^"]*)".*/\1/')
list=$(IFS=,; echo "${http[*]}")
sleep 2
rss() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
tck=$(getconf CLK_TCK)
declare -A rss0 cpu0
for p in "${pids[@]}"; do rss0[$p]=$(rss "$p"); done
"$bin" loadgen --ws "$ws1" --matchmake "$list" --behavior idle --heartbeat-s 0 \
  --clients "$clients" --rooms $(( (clients + 15) / 16 )) --processes "$procs" \
  --source-ips 127.0.0.2-127.0.0.41 --connect-rate "${CONNECT_RATE:-150}" --duration-s 30 \
  --server-pid "${pids[0]}" >"$work/load.out" 2>&1 &
load=$!
# The idle window: from when every client sits ("running") to 25 s later.
until grep -q 'running' "$work/load.out"; do
  kill -0 "$load" 2>/dev/null || break
  sleep 0.5
done
for p in "${pids[@]}"; do cpu0[$p]=$(cpu "$p"); done
sleep 25
total_rss=0
total_cpu=0
for i in "${!pids[@]}"; do
  p=${pids[$i]}
  r=$(rss "$p")
  c=$(( $(cpu "$p") - ${cpu0[$p]} ))
  echo "node $((i + 1)): rss $r KiB (+$(( r - ${rss0[$p]} )) KiB since before the clients), $(awk -v c="$c" -v t="$tck" 'BEGIN {printf "%.2f", c / t}') cpu-s in the 25 s idle window"
  total_rss=$(( total_rss + r - ${rss0[$p]} ))
  total_cpu=$(( total_cpu + c ))
done
curl -s "http://${http[0]}/api/v1/nodes" | tr '{' '\n' | grep -o '"id":"[^"]*"\|"rooms":[0-9]*\|"members":[0-9]*' | paste - - - || true
wait "$load" || true
if grep -q '^tickroom loadgen:' "$work/load.out"; then
  grep -E '^(tickroom loadgen|critical|rejects|loadgen:)' "$work/load.out"
else
  echo "the load generator failed:"; tail -n 30 "$work/load.out"
fi
echo "nodes' RSS growth: $total_rss KiB for $clients connections = $(awk -v k="$total_rss" -v n="$clients" 'BEGIN {printf "%.2f", k / n}') KiB per connection"
echo "nodes' CPU while idle: $(awk -v c="$total_cpu" -v t="$tck" -v n="$clients" 'BEGIN {printf "%.3f%% of a core per 1,000 connections", c / t / 25 * 100 / n * 1000}')"
