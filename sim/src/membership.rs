//! Seats: join, leave, disconnect, reconnect, grace expiry, team changes and
//! admin kicks.

use crate::input::Outcome;
use crate::mode::{Actor, Mode, RoomChange, RoomCtx};
use crate::names::check_name;
use crate::pipeline::{Effect, Handler};
use crate::resources::Member;
use bevy_ecs::system::SystemParamItem;
use tickroom_protocol::{
    DomainEvent, ErrorBody, ErrorCode, LeaveReason, MemberId, Phase, Presence, Role, TeamId,
};

/// Longest accepted user id (from a join token or session), in bytes.
pub const MAX_USER_BYTES: usize = 256;

fn check_team(b: &RoomCtx, team: TeamId) -> Result<(), ErrorBody> {
    let teams = b.meta.config.teams;
    if team.0 >= teams {
        return Err(ErrorBody::new(
            ErrorCode::InvalidArgument,
            format!(
                "team {} does not exist; this room has {teams} teams",
                team.0
            ),
        )
        .with("team", u32::from(team.0))
        .with("teams", u32::from(teams)));
    }
    Ok(())
}

pub(crate) struct Join<'a> {
    pub user: &'a str,
    pub name: &'a str,
    pub role: Option<Role>,
    pub team: Option<TeamId>,
}

impl Join<'_> {
    /// The team with the fewest players; the lowest id on a tie.
    fn auto_team(b: &RoomCtx) -> Option<TeamId> {
        (0..b.meta.config.teams).map(TeamId).min_by_key(|t| {
            let players = b
                .roster
                .members
                .values()
                .filter(|m| m.team == Some(*t))
                .count();
            (players, t.0)
        })
    }
}

impl<M: Mode> Handler<M> for Join<'_> {
    fn validate(&self, b: &RoomCtx, _: Actor) -> Result<(), ErrorBody> {
        b.require_phase(&[Phase::Setup, Phase::Live, Phase::Expired], "join")?;
        if self.user.is_empty() || self.user.len() > MAX_USER_BYTES {
            return Err(ErrorBody::new(
                ErrorCode::InvalidArgument,
                format!("user id must be 1..={MAX_USER_BYTES} bytes"),
            )
            .with("field", "user"));
        }
        check_name("name", self.name, usize::from(b.meta.config.max_name_chars))?;
        if let Some(team) = self.team {
            check_team(b, team)?;
        }
        Ok(())
    }

    fn authorize(&self, b: &RoomCtx, _: Actor) -> Result<(), ErrorBody> {
        if b.roster.by_user(self.user).is_some() {
            return Err(ErrorBody::new(
                ErrorCode::AlreadyInRoom,
                "this user already has a seat in the room",
            ));
        }
        let max = b.meta.config.max_players;
        if b.meta.next_member == u32::MAX {
            return Err(ErrorBody::new(
                ErrorCode::RoomFull,
                "this room has handed out every member id",
            ));
        }
        if b.roster.members.len() >= usize::from(max) {
            return Err(ErrorBody::new(
                ErrorCode::RoomFull,
                format!("the room seats {max} members"),
            )
            .with("max_players", u32::from(max)));
        }
        Ok(())
    }

    fn apply(&self, b: &mut RoomCtx, game: &mut SystemParamItem<M::Param>, _: Actor) -> Outcome {
        let id = MemberId(b.meta.next_member);
        b.meta.next_member += 1;
        let seat = b.meta.next_seat;
        b.meta.next_seat += 1;
        let spectator = self.role == Some(Role::Spectator);
        // Anonymous joiners, host tokens and players alike take a hostless room.
        let role = match self.role {
            Some(Role::Spectator) => Role::Spectator,
            _ if b.roster.host().is_none() => Role::Host,
            _ => Role::Player,
        };
        let team = if spectator {
            None
        } else {
            self.team.or_else(|| Self::auto_team(b))
        };
        let member = Member {
            id,
            user: self.user.to_owned(),
            name: self.name.to_owned(),
            role,
            team,
            seat,
            presence: Presence::Connected,
        };
        let _ = game;
        b.emit_room(DomainEvent::MemberJoined {
            member: member.view(),
        });
        if role == Role::Host {
            b.emit_room(DomainEvent::HostChanged { host: Some(id) });
        }
        b.roster.members.insert(id, member);
        Outcome::Joined { member: id }
    }
}

pub(crate) struct Leave;

impl<M: Mode> Handler<M> for Leave {
    fn validate(&self, _: &RoomCtx, _: Actor) -> Result<(), ErrorBody> {
        Ok(())
    }
    fn authorize(&self, _: &RoomCtx, actor: Actor) -> Result<(), ErrorBody> {
        actor.seat().map(drop)
    }
    fn apply(
        &self,
        b: &mut RoomCtx,
        game: &mut SystemParamItem<M::Param>,
        actor: Actor,
    ) -> Outcome {
        if let Ok(who) = actor.seat() {
            unseat::<M>(b, game, who.id, LeaveReason::Left);
        }
        Outcome::Applied
    }
}

pub(crate) struct Disconnect;

impl<M: Mode> Handler<M> for Disconnect {
    fn validate(&self, _: &RoomCtx, _: Actor) -> Result<(), ErrorBody> {
        Ok(())
    }
    fn authorize(&self, _: &RoomCtx, actor: Actor) -> Result<(), ErrorBody> {
        actor.seat().map(drop)
    }
    fn apply(
        &self,
        b: &mut RoomCtx,
        game: &mut SystemParamItem<M::Param>,
        actor: Actor,
    ) -> Outcome {
        if let Ok(who) = actor.seat() {
            M::on_change(game, b, RoomChange::Disconnecting(who.id));
            if let Some(m) = b.roster.members.get_mut(&who.id) {
                m.presence = Presence::InGrace;
            }
            b.emit_room(DomainEvent::MemberDisconnected { member: who.id });
        }
        Outcome::Applied
    }
}

