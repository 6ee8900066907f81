#!/usr/bin/env bash
# Persistence figures under load (docs/PERFORMANCE.md): starts the release
# server on a fresh data dir, drives it with examples/move_load, stops it
# (SIGTERM, or SIGKILL with KILL=1) and prints the server's `stopped` line
# and the generator's `load` line. The data dir is kept for replay/recovery.
#
#   benches/persistence_load.sh DATA_DIR ROOMS PLAYERS MOVES_PER_S SECONDS
set -euo pipefail
data=${1:?data dir}; rooms=${2:?rooms}; players=${3:?players}; rate=${4:?moves/s}; secs=${5:?seconds}
bin=target/release/tickroom
rm -rf "$data"; mkdir -p "$data"
export TICKROOM_SERVER_DATA_DIR="$data" TICKROOM_SERVER_HTTP=127.0.0.1:0 TICKROOM_SERVER_QUIC=127.0.0.1:0
export TICKROOM_NET_RATE_MOVES_PER_S=100000 TICKROOM_NET_RATE_ACTIONS_PER_10S=100000 TICKROOM_NET_ABUSE_LIMIT=1000000
export TICKROOM_NET_NEW_CONNECTIONS_PER_IP_PER_S=100000 TICKROOM_NET_MAX_CONNECTIONS_PER_IP=19000
export RUST_LOG=${RUST_LOG:-warn}
"$bin" serve > "$data/server.out" 2> "$data/server.err" &
pid=$!
for _ in $(seq 100); do kill -0 $pid 2>/dev/null || { cat "$data/server.err"; exit 1; }; grep -q '"listening"' "$data/server.out" 2>/dev/null && break; sleep 0.1; done
ws=$(grep -o '"ws":"[^"]*"' "$data/server.out" | head -1 | cut -d'"' -f4)
target/release/examples/move_load --ws "$ws" --rooms "$rooms" --players "$players" \
    --moves-per-s "$rate" --seconds "$secs"
if [ "${KILL:-0}" = 1 ]; then kill -KILL $pid; else kill -TERM $pid; fi
wait $pid || true
grep '"stopped"' "$data/server.out" || echo '{"stopped":"killed"}'
