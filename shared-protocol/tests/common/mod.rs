//! Shared by the integration tests: proptest strategies for every wire type
//! (the framework's and the built-in `board` mode's), one hand-written
//! sample of every message, board intent and event variant, exhaustive
//! variant indexes (a new variant fails to compile here until it has a
//! sample), and the step that turns received mode payloads into the
//! board's typed values.

#![allow(dead_code)]

use proptest::collection::{btree_map, vec};
use proptest::option;
use proptest::prelude::*;
use tickroom_protocol::board;
use tickroom_protocol::walk::check_value;
use tickroom_protocol::*;

// ---------------------------------------------------------------- strategies

/// Characters that stress both codecs: JSON escapes, control characters,
/// multi-byte UTF-8, brackets (which the JSON depth check must skip inside
/// strings).
const TRICKY: &[char] = &[
    '"',
    '\\',
    '/',
    '\n',
    '\r',
    '\t',
    '\u{0}',
    '\u{1f}',
    '\u{7f}',
    '{',
    '[',
    '}',
    ']',
    'é',
    '€',
    '😀',
    '\u{fffd}',
    '\u{10ffff}',
    'a',
    ' ',
];

/// Arbitrary unicode, at most 64 chars (≤ 256 bytes).
pub fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        vec(any::<char>(), 0..=64).prop_map(String::from_iter),
        vec(prop::sample::select(TRICKY), 0..=64).prop_map(String::from_iter),
        "[a-z0-9_-]{0,16}",
    ]
}

pub fn room_id() -> impl Strategy<Value = RoomId> {
    text().prop_map(RoomId::from)
}

pub fn member_id() -> impl Strategy<Value = MemberId> {
    any::<u32>().prop_map(MemberId)
}

pub fn piece_id() -> impl Strategy<Value = PieceId> {
    any::<u32>().prop_map(PieceId)
}

pub fn team_id() -> impl Strategy<Value = TeamId> {
    any::<u8>().prop_map(TeamId)
}

pub fn pos() -> impl Strategy<Value = Pos> {
    (any::<i32>(), any::<i32>()).prop_map(|(x, y)| Pos { x, y })
}

pub fn state_hash() -> impl Strategy<Value = StateHash> {
    prop_oneof![
        any::<u64>().prop_map(StateHash),
        prop::sample::select(vec![0, 1, u64::MAX, 1 << 53, (1 << 53) + 1]).prop_map(StateHash),
    ]
}

/// Framework codes, and codes a mode adds (numbered from 1000; JSON names
/// an unregistered one `MODE_ERROR_<number>`).
pub fn error_code() -> impl Strategy<Value = ErrorCode> {
    prop_oneof![
        3 => prop::sample::select(ErrorCode::ALL),
        1 => (FIRST_MODE_CODE..=u16::MAX).prop_map(|n| ErrorCode::Mode(ModeCode(n))),
    ]
}

pub fn detail_value() -> impl Strategy<Value = DetailValue> {
    prop_oneof![
        any::<i64>().prop_map(DetailValue::Int),
        prop::sample::select(vec![0, -1, i64::MIN, i64::MAX]).prop_map(DetailValue::Int),
        text().prop_map(DetailValue::Text),
        any::<bool>().prop_map(DetailValue::Bool),
    ]
}

pub fn details() -> impl Strategy<Value = Details> {
    btree_map(text(), detail_value(), 0..6)
}

pub fn mode_name() -> impl Strategy<Value = String> {
    prop_oneof![Just(String::new()), Just(board::MODE.to_owned()), text()]
}

pub fn mode_info() -> impl Strategy<Value = ModeInfo> {
    (mode_name(), any::<u32>()).prop_map(|(name, version)| ModeInfo { name, version })
}

pub fn board_config() -> impl Strategy<Value = board::Config> {
    (
        (any::<u16>(), any::<u16>(), any::<i32>(), any::<i32>()),
        (any::<u32>(), any::<u16>(), any::<u16>(), any::<u16>()),
        (any::<u16>(), any::<u32>()),
    )
        .prop_map(
            |(
                (pieces_per_team, neutral_pieces, board_width, board_height),
                (lock_ttl_ticks, max_formations, chat_history, max_chat_chars),
                (max_dice, max_dice_sides),
            )| board::Config {
                pieces_per_team,
                neutral_pieces,
                board_width,
                board_height,
                lock_ttl_ticks,
                max_formations,
                chat_history,
                max_chat_chars,
                max_dice,
                max_dice_sides,
            },
        )
}

