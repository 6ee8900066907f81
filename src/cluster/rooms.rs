//! The room directory's Redis side: claims each room's lease when this
//! node is asked to run it, renews every lease it holds in batches well
//! inside their time to live, and stops a room whose lease is gone.
//!
//! The fence ([`crate::driver::ownership::LeaseFence`]) is moved on by
//! every renewal that reached Redis, to its send time plus nine tenths of
//! the TTL: on this node's clock, the leases certainly hold until then.
//! A renewal that failed because Redis is unreachable also moves it: while
//! Redis is down nobody can claim a room, so the owner keeps running it
//! (when Redis returns, the renewal takes back each lease nobody claimed).
//! A node that was paused past the fence runs nothing until it hears back.

use super::Cluster;
use super::lease::{Claim, Holder, Leases};
use crate::driver::RoomRouter;
use crate::driver::ownership::{Ask, Ownership, Settled};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tickroom_protocol::{ErrorBody, ErrorCode, RoomId};
use tokio::sync::{mpsc, watch};

/// Rooms of dead nodes one node takes over per renewal period (the live
/// nodes share them out, each taking a random part).
const ORPHANS_PER_SCAN: usize = 64;

/// Leases renewed per Redis call.
const RENEW_BATCH: usize = 1_000;

/// How long a recovered room whose claim failed (Redis unreachable) waits
/// before it is claimed again.
const RECLAIM_AFTER: Duration = Duration::from_millis(500);

impl Cluster {
    pub fn leases(&self) -> Leases<'_> {
        Leases {
            link: &self.link,
            prefix: &self.config.prefix,
            node: &self.node_id,
            ttl: self.node_ttl(),
        }
    }

    /// Until when, on this node's clock, leases renewed at `sent` hold.
    fn fence_after(&self, sent: Instant) -> Instant {
        sent + self.node_ttl() * 9 / 10
    }
}

/// `ROOM_ELSEWHERE`: the room is `holder`'s.
pub fn elsewhere(room: &RoomId, holder: &Holder) -> ErrorBody {
    ErrorBody::new(
        ErrorCode::RoomElsewhere,
        format!("room {room} is on node {}; connect there", holder.node),
    )
    .with("room", room.as_str())
    .with("node", holder.node.as_str())
    .with("ws", holder.ws.as_str())
    .with("quic", holder.quic.as_str())
}

pub fn unavailable(e: &super::redis::ClusterError) -> ErrorBody {
    ErrorBody::new(
        ErrorCode::ClusterUnavailable,
        "the room's owner cannot be settled: Redis is unreachable; nothing was applied, retry later",
    )
    .with("reason", e.to_string())
}

/// Claims what `claims` asks for and renews what this node holds, until
/// `shutdown`. `recovered` are the rooms the node found in its store at
/// start: their claims are retried until they settle.
pub async fn run(
    cluster: Arc<Cluster>,
    router: Arc<RoomRouter>,
    settings: Arc<crate::driver::ShardSettings>,
    ownership: Arc<Ownership>,
    mut claims: mpsc::UnboundedReceiver<Ask>,
    recovered: HashSet<RoomId>,
    mut shutdown: watch::Receiver<bool>,
) {
    let recovered = Arc::new(std::sync::Mutex::new(recovered));
    // What the matchmaking index was last told of this node's rooms.
    let mut members_sent = std::collections::HashMap::new();
    // What the cluster's room list was last told of this node's rooms.
    let mut listed = std::collections::HashMap::new();
    let mut renew = tokio::time::interval(cluster.renew_every());
    renew.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut seats_every =
        tokio::time::interval(Duration::from_millis(cluster.config.replicate_every_ms));
    seats_every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut seats: Vec<(String, RoomId)> = Vec::new();
    loop {
        tokio::select! {
            ask = claims.recv() => {
                let room = match ask {
                    None => break,
                    Some(Ask::Claim(room)) => room,
                    Some(Ask::Seat { user, room }) => {
                        seats.push((user, room));
                        continue;
                    }
                    Some(Ask::Join { user, room, join }) => {
                        let (cluster, router) = (cluster.clone(), router.clone());
                        tokio::spawn(async move {
                            let limits = super::limits::ClusterLimits { cluster };
                            let verdict = limits.join(&user).await;
                            router.join_counted(&room, join, verdict);
                        });
                        continue;
                    }
                    Some(Ask::Locate(conn)) => {
                        let (cluster, router) = (cluster.clone(), router.clone());
                        tokio::spawn(async move {
                            let found = locate(&cluster, &conn).await;
                            router.resume_in(&conn, found);
                        });
                        continue;
                    }
                };
                let (cluster, router, settings, ownership, recovered) = (
                    cluster.clone(),
                    router.clone(),
                    settings.clone(),
                    ownership.clone(),
                    recovered.clone(),
                );
                tokio::spawn(async move {
                    claim(&cluster, &router, &settings, &ownership, &recovered, room).await;
                });
            }
            _ = renew.tick() => {
                renew_all(&cluster, &router, &ownership).await;
                let public = router.list_rooms(None, usize::MAX).await;
                super::matchmake::sync_members(&cluster, &public, &mut members_sent).await;
                super::listing::publish(&cluster, &public, &mut listed).await;
                // A dead node's rooms: taken over before anyone asks.
                match cluster.leases().orphans(ORPHANS_PER_SCAN).await {
                    Ok(rooms) if !rooms.is_empty() => {
                        tracing::info!(rooms = rooms.len(), "taking over rooms of a node that left the cluster");
                        ownership.claim_orphans(rooms.into_iter().map(RoomId::from));
                    }
                    Ok(_) => {}
                    Err(e) => tracing::debug!(error = %e, "cluster: looking for orphaned rooms failed"),
                }
            }
            _ = ownership.renew_now.notified() => renew_all(&cluster, &router, &ownership).await,
            _ = seats_every.tick(), if !seats.is_empty() => {
                note_seats(&cluster, std::mem::take(&mut seats)).await;
            }
            _ = shutdown.changed() => break,
        }
    }
}

