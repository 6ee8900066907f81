//! The engine's systems around a mode's: the state hash after the tick.

use crate::mode::Mode;
use crate::resources::{Boxed, Outbox, RoomMeta};
use crate::snapshot::Canonical;
use bevy_ecs::world::World;

/// Puts the state hash on the delta when one is due: the tick has events and
/// `hash_every_ticks` have passed since the last published hash.
pub(crate) fn publish_hash<M: Mode>(world: &mut World) {
    let due = {
        let meta = world.resource::<Boxed<RoomMeta>>();
        let out = world.resource::<Boxed<Outbox>>();
        !out.events.is_empty()
            && meta.tick - meta.last_hash_tick >= u64::from(meta.config.hash_every_ticks)
    };
    if due {
        let tick = world.resource::<Boxed<RoomMeta>>().tick;
        world.resource_mut::<Boxed<RoomMeta>>().last_hash_tick = tick;
        let hash = Canonical::<M>::read(world).hash();
        world.resource_mut::<Boxed<Outbox>>().state_hash = Some(hash);
    }
}
