//! Tic-tac-toe as a Tickroom game mode: the mode `docs/modes.md` walks
//! through. It uses only the public API of `tickroom-sim` and
//! `tickroom-protocol`; the server gives it sessions, resume, limits,
//! persistence, replay and the console for free.
//!
//! Rules: the first player to place a mark plays X, the next other player
//! O; they alternate; three in a row (or `to_win` on a larger grid) wins,
//! a full grid is a draw. A player who leaves mid-game forfeits. `reset`
//! starts a new game once one is over (or any time, for the host).

use bevy_ecs::prelude::*;
use bevy_ecs::system::SystemParamItem;
use serde::{Deserialize, Serialize};
use tickroom_protocol::config::check;
use tickroom_protocol::{
    ErrorBody, ErrorCode, IntentSpec, MemberId, ModeCode, ModeCodeEntry, Phase, RateClass, Role,
    RoomConfig,
};
use tickroom_sim::{Actor, Applied, Mode, RoomChange, RoomCtx, Viewer};

/// The mode's settings (a room config's `size` and `to_win`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// The grid is `size` × `size`.
    pub size: u8,
    /// Marks in a row that win.
    pub to_win: u8,
}

impl Default for Config {
    fn default() -> Self {
        Config { size: 3, to_win: 3 }
    }
}

/// What a member asks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Intent {
    /// Puts the player's mark in `cell` (row-major, `0..size*size`).
    Place { cell: u8 },
    /// A new game on an empty grid.
    Reset {},
}

/// A mark on the grid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mark {
    X,
    O,
}

/// How a game ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// `winner` made a row.
    Line,
    /// The grid is full.
    Draw,
    /// The other player left.
    Forfeit,
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    Placed {
        member: MemberId,
        cell: u8,
        mark: Mark,
    },
    GameOver {
        winner: Option<Mark>,
        outcome: Outcome,
    },
    Reset {},
}

/// The whole game: its canonical state, and also what every member sees
/// (tic-tac-toe hides nothing).
#[derive(Resource, Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Game {
    /// Row-major; `None` is an empty cell.
    pub cells: Vec<Option<Mark>>,
    pub x: Option<MemberId>,
    pub o: Option<MemberId>,
    /// Whose turn it is.
    pub turn: Mark,
    /// Set once the game is over.
    pub over: Option<(Option<Mark>, Outcome)>,
    #[serde(skip)]
    size: u8,
    #[serde(skip)]
    to_win: u8,
}

/// `NOT_YOUR_TURN` and `GAME_OVER`, added to the error catalog.
pub const NOT_YOUR_TURN: ErrorCode = ErrorCode::Mode(ModeCode(1100));
pub const GAME_OVER: ErrorCode = ErrorCode::Mode(ModeCode(1101));

/// The mode.
pub struct TicTacToe;

impl Game {
    fn mark_of(&self, member: MemberId) -> Option<Mark> {
        if self.x == Some(member) {
            Some(Mark::X)
        } else if self.o == Some(member) {
            Some(Mark::O)
        } else {
            None
        }
    }

    /// The mark `member` plays, or why it may not place one now.
    fn seat_for(&self, member: MemberId) -> Result<Mark, ErrorBody> {
        match (self.mark_of(member), self.x, self.o) {
            (Some(mark), _, _) => Ok(mark),
            (None, None, _) => Ok(Mark::X),
            (None, Some(_), None) => Ok(Mark::O),
            (None, Some(_), Some(_)) => Err(ErrorBody::new(
                ErrorCode::Forbidden,
                "two players already play this game",
            )),
        }
    }

    fn size(&self) -> usize {
        usize::from(self.size)
    }

    /// Whether `mark` at `cell` completes a row of `to_win`.
    fn wins(&self, cell: usize, mark: Mark) -> bool {
        let n = self.size() as i32;
        let (r, c) = ((cell / self.size()) as i32, (cell % self.size()) as i32);
        let at = |r: i32, c: i32| {
            (0..n).contains(&r)
                && (0..n).contains(&c)
                && self.cells[(r * n + c) as usize] == Some(mark)
        };
        [(0, 1), (1, 0), (1, 1), (1, -1)].iter().any(|(dr, dc)| {
            let run = |sign: i32| {
                (1..n)
                    .take_while(|k| at(r + sign * k * dr, c + sign * k * dc))
                    .count()
            };
            1 + run(1) + run(-1) >= usize::from(self.to_win)
        })
    }
}

