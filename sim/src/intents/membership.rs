//! Seats: join, leave, disconnect, reconnect, grace expiry, team changes and
//! admin kicks.

use super::check_name;
use crate::input::Outcome;
use crate::pipeline::{Actor, Board, Effect, Handler, require_phase};
use crate::resources::Member;
use tickroom_protocol::{
    DomainEvent, ErrorBody, ErrorCode, LeaveReason, MemberId, Phase, Presence, ReleaseReason, Role,
    TeamId,
};

/// Longest accepted user id (from a join token or session), in bytes.
pub const MAX_USER_BYTES: usize = 256;

fn check_team(b: &Board, team: TeamId) -> Result<(), ErrorBody> {
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
    fn auto_team(b: &Board) -> Option<TeamId> {
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

impl Handler for Join<'_> {
    fn validate(&self, b: &Board, _: Actor) -> Result<(), ErrorBody> {
        require_phase(b, &[Phase::Setup, Phase::Live, Phase::Expired], "join")?;
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

    fn authorize(&self, b: &Board, _: Actor) -> Result<(), ErrorBody> {
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

    fn apply(&self, b: &mut Board, _: Actor) -> Outcome {
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
        b.out.staged.push(DomainEvent::MemberJoined {
            member: member.view(),
        });
        if role == Role::Host {
            b.out
                .staged
                .push(DomainEvent::HostChanged { host: Some(id) });
        }
        b.roster.members.insert(id, member);
        Outcome::Joined { member: id }
    }
}

pub(crate) struct Leave;

impl Handler for Leave {
    fn validate(&self, _: &Board, _: Actor) -> Result<(), ErrorBody> {
        Ok(())
    }
    fn authorize(&self, _: &Board, actor: Actor) -> Result<(), ErrorBody> {
        actor.seat().map(drop)
    }
    fn apply(&self, b: &mut Board, actor: Actor) -> Outcome {
        if let Ok(who) = actor.seat() {
            b.unseat(who.id, LeaveReason::Left);
        }
        Outcome::Applied
    }
}

pub(crate) struct Disconnect;

impl Handler for Disconnect {
    fn validate(&self, _: &Board, _: Actor) -> Result<(), ErrorBody> {
        Ok(())
    }
    fn authorize(&self, _: &Board, actor: Actor) -> Result<(), ErrorBody> {
        actor.seat().map(drop)
    }
    fn apply(&self, b: &mut Board, actor: Actor) -> Outcome {
        if let Ok(who) = actor.seat() {
            b.release_locks_of(Some(who.id), ReleaseReason::HolderDisconnected);
            if let Some(m) = b.roster.members.get_mut(&who.id) {
                m.presence = Presence::InGrace;
            }
            b.out
                .staged
                .push(DomainEvent::MemberDisconnected { member: who.id });
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

impl Handler for Reconnect {
    fn validate(&self, _: &Board, actor: Actor) -> Result<(), ErrorBody> {
        require_in_grace(actor)
    }
    fn authorize(&self, _: &Board, _: Actor) -> Result<(), ErrorBody> {
        Ok(())
    }
    fn apply(&self, b: &mut Board, actor: Actor) -> Outcome {
        if let Ok(who) = actor.seat()
            && let Some(m) = b.roster.members.get_mut(&who.id)
        {
            m.presence = Presence::Connected;
            b.out
                .staged
                .push(DomainEvent::MemberReconnected { member: who.id });
        }
        Outcome::Applied
    }
}

pub(crate) struct GraceExpired;

impl Handler for GraceExpired {
    fn validate(&self, _: &Board, actor: Actor) -> Result<(), ErrorBody> {
        require_in_grace(actor)
    }
    fn authorize(&self, _: &Board, _: Actor) -> Result<(), ErrorBody> {
        Ok(())
    }
    fn apply(&self, b: &mut Board, actor: Actor) -> Outcome {
        if let Ok(who) = actor.seat() {
            b.unseat(who.id, LeaveReason::GraceExpired);
        }
        Outcome::Applied
    }
}

pub(crate) struct ChangeTeam {
    pub team: TeamId,
}

impl Handler for ChangeTeam {
    fn validate(&self, b: &Board, _: Actor) -> Result<(), ErrorBody> {
        require_phase(b, &[Phase::Setup], "change team")?;
        check_team(b, self.team)
    }
    fn authorize(&self, _: &Board, actor: Actor) -> Result<(), ErrorBody> {
        actor.mover().map(drop)
    }
    fn lock(&self, _: &Board, actor: Actor) -> Result<Effect, ErrorBody> {
        let who = actor.mover()?;
        Ok(if who.team == Some(self.team) {
            Effect::Noop
        } else {
            Effect::Apply
        })
    }
    fn apply(&self, b: &mut Board, actor: Actor) -> Outcome {
        if let Ok(who) = actor.mover() {
            // Locks on the old team's pieces would let the member keep moving them.
            b.release_locks_of(Some(who.id), ReleaseReason::TeamChanged);
            if let Some(m) = b.roster.members.get_mut(&who.id) {
                m.team = Some(self.team);
            }
            b.out.staged.push(DomainEvent::TeamChanged {
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

impl Handler for Kick {
    fn validate(&self, b: &Board, _: Actor) -> Result<(), ErrorBody> {
        if !b.roster.members.contains_key(&self.member) {
            return Err(ErrorBody::new(
                ErrorCode::MemberNotFound,
                format!("member {} is not in the room", self.member.0),
            )
            .with("member", self.member.0));
        }
        Ok(())
    }
    fn authorize(&self, _: &Board, actor: Actor) -> Result<(), ErrorBody> {
        match actor {
            Actor::Admin => Ok(()),
            _ => Err(ErrorBody::new(
                ErrorCode::Forbidden,
                "only an admin can kick members",
            )),
        }
    }
    fn apply(&self, b: &mut Board, _: Actor) -> Outcome {
        b.unseat(self.member, LeaveReason::Kicked);
        Outcome::Applied
    }
}
