//! The HTTP server owns the port: it serves `/ws` upgrades (handing the
//! upgraded connection to `net` as plain async IO), the probes, the OpenAPI
//! document and the REST API (`crate::api`).

use axum::Router as HttpRouter;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};
use hyper_util::rt::TokioIo;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tickroom_net::ws::derive_accept_key;
use tickroom_net::{ConnId, NetConfig, Router};
use tickroom_protocol::{Codec, ErrorBody, ErrorCode};
use tokio::sync::watch;

#[derive(Clone)]
pub struct AppState {
    pub net: Arc<NetConfig>,
    pub router: Arc<dyn Router>,
    pub rooms: Arc<crate::driver::RoomRouter>,
    pub next_conn: Arc<AtomicU64>,
    /// Flips to true when connections must close.
    pub shutdown: watch::Receiver<bool>,
    pub connections: Arc<tickroom_net::tracker::ConnTracker>,
    pub store: Arc<tickroom_persistence::Store>,
    pub api: Arc<crate::api::ApiAuth>,
    /// The store's database file, for the history API.
    pub store_path: std::path::PathBuf,
    /// Tick statistics, for `/metrics`.
    pub ticks: Arc<crate::driver::ShardSettings>,
    /// Cluster mode, when `cluster.redis_url` is set.
    pub cluster: Option<Arc<crate::cluster::Cluster>>,
    /// Cluster mode: hands this node's rooms to other nodes.
    pub handoff: Option<Arc<crate::cluster::handoff::Handoff>>,
    /// Cluster mode: the lobby channel's events, for its followers.
    pub lobby: Option<tokio::sync::broadcast::Sender<String>>,
    /// Cluster mode: rates that hold across the cluster.
    pub limits: Option<Arc<crate::cluster::limits::ClusterLimits>>,
}

/// Every route: method, path and handler. The router is built from this
/// table, and a test holds the OpenAPI document to the same set.
fn route_table() -> Vec<(&'static str, &'static str, MethodRouter<AppState>)> {
    use crate::api;
    vec![
        ("GET", "/", get(crate::console::index)),
        ("GET", "/console/app.js", get(crate::console::script)),
        ("GET", "/console/style.css", get(crate::console::style)),
        ("GET", "/ws", get(ws_upgrade)),
        ("GET", "/health", get(health)),
        ("GET", "/ready", get(ready)),
        ("GET", "/metrics", get(metrics)),
        ("GET", "/api/openapi.json", get(api::openapi_json)),
        ("GET", "/api/v1/rooms", get(api::list_rooms)),
        ("POST", "/api/v1/rooms", post(api::create_room)),
        ("GET", "/api/v1/rooms/{id}", get(api::get_room)),
        (
            "POST",
            "/api/v1/rooms/{id}/archive",
            post(api::archive_room),
        ),
        ("POST", "/api/v1/rooms/{id}/kick", post(api::kick_member)),
        ("GET", "/api/v1/history", get(crate::history::list)),
        ("GET", "/api/v1/history/{id}", get(crate::history::at_tick)),
        ("GET", "/api/v1/nodes", get(crate::cluster::api::list_nodes)),
        (
            "POST",
            "/api/v1/matchmake",
            post(crate::cluster::matchmake::post_matchmake),
        ),
        ("POST", "/api/v1/drain", post(crate::cluster::api::drain)),
        ("GET", "/api/v1/lobby", get(crate::cluster::lobby::follow)),
        ("POST", "/api/v1/notice", post(crate::cluster::api::notice)),
        (
            "POST",
            "/api/v1/users/{user}/kick",
            post(crate::cluster::api::kick_user),
        ),
    ]
}

pub fn routes(state: AppState) -> HttpRouter {
    route_table()
        .into_iter()
        .fold(HttpRouter::new(), |r, (_, path, handler)| {
            r.route(path, handler)
        })
        .with_state(state)
}