/// Fails to compile when `board::Config` gains a field that
/// [`board_config`] does not set.
fn board_config_is_exhaustive(c: board::Config) {
    let board::Config {
        pieces_per_team: _,
        neutral_pieces: _,
        board_width: _,
        board_height: _,
        lock_ttl_ticks: _,
        max_formations: _,
        chat_history: _,
        max_chat_chars: _,
        max_dice: _,
        max_dice_sides: _,
    } = c;
}

/// A room config: any framework values, and either no mode settings (the
/// mode's defaults) or the board's.
pub fn room_config() -> impl Strategy<Value = RoomConfig> {
    (
        mode_name(),
        (any::<u16>(), any::<u16>(), any::<u8>()),
        (any::<u32>(), any::<u32>(), any::<u32>(), any::<u16>()),
        option::of(board_config()),
    )
        .prop_map(
            |(
                mode,
                (tick_rate_hz, max_players, teams),
                (match_ticks, auto_archive_ticks, hash_every_ticks, max_name_chars),
                game,
            )| RoomConfig {
                mode,
                tick_rate_hz,
                max_players,
                teams,
                match_ticks,
                auto_archive_ticks,
                hash_every_ticks,
                max_name_chars,
                game: game.map_or_else(Payload::empty, Payload::of),
            },
        )
}

/// Fails to compile when `RoomConfig` gains a field that [`room_config`]
/// does not set.
fn room_config_is_exhaustive(c: RoomConfig) {
    let RoomConfig {
        mode: _,
        tick_rate_hz: _,
        max_players: _,
        teams: _,
        match_ticks: _,
        auto_archive_ticks: _,
        hash_every_ticks: _,
        max_name_chars: _,
        game: _,
    } = c;
}

pub fn board_intent() -> impl Strategy<Value = board::Intent> {
    use board::Intent;
    prop_oneof![
        (piece_id(), pos()).prop_map(|(piece, to)| Intent::MovePiece { piece, to }),
        piece_id().prop_map(|piece| Intent::TakeLock { piece }),
        piece_id().prop_map(|piece| Intent::RenewLock { piece }),
        piece_id().prop_map(|piece| Intent::ReleaseLock { piece }),
        (text(), text()).prop_map(|(name, key)| Intent::SaveFormation { name, key }),
        text().prop_map(|name| Intent::ApplyFormation { name }),
        text().prop_map(|notation| Intent::RollDice { notation }),
        text().prop_map(|text| Intent::Chat { text }),
        Just(Intent::StartMatch {}),
        Just(Intent::ArchiveRoom {}),
    ]
}

pub fn client_message() -> impl Strategy<Value = ClientMessage> {
    prop_oneof![
        (any::<u16>(), option::of(text()), option::of(text())).prop_map(
            |(version, token, resume)| ClientMessage::Hello {
                version,
                token,
                resume
            }
        ),
        any::<u64>().prop_map(|client_time| ClientMessage::Ping { client_time }),
        (
            any::<u64>(),
            option::of(room_id()),
            room_config(),
            any::<bool>()
        )
            .prop_map(|(seq, room, config, private)| ClientMessage::CreateRoom {
                seq,
                room,
                config,
                private
            }),
        (any::<u64>(), room_id(), text(), option::of(team_id())).prop_map(
            |(seq, room, name, team)| ClientMessage::JoinRoom {
                seq,
                room,
                name,
                team
            }
        ),
        (any::<u64>(), team_id()).prop_map(|(seq, team)| ClientMessage::ChangeTeam { seq, team }),
        any::<u64>().prop_map(|seq| ClientMessage::Leave { seq }),
        (any::<u64>(), board_intent()).prop_map(|(seq, i)| ClientMessage::intent(seq, i)),
        pos().prop_map(|pos| ClientMessage::Cursor { pos }),
        (any::<u64>(), text(), text(), option::of(team_id())).prop_map(
            |(seq, reservation, name, team)| ClientMessage::JoinReserved {
                seq,
                reservation,
                name,
                team
            }
        ),
    ]
}

pub fn role() -> impl Strategy<Value = Role> {
    prop::sample::select(vec![Role::Host, Role::Player, Role::Spectator])
}

pub fn presence() -> impl Strategy<Value = Presence> {
    prop::sample::select(vec![Presence::Connected, Presence::InGrace])
}

