//! A room's path to the store: every tick with inputs or events becomes one
//! logged write (inputs and outcomes, audit entries),
//! snapshots are taken every N ticks or M inputs, and the room knows how far
//! behind the store is (STORE_BEHIND) and whether it may still grow
//! (ROOM_TOO_LARGE).

use super::seat_seqs::SeatSeqs;
use std::collections::VecDeque;
use std::sync::Arc;
use tickroom_net::{ConnHandle, OutFrame};
use tickroom_persistence::{
    AuditRow, InputRow, Pending, RoomProgress, SnapshotRow, Store, TickBatch, Write, unix_ms,
};
use tickroom_protocol::walk::Variant;
use tickroom_protocol::{DomainEvent, ErrorBody, ErrorCode, Event, Phase, ServerMessage};
use tickroom_sim::{AdminAction, Input, InputKind, Outcome, Room, TickOutput};

/// The store side of the shard settings.
pub struct StorePolicy {
    pub store: Arc<Store>,
    pub max_lag_ticks: u64,
    pub snapshot_every_ticks: u64,
    pub snapshot_every_inputs: u64,
    pub snapshot_max_bytes: u64,
}

impl StorePolicy {
    /// From this snapshot size on, a room takes no new members or
    /// formations (ROOM_TOO_LARGE): the last sixteenth of the cap is
    /// headroom for what existing members still do.
    pub fn near_size_cap(&self) -> u64 {
        self.snapshot_max_bytes / 16 * 15
    }
}

/// Writes a tick thread produced and the store has not taken yet (its
/// channel was full); kept in order and offered again after every tick.
#[derive(Default)]
pub struct StoreOutbox {
    pending: VecDeque<Pending>,
    /// Cluster mode: what rebuilds a room elsewhere (its record, snapshots
    /// and ticks) also goes to Redis, through the replicator.
    replica: Option<Replica>,
}

/// Where a tick thread sends copies of its rooms' writes in cluster mode.
pub type Replica = tokio::sync::mpsc::UnboundedSender<Write>;

impl StoreOutbox {
    pub fn replicating_to(replica: Option<Replica>) -> StoreOutbox {
        StoreOutbox {
            pending: VecDeque::new(),
            replica,
        }
    }

    pub fn push(&mut self, p: Pending) {
        if let Some(replica) = &self.replica
            && matches!(
                p.write,
                Write::CreateRoom(_)
                    | Write::Tick(_)
                    | Write::Snapshot(_)
                    | Write::SeatedSnapshot { .. }
                    | Write::Archived { .. }
                    | Write::Adopt { .. }
            )
        {
            let _ = replica.send(p.write.clone());
        }
        self.pending.push_back(p);
    }

