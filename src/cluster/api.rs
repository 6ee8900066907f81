//! `GET /api/v1/nodes`: the cluster's live nodes, from any node.

use crate::api::{error_response, json_response, require_admin, require_read};
use crate::http::AppState;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use tickroom_protocol::{ErrorBody, ErrorCode};

/// The cluster's live nodes (records not expired), by id, each with its
/// addresses, modes, load and the milliseconds it has left unless it
/// renews. A single node (no `cluster.redis_url`) answers
/// `{"cluster": false, "nodes": []}`.
#[utoipa::path(get, path = "/api/v1/nodes", tag = "cluster",
    security((), ("read" = [])),
    responses(
        (status = 200, description = "`{cluster, node, nodes: [{id, ws, quic, modes, rooms, members, tick_utilisation, started_at_ms, expires_in_ms}]}`", body = Object),
        (status = 401, description = "off loopback without the read token", body = crate::api::ApiError),
        (status = 503, description = "CLUSTER_UNAVAILABLE: this node cannot reach Redis now", body = crate::api::ApiError),
    ))]
pub(crate) async fn list_nodes(State(app): State<AppState>, headers: HeaderMap) -> Response {
    if let Err(e) = require_read(&app, &headers) {
        return error_response(&e);
    }
    let Some(cluster) = &app.cluster else {
        return json_response(
            StatusCode::OK,
            &serde_json::json!({"cluster": false, "nodes": []}),
        );
    };
    match cluster.live_nodes().await {
        Ok(nodes) => json_response(
            StatusCode::OK,
            &serde_json::json!({"cluster": true, "node": cluster.node_id, "nodes": nodes}),
        ),
        Err(e) => error_response(
            &ErrorBody::new(
                ErrorCode::ClusterUnavailable,
                "the cluster's node list needs Redis, which this node cannot reach now",
            )
            .with("reason", e.to_string()),
        ),
    }
}

/// Hands every room of this node to the other live nodes (their members
/// resume there) and stops it opening rooms: before taking the node down
/// for a deploy. Answers when done, with what moved.
#[utoipa::path(post, path = "/api/v1/drain", tag = "cluster",
    security(("admin" = [])),
    responses(
        (status = 200, description = "`{rooms, handed, kept, to: {node: rooms}, ms}`", body = super::handoff::Drained),
        (status = 400, description = "INVALID_ARGUMENT: not in cluster mode", body = crate::api::ApiError),
        (status = 401, description = "no or a wrong admin token", body = crate::api::ApiError),
        (status = 403, description = "the admin API is off", body = crate::api::ApiError),
    ))]
pub(crate) async fn drain(State(app): State<AppState>, headers: HeaderMap) -> Response {
    if let Err(e) = require_admin(&app, &headers) {
        return error_response(&e);
    }
    match &app.handoff {
        Some(handoff) => json_response(StatusCode::OK, &handoff.drain().await),
        None => error_response(&ErrorBody::new(
            ErrorCode::InvalidArgument,
            "draining moves rooms to other nodes: it needs cluster mode (cluster.redis_url)",
        )),
    }
}

/// An operators' action every node of the cluster carries out, as sent on
/// `<prefix>:admin`.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum ClusterAction {
    /// A notice to everyone in every room.
    Notice { text: String, from: String },
    /// Kick `user` out of `room` (the node that owns the room does).
    Kick {
        room: String,
        user: String,
        by: String,
    },
}

/// Carries out what arrives on the admin channel.
pub async fn carry_out(
    router: std::sync::Arc<crate::driver::RoomRouter>,
    mut actions: tokio::sync::mpsc::UnboundedReceiver<String>,
) {
    while let Some(text) = actions.recv().await {
        match serde_json::from_str::<ClusterAction>(&text) {
            Ok(ClusterAction::Notice { text, from }) => router.notice(text, from),
            Ok(ClusterAction::Kick { room, user, by }) => {
                let room = tickroom_protocol::RoomId::from(room);
                if router.owns(&room) {
                    let op =
                        crate::driver::admin::AdminOp::InRoom(crate::driver::admin::RoomOp::Kick {
                            target: crate::driver::admin::KickTarget::User(user),
                            by,
                        });
                    if let Err(e) = router.admin(Some(room.clone()), op).await {
                        tracing::info!(room = %room, error = %e.message, "a cluster kick found nothing to do here");
                    }
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "an unreadable message on the cluster's admin channel")
            }
        }
    }
}