pub fn phase() -> impl Strategy<Value = Phase> {
    prop::sample::select(vec![
        Phase::Setup,
        Phase::Live,
        Phase::Expired,
        Phase::Archived,
    ])
}

pub fn leave_reason() -> impl Strategy<Value = LeaveReason> {
    prop::sample::select(vec![
        LeaveReason::Left,
        LeaveReason::GraceExpired,
        LeaveReason::Kicked,
    ])
}

pub fn release_reason() -> impl Strategy<Value = board::ReleaseReason> {
    prop::sample::select(RELEASE_REASONS.to_vec())
}

/// Every `board::ReleaseReason`, in wire order.
pub const RELEASE_REASONS: &[board::ReleaseReason] = &[
    board::ReleaseReason::Released,
    board::ReleaseReason::Expired,
    board::ReleaseReason::HolderLeft,
    board::ReleaseReason::HolderDisconnected,
    board::ReleaseReason::PhaseEnded,
    board::ReleaseReason::TeamChanged,
];

/// Fails to compile when a `ReleaseReason` is added without being listed in
/// [`RELEASE_REASONS`] above.
fn release_reason_is_exhaustive(r: board::ReleaseReason) {
    use board::ReleaseReason;
    match r {
        ReleaseReason::Released
        | ReleaseReason::Expired
        | ReleaseReason::HolderLeft
        | ReleaseReason::HolderDisconnected
        | ReleaseReason::PhaseEnded
        | ReleaseReason::TeamChanged => {}
    }
}

/// Every `RateClass`, in wire order.
pub const RATE_CLASSES: &[RateClass] = &[
    RateClass::Moves,
    RateClass::Actions,
    RateClass::Chat,
    RateClass::Cursors,
];

fn rate_class_is_exhaustive(r: RateClass) {
    match r {
        RateClass::Moves | RateClass::Actions | RateClass::Chat | RateClass::Cursors => {}
    }
}

pub fn member_view() -> impl Strategy<Value = MemberView> {
    (
        member_id(),
        text(),
        role(),
        option::of(team_id()),
        any::<u64>(),
        presence(),
    )
        .prop_map(|(id, name, role, team, seat, presence)| MemberView {
            id,
            name,
            role,
            team,
            seat,
            presence,
        })
}

pub fn piece_view() -> impl Strategy<Value = board::PieceView> {
    (
        piece_id(),
        option::of(team_id()),
        pos(),
        option::of(
            (member_id(), any::<u64>())
                .prop_map(|(holder, expires_at)| board::LockView { holder, expires_at }),
        ),
    )
        .prop_map(|(id, team, pos, lock)| board::PieceView {
            id,
            team,
            pos,
            lock,
        })
}

pub fn chat_line() -> impl Strategy<Value = board::ChatLine> {
    (any::<u64>(), member_id(), text()).prop_map(|(tick, member, text)| board::ChatLine {
        tick,
        member,
        text,
    })
}

pub fn board_state() -> impl Strategy<Value = board::State> {
    (
        vec(piece_view(), 0..6),
        vec(text(), 0..4),
        vec(chat_line(), 0..4),
    )
        .prop_map(|(pieces, formations, chat)| board::State {
            pieces,
            formations,
            chat,
        })
}

/// A joiner's room: the framework's part, and either no mode state or the
/// board's.
pub fn room_state() -> impl Strategy<Value = RoomState> {
    (
        (
            any::<u64>(),
            any::<u64>(),
            phase(),
            option::of(any::<u64>()),
            option::of(any::<u64>()),
            option::of(member_id()),
        ),
        (
            vec(member_view(), 0..4),
            state_hash(),
            option::of(board_state()),
        ),
    )
        .prop_map(
            |(
                (tick, version, phase, match_ends_at, archive_at, host),
                (members, state_hash, game),
            )| RoomState {
                tick,
                version,
                phase,
                match_ends_at,
                archive_at,
                host,
                members,
                state_hash,
                game: game.map_or_else(Payload::empty, Payload::of),
            },
        )
}

fn room_state_is_exhaustive(s: RoomState) {
    let RoomState {
        tick: _,
        version: _,
        phase: _,
        match_ends_at: _,
        archive_at: _,
        host: _,
        members: _,
        state_hash: _,
        game: _,
    } = s;
}

