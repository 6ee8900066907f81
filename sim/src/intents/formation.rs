//! Formations: save the places of one's team's pieces under a name
//! (idempotent by key), and apply them later, all or nothing.

use super::check_name;
use crate::input::Outcome;
use crate::pipeline::{
    Actor, Board, Effect, Handler, lock_held_by_other, may_touch, require_phase,
};
use crate::resources::Formation;
use tickroom_protocol::{DomainEvent, ErrorBody, ErrorCode, Phase, PieceId, Placement};

/// Longest formation name, in characters.
pub const MAX_FORMATION_NAME_CHARS: usize = 64;
/// Longest idempotency key, in characters.
pub const MAX_KEY_CHARS: usize = 128;

pub(crate) struct Save<'a> {
    pub name: &'a str,
    pub key: &'a str,
}

impl Handler for Save<'_> {
    fn validate(&self, b: &Board, _: Actor) -> Result<(), ErrorBody> {
        require_phase(
            b,
            &[Phase::Setup, Phase::Live, Phase::Expired],
            "save formations",
        )?;
        check_name("name", self.name, MAX_FORMATION_NAME_CHARS)?;
        check_name("key", self.key, MAX_KEY_CHARS)
    }

    /// A formation belongs to the team that saved it: another team may not
    /// overwrite it.
    fn authorize(&self, b: &Board, actor: Actor) -> Result<(), ErrorBody> {
        let who = actor.mover()?;
        match b.formations.by_name.get(self.name) {
            Some(f) if f.team != who.team => Err(ErrorBody::new(
                ErrorCode::Forbidden,
                format!("formation {:?} belongs to another team", self.name),
            )
            .with("name", self.name)),
            _ => Ok(()),
        }
    }

    /// A key this member already used: a repeat of the same save is
    /// acknowledged without saving again; the key with another name is an
    /// error, not a silent no-op.
    fn lock(&self, b: &Board, actor: Actor) -> Result<Effect, ErrorBody> {
        let who = actor.mover()?;
        match b.formations.key_use(who.id, self.key) {
            Some(name) if name == self.name => return Ok(Effect::Noop),
            Some(name) => {
                return Err(ErrorBody::new(
                    ErrorCode::InvalidArgument,
                    format!(
                        "key {:?} was already used to save formation {name:?}",
                        self.key
                    ),
                )
                .with("key", self.key)
                .with("formation", name));
            }
            None => {}
        }
        let max = usize::from(b.meta.config.max_formations);
        if !b.formations.by_name.contains_key(self.name) && b.formations.by_name.len() >= max {
            return Err(ErrorBody::new(
                ErrorCode::FormationLimit,
                format!("the room already keeps {max} formations"),
            )
            .with("max_formations", max));
        }
        Ok(Effect::Apply)
    }

    fn apply(&self, b: &mut Board, actor: Actor) -> Outcome {
        let Ok(who) = actor.mover() else {
            return Outcome::Applied;
        };
        let placements: Vec<Placement> = (0..b.index.0.len() as u32)
            .map(PieceId)
            .filter_map(|id| b.piece(id).ok().map(|p| (id, p)))
            .filter(|(_, p)| p.piece.team == who.team)
            .map(|(piece, p)| Placement { piece, pos: p.pos })
            .collect();
        let pieces = placements.len() as u32;
        b.formations.by_name.insert(
            self.name.to_owned(),
            Formation {
                key: self.key.to_owned(),
                saved_by: who.id,
                team: who.team,
                placements,
            },
        );
        b.formations.remember_key(who.id, self.key, self.name);
        b.out.staged.push(DomainEvent::FormationSaved {
            name: self.name.to_owned(),
            by: who.id,
            pieces,
        });
        Outcome::Applied
    }
}

pub(crate) struct Apply<'a> {
    pub name: &'a str,
}

impl Apply<'_> {
    fn formation<'b>(&self, b: &'b Board) -> Result<&'b Formation, ErrorBody> {
        b.formations.by_name.get(self.name).ok_or_else(|| {
            ErrorBody::new(
                ErrorCode::FormationNotFound,
                format!("no formation named {:?}", self.name),
            )
            .with("name", self.name)
        })
    }
}

impl Handler for Apply<'_> {
    fn validate(&self, b: &Board, _: Actor) -> Result<(), ErrorBody> {
        require_phase(b, &[Phase::Setup, Phase::Live], "apply formations")?;
        self.formation(b).map(drop)
    }

    fn authorize(&self, b: &Board, actor: Actor) -> Result<(), ErrorBody> {
        let who = actor.mover()?;
        for p in &self.formation(b)?.placements {
            may_touch(who, p.piece, b.piece(p.piece)?.piece.team)?;
        }
        Ok(())
    }

    /// All or nothing: one piece held by someone else rejects the whole apply.
    fn lock(&self, b: &Board, actor: Actor) -> Result<Effect, ErrorBody> {
        let who = actor.mover()?;
        for p in &self.formation(b)?.placements {
            lock_held_by_other(who.id, p.piece, b.piece(p.piece)?.lock)?;
        }
        Ok(Effect::Apply)
    }

    fn apply(&self, b: &mut Board, _: Actor) -> Outcome {
        let placements = self
            .formation(b)
            .map(|f| f.placements.clone())
            .unwrap_or_default();
        for p in &placements {
            b.set_position(p.piece, p.pos);
        }
        b.out.staged.push(DomainEvent::FormationApplied {
            name: self.name.to_owned(),
            placements,
        });
        Outcome::Applied
    }
}
