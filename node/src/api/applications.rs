//! Applications: intake, worklists, case detail, withdrawal, status events, and the webhook
//! adapter's status callbacks.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};
use tongban_protocol::case::calendar::Date;
use tongban_protocol::case::clock::Colour;
use tongban_protocol::case::events::EventKind;
use tongban_protocol::case::fold::Stage;
use tongban_protocol::engine::{Actor, IntakeRequest, WorklistFilter};
use tongban_protocol::ids::{CaseId, WindowId};

use super::error::ApiError;
use super::{AppState, auth, body, enum_param, json, param, query};
use crate::daemon::Command;

fn case_id(id: &str) -> Result<CaseId, ApiError> {
    id.parse().map_err(|e: tongban_protocol::Error| ApiError::bad_request(e.to_string()))
}

/// `POST /api/v1/applications`: 201 with the case id and the signed receipt (收件凭证).
pub async fn intake(
    State(state): State<AppState>,
    headers: HeaderMap,
    raw: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let actor = auth::actor(&state, &headers)?;
    if !matches!(actor, Actor::Window { .. }) {
        return Err(ApiError::forbidden("applications are taken by windows: use a window token"));
    }
    let request: IntakeRequest = json(&body(raw)?)?;
    let key = headers
        .get("idempotency-key")
        .map(|v| v.to_str().map(str::to_string))
        .transpose()
        .map_err(|_| ApiError::bad_request("the Idempotency-Key header is not text"))?;
    let receipt = state
        .engine
        .ask(|r| Command::Intake(actor, Box::new(request), key, r))
        .await?;
    let r = receipt.receipt.payload();
    let printable = format!(
        "收件凭证\n办件编号：{}\n收件地：{}\n收件时间：{}\n回执摘要：{}",
        r.case,
        r.by,
        Date::of(r.at),
        r.event_digest
    );
    let status = if receipt.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        Json(json!({
            "case": receipt.case,
            "receipt": r,
            "receipt_cose": hex::encode(receipt.receipt.bytes()),
            "printable": printable,
        })),
    ))
}

/// `GET /api/v1/applications?stage=&colour=&item=&window=&from=&until=&limit=`
pub async fn worklist(State(state): State<AppState>, headers: HeaderMap, RawQuery(raw): RawQuery) -> Result<Json<Value>, ApiError> {
    auth::actor(&state, &headers)?;
    let q = query(raw, &["stage", "colour", "item", "window", "from", "until", "limit"])?;
    let day = |name: &str| -> Result<Option<tongban_protocol::ids::Timestamp>, ApiError> {
        Ok(param::<Date>(&q, name)?.map(|d| d.start_of_day()))
    };
    let filter = WorklistFilter {
        stage: enum_param::<Stage>(
            &q,
            "stage",
            "submitted, received, accepted, in_review, concluded, rejected, withdrawn",
        )?,
        colour: enum_param::<Colour>(&q, "colour", "green, yellow, red")?,
        impl_code: q.get("item").cloned(),
        window: param::<WindowId>(&q, "window")?,
        from: day("from")?,
        until: day("until")?,
        limit: param::<usize>(&q, "limit")?,
    };
    let list = state.engine.ask(|r| Command::Worklist(filter, r)).await?;
    Ok(Json(serde_json::to_value(list).map_err(|e| ApiError::bad_request(e.to_string()))?))
}

/// `GET /api/v1/applications/{id}`: both timelines, the state and the clock.
pub async fn view(State(state): State<AppState>, headers: HeaderMap, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    auth::actor(&state, &headers)?;
    let case = case_id(&id)?;
    let view = state.engine.ask(|r| Command::View(case, r)).await?;
    Ok(Json(serde_json::to_value(*view).map_err(|e| ApiError::bad_request(e.to_string()))?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Withdrawal {
    reason: String,
}

/// `POST /api/v1/applications/{id}/withdrawal` `{"reason": "..."}`: the applicant asks to
/// withdraw; the handling region confirms or, if it already decided, the request is declined.
pub async fn withdraw(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    raw: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let actor = auth::actor(&state, &headers)?;
    let case = case_id(&id)?;
    let w: Withdrawal = json(&body(raw)?)?;
    if w.reason.trim().is_empty() || w.reason.len() > 2000 {
        return Err(ApiError::bad_request("reason: give the applicant's reason (up to 2000 bytes)"));
    }
    let kind = EventKind::WithdrawalRequested { reason: w.reason };
    let event = state
        .engine
        .ask(|r| Command::WriteEvent(actor, case, Box::new(kind), r))
        .await?;
    Ok((StatusCode::ACCEPTED, Json(json!({ "event": event }))))
}

/// `POST /api/v1/applications/{id}/events` with an event kind as JSON, such as
/// `{"accepted": null}` or `{"concluded": {"outcome": {...}}}`: back offices report
/// handling-side events, windows record intake-side ones.
pub async fn event(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    raw: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let actor = auth::actor(&state, &headers)?;
    let case = case_id(&id)?;
    let kind: EventKind = json(&body(raw)?)?;
    let event = state
        .engine
        .ask(|r| Command::WriteEvent(actor, case, Box::new(kind), r))
        .await?;
    Ok((StatusCode::CREATED, Json(json!({ "event": event }))))
}

/// `POST /api/v1/backoffice/webhook`: a status callback from the region platform, signed
/// with the shared HMAC key (`X-Tongban-Signature: sha256=<hex>`).
pub async fn webhook_callback(
    State(state): State<AppState>,
    headers: HeaderMap,
    raw: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let key = state
        .webhook_key
        .clone()
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "not_found", "this node's back office is not a webhook"))?;
    let bytes = body(raw)?;
    let signature = headers
        .get("x-tongban-signature")
        .and_then(|v| v.to_str().ok());
    let report = tongban_adapters::webhook::verify_callback(&key, &bytes, signature)
        .map_err(|e| ApiError::unauthorized(e.to_string()))?;
    let case = report.case.clone();
    let kind = report.event;
    let event = state
        .engine
        .ask(|r| Command::WriteEvent(Actor::BackOffice, case, Box::new(kind), r))
        .await?;
    Ok((StatusCode::CREATED, Json(json!({ "event": event }))))
}
