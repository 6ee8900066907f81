//! A virtual tabletop as a Tickroom game mode, built only on the public
//! API: a map with tokens; the director (the room's host) and players (a
//! player moves only the tokens assigned to it); initiative with turns (a
//! player's move or end of turn out of its turn is `OUT_OF_TURN_ACTION`;
//! rolls and chat are free; the director advances or reorders); fog regions that hide tokens from players until the director
//! reveals them; token locks while dragging (with a time to live);
//! public and private dice; chat. Locks, dice and chat are the sim's
//! shared parts (`tickroom_sim::parts`), as in the board.
//!
//! Hidden means hidden: a player's frames never hold a token under fog —
//! not in a delta (events about it go to the director only, and a token
//! that enters or leaves the fog `vanishes` or `appears` for players), not
//! in its snapshot, not in the state hash (players get none), not in an
//! error (a hidden token is answered like one that does not exist).

mod wire;

use bevy_ecs::prelude::*;
use bevy_ecs::system::SystemParamItem;
use serde::{Deserialize, Serialize};
use tickroom_protocol::config::check;
use tickroom_protocol::{
    ErrorBody, ErrorCode, IntentSpec, MemberId, ModeCode, ModeCodeEntry, ModeValue, Origin, Phase,
    RateClass, Role, RoomConfig,
};
use tickroom_sim::names::check_name;
use tickroom_sim::parts::chat::{self, check_chat};
use tickroom_sim::parts::dice::DiceSpec;
use tickroom_sim::parts::locks::{Entry, Locks, Taken};
use tickroom_sim::{Actor, Applied, Mode, RoomChange, RoomCtx, TickSet, Viewer, Who, seats};
pub use wire::{
    Cell, ChatLine, Config, Event, Initiative, Intent, MODE, Rect, RegionView, State, TokenLock,
    TokenView, UnlockReason,
};

/// `OUT_OF_TURN_ACTION`, added to the error catalog.
pub const OUT_OF_TURN_ACTION: ErrorCode = ErrorCode::Mode(ModeCode(1200));

/// The whole table: the mode's canonical state (sorted by id).
#[derive(Resource, Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Table {
    pub tokens: Vec<TokenView>,
    pub regions: Vec<RegionView>,
    pub initiative: Option<Initiative>,
    pub chat: chat::History<ChatLine>,
    pub next_token: u32,
    pub next_region: u32,
    /// Token locks (the `token_locked` ones still held), by token.
    pub locks: Locks<u32>,
    #[serde(skip)]
    config: Config,
}

impl Table {
    fn token(&self, id: u32) -> Option<&TokenView> {
        self.tokens
            .binary_search_by_key(&id, |t| t.id)
            .ok()
            .map(|i| &self.tokens[i])
    }

    fn token_mut(&mut self, id: u32) -> Option<&mut TokenView> {
        match self.tokens.binary_search_by_key(&id, |t| t.id) {
            Ok(i) => Some(&mut self.tokens[i]),
            Err(_) => None,
        }
    }

    fn region_index(&self, id: u32) -> Option<usize> {
        self.regions.binary_search_by_key(&id, |r| r.id).ok()
    }

    /// Whether a cell is under a fog region that is not lifted.
    fn fogged(&self, at: Cell) -> bool {
        self.regions
            .iter()
            .any(|r| !r.revealed && r.area.contains(at))
    }

    fn on_map(&self, at: Cell) -> Result<(), ErrorBody> {
        if at.x >= self.config.map_width || at.y >= self.config.map_height {
            return Err(ErrorBody::new(
                ErrorCode::OutOfBounds,
                format!(
                    "({}, {}) is off the {}×{} map",
                    at.x, at.y, self.config.map_width, self.config.map_height
                ),
            )
            .with("x", at.x)
            .with("y", at.y));
        }
        Ok(())
    }