fn require_in_grace(actor: Actor) -> Result<(), ErrorBody> {
    let who = actor.seat()?;
    if who.presence != Presence::InGrace {
        return Err(ErrorBody::new(
            ErrorCode::InvalidArgument,
            format!("member {} is connected, not in its grace period", who.id.0),
        )
        .with("member", who.id.0));
    }
    Ok(())
}

pub(crate) struct Reconnect;

impl<M: Mode> Handler<M> for Reconnect {
    fn validate(&self, _: &RoomCtx, actor: Actor) -> Result<(), ErrorBody> {
        require_in_grace(actor)
    }
    fn authorize(&self, _: &RoomCtx, _: Actor) -> Result<(), ErrorBody> {
        Ok(())
    }
    fn apply(
        &self,
        b: &mut RoomCtx,
        game: &mut SystemParamItem<M::Param>,
        actor: Actor,
    ) -> Outcome {
        if let Ok(who) = actor.seat()
            && let Some(m) = b.roster.members.get_mut(&who.id)
        {
            m.presence = Presence::Connected;
            let _ = game;
            b.emit_room(DomainEvent::MemberReconnected { member: who.id });
        }
        Outcome::Applied
    }
}

pub(crate) struct GraceExpired;

impl<M: Mode> Handler<M> for GraceExpired {
    fn validate(&self, _: &RoomCtx, actor: Actor) -> Result<(), ErrorBody> {
        require_in_grace(actor)
    }
    fn authorize(&self, _: &RoomCtx, _: Actor) -> Result<(), ErrorBody> {
        Ok(())
    }
    fn apply(
        &self,
        b: &mut RoomCtx,
        game: &mut SystemParamItem<M::Param>,
        actor: Actor,
    ) -> Outcome {
        if let Ok(who) = actor.seat() {
            unseat::<M>(b, game, who.id, LeaveReason::GraceExpired);
        }
        Outcome::Applied
    }
}

pub(crate) struct ChangeTeam {
    pub team: TeamId,
}

impl<M: Mode> Handler<M> for ChangeTeam {
    fn validate(&self, b: &RoomCtx, _: Actor) -> Result<(), ErrorBody> {
        b.require_phase(&[Phase::Setup], "change team")?;
        check_team(b, self.team)
    }
    fn authorize(&self, _: &RoomCtx, actor: Actor) -> Result<(), ErrorBody> {
        actor.mover().map(drop)
    }
    fn lock(&self, _: &RoomCtx, actor: Actor) -> Result<Effect, ErrorBody> {
        let who = actor.mover()?;
        Ok(if who.team == Some(self.team) {
            Effect::Noop
        } else {
            Effect::Apply
        })
    }
    fn apply(
        &self,
        b: &mut RoomCtx,
        game: &mut SystemParamItem<M::Param>,
        actor: Actor,
    ) -> Outcome {
        if let Ok(who) = actor.mover() {
            M::on_change(game, b, RoomChange::ChangingTeam(who.id));
            if let Some(m) = b.roster.members.get_mut(&who.id) {
                m.team = Some(self.team);
            }
            b.emit_room(DomainEvent::TeamChanged {
                member: who.id,
                team: Some(self.team),
            });
        }
        Outcome::Applied
    }
}

pub(crate) struct Kick {
    pub member: MemberId,
}

impl<M: Mode> Handler<M> for Kick {
    fn validate(&self, b: &RoomCtx, _: Actor) -> Result<(), ErrorBody> {
        if !b.roster.members.contains_key(&self.member) {
            return Err(ErrorBody::new(
                ErrorCode::MemberNotFound,
                format!("member {} is not in the room", self.member.0),
            )
            .with("member", self.member.0));
        }
        Ok(())
    }
    fn authorize(&self, _: &RoomCtx, actor: Actor) -> Result<(), ErrorBody> {
        match actor {
            Actor::Admin => Ok(()),
            _ => Err(ErrorBody::new(
                ErrorCode::Forbidden,
                "only an admin can kick members",
            )),
        }
    }
    fn apply(&self, b: &mut RoomCtx, game: &mut SystemParamItem<M::Param>, _: Actor) -> Outcome {
        unseat::<M>(b, game, self.member, LeaveReason::Kicked);
        Outcome::Applied
    }
}

/// Removes a seat: the mode lets go of what the seat held first, and a
/// departed host is succeeded by the longest-seated player.
pub(crate) fn unseat<M: Mode>(
    b: &mut RoomCtx,
    game: &mut SystemParamItem<M::Param>,
    member: MemberId,
    reason: LeaveReason,
) {
    if !b.roster.members.contains_key(&member) {
        return;
    }
    M::on_change(game, b, RoomChange::Leaving(member, reason));
    let Some(gone) = b.roster.members.remove(&member) else {
        return;
    };
    b.emit_room(DomainEvent::MemberLeft { member, reason });
    if gone.role == Role::Host {
        // Connected players first: a host in its grace period could not act.
        let successor = b
            .roster
            .members
            .values_mut()
            .filter(|m| m.role == Role::Player)
            .min_by_key(|m| (m.presence != Presence::Connected, m.seat));
        let host = successor.map(|m| {
            m.role = Role::Host;
            m.id
        });
        b.emit_room(DomainEvent::HostChanged { host });
    }
}