async fn claim(
    cluster: &Cluster,
    router: &RoomRouter,
    settings: &Arc<crate::driver::ShardSettings>,
    ownership: &Ownership,
    recovered: &std::sync::Mutex<HashSet<RoomId>>,
    room: RoomId,
) {
    let mut sent = Instant::now();
    let mut claimed = cluster.leases().claim(room.as_str()).await;
    // Held by a node that has left the cluster (its record is gone): its
    // lease runs out within the TTL; wait for that rather than send the
    // client to a dead node.
    for _ in 0..2 {
        match &claimed {
            Ok(Claim::HeldBy(h)) if h.ws.is_empty() && h.ms_left >= 0 => {
                let wait = Duration::from_millis(h.ms_left as u64 + 20).min(cluster.node_ttl());
                tokio::time::sleep(wait).await;
                sent = Instant::now();
                claimed = cluster.leases().claim(room.as_str()).await;
            }
            _ => break,
        }
    }
    let mut how = match claimed {
        Ok(Claim::Granted { epoch }) => {
            // Past the fence, only a renewal of every lease may move it on
            // (another room's may be gone); with no other room, this claim
            // is the renewal.
            if ownership.fence.left(Instant::now()).is_zero() {
                if ownership.owned().is_empty() {
                    ownership.fence.hold_until(cluster.fence_after(sent));
                } else {
                    ownership.renew_now.notify_one();
                }
            }
            tracing::debug!(room = %room, epoch, "claimed the room's lease");
            Settled::Owned { epoch }
        }
        Ok(Claim::HeldBy(holder)) => Settled::Elsewhere(elsewhere(&room, &holder)),
        Err(e) => Settled::Failed(unavailable(&e)),
    };
    if let Settled::Owned { epoch } = how
        && let Err(e) = restore(cluster, router, settings, &room).await
    {
        // Held, and not to be run from here: let another node try.
        if let Err(e) = cluster.leases().release(room.as_str(), epoch).await {
            tracing::warn!(room = %room, error = %e, "could not give the room's lease back; it expires by itself");
        }
        how = Settled::Failed(e);
    }
    let retry = {
        let mut recovered = recovered.lock().unwrap_or_else(|p| p.into_inner());
        match how {
            Settled::Failed(_) => recovered.contains(&room),
            _ => {
                recovered.remove(&room);
                false
            }
        }
    };
    router.settle(&room, how);
    if retry {
        tokio::time::sleep(RECLAIM_AFTER).await;
        ownership.claim_recovered([room]);
    }
}

/// How long the seat directory remembers where a user sat.
const SEAT_TTL_S: u64 = 86_400;

/// Writes where users sit: `<prefix>:seat:<user>` = room.
async fn note_seats(cluster: &Cluster, seats: Vec<(String, RoomId)>) {
    const SEATS: &str = r"
for i = 3, #ARGV, 2 do
  redis.call('SET', ARGV[1] .. ':seat:' .. ARGV[i], ARGV[i + 1], 'EX', ARGV[2])
end
return 0
";
    let mut args = vec![cluster.config.prefix.clone(), SEAT_TTL_S.to_string()];
    for (user, room) in seats {
        args.push(user);
        args.push(room.to_string());
    }
    if let Err(e) = cluster.link.script::<i64>(SEATS, &[], &args).await {
        tracing::debug!(error = %e, "cluster: noting seats in the directory failed");
    }
}