impl Mode for TicTacToe {
    const NAME: &'static str = "tictactoe";
    const VERSION: u32 = 1;
    const INTENTS: &'static [IntentSpec] = &[
        IntentSpec {
            name: "place",
            rate: RateClass::Moves,
            durable: false,
            audited: false,
        },
        IntentSpec {
            name: "reset",
            rate: RateClass::Actions,
            durable: false,
            audited: true,
        },
    ];
    const ERROR_CODES: &'static [ModeCodeEntry] = &[
        ModeCodeEntry {
            number: 1100,
            name: "NOT_YOUR_TURN",
            when: "tictactoe: a place from the player whose turn it is not; details carry whose turn it is.",
        },
        ModeCodeEntry {
            number: 1101,
            name: "GAME_OVER",
            when: "tictactoe: a place after the game ended; reset starts a new one.",
        },
    ];
    type Config = Config;
    type Intent = Intent;
    type Event = Event;
    type State = Game;
    type View = Game;
    type Param = ResMut<'static, Game>;

    fn validate_config(_room: &RoomConfig, c: &Config) -> Result<(), ErrorBody> {
        check("size", c.size, (3, 9))?;
        check("to_win", c.to_win, (3, c.size))
    }

    fn initial_state(_room: &RoomConfig, c: &Config) -> Game {
        Game {
            cells: vec![None; usize::from(c.size) * usize::from(c.size)],
            x: None,
            o: None,
            turn: Mark::X,
            over: None,
            size: c.size,
            to_win: c.to_win,
        }
    }

    fn check_state(
        _engine: &tickroom_sim::EngineState,
        c: &Config,
        g: &Game,
    ) -> Result<(), String> {
        if g.cells.len() != usize::from(c.size) * usize::from(c.size) {
            return Err("the grid does not match the config".into());
        }
        Ok(())
    }

    fn insert(world: &mut World, c: &Config, mut g: Game) {
        // Not part of the encoding: the config says them.
        g.size = c.size;
        g.to_win = c.to_win;
        world.insert_resource(g);
    }

    fn read(world: &World) -> Game {
        world.resource::<Game>().clone()
    }

    fn handle(
        game: &mut SystemParamItem<Self::Param>,
        ctx: &mut RoomCtx,
        actor: Actor,
        intent: &Intent,
    ) -> Result<Applied, ErrorBody> {
        match intent {
            Intent::Place { cell } => place(game, ctx, actor, *cell),
            Intent::Reset {} => reset(game, ctx, actor),
        }
    }

    /// A player who leaves a game in progress forfeits it; its mark is
    /// free for the next player either way.
    fn on_change(game: &mut SystemParamItem<Self::Param>, ctx: &mut RoomCtx, change: RoomChange) {
        let RoomChange::Leaving(member, _) = change else {
            return;
        };
        let gone = game.mark_of(member);
        match gone {
            Some(Mark::X) => game.x = None,
            Some(Mark::O) => game.o = None,
            None => return,
        }
        if game.over.is_some() {
            return;
        }
        if let Some(gone) = gone {
            let winner = match gone {
                Mark::X => Mark::O,
                Mark::O => Mark::X,
            };
            game.over = Some((Some(winner), Outcome::Forfeit));
            ctx.emit(Event::GameOver {
                winner: Some(winner),
                outcome: Outcome::Forfeit,
            });
        }
    }

    fn view(world: &World, _viewer: Viewer) -> Game {
        world.resource::<Game>().clone()
    }
}

fn place(game: &mut Game, ctx: &mut RoomCtx, actor: Actor, cell: u8) -> Result<Applied, ErrorBody> {
    // Check everything first: a rejected intent changes nothing.
    ctx.require_phase(&[Phase::Setup, Phase::Live], "place marks")?;
    let who = actor.mover()?;
    if game.over.is_some() {
        return Err(ErrorBody::new(
            GAME_OVER,
            "the game is over; reset to play again",
        ));
    }
    let mark = game.seat_for(who.id)?;
    if mark != game.turn {
        return Err(
            ErrorBody::new(NOT_YOUR_TURN, "it is the other player's turn")
                .with("turn", if game.turn == Mark::X { "x" } else { "o" }),
        );
    }
    let i = usize::from(cell);
    match game.cells.get(i) {
        None => {
            return Err(ErrorBody::new(
                ErrorCode::InvalidArgument,
                format!("cell {cell} is off the {n}×{n} grid", n = game.size),
            )
            .with("cell", u32::from(cell)));
        }
        Some(Some(_)) => {
            return Err(ErrorBody::new(
                ErrorCode::InvalidArgument,
                format!("cell {cell} is taken"),
            )
            .with("cell", u32::from(cell)));
        }
        Some(None) => {}
    }
    // Then the change, and its events.
    match mark {
        Mark::X => game.x = Some(who.id),
        Mark::O => game.o = Some(who.id),
    }
    game.cells[i] = Some(mark);
    ctx.emit(Event::Placed {
        member: who.id,
        cell,
        mark,
    });
    game.turn = match mark {
        Mark::X => Mark::O,
        Mark::O => Mark::X,
    };
    let over = if game.wins(i, mark) {
        Some((Some(mark), Outcome::Line))
    } else if game.cells.iter().all(Option::is_some) {
        Some((None, Outcome::Draw))
    } else {
        None
    };
    if let Some((winner, outcome)) = over {
        game.over = over;
        ctx.emit(Event::GameOver { winner, outcome });
    }
    Ok(Applied::Changed)
}

fn reset(game: &mut Game, ctx: &mut RoomCtx, actor: Actor) -> Result<Applied, ErrorBody> {
    ctx.require_phase(&[Phase::Setup, Phase::Live], "start a new game")?;
    let who = actor.mover()?;
    if game.over.is_none() && who.role != Role::Host {
        return Err(ErrorBody::new(
            ErrorCode::Forbidden,
            "only the host resets a game in progress",
        ));
    }
    game.cells.iter_mut().for_each(|c| *c = None);
    game.turn = Mark::X;
    game.over = None;
    ctx.emit(Event::Reset {});
    Ok(Applied::Changed)
}
