//! Chat. Spectators may chat: it changes no piece, and a table's audience
//! talking is the point of having one.

use crate::input::Outcome;
use crate::pipeline::{Actor, Board, Handler, require_phase};
use tickroom_protocol::{ChatLine, DomainEvent, ErrorBody, ErrorCode, Phase};

pub(crate) struct Post<'a> {
    pub text: &'a str,
}

impl Handler for Post<'_> {
    fn validate(&self, b: &Board, _: Actor) -> Result<(), ErrorBody> {
        require_phase(b, &[Phase::Setup, Phase::Live, Phase::Expired], "chat")?;
        let max = usize::from(b.meta.config.max_chat_chars);
        let chars = self.text.chars().count();
        if chars > max {
            return Err(ErrorBody::new(
                ErrorCode::FieldTooLong,
                format!("chat text has {chars} characters, more than {max}"),
            )
            .with("field", "text")
            .with("len", chars)
            .with("max", max));
        }
        let control = |c: char| c.is_control() && c != '\n' && c != '\t';
        if self.text.trim().is_empty() || self.text.chars().any(control) {
            return Err(ErrorBody::new(
                ErrorCode::InvalidArgument,
                "chat text must be non-blank and free of control characters",
            )
            .with("field", "text"));
        }
        Ok(())
    }
    fn authorize(&self, _: &Board, actor: Actor) -> Result<(), ErrorBody> {
        actor.seat().map(drop)
    }
    fn apply(&self, b: &mut Board, actor: Actor) -> Outcome {
        let Ok(who) = actor.seat() else {
            return Outcome::Applied;
        };
        let keep = usize::from(b.meta.config.chat_history);
        let tick = b.tick();
        let log = &mut b.chat.lines;
        log.push_back(ChatLine {
            tick,
            member: who.id,
            text: self.text.to_owned(),
        });
        while log.len() > keep {
            log.pop_front();
        }
        b.out.staged.push(DomainEvent::ChatPosted {
            member: who.id,
            text: self.text.to_owned(),
        });
        Outcome::Applied
    }
}
