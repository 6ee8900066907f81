//! Handoff: a node that is stopped (`SIGTERM`) or drained
//! (`POST /api/v1/drain`) moves each of its rooms to another node instead
//! of closing it.
//!
//! For each room: it stops at the tick it is at and snapshots itself
//! ([`RoomRouter::freeze`]); the replicator writes that snapshot to Redis
//! at once; the lease goes to the target node under a new epoch (so only
//! the target can claim it); the room stops here and its members are told
//! `ROOM_ELSEWHERE` with the target's addresses. Their clients resume
//! there: the target finds the seat in the seat directory, claims the room
//! (granted: the lease is its own) and rebuilds it from the replica to the
//! same state hash. Requests the room had not applied when it stopped are
//! not acknowledged here; the client library sends them again after its
//! resume.

use super::rooms::elsewhere;
use super::{Cluster, LiveNode};
use crate::driver::RoomRouter;
use crate::driver::ownership::Ownership;
use serde::Serialize;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tickroom_protocol::RoomId;

/// Rooms frozen, written and handed over together.
const BATCH: usize = 64;

pub struct Handoff {
    pub cluster: Arc<Cluster>,
    pub router: Arc<RoomRouter>,
    pub ownership: Arc<Ownership>,
    pub flush: super::replica::Flush,
}

/// What a drain did.
#[derive(Debug, Default, Serialize, utoipa::ToSchema)]
pub struct Drained {
    /// Rooms this node owned when the drain began.
    pub rooms: usize,
    /// Rooms handed to another node.
    pub handed: usize,
    /// Rooms that stayed (no other node to take them, or Redis failed):
    /// they stop with the node and come back from the store and replica.
    pub kept: usize,
    /// The nodes that took rooms, with how many each.
    pub to: std::collections::BTreeMap<String, usize>,
    pub ms: u64,
}

impl Handoff {
    /// Hands every room this node owns to the other live nodes, the least
    /// loaded first; from now on the node opens no room.
    pub async fn drain(&self) -> Drained {
        let started = Instant::now();
        self.ownership.set_draining();
        self.cluster.set_draining().await;
        let owned = self.ownership.owned();
        let mut out = Drained {
            rooms: owned.len(),
            ..Drained::default()
        };
        let mut targets: Vec<(LiveNode, usize)> = match self.cluster.live_nodes().await {
            Ok(nodes) => nodes
                .into_iter()
                .filter(|n| n.record.id != self.cluster.node_id && !n.record.draining)
                .map(|n| (n, 0))
                .collect(),
            Err(e) => {
                tracing::warn!(error = %e, "handoff: the cluster's nodes cannot be read; rooms stay");
                Vec::new()
            }
        };
        if targets.is_empty() {
            out.kept = owned.len();
            out.ms = started.elapsed().as_millis() as u64;
            tracing::warn!(
                rooms = out.kept,
                "handoff: no other node to take the rooms; they stay"
            );
            return out;
        }
        for batch in owned.chunks(BATCH) {
            let mut frozen = Vec::new();
            for (room, epoch) in batch {
                if self.router.freeze(room).await.is_some() {
                    frozen.push((room.clone(), *epoch));
                } else {
                    out.kept += 1;
                }
            }
            let (done, wait) = tokio::sync::oneshot::channel();
            if self.flush.send(done).is_err() || wait.await.is_err() {
                tracing::warn!("handoff: the replicator is gone; rooms stay");
                out.kept += frozen.len();
                continue;
            }
            for (room, epoch) in frozen {
                // The least loaded target: its rooms plus what it got here.
                let Some((target, given)) = targets.iter_mut().min_by_key(|(n, given)| {
                    (n.record.rooms as usize + *given, n.record.id.clone())
                }) else {
                    break;
                };
                if self.hand(&room, epoch, target).await {
                    *given += 1;
                    out.handed += 1;
                    *out.to.entry(target.record.id.clone()).or_default() += 1;
                } else {
                    out.kept += 1;
                }
            }
        }
        out.ms = started.elapsed().as_millis() as u64;
        tracing::info!(
            rooms = out.rooms,
            handed = out.handed,
            kept = out.kept,
            ms = out.ms,
            "handoff done"
        );
        out
    }

    /// Moves the lease to `target` and sends the members there.
    async fn hand(&self, room: &RoomId, epoch: u64, target: &LiveNode) -> bool {
        let leases = self.cluster.leases();
        match leases
            .transfer(room.as_str(), epoch, &target.record.id)
            .await
        {
            Ok(true) => {
                let holder = super::lease::Holder {
                    node: target.record.id.clone(),
                    epoch: 0,
                    ms_left: 0,
                    ws: target.record.ws.clone(),
                    quic: target.record.quic.clone(),
                };
                self.router.lose(room, elsewhere(room, &holder)).await;
                true
            }
            Ok(false) => {
                // Not this node's any more: it stops here as a lost room.
                let error = super::rooms::gone_to(&self.cluster, room).await;
                self.router.lose(room, error).await;
                false
            }
            Err(e) => {
                tracing::warn!(room = %room, error = %e, "handoff: the lease could not be handed over; the room stays");
                // It ticks again here.
                self.router.thaw(room);
                false
            }
        }
    }
}

/// How long a drain may take at shutdown before the node stops anyway.
pub fn budget(shutdown_timeout: Duration) -> Duration {
    shutdown_timeout / 2
}
