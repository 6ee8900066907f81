//! The cluster's room list and lobby channel. Each node publishes its
//! public rooms (what `GET /api/v1/rooms` shows, plus the node) to Redis
//! every renewal period when their mode, phase or seats changed:
//! `<prefix>:rooms` (room → summary), `<prefix>:roomnode` (room → node)
//! and `<prefix>:roomids` (a sorted set for paging by id). Each change is
//! also published on the channel `<prefix>:lobby` as
//! `{"event": "appeared" | "changed" | "filled" | "closed", "room": {…}}`,
//! which `GET /api/v1/lobby` streams to consoles and clients.
//!
//! A page read drops the rooms of nodes that left the cluster (they come
//! back in the list when another node takes them over).

use super::Cluster;
use crate::driver::RoomSummary;
use std::collections::HashMap;
use tickroom_protocol::RoomId;

/// ARGV: prefix, node, then per room: room, summary JSON ('' = gone from
/// this node), the lobby event to publish.
const PUBLISH: &str = r"
local p, node = ARGV[1], ARGV[2]
for i = 3, #ARGV, 3 do
  local room, summary, event = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  if summary == '' then
    if redis.call('HGET', p .. ':roomnode', room) == node then
      redis.call('HDEL', p .. ':rooms', room)
      redis.call('HDEL', p .. ':roomnode', room)
      redis.call('ZREM', p .. ':roomids', room)
      redis.call('PUBLISH', p .. ':lobby', event)
    end
  else
    redis.call('HSET', p .. ':rooms', room, summary)
    redis.call('HSET', p .. ':roomnode', room, node)
    redis.call('ZADD', p .. ':roomids', 0, room)
    redis.call('PUBLISH', p .. ':lobby', event)
  end
end
return 0
";

/// ARGV: prefix, after ('' = the first), limit. Returns {summaries, the
/// last id read ('' when none), how many ids were read}.
const PAGE: &str = r"
local p = ARGV[1]
local from = '-'
if ARGV[2] ~= '' then
  from = '(' .. ARGV[2]
end
local ids = redis.call('ZRANGEBYLEX', p .. ':roomids', from, '+', 'LIMIT', 0, tonumber(ARGV[3]))
local out = {}
for _, room in ipairs(ids) do
  local node = redis.call('HGET', p .. ':roomnode', room)
  if node and redis.call('EXISTS', p .. ':node:' .. node) == 1 then
    out[#out + 1] = redis.call('HGET', p .. ':rooms', room)
  else
    redis.call('HDEL', p .. ':rooms', room)
    redis.call('HDEL', p .. ':roomnode', room)
    redis.call('ZREM', p .. ':roomids', room)
  end
end
return {out, ids[#ids] or '', #ids}
";

/// What changes a room's entry (tick and version do not).
fn shape(r: &RoomSummary) -> (String, String, usize, u16) {
    (
        r.mode.clone(),
        format!("{:?}", r.phase),
        r.members,
        r.max_players,
    )
}

fn entry(cluster: &Cluster, r: &RoomSummary) -> serde_json::Value {
    let mut v = serde_json::to_value(r).unwrap_or_default();
    if let Some(o) = v.as_object_mut() {
        o.insert("node".into(), cluster.node_id.clone().into());
    }
    v
}

/// Publishes what changed in this node's public rooms since `sent`.
pub async fn publish(
    cluster: &Cluster,
    rooms: &[RoomSummary],
    sent: &mut HashMap<RoomId, (String, String, usize, u16)>,
) {
    let mut args = vec![cluster.config.prefix.clone(), cluster.node_id.clone()];
    let mut now = HashMap::with_capacity(rooms.len());
    for r in rooms {
        let s = shape(r);
        let before = sent.get(&r.room);
        if before != Some(&s) {
            let event = match before {
                None => "appeared",
                Some(_) if r.members >= usize::from(r.max_players) => "filled",
                Some(_) => "changed",
            };
            let room = entry(cluster, r);
            args.push(r.room.to_string());
            args.push(room.to_string());
            args.push(serde_json::json!({"event": event, "room": room}).to_string());
        }
        now.insert(r.room.clone(), s);
    }
    for room in sent.keys().filter(|r| !now.contains_key(*r)) {
        args.push(room.to_string());
        args.push(String::new());
        let gone = serde_json::json!({"room": room, "node": cluster.node_id});
        args.push(serde_json::json!({"event": "closed", "room": gone}).to_string());
    }
    if args.len() == 2 {
        return;
    }
    match cluster.link.script::<i64>(PUBLISH, &[], &args).await {
        Ok(_) => *sent = now,
        Err(e) => tracing::debug!(error = %e, "cluster: publishing the room list failed"),
    }
}

/// A page of the cluster's public rooms by id, each with its node, and
/// the id to pass as `after` for the next page.
pub async fn page(
    cluster: &Cluster,
    after: Option<&str>,
    limit: usize,
) -> Result<(Vec<serde_json::Value>, Option<String>), super::redis::ClusterError> {
    let args = [
        cluster.config.prefix.clone(),
        after.unwrap_or_default().to_owned(),
        limit.to_string(),
    ];
    let (rooms, last, read): (Vec<String>, String, usize) =
        cluster.link.script(PAGE, &[], &args).await?;
    let rooms = rooms
        .iter()
        .filter_map(|r| serde_json::from_str(r).ok())
        .collect();
    // A full page read may have more after it (even if rooms of dead
    // nodes were dropped from this one).
    let next = (read == limit && !last.is_empty()).then_some(last);
    Ok((rooms, next))
}
