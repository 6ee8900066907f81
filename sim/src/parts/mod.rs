//! Small pieces a mode composes instead of copying: each is a plain type or
//! function a mode keeps in its own resources and calls from its handlers,
//! so its state stays in the mode's canonical encoding.
//!
//! - [`locks`]: locks with a time to live on any key (the board's pieces,
//!   the tabletop's tokens), with expiry in tick order and release when a
//!   member leaves.
//! - [`dice`]: dice notation and rolls on the room's seeded generator.
//! - [`chat`]: the checks every chat line passes, and the bounded history
//!   a joiner is sent.
//!
//! The engine itself provides the rest: phases and the match timer
//! ([`RoomCtx::require_phase`](crate::RoomCtx::require_phase), the room
//! config's phase durations), seats, roles and teams
//! ([`Who`](crate::Who) carries the member's role and team).

pub mod chat;
pub mod locks;

pub use crate::dice;
