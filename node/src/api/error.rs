//! Every error the API answers with: a status and a JSON body that says what to fix, never
//! an HTML page or a bare string.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tongban_protocol::Error;

/// An API error: `{"error": {"code", "message", "problems"}}` with its HTTP status.
#[derive(Debug)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// A stable machine-readable code.
    pub code: &'static str,
    /// What went wrong and what to do.
    pub message: String,
    /// Every problem found, for requests with several.
    pub problems: Vec<String>,
}

#[derive(Serialize)]
struct Body<'a> {
    error: Inner<'a>,
}

#[derive(Serialize)]
struct Inner<'a> {
    code: &'a str,
    message: &'a str,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    problems: &'a [String],
}

impl ApiError {
    /// An error with a status, code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            problems: Vec::new(),
        }
    }

    /// 400 for a request that cannot be understood as given.
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    /// 401 for a missing or unknown token.
    pub fn unauthorized(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    /// 403 for a token whose role may not do this.
    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", message)
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> ApiError {
        let message = e.to_string();
        let (status, code, problems) = match e {
            Error::NotFound(_) => (StatusCode::NOT_FOUND, "not_found", vec![]),
            Error::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden", vec![]),
            Error::IllegalTransition(_) | Error::BadEvent(_) => {
                (StatusCode::CONFLICT, "illegal_transition", vec![])
            }
            Error::InvalidApplication(p) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_application", p),
            Error::InvalidCatalog(p) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_catalog", p),
            Error::TooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "too_large", vec![]),
            Error::Storage(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable", vec![]),
            _ => (StatusCode::BAD_REQUEST, "bad_request", vec![]),
        };
        ApiError {
            status,
            code,
            message,
            problems,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Body {
            error: Inner {
                code: self.code,
                message: &self.message,
                problems: &self.problems,
            },
        };
        (self.status, Json(body)).into_response()
    }
}