pub fn domain_event() -> impl Strategy<Value = DomainEvent> {
    prop_oneof![
        member_view().prop_map(|member| DomainEvent::MemberJoined { member }),
        (member_id(), leave_reason())
            .prop_map(|(member, reason)| DomainEvent::MemberLeft { member, reason }),
        member_id().prop_map(|member| DomainEvent::MemberDisconnected { member }),
        member_id().prop_map(|member| DomainEvent::MemberReconnected { member }),
        (member_id(), option::of(team_id()))
            .prop_map(|(member, team)| DomainEvent::TeamChanged { member, team }),
        option::of(member_id()).prop_map(|host| DomainEvent::HostChanged { host }),
        (phase(), option::of(any::<u64>()))
            .prop_map(|(phase, until)| DomainEvent::PhaseChanged { phase, until }),
    ]
}

pub fn board_event() -> impl Strategy<Value = board::Event> {
    use board::Event;
    prop_oneof![
        (piece_id(), pos()).prop_map(|(piece, to)| Event::PieceMoved { piece, to }),
        (piece_id(), member_id(), any::<u64>()).prop_map(|(piece, holder, expires_at)| {
            Event::LockTaken {
                piece,
                holder,
                expires_at,
            }
        }),
        (piece_id(), member_id(), any::<u64>()).prop_map(|(piece, holder, expires_at)| {
            Event::LockRenewed {
                piece,
                holder,
                expires_at,
            }
        }),
        (piece_id(), member_id(), release_reason()).prop_map(|(piece, holder, reason)| {
            Event::LockReleased {
                piece,
                holder,
                reason,
            }
        }),
        (text(), member_id(), any::<u32>()).prop_map(|(name, by, pieces)| Event::FormationSaved {
            name,
            by,
            pieces
        }),
        (
            text(),
            vec(
                (piece_id(), pos()).prop_map(|(piece, pos)| board::Placement { piece, pos }),
                0..6
            )
        )
            .prop_map(|(name, placements)| Event::FormationApplied { name, placements }),
        (
            member_id(),
            text(),
            vec(any::<u32>(), 0..8),
            any::<i32>(),
            any::<i64>()
        )
            .prop_map(|(member, notation, rolls, modifier, total)| {
                Event::DiceRolled {
                    member,
                    notation,
                    rolls,
                    modifier,
                    total,
                }
            }),
        (member_id(), text()).prop_map(|(member, text)| Event::ChatPosted { member, text }),
    ]
}

/// A framework event or a board event.
pub fn event() -> impl Strategy<Value = Event> {
    prop_oneof![
        domain_event().prop_map(Event::Room),
        board_event().prop_map(Event::game),
    ]
}

pub fn origin() -> impl Strategy<Value = Origin> {
    (option::of(member_id()), option::of(any::<u64>()))
        .prop_map(|(member, seq)| Origin { member, seq })
}

pub fn event_record() -> impl Strategy<Value = EventRecord> {
    (origin(), any::<u64>(), event()).prop_map(|(origin, version, event)| EventRecord {
        origin,
        version,
        event,
    })
}

pub fn delta() -> impl Strategy<Value = Delta> {
    (
        room_id(),
        any::<u64>(),
        any::<u64>(),
        any::<u64>(),
        vec(event_record(), 0..6),
        option::of(state_hash()),
        vec(
            (member_id(), pos()).prop_map(|(member, pos)| CursorPos { member, pos }),
            0..4,
        ),
    )
        .prop_map(
            |(room, tick, from_version, to_version, events, state_hash, cursors)| Delta {
                room,
                tick,
                from_version,
                to_version,
                events,
                state_hash,
                cursors,
            },
        )
}