    /// The token as `who` may know it: a token under fog does not exist
    /// for a player (the same answer as for an id never used).
    fn visible_token(&self, who: Who, id: u32) -> Result<&TokenView, ErrorBody> {
        self.token(id)
            .filter(|t| who.role == Role::Host || !self.fogged(t.at))
            .ok_or_else(|| {
                ErrorBody::new(
                    ErrorCode::InvalidArgument,
                    format!("no token {id} on the map"),
                )
                .with("token", id)
            })
    }

    fn hidden(&self, id: u32) -> bool {
        self.token(id).is_some_and(|t| self.fogged(t.at))
    }

    fn lock_ttl(&self) -> u64 {
        u64::from(self.config.lock_ttl_ticks)
    }

    /// The token, if `who` may move (or lock) it now: the director any
    /// token it sees; a player its own, in its turn while initiative runs.
    fn movable_token(&self, who: Who, id: u32) -> Result<&TokenView, ErrorBody> {
        let token = self.visible_token(who, id)?;
        if who.role != Role::Host {
            if token.owner != Some(who.id) {
                return Err(ErrorBody::new(
                    ErrorCode::Forbidden,
                    format!("token {id} is not assigned to member {}", who.id.0),
                )
                .with("token", id));
            }
            if let Some(turn) = self.turn()
                && turn != who.id
            {
                return Err(out_of_turn(turn));
            }
        }
        Ok(token)
    }

    /// Frees the lock of `id`, announcing it to whoever sees the token.
    fn unlock(&mut self, ctx: &mut RoomCtx, id: u32, reason: UnlockReason) {
        if let Some(lock) = self.locks.release(id) {
            announce_unlock(ctx, self.hidden(id), id, lock.holder, reason);
        }
    }

    /// Whose turn it is, while initiative runs.
    fn turn(&self) -> Option<MemberId> {
        let i = self.initiative.as_ref()?;
        i.order.get(i.current as usize).copied()
    }
}

fn director_only(who: Who, what: &str) -> Result<(), ErrorBody> {
    if who.role != Role::Host {
        return Err(ErrorBody::new(
            ErrorCode::Forbidden,
            format!("only the director can {what}"),
        )
        .with("role", "player"));
    }
    Ok(())
}

fn out_of_turn(turn: MemberId) -> ErrorBody {
    ErrorBody::new(OUT_OF_TURN_ACTION, "it is another member's turn").with("turn", turn.0)
}

/// Who sees everything: the director.
fn directors(ctx: &RoomCtx) -> Vec<MemberId> {
    ctx.host().into_iter().collect()
}

/// Everyone but the director: who must not see what fog hides.
fn players(ctx: &RoomCtx) -> Vec<MemberId> {
    let host = ctx.host();
    ctx.members()
        .map(|m| m.id)
        .filter(|m| Some(*m) != host)
        .collect()
}

/// An event about a token: to everyone if it can be seen, else to the
/// director alone.
fn emit_about(ctx: &mut RoomCtx, hidden: bool, event: Event) {
    if hidden {
        let d = directors(ctx);
        ctx.emit_to(d, event);
    } else {
        ctx.emit(event);
    }
}

fn announce_unlock(
    ctx: &mut RoomCtx,
    hidden: bool,
    token: u32,
    holder: MemberId,
    reason: UnlockReason,
) {
    let event = Event::TokenUnlocked {
        token,
        holder,
        reason,
    };
    emit_about(ctx, hidden, event);
}

fn emit_to_players(ctx: &mut RoomCtx, event: impl ModeValue) {
    let p = players(ctx);
    if !p.is_empty() {
        ctx.emit_to(p, event);
    }
}

/// Tokens whose visibility for players changed from `before`: those that
/// came out of the fog appear, those that went under it vanish.
fn announce_fog_change(table: &Table, ctx: &mut RoomCtx, before: &[(u32, bool)]) {
    for (id, was_fogged) in before {
        let Some(t) = table.token(*id) else { continue };
        match (*was_fogged, table.fogged(t.at)) {
            (true, false) => emit_to_players(ctx, Event::TokenAppeared { token: t.clone() }),
            (false, true) => emit_to_players(ctx, Event::TokenVanished { token: *id }),
            _ => {}
        }
    }
}

