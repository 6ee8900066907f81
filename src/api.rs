//! The versioned REST API under `/api/v1`: rooms listed, read, created,
//! archived and members kicked. Mutations need the admin bearer token and
//! go into the room as logged admin inputs (so into the audit log too);
//! reads need the read (or admin) token once the server listens off
//! loopback. Errors are the wire protocol's `{code, message, details}`.

use crate::driver::admin::{AdminOp, AdminReply, KickTarget, RoomOp};
use crate::http::AppState;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use tickroom_protocol::{ErrorBody, ErrorCode, MemberId, RoomConfig, RoomId};

/// The OpenAPI 3.1 document, generated from the handlers' annotations.
#[derive(utoipa::OpenApi)]
#[openapi(
    info(title = "Tickroom HTTP API", version = "1", description = "Rooms over HTTP: list, read, create, archive, kick. Errors are the wire protocol's {code, message, details}."),
    paths(
        crate::console::index,
        crate::console::script,
        crate::console::style,
        crate::http::health,
        crate::http::ready,
        crate::http::metrics,
        crate::http::ws_upgrade,
        openapi_json,
        list_rooms,
        create_room,
        get_room,
        archive_room,
        kick_member,
        crate::history::list,
        crate::history::at_tick,
        crate::cluster::api::list_nodes,
        crate::cluster::matchmake::post_matchmake,
        crate::cluster::api::drain,
        crate::cluster::lobby::follow,
        crate::cluster::api::notice,
        crate::cluster::api::kick_user
    ),
    components(schemas(ApiError, CreateBody, ArchiveBody, KickBody, RoomPage, Created, Applied, crate::cluster::matchmake::MatchmakeBody, crate::cluster::matchmake::Matched, crate::cluster::handoff::Drained, crate::cluster::api::NoticeBody, crate::cluster::api::KickUserBody)),
    modifiers(&BearerAuth)
)]
pub struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        for name in ["admin", "read", "join"] {
            components.add_security_scheme(
                name,
                SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
            );
        }
    }
}

/// An error, as in the wire protocol's catalog (docs/protocol.md).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct ApiError {
    /// A code of the catalog, e.g. `ROOM_NOT_FOUND`.
    code: String,
    message: String,
    /// Values that explain it (numbers, strings, booleans).
    #[schema(value_type = Object)]
    details: serde_json::Value,
}

/// A page of public rooms.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
struct RoomPage {
    /// Each: room, phase, members, max_players, tick, version.
    #[schema(value_type = Vec<Object>)]
    rooms: Vec<serde_json::Value>,
    /// Pass as `after` for the next page; null on the last.
    next: Option<String>,
}

#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
struct Created {
    room: String,
}

/// An admin action applied at `tick`.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
struct Applied {
    room: String,
    tick: u64,
    version: u64,
}

#[utoipa::path(get, path = "/api/openapi.json", tag = "api",
    responses((status = 200, description = "this document", body = Object)))]
pub(crate) async fn openapi_json() -> Response {
    use utoipa::OpenApi;
    json_response(StatusCode::OK, &ApiDoc::openapi())
}

/// Who may use the API.
pub struct ApiAuth {
    /// Bearer token for mutations; `None` turns them off.
    pub admin: Option<String>,
    /// Bearer token for reads (the admin token works too).
    pub read: Option<String>,
    /// Reads need no token (every listener is on loopback).
    pub open_reads: bool,
    /// `rooms.default`: what a created room's config starts from.
    pub default_room: RoomConfig,
}

/// The HTTP status for an error of the catalog.
pub fn status_of(code: ErrorCode) -> StatusCode {
    use ErrorCode::*;
    match code {
        RoomNotFound | MemberNotFound | PieceNotFound | FormationNotFound => StatusCode::NOT_FOUND,
        RoomExists | WrongPhase | RoomFull | RoomTooLarge | LockHeld => StatusCode::CONFLICT,
        Unauthorized => StatusCode::UNAUTHORIZED,
        Forbidden => StatusCode::FORBIDDEN,
        RateLimited => StatusCode::TOO_MANY_REQUESTS,
        MessageTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        TooManyRooms | TooManyConnections | ServerBusy | StoreBehind | StoreUnavailable
        | ShuttingDown | ClusterUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        Internal => StatusCode::INTERNAL_SERVER_ERROR,
        RoomElsewhere => StatusCode::MISDIRECTED_REQUEST,
        _ => StatusCode::BAD_REQUEST,
    }
}