pub fn server_message() -> impl Strategy<Value = ServerMessage> {
    prop_oneof![
        (
            text(),
            text(),
            (any::<u16>(), any::<u16>()).prop_map(|(min, max)| VersionRange { min, max }),
            option::of(any::<u64>()),
            vec(mode_info(), 0..3),
        )
            .prop_map(
                |(session, resume_token, versions, last_applied_seq, modes)| {
                    ServerMessage::Welcome {
                        session,
                        resume_token,
                        versions,
                        last_applied_seq,
                        modes,
                    }
                }
            ),
        (
            option::of(any::<u64>()),
            room_id(),
            member_id(),
            room_config(),
            any::<u32>(),
            room_state()
        )
            .prop_map(|(seq, room, member, config, epoch, state)| {
                ServerMessage::Joined {
                    seq,
                    room,
                    member,
                    config,
                    epoch,
                    state,
                }
            }),
        (any::<u64>(), room_id()).prop_map(|(seq, room)| ServerMessage::RoomCreated { seq, room }),
        delta().prop_map(ServerMessage::Delta),
        any::<u64>().prop_map(|seq| ServerMessage::Ack { seq }),
        (any::<u64>(), error_code(), text(), details()).prop_map(
            |(seq, code, message, details)| ServerMessage::Reject {
                seq,
                code,
                message,
                details
            }
        ),
        (
            room_id(),
            vec(
                (member_id(), pos()).prop_map(|(member, pos)| CursorPos { member, pos }),
                0..6
            )
        )
            .prop_map(|(room, cursors)| ServerMessage::Cursors { room, cursors }),
        (error_code(), text(), details()).prop_map(|(code, message, details)| {
            ServerMessage::Error {
                code,
                message,
                details,
            }
        }),
        (any::<u64>(), any::<u64>()).prop_map(|(client_time, server_tick)| ServerMessage::Pong {
            client_time,
            server_tick
        }),
        (error_code(), text()).prop_map(|(code, reason)| ServerMessage::Closing { code, reason }),
        (text(), text()).prop_map(|(text, from)| ServerMessage::Notice { text, from }),
    ]
}

// ------------------------------------------------- exhaustive variant indexes

/// Postcard index of each variant. Exhaustive: a new variant does not compile
/// until it is listed here (and then [`client_samples`] must cover it).
pub fn client_index(m: &ClientMessage) -> usize {
    match m {
        ClientMessage::Hello { .. } => 0,
        ClientMessage::Ping { .. } => 1,
        ClientMessage::CreateRoom { .. } => 2,
        ClientMessage::JoinRoom { .. } => 3,
        ClientMessage::ChangeTeam { .. } => 4,
        ClientMessage::Leave { .. } => 5,
        ClientMessage::Intent { .. } => 6,
        ClientMessage::Cursor { .. } => 7,
        ClientMessage::JoinReserved { .. } => 8,
    }
}
pub const CLIENT_VARIANTS: usize = 9;

pub fn server_index(m: &ServerMessage) -> usize {
    match m {
        ServerMessage::Welcome { .. } => 0,
        ServerMessage::Joined { .. } => 1,
        ServerMessage::RoomCreated { .. } => 2,
        ServerMessage::Delta(_) => 3,
        ServerMessage::Ack { .. } => 4,
        ServerMessage::Reject { .. } => 5,
        ServerMessage::Cursors { .. } => 6,
        ServerMessage::Error { .. } => 7,
        ServerMessage::Pong { .. } => 8,
        ServerMessage::Closing { .. } => 9,
        ServerMessage::Notice { .. } => 10,
    }
}
pub const SERVER_VARIANTS: usize = 11;

/// The postcard tag of an `Event`: 0 a framework event, 1 a mode's.
pub fn event_kind_index(e: &Event) -> usize {
    match e {
        Event::Room(_) => 0,
        Event::Game(_) => 1,
    }
}
pub const EVENT_KINDS: usize = 2;

/// Postcard index of each framework event.
pub fn event_index(e: &DomainEvent) -> usize {
    match e {
        DomainEvent::MemberJoined { .. } => 0,
        DomainEvent::MemberLeft { .. } => 1,
        DomainEvent::MemberDisconnected { .. } => 2,
        DomainEvent::MemberReconnected { .. } => 3,
        DomainEvent::TeamChanged { .. } => 4,
        DomainEvent::HostChanged { .. } => 5,
        DomainEvent::PhaseChanged { .. } => 6,
    }
}
pub const EVENT_VARIANTS: usize = 7;

/// Postcard index of each board intent.
pub fn board_intent_index(i: &board::Intent) -> usize {
    use board::Intent;
    match i {
        Intent::MovePiece { .. } => 0,
        Intent::TakeLock { .. } => 1,
        Intent::RenewLock { .. } => 2,
        Intent::ReleaseLock { .. } => 3,
        Intent::SaveFormation { .. } => 4,
        Intent::ApplyFormation { .. } => 5,
        Intent::RollDice { .. } => 6,
        Intent::Chat { .. } => 7,
        Intent::StartMatch {} => 8,
        Intent::ArchiveRoom {} => 9,
    }
}
pub const BOARD_INTENT_VARIANTS: usize = 10;

