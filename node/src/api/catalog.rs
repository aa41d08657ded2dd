//! Catalog search and item detail with the materials checklist.

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use serde_json::{Value, json};
use tongban_protocol::catalog::Mode;
use tongban_protocol::engine::CatalogQuery;
use tongban_protocol::ids::RegionId;

use super::error::ApiError;
use super::{AppState, auth, enum_param, param, query};
use crate::daemon::Command;

/// `GET /api/v1/catalog/items?text=&code=&department=&mode=&region=&limit=`
pub async fn search(State(state): State<AppState>, headers: HeaderMap, RawQuery(raw): RawQuery) -> Result<Json<Value>, ApiError> {
    auth::actor(&state, &headers)?;
    let q = query(raw, &["text", "code", "department", "mode", "region", "limit"])?;
    let query = CatalogQuery {
        text: q.get("text").cloned(),
        code: q.get("code").cloned(),
        department: q.get("department").cloned(),
        mode: enum_param::<Mode>(&q, "mode", "fully_online, proxy_intake, multi_site")?,
        region: param::<RegionId>(&q, "region")?,
    };
    let limit = param::<usize>(&q, "limit")?.unwrap_or(50).clamp(1, 500);
    let hits = state.engine.ask(|r| Command::Search(query, limit, r)).await?;
    Ok(Json(json!({ "items": hits })))
}

/// `GET /api/v1/catalog/items/{region}/{code}`: the item and its materials checklist.
pub async fn item(State(state): State<AppState>, headers: HeaderMap, Path((region, code)): Path<(String, String)>) -> Result<Json<Value>, ApiError> {
    auth::actor(&state, &headers)?;
    let region: RegionId = region.parse().map_err(|e: tongban_protocol::Error| ApiError::bad_request(e.to_string()))?;
    let found = state.engine.ask(|r| Command::Item(region.clone(), code.clone(), r)).await?;
    let (version, item) = found.ok_or_else(|| {
        ApiError::from(tongban_protocol::Error::NotFound(format!(
            "item {code} of region {region}; search /api/v1/catalog/items"
        )))
    })?;
    let checklist: Vec<Value> = item
        .materials
        .iter()
        .map(|m| {
            json!({
                "id": m.id,
                "name": m.name,
                "required": m.required,
                "originals": m.originals,
                "copies": m.copies,
                "electronic": m.electronic,
                "trust": m.trust,
                "may_follow_later": m.may_follow_later,
            })
        })
        .collect();
    Ok(Json(json!({
        "region": region,
        "catalog_version": version,
        "item": item,
        "checklist": checklist,
    })))
}
