//! Errors of the API, one contract for every route and failure: a status and a JSON body
//! `{"error": {"code", "message", "message_zh", "field"?, "details"?}}` — a machine code,
//! the message in English and in Chinese, the field at fault when there is one. Errors
//! raised outside the handlers (a malformed path id or query, a body over its route's
//! limit, an unknown route) are put in the same form by [`json_errors`].
//! A configuration that fails its checks (parameters, an institution) is 422
//! `invalid_configuration` with one detail per problem: `key`, `value`, `line`, `reason`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// An error answered to the client.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// The message in Chinese; None: the code's general Chinese message is used.
    pub message_zh: Option<String>,
    /// The request field at fault (body key, query parameter or path segment).
    pub field: Option<String>,
    /// Located problems (line, field, rule), when there are any.
    pub details: Option<serde_json::Value>,
    /// Seconds a client should wait (429), sent as `Retry-After`.
    pub retry_after_s: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            message_zh: None,
            field: None,
            details: None,
            retry_after_s: None,
        }
    }
    /// The Chinese message.
    pub fn zh(mut self, m: impl Into<String>) -> ApiError {
        self.message_zh = Some(m.into());
        self
    }
    /// The field at fault.
    pub fn field(mut self, f: impl Into<String>) -> ApiError {
        self.field = Some(f.into());
        self
    }
    pub fn retry_after(mut self, s: u64) -> ApiError {
        self.retry_after_s = Some(s.max(1));
        self
    }
    /// A bad request naming its field.
    pub fn invalid_field(field: &str, en: impl Into<String>, zh: impl Into<String>) -> ApiError {
        ApiError::bad_request(en).zh(zh).field(field)
    }
    pub fn bad_request(m: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", m)
    }
    pub fn unauthorized(m: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", m)
    }
    pub fn forbidden(m: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", m)
    }
    pub fn not_found(m: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", m)
    }
    pub fn conflict(m: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::CONFLICT, "conflict", m)
    }
    pub fn unprocessable(m: impl Into<String>, details: serde_json::Value) -> ApiError {
        ApiError {
            details: Some(details),
            ..ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_record", m)
        }
    }
    /// A configuration (parameters, an institution) that cannot be used: 422 with
    /// every problem as `{"key", "value", "line", "reason"}` in `details`.
    pub fn invalid_config(e: &check::Invalid) -> ApiError {
        ApiError {
            details: Some(serde_json::json!(e.problems)),
            ..ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_configuration", e.to_string())
        }
    }
    pub fn internal(m: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", m)
    }
}

impl From<check::Invalid> for ApiError {
    fn from(e: check::Invalid) -> ApiError {
        ApiError::invalid_config(&e)
    }
}

impl From<store::StoreError> for ApiError {
    fn from(e: store::StoreError) -> ApiError {
        match e {
            store::StoreError::NotFound(m) => ApiError::not_found(m),
            store::StoreError::Conflict(m) => ApiError::conflict(m),
            store::StoreError::Invalid(m) => ApiError::bad_request(m),
            store::StoreError::Db(e) => ApiError::internal(format!("database: {e}")),
        }
    }
}

/// The general Chinese message of a code (used when an error names no Chinese text of its own).
pub fn zh_of(code: &str) -> &'static str {
    match code {
        "bad_request" => "请求有误，请检查请求参数或内容",
        "unauthorized" => "未登录或登录已失效，请重新登录",
        "forbidden" => "无权访问该数据或执行该操作",
        "not_found" => "所请求的对象不存在",
        "conflict" => "当前状态下不能执行该操作",
        "invalid_record" => "结算清单不能受理，请按提示更正后重新上传",
        "invalid_configuration" => "配置未通过校验，请按提示更正",
        "payload_too_large" => "上传内容超过该接口允许的大小",
        "method_not_allowed" => "该接口不支持此请求方法",
        "unsupported_media_type" => "请求内容的类型不受支持",
        "login_busy" => "同时登录的请求过多，请稍后再试",
        "login_backoff" => "登录失败次数过多，请稍后再试",
        "account_locked" => "账户因连续登录失败已被锁定，请联系管理员解锁",
        "address_locked" => "该地址登录失败次数过多，已暂时禁止登录",
        "too_many_requests" => "请求过于频繁，请稍后再试",
        "internal" => "系统内部错误，已记录，请联系运维人员",
        _ => "请求未能完成",
    }
}

/// The machine code of a status, for errors raised outside the handlers.
pub fn code_of(status: StatusCode) -> &'static str {
    match status {
        StatusCode::BAD_REQUEST => "bad_request",
        StatusCode::UNAUTHORIZED => "unauthorized",
        StatusCode::FORBIDDEN => "forbidden",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::CONFLICT => "conflict",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::UNPROCESSABLE_ENTITY => "bad_request",
        StatusCode::TOO_MANY_REQUESTS => "too_many_requests",
        s if s.is_server_error() => "internal",
        _ => "bad_request",
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let zh = self.message_zh.unwrap_or_else(|| zh_of(self.code).to_owned());
        let mut body = serde_json::json!({"error": {"code": self.code, "message": self.message, "message_zh": zh}});
        if let Some(f) = self.field {
            body["error"]["field"] = serde_json::Value::String(f);
        }
        if let Some(d) = self.details {
            body["error"]["details"] = d;
        }
        let mut r = (self.status, axum::Json(body)).into_response();
        if let Some(s) = self.retry_after_s {
            if let Ok(v) = axum::http::HeaderValue::from_str(&s.to_string()) {
                r.headers_mut().insert(axum::http::header::RETRY_AFTER, v);
            }
        }
        r
    }
}

/// Middleware: an error response that is not JSON (the framework's own rejections:
/// a path id that is not a number, a malformed query, a body over the limit, an
/// unknown route or method) is answered in the one error contract, with the
/// framework's text as the English message and the field when the text names one.
pub async fn json_errors(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let r = next.run(req).await;
    let status = r.status();
    let is_json = r
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return r;
    }
    let (parts, body) = r.into_parts();
    let text = axum::body::to_bytes(body, 4096)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_owned())
        .unwrap_or_default();
    let text = if text.is_empty() {
        status.canonical_reason().unwrap_or("error").to_owned()
    } else {
        text
    };
    let code = code_of(status);
    let mut e = ApiError::new(status, code, text.clone());
    // serde's messages name the field: "limit: invalid digit found in string".
    if let Some(rest) = text.split_once("deserialize query string: ").map(|(_, r)| r) {
        if let Some((f, _)) = rest.split_once(':') {
            e = e.field(f.trim());
        }
    }
    if text.contains("parse the request body") || status == StatusCode::PAYLOAD_TOO_LARGE {
        e = e.field("body");
    }
    if let Some(ra) = parts.headers.get(axum::http::header::RETRY_AFTER).and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok()) {
        e = e.retry_after(ra);
    }
    let mut out = e.into_response();
    for (k, v) in parts.headers.iter() {
        if k != axum::http::header::CONTENT_TYPE && k != axum::http::header::CONTENT_LENGTH {
            out.headers_mut().entry(k.clone()).or_insert(v.clone());
        }
    }
    out
}