/// The mode.
pub struct Tabletop;

const fn spec(name: &'static str, rate: RateClass) -> IntentSpec {
    IntentSpec {
        name,
        rate,
        durable: false,
        audited: false,
    }
}

impl Mode for Tabletop {
    const NAME: &'static str = MODE;
    /// 2: token locks (a field of the table), so version 1 rooms cannot be
    /// read.
    const VERSION: u32 = 2;
    const INTENTS: &'static [IntentSpec] = &[
        spec("place_token", RateClass::Actions),
        spec("move_token", RateClass::Moves),
        spec("remove_token", RateClass::Actions),
        spec("assign_token", RateClass::Actions),
        spec("add_fog", RateClass::Actions),
        spec("reveal", RateClass::Actions),
        spec("cover", RateClass::Actions),
        spec("set_initiative", RateClass::Actions),
        spec("next_turn", RateClass::Actions),
        spec("end_turn", RateClass::Actions),
        spec("end_initiative", RateClass::Actions),
        spec("roll", RateClass::Actions),
        spec("chat", RateClass::Chat),
        spec("lock_token", RateClass::Moves),
        spec("unlock_token", RateClass::Moves),
    ];
    const ERROR_CODES: &'static [ModeCodeEntry] = &[ModeCodeEntry {
        number: 1200,
        name: "OUT_OF_TURN_ACTION",
        when: "tabletop: a player acted while initiative runs and it is not its turn; details carry whose turn it is.",
    }];
    const HIDES: bool = true;
    type Config = Config;
    type Intent = Intent;
    type Event = Event;
    type State = Table;
    type View = State;
    type Param = ResMut<'static, Table>;

    fn validate_config(_room: &RoomConfig, c: &Config) -> Result<(), ErrorBody> {
        check("map_width", c.map_width, (1, 10_000))?;
        check("map_height", c.map_height, (1, 10_000))?;
        check("max_tokens", c.max_tokens, (0, 10_000))?;
        check("max_regions", c.max_regions, (0, 1_000))?;
        check("max_token_name_chars", c.max_token_name_chars, (1, 256))?;
        check("chat_history", c.chat_history, (0, 1_000))?;
        check("max_chat_chars", c.max_chat_chars, (1, 4_000))?;
        check("max_dice", c.max_dice, (1, 1_000))?;
        check("max_dice_sides", c.max_dice_sides, (2, 1_000_000))?;
        check("lock_ttl_ticks", c.lock_ttl_ticks, (1, 1_000_000))
    }

    fn initial_state(_room: &RoomConfig, c: &Config) -> Table {
        Table {
            tokens: Vec::new(),
            regions: Vec::new(),
            locks: Locks::new("token"),
            initiative: None,
            chat: chat::History::default(),
            next_token: 1,
            next_region: 1,
            config: c.clone(),
        }
    }

    fn check_state(
        engine: &tickroom_sim::EngineState,
        c: &Config,
        t: &Table,
    ) -> Result<(), String> {
        let sorted = t.tokens.windows(2).all(|w| w[0].id < w[1].id)
            && t.regions.windows(2).all(|w| w[0].id < w[1].id);
        if !sorted {
            return Err("tokens or regions not sorted by id".into());
        }
        if t.tokens.len() > usize::from(c.max_tokens)
            || t.regions.len() > usize::from(c.max_regions)
            || t.chat.len() > usize::from(c.chat_history)
        {
            return Err("more tokens, regions or chat lines than the room keeps".into());
        }
        if t.tokens.iter().any(|tok| tok.id >= t.next_token)
            || t.regions.iter().any(|r| r.id >= t.next_region)
        {
            return Err("a token or region id beyond its counter".into());
        }
        let lock_ok = t.locks.iter().all(|(token, lock)| {
            t.token(token).is_some()
                && engine
                    .members
                    .binary_search_by_key(&lock.holder, |s| s.id)
                    .is_ok()
        });
        if !lock_ok {
            return Err("a lock on no token, or held by a member not seated".into());
        }
        if let Some(i) = &t.initiative {
            let seated = i
                .order
                .iter()
                .all(|m| engine.members.binary_search_by_key(m, |s| s.id).is_ok());
            if i.order.is_empty() || i.current as usize >= i.order.len() || !seated {
                return Err("initiative names no turn, or a member not seated".into());
            }
        }
        Ok(())
    }

    fn insert(world: &mut World, c: &Config, mut t: Table) {
        t.config = c.clone();
        t.locks = t.locks.named("token");
        world.insert_resource(t);
    }

    fn build(schedule: &mut Schedule) {
        schedule.add_systems(expire_locks.in_set(TickSet::Timers));
    }

    fn next_due(world: &World) -> Option<u64> {
        world.resource::<Table>().locks.next_due()
    }

    fn read(world: &World) -> Table {
        world.resource::<Table>().clone()
    }

    fn handle(
        table: &mut SystemParamItem<Self::Param>,
        ctx: &mut RoomCtx,
        actor: Actor,
        intent: &Intent,
    ) -> Result<Applied, ErrorBody> {
        let table: &mut Table = table;
        // An expired or archived table is read-only; chat goes on until it
        // is archived.
        match intent {
            Intent::Chat { .. } => {
                ctx.require_phase(&[Phase::Setup, Phase::Live, Phase::Expired], "chat")?
            }
            _ => ctx.require_phase(&[Phase::Setup, Phase::Live], "change the table")?,
        }
        match intent {
            Intent::PlaceToken { name, at, owner } => place(table, ctx, actor, name, *at, *owner),
            Intent::MoveToken { token, to } => move_token(table, ctx, actor, *token, *to),
            Intent::RemoveToken { token } => {
                let who = actor.mover()?;
                director_only(who, "remove tokens")?;
                let hidden = table.fogged(table.visible_token(who, *token)?.at);
                table.unlock(ctx, *token, UnlockReason::TokenRemoved);
                table.tokens.retain(|t| t.id != *token);
                emit_about(ctx, hidden, Event::TokenRemoved { token: *token });
                Ok(Applied::Changed)
            }
            Intent::AssignToken { token, owner } => {
                let who = actor.mover()?;
                director_only(who, "assign tokens")?;
                check_owner(ctx, *owner)?;
                let hidden = table.fogged(table.visible_token(who, *token)?.at);
                if let Some(t) = table.token_mut(*token) {
                    t.owner = *owner;
                }
                let event = Event::TokenAssigned {
                    token: *token,
                    owner: *owner,
                };
                emit_about(ctx, hidden, event);
                Ok(Applied::Changed)
            }
            Intent::LockToken { token } => lock_token(table, ctx, actor, *token),
            Intent::UnlockToken { token } => {
                let who = actor.mover()?;
                table.visible_token(who, *token)?;
                table.locks.require_holder(who.id, *token)?;
                table.unlock(ctx, *token, UnlockReason::Released);
                Ok(Applied::Changed)
            }
            Intent::AddFog { area } => add_fog(table, ctx, actor, *area),
            Intent::Reveal { region } => set_fog(table, ctx, actor, *region, true),
            Intent::Cover { region } => set_fog(table, ctx, actor, *region, false),
            Intent::SetInitiative { order } => set_initiative(table, ctx, actor, order),
            Intent::NextTurn {} => {
                director_only(actor.mover()?, "advance the turn")?;
                advance(table, ctx)
            }
            Intent::EndTurn {} => {
                let who = actor.mover()?;
                match table.turn() {
                    None => Err(no_initiative()),
                    Some(turn) if turn != who.id => Err(out_of_turn(turn)),
                    Some(_) => advance(table, ctx),
                }
            }
            Intent::EndInitiative {} => {
                director_only(actor.mover()?, "end initiative")?;
                if table.initiative.take().is_none() {
                    return Err(no_initiative());
                }
                ctx.emit(Event::InitiativeEnded {});
                Ok(Applied::Changed)
            }
            Intent::Roll { notation, private } => roll(table, ctx, actor, notation, *private),
            Intent::Chat { text } => {
                let who = actor.seat()?;
                check_chat(text, usize::from(table.config.max_chat_chars))?;
                let line = ChatLine {
                    tick: ctx.tick(),
                    member: who.id,
                    text: text.clone(),
                };
                table
                    .chat
                    .push(line, usize::from(table.config.chat_history));
                ctx.emit(Event::ChatPosted {
                    member: who.id,
                    text: text.clone(),
                });
                Ok(Applied::Changed)
            }
        }
    }

    /// A member who drops lets go of its locks; one who leaves also drops
    /// out of the turn order (the turn passes on if it was its) and its
    /// tokens go back to the director.
    fn on_change(table: &mut SystemParamItem<Self::Param>, ctx: &mut RoomCtx, change: RoomChange) {
        let table: &mut Table = table;
        let (member, reason) = match change {
            RoomChange::Leaving(m, _) => (m, UnlockReason::HolderLeft),
            RoomChange::Disconnecting(m) => (m, UnlockReason::HolderDisconnected),
            _ => return,
        };
        for (token, lock) in table.locks.release_all(Some(member)) {
            announce_unlock(ctx, table.hidden(token), token, lock.holder, reason);
        }
        if reason != UnlockReason::HolderLeft {
            return;
        }
        let owned: Vec<(u32, bool)> = table
            .tokens
            .iter_mut()
            .filter(|t| t.owner == Some(member))
            .map(|t| {
                t.owner = None;
                (t.id, false)
            })
            .collect();
        for (id, _) in owned {
            let hidden = table.hidden(id);
            emit_about(
                ctx,
                hidden,
                Event::TokenAssigned {
                    token: id,
                    owner: None,
                },
            );
        }
        let Some(init) = table.initiative.as_mut() else {
            return;
        };
        let Some(at) = init.order.iter().position(|m| *m == member) else {
            return;
        };
        init.order.remove(at);
        if init.order.is_empty() {
            table.initiative = None;
            ctx.emit(Event::InitiativeEnded {});
            return;
        }
        if (at as u32) < init.current || init.current as usize >= init.order.len() {
            init.current = init
                .current
                .saturating_sub(1)
                .min(init.order.len() as u32 - 1);
        }
        let initiative = init.clone();
        ctx.emit(Event::TurnOrder { initiative });
    }

    fn sees_all(world: &World, member: MemberId) -> bool {
        seats::host(world) == Some(member)
    }

    fn view(world: &World, viewer: Viewer) -> State {
        let table = world.resource::<Table>();
        let sees_all = match viewer {
            Viewer::All => true,
            Viewer::Member(m) => seats::host(world) == Some(m),
            Viewer::Nobody => false,
        };
        State {
            map_width: table.config.map_width,
            map_height: table.config.map_height,
            tokens: table
                .tokens
                .iter()
                .filter(|t| sees_all || !table.fogged(t.at))
                .cloned()
                .collect(),
            regions: table.regions.clone(),
            locks: table
                .locks
                .iter()
                .filter(|(token, _)| sees_all || !table.hidden(*token))
                .map(|(key, l)| Entry {
                    key,
                    holder: l.holder,
                    expires_at: l.expires_at,
                })
                .collect(),
            initiative: table.initiative.clone(),
            chat: table.chat.iter().cloned().collect(),
            sees_all,
        }
    }
}

