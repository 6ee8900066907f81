//! `GET /api/v1/nodes`: the cluster's live nodes, from any node.

use crate::api::{error_response, json_response, require_admin, require_read};
use crate::http::AppState;
use axum::extract::State;
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