async fn publish(app: &AppState, action: &ClusterAction) -> Result<(), ErrorBody> {
    let Some(cluster) = &app.cluster else {
        return Ok(());
    };
    let channel = format!("{}:admin", cluster.config.prefix);
    let text = serde_json::to_string(action).unwrap_or_default();
    cluster
        .link
        .script::<i64>(
            "return redis.call('PUBLISH', ARGV[1], ARGV[2])",
            &[],
            &[channel, text],
        )
        .await
        .map(drop)
        .map_err(|e| {
            ErrorBody::new(
                ErrorCode::ClusterUnavailable,
                "the cluster's admin channel needs Redis, which this node cannot reach now",
            )
            .with("reason", e.to_string())
        })
}

#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NoticeBody {
    text: String,
    /// Who sends it (shown to players); default `operators`.
    from: Option<String>,
}

/// A notice (`notice` message) to everyone in every room: on every node
/// of the cluster, or on this node when it runs alone.
#[utoipa::path(post, path = "/api/v1/notice", tag = "cluster",
    request_body = NoticeBody,
    security(("admin" = [])),
    responses(
        (status = 200, description = "`{sent: \"cluster\" | \"node\"}`", body = Object),
        (status = 400, description = "MALFORMED, FIELD_TOO_LONG", body = crate::api::ApiError),
        (status = 401, description = "no or a wrong admin token", body = crate::api::ApiError),
        (status = 503, description = "CLUSTER_UNAVAILABLE", body = crate::api::ApiError),
    ))]
pub(crate) async fn notice(
    State(app): State<AppState>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Response {
    let result = async {
        require_admin(&app, &headers)?;
        let b: NoticeBody = crate::api::body(&bytes)?;
        let max = app.net.limits.max_string_bytes;
        if b.text.is_empty() || b.text.len() > max {
            return Err(ErrorBody::new(
                ErrorCode::FieldTooLong,
                format!("a notice is 1 to {max} bytes of text"),
            )
            .with("field", "text")
            .with("max", max as i64));
        }
        let from = b.from.unwrap_or_else(|| "operators".into());
        if app.cluster.is_some() {
            publish(&app, &ClusterAction::Notice { text: b.text, from }).await?;
            Ok("cluster")
        } else {
            app.rooms.notice(b.text, from);
            Ok("node")
        }
    }
    .await;
    match result {
        Ok(sent) => json_response(StatusCode::OK, &serde_json::json!({ "sent": sent })),
        Err(e) => error_response(&e),
    }
}

#[derive(Debug, Default, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct KickUserBody {
    /// Who did it, for the audit log.
    by: Option<String>,
}

/// Kicks a user out of the room they sit in, on whichever node of the
/// cluster runs it (the seat directory says which room).
#[utoipa::path(post, path = "/api/v1/users/{user}/kick", tag = "cluster",
    params(("user" = String, Path, description = "the user id (a join token's `sub`)")),
    request_body = KickUserBody,
    security(("admin" = [])),
    responses(
        (status = 200, description = "`{room, node}`: kicked here, or sent to the node that runs the room", body = Object),
        (status = 400, description = "INVALID_ARGUMENT: not in cluster mode", body = crate::api::ApiError),
        (status = 401, description = "no or a wrong admin token", body = crate::api::ApiError),
        (status = 404, description = "MEMBER_NOT_FOUND: the user sits in no room", body = crate::api::ApiError),
        (status = 503, description = "CLUSTER_UNAVAILABLE", body = crate::api::ApiError),
    ))]
pub(crate) async fn kick_user(
    State(app): State<AppState>,
    headers: HeaderMap,
    Path(user): Path<String>,
    bytes: Bytes,
) -> Response {
    let result = async {
        require_admin(&app, &headers)?;
        let b: KickUserBody = if bytes.is_empty() {
            KickUserBody::default()
        } else {
            crate::api::body(&bytes)?
        };
        let Some(cluster) = &app.cluster else {
            return Err(ErrorBody::new(
                ErrorCode::InvalidArgument,
                "kicking a user wherever they are needs cluster mode; one node kicks with POST /api/v1/rooms/{id}/kick",
            ));
        };
        let not_seated = || {
            ErrorBody::new(ErrorCode::MemberNotFound, format!("user {user} sits in no room"))
                .with("user", user.as_str())
        };
        let room = super::rooms::seat_of(cluster, &user).await?.ok_or_else(not_seated)?;
        let owner = cluster
            .leases()
            .owner(room.as_str())
            .await
            .map_err(|e| super::rooms::unavailable(&e))?
            .map(|h| h.node)
            .ok_or_else(not_seated)?;
        let by = b.by.unwrap_or_else(|| "admin".into());
        let action = ClusterAction::Kick {
            room: room.to_string(),
            user: user.clone(),
            by,
        };
        publish(&app, &action).await?;
        Ok(serde_json::json!({"room": room, "node": owner}))
    }
    .await;
    match result {
        Ok(v) => json_response(StatusCode::OK, &v),
        Err(e) => error_response(&e),
    }
}