fn no_initiative() -> ErrorBody {
    ErrorBody::new(ErrorCode::WrongPhase, "initiative is not running")
}

fn check_owner(ctx: &RoomCtx, owner: Option<MemberId>) -> Result<(), ErrorBody> {
    match owner {
        Some(m) if ctx.member(m).is_none_or(|s| s.role == Role::Spectator) => Err(ErrorBody::new(
            ErrorCode::MemberNotFound,
            format!("member {} is no player in this room", m.0),
        )
        .with("member", m.0)),
        _ => Ok(()),
    }
}

fn place(
    table: &mut Table,
    ctx: &mut RoomCtx,
    actor: Actor,
    name: &str,
    at: Cell,
    owner: Option<MemberId>,
) -> Result<Applied, ErrorBody> {
    let who = actor.mover()?;
    director_only(who, "place tokens")?;
    check_name("name", name, usize::from(table.config.max_token_name_chars))?;
    table.on_map(at)?;
    check_owner(ctx, owner)?;
    let max = usize::from(table.config.max_tokens);
    if table.tokens.len() >= max {
        return Err(ErrorBody::new(
            ErrorCode::InvalidArgument,
            format!("the map holds {max} tokens at most"),
        )
        .with("max_tokens", max));
    }
    let token = TokenView {
        id: table.next_token,
        name: name.to_owned(),
        at,
        owner,
    };
    table.next_token += 1;
    table.tokens.push(token.clone());
    let hidden = table.fogged(at);
    emit_about(ctx, hidden, Event::TokenPlaced { token });
    Ok(Applied::Changed)
}

