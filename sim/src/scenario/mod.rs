//! Scenarios: plain-text files that script a room tick by tick and state what
//! must hold. They run headless (`tickroom scenario run`) and in CI.
//!
//! ```text
//! scenario Two players take the same lock in one tick
//! seed 7
//! room teams=2 pieces_per_team=2 lock_ttl_ticks=20
//!
//! tick 1
//!   alice join team=0
//!   bob join team=0
//! tick 2
//!   alice lock 0
//!   bob lock 0            !LOCK_HELD
//!   expect lock 0 alice
//! for t in 3..103
//!   tick {t}
//!   alice move 0 {t} {t*2}
//! end
//! hash 0123456789abcdef
//! ```
//!
//! Every action's outcome is checked: without a suffix it must be applied;
//! `!CODE` expects a rejection with that error code, `!DUPLICATE` an
//! idempotent repeat. `expect` lines are checked after their tick. See
//! `docs/scenarios.md` for the whole language.

mod export;
mod expr;
mod parse;
mod run;
mod words;

pub use export::ScenarioWriter;
pub use parse::{ParseError, Scenario, parse, with_hash};
pub use run::{RunReport, run};

/// Every key a `room` line may set, with its default: the framework's and
/// the board's.
pub(crate) fn default_config_json() -> serde_json::Map<String, serde_json::Value> {
    let config = tickroom_protocol::RoomConfig {
        mode: tickroom_protocol::board::MODE.to_owned(),
        game: tickroom_protocol::Payload::of(tickroom_protocol::board::Config::default()),
        ..tickroom_protocol::RoomConfig::default()
    };
    match serde_json::to_value(config) {
        Ok(serde_json::Value::Object(map)) => map,
        _ => serde_json::Map::new(),
    }
}