/// Postcard index of each board event.
pub fn board_event_index(e: &board::Event) -> usize {
    use board::Event;
    match e {
        Event::PieceMoved { .. } => 0,
        Event::LockTaken { .. } => 1,
        Event::LockRenewed { .. } => 2,
        Event::LockReleased { .. } => 3,
        Event::FormationSaved { .. } => 4,
        Event::FormationApplied { .. } => 5,
        Event::DiceRolled { .. } => 6,
        Event::ChatPosted { .. } => 7,
    }
}
pub const BOARD_EVENT_VARIANTS: usize = 8;

/// The JSON tag of an externally tagged value: its only key.
pub fn json_tag<T: serde::Serialize>(v: &T) -> String {
    match serde_json::to_value(v).unwrap() {
        serde_json::Value::Object(map) if map.len() == 1 => map.keys().next().unwrap().clone(),
        other => panic!("not an externally tagged enum: {other}"),
    }
}

// ------------------------------------------ received payloads → board types

/// What a board room's server does with a received intent payload before
/// the board's code sees it: find the variant in `board::INTENTS`
/// (`UNKNOWN_INTENT` when it is none of them), decode it (`MALFORMED`),
/// and check its strings and lists against the limits (`FIELD_TOO_LONG`).
pub fn board_intent_of(payload: &Payload, limits: &Limits) -> Result<board::Intent, ErrorBody> {
    let known = payload
        .variant()
        .is_some_and(|v| IntentTable(board::INTENTS).find(&v).is_some());
    if !known {
        return Err(ErrorBody::new(ErrorCode::UnknownIntent, "no such intent"));
    }
    let intent: board::Intent = payload.decode().map_err(|e| e.to_error_body())?;
    check_value(&intent, limits).map_err(|e| e.to_error_body())?;
    Ok(intent)
}

/// A config with its mode settings decoded as the board's (an empty one
/// stays empty: "the mode's defaults").
pub fn typed_config(c: RoomConfig) -> Result<RoomConfig, DecodeError> {
    if c.game.is_empty() {
        return Ok(c);
    }
    let game: board::Config = c.game.decode()?;
    Ok(RoomConfig {
        game: Payload::of(game),
        ..c
    })
}

pub fn typed_state(s: RoomState) -> Result<RoomState, DecodeError> {
    if s.game.is_empty() {
        return Ok(s);
    }
    let game: board::State = s.game.decode()?;
    Ok(RoomState {
        game: Payload::of(game),
        ..s
    })
}

pub fn typed_event(e: Event) -> Result<Event, DecodeError> {
    match e {
        Event::Room(r) => Ok(Event::Room(r)),
        Event::Game(p) => p.decode::<board::Event>().map(Event::game),
    }
}

/// The message with every mode payload decoded as the board's type and
/// wrapped again, typed; an error when a payload is no board value.
pub fn typed_client(m: ClientMessage) -> Result<ClientMessage, DecodeError> {
    Ok(match m {
        ClientMessage::Intent { seq, intent } => {
            ClientMessage::intent(seq, intent.decode::<board::Intent>()?)
        }
        ClientMessage::CreateRoom {
            seq,
            room,
            config,
            private,
        } => ClientMessage::CreateRoom {
            seq,
            room,
            config: typed_config(config)?,
            private,
        },
        other => other,
    })
}

/// See [`typed_client`].
pub fn typed_server(m: ServerMessage) -> Result<ServerMessage, DecodeError> {
    Ok(match m {
        ServerMessage::Joined {
            seq,
            room,
            member,
            config,
            epoch,
            state,
        } => ServerMessage::Joined {
            seq,
            room,
            member,
            config: typed_config(config)?,
            epoch,
            state: typed_state(state)?,
        },
        ServerMessage::Delta(d) => ServerMessage::Delta(Delta {
            events: d
                .events
                .into_iter()
                .map(|r| {
                    Ok(EventRecord {
                        event: typed_event(r.event)?,
                        ..r
                    })
                })
                .collect::<Result<_, DecodeError>>()?,
            ..d
        }),
        other => other,
    })
}

// ------------------------------------------------------------------ samples

pub fn alice() -> MemberView {
    MemberView {
        id: MemberId(1),
        name: "alice".into(),
        role: Role::Host,
        team: Some(TeamId(0)),
        seat: 0,
        presence: Presence::Connected,
    }
}

