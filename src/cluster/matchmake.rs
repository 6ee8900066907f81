//! Matchmaking: `POST /api/v1/matchmake {"mode", "filters"}` on any node
//! finds an open room of that mode (and exactly those filters) with a free
//! seat, or makes one on the least-loaded node serving the mode, and
//! answers with the owner's addresses and a signed, short-lived seat
//! reservation — in one Lua script, so concurrent calls never hand out
//! more seats than a room has.
//!
//! Keys (under `<prefix>:`):
//! - `mm:<mode>:<filters hash>`: the pool, a sorted set of rooms by free
//!   seats (`max - members - reserved`); only rooms with a free seat
//!   (score ≥ 1) are ever picked, the fullest first.
//! - `mmroom:<room>`: the room's entry: node, max, members, reserved, pool.
//! - `mmresv`: every reservation (`<room>|<id>`) by expiry on Redis's
//!   clock. Each match first gives back the seats of up to 256 expired
//!   ones.
//!
//! The owner keeps `members` current ([`sync_members`], every lease
//! renewal, only what changed) and takes the room out of the index when it
//! is no longer loaded (archived, unloaded, gone). A claimed reservation's
//! seat counts twice until the reservation's time is up (the join is
//! counted in `members` before the reservation expires): the index errs
//! toward offering fewer seats, never more.

use super::Cluster;
use crate::api::{error_response, json_response};
use crate::http::AppState;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use tickroom_protocol::{ErrorBody, ErrorCode, RoomId};

/// ARGV: prefix, pool key, ttl ms, reservation id, room id and max seats
/// for a new room, then the nodes that may open it with their seated
/// members. A new room goes to the node with the fewest matchmade rooms in
/// the index (`mmcount`, so a burst of calls spreads its rooms at once),
/// then the fewest members. Returns {} (no room, none to make) or {room,
/// node, created (0/1), until ms, the node's record or ''}.
const MATCH: &str = r"
local p, pool, ttl, rid = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local resv = p .. ':mmresv'
local function rescore(entry, room)
  local f = redis.call('HMGET', entry, 'max', 'members', 'reserved', 'pool')
  redis.call('ZADD', f[4], tonumber(f[1]) - tonumber(f[2]) - tonumber(f[3]), room)
end
for _, r in ipairs(redis.call('ZRANGEBYSCORE', resv, '-inf', now, 'LIMIT', 0, 256)) do
  redis.call('ZREM', resv, r)
  local room = string.match(r, '^(.-)|')
  local entry = p .. ':mmroom:' .. room
  if redis.call('EXISTS', entry) == 1 then
    redis.call('HINCRBY', entry, 'reserved', -1)
    rescore(entry, room)
  end
end
local function reserve(room, node, created)
  local entry = p .. ':mmroom:' .. room
  redis.call('HINCRBY', entry, 'reserved', 1)
  rescore(entry, room)
  redis.call('ZADD', resv, now + ttl, room .. '|' .. rid)
  return {room, node, created, now + ttl, redis.call('GET', p .. ':node:' .. node) or ''}
end
for _ = 1, 16 do
  local found = redis.call('ZRANGEBYSCORE', pool, 1, '+inf', 'LIMIT', 0, 1)
  if #found == 0 then
    break
  end
  local room = found[1]
  local entry = p .. ':mmroom:' .. room
  -- The lease names the owner once the room runs; before, the node meant
  -- to open it.
  local node = redis.call('HGET', p .. ':room:' .. room .. ':owner', 'node')
    or redis.call('HGET', entry, 'node')
  if node and redis.call('EXISTS', p .. ':node:' .. node) == 1 then
    return reserve(room, node, 0)
  end
  -- Its node is gone: not offered again.
  local was = redis.call('HGET', entry, 'node')
  if was then
    redis.call('HINCRBY', p .. ':mmcount', was, -1)
  end
  redis.call('ZREM', pool, room)
  redis.call('DEL', entry)
end
local room, max = ARGV[5], tonumber(ARGV[6])
local best, best_rooms, best_members = nil, 0, 0
for i = 7, #ARGV, 2 do
  local rooms = tonumber(redis.call('HGET', p .. ':mmcount', ARGV[i]) or '0')
  local members = tonumber(ARGV[i + 1])
  if not best or rooms < best_rooms or (rooms == best_rooms and members < best_members) then
    best, best_rooms, best_members = ARGV[i], rooms, members
  end
end
if not best then
  return {}
end
local entry = p .. ':mmroom:' .. room
redis.call('HSET', entry, 'node', best, 'max', max, 'members', 0, 'reserved', 0, 'pool', pool)
redis.call('HINCRBY', p .. ':mmcount', best, 1)
return reserve(room, best, 1)
";

