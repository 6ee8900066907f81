#!/usr/bin/env bash
# Runs `tickroom loadgen` against a fresh release server.
#
#   benches/loadgen.sh [loadgen options...]
#
# Starts `target/release/tickroom serve` on ephemeral loopback ports with a
# fresh data dir (the store on, as in production), runs the load generator
# against it with the given options (--ws, --quic, --quic-cert and
# --server-pid are filled in), then stops the server and prints its
# `stopped` line (tick statistics). LOADGEN_SERVER_BIN runs another build
# of the server (to compare two builds). Server settings come from the
# environment as usual (TICKROOM_<SECTION>_<KEY>=...). LOADGEN_KEEP_DATA=1
# keeps the data dir (printed, with the database's size after a WAL
# checkpoint) instead of removing it.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q
bin=${LOADGEN_SERVER_BIN:-target/release/tickroom}
data=$(mktemp -d /tmp/tickroom-load.XXXXXX)
TICKROOM_SERVER_DATA_DIR="$data" \
  TICKROOM_SERVER_HTTP="${TICKROOM_SERVER_HTTP:-127.0.0.1:0}" \
  TICKROOM_SERVER_QUIC="${TICKROOM_SERVER_QUIC:-127.0.0.1:0}" \
  RUST_LOG="${RUST_LOG:-warn}" \
  "$bin" serve >"$data/server.out" 2>"$data/server.err" &
server=$!
trap 'kill -TERM $server 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  grep -q '^{"listening"' "$data/server.out" 2>/dev/null && break
  sleep 0.1
done
listening=$(grep '^{"listening"' "$data/server.out")
field() { sed -E "s/.*\"$1\":\"([^\"]*)\".*/\1/" <<<"$listening"; }
"$bin" loadgen --ws "$(field ws)" --quic "$(field quic)" --quic-cert "$(field cert_der)" \
  --server-pid "$server" "$@"
kill -TERM "$server"
wait "$server" || true
trap - EXIT
grep '^{"stopped"' "$data/server.out" || true
tail -n 5 "$data/server.err" >&2
if [ "${LOADGEN_KEEP_DATA:-0}" = 1 ]; then
  db="$data/tickroom.db"
  sqlite3 "$db" 'PRAGMA wal_checkpoint(TRUNCATE);' >/dev/null
  echo "{\"data_dir\":\"$data\",\"db_bytes\":$(stat -c %s "$db")}"
else
  rm -rf "$data"
fi