pub fn error_response(e: &ErrorBody) -> Response {
    let json = serde_json::to_string(e).unwrap_or_default();
    (
        status_of(e.code),
        [(header::CONTENT_TYPE, "application/json")],
        json,
    )
        .into_response()
}

pub(crate) fn json_response(status: StatusCode, body: &impl serde::Serialize) -> Response {
    let json = serde_json::to_string(body).unwrap_or_default();
    (status, [(header::CONTENT_TYPE, "application/json")], json).into_response()
}

pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

/// Compares the tokens' SHA-256 digests in constant time, so neither the
/// contents nor the length of the expected token leak through timing.
fn token_matches(given: Option<&str>, want: Option<&str>) -> bool {
    let (Some(g), Some(w)) = (given, want) else {
        return false;
    };
    let sha = |t: &str| ring::digest::digest(&ring::digest::SHA256, t.as_bytes());
    let (a, b) = (sha(g), sha(w));
    a.as_ref()
        .iter()
        .zip(b.as_ref())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

fn unauthorized(what: &str) -> ErrorBody {
    ErrorBody::new(
        ErrorCode::Unauthorized,
        format!("{what} needs `Authorization: Bearer <token>` with a valid token"),
    )
}

pub(crate) fn require_admin(app: &AppState, headers: &HeaderMap) -> Result<(), ErrorBody> {
    let Some(admin) = app.api.admin.as_deref() else {
        return Err(ErrorBody::new(
            ErrorCode::Forbidden,
            "the admin API is off: set auth.admin_token to use it",
        ));
    };
    match token_matches(bearer(headers), Some(admin)) {
        true => Ok(()),
        false => Err(unauthorized("this request")),
    }
}

pub(crate) fn require_read(app: &AppState, headers: &HeaderMap) -> Result<(), ErrorBody> {
    if app.api.open_reads {
        return Ok(());
    }
    let given = bearer(headers);
    if token_matches(given, app.api.read.as_deref())
        || token_matches(given, app.api.admin.as_deref())
    {
        return Ok(());
    }
    Err(unauthorized(
        "reading the API while the server listens off loopback",
    ))
}

/// Parses a JSON body; an empty body is `{}`.
pub(crate) fn body<T: serde::de::DeserializeOwned>(bytes: &Bytes) -> Result<T, ErrorBody> {
    let bytes: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        bytes
    };
    serde_json::from_slice(bytes).map_err(|e| {
        ErrorBody::new(
            ErrorCode::Malformed,
            format!("the JSON body is invalid: {e}"),
        )
    })
}

fn room_id(id: String) -> RoomId {
    RoomId::from(id)
}

#[derive(Deserialize, utoipa::IntoParams)]
pub(crate) struct ListQuery {
    after: Option<String>,
    limit: Option<usize>,
}

/// Public rooms, paged by id: `?limit=50&after=<last id of the previous page>`.
/// In cluster mode, the whole cluster's, each with its `node` (as of its
/// last change in mode, phase or seats; `partial: true` and only this
/// node's while Redis is unreachable).
#[utoipa::path(get, path = "/api/v1/rooms", tag = "rooms", params(ListQuery),
    security((), ("read" = [])),
    responses(
        (status = 200, description = "a page of public rooms, by id", body = RoomPage),
        (status = 401, description = "off loopback without the read token", body = ApiError),
    ))]