/// ARGV: prefix, node, then room and member-count pairs (-1: the room is
/// no longer on this node). Only rooms in the index are touched.
const SYNC: &str = r"
local p, node = ARGV[1], ARGV[2]
for i = 3, #ARGV, 2 do
  local room, members = ARGV[i], tonumber(ARGV[i + 1])
  local entry = p .. ':mmroom:' .. room
  local f = redis.call('HMGET', entry, 'max', 'reserved', 'pool')
  if f[1] then
    if members < 0 then
      redis.call('HINCRBY', p .. ':mmcount', redis.call('HGET', entry, 'node'), -1)
      redis.call('ZREM', f[3], room)
      redis.call('DEL', entry)
    else
      local was = redis.call('HGET', entry, 'node')
      if was ~= node then
        redis.call('HINCRBY', p .. ':mmcount', was, -1)
        redis.call('HINCRBY', p .. ':mmcount', node, 1)
      end
      redis.call('HSET', entry, 'members', members, 'node', node)
      redis.call('ZADD', f[3], tonumber(f[1]) - members - tonumber(f[2]), room)
    end
  end
end
return 0
";

/// What a matchmaking call asks for.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct MatchmakeBody {
    /// The game mode; empty or absent: the server's default mode.
    #[serde(default)]
    mode: String,
    /// Rooms match only rooms made for exactly these filters (flat
    /// strings, numbers and booleans, e.g. `{"map": "forest"}`).
    #[serde(default)]
    #[schema(value_type = Object)]
    filters: serde_json::Map<String, serde_json::Value>,
}

/// Where to go, and the seat held there.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct Matched {
    room: String,
    mode: String,
    node: String,
    /// The owner's WebSocket URL and QUIC address.
    ws: String,
    quic: String,
    /// Send it in `join_reserved` to the owner before it expires.
    reservation: String,
    expires_in_ms: u64,
    /// True when this call made the room (opened by its first player).
    created: bool,
}

const MAX_FILTERS: usize = 16;
const MAX_FILTER_CHARS: usize = 128;

fn bad_filters(why: &str) -> ErrorBody {
    ErrorBody::new(
        ErrorCode::InvalidArgument,
        format!("matchmaking filters: {why}"),
    )
    .with("field", "filters")
}

/// The pool of rooms for `mode` with exactly `filters`: a key from the
/// filters in key order, so equal filters meet whatever order they came in.
fn pool_key(
    prefix: &str,
    mode: &str,
    filters: &serde_json::Map<String, serde_json::Value>,
) -> Result<String, ErrorBody> {
    if filters.len() > MAX_FILTERS {
        return Err(bad_filters(&format!("at most {MAX_FILTERS} keys")));
    }
    let mut sorted: Vec<(&String, &serde_json::Value)> = filters.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(b.0));
    let mut canonical = String::new();
    for (key, value) in sorted {
        let text = match value {
            serde_json::Value::String(s) => format!("s{s}"),
            serde_json::Value::Number(n) => format!("n{n}"),
            serde_json::Value::Bool(b) => format!("b{b}"),
            _ => return Err(bad_filters("values are strings, numbers or booleans")),
        };
        if key.len() > MAX_FILTER_CHARS || text.len() > MAX_FILTER_CHARS {
            return Err(bad_filters(&format!(
                "keys and values are at most {MAX_FILTER_CHARS} characters"
            )));
        }
        canonical.push_str(&format!("{}:{key}={}:{text};", key.len(), text.len()));
    }
    let hash = xxhash_rust::xxh3::xxh3_64(canonical.as_bytes());
    Ok(format!("{prefix}:mm:{mode}:{hash:016x}"))
}

fn random_id(tag: &str) -> String {
    format!("{tag}{}", tickroom_net::tokens::new_session_id())
}

/// Finds a seat (or makes a room) for one player.
pub(crate) async fn matchmake(
    app: &AppState,
    cluster: &Cluster,
    body: MatchmakeBody,
) -> Result<Matched, ErrorBody> {
    let modes = &app.ticks.modes;
    let mode = modes.resolve(&body.mode)?.name().to_owned();
    let config = crate::driver::default_config(&app.ticks, &mode)?;
    let pool = pool_key(&cluster.config.prefix, &mode, &body.filters)?;
    let unavailable = |e: super::redis::ClusterError| {
        ErrorBody::new(
            ErrorCode::ClusterUnavailable,
            "matchmaking needs Redis, which this node cannot reach now",
        )
        .with("reason", e.to_string())
    };
    // The live nodes serving the mode may open a new room, should one be
    // needed; the script picks the least loaded.
    let nodes = cluster.live_nodes().await.map_err(unavailable)?;
    let reservation_id = random_id("s");
    let mut args = vec![
        cluster.config.prefix.clone(),
        pool,
        cluster.config.reservation_ttl_ms.to_string(),
        reservation_id.clone(),
        random_id("m"),
        config.max_players.to_string(),
    ];
    for n in nodes
        .iter()
        .filter(|n| !n.record.draining && n.record.modes.iter().any(|m| m.name == mode))
    {
        args.push(n.record.id.clone());
        args.push(n.record.members.to_string());
    }
    let found: Vec<redis::Value> = cluster
        .link
        .script(MATCH, &[], &args)
        .await
        .map_err(unavailable)?;
    let [room, node, created, until_ms, record] = found.as_slice() else {
        return Err(ErrorBody::new(
            ErrorCode::ModeUnavailable,
            format!("no live node serves the mode {mode:?} and no room of it has a free seat"),
        )
        .with("mode", mode.as_str()));
    };
    let parse = || -> Result<(String, String, i64, u64, String), redis::RedisError> {
        Ok((
            redis::from_redis_value_ref(room)?,
            redis::from_redis_value_ref(node)?,
            redis::from_redis_value_ref(created)?,
            redis::from_redis_value_ref(until_ms)?,
            redis::from_redis_value_ref(record)?,
        ))
    };
    let (room, node, created, until_ms, record) = parse().map_err(|e| {
        crate::driver::trace::internal_error("matchmaking's answer was unreadable", e)
    })?;
    let (ws, quic) = serde_json::from_str::<super::NodeRecord>(&record)
        .map(|r| (r.ws, r.quic))
        .unwrap_or_default();
    let reservation = app
        .net
        .tokens
        .issue_reservation(&tickroom_net::tokens::Reservation {
            room: room.clone(),
            id: reservation_id,
            mode: mode.clone(),
            until_ms,
        });
    Ok(Matched {
        room,
        mode,
        node,
        ws,
        quic,
        reservation,
        expires_in_ms: cluster.config.reservation_ttl_ms,
        created: created == 1,
    })
}

