//! Replication: every room's record, newest snapshot and the ticks logged
//! since go to Redis too, so that another node can rebuild the room to the
//! same state hash when this one dies or hands it off.
//!
//! Keys (under `<prefix>:room:<id>:`): `record` (the room's seed and
//! config, set once), `log` (a list: the newest snapshot, then every tick
//! logged after it; each snapshot replaces the list, so it stays bounded by
//! the snapshot cadence) and `writer` (the node that wrote it last).
//!
//! The tick threads hand copies of their writes to [`run`], which batches
//! them like the store's group commit and writes every
//! `cluster.replicate_every_ms` in one script per batch of rooms. The
//! script writes a room only while this node holds its lease under the
//! epoch it claimed it with: a node that lost a room writes nothing more
//! of it. What a crash can lose of acknowledged inputs is what was not yet
//! written: at most one interval (plus the script's own time).

use super::Cluster;
use crate::driver::RoomRouter;
use crate::driver::ownership::Ownership;
use crate::rebuild::Replicated;
use std::collections::HashMap;
use std::time::Duration;
use tickroom_persistence::Write;
use tickroom_protocol::RoomId;
use tokio::sync::{mpsc, watch};

/// ARGV: prefix, node, then per room: room, epoch, record or '', reset
/// (1: the entries start with a snapshot, the list is replaced), count,
/// entries. Returns what was not written, each as `<why>:<room>`: `L` the
/// lease is another node's (the room is lost), `W` no lease at all now
/// (Redis lost its keys or the lease lapsed: the renewal takes it back;
/// kept for the next try), `N` written, but the room's log was empty
/// before although no base came with the entries (Redis lost its keys):
/// send the record again, with a fresh snapshot.
const REPLICATE: &str = r"
local p, node = ARGV[1], ARGV[2]
local out = {}
local i = 3
while i <= #ARGV do
  local room, epoch, record, reset, n = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], tonumber(ARGV[i + 4])
  local base = p .. ':room:' .. room
  local h = redis.call('HMGET', base .. ':owner', 'node', 'epoch')
  if h[1] == node and h[2] == epoch then
    if record ~= '' then
      redis.call('SET', base .. ':record', record)
    end
    if reset == '1' then
      redis.call('DEL', base .. ':log')
    end
    -- Every owner starts its writes with a record or a snapshot: that is
    -- when the writer changes.
    if record ~= '' or reset == '1' then
      redis.call('SET', base .. ':writer', node)
    end
    if n > 0 then
      local len = redis.call('RPUSH', base .. ':log', unpack(ARGV, i + 5, i + 4 + n))
      -- Ticks landing in an empty list, with no base sent: Redis lost it.
      if len == n and reset ~= '1' and record == '' then
        out[#out + 1] = 'N:' .. room
      end
    end
  elseif h[1] then
    out[#out + 1] = 'L:' .. room
  else
    out[#out + 1] = 'W:' .. room
  end
  i = i + 5 + n
end
return out
";

/// Entries per script call (Lua's `unpack` has a stack limit).
const MAX_ENTRIES_PER_CALL: usize = 2_000;

/// One script call: its header arguments and the rooms whose entries follow.
type Call = (Vec<String>, Vec<(String, Batch)>);

/// One room's writes since the last flush.
#[derive(Default)]
struct Batch {
    record: Option<Vec<u8>>,
    /// The entries begin with a snapshot: they replace the list.
    reset: bool,
    entries: Vec<Vec<u8>>,
}

impl Batch {
    fn add(&mut self, write: &Write, records: &mut HashMap<String, Vec<u8>>) {
        // The record as the store keeps it (JSON): its mode settings are
        // read back by the mode, as from the store. Kept, to send again
        // should Redis lose it; a room adopted here has its record already.
        match write {
            Write::CreateRoom(record) => {
                self.record = serde_json::to_vec(record).ok();
                if let Some(r) = &self.record {
                    records.insert(record.room.clone(), r.clone());
                }
                return;
            }
            Write::Adopt { record, .. } => {
                if let Ok(r) = serde_json::to_vec(record) {
                    records.insert(record.room.clone(), r);
                }
                return;
            }
            _ => {}
        }
        let Ok(bytes) = postcard::to_stdvec(write) else {
            return;
        };
        match write {
            Write::CreateRoom(_) => {}
            Write::Snapshot(_) | Write::SeatedSnapshot { .. } => {
                self.reset = true;
                self.entries.clear();
                self.entries.push(bytes);
            }
            Write::Tick(_) | Write::Archived { .. } => self.entries.push(bytes),
            Write::Epoch { .. } | Write::Adopt { .. } => {}
        }
    }

    /// A later batch of the same room on top of this one (a flush that
    /// failed is kept and merged with what came since).
    fn then(&mut self, later: Batch) {
        if later.record.is_some() {
            self.record = later.record;
        }
        if later.reset {
            self.reset = true;
            self.entries = later.entries;
        } else {
            self.entries.extend(later.entries);
        }
    }
}

/// Writes what the tick threads send, every `cluster.replicate_every_ms`,
/// until `shutdown` (then once more).
/// Asks the replicator to write everything it was sent so far, now.
pub type Flush = mpsc::UnboundedSender<tokio::sync::oneshot::Sender<()>>;

pub async fn run(
    cluster: std::sync::Arc<Cluster>,
    router: std::sync::Arc<RoomRouter>,
    ownership: std::sync::Arc<Ownership>,
    mut writes: mpsc::UnboundedReceiver<Write>,
    mut flushes: mpsc::UnboundedReceiver<tokio::sync::oneshot::Sender<()>>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut batches: HashMap<String, Batch> = HashMap::new();
    let mut records: HashMap<String, Vec<u8>> = HashMap::new();
    let mut every = tokio::time::interval(Duration::from_millis(cluster.config.replicate_every_ms));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            w = writes.recv() => match w {
                Some(w) => batches.entry(w.room().to_owned()).or_default().add(&w, &mut records),
                None => break,
            },
            _ = every.tick() => flush(&cluster, &router, &ownership, &mut batches, &records).await,
            Some(done) = flushes.recv() => {
                // Whatever was sent before the ask is in the channel now.
                while let Ok(w) = writes.try_recv() {
                    batches.entry(w.room().to_owned()).or_default().add(&w, &mut records);
                }
                flush(&cluster, &router, &ownership, &mut batches, &records).await;
                let _ = done.send(());
            }
            _ = shutdown.changed() => break,
        }
    }
    while let Ok(w) = writes.try_recv() {
        batches
            .entry(w.room().to_owned())
            .or_default()
            .add(&w, &mut records);
    }
    flush(&cluster, &router, &ownership, &mut batches, &records).await;
}

async fn flush(
    cluster: &Cluster,
    router: &RoomRouter,
    ownership: &Ownership,
    batches: &mut HashMap<String, Batch>,
    records: &HashMap<String, Vec<u8>>,
) {
    if batches.is_empty() {
        return;
    }
    let taken = std::mem::take(batches);
    let mut calls: Vec<Call> = Vec::new();
    let mut args = Vec::new();
    let mut rooms = Vec::new();
    let mut entries = 0;
    for (room, batch) in taken {
        // Rooms not (or no longer) this node's are not written.
        let Some(epoch) = ownership.epoch(&RoomId::from(room.as_str())) else {
            continue;
        };
        if entries + batch.entries.len() > MAX_ENTRIES_PER_CALL && !rooms.is_empty() {
            calls.push((std::mem::take(&mut args), std::mem::take(&mut rooms)));
            entries = 0;
        }
        entries += batch.entries.len();
        args.push(room.clone());
        args.push(epoch.to_string());
        args.push(String::new());
        args.push(if batch.reset { "1" } else { "0" }.into());
        args.push(batch.entries.len().to_string());
        rooms.push((room, batch));
    }
    if !rooms.is_empty() {
        calls.push((args, rooms));
    }
    for (args, rooms) in calls {
        let unwritten = match write(cluster, args, &rooms).await {
            Ok(unwritten) => unwritten,
            Err(e) => {
                tracing::debug!(error = %e, "cluster: replicating rooms failed; kept for the next try");
                rooms.iter().map(|(room, _)| format!("W:{room}")).collect()
            }
        };
        let mut rooms: HashMap<String, Batch> = rooms.into_iter().collect();
        for what in unwritten {
            let Some((why, room)) = what.split_once(':') else {
                continue;
            };
            let id = RoomId::from(room);
            match why {
                "L" => {
                    let error = super::rooms::gone_to(cluster, &id).await;
                    tracing::warn!(room = %id, "lost the room's lease (found replicating it); stopping it here");
                    router.lose(&id, error).await;
                }
                "W" => {
                    let Some(mut kept) = rooms.remove(room) else {
                        continue;
                    };
                    if let Some(newer) = batches.remove(room) {
                        kept.then(newer);
                    }
                    batches.insert(room.to_owned(), kept);
                }
                _ => {
                    // Redis lost the room's replica: its record and a fresh
                    // snapshot go again.
                    tracing::warn!(room = %id, "Redis holds no replica base of the room; sending it again");
                    let batch = batches.entry(room.to_owned()).or_default();
                    batch.record = records.get(room).cloned();
                    router.snapshot_now(&id);
                }
            }
        }
    }
}

/// One script call: the rooms' entries are passed as binary arguments.
async fn write(
    cluster: &Cluster,
    header: Vec<String>,
    rooms: &[(String, Batch)],
) -> Result<Vec<String>, super::redis::ClusterError> {
    let mut args: Vec<Vec<u8>> = vec![
        cluster.config.prefix.clone().into_bytes(),
        cluster.node_id.clone().into_bytes(),
    ];
    for (fields, (_, batch)) in header.chunks(5).zip(rooms) {
        args.push(fields[0].clone().into_bytes());
        args.push(fields[1].clone().into_bytes());
        args.push(batch.record.clone().unwrap_or_default());
        args.push(fields[3].clone().into_bytes());
        args.push(fields[4].clone().into_bytes());
        args.extend(batch.entries.iter().cloned());
    }
    cluster.link.script_bytes(REPLICATE, &[], &args).await
}

/// A room's replica, if Redis holds one, and the node that wrote it.
pub async fn fetch(
    cluster: &Cluster,
    room: &RoomId,
) -> Result<Option<(Replicated, String)>, super::redis::ClusterError> {
    const READ: &str = r"
local base = ARGV[1]
local record = redis.call('GET', base .. ':record')
if not record then
  return {}
end
return {record, redis.call('GET', base .. ':writer') or '', redis.call('LRANGE', base .. ':log', 0, -1)}
";
    let base = format!("{}:room:{room}", cluster.config.prefix);
    let found: Vec<redis::Value> = cluster
        .link
        .script_bytes(READ, &[], &[base.into_bytes()])
        .await?;
    let [record, writer, log] = found.as_slice() else {
        return Ok(None);
    };
    let bad =
        |what: &str| super::redis::ClusterError::Internal(format!("room {room}'s replica: {what}"));
    let record: Vec<u8> = redis::from_redis_value_ref(record).map_err(|_| bad("record"))?;
    let writer: String = redis::from_redis_value_ref(writer).map_err(|_| bad("writer"))?;
    let log: Vec<Vec<u8>> = redis::from_redis_value_ref(log).map_err(|_| bad("log"))?;
    let record: tickroom_persistence::RoomRecord = serde_json::from_slice(&record)
        .map_err(|e| bad(&format!("the record does not decode: {e}")))?;
    let mut replica = Replicated {
        record,
        snapshot: None,
        ticks: Vec::new(),
    };
    for entry in log {
        match postcard::from_bytes::<Write>(&entry) {
            Ok(Write::SeatedSnapshot { snapshot, seqs }) => {
                replica.snapshot = Some((snapshot, seqs))
            }
            Ok(Write::Snapshot(snapshot)) => replica.snapshot = Some((snapshot, Vec::new())),
            Ok(Write::Tick(t)) => replica.ticks.push(t),
            Ok(_) => {}
            Err(e) => return Err(bad(&format!("an entry does not decode: {e}"))),
        }
    }
    Ok(Some((replica, writer)))
}