/// Prometheus metrics (OpenMetrics text); the README lists every name.
#[utoipa::path(get, path = "/metrics", tag = "probes",
    security((), ("read" = [])),
    responses(
        (status = 200, description = "OpenMetrics text exposition", body = String, content_type = "application/openmetrics-text"),
        (status = 401, description = "off loopback without the read token", body = crate::api::ApiError),
    ))]
pub(crate) async fn metrics(State(app): State<AppState>, headers: HeaderMap) -> Response {
    if let Err(e) = crate::api::require_read(&app, &headers) {
        return crate::api::error_response(&e);
    }
    let sources = crate::metrics::Sources {
        ticks: app.ticks.clone(),
        net: app.net.stats.clone(),
        store: app.store.clone(),
        census: app.rooms.census().await,
    };
    let text = crate::metrics::render(sources);
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

/// Alive.
#[utoipa::path(get, path = "/health", tag = "probes",
    responses((status = 200, description = "the process is alive", body = String, example = "ok")))]
pub(crate) async fn health() -> &'static str {
    "ok"
}

fn refuse(status: StatusCode, body: ErrorBody) -> Response {
    let json = serde_json::to_string(&body).unwrap_or_default();
    (status, [(header::CONTENT_TYPE, "application/json")], json).into_response()
}

fn header_has(headers: &HeaderMap, name: header::HeaderName, token: &str) -> bool {
    headers.get_all(name).iter().any(|v| {
        v.to_str()
            .is_ok_and(|s| s.split(',').any(|p| p.trim().eq_ignore_ascii_case(token)))
    })
}

/// Ready to serve: 200 when every tick thread answers and the store commits
/// as it goes; 503 while a tick thread does not answer within a second, the
/// store is degraded (writes wait in its buffer or dead-letter file) or
/// refusing (mutations get STORE_UNAVAILABLE), or the server is shutting
/// down.
#[utoipa::path(get, path = "/ready", tag = "probes",
    responses(
        (status = 200, description = "ready: the store commits as it goes", body = Object),
        (status = 503, description = "degraded, refusing or shutting down; the body says which", body = Object),
    ))]
pub(crate) async fn ready(State(app): State<AppState>) -> Response {
    let h = app.store.health();
    let state = if h.is_refusing() {
        "refusing"
    } else if !h.is_healthy() {
        "degraded"
    } else {
        "ok"
    };
    let draining = *app.shutdown.borrow();
    let shards = app.rooms.probe_shards(Duration::from_secs(1)).await;
    let threads_ok = shards.iter().all(Option::is_some);
    let ready = state == "ok" && threads_ok && !draining;
    // Redis down degrades the cluster, not this node: its rooms keep
    // running, so the node stays ready and says why it is degraded.
    let cluster = match &app.cluster {
        Some(c) => c.probe().await,
        None => serde_json::json!({"enabled": false}),
    };
    let body = serde_json::json!({
        "ready": ready,
        "cluster": cluster,
        "shutting_down": draining,
        "tick_threads": shards.iter().enumerate().map(|(i, answered)| serde_json::json!({
            "shard": i,
            "answering": answered.is_some(),
            "answer_us": answered.map(|d| d.as_micros() as u64),
        })).collect::<Vec<_>>(),
        "tick_overruns": app.ticks.stats.overruns.load(Ordering::Relaxed),
        "store": {
            "state": state,
            "breaker": h.breaker().as_str(),
            "queue_depth": app.store.queue_depth(),
            "buffered_writes": h.buffered_writes.load(Ordering::Relaxed),
            "buffered_bytes": h.buffered_bytes.load(Ordering::Relaxed),
            "dead_letter_bytes": h.dead_letter_bytes.load(Ordering::Relaxed),
            "failed_commits": h.failed_commits.load(Ordering::Relaxed),
            "last_commit_micros": h.last_commit_micros.load(Ordering::Relaxed),
            "last_error": h.last_error(),
        },
    });
    let status = match ready {
        true => StatusCode::OK,
        false => StatusCode::SERVICE_UNAVAILABLE,
    };
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// The WebSocket endpoint; docs/protocol.md describes what flows over it.
#[utoipa::path(get, path = "/ws", tag = "websocket",
    params(("Sec-WebSocket-Protocol" = String, Header, description = "`tickroom.v1.json` or `tickroom.v1.postcard`")),
    responses(
        (status = 101, description = "switched to the WebSocket protocol"),
        (status = 400, description = "not a WebSocket upgrade, or no supported subprotocol", body = crate::api::ApiError),
        (status = 503, description = "too many connections", body = crate::api::ApiError),
    ))]