/// A board room's config as its server returns it in `joined`: the mode
/// named, every board setting filled in.
pub fn board_room_config() -> RoomConfig {
    RoomConfig {
        mode: board::MODE.into(),
        game: Payload::of(board::Config::default()),
        ..RoomConfig::default()
    }
}

/// One realistic example of every board intent, in wire order.
pub fn board_intent_samples() -> Vec<board::Intent> {
    use board::Intent;
    vec![
        Intent::MovePiece {
            piece: PieceId(3),
            to: Pos::new(120, 40),
        },
        Intent::TakeLock { piece: PieceId(3) },
        Intent::RenewLock { piece: PieceId(3) },
        Intent::ReleaseLock { piece: PieceId(3) },
        Intent::SaveFormation {
            name: "wedge".into(),
            key: "c7f1e2".into(),
        },
        Intent::ApplyFormation {
            name: "wedge".into(),
        },
        Intent::RollDice {
            notation: "2d6+1".into(),
        },
        Intent::Chat {
            text: "gg \"all\" 👋".into(),
        },
        Intent::StartMatch {},
        Intent::ArchiveRoom {},
    ]
}

/// One realistic example of every board event, in wire order.
pub fn board_event_samples() -> Vec<board::Event> {
    use board::Event;
    vec![
        Event::PieceMoved {
            piece: PieceId(3),
            to: Pos::new(120, 40),
        },
        Event::LockTaken {
            piece: PieceId(3),
            holder: MemberId(1),
            expires_at: 1_300,
        },
        Event::LockRenewed {
            piece: PieceId(3),
            holder: MemberId(1),
            expires_at: 1_340,
        },
        Event::LockReleased {
            piece: PieceId(3),
            holder: MemberId(1),
            reason: board::ReleaseReason::Expired,
        },
        Event::FormationSaved {
            name: "wedge".into(),
            by: MemberId(1),
            pieces: 8,
        },
        Event::FormationApplied {
            name: "wedge".into(),
            placements: vec![
                board::Placement {
                    piece: PieceId(0),
                    pos: Pos::new(100, 100),
                },
                board::Placement {
                    piece: PieceId(1),
                    pos: Pos::new(140, 120),
                },
            ],
        },
        Event::DiceRolled {
            member: MemberId(1),
            notation: "2d6+1".into(),
            rolls: vec![4, 2],
            modifier: 1,
            total: 7,
        },
        Event::ChatPosted {
            member: MemberId(1),
            text: "gg".into(),
        },
    ]
}

/// One realistic example of every client message, in wire order.
pub fn client_samples() -> Vec<ClientMessage> {
    vec![
        ClientMessage::Hello {
            version: PROTOCOL_VERSION,
            token: Some("eyJhbGciOiJIUzI1NiJ9.e30.sig".into()),
            resume: None,
        },
        ClientMessage::Ping {
            client_time: 1_700_000_000_000,
        },
        ClientMessage::CreateRoom {
            seq: 1,
            room: Some(RoomId::from("tactics-1")),
            config: board_room_config(),
            private: false,
        },
        ClientMessage::JoinRoom {
            seq: 2,
            room: RoomId::from("tactics-1"),
            name: "alice".into(),
            team: Some(TeamId(0)),
        },
        ClientMessage::ChangeTeam {
            seq: 3,
            team: TeamId(1),
        },
        ClientMessage::Leave { seq: 9 },
        ClientMessage::intent(
            4,
            board::Intent::MovePiece {
                piece: PieceId(3),
                to: Pos::new(120, 40),
            },
        ),
        ClientMessage::Cursor {
            pos: Pos::new(118, 38),
        },
        ClientMessage::JoinReserved {
            seq: 2,
            reservation: "eyJhbGciOiJIUzI1NiJ9.e30.sig".into(),
            name: "alice".into(),
            team: None,
        },
    ]
}

/// One realistic example of every framework event, in wire order.
pub fn event_samples() -> Vec<DomainEvent> {
    vec![
        DomainEvent::MemberJoined { member: alice() },
        DomainEvent::MemberLeft {
            member: MemberId(2),
            reason: LeaveReason::GraceExpired,
        },
        DomainEvent::MemberDisconnected {
            member: MemberId(2),
        },
        DomainEvent::MemberReconnected {
            member: MemberId(2),
        },
        DomainEvent::TeamChanged {
            member: MemberId(2),
            team: Some(TeamId(1)),
        },
        DomainEvent::HostChanged {
            host: Some(MemberId(2)),
        },
        DomainEvent::PhaseChanged {
            phase: Phase::Live,
            until: Some(13_200),
        },
    ]
}

