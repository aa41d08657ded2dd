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
    pub code: ErrorCode,
    /// What went wrong and what to do.
    pub message: String,
    /// Every problem found, for requests with several.
    pub problems: Vec<String>,
}

// ApiError answers with this body, and the OpenAPI document describes it: one type for both.

/// The body of every error answer: a stable code, a message that says what to fix, and, for
/// requests with several problems, each of them.
#[derive(Debug, Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"error": {"code": "invalid_application", "message": "the application is invalid", "problems": ["materials: the required material 申请书 (form) is missing"]}}))]
pub struct ErrorBody {
    /// What went wrong.
    pub error: ErrorDetail,
}

/// What went wrong.
#[derive(Debug, Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ErrorDetail {
    /// A stable machine-readable code; clients branch on it, not on the message.
    pub code: ErrorCode,
    /// What went wrong and what to do, in words for people.
    pub message: String,
    /// Every problem found, each naming the field and the fix, for requests with several
    /// (an invalid application or catalog); left out when there are none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
}

/// The codes an error answer can carry, with the HTTP status each comes with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// 400: the request cannot be understood as given (bad JSON, bad id, unknown parameter).
    BadRequest,
    /// 401: no token, an unknown token, or a webhook callback whose signature does not check.
    Unauthorized,
    /// 403: the token's role may not do this.
    Forbidden,
    /// 404: no such case, item or endpoint.
    NotFound,
    /// 409: the case's state does not allow this event now, or the catalog moved on.
    IllegalTransition,
    /// 409: a roster update was refused (not newer, no quorum, another federation's, or it
    /// reinstates a revoked key).
    RosterRefused,
    /// 409: the upload this chunk continues was dropped for not being completed in time;
    /// start over from offset 0.
    UploadExpired,
    /// 413: the body is over the node's limit, or a material over the size allowed.
    TooLarge,
    /// 429: too many licence requests from this window (or this region) in the hour.
    TooManyRequests,
    /// 422: the application does not meet the item's requirements; `problems` lists each.
    InvalidApplication,
    /// 422: the catalog file is invalid; `problems` lists each problem.
    InvalidCatalog,
    /// 503: the node could not keep the change (storage) or its engine stopped; retry later.
    Unavailable,
    /// 503: the engine's queue is full; retry shortly.
    Busy,
    /// 503: the node was restored from a backup and takes no writes until its peers gave
    /// back what it wrote after the backup; the message names the peers it waits for.
    Recovering,
}

impl ApiError {
    /// An error with a status, code and message.
    pub fn new(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            problems: Vec::new(),
        }
    }

    /// 400 for a request that cannot be understood as given.
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, ErrorCode::BadRequest, message)
    }

    /// 401 for a missing or unknown token.
    pub fn unauthorized(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, ErrorCode::Unauthorized, message)
    }

    /// 403 for a token whose role may not do this.
    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, ErrorCode::Forbidden, message)
    }
}

impl From<crate::daemon::AskError> for ApiError {
    fn from(e: crate::daemon::AskError) -> ApiError {
        match e {
            crate::daemon::AskError::Busy => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorCode::Busy,
                e.to_string(),
            ),
            crate::daemon::AskError::Engine(e) => e.into(),
        }
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> ApiError {
        let message = e.to_string();
        let (status, code, problems) = match e {
            Error::NotFound(_) => (StatusCode::NOT_FOUND, ErrorCode::NotFound, vec![]),
            // A sealed material this node holds no key for: the message names who can read it.
            Error::Forbidden(_) | Error::NotARecipient { .. } => {
                (StatusCode::FORBIDDEN, ErrorCode::Forbidden, vec![])
            }
            Error::IllegalTransition(_) | Error::BadEvent(_) => {
                (StatusCode::CONFLICT, ErrorCode::IllegalTransition, vec![])
            }
            Error::RosterRefused(_) | Error::InvalidRoster(_) => {
                (StatusCode::CONFLICT, ErrorCode::RosterRefused, vec![])
            }
            Error::InvalidApplication(p) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                ErrorCode::InvalidApplication,
                p,
            ),
            Error::InvalidCatalog(p) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                ErrorCode::InvalidCatalog,
                p,
            ),
            Error::RateLimited(_) => (
                StatusCode::TOO_MANY_REQUESTS,
                ErrorCode::TooManyRequests,
                vec![],
            ),
            Error::TooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, ErrorCode::TooLarge, vec![]),
            Error::UploadExpired(_) => (StatusCode::CONFLICT, ErrorCode::UploadExpired, vec![]),
            // A peer not connected on a version that carries the request: retry later.
            Error::NoCommonVersion(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorCode::Unavailable,
                vec![],
            ),
            // A sealed material in the store that does not open: as a failed store.
            Error::Storage(_) | Error::SealBroken(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorCode::Unavailable,
                vec![],
            ),
            Error::Recovering(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorCode::Recovering,
                vec![],
            ),
            _ => (StatusCode::BAD_REQUEST, ErrorCode::BadRequest, vec![]),
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
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: self.message,
                problems: self.problems,
            },
        };
        (self.status, Json(body)).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn answer(e: ApiError) -> (StatusCode, ErrorBody) {
        let response = e.into_response();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        let body: ErrorBody = serde_json::from_slice(&bytes)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&bytes)));
        (status, body)
    }

    /// Every error the API can answer with has the documented shape and a documented code.
    #[tokio::test]
    async fn error_answers_match_the_documented_body() {
        let cases = [
            ApiError::bad_request("x"),
            ApiError::unauthorized("x"),
            ApiError::forbidden("x"),
            ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, ErrorCode::TooLarge, "x"),
            Error::NotFound("x".into()).into(),
            Error::Forbidden("x".into()).into(),
            Error::IllegalTransition("x".into()).into(),
            Error::BadEvent("x".into()).into(),
            Error::InvalidApplication(vec!["a".into(), "b".into()]).into(),
            Error::InvalidCatalog(vec!["a".into()]).into(),
            Error::TooLarge {
                what: "x",
                size: 2,
                limit: 1,
            }
            .into(),
            Error::Storage("x".into()).into(),
            Error::InvalidInput("x".into()).into(),
            Error::RosterRefused("x".into()).into(),
            Error::UploadExpired("x".into()).into(),
            Error::Recovering("x".into()).into(),
            Error::RateLimited("x".into()).into(),
            crate::daemon::AskError::Busy.into(),
        ];
        for e in cases {
            let code = serde_json::to_value(e.code).unwrap();
            let (status, body) = answer(e).await;
            assert_eq!(
                serde_json::to_value(body.error.code).unwrap(),
                code,
                "{code}"
            );
            let expected = match body.error.code {
                ErrorCode::BadRequest => 400,
                ErrorCode::Unauthorized => 401,
                ErrorCode::Forbidden => 403,
                ErrorCode::NotFound => 404,
                ErrorCode::IllegalTransition
                | ErrorCode::RosterRefused
                | ErrorCode::UploadExpired => 409,
                ErrorCode::TooLarge => 413,
                ErrorCode::TooManyRequests => 429,
                ErrorCode::InvalidApplication | ErrorCode::InvalidCatalog => 422,
                ErrorCode::Unavailable | ErrorCode::Busy | ErrorCode::Recovering => 503,
            };
            assert_eq!(status.as_u16(), expected, "{code}");
        }
        let (_, body) =
            answer(Error::InvalidApplication(vec!["a".into(), "b".into()]).into()).await;
        assert_eq!(body.error.problems, ["a", "b"]);
    }
}