/// Where the seat directory says `conn`'s user sits.
async fn locate(
    cluster: &Cluster,
    conn: &tickroom_net::ConnHandle,
) -> Result<Option<RoomId>, ErrorBody> {
    match conn.identity() {
        Some(identity) => seat_of(cluster, &identity.user).await,
        None => Ok(None),
    }
}

/// The room the seat directory says `user` sits in.
pub async fn seat_of(cluster: &Cluster, user: &str) -> Result<Option<RoomId>, ErrorBody> {
    const SEAT: &str = "return redis.call('GET', ARGV[1])";
    let key = format!("{}:seat:{user}", cluster.config.prefix);
    match cluster
        .link
        .script::<Option<String>>(SEAT, &[], &[key])
        .await
    {
        Ok(room) => Ok(room.map(RoomId::from)),
        Err(e) => Err(unavailable(&e)),
    }
}

/// What the members of a room this node lost are told: where it is now
/// (`ws` empty while nobody has claimed it yet).
pub async fn gone_to(cluster: &Cluster, room: &RoomId) -> ErrorBody {
    match cluster.leases().owner(room.as_str()).await {
        Ok(Some(holder)) => elsewhere(room, &holder),
        _ => ErrorBody::new(
            ErrorCode::RoomElsewhere,
            format!("room {room} left this node"),
        )
        .with("room", room.as_str()),
    }
}

/// After a granted claim: a room with a replica in Redis (it ran on
/// another node, or here before) is rebuilt from it and installed, to the
/// same state hash its last writer had at its last replicated tick.
async fn restore(
    cluster: &Cluster,
    router: &RoomRouter,
    settings: &Arc<crate::driver::ShardSettings>,
    room: &RoomId,
) -> Result<(), ErrorBody> {
    let (replica, writer) = match super::replica::fetch(cluster, room).await {
        Ok(Some(found)) => found,
        Ok(None) => return Ok(()),
        Err(e) => return Err(unavailable(&e)),
    };
    let started = Instant::now();
    let modes = settings.modes.clone();
    let built = tokio::task::spawn_blocking(move || {
        crate::rebuild::from_replica(&modes, &replica).map(|rebuilt| (rebuilt, replica))
    })
    .await;
    let ((mut rebuilt, seqs), replica) = match built {
        Ok(Ok(done)) => done,
        Ok(Err(e)) => {
            tracing::error!(room = %room, error = %e, "the room's replica does not rebuild here");
            return Err(crate::driver::trace::internal_error(
                "the room's replica could not be rebuilt on this node",
                format_args!("room {room}: {e}"),
            ));
        }
        Err(e) => {
            return Err(crate::driver::trace::internal_error(
                "rebuilding the room's replica failed",
                format_args!("room {room}: {e}"),
            ));
        }
    };
    rebuilt.bump_epoch();
    tracing::info!(room = %room, tick = rebuilt.tick(), state_hash = %rebuilt.state_hash(), writer, ms = started.elapsed().as_millis() as u64, "rebuilt a room from its replica");
    let grace_ms = settings.grace.as_millis() as u64;
    let mut slot =
        crate::driver::RoomSlot::recovered(rebuilt, seqs, replica.record.private, grace_ms);
    let seated = slot.seated_users();
    router
        .install(slot, replica.record, writer == cluster.node_id, seated)
        .await;
    Ok(())
}

/// Renews every lease this node holds; stops the rooms whose lease is
/// gone; then moves the fence on, from when the first batch was sent.
async fn renew_all(cluster: &Cluster, router: &RoomRouter, ownership: &Ownership) {
    let owned = ownership.owned();
    let leases = cluster.leases();
    let sent = Instant::now();
    let mut lost = Vec::new();
    for batch in owned.chunks(RENEW_BATCH) {
        let held: Vec<(String, u64)> = batch
            .iter()
            .map(|(room, epoch)| (room.to_string(), *epoch))
            .collect();
        match leases.renew_many(&held).await {
            Ok(gone) => lost.extend(gone),
            Err(e) => {
                // Redis unreachable: nobody can claim the rooms meanwhile.
                ownership
                    .fence
                    .hold_until(Instant::now() + cluster.node_ttl());
                tracing::debug!(error = %e, "cluster: renewing the room leases failed");
                return;
            }
        }
    }
    for room in lost {
        let room = RoomId::from(room);
        let error = gone_to(cluster, &room).await;
        tracing::warn!(room = %room, "lost the room's lease; stopping it here");
        router.lose(&room, error).await;
    }
    ownership.fence.hold_until(cluster.fence_after(sent));
}