fn move_token(
    table: &mut Table,
    ctx: &mut RoomCtx,
    actor: Actor,
    id: u32,
    to: Cell,
) -> Result<Applied, ErrorBody> {
    let who = actor.mover()?;
    let token = table.movable_token(who, id)?;
    table.locks.free_for(who.id, id)?;
    table.on_map(to)?;
    let was_fogged = table.fogged(token.at);
    let now_fogged = table.fogged(to);
    let mut moved = token.clone();
    moved.at = to;
    if let Some(t) = table.token_mut(id) {
        t.at = to;
    }
    let ttl = table.lock_ttl();
    table.locks.renew(ctx.tick(), ttl, id);
    let event = Event::TokenMoved { token: id, to };
    match (was_fogged, now_fogged) {
        (false, false) => ctx.emit(event),
        (true, true) => emit_about(ctx, true, event),
        (false, true) => {
            emit_about(ctx, true, event);
            emit_to_players(ctx, Event::TokenVanished { token: id });
        }
        (true, false) => {
            emit_about(ctx, true, event);
            emit_to_players(ctx, Event::TokenAppeared { token: moved });
        }
    }
    Ok(Applied::Changed)
}

/// Takes (or renews) the lock of a token one may move.
fn lock_token(
    table: &mut Table,
    ctx: &mut RoomCtx,
    actor: Actor,
    id: u32,
) -> Result<Applied, ErrorBody> {
    let who = actor.mover()?;
    table.movable_token(who, id)?;
    table.locks.free_for(who.id, id)?;
    let ttl = table.lock_ttl();
    let expires_at = match table.locks.take(ctx.tick(), ttl, id, who.id) {
        Taken::New { expires_at } | Taken::Renewed { expires_at } => expires_at,
    };
    let lock = TokenLock {
        key: id,
        holder: who.id,
        expires_at,
    };
    emit_about(ctx, table.hidden(id), Event::TokenLocked { lock });
    Ok(Applied::Changed)
}