pub fn sample_board_state() -> board::State {
    board::State {
        pieces: vec![
            board::PieceView {
                id: PieceId(0),
                team: Some(TeamId(0)),
                pos: Pos::new(100, 100),
                lock: None,
            },
            board::PieceView {
                id: PieceId(3),
                team: None,
                pos: Pos::new(500, 500),
                lock: Some(board::LockView {
                    holder: MemberId(1),
                    expires_at: 1_300,
                }),
            },
        ],
        formations: vec!["wedge".into()],
        chat: vec![board::ChatLine {
            tick: 1_150,
            member: MemberId(1),
            text: "hi".into(),
        }],
    }
}

pub fn sample_state() -> RoomState {
    RoomState {
        tick: 1_200,
        version: 57,
        phase: Phase::Live,
        match_ends_at: Some(13_200),
        archive_at: None,
        host: Some(MemberId(1)),
        members: vec![alice()],
        state_hash: StateHash(0x9f3a_0c21_77d4_e001),
        game: Payload::of(sample_board_state()),
    }
}

pub fn sample_delta() -> Delta {
    Delta {
        room: RoomId::from("tactics-1"),
        tick: 1_201,
        from_version: 57,
        to_version: 59,
        events: vec![
            EventRecord {
                origin: Origin {
                    member: Some(MemberId(1)),
                    seq: Some(4),
                },
                version: 58,
                event: Event::game(board::Event::PieceMoved {
                    piece: PieceId(3),
                    to: Pos::new(120, 40),
                }),
            },
            EventRecord {
                origin: Origin {
                    member: Some(MemberId(2)),
                    seq: Some(9),
                },
                version: 59,
                event: Event::game(board::Event::LockTaken {
                    piece: PieceId(5),
                    holder: MemberId(2),
                    expires_at: 1_301,
                }),
            },
        ],
        state_hash: Some(StateHash(0x0000_00ab_cdef_0123)),
        cursors: Vec::new(),
    }
}

/// One realistic example of every server message, in wire order.
pub fn server_samples() -> Vec<ServerMessage> {
    let mut lock_held = Details::new();
    lock_held.insert("holder".into(), DetailValue::Int(2));
    lock_held.insert("piece".into(), DetailValue::Int(3));
    let mut version = Details::new();
    version.insert(
        "min".into(),
        DetailValue::Int(i64::from(MIN_PROTOCOL_VERSION)),
    );
    version.insert("max".into(), DetailValue::Int(i64::from(PROTOCOL_VERSION)));
    vec![
        ServerMessage::Welcome {
            session: "s-5f2c".into(),
            resume_token: "r-8d0e41".into(),
            versions: supported_versions(),
            last_applied_seq: None,
            modes: vec![ModeInfo {
                name: board::MODE.into(),
                version: 1,
            }],
        },
        ServerMessage::Joined {
            seq: Some(2),
            room: RoomId::from("tactics-1"),
            member: MemberId(1),
            config: board_room_config(),
            epoch: 0,
            state: sample_state(),
        },
        ServerMessage::RoomCreated {
            seq: 1,
            room: RoomId::from("tactics-1"),
        },
        ServerMessage::Delta(sample_delta()),
        ServerMessage::Ack { seq: 4 },
        ServerMessage::Reject {
            seq: 5,
            code: ErrorCode::LockHeld,
            message: "piece p3 is locked by m2".into(),
            details: lock_held,
        },
        ServerMessage::Cursors {
            room: RoomId::from("tactics-1"),
            cursors: vec![CursorPos {
                member: MemberId(2),
                pos: Pos::new(118, 38),
            }],
        },
        ServerMessage::Error {
            code: ErrorCode::VersionMismatch,
            message: "protocol version 1 is not supported".into(),
            details: version,
        },
        ServerMessage::Pong {
            client_time: 1_700_000_000_000,
            server_tick: 1_201,
        },
        ServerMessage::Closing {
            code: ErrorCode::ShuttingDown,
            reason: "server is shutting down".into(),
        },
        ServerMessage::Notice {
            text: "maintenance at 22:00 UTC: rooms move, nothing is lost".into(),
            from: "ops".into(),
        },
    ]
}

/// Postcard's unsigned LEB128 varint.
pub fn varint(mut v: u64) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(b);
            return out;
        }
        out.push(b | 0x80);
    }
}