pub(crate) async fn ws_upgrade(
    State(app): State<AppState>,
    ConnectInfo(crate::listener::PeerAddr(peer)): ConnectInfo<crate::listener::PeerAddr>,
    mut req: Request<Body>,
) -> Response {
    let headers = req.headers();
    let key = headers.get(header::SEC_WEBSOCKET_KEY).cloned();
    let upgrade = header_has(headers, header::CONNECTION, "upgrade")
        && header_has(headers, header::UPGRADE, "websocket")
        && headers
            .get(header::SEC_WEBSOCKET_VERSION)
            .is_some_and(|v| v == "13");
    let (Some(key), true) = (key, upgrade) else {
        return refuse(
            StatusCode::BAD_REQUEST,
            ErrorBody::new(
                ErrorCode::Malformed,
                "expected a WebSocket upgrade (version 13)",
            ),
        );
    };
    let offered: Vec<&str> = headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    let Some(codec) = tickroom_net::ws::negotiate(&offered.join(",")) else {
        return refuse(
            StatusCode::BAD_REQUEST,
            ErrorBody::new(
                ErrorCode::UnsupportedCodec,
                format!(
                    "offer the WebSocket subprotocol {} or {}",
                    Codec::Postcard.subprotocol(),
                    Codec::Json.subprotocol()
                ),
            )
            .with("offered", offered.join(",")),
        );
    };
    if *app.shutdown.borrow() {
        return refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorBody::new(ErrorCode::ShuttingDown, "the server is shutting down"),
        );
    }
    if let Some(limits) = &app.limits
        && let Err(e) = limits.connection(peer.ip()).await
    {
        return refuse(StatusCode::TOO_MANY_REQUESTS, e);
    }
    let on_upgrade = hyper::upgrade::on(&mut req);
    let id = ConnId(app.next_conn.fetch_add(1, Ordering::Relaxed));
    let guard = app.connections.enter();
    tokio::spawn(async move {
        let _guard = guard;
        match on_upgrade.await {
            Ok(upgraded) => {
                tickroom_net::ws::serve(
                    TokioIo::new(upgraded),
                    id,
                    codec,
                    peer,
                    app.net.clone(),
                    app.router.clone(),
                    app.shutdown.clone(),
                )
                .await
            }
            Err(e) => tracing::debug!(error = %e, "websocket upgrade failed"),
        }
    });
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = response.headers_mut();
    h.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    if let Ok(accept) = HeaderValue::from_str(&derive_accept_key(key.as_bytes())) {
        h.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
    }
    h.insert(
        header::SEC_WEBSOCKET_PROTOCOL,
        HeaderValue::from_static(codec.subprotocol()),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;
    use utoipa::OpenApi;

    #[test]
    fn the_openapi_document_lists_exactly_the_routes_the_router_serves() {
        let served: BTreeSet<(String, String)> = route_table()
            .into_iter()
            .map(|(m, p, _)| (m.to_owned(), p.to_owned()))
            .collect();
        let doc = serde_json::to_value(crate::api::ApiDoc::openapi()).unwrap();
        assert_eq!(doc["openapi"], "3.1.0");
        let mut documented = BTreeSet::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for method in item.as_object().unwrap().keys() {
                if ["get", "post", "put", "patch", "delete", "head", "options"]
                    .contains(&method.as_str())
                {
                    documented.insert((method.to_uppercase(), path.clone()));
                }
            }
        }
        assert_eq!(documented, served);
    }
}
