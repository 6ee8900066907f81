//! The web console: three static files embedded in the binary (no build
//! step), served at `/`. It talks to the server like any client: the REST
//! API for lists and history, the JSON WebSocket codec for live rooms.

use axum::http::header;
use axum::response::IntoResponse;

const INDEX: &str = include_str!("../console/index.html");
const APP: &str = include_str!("../console/app.js");
const STYLE: &str = include_str!("../console/style.css");

/// The console's page.
#[utoipa::path(get, path = "/", tag = "console",
    responses((status = 200, description = "the web console", content_type = "text/html", body = String)))]
pub(crate) async fn index() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], INDEX)
}

#[utoipa::path(get, path = "/console/app.js", tag = "console",
    responses((status = 200, description = "the console's script", content_type = "text/javascript", body = String)))]
pub(crate) async fn script() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        APP,
    )
}

#[utoipa::path(get, path = "/console/style.css", tag = "console",
    responses((status = 200, description = "the console's styles", content_type = "text/css", body = String)))]
pub(crate) async fn style() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], STYLE)
}
