//! The cluster's channels: one Redis subscription per node to
//! `<prefix>:lobby` (rooms appearing, changing, filling, closing; see
//! [`super::listing`]), which `GET /api/v1/lobby` streams as server-sent
//! events through a broadcast channel (a follower too slow to keep up
//! skips what it missed and is told how much: `event: lagged`), and to
//! `<prefix>:admin` (operators' actions every node carries out: see
//! [`super::api`]).

use crate::api::{error_response, require_read};
use crate::http::AppState;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use std::time::Duration;
use tickroom_protocol::{ErrorBody, ErrorCode};
use tokio::sync::{broadcast, watch};

/// Events a follower may fall behind by before it skips.
pub const LOBBY_BUFFER: usize = 1024;

/// The cluster's two channels, as this node follows them.
pub struct Channels {
    /// `<prefix>:lobby`: to the lobby's followers.
    pub lobby: (String, broadcast::Sender<String>),
    /// `<prefix>:admin`: operators' actions for every node.
    pub admin: (String, tokio::sync::mpsc::UnboundedSender<String>),
}

/// Follows the cluster's channels until `shutdown`, reconnecting after the
/// cluster's retry delay while Redis is unreachable.
pub async fn run(
    url: String,
    channels: Channels,
    retry: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let followed = async {
            let client = redis::Client::open(url.as_str())?;
            let mut pubsub = client.get_async_pubsub().await?;
            pubsub.subscribe(&channels.lobby.0).await?;
            pubsub.subscribe(&channels.admin.0).await?;
            let mut messages = pubsub.on_message();
            while let Some(msg) = messages.next().await {
                let Ok(text) = msg.get_payload::<String>() else {
                    continue;
                };
                if msg.get_channel_name() == channels.admin.0 {
                    let _ = channels.admin.1.send(text);
                } else {
                    let _ = channels.lobby.1.send(text);
                }
            }
            Ok::<(), redis::RedisError>(())
        };
        tokio::select! {
            r = followed => {
                if let Err(e) = r {
                    tracing::debug!(error = %e, "cluster: following the lobby channel failed; retrying");
                }
            }
            _ = shutdown.changed() => return,
        }
        tokio::select! {
            _ = tokio::time::sleep(retry) => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// The cluster's lobby: rooms appearing, changing, filling and closing on
/// any node, as server-sent events (`data:` one JSON object each).
#[utoipa::path(get, path = "/api/v1/lobby", tag = "cluster",
    security((), ("read" = [])),
    responses(
        (status = 200, description = "text/event-stream: each event's data is `{event: appeared|changed|filled|closed, room: {room, mode, phase, members, max_players, tick, version, node}}`"),
        (status = 400, description = "INVALID_ARGUMENT: not in cluster mode", body = crate::api::ApiError),
        (status = 401, description = "off loopback without the read token", body = crate::api::ApiError),
    ))]
pub(crate) async fn follow(State(app): State<AppState>, headers: HeaderMap) -> Response {
    if let Err(e) = require_read(&app, &headers) {
        return error_response(&e);
    }
    let Some(lobby) = &app.lobby else {
        return error_response(&ErrorBody::new(
            ErrorCode::InvalidArgument,
            "the lobby channel is the cluster's: it needs cluster mode (cluster.redis_url)",
        ));
    };
    let stream = events(lobby.subscribe()).map(Ok::<Event, std::convert::Infallible>);
    Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response()
}

/// The broadcast receiver as a stream of SSE events.
fn events(rx: broadcast::Receiver<String>) -> impl futures_util::Stream<Item = Event> {
    futures_util::stream::unfold(rx, |mut rx| async move {
        match rx.recv().await {
            Ok(text) => Some((Event::default().data(text), rx)),
            Err(broadcast::error::RecvError::Lagged(n)) => {
                Some((Event::default().event("lagged").data(n.to_string()), rx))
            }
            Err(broadcast::error::RecvError::Closed) => None,
        }
    })
}
