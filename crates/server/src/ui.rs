//! The web pages (Chinese labels), served by the same binary: one HTML page,
//! its script and style sheet, compiled in with `include_str!` — no CDN, no
//! download at run time. The pages call the JSON API with the signed-in
//! user's bearer token; charts are SVG drawn by the server ([`crate::charts`]).

use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;

use crate::AppState;

const INDEX: &str = include_str!("../ui/index.html");
const APP_JS: &str = include_str!("../ui/app.js");
const APP_CSS: &str = include_str!("../ui/app.css");

fn asset(media: &'static str, body: &'static str) -> Response {
    (
        [(header::CONTENT_TYPE, media), (header::CACHE_CONTROL, "no-cache")],
        body,
    )
        .into_response()
}

/// Add the page routes (`/` redirects to `/ui/`).
pub fn routes(r: Router<AppState>) -> Router<AppState> {
    r.route("/", get(|| async { Redirect::to("/ui/") }))
        .route("/ui", get(|| async { Redirect::to("/ui/") }))
        .route("/ui/", get(|| async { asset("text/html; charset=utf-8", INDEX) }))
        .route("/ui/app.js", get(|| async { asset("text/javascript; charset=utf-8", APP_JS) }))
        .route("/ui/app.css", get(|| async { asset("text/css; charset=utf-8", APP_CSS) }))
}
