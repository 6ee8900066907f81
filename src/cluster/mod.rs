//! Cluster mode: several nodes against one Redis, switched on by
//! `cluster.redis_url`. Without it nothing here runs and no Redis is
//! needed.
//!
//! This part: each node's record (id, public addresses, modes, load) under
//! `<prefix>:node:<id>` with a time to live, renewed well inside it, and an
//! index of live nodes by expiry (`<prefix>:nodes`), both written by one
//! atomic script on Redis's own clock, so nodes' clocks never disagree
//! about who is alive. Every Redis call goes through one circuit breaker
//! ([`redis::RedisLink`]); while Redis is unreachable the node keeps
//! serving its rooms and `/ready` says the cluster is degraded and why.

pub mod api;
pub mod handoff;
pub mod lease;
pub mod limits;
pub mod listing;
pub mod lobby;
pub mod matchmake;
pub mod node_id;
pub mod redis;
pub mod replica;
pub mod rooms;

use crate::config::ClusterSection;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tickroom_protocol::ModeInfo;
use tokio::sync::watch;

/// What a node tells the cluster about itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeRecord {
    pub id: String,
    /// The WebSocket URL clients should use.
    pub ws: String,
    /// The QUIC address clients should use (empty: no QUIC).
    pub quic: String,
    pub modes: Vec<ModeInfo>,
    /// Loaded rooms.
    pub rooms: u64,
    /// Seats in loaded rooms.
    pub members: u64,
    /// The tick threads' busy share over the last renewal period, 0..=1.
    pub tick_utilisation: f64,
    /// When the node started, Unix milliseconds (tells restarts apart).
    pub started_at_ms: u64,
    /// Handing its rooms off: no new room is placed here.
    #[serde(default)]
    pub draining: bool,
}

/// A live node as `GET /api/v1/nodes` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LiveNode {
    #[serde(flatten)]
    pub record: NodeRecord,
    /// Milliseconds until the node leaves the cluster unless it renews.
    pub expires_in_ms: i64,
}

/// The node's view of the cluster, for the probes and the API.
pub struct Cluster {
    pub config: ClusterSection,
    pub node_id: String,
    pub link: redis::RedisLink,
    /// The record as last sent (or about to be).
    record: std::sync::Mutex<NodeRecord>,
}

/// Where a node's load comes from.
pub struct LoadSource {
    pub rooms: Arc<crate::driver::RoomRouter>,
    pub ticks: Arc<crate::driver::ShardSettings>,
    pub tick_threads: usize,
}

impl Cluster {
    pub fn new(config: ClusterSection, node_id: String, record: NodeRecord) -> Cluster {
        let link = redis::RedisLink::new(&config);
        Cluster {
            config,
            node_id,
            link,
            record: std::sync::Mutex::new(record),
        }
    }

    fn node_key(&self) -> String {
        format!("{}:node:{}", self.config.prefix, self.node_id)
    }

    fn nodes_key(&self) -> String {
        format!("{}:nodes", self.config.prefix)
    }

    /// What `/ready` says of the cluster: `ok`, or `degraded` with the
    /// reason (Redis unreachable: this node's rooms keep running).
    pub async fn probe(&self) -> serde_json::Value {
        let (link, up) = self.link.health().await;
        serde_json::json!({
            "enabled": true,
            "node": self.node_id,
            "state": if up { "ok" } else { "degraded" },
            "reason": (!up).then(|| link.last_error.clone().unwrap_or_else(|| "not registered yet".into())),
            "redis": link,
        })
    }

    /// The node's time to live in the cluster.
    pub fn node_ttl(&self) -> Duration {
        Duration::from_millis(self.config.node_ttl_ms)
    }

    /// How often the record is renewed: a fifth of its time to live unless
    /// configured, so that a few late or failed renewals in a row do not
    /// drop a live node.
    pub fn renew_every(&self) -> Duration {
        match self.config.renew_every_ms {
            0 => self.node_ttl() / 5,
            ms => Duration::from_millis(ms),
        }
    }

