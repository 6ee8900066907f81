//! The HTTP server owns the port: it serves `/ws` upgrades (handing the
//! upgraded connection to `net` as plain async IO) and, later, the ops API.

use axum::Router as HttpRouter;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use hyper_util::rt::TokioIo;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
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
}

pub fn routes(state: AppState) -> HttpRouter {
    HttpRouter::new()
        .route("/ws", get(ws_upgrade))
        .route("/health", get(|| async { "ok" }))
        .route("/api/v1/rooms", get(list_rooms))
        .with_state(state)
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

#[derive(serde::Deserialize)]
struct ListQuery {
    after: Option<String>,
    limit: Option<usize>,
}

/// Public rooms, paged by id: `?limit=50&after=<last id of the previous page>`.
async fn list_rooms(
    State(app): State<AppState>,
    axum::extract::Query(q): axum::extract::Query<ListQuery>,
) -> Response {
    let limit = q.limit.unwrap_or(50).clamp(1, 500);
    let rooms = app
        .rooms
        .list_rooms(q.after.map(tickroom_protocol::RoomId), limit)
        .await;
    let next = (rooms.len() == limit)
        .then(|| rooms.last().map(|r| r.room.0.clone()))
        .flatten();
    let body = serde_json::json!({"rooms": rooms, "next": next}).to_string();
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

async fn ws_upgrade(
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