/// A seat in an open room of the mode (and filters), or in a new room on
/// the least-loaded node, with a signed reservation good for
/// `cluster.reservation_ttl_ms`. Where the server takes join tokens, the
/// call needs one (`Authorization: Bearer <join token>`).
#[utoipa::path(post, path = "/api/v1/matchmake", tag = "cluster",
    request_body = MatchmakeBody,
    security((), ("join" = [])),
    responses(
        (status = 200, description = "a seat: `{room, mode, node, ws, quic, reservation, expires_in_ms, created}`", body = Matched),
        (status = 400, description = "MALFORMED, INVALID_ARGUMENT (filters), MODE_UNAVAILABLE, or matchmaking without cluster mode", body = crate::api::ApiError),
        (status = 401, description = "no or an invalid join token where the server takes them", body = crate::api::ApiError),
        (status = 503, description = "CLUSTER_UNAVAILABLE: this node cannot reach Redis now", body = crate::api::ApiError),
    ))]
pub(crate) async fn post_matchmake(
    State(app): State<AppState>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Response {
    let result = async {
        if app.net.tokens.accepts_join_tokens() {
            let token = crate::api::bearer(&headers).unwrap_or_default();
            app.net.tokens.verify_join(token)?;
        }
        let Some(cluster) = app.cluster.clone() else {
            return Err(ErrorBody::new(
                ErrorCode::InvalidArgument,
                "matchmaking runs in cluster mode (cluster.redis_url); a single node lists its rooms at /api/v1/rooms",
            ));
        };
        let body: MatchmakeBody = if bytes.is_empty() {
            MatchmakeBody::default()
        } else {
            crate::api::body(&bytes)?
        };
        matchmake(&app, &cluster, body).await
    }
    .await;
    match result {
        Ok(m) => json_response(StatusCode::OK, &m),
        Err(e) => error_response(&e),
    }
}

/// Keeps the index's member counts of this node's rooms current: sends
/// what changed since `sent`, and takes out the rooms no longer here.
pub async fn sync_members(
    cluster: &Cluster,
    rooms: &[crate::driver::RoomSummary],
    sent: &mut HashMap<RoomId, usize>,
) {
    let now: HashMap<RoomId, usize> = rooms.iter().map(|r| (r.room.clone(), r.members)).collect();
    let mut args = vec![cluster.config.prefix.clone(), cluster.node_id.clone()];
    for (room, members) in &now {
        if sent.get(room) != Some(members) {
            args.push(room.to_string());
            args.push(members.to_string());
        }
    }
    for room in sent.keys().filter(|r| !now.contains_key(*r)) {
        args.push(room.to_string());
        args.push("-1".into());
    }
    if args.len() == 2 {
        return;
    }
    match cluster.link.script::<i64>(SYNC, &[], &args).await {
        Ok(_) => *sent = now,
        Err(e) => tracing::debug!(error = %e, "cluster: updating the matchmaking index failed"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_filters_share_a_pool_whatever_their_order_and_others_do_not() {
        let map = |v: serde_json::Value| v.as_object().unwrap().clone();
        let a = pool_key(
            "p",
            "board",
            &map(serde_json::json!({"map": "forest", "ranked": true})),
        );
        let b = pool_key(
            "p",
            "board",
            &map(serde_json::json!({"ranked": true, "map": "forest"})),
        );
        assert_eq!(a, b);
        let other = pool_key(
            "p",
            "board",
            &map(serde_json::json!({"map": "forest", "ranked": "true"})),
        );
        assert_ne!(a, other, "a string is not a boolean");
        assert_ne!(
            a,
            pool_key(
                "p",
                "tabletop",
                &map(serde_json::json!({"map": "forest", "ranked": true}))
            )
        );
        let nested = pool_key("p", "board", &map(serde_json::json!({"map": {"x": 1}})));
        assert_eq!(nested.unwrap_err().code, ErrorCode::InvalidArgument);
    }
}
