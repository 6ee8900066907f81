//! Chat. Spectators may chat: it changes no piece, and a table's audience
//! talking is the point of having one.

use super::param::{BoardParam, Stages};
use crate::mode::{Actor, RoomCtx};
use tickroom_protocol::board::{ChatLine, Event};
use tickroom_protocol::{ErrorBody, Phase};

pub(crate) struct Post<'a> {
    pub text: &'a str,
}

impl Stages for Post<'_> {
    fn validate(&self, c: &RoomCtx, b: &BoardParam, _: Actor) -> Result<(), ErrorBody> {
        c.require_phase(&[Phase::Setup, Phase::Live, Phase::Expired], "chat")?;
        crate::parts::chat::check_chat(self.text, usize::from(b.config().max_chat_chars))
    }
    fn authorize(&self, _: &RoomCtx, _: &BoardParam, actor: Actor) -> Result<(), ErrorBody> {
        actor.seat().map(drop)
    }
    fn apply(&self, c: &mut RoomCtx, b: &mut BoardParam, actor: Actor) {
        let Ok(who) = actor.seat() else {
            return;
        };
        let keep = usize::from(b.config().chat_history);
        let line = ChatLine {
            tick: c.tick(),
            member: who.id,
            text: self.text.to_owned(),
        };
        b.chat.push(line, keep);
        c.emit(Event::ChatPosted {
            member: who.id,
            text: self.text.to_owned(),
        });
    }
}