/// Frees the locks whose time is up, each one a mutation of its own.
fn expire_locks(mut ctx: RoomCtx, mut table: ResMut<Table>) {
    let now = ctx.tick();
    if table.locks.next_due().is_none_or(|due| due > now) {
        return;
    }
    for (token, lock) in table.locks.expire(now) {
        let hidden = table.hidden(token);
        announce_unlock(&mut ctx, hidden, token, lock.holder, UnlockReason::Expired);
        ctx.commit(Origin::default());
    }
}

fn add_fog(
    table: &mut Table,
    ctx: &mut RoomCtx,
    actor: Actor,
    area: Rect,
) -> Result<Applied, ErrorBody> {
    director_only(actor.mover()?, "add fog")?;
    let fits = area.w > 0
        && area.h > 0
        && u64::from(area.x) + u64::from(area.w) <= u64::from(table.config.map_width)
        && u64::from(area.y) + u64::from(area.h) <= u64::from(table.config.map_height);
    if !fits {
        return Err(ErrorBody::new(
            ErrorCode::OutOfBounds,
            "a fog region must be a non-empty rectangle on the map",
        ));
    }
    let max = usize::from(table.config.max_regions);
    if table.regions.len() >= max {
        return Err(ErrorBody::new(
            ErrorCode::InvalidArgument,
            format!("the map holds {max} fog regions at most"),
        )
        .with("max_regions", max));
    }
    let before = fog_states(table);
    let region = RegionView {
        id: table.next_region,
        area,
        revealed: false,
    };
    table.next_region += 1;
    table.regions.push(region.clone());
    ctx.emit(Event::FogAdded { region });
    announce_fog_change(table, ctx, &before);
    Ok(Applied::Changed)
}

