//! Rolling dice with the room's generator.

use super::param::{BoardParam, Stages};
use crate::dice::DiceSpec;
use crate::mode::{Actor, RoomCtx};
use tickroom_protocol::board::Event;
use tickroom_protocol::{ErrorBody, Phase};

pub(crate) struct Roll<'a> {
    pub notation: &'a str,
}

impl Roll<'_> {
    fn spec(&self, b: &BoardParam) -> Result<DiceSpec, ErrorBody> {
        DiceSpec::parse(
            self.notation,
            b.config().max_dice,
            b.config().max_dice_sides,
        )
    }
}

impl Stages for Roll<'_> {
    fn validate(&self, c: &RoomCtx, b: &BoardParam, _: Actor) -> Result<(), ErrorBody> {
        c.require_phase(&[Phase::Setup, Phase::Live, Phase::Expired], "roll dice")?;
        self.spec(b).map(drop)
    }
    fn authorize(&self, _: &RoomCtx, _: &BoardParam, actor: Actor) -> Result<(), ErrorBody> {
        actor.mover().map(drop)
    }
    fn apply(&self, c: &mut RoomCtx, b: &mut BoardParam, actor: Actor) {
        let (Ok(spec), Ok(who)) = (self.spec(b), actor.mover()) else {
            return;
        };
        let rolls = spec.roll(c.rng());
        let total = spec.total(&rolls);
        c.emit(Event::DiceRolled {
            member: who.id,
            notation: spec.to_string(),
            rolls,
            modifier: spec.modifier,
            total,
        });
    }
}
