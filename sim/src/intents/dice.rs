//! Rolling dice with the room's generator.

use crate::dice::DiceSpec;
use crate::input::Outcome;
use crate::pipeline::{Actor, Board, Handler, require_phase};
use tickroom_protocol::{DomainEvent, ErrorBody, Phase};

pub(crate) struct Roll<'a> {
    pub notation: &'a str,
}

impl Roll<'_> {
    fn spec(&self, b: &Board) -> Result<DiceSpec, ErrorBody> {
        DiceSpec::parse(
            self.notation,
            b.meta.config.max_dice,
            b.meta.config.max_dice_sides,
        )
    }
}

impl Handler for Roll<'_> {
    fn validate(&self, b: &Board, _: Actor) -> Result<(), ErrorBody> {
        require_phase(b, &[Phase::Setup, Phase::Live, Phase::Expired], "roll dice")?;
        self.spec(b).map(drop)
    }
    fn authorize(&self, _: &Board, actor: Actor) -> Result<(), ErrorBody> {
        actor.mover().map(drop)
    }
    fn apply(&self, b: &mut Board, actor: Actor) -> Outcome {
        let (Ok(spec), Ok(who)) = (self.spec(b), actor.mover()) else {
            return Outcome::Applied;
        };
        let rolls = spec.roll(&mut b.rng.0);
        let total = spec.total(&rolls);
        b.out.staged.push(DomainEvent::DiceRolled {
            member: who.id,
            notation: spec.to_string(),
            rolls,
            modifier: spec.modifier,
            total,
        });
        Outcome::Applied
    }
}
