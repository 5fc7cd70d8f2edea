//! Errors of the API: a status and a JSON body `{"error": {"code", "message", "details"}}`.
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
    /// Located problems (line, field, rule), when there are any.
    pub details: Option<serde_json::Value>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            details: None,
        }
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

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = serde_json::json!({"error": {"code": self.code, "message": self.message}});
        if let Some(d) = self.details {
            body["error"]["details"] = d;
        }
        (self.status, axum::Json(body)).into_response()
    }
}
