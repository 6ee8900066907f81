//! A loaded room's simulation, live or frozen. A room that has been parked
//! for a while is frozen: its bevy world (tens of KiB of bookkeeping) is
//! dropped and only its snapshot kept, rebuilt into the same room when
//! anything needs it again.

use tickroom_protocol::{Phase, RoomConfig, RoomId};
use tickroom_sim::{FrozenRoom, Room};

/// Both boxed: a `Room` is ~2.4 KiB inline (bevy's `World`), which a frozen
/// room's slot would otherwise still carry.
pub enum RoomBody {
    Live(Box<Room>),
    Frozen(Box<FrozenRoom>),
}

impl RoomBody {
    /// The room, thawed first if it was frozen.
    pub fn live(&mut self) -> &mut Room {
        if let RoomBody::Frozen(frozen) = self {
            *self = RoomBody::Live(Box::new(frozen.thaw()));
        }
        match self {
            RoomBody::Live(room) => room,
            RoomBody::Frozen(_) => unreachable!("thawed just above"),
        }
    }

    /// Drops the world, keeping the snapshot it is rebuilt from.
    pub fn freeze(&mut self) {
        if let RoomBody::Live(room) = self {
            *self = RoomBody::Frozen(Box::new(room.frozen()));
        }
    }

    pub fn is_frozen(&self) -> bool {
        matches!(self, RoomBody::Frozen(_))
    }

    pub fn id(&self) -> &RoomId {
        match self {
            RoomBody::Live(r) => r.id(),
            RoomBody::Frozen(f) => f.id(),
        }
    }

    pub fn mode(&self) -> &tickroom_sim::ModeRef {
        match self {
            RoomBody::Live(r) => r.mode(),
            RoomBody::Frozen(f) => f.mode(),
        }
    }

    pub fn config(&self) -> &RoomConfig {
        match self {
            RoomBody::Live(r) => r.config(),
            RoomBody::Frozen(f) => f.config(),
        }
    }

    pub fn phase(&self) -> Phase {
        match self {
            RoomBody::Live(r) => r.phase(),
            RoomBody::Frozen(f) => f.phase(),
        }
    }

    pub fn version(&self) -> u64 {
        match self {
            RoomBody::Live(r) => r.version(),
            RoomBody::Frozen(f) => f.version(),
        }
    }

    /// The last completed tick.
    pub fn tick(&self) -> u64 {
        match self {
            RoomBody::Live(r) => r.tick(),
            RoomBody::Frozen(f) => f.tick(),
        }
    }

    pub fn epoch(&self) -> u32 {
        match self {
            RoomBody::Live(r) => r.epoch(),
            RoomBody::Frozen(f) => f.epoch(),
        }
    }

    pub fn member_count(&self) -> usize {
        match self {
            RoomBody::Live(r) => r.member_count(),
            RoomBody::Frozen(f) => f.member_count(),
        }
    }
}
