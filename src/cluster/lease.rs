//! Room leases: which node owns a room, with a fencing token.
//!
//! `<prefix>:room:<id>:owner` is a hash `{node, epoch}` with a time to live;
//! `<prefix>:room:<id>:epoch` is a counter that never expires. Every claim
//! takes a new epoch from the counter (`INCR`), so epochs only grow: a node
//! holding an older epoch — one that was paused past its lease, or a dead
//! node's restarted process — can prove nothing with it. Renewing and
//! releasing are scripts that act only when both the node and the epoch
//! match, and every later ownership write (replication, handoff) checks the
//! same pair in the same script, so a node that lost its lease never writes
//! the room again.

use super::redis::{ClusterError, RedisLink};
use std::time::Duration;

/// KEYS: owner, epoch counter. ARGV: node, ttl ms, node record key prefix,
/// the set of nodes that hold rooms, the room. Returns {granted (0/1),
/// owner node, owner epoch, ms left, the owner's node record or ''}. A
/// granted claim also lists the room under its node
/// (`<prefix>:node:<id>:rooms`), so that when the node dies the others
/// find the rooms to take over.
const CLAIM: &str = r"
local holder = redis.call('HGET', KEYS[1], 'node')
if holder and holder ~= ARGV[1] then
  local record = redis.call('GET', ARGV[3] .. holder) or ''
  return {0, holder, tonumber(redis.call('HGET', KEYS[1], 'epoch')) or 0, redis.call('PTTL', KEYS[1]), record}
end
local epoch = redis.call('INCR', KEYS[2])
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'node', ARGV[1], 'epoch', epoch)
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('SADD', ARGV[3] .. ARGV[1] .. ':rooms', ARGV[5])
redis.call('SADD', ARGV[4], ARGV[1])
return {1, ARGV[1], epoch, tonumber(ARGV[2]), ''}
";

/// The rooms of nodes that left the cluster that nobody holds now, at most
/// ARGV[3]. ARGV: key prefix, the set of nodes that hold rooms, limit.
/// Entries of rooms that another node holds now are dropped on the way,
/// and so is a dead node with no room left.
const ORPHANS: &str = r"
local p, owners, limit = ARGV[1], ARGV[2], tonumber(ARGV[3])
local out = {}
for _, node in ipairs(redis.call('SMEMBERS', owners)) do
  if redis.call('EXISTS', p .. ':node:' .. node) == 0 then
    local set = p .. ':node:' .. node .. ':rooms'
    for _, room in ipairs(redis.call('SRANDMEMBER', set, 64)) do
      local holder = redis.call('HGET', p .. ':room:' .. room .. ':owner', 'node')
      if not holder then
        out[#out + 1] = room
      elseif holder ~= node then
        redis.call('SREM', set, room)
      end
      if #out >= limit then
        return out
      end
    end
    if redis.call('SCARD', set) == 0 then
      redis.call('SREM', owners, node)
    end
  end
end
return out
";

/// Renews many of this node's leases in one call. ARGV: key prefix, node,
/// ttl ms, then room and epoch pairs. Returns 1 (held) or 0 (lost) per
/// room. A lease that expired with nobody claiming the room since (the
/// epoch counter still at this node's epoch, or gone with a Redis that
/// lost its data) is taken again under the same epoch: a late renewal, a
/// Redis outage or restart must not drop a room that nobody else took.
const RENEW_MANY: &str = r"
local p, node, ttl = ARGV[1], ARGV[2], ARGV[3]
local out = {}
for i = 4, #ARGV, 2 do
  local room, epoch = ARGV[i], ARGV[i + 1]
  local owner = p .. ':room:' .. room .. ':owner'
  local h = redis.call('HMGET', owner, 'node', 'epoch')
  local held = 0
  if h[1] == node and h[2] == epoch then
    redis.call('PEXPIRE', owner, ttl)
    held = 1
  elseif not h[1] then
    local counter = p .. ':room:' .. room .. ':epoch'
    local current = redis.call('GET', counter)
    if not current or current == epoch then
      if not current then
        redis.call('SET', counter, epoch)
      end
      redis.call('HSET', owner, 'node', node, 'epoch', epoch)
      redis.call('PEXPIRE', owner, ttl)
      held = 1
    end
  end
  out[#out + 1] = held
end
return out
";

/// KEYS: owner. ARGV: node, epoch. 1 when released.
const RELEASE: &str = r"
if redis.call('HGET', KEYS[1], 'node') == ARGV[1] and tonumber(redis.call('HGET', KEYS[1], 'epoch')) == tonumber(ARGV[2]) then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
";

/// Hands the lease to another node, under a new epoch, if this node holds
/// it under `epoch`. KEYS: owner, epoch counter. ARGV: node, epoch, target,
/// ttl ms, node key prefix, the set of nodes holding rooms, the room.
/// Returns the new epoch, or 0.
const TRANSFER: &str = r"
if redis.call('HGET', KEYS[1], 'node') == ARGV[1] and tonumber(redis.call('HGET', KEYS[1], 'epoch')) == tonumber(ARGV[2]) then
  local epoch = redis.call('INCR', KEYS[2])
  redis.call('DEL', KEYS[1])
  redis.call('HSET', KEYS[1], 'node', ARGV[3], 'epoch', epoch)
  redis.call('PEXPIRE', KEYS[1], ARGV[4])
  redis.call('SREM', ARGV[5] .. ARGV[1] .. ':rooms', ARGV[7])
  redis.call('SADD', ARGV[5] .. ARGV[3] .. ':rooms', ARGV[7])
  redis.call('SADD', ARGV[6], ARGV[3])
  return epoch
end
return 0
";

/// KEYS: owner. ARGV: node record key prefix. Returns {} or {node, epoch,
/// ms left, the owner's node record or ''}.
const OWNER: &str = r"
local holder = redis.call('HGET', KEYS[1], 'node')
if not holder then
  return {}
end
local record = redis.call('GET', ARGV[1] .. holder) or ''
return {holder, tonumber(redis.call('HGET', KEYS[1], 'epoch')) or 0, redis.call('PTTL', KEYS[1]), record}
";

/// Who holds a room's lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    pub node: String,
    /// The fencing token: grows with every claim of the room.
    pub epoch: u64,
    /// Milliseconds until the lease expires unless renewed.
    pub ms_left: i64,
    /// The holder's addresses from its node record (empty when its record
    /// expired: a dead node whose leases have not yet).
    pub ws: String,
    pub quic: String,
}

impl Holder {
    fn with_record(mut self, record: &str) -> Holder {
        if let Ok(r) = serde_json::from_str::<super::NodeRecord>(record) {
            self.ws = r.ws;
            self.quic = r.quic;
        }
        self
    }
}

/// The answer to a claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// This node owns the room under `epoch` now.
    Granted { epoch: u64 },
    /// Another node holds it.
    HeldBy(Holder),
}

