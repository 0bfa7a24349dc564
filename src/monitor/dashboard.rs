//! `/`: a live dashboard, one self-contained page (no external assets) compiled into the
//! binary. It polls `/varz`, `/connz` and `/reactorz` once a second and draws its charts on
//! canvas; see `dashboard.html`. It also links every endpoint, as nats-server's index does.

use super::http::Response;

const PAGE: &str = include_str!("dashboard.html");

pub fn page() -> Response {
    let mut r = Response::new(200, "text/html; charset=utf-8", PAGE);
    r.headers.push(("Cache-Control", "no-cache".to_string()));
    r
}
