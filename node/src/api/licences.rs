//! 免证办: a window asks the region that issued an applicant's licence for it, with the
//! applicant's consent, and follows the request; the administrator imports licences from the
//! region's own 电子证照库 and reads the library and the requests other regions made of it.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use tongban_protocol::engine::{
    Actor, IssuedLicence, LibraryLicence, LicenceAsk, LicenceImport, LicenceRequestView,
};

use super::error::{ApiError, ErrorBody};
use super::{AppState, auth, body, bounded_param, json, param, query};
use crate::daemon::{Command, LicenceRequestsQuery};

/// `POST /api/v1/licence-requests`: a window asks the issuing region for an applicant's
/// licence, with their consent.
#[utoipa::path(
    post,
    path = "/api/v1/licence-requests",
    tag = "licences",
    summary = "Ask the issuing region for an applicant's 电子证照 (免证办)",
    description = "A window asks the region that issued a licence whether the applicant holds one of a type \
        in force, to cite it in an application in place of a copy. The request carries the applicant's consent \
        (授权: the item it is for, how the applicant confirmed) and is signed by this node, kept and audited at \
        both ends. Only a type the item lists for one of its materials (`e_licence`) may be asked for. The \
        answer comes from the issuing region: follow the request with GET until its status is no longer \
        `pending`; a `found` licence may then be cited by its digest. A request to this node's own region is \
        answered at once. Window tokens only; each window may ask a limited number per hour (429 past it).",
    request_body(
        content = LicenceAsk,
        description = "What is asked, and the applicant's consent. Unknown fields are refused.",
        example = json!({
            "region": "110000",
            "kind": "营业执照",
            "holder": {"id_type": "resident_id_card", "id_number": "120101199003071234"},
            "consent": {
                "item": {"region": "130000", "impl_code": "130000010100400002"},
                "method": "签字确认",
                "confirmed": true
            }
        }),
    ),
    responses(
        (status = 202, description = "Asked: the request as sent, `pending` until the issuing region answers (or already answered, from this region's own library).", body = LicenceRequestView),
        (status = 400, description = "The body is not the JSON expected.", body = ErrorBody),
        (status = 401, description = "No token, or an unknown one.", body = ErrorBody),
        (status = 403, description = "Not a window token.", body = ErrorBody),
        (status = 404, description = "The region is not a member of the federation.", body = ErrorBody),
        (status = 422, description = "No consent, consent not confirmed, an item not in the catalogs held here, or a type the item lists for none of its materials: refused and recorded in the audit log.", body = ErrorBody),
        (status = 429, description = "This window asked for its hourly number of licences: refused and recorded in the audit log.", body = ErrorBody),
        (status = 503, description = "The issuing region's node is not connected on a protocol version that carries licence requests, the node could not keep the request, or its engine is not answering: try again.", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub(super) async fn ask(
    State(state): State<AppState>,
    headers: HeaderMap,
    raw: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<LicenceRequestView>), ApiError> {
    let actor = auth::actor(&state, &headers)?;
    if !matches!(actor, Actor::Window { .. }) {
        return Err(ApiError::forbidden(
            "licence requests are a window's: use a window token",
        ));
    }
    let ask: LicenceAsk = json(&body(raw)?)?;
    let view = state
        .engine
        .ask(|reply| Command::AskLicence {
            actor,
            ask: Box::new(ask),
            reply,
        })
        .await?;
    Ok((StatusCode::ACCEPTED, Json(view)))
}

/// `GET /api/v1/licence-requests/{id}`: where one of this window's licence requests stands.
#[utoipa::path(
    get,
    path = "/api/v1/licence-requests/{id}",
    tag = "licences",
    summary = "A licence request and its answer",
    params(("id" = u64, Path, description = "The request's number, as the POST answered it.")),
    responses(
        (status = 200, description = "The request: `pending`, `found` (with the licence, checked by this node), `none` or `refused` (with the reason).", body = LicenceRequestView),
        (status = 400, description = "The id is not a number.", body = ErrorBody),
        (status = 401, description = "No token, or an unknown one.", body = ErrorBody),
        (status = 404, description = "No such request asked by this window (an admin token sees every one).", body = ErrorBody),
        (status = 503, description = "The node's engine is not answering.", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub(super) async fn one(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<LicenceRequestView>, ApiError> {
    let actor = auth::actor(&state, &headers)?;
    let id: u64 = id
        .parse()
        .map_err(|_| ApiError::bad_request(format!("licence request id {id:?}: not a number")))?;
    let mut views = state
        .engine
        .ask(|reply| Command::LicenceRequests {
            actor,
            which: LicenceRequestsQuery::One(id),
            reply,
        })
        .await?;
    views
        .pop()
        .map(Json)
        .ok_or_else(|| tongban_protocol::Error::NotFound(format!("licence request {id}")).into())
}

/// `GET /api/v1/licence-requests`: the requests this window asked, or (admin,
/// `answered=true`) the requests other regions asked this region.
#[utoipa::path(
    get,
    path = "/api/v1/licence-requests",
    tag = "licences",
    summary = "Licence requests asked here, or answered here (admin)",
    description = "A window lists the licence requests it asked; an administrator lists every request this \
        node's windows asked or, with `answered=true`, every request other regions asked of this region, with \
        the consent each carried: the record that makes fishing visible.",
    params(
        ("answered" = Option<bool>, Query, description = "true: the requests other regions asked of this region (admin only); default false."),
        ("limit" = Option<usize>, Query, description = "At most this many, newest first: 1 to 1000, default 100.", minimum = 1, maximum = 1000),
    ),
    responses(
        (status = 200, description = "The requests, newest first.", body = [LicenceRequestView]),
        (status = 400, description = "An unknown or malformed query parameter.", body = ErrorBody),
        (status = 401, description = "No token, or an unknown one.", body = ErrorBody),
        (status = 403, description = "Neither a window token nor an admin token, or a window asking for the answered ones.", body = ErrorBody),
        (status = 503, description = "The node's engine is not answering.", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub(super) async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Json<Vec<LicenceRequestView>>, ApiError> {
    let actor = auth::actor(&state, &headers)?;
    let q = query(raw, &["answered", "limit"])?;
    let answered = param::<bool>(&q, "answered")?.unwrap_or(false);
    let limit = bounded_param(&q, "limit", 1, 1000)?.unwrap_or(100);
    let which = if answered {
        LicenceRequestsQuery::Answered(limit)
    } else {
        LicenceRequestsQuery::Asked(limit)
    };
    let views = state
        .engine
        .ask(|reply| Command::LicenceRequests {
            actor,
            which,
            reply,
        })
        .await?;
    Ok(Json(views))
}

/// `GET /api/v1/admin/licences`: the region's licence library.
#[utoipa::path(
    get,
    path = "/api/v1/admin/licences",
    tag = "licences",
    summary = "The licence library (admin)",
    description = "Every licence this node holds: those its cases issued, those imported from the region's \
        电子证照库, and those other regions gave its windows, each with its digest and how it came here.",
    params(
        ("holder" = Option<String>, Query, description = "Only the licences of the holder with this ID number or 统一社会信用代码."),
    ),
    responses(
        (status = 200, description = "The licences.", body = [LibraryLicence]),
        (status = 400, description = "An unknown query parameter.", body = ErrorBody),
        (status = 401, description = "No token, or an unknown one.", body = ErrorBody),
        (status = 403, description = "Not an admin token.", body = ErrorBody),
        (status = 503, description = "The node's engine is not answering.", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub(super) async fn library(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Json<Vec<LibraryLicence>>, ApiError> {
    super::roster::admin(&state, &headers, "reading the licence library")?;
    let q = query(raw, &["holder"])?;
    let holder = q.get("holder").cloned();
    let licences = state
        .engine
        .ask(|reply| Command::Library { holder, reply })
        .await?;
    Ok(Json(licences))
}

/// `POST /api/v1/admin/licences`: imports a licence from the region's 电子证照库.
#[utoipa::path(
    post,
    path = "/api/v1/admin/licences",
    tag = "licences",
    summary = "Import a licence from the region's 电子证照库 (admin or back office)",
    description = "The node signs the licence as this region's (`tongban/licence; v=1`) and keeps it, to answer \
        other regions' requests for it. Importing the same licence again gives the one kept; the same type and \
        number with other content is refused (a changed licence is issued under a new number).",
    request_body(
        content = LicenceImport,
        example = json!({
            "kind": "营业执照",
            "number": "91110105MA01ABCD2X",
            "holder": {"name": "张三", "id_type": "resident_id_card", "id_number": "120101199003071234"},
            "issuer": "北京市朝阳区市场监督管理局",
            "valid_from": "2025-01-02",
            "fields": {"名称": "张三小吃店", "经营范围": "餐饮服务"}
        }),
    ),
    responses(
        (status = 201, description = "Kept: the licence as signed, with its digest.", body = IssuedLicence),
        (status = 400, description = "The body is not the JSON expected.", body = ErrorBody),
        (status = 401, description = "No token, or an unknown one.", body = ErrorBody),
        (status = 403, description = "Neither an admin nor a back-office token.", body = ErrorBody),
        (status = 409, description = "A licence of that type and number is kept with other content.", body = ErrorBody),
        (status = 422, description = "The licence is malformed; `problems` names each field.", body = ErrorBody),
        (status = 503, description = "The node could not keep it, or its engine is not answering.", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub(super) async fn import(
    State(state): State<AppState>,
    headers: HeaderMap,
    raw: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<IssuedLicence>), ApiError> {
    let actor = auth::actor(&state, &headers)?;
    let import: LicenceImport = json(&body(raw)?)?;
    let kept = state
        .engine
        .ask(|reply| Command::ImportLicence {
            actor,
            import: Box::new(import),
            reply,
        })
        .await?;
    Ok((StatusCode::CREATED, Json(kept)))
}
