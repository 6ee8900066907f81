//! The board: the first game mode. Pieces (entities) on a board, moved
//! under locks with a time to live, formations saved and applied, dice and
//! chat. Its canonical encoding is the one every board room was stored
//! with before modes existed ([`canonical`]), so their hashes hold.

mod canonical;
mod chat;
pub(crate) mod components;
mod dice_roll;
mod formation;
mod lock;
mod movement;
mod param;
pub(crate) mod resources;
mod scenario;

use crate::mode::{Actor, Applied, Mode, RoomChange, RoomCtx, TickSet, Viewer};
use crate::resources::Boxed;
use bevy_ecs::prelude::*;
use bevy_ecs::system::SystemParamItem;
use canonical::BoardState;
use components::{Piece, Position};
pub use param::BoardParam;
use param::run;
use resources::{ChatLog, Formations, PieceIndex, PieceLocks};
use tickroom_protocol::board::{self as wire, Config, Event, Intent, ReleaseReason};
use tickroom_protocol::{ErrorBody, IntentSpec, Origin, PieceId, RoomConfig};

/// The board mode.
pub struct Board;

impl Mode for Board {
    const NAME: &'static str = wire::MODE;
    const VERSION: u32 = 1;
    const INTENTS: &'static [IntentSpec] = wire::INTENTS;
    type Config = Config;
    type Intent = Intent;
    type Event = Event;
    type State = BoardState;
    type View = wire::State;
    type Param = BoardParam<'static, 'static>;

    fn validate_config(room: &RoomConfig, config: &Config) -> Result<(), ErrorBody> {
        config.validate(room.teams)
    }

    fn initial_state(room: &RoomConfig, config: &Config) -> BoardState {
        BoardState::initial(room, config)
    }

    fn check_state(
        engine: &crate::snapshot::EngineState,
        config: &Config,
        state: &BoardState,
    ) -> Result<(), String> {
        state.check(engine, config)
    }

    fn insert(world: &mut World, _config: &Config, state: BoardState) {
        state.insert(world);
    }

    fn read(world: &World) -> BoardState {
        BoardState::read(world)
    }

    fn build(schedule: &mut Schedule) {
        schedule.add_systems(expire_locks.in_set(TickSet::Timers));
    }

    fn next_due(world: &World) -> Option<u64> {
        world.resource::<Boxed<PieceLocks>>().next_due()
    }

    #[inline]
    fn handle(
        b: &mut SystemParamItem<Self::Param>,
        c: &mut RoomCtx,
        actor: Actor,
        intent: &Intent,
    ) -> Result<Applied, ErrorBody> {
        match intent {
            Intent::MovePiece { piece, to } => run(
                c,
                b,
                &movement::MovePiece {
                    piece: *piece,
                    to: *to,
                },
                actor,
            ),
            Intent::TakeLock { piece } => run(c, b, &lock::Take { piece: *piece }, actor),
            Intent::RenewLock { piece } => {
                let op = lock::HeldLockOp::Renew;
                run(c, b, &lock::Held { piece: *piece, op }, actor)
            }
            Intent::ReleaseLock { piece } => {
                let op = lock::HeldLockOp::Release;
                run(c, b, &lock::Held { piece: *piece, op }, actor)
            }
            Intent::SaveFormation { name, key } => run(c, b, &formation::Save { name, key }, actor),
            Intent::ApplyFormation { name } => run(c, b, &formation::Apply { name }, actor),
            Intent::RollDice { notation } => run(c, b, &dice_roll::Roll { notation }, actor),
            Intent::Chat { text } => run(c, b, &chat::Post { text }, actor),
            Intent::StartMatch {} => crate::lifecycle::start_match(c, actor),
            Intent::ArchiveRoom {} => crate::lifecycle::archive_room::<Board>(b, c, actor),
        }
    }

    /// A member who leaves, drops or changes team lets go of its locks
    /// (they would let it keep moving the old team's pieces); a phase that
    /// ends frees every lock.
    fn on_change(b: &mut SystemParamItem<Self::Param>, c: &mut RoomCtx, change: RoomChange) {
        let (holder, reason) = match change {
            RoomChange::Leaving(m, _) => (Some(m), ReleaseReason::HolderLeft),
            RoomChange::Disconnecting(m) => (Some(m), ReleaseReason::HolderDisconnected),
            RoomChange::ChangingTeam(m) => (Some(m), ReleaseReason::TeamChanged),
            RoomChange::PhaseEnding(_) => (None, ReleaseReason::PhaseEnded),
        };
        b.release_locks_of(c, holder, reason);
    }

    fn cursor_ok(config: &Config, pos: tickroom_protocol::Pos) -> bool {
        (0..config.board_width).contains(&pos.x) && (0..config.board_height).contains(&pos.y)
    }

    fn scenario_intent(verb: &str, args: &[&str]) -> Option<Result<Intent, String>> {
        scenario::intent(verb, args)
    }

    fn scenario_words(intent: &Intent) -> Option<String> {
        Some(scenario::words_of(intent))
    }

    /// The board hides nothing: every member sees all of it.
    fn view(world: &World, _viewer: Viewer) -> wire::State {
        let pieces = (0..world.resource::<Boxed<PieceIndex>>().0.len())
            .filter_map(|i| piece_view(world, PieceId(i as u32)))
            .collect();
        wire::State {
            pieces,
            formations: world
                .resource::<Boxed<Formations>>()
                .by_name
                .keys()
                .cloned()
                .collect(),
            chat: world.resource::<Boxed<ChatLog>>().iter().cloned().collect(),
        }
    }

    fn encode_canonical(
        engine: &crate::snapshot::EngineState,
        config: &Config,
        state: &BoardState,
    ) -> Vec<u8> {
        canonical::encode(engine, config, state)
    }

    fn decode_canonical(
        bytes: &[u8],
    ) -> Result<(crate::snapshot::EngineState, Config, BoardState), String> {
        canonical::decode(bytes)
    }
}

/// Expires locks whose time has come, in `(tick, piece)` order; each expiry
/// is one mutation.
fn expire_locks(mut c: RoomCtx, mut locks: ResMut<Boxed<PieceLocks>>) {
    let now = c.tick();
    if locks.next_due().is_none_or(|due| due > now) {
        return;
    }
    for (piece, lock) in locks.expire(now) {
        param::announce_release(&mut c, piece, lock, ReleaseReason::Expired);
        c.commit(Origin::default());
    }
}

/// A piece of a board room, as a client would see it.
pub fn piece(room: &crate::Room, id: PieceId) -> Option<wire::PieceView> {
    piece_view(room.world(), id)
}

fn piece_view(world: &World, id: PieceId) -> Option<wire::PieceView> {
    let e = world.get_resource::<Boxed<PieceIndex>>()?.get(id)?;
    Some(wire::PieceView {
        id,
        team: world.get::<Piece>(e)?.team,
        pos: world.get::<Position>(e)?.0,
        lock: world
            .resource::<Boxed<PieceLocks>>()
            .get(id)
            .map(|l| wire::LockView {
                holder: l.holder,
                expires_at: l.expires_at,
            }),
    })
}

/// A saved formation of a board room: its key, who saved it, and where its
/// pieces go.
pub fn formation(
    room: &crate::Room,
    name: &str,
) -> Option<(String, tickroom_protocol::MemberId, Vec<wire::Placement>)> {
    room.world()
        .get_resource::<Boxed<Formations>>()?
        .by_name
        .get(name)
        .map(|f| (f.key.clone(), f.saved_by, f.placements.clone()))
}