    /// Hands over what the store takes; stops at the first refusal so the
    /// order holds.
    pub fn offer(&mut self, store: &Store) {
        while let Some(p) = self.pending.pop_front() {
            if let Err(p) = store.submit(p) {
                self.pending.push_front(p);
                break;
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }
}

/// One room's bookkeeping with the store.
pub struct Journal {
    progress: Arc<RoomProgress>,
    /// Ticks handed to the store and not yet settled, oldest first.
    unsettled: VecDeque<u64>,
    inputs_since_snapshot: u64,
    snapshot_tick: u64,
    snapshot_version: u64,
    snapshot_size: u64,
    archived_written: bool,
    /// The seats' last applied seqs, stored beside every snapshot.
    pub seqs: SeatSeqs,
}

impl Journal {
    /// For a room whose state up to `tick` (at `version`) is already stored.
    pub fn new(tick: u64, version: u64, archived: bool) -> Journal {
        Journal {
            progress: Arc::new(RoomProgress::default()),
            unsettled: VecDeque::new(),
            inputs_since_snapshot: 0,
            snapshot_tick: tick,
            snapshot_version: version,
            snapshot_size: 0,
            archived_written: archived,
            seqs: SeatSeqs::default(),
        }
    }

    /// How many of the room's ticks its oldest unsettled write is behind.
    pub fn lag(&mut self, now: u64) -> u64 {
        let settled = self.progress.settled();
        while self.unsettled.front().is_some_and(|t| *t <= settled) {
            self.unsettled.pop_front();
        }
        self.unsettled.front().map_or(0, |t| now.saturating_sub(*t))
    }

    /// Why a mutating request must be refused now, if it must.
    pub fn refusal(
        &mut self,
        policy: &StorePolicy,
        now: u64,
        durable: bool,
        grows: bool,
    ) -> Option<ErrorBody> {
        let health = policy.store.health();
        if health.is_refusing() {
            return Some(ErrorBody::new(
                ErrorCode::StoreUnavailable,
                "the store cannot take more writes; nothing was applied, retry later",
            ));
        }
        if durable && !health.is_healthy() {
            return Some(ErrorBody::new(
                ErrorCode::StoreUnavailable,
                "the store is failing and this request must be durable before it is acknowledged; nothing was applied",
            ));
        }
        let lag = self.lag(now);
        if lag > policy.max_lag_ticks {
            return Some(
                ErrorBody::new(
                    ErrorCode::StoreBehind,
                    "the store is behind; nothing was applied, retry shortly",
                )
                .with("lag_ticks", lag)
                .with("max_lag_ticks", policy.max_lag_ticks),
            );
        }
        if grows && self.snapshot_size >= policy.near_size_cap() {
            return Some(
                ErrorBody::new(
                    ErrorCode::RoomTooLarge,
                    "the room's snapshot is at its size cap; it takes no new members or formations",
                )
                .with("snapshot_bytes", self.snapshot_size)
                .with("snapshot_max_bytes", policy.snapshot_max_bytes),
            );
        }
        None
    }

    /// The writes for one tick, pushed onto `outbox`. `durable_acks` are
    /// the durable intents (their mode says so) to acknowledge once their
    /// write has committed.
    pub fn record_tick(
        &mut self,
        room: &Room,
        out: &TickOutput,
        traces: &[Option<super::trace::TraceId>],
        policy: &StorePolicy,
        durable_acks: Vec<(Arc<ConnHandle>, u64)>,
        outbox: &mut StoreOutbox,
    ) {
        let mut on_commit = None;
        if !durable_acks.is_empty() {
            on_commit = Some(ack_when_durable(durable_acks));
        }
        if !out.inputs.is_empty() || out.delta.is_some() {
            let batch = tick_batch(room, out, traces);
            self.inputs_since_snapshot += batch.inputs.len() as u64;
            self.unsettled.push_back(out.tick);
            outbox.push(Pending {
                write: Write::Tick(batch),
                progress: Some(self.progress.clone()),
                on_commit,
            });
        } else if let Some(f) = on_commit {
            f(Ok(()));
        }
        if room.phase() == Phase::Archived && !self.archived_written {
            self.archived_written = true;
            outbox.push(Pending::new(Write::Archived {
                room: room.id().to_string(),
                at: unix_ms(),
            }));
            self.snapshot(room, policy, outbox);
            return;
        }
        let due_by_ticks = room.tick() >= self.snapshot_tick + policy.snapshot_every_ticks
            && room.version() != self.snapshot_version;
        if due_by_ticks || self.inputs_since_snapshot >= policy.snapshot_every_inputs {
            self.snapshot(room, policy, outbox);
        }
    }

    /// The tick at which a snapshot falls due by ticks alone (the room
    /// changed since its last one); `None` while nothing changed.
    pub fn snapshot_due_tick(&self, room_version: u64, policy: &StorePolicy) -> Option<u64> {
        (room_version != self.snapshot_version).then(|| {
            self.snapshot_tick
                .saturating_add(policy.snapshot_every_ticks)
        })
    }

    /// A snapshot now, unless nothing changed since the last one.
    pub fn snapshot_if_changed(
        &mut self,
        room: &Room,
        policy: &StorePolicy,
        outbox: &mut StoreOutbox,
    ) {
        if self.changed_since_snapshot(room) {
            self.snapshot(room, policy, outbox);
        }
    }

    fn changed_since_snapshot(&self, room: &Room) -> bool {
        room.version() != self.snapshot_version
            || room.tick() > self.snapshot_tick && self.inputs_since_snapshot > 0
    }

    /// The room's snapshot bytes for unloading it, stored too if the room
    /// changed since its last snapshot: encoded once for both.
    pub fn unload_snapshot(
        &mut self,
        room: &Room,
        policy: Option<&StorePolicy>,
        outbox: &mut StoreOutbox,
    ) -> Vec<u8> {
        let (bytes, hash) = room.snapshot_with_hash();
        if let Some(policy) = policy
            && self.changed_since_snapshot(room)
        {
            self.store_snapshot(room, policy, outbox, bytes.clone(), hash);
        }
        bytes
    }

    pub fn snapshot(&mut self, room: &Room, policy: &StorePolicy, outbox: &mut StoreOutbox) {
        let (bytes, hash) = room.snapshot_with_hash();
        self.store_snapshot(room, policy, outbox, bytes, hash);
    }

    /// The snapshot, with the seats' last applied seqs in the same write.
    fn store_snapshot(
        &mut self,
        room: &Room,
        policy: &StorePolicy,
        outbox: &mut StoreOutbox,
        bytes: Vec<u8>,
        hash: tickroom_protocol::StateHash,
    ) {
        let size = bytes.len() as u64;
        let near = policy.near_size_cap();
        if size > policy.snapshot_max_bytes {
            tracing::error!(room = %room.id(), size, cap = policy.snapshot_max_bytes, "a room's snapshot passed the size cap; it is stored, and the room refuses to grow");
        } else if size >= near && self.snapshot_size < near {
            tracing::warn!(room = %room.id(), size, cap = policy.snapshot_max_bytes, "a room's snapshot is near its size cap: it refuses new members and formations (ROOM_TOO_LARGE)");
        }
        self.snapshot_size = size;
        self.snapshot_tick = room.tick();
        self.snapshot_version = room.version();
        self.inputs_since_snapshot = 0;
        self.unsettled.push_back(room.tick());
        outbox.push(Pending {
            write: Write::SeatedSnapshot {
                snapshot: SnapshotRow {
                    room: room.id().to_string(),
                    tick: room.tick(),
                    version: room.version(),
                    epoch: room.epoch(),
                    state_hash: hash.0,
                    at: unix_ms(),
                    bytes,
                },
                seqs: self.seqs.to_stored(),
            },
            progress: Some(self.progress.clone()),
            on_commit: None,
        });
    }
}

/// Answers formation saves once their write is durable: `ack`, or
/// STORE_UNAVAILABLE when the commit failed (the save is in the room and
/// the write is kept for retry; saving again with the same key is safe).
fn ack_when_durable(acks: Vec<(Arc<ConnHandle>, u64)>) -> tickroom_persistence::OnCommit {
    Box::new(move |result| {
        for (conn, seq) in acks {
            let msg = match &result {
                Ok(()) => ServerMessage::Ack { seq },
                Err(reason) => ServerMessage::Reject {
                    seq,
                    code: ErrorCode::StoreUnavailable,
                    message: "the save is applied but not yet durable; save again with the same key to be told when it is".into(),
                    details: ErrorBody::new(ErrorCode::StoreUnavailable, "")
                        .with("reason", reason.as_str())
                        .details,
                },
            };
            if let Ok(frame) = OutFrame::encode(conn.codec, &msg, true) {
                let _ = conn.push(frame);
            }
        }
    })
}

/// A short stable name of an input's kind, for queries on the log.
pub fn input_kind(kind: &InputKind) -> &'static str {
    match kind {
        InputKind::Join { .. } => "join",
        InputKind::Leave => "leave",
        InputKind::Disconnect => "disconnect",
        InputKind::Reconnect => "reconnect",
        InputKind::GraceExpired => "grace_expired",
        InputKind::ChangeTeam { .. } => "change_team",
        InputKind::Intent(i) => match i.variant() {
            Some(Variant::Both { name, .. }) => name,
            _ => "intent",
        },
        InputKind::Admin(AdminAction::Archive { .. }) => "admin_archive",
        InputKind::Admin(AdminAction::Kick { .. }) => "admin_kick",
    }
}

pub fn encode<T: serde::Serialize>(value: &T) -> Vec<u8> {
    // Plain data into a Vec: cannot fail.
    postcard::to_stdvec(value).unwrap_or_default()
}

/// `traces[i]` is the trace id of input `i`, when it has one.
fn tick_batch(
    room: &Room,
    out: &TickOutput,
    traces: &[Option<super::trace::TraceId>],
) -> TickBatch {
    let mut audit = Vec::new();
    let user_of = |input: &Input| {
        input
            .member
            .and_then(|m| room.member_user(m))
            .unwrap_or_default()
            .to_owned()
    };
    let mut archived_by_input = false;
    let intents = room.mode().intents();
    for rec in out.log() {
        if !matches!(rec.outcome, Outcome::Applied) {
            continue;
        }
        match &rec.input.kind {
            InputKind::Intent(intent) => {
                let spec = intent.variant().and_then(|v| intents.find(&v));
                if let Some(spec) = spec.filter(|s| s.audited) {
                    // The mode's intent that ends the room by request.
                    let archives = room.phase() == Phase::Archived
                        && out.delta.as_ref().is_some_and(|d| {
                            d.events.iter().any(|e| {
                                e.origin.seq == rec.input.seq
                                    && e.origin.member == rec.input.member
                                    && is_archived(&e.event)
                            })
                        });
                    archived_by_input |= archives;
                    let details = serde_json::to_value(intent)
                        .ok()
                        .and_then(|v| v.get(spec.name).cloned())
                        .map_or_else(|| "{}".to_owned(), |v| v.to_string());
                    audit.push(AuditRow {
                        action: if archives { "archive" } else { spec.name }.to_owned(),
                        actor: user_of(rec.input),
                        details,
                    });
                }
            }
            InputKind::Admin(AdminAction::Archive { by }) => {
                archived_by_input = true;
                audit.push(AuditRow {
                    action: "archive".into(),
                    actor: by.clone(),
                    details: r#"{"admin":true}"#.into(),
                });
            }
            InputKind::Admin(AdminAction::Kick { member, by }) => audit.push(AuditRow {
                action: "kick".into(),
                actor: by.clone(),
                details: serde_json::json!({"admin": true, "member": member.0}).to_string(),
            }),
            _ => {}
        }
    }
    let auto_archived = out
        .delta
        .as_ref()
        .is_some_and(|d| d.events.iter().any(|e| is_archived(&e.event)));
    if auto_archived && !archived_by_input {
        audit.push(AuditRow {
            action: "archive".into(),
            actor: "system".into(),
            details: r#"{"reason":"auto_archive_after_expiry"}"#.into(),
        });
    }
    TickBatch {
        room: room.id().to_string(),
        tick: out.tick,
        from_version: out
            .delta
            .as_ref()
            .map_or(room.version(), |d| d.from_version),
        to_version: room.version(),
        state_hash: out.delta.as_ref().and_then(|d| d.state_hash).map(|h| h.0),
        at: unix_ms(),
        inputs: out
            .log()
            .map(|rec| InputRow {
                index: rec.index,
                member: rec.input.member.map(|m| m.0),
                seq: rec.input.seq,
                kind: input_kind(&rec.input.kind).to_owned(),
                code: rec.outcome.rejection().map(|e| e.code.as_str().to_owned()),
                input: rec.input.encode(),
                outcome: encode(rec.outcome),
                trace_id: traces
                    .get(rec.index as usize)
                    .copied()
                    .flatten()
                    .map(|t| t.0),
            })
            .collect(),
        formations: Vec::new(),
        audit,
    }
}

fn is_archived(event: &Event) -> bool {
    matches!(
        event,
        Event::Room(DomainEvent::PhaseChanged {
            phase: Phase::Archived,
            ..
        })
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use tickroom_protocol::board::Intent;
    use tickroom_protocol::{MemberId, PieceId, Pos, TeamId};

    /// Log format 2 stores an input that begins with its own member and
    /// seq without them, and starts each row with a class per common kind
    /// (applied, with the first bytes of its encoding): if the sim's
    /// encodings drift from those presets the log still decodes, but every
    /// row grows. This holds the two together.
    #[test]
    fn the_log_presets_match_how_inputs_encode() {
        let m = MemberId(300);
        let piece = PieceId(7);
        let inputs = [
            Input::intent(
                m,
                1234,
                Intent::MovePiece {
                    piece,
                    to: Pos::new(512, 3),
                },
            ),
            Input::intent(m, 1234, Intent::RenewLock { piece }),
            Input::intent(m, 1234, Intent::TakeLock { piece }),
            Input::intent(m, 1234, Intent::ReleaseLock { piece }),
            Input::intent(m, 1234, Intent::Chat { text: "hi".into() }),
            Input::intent(
                m,
                1234,
                Intent::RollDice {
                    notation: "2d6".into(),
                },
            ),
            Input::intent(m, 1234, Intent::ApplyFormation { name: "w".into() }),
            Input::intent(
                m,
                1234,
                Intent::SaveFormation {
                    name: "w".into(),
                    key: "k".into(),
                },
            ),
            Input::about(m, InputKind::Disconnect),
            Input::about(m, InputKind::Reconnect),
            Input::about(m, InputKind::Leave),
            Input::about(m, InputKind::GraceExpired),
            Input::about(m, InputKind::ChangeTeam { team: TeamId(1) }),
            Input::intent(m, 1234, Intent::StartMatch {}),
        ];
        let presets: Vec<_> = tickroom_persistence::packed::presets().collect();
        assert_eq!(presets.len(), inputs.len());
        for (input, (kind, prefix)) in inputs.iter().zip(presets) {
            assert_eq!(input_kind(&input.kind), kind);
            let own = encode(&(input.member.map(|m| m.0), input.seq));
            let bytes = input.encode();
            let rest = bytes
                .strip_prefix(own.as_slice())
                .expect("begins with member and seq");
            assert!(
                rest.starts_with(prefix),
                "{kind}: {rest:?} after {prefix:?}"
            );
        }
        assert_eq!(encode(&Outcome::Applied), [0]);

        // A busy room's row: 300 moves with consecutive trace ids.
        let rows: Vec<InputRow> = (0..300u32)
            .map(|i| {
                let input = Input::intent(
                    MemberId(i + 1),
                    5_000 + u64::from(i % 3),
                    Intent::MovePiece {
                        piece: PieceId(i),
                        to: Pos::new(10 + i as i32 * 3, 990 - i as i32),
                    },
                );
                InputRow {
                    index: i,
                    member: input.member.map(|m| m.0),
                    seq: input.seq,
                    kind: input_kind(&input.kind).to_owned(),
                    code: None,
                    input: input.encode(),
                    outcome: encode(&Outcome::Applied),
                    trace_id: Some(0xdead_beef_0000_0000 + u64::from(i)),
                }
            })
            .collect();
        let packed = tickroom_persistence::packed::pack(&rows).expect("packs");
        assert!(
            packed.len() <= 300 * 12,
            "{} bytes for 300 moves",
            packed.len()
        );
    }
}