pub(crate) async fn list_rooms(
    State(app): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<ListQuery>,
) -> Response {
    if let Err(e) = require_read(&app, &headers) {
        return error_response(&e);
    }
    let limit = q.limit.unwrap_or(50).clamp(1, 500);
    // Cluster mode: the whole cluster's rooms, each with its node; this
    // node's own (marked partial) while Redis is unreachable.
    if let Some(cluster) = &app.cluster {
        match crate::cluster::listing::page(cluster, q.after.as_deref(), limit).await {
            Ok((rooms, next)) => {
                return json_response(
                    StatusCode::OK,
                    &serde_json::json!({"rooms": rooms, "next": next}),
                );
            }
            Err(e) => {
                tracing::debug!(error = %e, "the cluster's room list is unreachable; listing this node's");
                let rooms = app.rooms.list_rooms(q.after.map(RoomId::from), limit).await;
                let next = (rooms.len() == limit)
                    .then(|| rooms.last().map(|r| r.room.to_string()))
                    .flatten();
                return json_response(
                    StatusCode::OK,
                    &serde_json::json!({"rooms": rooms, "next": next, "partial": true}),
                );
            }
        }
    }
    let rooms = app.rooms.list_rooms(q.after.map(RoomId::from), limit).await;
    let next = (rooms.len() == limit)
        .then(|| rooms.last().map(|r| r.room.to_string()))
        .flatten();
    json_response(
        StatusCode::OK,
        &serde_json::json!({"rooms": rooms, "next": next}),
    )
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    /// 1 to 64 of A-Z a-z 0-9 _ -; picked by the server when absent.
    room: Option<String>,
    /// Overrides of `rooms.default`, key by key (README: room config).
    #[serde(default)]
    #[schema(value_type = Object)]
    config: serde_json::Map<String, serde_json::Value>,
    #[serde(default)]
    private: bool,
    /// Who did it, for the audit log.
    by: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/rooms", tag = "rooms", request_body = CreateBody,
    security(("admin" = [])),
    responses(
        (status = 201, description = "created", body = Created),
        (status = 400, description = "MALFORMED, INVALID_ARGUMENT or INVALID_CONFIG", body = ApiError),
        (status = 401, description = "no or a wrong admin token", body = ApiError),
        (status = 403, description = "the admin API is off", body = ApiError),
        (status = 409, description = "ROOM_EXISTS", body = ApiError),
        (status = 503, description = "TOO_MANY_ROOMS, SERVER_BUSY, STORE_UNAVAILABLE, SHUTTING_DOWN", body = ApiError),
    ))]
pub(crate) async fn create_room(
    State(app): State<AppState>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Response {
    let result = async {
        require_admin(&app, &headers)?;
        let b: CreateBody = body(&bytes)?;
        let config = config_over_default(&app.ticks.modes, &app.api.default_room, b.config)?;
        let by = actor(b.by)?;
        app.rooms
            .admin(
                b.room.map(RoomId::from),
                AdminOp::Create {
                    config: Box::new(config),
                    private: b.private,
                    by,
                },
            )
            .await
    }
    .await;
    reply(result, StatusCode::CREATED)
}

/// `base` with `overrides` applied key by key, then checked by the mode
/// the result names. A room of another mode than `base`'s starts from
/// `base`'s framework settings and that mode's defaults.
pub(crate) fn config_over_default(
    modes: &tickroom_sim::Modes,
    base: &RoomConfig,
    overrides: serde_json::Map<String, serde_json::Value>,
) -> Result<RoomConfig, ErrorBody> {
    let name = match overrides.get("mode") {
        Some(serde_json::Value::String(m)) => m.as_str(),
        Some(other) => {
            return Err(ErrorBody::new(
                ErrorCode::InvalidConfig,
                format!("room config `mode` must be a mode's name, not {other}"),
            ));
        }
        None => base.mode.as_str(),
    };
    let mode = modes.resolve(name)?;
    let mut merged = match serde_json::to_value(base) {
        Ok(serde_json::Value::Object(m)) => m,
        _ => serde_json::Map::new(),
    };
    if mode.name() != base.mode {
        merged.retain(|k, _| tickroom_protocol::config::FRAMEWORK_KEYS.contains(&k.as_str()));
        if let serde_json::Value::Object(game) = mode.default_config() {
            merged.extend(game);
        }
    }
    for (k, v) in overrides {
        if !merged.contains_key(&k) {
            return Err(ErrorBody::new(
                ErrorCode::InvalidConfig,
                format!("unknown room config key `{k}` (mode {})", mode.name()),
            )
            .with("key", k.as_str()));
        }
        merged.insert(k, v);
    }
    let config: RoomConfig = serde_json::from_value(serde_json::Value::Object(merged))
        .map_err(|e| ErrorBody::new(ErrorCode::InvalidConfig, format!("room config: {e}")))?;
    mode.normalize_config(&config)
}

#[utoipa::path(get, path = "/api/v1/rooms/{id}", tag = "rooms",
    params(("id" = String, Path, description = "the room id")),
    security((), ("read" = [])),
    responses(
        (status = 200, description = "summary, private, epoch, config and the full state", body = Object),
        (status = 401, description = "off loopback without the read token", body = ApiError),
        (status = 404, description = "ROOM_NOT_FOUND", body = ApiError),
        (status = 409, description = "WRONG_PHASE: archived and unloaded", body = ApiError),
    ))]
