//! What every response goes through: one error contract (framework rejections put in
//! the JSON form of [`crate::error`]), a panic answered as a JSON 500 instead of a
//! dropped connection, and the security headers (docs/API.md "Security headers").

use axum::http::{header, HeaderName, HeaderValue};
use axum::Router;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::set_header::SetResponseHeaderLayer;

use crate::AppState;

/// The Content-Security-Policy of every response: scripts and styles from the service
/// only (the pages have no inline script or style attribute), no framing.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
connect-src 'self'; font-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// HSTS, sent when the service is behind a TLS-terminating proxy.
pub const HSTS: &str = "max-age=31536000; includeSubDomains";

fn header_layer(name: HeaderName, value: &'static str) -> SetResponseHeaderLayer<HeaderValue> {
    SetResponseHeaderLayer::if_not_present(name, HeaderValue::from_static(value))
}

/// Wrap the routes.
pub fn layers(r: Router<AppState>, behind_proxy: bool) -> Router<AppState> {
    let r = r
        .layer(CatchPanicLayer::new())
        .layer(axum::middleware::from_fn(clean_target))
        .layer(axum::middleware::from_fn(crate::error::json_errors))
        .layer(header_layer(header::CONTENT_SECURITY_POLICY, CSP))
        .layer(header_layer(header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .layer(header_layer(header::X_FRAME_OPTIONS, "DENY"))
        .layer(header_layer(header::REFERRER_POLICY, "no-referrer"))
        .layer(header_layer(HeaderName::from_static("cross-origin-opener-policy"), "same-origin"))
        .layer(header_layer(HeaderName::from_static("permissions-policy"), "camera=(), microphone=(), geolocation=()"))
        .layer(header_layer(header::CACHE_CONTROL, "no-store"));
    if behind_proxy {
        r.layer(header_layer(header::STRICT_TRANSPORT_SECURITY, HSTS))
    } else {
        r
    }
}

/// The client address of a request: the peer, or behind a proxy the last address of
/// `X-Forwarded-For` (the one the proxy added; earlier entries are the client's word).
pub fn client_address(
    peer: Option<std::net::SocketAddr>,
    headers: &axum::http::HeaderMap,
    behind_proxy: bool,
) -> Option<std::net::IpAddr> {
    if behind_proxy {
        let fwd = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|a| a.trim().parse::<std::net::IpAddr>().ok())
            .last();
        if fwd.is_some() {
            return fwd;
        }
    }
    peer.map(|p| p.ip())
}

/// Refuse a body whose announced length is over the route's limit before reading it.
pub async fn announced_length(
    axum::extract::State(limit): axum::extract::State<usize>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let announced = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    match announced {
        Some(n) if n > limit as u64 => crate::error::ApiError::new(
            axum::http::StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("body of {n} bytes: this route takes at most {limit} bytes"),
        )
        .zh(format!("上传内容 {n} 字节，超过该接口 {limit} 字节的上限"))
        .field("body")
        .into_response(),
        _ => next.run(req).await,
    }
}

/// Percent-decode `s` (`+` as space in a query); None when the bytes are not UTF-8.
fn decode(s: &str, plus: bool) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => {
                let h = std::str::from_utf8(&b[i + 1..i + 3]).ok().and_then(|h| u8::from_str_radix(h, 16).ok());
                match h {
                    Some(v) => {
                        out.push(v);
                        i += 3;
                    }
                    None => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'+' if plus => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// Why a request target (path segments, query parameters) is refused: a part that is
/// not UTF-8 once decoded or holds a forbidden character (NUL, bidirectional
/// overrides, invisible characters; [`crate::validate::forbidden_char`]), or a query
/// parameter value over 1,000 characters. Returns (field, en, zh).
pub fn target_problem(path: &str, query: Option<&str>) -> Option<(String, String, String)> {
    let bad = |field: &str, v: &str| -> Option<(String, String, String)> {
        match decode(v, false) {
            None => Some((field.to_owned(), format!("{field}: not UTF-8"), format!("{field}：不是有效的 UTF-8 文本"))),
            Some(t) => t.chars().find(|c| crate::validate::forbidden_char(*c) || *c == '\n' || *c == '\r' || *c == '\t').map(|c| {
                (
                    field.to_owned(),
                    format!("{field}: character U+{:04X} is not allowed", c as u32),
                    format!("{field}：含不允许的字符 U+{:04X}", c as u32),
                )
            }),
        }
    };
    for seg in path.split('/') {
        if let Some(p) = bad("path", seg) {
            return Some(p);
        }
    }
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let key = decode(k, true).unwrap_or_else(|| "query".to_owned());
        let key: String = key.chars().filter(|c| !crate::validate::forbidden_char(*c)).take(40).collect();
        if let Some(p) = bad(&key, k).or_else(|| bad(&key, &v.replace('+', " "))) {
            return Some(p);
        }
        if v.len() > 3_000 || decode(v, true).is_some_and(|t| t.chars().count() > 1_000) {
            return Some((key.clone(), format!("{key}: over 1000 characters"), format!("{key}：超过 1000 个字符")));
        }
    }
    None
}

/// Middleware: refuse a request target holding forbidden characters before any handler sees it.
async fn clean_target(req: axum::extract::Request, next: axum::middleware::Next) -> axum::response::Response {
    use axum::response::IntoResponse;
    if let Some((field, en, zh)) = target_problem(req.uri().path(), req.uri().query()) {
        return crate::error::ApiError::bad_request(en).zh(zh).field(field).into_response();
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_targets() {
        assert_eq!(target_problem("/api/cases", Some("limit=10&period_from=2025-01")), None);
        assert_eq!(target_problem("/api/institutions/H0001", None), None);
        assert_eq!(target_problem("/api/cases", Some("institution_id=%00")).map(|p| p.0), Some("institution_id".into()));
        assert_eq!(target_problem("/api/cases", Some("drg=%E2%80%AE")).map(|p| p.0), Some("drg".into()));
        assert_eq!(target_problem("/api/cases", Some("drg=%FF")).map(|p| p.0), Some("drg".into()));
        assert_eq!(target_problem("/api/institutions/H%00", None).map(|p| p.0), Some("path".into()));
        let long = format!("drg={}", "x".repeat(1001));
        assert_eq!(target_problem("/api/cases", Some(&long)).map(|p| p.0), Some("drg".into()));
        assert_eq!(decode("a%2", false).as_deref(), Some("a%2"));
        assert_eq!(decode("%e4%b8%ad", false).as_deref(), Some("中"));
    }
}