/// This node's side of the room leases.
pub struct Leases<'a> {
    pub link: &'a RedisLink,
    pub prefix: &'a str,
    pub node: &'a str,
    pub ttl: Duration,
}

impl Leases<'_> {
    fn owner_key(&self, room: &str) -> String {
        format!("{}:room:{room}:owner", self.prefix)
    }

    fn epoch_key(&self, room: &str) -> String {
        format!("{}:room:{room}:epoch", self.prefix)
    }

    fn ttl_ms(&self) -> String {
        self.ttl.as_millis().to_string()
    }

    /// Takes the room's lease if nobody else holds it, under a new epoch
    /// (also when this node held it before: a new claim is a new holder).
    pub async fn claim(&self, room: &str) -> Result<Claim, ClusterError> {
        let keys = [self.owner_key(room), self.epoch_key(room)];
        let args = [
            self.node.to_owned(),
            self.ttl_ms(),
            format!("{}:node:", self.prefix),
            format!("{}:owners", self.prefix),
            room.to_owned(),
        ];
        let (granted, node, epoch, ms_left, record): (i64, String, u64, i64, String) =
            self.link.script(CLAIM, &keys, &args).await?;
        Ok(if granted == 1 {
            Claim::Granted { epoch }
        } else {
            Claim::HeldBy(
                Holder {
                    node,
                    epoch,
                    ms_left,
                    ws: String::new(),
                    quic: String::new(),
                }
                .with_record(&record),
            )
        })
    }

    /// Renews every lease of `held` (room, epoch) in one call; returns the
    /// rooms whose lease this node no longer holds.
    pub async fn renew_many(&self, held: &[(String, u64)]) -> Result<Vec<String>, ClusterError> {
        if held.is_empty() {
            return Ok(Vec::new());
        }
        let mut args = Vec::with_capacity(3 + 2 * held.len());
        args.push(self.prefix.to_owned());
        args.push(self.node.to_owned());
        args.push(self.ttl_ms());
        for (room, epoch) in held {
            args.push(room.clone());
            args.push(epoch.to_string());
        }
        let kept: Vec<i64> = self.link.script(RENEW_MANY, &[], &args).await?;
        if kept.len() != held.len() {
            return Err(ClusterError::Internal(format!(
                "renewed {} leases, asked {}",
                kept.len(),
                held.len()
            )));
        }
        Ok(held
            .iter()
            .zip(kept)
            .filter(|(_, k)| *k != 1)
            .map(|((room, _), _)| room.clone())
            .collect())
    }

    /// Gives the room up; false when the lease was no longer this node's
    /// under `epoch` (nothing of another holder's is touched).
    pub async fn release(&self, room: &str, epoch: u64) -> Result<bool, ClusterError> {
        let keys = [self.owner_key(room)];
        let args = [self.node.to_owned(), epoch.to_string()];
        let released: i64 = self.link.script(RELEASE, &keys, &args).await?;
        Ok(released == 1)
    }

    /// Hands the room to `target` (a handoff): it holds the lease under a
    /// new epoch, so its first claim of the room is granted at once and
    /// nobody else's is. False when this node no longer held it.
    pub async fn transfer(
        &self,
        room: &str,
        epoch: u64,
        target: &str,
    ) -> Result<bool, ClusterError> {
        let keys = [self.owner_key(room), self.epoch_key(room)];
        let args = [
            self.node.to_owned(),
            epoch.to_string(),
            target.to_owned(),
            self.ttl_ms(),
            format!("{}:node:", self.prefix),
            format!("{}:owners", self.prefix),
            room.to_owned(),
        ];
        let epoch: i64 = self.link.script(TRANSFER, &keys, &args).await?;
        Ok(epoch > 0)
    }

    /// Rooms of nodes that left the cluster that nobody holds now (at most
    /// `limit`): for the live nodes to take over.
    pub async fn orphans(&self, limit: usize) -> Result<Vec<String>, ClusterError> {
        let args = [
            self.prefix.to_owned(),
            format!("{}:owners", self.prefix),
            limit.to_string(),
        ];
        self.link.script(ORPHANS, &[], &args).await
    }

    /// Who holds the room now, if anyone.
    pub async fn owner(&self, room: &str) -> Result<Option<Holder>, ClusterError> {
        let keys = [self.owner_key(room)];
        let args = [format!("{}:node:", self.prefix)];
        let found: Vec<redis::Value> = self.link.script(OWNER, &keys, &args).await?;
        let [node, epoch, ms_left, record] = found.as_slice() else {
            return Ok(None);
        };
        let parse = || -> Result<Holder, redis::RedisError> {
            let record: String = redis::from_redis_value_ref(record)?;
            Ok(Holder {
                node: redis::from_redis_value_ref(node)?,
                epoch: redis::from_redis_value_ref(epoch)?,
                ms_left: redis::from_redis_value_ref(ms_left)?,
                ws: String::new(),
                quic: String::new(),
            }
            .with_record(&record))
        };
        parse()
            .map(Some)
            .map_err(|e| ClusterError::Redis(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ClusterSection;

    fn link() -> RedisLink {
        RedisLink::new(&ClusterSection {
            redis_url: std::env::var("REDIS_URL")
                .unwrap_or_else(|_| "redis://127.0.0.1:6379".into()),
            ..ClusterSection::default()
        })
    }

    fn prefix(test: &str) -> String {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        format!("unit-lease-{test}-{}-{nanos}", std::process::id())
    }

    fn leases<'a>(link: &'a RedisLink, prefix: &'a str, node: &'a str, ms: u64) -> Leases<'a> {
        Leases {
            link,
            prefix,
            node,
            ttl: Duration::from_millis(ms),
        }
    }

    #[tokio::test]
    async fn the_first_claim_wins_and_only_its_holder_renews_or_releases() {
        let link = link();
        let p = prefix("first");
        let a = leases(&link, &p, "a", 5_000);
        let b = leases(&link, &p, "b", 5_000);
        assert_eq!(a.claim("r").await.unwrap(), Claim::Granted { epoch: 1 });
        match b.claim("r").await.unwrap() {
            Claim::HeldBy(h) => {
                assert_eq!((h.node.as_str(), h.epoch), ("a", 1));
                assert!(0 < h.ms_left && h.ms_left <= 5_000, "{h:?}");
            }
            other => panic!("{other:?}"),
        }
        let held = |epoch: u64| vec![("r".to_string(), epoch)];
        assert!(a.renew_many(&held(1)).await.unwrap().is_empty());
        assert_eq!(
            b.renew_many(&held(1)).await.unwrap(),
            ["r"],
            "not b's lease"
        );
        assert_eq!(
            a.renew_many(&held(2)).await.unwrap(),
            ["r"],
            "not that epoch"
        );
        assert!(!b.release("r", 1).await.unwrap());
        assert_eq!(
            a.owner("r").await.unwrap().map(|h| h.node),
            Some("a".into())
        );
        assert!(a.release("r", 1).await.unwrap());
        assert_eq!(a.owner("r").await.unwrap(), None);
        assert_eq!(b.claim("r").await.unwrap(), Claim::Granted { epoch: 2 });
    }

    #[tokio::test]
    async fn a_holder_paused_past_its_ttl_is_fenced_out_by_the_next_epoch() {
        let link = link();
        let p = prefix("paused");
        let a = leases(&link, &p, "a", 150);
        let b = leases(&link, &p, "b", 5_000);
        assert_eq!(a.claim("r").await.unwrap(), Claim::Granted { epoch: 1 });
        // a stops renewing (paused, partitioned) and its lease runs out.
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(b.claim("r").await.unwrap(), Claim::Granted { epoch: 2 });
        // a comes back: its epoch proves nothing, and it cannot undo b's.
        assert_eq!(a.renew_many(&[("r".into(), 1)]).await.unwrap(), ["r"]);
        assert!(!a.release("r", 1).await.unwrap());
        let holder = a.owner("r").await.unwrap().unwrap();
        assert_eq!((holder.node.as_str(), holder.epoch), ("b", 2));
        // Even a's own later claim after b lets go is a new, higher epoch.
        assert!(b.release("r", 2).await.unwrap());
        assert_eq!(a.claim("r").await.unwrap(), Claim::Granted { epoch: 3 });
    }

    /// A batch renewal keeps what is held, takes back a lapsed lease that
    /// nobody claimed since (also after Redis lost every key), and reports
    /// a lease another node claimed meanwhile as lost, touching nothing.
    #[tokio::test]
    async fn a_batch_renewal_keeps_retakes_a_lapsed_lease_and_reports_a_taken_one() {
        let link = link();
        let p = prefix("many");
        let a = leases(&link, &p, "a", 200);
        let b = leases(&link, &p, "b", 5_000);
        for room in ["kept", "lapsed", "taken", "wiped"] {
            assert_eq!(a.claim(room).await.unwrap(), Claim::Granted { epoch: 1 });
        }
        let held: Vec<(String, u64)> = ["kept", "lapsed", "taken", "wiped"]
            .iter()
            .map(|r| (r.to_string(), 1))
            .collect();
        assert_eq!(a.renew_many(&held).await.unwrap(), Vec::<String>::new());
        tokio::time::sleep(Duration::from_millis(300)).await;
        // All four lapsed; b claims one, and Redis "loses" another's keys.
        assert_eq!(b.claim("taken").await.unwrap(), Claim::Granted { epoch: 2 });
        link.script::<i64>(
            "return redis.call('DEL', KEYS[1])",
            &[format!("{p}:room:wiped:epoch")],
            &[],
        )
        .await
        .unwrap();
        assert_eq!(a.renew_many(&held).await.unwrap(), ["taken"]);
        for room in ["kept", "lapsed", "wiped"] {
            let h = a.owner(room).await.unwrap().unwrap();
            assert_eq!((h.node.as_str(), h.epoch), ("a", 1), "{room}");
        }
        let h = a.owner("taken").await.unwrap().unwrap();
        assert_eq!((h.node.as_str(), h.epoch), ("b", 2));
        // The wiped counter is back at a's epoch: the next claim is above it.
        assert!(a.release("wiped", 1).await.unwrap());
        assert_eq!(b.claim("wiped").await.unwrap(), Claim::Granted { epoch: 2 });
    }

    #[tokio::test]
    async fn of_many_concurrent_claims_exactly_one_is_granted() {
        let link = std::sync::Arc::new(link());
        let p = prefix("race");
        let mut tasks = Vec::new();
        for n in 0..50 {
            let link = link.clone();
            let p = p.clone();
            tasks.push(tokio::spawn(async move {
                let node = format!("n{n}");
                let l = leases(&link, &p, &node, 5_000);
                l.claim("r").await.unwrap()
            }));
        }
        let mut granted = Vec::new();
        let mut holders = std::collections::BTreeSet::new();
        for t in tasks {
            match t.await.unwrap() {
                Claim::Granted { epoch } => granted.push(epoch),
                Claim::HeldBy(h) => {
                    holders.insert((h.node, h.epoch));
                }
            }
        }
        assert_eq!(granted, [1], "one winner, under epoch 1");
        assert_eq!(
            holders.len(),
            1,
            "every loser saw the same holder: {holders:?}"
        );
    }
}