pub(crate) async fn get_room(
    State(app): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let result = async {
        require_read(&app, &headers)?;
        app.rooms
            .admin(Some(room_id(id)), AdminOp::InRoom(RoomOp::Get))
            .await
    }
    .await;
    reply(result, StatusCode::OK)
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct ArchiveBody {
    /// Who did it, for the audit log (default `api`).
    by: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/rooms/{id}/archive", tag = "rooms",
    params(("id" = String, Path, description = "the room id")),
    request_body(content = Option<ArchiveBody>, description = "optional"),
    security(("admin" = [])),
    responses(
        (status = 200, description = "archived at `tick` (logged and audited)", body = Applied),
        (status = 401, description = "no or a wrong admin token", body = ApiError),
        (status = 404, description = "ROOM_NOT_FOUND", body = ApiError),
        (status = 409, description = "WRONG_PHASE: already archived", body = ApiError),
        (status = 503, description = "STORE_BEHIND, STORE_UNAVAILABLE, SERVER_BUSY", body = ApiError),
    ))]
pub(crate) async fn archive_room(
    State(app): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    bytes: Bytes,
) -> Response {
    room_action(&app, &headers, id, &bytes, |b: ArchiveBody| {
        Ok(RoomOp::Archive { by: actor(b.by)? })
    })
    .await
}

/// An admin action inside a room: checks the admin token, parses the body,
/// turns it into the room operation and answers with the room's outcome.
async fn room_action<B: serde::de::DeserializeOwned>(
    app: &AppState,
    headers: &HeaderMap,
    id: String,
    bytes: &Bytes,
    op: impl FnOnce(B) -> Result<RoomOp, ErrorBody>,
) -> Response {
    let result = async {
        require_admin(app, headers)?;
        let op = op(body(bytes)?)?;
        app.rooms
            .admin(Some(room_id(id)), AdminOp::InRoom(op))
            .await
    }
    .await;
    reply(result, StatusCode::OK)
}

/// Exactly one of `member` and `user`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct KickBody {
    member: Option<u32>,
    user: Option<String>,
    /// Who did it, for the audit log.
    by: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/rooms/{id}/kick", tag = "rooms",
    params(("id" = String, Path, description = "the room id")),
    request_body = KickBody,
    security(("admin" = [])),
    responses(
        (status = 200, description = "kicked at `tick`; the member's connection is closed with KICKED", body = Applied),
        (status = 400, description = "MALFORMED or INVALID_ARGUMENT", body = ApiError),
        (status = 401, description = "no or a wrong admin token", body = ApiError),
        (status = 404, description = "ROOM_NOT_FOUND or MEMBER_NOT_FOUND", body = ApiError),
        (status = 503, description = "STORE_BEHIND, STORE_UNAVAILABLE, SERVER_BUSY", body = ApiError),
    ))]
pub(crate) async fn kick_member(
    State(app): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    bytes: Bytes,
) -> Response {
    room_action(&app, &headers, id, &bytes, |b: KickBody| {
        let target = match (b.member, b.user) {
            (Some(m), None) => KickTarget::Member(MemberId(m)),
            (None, Some(u)) => KickTarget::User(u),
            _ => {
                return Err(ErrorBody::new(
                    ErrorCode::InvalidArgument,
                    "name exactly one of `member` (a member id) and `user` (a user id)",
                ));
            }
        };
        Ok(RoomOp::Kick {
            target,
            by: actor(b.by)?,
        })
    })
    .await
}

/// The audit log's actor: `api`, or `api:<by>` when the caller names one.
fn actor(by: Option<String>) -> Result<String, ErrorBody> {
    match by {
        None => Ok("api".into()),
        Some(b) if b.is_empty() || b.chars().count() > 64 || b.chars().any(char::is_control) => {
            Err(ErrorBody::new(
                ErrorCode::InvalidArgument,
                "`by` is 1 to 64 characters without control characters",
            )
            .with("field", "by"))
        }
        Some(b) => Ok(format!("api:{b}")),
    }
}

fn reply(result: Result<AdminReply, ErrorBody>, ok: StatusCode) -> Response {
    match result {
        Ok(r) => json_response(ok, &r),
        Err(e) => error_response(&e),
    }
}
