//! Material uploads in chunks, checked against their digest.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use tongban_protocol::engine::{Actor, UploadStatus};
use tongban_protocol::ids::Digest;

use super::error::{ApiError, ErrorBody};
use super::{AppState, auth, body, param, query};
use crate::daemon::Command;

/// `PUT /api/v1/materials/{digest}?offset=N&total=T` with the chunk's bytes as the body.
#[utoipa::path(
    put,
    path = "/api/v1/materials/{digest}",
    tag = "materials",
    summary = "Upload a material, whole or in chunks",
    description = "Uploads one material (a scan, a PDF, an OFD file) before the application that names it. The \
        material is addressed by the federation's digest of its bytes (SHA-256, or SM3 in a federation of the `sm` \
        suite; `/healthz` names the suite); chunks of at most 1 MiB come in order, each at the \
        offset where the previous one ended (a repeated chunk is harmless). Once all `total` bytes are in, the \
        node checks the digest and keeps the material; an application then lists it by digest. Uploading a \
        material the node already holds answers complete at once. A material a window uploaded is that window's \
        to cite until an application cites it; another window that has the same file uploads it too (its bytes \
        are matched against the kept material) and may then cite it as well. A material an admin uploaded may be \
        cited by any window. An upload not completed within 24 hours of its first chunk (`upload_expiry_ms`) is \
        dropped: a later chunk of it is answered 409 `upload_expired`, and the upload starts over from offset 0. \
        Windows and admins only.",
    params(
        ("digest" = Digest, Path, description = "The federation's digest (SHA-256, or SM3 in the `sm` suite) of the whole material, as 64 hex digits."),
        ("offset" = Option<u64>, Query, description = "Where this chunk starts in the material, in bytes; default 0.", minimum = 0, maximum = 67108863),
        ("total" = u64, Query, description = "The whole material's size in bytes (1 byte to 64 MiB).", minimum = 1, maximum = 67108864),
        ("X-Operator" = Option<String>, Header, nullable = false, max_length = 64, description = "The window operator's staff number (工号), for the audit trail; default the token's name."),
    ),
    request_body(
        content = MaterialChunk,
        content_type = "application/octet-stream",
        description = "The chunk's bytes: 1 byte to 1 MiB, and within the node's http.max_body_bytes.",
    ),
    responses(
        (status = 200, description = "How the upload stands: `complete` once the whole material is kept.", body = UploadStatus),
        (status = 400, description = "A malformed digest; `total` missing; a chunk out of order, empty, over 1 MiB or past `total`; \
            or the whole material's digest is not the one in the path (upload it again); or, for a material kept here that \
            another window uploaded, bytes that are not the material's or a `total` that is not its size.", body = ErrorBody),
        (status = 401, description = "No token, or an unknown one.", body = ErrorBody),
        (status = 403, description = "A back-office token: materials are uploaded by windows; or another window's upload \
            of the same material is in progress.", body = ErrorBody),
        (status = 409, description = "`upload_expired`: the upload this chunk continues was not completed within 24 hours \
            and was dropped; start over from offset 0.", body = ErrorBody),
        (status = 413, description = "The body is over the node's limit (http.max_body_bytes).", body = ErrorBody),
        (status = 503, description = "The node could not keep the chunk, or its engine is not answering.", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub(super) async fn upload(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(digest): Path<String>,
    RawQuery(raw): RawQuery,
    data: Result<Bytes, BytesRejection>,
) -> Result<Json<UploadStatus>, ApiError> {
    let actor = auth::actor(&state, &headers)?;
    put_chunk(&state, actor, &digest, raw, data).await.map(Json)
}

/// One chunk of an upload from `actor`: the API's and the pages' uploads both come here.
pub(crate) async fn put_chunk(
    state: &AppState,
    actor: Actor,
    digest: &str,
    raw: Option<String>,
    data: Result<Bytes, BytesRejection>,
) -> Result<UploadStatus, ApiError> {
    if matches!(actor, Actor::BackOffice) {
        return Err(ApiError::forbidden("materials are uploaded by windows"));
    }
    let digest = Digest::from_hex(digest).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let q = query(raw, &["offset", "total"])?;
    let offset = param::<u64>(&q, "offset")?.unwrap_or(0);
    let total = param::<u64>(&q, "total")?.ok_or_else(|| {
        ApiError::bad_request("query parameter total: give the material's size in bytes")
    })?;
    let data = body(data)?;
    state
        .engine
        .ask(|reply| Command::Upload {
            actor,
            digest,
            offset,
            total,
            data: data.to_vec(),
            reply,
        })
        .await
        .map_err(ApiError::from)
}

/// A chunk of a material's bytes, as the body of an upload.
pub(super) struct MaterialChunk;

impl utoipa::PartialSchema for MaterialChunk {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .content_media_type("application/octet-stream")
            .description(Some("Raw bytes."))
            .into()
    }
}

impl utoipa::ToSchema for MaterialChunk {}
