//! Catalog search and item detail with the materials checklist.

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use serde::Serialize;
use tongban_protocol::catalog::{Material, Mode, ServiceItem, TrustLevel};
use tongban_protocol::engine::{CatalogQuery, ItemHit};
use tongban_protocol::ids::RegionId;

use super::error::{ApiError, ErrorBody, ErrorCode};
use super::{AppState, auth, bounded_param, enum_param, param, query};
use crate::daemon::Command;

/// `GET /api/v1/catalog/items?text=&code=&department=&mode=&region=&limit=`
#[utoipa::path(
    get,
    path = "/api/v1/catalog/items",
    tag = "catalog",
    summary = "Search the service items of every member region",
    description = "Searches this region's catalog and the latest signed catalog of every other member region. \
        Every parameter given must match; with none, the first `limit` items are listed. A hit names the catalog \
        version an application must be prepared against.",
    params(
        ("text" = Option<String>, Query, description = "Words that must all occur in the item's name (事项名称), separated by spaces.", example = "个体工商户"),
        ("code" = Option<String>, Query, description = "A 基本编码 or 实施编码, or its beginning.", example = "0000123456"),
        ("department" = Option<String>, Query, description = "Text the item's department (主管部门) must contain, such as 市场监管."),
        ("mode" = Option<Mode>, Query, description = "A 跨省通办 mode the item must support."),
        ("region" = Option<RegionId>, Query, description = "Only items handled by this region."),
        ("limit" = Option<usize>, Query, description = "At most this many hits: 1 to 500, default 50.", minimum = 1, maximum = 500),
    ),
    responses(
        (status = 200, description = "The matching items, in catalog order.", body = SearchAnswer),
        (status = 400, description = "An unknown or malformed query parameter.", body = ErrorBody),
        (status = 401, description = "No token, or an unknown one.", body = ErrorBody),
        (status = 503, description = "The node's engine is not answering.", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub(super) async fn search(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Json<SearchAnswer>, ApiError> {
    auth::actor(&state, &headers)?;
    let q = query(
        raw,
        &["text", "code", "department", "mode", "region", "limit"],
    )?;
    let query = CatalogQuery {
        text: q.get("text").cloned(),
        code: q.get("code").cloned(),
        department: q.get("department").cloned(),
        mode: enum_param::<Mode>(&q, "mode", "fully_online, proxy_intake, multi_site")?,
        region: param::<RegionId>(&q, "region")?,
    };
    let limit = bounded_param(&q, "limit", 1, 500)?.unwrap_or(50);
    let hits = state
        .engine
        .ask(|reply| Command::Search {
            query,
            limit,
            reply,
        })
        .await?;
    Ok(Json(SearchAnswer { items: hits }))
}

/// `GET /api/v1/catalog/items/{region}/{code}`: the item and its materials checklist.
#[utoipa::path(
    get,
    path = "/api/v1/catalog/items/{region}/{code}",
    tag = "catalog",
    summary = "One service item with its materials checklist",
    description = "The item as the handling region's latest catalog has it, the catalog's version, and the \
        checklist of materials (申请材料) a window goes through with the applicant.",
    params(
        ("region" = RegionId, Path, description = "The handling region."),
        ("code" = String, Path, description = "The item's 实施编码 in that region's catalog."),
    ),
    responses(
        (status = 200, description = "The item.", body = ItemAnswer),
        (status = 400, description = "The region id is malformed.", body = ErrorBody),
        (status = 401, description = "No token, or an unknown one.", body = ErrorBody),
        (status = 404, description = "The region's catalog has no such item (or this node holds no catalog of the region).", body = ErrorBody),
        (status = 503, description = "The node's engine is not answering.", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub(super) async fn item(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((region, code)): Path<(String, String)>,
) -> Result<Json<ItemAnswer>, ApiError> {
    auth::actor(&state, &headers)?;
    let region: RegionId = region
        .parse()
        .map_err(|e: tongban_protocol::Error| ApiError::bad_request(e.to_string()))?;
    let found = state
        .engine
        .ask(|reply| Command::Item {
            region: region.clone(),
            code: code.clone(),
            reply,
        })
        .await?;
    let (version, item) = found.ok_or_else(|| {
        ApiError::from(tongban_protocol::Error::NotFound(format!(
            "item {code} of region {region}; search /api/v1/catalog/items"
        )))
    })?;
    let checklist = item.materials.iter().map(ChecklistEntry::of).collect();
    Ok(Json(ItemAnswer {
        region,
        catalog_version: version,
        item,
        checklist,
    }))
}

/// `POST /api/v1/catalog/publish` (admin): reads this region's catalog file again and, if its
/// version is newer, signs and announces it to every peer — no restart needed.
#[utoipa::path(
    post,
    path = "/api/v1/catalog/publish",
    tag = "catalog",
    summary = "Publish this region's catalog file again (admin)",
    description = "Reads the node's catalog file again and, if its version is newer than the one published, \
        signs it and announces it to every peer; no restart needed. No request body.",
    responses(
        (status = 200, description = "The file's version, and whether it was new and so published.", body = PublishAnswer),
        (status = 400, description = "The catalog file is for another region.", body = ErrorBody),
        (status = 401, description = "No token, or an unknown one.", body = ErrorBody),
        (status = 403, description = "The token is not an admin token.", body = ErrorBody),
        (status = 422, description = "The catalog file cannot be read or is invalid; the message says where.", body = ErrorBody),
        (status = 503, description = "The node could not keep the catalog, or its engine is not answering.", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub(super) async fn publish(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<PublishAnswer>, ApiError> {
    let actor = auth::actor(&state, &headers)?;
    if !matches!(actor, tongban_protocol::engine::Actor::Admin) {
        return Err(ApiError::forbidden(
            "publishing the catalog needs an admin token",
        ));
    }
    let file = state.config.load_catalog().map_err(|e| {
        ApiError::new(
            axum::http::StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::InvalidCatalog,
            e.to_string(),
        )
    })?;
    let version = file.version;
    let published = state
        .engine
        .ask(|reply| Command::Publish {
            catalog: Box::new(file),
            reply,
        })
        .await?;
    Ok(Json(PublishAnswer { version, published }))
}

// The answers above: the handlers answer with them, and the OpenAPI document describes them.

/// The answer to a catalog search.
#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct SearchAnswer {
    /// The hits.
    pub items: Vec<ItemHit>,
}

/// One item with its materials checklist.
#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct ItemAnswer {
    /// The handling region.
    pub region: RegionId,
    /// The version of the region's catalog the item is from; an application names it.
    pub catalog_version: u64,
    /// The item with all its GB/T 39046 elements.
    pub item: ServiceItem,
    /// The item's materials, as a checklist for the window.
    pub checklist: Vec<ChecklistEntry>,
}

/// One line of an item's materials checklist.
#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct ChecklistEntry {
    /// The material's id; uploads and applications name it.
    pub id: String,
    /// 材料名称.
    pub name: String,
    /// 是否必备.
    pub required: bool,
    /// 原件份数.
    pub originals: u8,
    /// 复印件份数.
    pub copies: u8,
    /// Whether an electronic copy is accepted in place of paper.
    pub electronic: bool,
    /// 可信等级.
    pub trust: TrustLevel,
    /// 容缺: may follow after acceptance.
    pub may_follow_later: bool,
    /// 告知承诺: need not be handed in when the applicant pledges (items that take pledges).
    pub pledge_waives: bool,
}

impl ChecklistEntry {
    /// The checklist line of one of the item's materials.
    fn of(m: &Material) -> ChecklistEntry {
        ChecklistEntry {
            id: m.id.clone(),
            name: m.name.clone(),
            required: m.required,
            originals: m.originals,
            copies: m.copies,
            electronic: m.electronic,
            trust: m.trust,
            may_follow_later: m.may_follow_later,
            pledge_waives: m.pledge_waives,
        }
    }
}

/// The answer to a catalog publication.
#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct PublishAnswer {
    /// The catalog file's version.
    pub version: u64,
    /// Whether it was newer than the published one, and so was signed and announced.
    pub published: bool,
}
