//! Formations: save the places of one's team's pieces under a name
//! (idempotent by key), and apply them later, all or nothing.

use super::param::{BoardParam, Stages, may_touch};
use super::resources::Formation;
use crate::mode::{Actor, Applied, RoomCtx};
use crate::names::check_name;
use tickroom_protocol::board::{Event, Placement};
use tickroom_protocol::{ErrorBody, ErrorCode, Phase, PieceId};

/// Longest formation name, in characters.
pub const MAX_FORMATION_NAME_CHARS: usize = 64;
/// Longest idempotency key, in characters.
pub const MAX_KEY_CHARS: usize = 128;

pub(crate) struct Save<'a> {
    pub name: &'a str,
    pub key: &'a str,
}

impl Stages for Save<'_> {
    fn validate(&self, c: &RoomCtx, _: &BoardParam, _: Actor) -> Result<(), ErrorBody> {
        c.require_phase(
            &[Phase::Setup, Phase::Live, Phase::Expired],
            "save formations",
        )?;
        check_name("name", self.name, MAX_FORMATION_NAME_CHARS)?;
        check_name("key", self.key, MAX_KEY_CHARS)
    }

    /// A formation belongs to the team that saved it: another team may not
    /// overwrite it.
    fn authorize(&self, _: &RoomCtx, b: &BoardParam, actor: Actor) -> Result<(), ErrorBody> {
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
    fn lock(&self, _: &RoomCtx, b: &BoardParam, actor: Actor) -> Result<Applied, ErrorBody> {
        let who = actor.mover()?;
        match b.formations.key_use(who.id, self.key) {
            Some(name) if name == self.name => return Ok(Applied::Duplicate),
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
        let max = usize::from(b.config().max_formations);
        if !b.formations.by_name.contains_key(self.name) && b.formations.by_name.len() >= max {
            return Err(ErrorBody::new(
                ErrorCode::FormationLimit,
                format!("the room already keeps {max} formations"),
            )
            .with("max_formations", max));
        }
        Ok(Applied::Changed)
    }

    fn apply(&self, c: &mut RoomCtx, b: &mut BoardParam, actor: Actor) {
        let Ok(who) = actor.mover() else {
            return;
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
        c.emit(Event::FormationSaved {
            name: self.name.to_owned(),
            by: who.id,
            pieces,
        });
    }
}

pub(crate) struct Apply<'a> {
    pub name: &'a str,
}

impl Apply<'_> {
    fn formation<'b>(&self, b: &'b BoardParam) -> Result<&'b Formation, ErrorBody> {
        b.formations.by_name.get(self.name).ok_or_else(|| {
            ErrorBody::new(
                ErrorCode::FormationNotFound,
                format!("no formation named {:?}", self.name),
            )
            .with("name", self.name)
        })
    }
}

impl Stages for Apply<'_> {
    fn validate(&self, c: &RoomCtx, b: &BoardParam, _: Actor) -> Result<(), ErrorBody> {
        c.require_phase(&[Phase::Setup, Phase::Live], "apply formations")?;
        self.formation(b).map(drop)
    }

    fn authorize(&self, _: &RoomCtx, b: &BoardParam, actor: Actor) -> Result<(), ErrorBody> {
        let who = actor.mover()?;
        for p in &self.formation(b)?.placements {
            may_touch(who, p.piece, b.piece(p.piece)?.piece.team)?;
        }
        Ok(())
    }

    /// All or nothing: one piece held by someone else rejects the whole apply.
    fn lock(&self, _: &RoomCtx, b: &BoardParam, actor: Actor) -> Result<Applied, ErrorBody> {
        let who = actor.mover()?;
        for p in &self.formation(b)?.placements {
            b.piece(p.piece)?;
            b.locks.free_for(who.id, p.piece)?;
        }
        Ok(Applied::Changed)
    }

    fn apply(&self, c: &mut RoomCtx, b: &mut BoardParam, _: Actor) {
        let placements = self
            .formation(b)
            .map(|f| f.placements.clone())
            .unwrap_or_default();
        for p in &placements {
            b.set_position(p.piece, p.pos);
        }
        c.emit(Event::FormationApplied {
            name: self.name.to_owned(),
            placements,
        });
    }
}