    /// Writes the node's record with its time to live; returns Redis's
    /// clock (ms) at the write.
    pub async fn register(&self) -> Result<i64, redis::ClusterError> {
        let record = self
            .record
            .lock()
            .map(|r| r.clone())
            .map_err(|_| redis::ClusterError::Internal("record lock poisoned".into()))?;
        let json = serde_json::to_string(&record)
            .map_err(|e| redis::ClusterError::Internal(e.to_string()))?;
        let keys = [self.node_key(), self.nodes_key()];
        let args = [
            json,
            self.config.node_ttl_ms.to_string(),
            self.node_id.clone(),
        ];
        self.link.script(redis::REGISTER, &keys, &args).await
    }

    /// Marks the node draining in its record, at once: matchmaking places
    /// no room here from now on.
    pub async fn set_draining(&self) {
        if let Ok(mut r) = self.record.lock() {
            r.draining = true;
        }
        if let Err(e) = self.register().await {
            tracing::warn!(error = %e, "cluster: could not mark the node draining");
        }
    }

    /// Takes the node out of the cluster at once (a graceful stop).
    pub async fn deregister(&self) -> Result<(), redis::ClusterError> {
        let keys = [self.node_key(), self.nodes_key()];
        let args = [self.node_id.clone()];
        self.link
            .script::<i64>(redis::DEREGISTER, &keys, &args)
            .await
            .map(drop)
    }

    /// Every node whose record has not expired, by id.
    pub async fn live_nodes(&self) -> Result<Vec<LiveNode>, redis::ClusterError> {
        let keys = [self.nodes_key()];
        let args = [format!("{}:node:", self.config.prefix)];
        let raw: Vec<(String, i64)> = self.link.script(redis::LIST, &keys, &args).await?;
        let mut nodes: Vec<LiveNode> = raw
            .into_iter()
            .filter_map(|(json, expires_in_ms)| {
                let record = serde_json::from_str(&json).ok()?;
                Some(LiveNode {
                    record,
                    expires_in_ms,
                })
            })
            .collect();
        nodes.sort_by(|a, b| a.record.id.cmp(&b.record.id));
        Ok(nodes)
    }

    /// Renews the record every [`Cluster::renew_every`] with the node's
    /// current load until `shutdown`, then deregisters.
    pub async fn run(self: Arc<Self>, load: LoadSource, mut shutdown: watch::Receiver<bool>) {
        let mut every = tokio::time::interval(self.renew_every());
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last = (
            Instant::now(),
            load.ticks.stats.tick_ns_total.load(Ordering::Relaxed),
        );
        loop {
            tokio::select! {
                _ = every.tick() => {}
                _ = shutdown.changed() => break,
            }
            // A tick thread that does not answer leaves the last figures.
            let census = tokio::time::timeout(Duration::from_secs(1), load.rooms.census())
                .await
                .ok();
            let now = Instant::now();
            let busy_ns = load.ticks.stats.tick_ns_total.load(Ordering::Relaxed);
            let wall_ns = now.duration_since(last.0).as_nanos() as f64 * load.tick_threads as f64;
            let utilisation = if wall_ns > 0.0 {
                (busy_ns.saturating_sub(last.1) as f64 / wall_ns).clamp(0.0, 1.0)
            } else {
                0.0
            };
            last = (now, busy_ns);
            if let Ok(mut r) = self.record.lock() {
                if let Some(census) = census {
                    r.rooms = census.rooms.iter().sum();
                    r.members = census.members;
                }
                r.tick_utilisation = (utilisation * 1000.0).round() / 1000.0;
            }
            if let Err(e) = self.register().await {
                tracing::debug!(error = %e, "cluster: renewing the node record failed");
            }
        }
        if let Err(e) = self.deregister().await {
            tracing::warn!(error = %e, "cluster: could not leave the cluster; the record expires by itself");
        }
    }
}

/// The addresses clients should use: the configured public ones, else the
/// listening ones.
pub fn public_addresses(
    config: &ClusterSection,
    ws_listening: std::net::SocketAddr,
    wss: bool,
    quic_listening: Option<std::net::SocketAddr>,
) -> (String, String) {
    let ws = if config.public_ws.is_empty() {
        let scheme = if wss { "wss" } else { "ws" };
        format!("{scheme}://{ws_listening}/ws")
    } else {
        config.public_ws.clone()
    };
    let quic = if config.public_quic.is_empty() {
        quic_listening.map(|a| a.to_string()).unwrap_or_default()
    } else {
        config.public_quic.clone()
    };
    (ws, quic)
}
