//! A room's history, from the store, for the console's replay page: any
//! logged room can be rebuilt to any tick (from its seed and log, every
//! outcome and stored hash checked on the way, as `tickroom replay` does),
//! and shown with that tick's events and inputs.

use crate::api::{error_response, require_read};
use crate::driver::trace::internal_error;
use crate::http::AppState;
use crate::rebuild::{RebuildError, Start, rebuild};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use tickroom_persistence::{Reader, StoreError};
use tickroom_protocol::{ErrorBody, ErrorCode};

#[derive(Serialize)]
struct StoredSummary {
    room: String,
    /// The room's game mode and the version of it that created the room.
    mode: String,
    mode_version: u32,
    created_at: u64,
    epoch: u32,
    last_tick: u64,
    log_from_tick: u64,
    archived: bool,
    private: bool,
}

/// One input of the tick shown, with its outcome.
#[derive(Serialize)]
struct LoggedInput {
    index: usize,
    /// The request's trace id as the server's log lines show it (16 hex
    /// digits); absent for inputs the server made itself (disconnects,
    /// reconnects, grace expiries).
    #[serde(skip_serializing_if = "Option::is_none")]
    trace_id: Option<String>,
    input: tickroom_sim::Input,
    outcome: tickroom_sim::Outcome,
}

#[derive(Serialize)]
struct TickView {
    room: String,
    tick: u64,
    /// The first tick the log can show (0: creation).
    from_tick: u64,
    last_tick: u64,
    state_hash: String,
    hashes_checked: u64,
    config: tickroom_protocol::RoomConfig,
    state: tickroom_protocol::RoomState,
    /// The delta of this tick, if it changed anything.
    delta: Option<tickroom_protocol::Delta>,
    inputs: Vec<LoggedInput>,
}

fn store_error(e: StoreError) -> ErrorBody {
    match e {
        StoreError::NoRoom(room) => ErrorBody::new(
            ErrorCode::RoomNotFound,
            format!("the store has no room {room}"),
        )
        .with("room", room.as_str()),
        e => internal_error(format!("reading the store: {e}"), "history API"),
    }
}

fn json(status: StatusCode, body: &impl Serialize) -> Response {
    let text = serde_json::to_string(body).unwrap_or_default();
    (status, [(header::CONTENT_TYPE, "application/json")], text).into_response()
}

/// Runs blocking store work off the async threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ErrorBody> + Send + 'static,
) -> Result<T, ErrorBody> {
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|e| Err(internal_error("the store read did not finish", e)))
}

/// Every room in the store, archived ones included.
#[utoipa::path(get, path = "/api/v1/history", tag = "history",
    security((), ("read" = [])),
    responses(
        (status = 200, description = "rooms in the store: room, mode, mode_version, created_at, epoch, last_tick, log_from_tick, archived, private", body = Object),
        (status = 401, description = "off loopback without the read token", body = crate::api::ApiError),
    ))]
pub(crate) async fn list(State(app): State<AppState>, headers: HeaderMap) -> Response {
    if let Err(e) = require_read(&app, &headers) {
        return error_response(&e);
    }
    let path = app.store_path.clone();
    let rooms = blocking(move || {
        let reader = Reader::open(&path).map_err(store_error)?;
        let rooms = reader.rooms(true).map_err(store_error)?;
        Ok(rooms
            .into_iter()
            .map(|r| StoredSummary {
                mode: r.record.config.mode.clone(),
                mode_version: r.record.mode_version,
                room: r.record.room,
                created_at: r.record.created_at,
                epoch: r.epoch,
                last_tick: r.last_tick,
                log_from_tick: r.log_from_tick,
                archived: r.archived_at.is_some(),
                private: r.record.private,
            })
            .collect::<Vec<_>>())
    })
    .await;
    match rooms {
        Ok(rooms) => json(StatusCode::OK, &serde_json::json!({ "rooms": rooms })),
        Err(e) => error_response(&e),
    }
}

#[derive(Deserialize, utoipa::IntoParams)]
pub(crate) struct TickQuery {
    /// The tick to show (default: the last logged one).
    tick: Option<u64>,
}

/// The room rebuilt to a tick, with that tick's delta and inputs.
#[utoipa::path(get, path = "/api/v1/history/{id}", tag = "history",
    params(("id" = String, Path, description = "the room id"), TickQuery),
    security((), ("read" = [])),
    responses(
        (status = 200, description = "room, tick, from_tick, last_tick, state_hash, hashes_checked, config, state, delta, inputs", body = Object),
        (status = 404, description = "ROOM_NOT_FOUND: not in the store", body = crate::api::ApiError),
        (status = 409, description = "INVALID_ARGUMENT: the tick is before the kept log", body = crate::api::ApiError),
        (status = 500, description = "INTERNAL: the rebuild diverged from the stored hashes, or the store could not be read (details.trace_id names the server's log line)", body = crate::api::ApiError),
    ))]
pub(crate) async fn at_tick(
    State(app): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<TickQuery>,
) -> Response {
    if let Err(e) = require_read(&app, &headers) {
        return error_response(&e);
    }
    let path = app.store_path.clone();
    let modes = app.ticks.modes.clone();
    let view = blocking(move || {
        let reader = Reader::open(&path).map_err(store_error)?;
        let stored = reader.room(&id).map_err(store_error)?;
        let want = q.tick.unwrap_or(stored.last_tick).min(stored.last_tick);
        if want < stored.log_from_tick {
            return Err(ErrorBody::new(
                ErrorCode::InvalidArgument,
                format!(
                    "the log before tick {} was compacted; pick a tick from there on",
                    stored.log_from_tick
                ),
            )
            .with("from_tick", stored.log_from_tick));
        }
        let mut shown = None;
        let rebuilt = rebuild(
            &modes,
            &reader,
            &stored,
            Start::Oldest,
            Some(want),
            |_, out| {
                if out.tick == want {
                    shown = Some((out.delta.clone(), out.inputs.clone(), out.outcomes.clone()));
                }
            },
        )
        .map_err(|e| match e {
            RebuildError::Store(e) => store_error(e),
            e => internal_error(e.to_string(), "history API: rebuilding the room"),
        })?;
        let (delta, inputs, outcomes) = shown.unwrap_or_default();
        let mut traces = Vec::with_capacity(inputs.len());
        reader
            .for_each_input::<StoreError>(&id, want.saturating_sub(1), want, |_, row| {
                traces.push(row.trace_id);
                Ok(())
            })
            .map_err(store_error)?;
        Ok(TickView {
            room: id,
            tick: rebuilt.room.tick(),
            from_tick: rebuilt.from_tick,
            last_tick: stored.last_tick,
            state_hash: rebuilt.room.state_hash().to_string(),
            hashes_checked: rebuilt.hashes_checked,
            config: stored.record.config.clone(),
            state: rebuilt.room.state(),
            delta,
            inputs: inputs
                .into_iter()
                .zip(outcomes)
                .enumerate()
                .map(|(index, (input, outcome))| LoggedInput {
                    index,
                    trace_id: traces
                        .get(index)
                        .copied()
                        .flatten()
                        .map(|t| crate::driver::trace::TraceId(t).to_string()),
                    input,
                    outcome,
                })
                .collect(),
        })
    })
    .await;
    match view {
        Ok(v) => json(StatusCode::OK, &v),
        Err(e) => error_response(&e),
    }
}