fn fog_states(table: &Table) -> Vec<(u32, bool)> {
    table
        .tokens
        .iter()
        .map(|t| (t.id, table.fogged(t.at)))
        .collect()
}

fn set_fog(
    table: &mut Table,
    ctx: &mut RoomCtx,
    actor: Actor,
    region: u32,
    revealed: bool,
) -> Result<Applied, ErrorBody> {
    director_only(actor.mover()?, "reveal or cover fog")?;
    let i = table.region_index(region).ok_or_else(|| {
        ErrorBody::new(
            ErrorCode::InvalidArgument,
            format!("no fog region {region}"),
        )
        .with("region", region)
    })?;
    if table.regions[i].revealed == revealed {
        return Ok(Applied::Duplicate);
    }
    let before = fog_states(table);
    table.regions[i].revealed = revealed;
    ctx.emit(if revealed {
        Event::RegionRevealed { region }
    } else {
        Event::RegionCovered { region }
    });
    announce_fog_change(table, ctx, &before);
    Ok(Applied::Changed)
}

fn set_initiative(
    table: &mut Table,
    ctx: &mut RoomCtx,
    actor: Actor,
    order: &[MemberId],
) -> Result<Applied, ErrorBody> {
    director_only(actor.mover()?, "set the turn order")?;
    if order.is_empty() {
        return Err(ErrorBody::new(
            ErrorCode::InvalidArgument,
            "a turn order names at least one member",
        ));
    }
    let mut seen = std::collections::BTreeSet::new();
    for m in order {
        check_owner(ctx, Some(*m))?;
        if !seen.insert(*m) {
            return Err(ErrorBody::new(
                ErrorCode::InvalidArgument,
                format!("member {} is twice in the turn order", m.0),
            )
            .with("member", m.0));
        }
    }
    let round = table.initiative.as_ref().map_or(1, |i| i.round);
    let initiative = Initiative {
        order: order.to_vec(),
        current: 0,
        round,
    };
    table.initiative = Some(initiative.clone());
    ctx.emit(Event::TurnOrder { initiative });
    Ok(Applied::Changed)
}

fn advance(table: &mut Table, ctx: &mut RoomCtx) -> Result<Applied, ErrorBody> {
    let init = table.initiative.as_mut().ok_or_else(no_initiative)?;
    init.current += 1;
    if init.current as usize >= init.order.len() {
        init.current = 0;
        init.round += 1;
    }
    let member = init.order[init.current as usize];
    let round = init.round;
    ctx.emit(Event::TurnChanged { member, round });
    Ok(Applied::Changed)
}

fn roll(
    table: &mut Table,
    ctx: &mut RoomCtx,
    actor: Actor,
    notation: &str,
    private: bool,
) -> Result<Applied, ErrorBody> {
    let who = actor.mover()?;
    let spec = DiceSpec::parse(notation, table.config.max_dice, table.config.max_dice_sides)?;
    let rolls = spec.roll(ctx.rng());
    let event = Event::DiceRolled {
        member: who.id,
        notation: spec.to_string(),
        total: spec.total(&rolls),
        rolls,
        modifier: spec.modifier,
        private,
    };
    if private {
        let mut audience = directors(ctx);
        audience.push(who.id);
        ctx.emit_to(audience, event);
    } else {
        ctx.emit(event);
    }
    Ok(Applied::Changed)
}
