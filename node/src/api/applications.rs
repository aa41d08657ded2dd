//! Applications: intake, worklists, case detail, withdrawal, status events, and the webhook
//! adapter's status callbacks.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};
use tongban_protocol::case::calendar::Date;
use tongban_protocol::case::clock::Colour;
use tongban_protocol::case::events::{Event, EventKind};
use tongban_protocol::case::fold::Stage;
use tongban_protocol::engine::{Actor, IntakeRequest, WorklistFilter};
use tongban_protocol::engine::{CaseView, Report, Worklist};
use tongban_protocol::ids::{CaseId, WindowId};
use tongban_protocol::wire::Receipt;

use super::error::{ApiError, ErrorBody, ErrorCode};
use super::{AppState, auth, body, bounded_param, enum_param, json, param, query};
use crate::daemon::Command;
use crate::latency::Latency;

fn case_id(id: &str) -> Result<CaseId, ApiError> {
    id.parse()
        .map_err(|e: tongban_protocol::Error| ApiError::bad_request(e.to_string()))
}

/// `POST /api/v1/applications`: 201 with the case id and the signed receipt (收件凭证).
#[utoipa::path(
    post,
    path = "/api/v1/applications",
    tag = "applications",
    summary = "Take an application at a window (收件)",
    description = "A window submits an application for an item of any member region's catalog, with the materials \
        it uploaded before (by digest). The node checks it against the item, gives it a case id, signs intake \
        event 1 and answers, once that is kept, with the signed receipt (收件凭证) to print for the applicant. A case \
        of another region is then sent to that region; a local one goes to this region's back office. Window \
        tokens only. Send an Idempotency-Key to make a retried request safe: the same key answers 200 with the \
        case the first request created.",
    params(
        ("Idempotency-Key" = Option<String>, Header, nullable = false, min_length = 1, max_length = 128, description = "1–128 characters unique to this application at this window; a retry with the same key returns the first case instead of making a second."),
        ("X-Operator" = Option<String>, Header, nullable = false, min_length = 1, max_length = 64, pattern = "^[A-Za-z0-9._-]{1,64}$", description = "The window operator's staff number (工号): 1 to 64 letters, digits, '-', '_' or '.'; a malformed one is refused (400). Default the token's name."),
    ),
    request_body(
        content = IntakeRequest,
        description = "The application. Unknown fields are refused. The example cites two materials \
            whose bytes are the UTF-8 text `示例：个体工商户设立登记申请书（PDF）` and `示例：申请人居民身份证（扫描件）`: upload them \
            first and it is taken as it stands.",
        example = json!({
            "region": "110000",
            "impl_code": "110000010100400001",
            "catalog_version": 2,
            "applicant": {
                "kind": "natural_person",
                "name": "张三",
                "id_type": "resident_id_card",
                "id_number": "120101199003071234",
                "phone": "13800138000"
            },
            "materials": [
                {
                    "material": "form",
                    "digest": "ccaa5c3d7bf21d5f4707aecf50f5d05273eae86a23316b6d9c61a04c4cff0f99",
                    "size": 54,
                    "media_type": "application/pdf",
                    "original_checked": true
                },
                {
                    "material": "id-card",
                    "digest": "a18dd288b3b611f727ecfcd65752c11db9b965ab852fb7d3c72bd5e0d3b3e65e",
                    "size": 48,
                    "media_type": "image/jpeg",
                    "original_checked": true
                }
            ],
            "form": {"字号": "张三小吃店", "经营场所": "北京市朝阳区某路1号", "经营范围": "餐饮服务"},
            "delivery": {"method": "e_licence", "address": null},
            "accept_with_gaps": ["premises"],
            "pledge": false
        }),
    ),
    responses(
        (status = 201, description = "The case was created; the receipt is signed by this node.", body = IntakeAnswer),
        (status = 200, description = "The Idempotency-Key named a case already taken: its receipt, nothing new created.", body = IntakeAnswer),
        (status = 400, description = "The body is not the JSON expected (the message gives line and column), or the Idempotency-Key is not 1–128 characters.", body = ErrorBody),
        (status = 401, description = "No token, or an unknown one.", body = ErrorBody),
        (status = 403, description = "Not a window token.", body = ErrorBody),
        (status = 404, description = "No such item in the handling region's catalog as this node holds it.", body = ErrorBody),
        (status = 409, description = "The region's catalog moved on from `catalog_version`: check the item again.", body = ErrorBody),
        (status = 413, description = "The body is over the node's limit (http.max_body_bytes).", body = ErrorBody),
        (status = 422, description = "The application does not meet the item's requirements, names a material not uploaded, or names a material another window uploaded that no application cited yet (upload it from this window); `problems` lists each with its fix.", body = ErrorBody),
        (status = 503, description = "The node could not keep the case, or its engine is not answering; retry with the same Idempotency-Key.", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub(super) async fn intake(
    State(state): State<AppState>,
    headers: HeaderMap,
    raw: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<IntakeAnswer>), ApiError> {
    let started = std::time::Instant::now();
    let actor = auth::actor(&state, &headers)?;
    if !matches!(actor, Actor::Window { .. }) {
        return Err(ApiError::forbidden(
            "applications are taken by windows: use a window token",
        ));
    }
    let request: IntakeRequest = json(&body(raw)?)?;
    let key = headers
        .get("idempotency-key")
        .map(|v| v.to_str().map(str::to_string))
        .transpose()
        .map_err(|_| ApiError::bad_request("the Idempotency-Key header is not text"))?;
    let receipt = state
        .engine
        .ask(|reply| Command::Intake {
            actor,
            request: Box::new(request),
            key,
            reply,
        })
        .await?;
    state
        .engine
        .latencies()
        .observe(Latency::Intake, started.elapsed());
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
        Json(IntakeAnswer {
            case: receipt.case,
            receipt: r.clone(),
            receipt_cose: hex::encode(receipt.receipt.bytes()),
            printable,
        }),
    ))
}

/// `GET /api/v1/applications?stage=&colour=&item=&window=&from=&until=&limit=`
#[utoipa::path(
    get,
    path = "/api/v1/applications",
    tag = "applications",
    summary = "A worklist of cases",
    description = "The cases this node knows (collected here or handled here), newest first, with the colour of \
        their time-limit clock. Every parameter given must match.",
    params(
        ("stage" = Option<Stage>, Query, description = "Only cases at this stage."),
        ("colour" = Option<Colour>, Query, description = "Only cases whose clock shows this colour (cases not yet accepted count as green)."),
        ("item" = Option<String>, Query, description = "Only cases for the item with this 实施编码."),
        ("window" = Option<WindowId>, Query, description = "Only cases collected by this window."),
        ("from" = Option<Date>, Query, description = "Only cases collected on or after this day (China time)."),
        ("until" = Option<Date>, Query, description = "Only cases collected before this day (China time): the day itself is not included."),
        ("limit" = Option<usize>, Query, description = "At most this many cases: 1 to 1000, default 100.", minimum = 1, maximum = 1000),
    ),
    responses(
        (status = 200, description = "The worklist; `truncated` says more cases matched. A window token lists only the cases its window collected; a back-office token only the cases this region handles.", body = Worklist),
        (status = 400, description = "An unknown or malformed query parameter.", body = ErrorBody),
        (status = 401, description = "No token, or an unknown one.", body = ErrorBody),
        (status = 403, description = "A window token asked for another window's cases, or an applicant_app token (it lists nothing).", body = ErrorBody),
        (status = 503, description = "The node's engine is not answering.", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub(super) async fn worklist(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Json<Worklist>, ApiError> {
    let actor = auth::actor(&state, &headers)?;
    let q = query(
        raw,
        &[
            "stage", "colour", "item", "window", "from", "until", "limit",
        ],
    )?;
    let day = |name: &str| -> Result<Option<tongban_protocol::ids::Timestamp>, ApiError> {
        Ok(param::<Date>(&q, name)?.map(tongban_protocol::case::calendar::Date::start_of_day))
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
        limit: bounded_param(&q, "limit", 1, 1000)?,
    };
    let list = state
        .engine
        .ask(|reply| Command::Worklist {
            actor,
            filter,
            reply,
        })
        .await?;
    Ok(Json(list))
}

/// `GET /api/v1/applications/{id}`: both timelines, the state and the clock.
#[utoipa::path(
    get,
    path = "/api/v1/applications/{id}",
    tag = "applications",
    summary = "One case: its state, both event logs, the merged timeline and the clock",
    params(
        ("id" = CaseId, Path, description = "The case id (办件编号)."),
    ),
    responses(
        (status = 200, description = "The case as this node holds it: whole for the window that collected it; for the back office (cases this region handles) and administrators, with the applicant's name, ID number, phone, address and form fields masked.", body = CaseView),
        (status = 400, description = "The case id is malformed.", body = ErrorBody),
        (status = 401, description = "No token, or an unknown one.", body = ErrorBody),
        (status = 403, description = "A window token for a case another window collected, a back-office token for a case another region handles, or an applicant_app token (it reads nothing).", body = ErrorBody),
        (status = 404, description = "This node knows no such case.", body = ErrorBody),
        (status = 503, description = "The node's engine is not answering.", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub(super) async fn view(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<CaseView>, ApiError> {
    let actor = auth::actor(&state, &headers)?;
    let case = case_id(&id)?;
    let view = state
        .engine
        .ask(|reply| Command::View { actor, case, reply })
        .await?;
    Ok(Json(*view))
}

/// The body of a withdrawal request.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = WithdrawalRequest)]
struct Withdrawal {
    /// The applicant's reason: 1 to 500 characters, not only spaces.
    #[schema(
        min_length = 1,
        max_length = 500,
        pattern = "\\S",
        example = "申请人决定暂不办理"
    )]
    reason: String,
}

/// `POST /api/v1/applications/{id}/withdrawal` `{"reason": "..."}`: the applicant asks to
/// withdraw; the handling region confirms or, if it already decided, the request is declined.
#[utoipa::path(
    post,
    path = "/api/v1/applications/{id}/withdrawal",
    tag = "applications",
    summary = "Ask to withdraw an application (撤回申请)",
    description = "Records the applicant's request to withdraw as an intake-side event. Only the handling region's \
        confirmation (withdrawal_confirmed) ends the case; a request that arrives after the decision is shown \
        as declined. Window (or admin) tokens of the intake region.",
    params(
        ("id" = CaseId, Path, description = "The case id (办件编号)."),
        ("X-Operator" = Option<String>, Header, nullable = false, min_length = 1, max_length = 64, pattern = "^[A-Za-z0-9._-]{1,64}$", description = "The window operator's staff number (工号): 1 to 64 letters, digits, '-', '_' or '.'; a malformed one is refused (400). Default the token's name."),
    ),
    request_body(content = Withdrawal, description = "The reason."),
    responses(
        (status = 202, description = "The request is recorded and on its way to the handling region.", body = EventAnswer),
        (status = 400, description = "A malformed case id or body, or an empty or over-long reason.", body = ErrorBody),
        (status = 401, description = "No token, or an unknown one.", body = ErrorBody),
        (status = 403, description = "A back-office token, a window that did not collect the case, or this node's region did not collect it.", body = ErrorBody),
        (status = 404, description = "This node knows no such case.", body = ErrorBody),
        (status = 409, description = "The case's state does not allow a withdrawal request now.", body = ErrorBody),
        (status = 413, description = "The body is over the node's limit.", body = ErrorBody),
        (status = 503, description = "The node could not keep the event, or its engine is not answering.", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub(super) async fn withdraw(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    raw: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<EventAnswer>), ApiError> {
    let actor = auth::actor(&state, &headers)?;
    let case = case_id(&id)?;
    let w: Withdrawal = json(&body(raw)?)?;
    if w.reason.trim().is_empty() || w.reason.chars().count() > 500 {
        return Err(ApiError::bad_request(
            "reason: give the applicant's reason (1 to 500 characters, not only spaces)",
        ));
    }
    let kind = EventKind::WithdrawalRequested { reason: w.reason };
    let event = state
        .engine
        .ask(|reply| Command::WriteEvent {
            actor,
            case,
            kind: Box::new(kind),
            reply,
        })
        .await?;
    Ok((StatusCode::ACCEPTED, Json(EventAnswer { event })))
}

/// `POST /api/v1/applications/{id}/events` with an event kind as JSON, such as
/// `{"accepted": {"person": ..., "document_number": ...}}` or `{"concluded": {"outcome": {...}}}`: back offices report
/// handling-side events, windows record intake-side ones.
#[utoipa::path(
    post,
    path = "/api/v1/applications/{id}/events",
    tag = "applications",
    summary = "Record a status event of a case",
    description = "Writes one event to this node's log of the case, signs it and sends it to the other region. \
        The body is an event kind, externally tagged: a kind without data is a plain string (`\"originals_received\"`), a \
        kind with data an object with one key (`{\"in_review\": {\"step\": \"审核\"}}`). The case records follow GB/T 39046: \
        `accepted` names the person and 受理文号 (the unit defaults to the item's 实施主体; the committed limit and date are filled in \
        from this region's catalog and calendar, and fixed from then on); `suspended` names the 特别程序 and its reason; `extended` \
        (延长审批) adds 1 to 10 days once; `concluded` carries the outcome (approved with licences, denied, returned, voided, \
        forwarded, supplement_timed_out); a mailed `result_dispatched` carries its shipment, and `result_delivered` confirms 送达. \
        A back office (or admin) \
        reports handling-side kinds (received, accepted, rejected, supplement_requested, originals_received, \
        in_review, suspended, resumed, extended, concluded, result_dispatched, result_delivered, withdrawal_confirmed) for cases this region \
        handles; a window records intake-side kinds (originals_dispatched, supplement_provided, \
        withdrawal_requested, result_collected, evaluated, complaint_followed_up) for cases it collected. \
        `submitted` is refused: applications come in through POST /api/v1/applications. \
        好差评: `evaluated` (score 1–5, reason codes, words, and `concerns`: the collecting window `intake` or \
        the deciding department `handling`) is recorded once the case is decided, by the window or by the \
        region's applicant channel (`applicant_app` tokens, which may post only `evaluated` and \
        `complaint_followed_up`, for cases this region collected); its `channel` is taken from the token. \
        A score of 1 or 2 (差评) opens a complaint at the side it concerns: that side writes \
        complaint_verified (核实, within 5 working days), complaint_rectified (整改, only if substantiated) \
        and complaint_answered (反馈, within 15 working days); the applicant's 回访 (complaint_followed_up) \
        follows at the intake side. Out of order, or at the region the complaint does not concern: 409 with \
        the reason.",
    params(
        ("id" = CaseId, Path, description = "The case id (办件编号)."),
        ("X-Operator" = Option<String>, Header, nullable = false, min_length = 1, max_length = 64, pattern = "^[A-Za-z0-9._-]{1,64}$", description = "For window tokens: the operator's staff number (工号): 1 to 64 letters, digits, '-', '_' or '.'; a malformed one is refused (400). Default the token's name."),
    ),
    request_body(
        content = EventKind,
        description = "The event kind.",
        examples(
            ("accepted" = (summary = "受理: accepted; the clock starts", value = json!({"accepted": {"person": "李受理", "document_number": "京市监受〔2026〕1号"}}))),
            ("suspended" = (summary = "特别程序: the clock stops", value = json!({"suspended": {"procedure": "expert_review", "reason": "技术方案需专家评审"}}))),
            ("extended" = (summary = "延长审批: 10 more working days", value = json!({"extended": {"days": 10, "reason": "情况复杂，经局长批准"}}))),
            ("in_review" = (summary = "A review step", value = json!({"in_review": {"step": "审核"}}))),
            ("supplement_requested" = (summary = "补正: ask for materials", value = json!({"supplement_requested": {"materials": [{"material": "id-card", "reason": "复印件不清晰"}], "deadline": {"days": 5, "unit": "working_days"}}}))),
            ("concluded" = (summary = "办结: approved with a licence", value = json!({"concluded": {"outcome": {"approved": {"licences": [{"name": "营业执照", "number": "91110105MA00000000", "issuer": "北京市朝阳区市场监督管理局", "valid_from": "2026-11-30"}]}}}}))),
            ("result_dispatched" = (summary = "The result went out", value = json!({"result_dispatched": {"method": "e_licence", "reference": "91110105MA00000000"}}))),
            ("result_mailed" = (summary = "The result went out by post (物流)", value = json!({"result_dispatched": {"method": "mail", "reference": "EMS1234567890", "shipment": {"courier": "EMS", "tracking": "EMS1234567890", "sender": "北京市朝阳区市场监督管理局", "receiver": "张三", "sent_on": "2026-11-30"}}}))),
            ("result_delivered" = (summary = "送达: the mailed result arrived", value = json!({"result_delivered": {"on": "2026-12-02", "signed_by": "张三"}}))),
            ("evaluated" = (summary = "好差评 at the window", value = json!({"evaluated": {"score": 5, "comment": "办事很快", "reasons": ["fast", "done_in_one_visit"]}}))),
            ("evaluated_poor" = (summary = "差评 about the deciding department: opens a complaint there", value = json!({"evaluated": {"score": 1, "comment": "补正要求前后不一致", "reasons": ["not_told_at_once", "repeated_visits"], "concerns": "handling"}}))),
            ("complaint_verified" = (summary = "核实 of a 差评, by the side it concerns", value = json!({"complaint_verified": {"substantiated": true, "findings": "补正告知分两次发出，属实"}}))),
            ("complaint_rectified" = (summary = "整改 after a substantiated 核实", value = json!({"complaint_rectified": {"measures": "修订一次性告知清单，组织业务培训"}}))),
            ("complaint_answered" = (summary = "反馈 to the applicant", value = json!({"complaint_answered": {"feedback": "已致电申请人说明整改情况"}}))),
            ("complaint_followed_up" = (summary = "回访: the applicant's answer", value = json!({"complaint_followed_up": {"satisfied": true, "comment": "满意"}}))),
        ),
    ),
    responses(
        (status = 201, description = "The event, as signed and kept.", body = EventAnswer),
        (status = 400, description = "A malformed case id, or a body that is not an event kind.", body = ErrorBody),
        (status = 401, description = "No token, or an unknown one.", body = ErrorBody),
        (status = 403, description = "The kind is the other side's to write, the other region writes this side of the case, a window token for a case another window collected, or an applicant_app token for anything but an evaluation or 回访 or for a case another region collected.", body = ErrorBody),
        (status = 404, description = "This node knows no such case.", body = ErrorBody),
        (status = 409, description = "The case's state does not allow this event now; the message says why.", body = ErrorBody),
        (status = 413, description = "The body is over the node's limit.", body = ErrorBody),
        (status = 422, description = "A window's `supplement_provided` names a material another window uploaded that no application cited yet (upload it from this window); `problems` lists each.", body = ErrorBody),
        (status = 503, description = "The node could not keep the event, or its engine is not answering.", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub(super) async fn event(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    raw: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<EventAnswer>), ApiError> {
    let actor = auth::actor(&state, &headers)?;
    let case = case_id(&id)?;
    let kind: EventKind = json(&body(raw)?)?;
    let event = state
        .engine
        .ask(|reply| Command::WriteEvent {
            actor,
            case,
            kind: Box::new(kind),
            reply,
        })
        .await?;
    Ok((StatusCode::CREATED, Json(EventAnswer { event })))
}

/// `POST /api/v1/backoffice/webhook`: a status callback from the region platform, signed
/// with the shared HMAC key over timestamp, nonce and body (`X-Tongban-Timestamp`,
/// `X-Tongban-Nonce`, `X-Tongban-Signature: sha256=<hex>`); a callback out of the time window
/// or with a nonce seen before is refused as a replay.
#[utoipa::path(
    post,
    path = "/api/v1/backoffice/webhook",
    tag = "back office",
    summary = "A status callback from the region's back office (webhook adapter)",
    description = "For nodes whose back office is the webhook adapter: the region's platform reports one \
        handling-side event for one case. No bearer token: the callback is signed with the shared HMAC-SHA256 key \
        (backoffice.hmac_key_file) over `<timestamp>\\n<nonce>\\n<body>`, and the signature is checked before \
        anything is parsed. A callback whose timestamp is more than backoffice.callback_window_secs (default 300) \
        from the node's clock, or whose nonce the node accepted before, is refused: sign every callback, and every \
        retry, afresh.",
    params(
        ("X-Tongban-Timestamp" = String, Header, description = "The unix time in seconds when the callback was signed."),
        ("X-Tongban-Nonce" = String, Header, description = "A value never sent before: 16 to 64 characters of A-Z a-z 0-9 - _ (such as 32 random hex digits)."),
        ("X-Tongban-Signature" = String, Header, description = "`sha256=` followed by the lowercase hex HMAC-SHA256, under the shared key, of the timestamp, a newline, the nonce, a newline and the exact body."),
    ),
    request_body(
        content = Report,
        description = "The case and the handling-side event kind.",
        example = json!({"case": "120000-20261122-000001", "event": {"accepted": {"person": "李受理", "document_number": "京市监受〔2026〕1号"}}}),
    ),
    responses(
        (status = 201, description = "The event, as signed and kept.", body = EventAnswer),
        (status = 400, description = "The timestamp or nonce header is missing or malformed.", body = ErrorBody),
        (status = 401, description = "The signature is missing, malformed or wrong; the timestamp is out of the window; the nonce was used before (a replay); or the body is not a report of a handling-side event.", body = ErrorBody),
        (status = 403, description = "This region does not handle the case.", body = ErrorBody),
        (status = 404, description = "This node's back office is not a webhook, or it knows no such case.", body = ErrorBody),
        (status = 409, description = "The case's state does not allow this event now.", body = ErrorBody),
        (status = 413, description = "The body is over the node's limit.", body = ErrorBody),
        (status = 503, description = "The node could not keep the event or the nonce, holds too many nonces of the window, or its engine is not answering.", body = ErrorBody),
    ),
)]
pub(super) async fn webhook_callback(
    State(state): State<AppState>,
    headers: HeaderMap,
    raw: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<EventAnswer>), ApiError> {
    // A callback without its headers is malformed whatever the back office is (the document
    // says so), so say that before saying whether this node takes callbacks at all.
    for name in ["X-Tongban-Timestamp", "X-Tongban-Nonce"] {
        if !headers.contains_key(name) {
            return Err(ApiError::bad_request(format!(
                "the {name} header is missing"
            )));
        }
    }
    if !headers.contains_key("X-Tongban-Signature") {
        return Err(ApiError::unauthorized(
            "the X-Tongban-Signature header is missing: sign the callback",
        ));
    }
    let auth = state.webhook.clone().ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            ErrorCode::NotFound,
            "this node's back office is not a webhook",
        )
    })?;
    let bytes = body(raw)?;
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let (signature, timestamp, nonce) = (
        header("x-tongban-signature"),
        header("x-tongban-timestamp"),
        header("x-tongban-nonce"),
    );
    let now = tongban_adapters::webhook::unix_now().map_err(|e| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::Unavailable,
            e.to_string(),
        )
    })?;
    // The guard syncs the nonce to disk before it answers: off the async workers.
    let checked = tokio::task::spawn_blocking(move || {
        let headers = tongban_adapters::webhook::CallbackHeaders {
            signature: signature.as_deref(),
            timestamp: timestamp.as_deref(),
            nonce: nonce.as_deref(),
        };
        tongban_adapters::webhook::verify_callback(&auth.key, &bytes, headers, &auth.guard, now)
    })
    .await
    .map_err(|e| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::Unavailable,
            format!("the callback check did not finish: {e}"),
        )
    })?;
    let report = checked.map_err(|e| {
        if matches!(e, tongban_adapters::AdapterError::Io { .. }) {
            // The nonce could not be synced: say so without naming the node's paths.
            tracing::error!(error = %e, "webhook callback: could not record its nonce");
            return ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorCode::Unavailable,
                "the node could not record the callback's nonce; retry later, signed afresh",
            );
        }
        let message = e.to_string();
        match e.callback_status() {
            400 => ApiError::bad_request(message),
            413 => ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, ErrorCode::TooLarge, message),
            503 => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorCode::Unavailable,
                message,
            ),
            _ => ApiError::unauthorized(message),
        }
    })?;
    let case = report.case.clone();
    let kind = report.event;
    let event = state
        .engine
        .ask(|reply| Command::WriteEvent {
            actor: Actor::BackOffice,
            case,
            kind: Box::new(kind),
            reply,
        })
        .await?;
    Ok((StatusCode::CREATED, Json(EventAnswer { event })))
}

// The answers above: the handlers answer with them, and the OpenAPI document describes them.

/// The answer to an application: the case id and the receipt (收件凭证).
#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct IntakeAnswer {
    /// The new case's id (办件编号).
    pub case: CaseId,
    /// The receipt's content: this node acknowledges intake event 1 of the case.
    pub receipt: Receipt,
    /// The signed receipt as the node keeps it: a COSE_Sign1 envelope (CBOR), as hex. Anyone holding
    /// the roster can check it against this node's key.
    #[schema(pattern = "^([0-9a-f]{2})+$")]
    pub receipt_cose: String,
    /// The receipt as text to print for the applicant: case id, intake region, date and digest.
    #[schema(
        example = "收件凭证\n办件编号：120000-20261122-000001\n收件地：120000\n收件时间：2026-11-22\n回执摘要：ff3ea8c83757460aa8ebac8e601c7370c2976c8ea7107a668afad146c4c08b06"
    )]
    pub printable: String,
}

/// The answer to a status event: the event as signed and kept.
#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct EventAnswer {
    /// The event.
    pub event: Event,
}

/// `GET /api/v1/applications/{id}/evidence`: the case's signed evidence bundle.
#[utoipa::path(
    get,
    path = "/api/v1/applications/{id}/evidence",
    tag = "applications",
    summary = "The case's evidence bundle, to check offline",
    description = "One file (a COSE_Sign1 envelope of kind `tongban/evidence; v=1`, signed by this node) holding \
        every signed event of the case's logs, the receipts kept for them, the roster chain from the genesis that \
        vouches for every signer, this node's audit head signed now and its peers' signed acknowledgements of its \
        earlier heads. `tongban evidence verify FILE` checks it with no node running, and docs/EVIDENCE.md shows \
        the same check with pycose. Whoever may read the case here may export it.",
    params(("id" = CaseId, Path, description = "The case id.")),
    responses(
        (status = 200, description = "The bundle (application/cose).", content_type = "application/cose", body = Vec<u8>),
        (status = 400, description = "The id is not a case id.", body = ErrorBody),
        (status = 401, description = "No token, or an unknown one.", body = ErrorBody),
        (status = 403, description = "The token may not read this case.", body = ErrorBody),
        (status = 404, description = "No such case here.", body = ErrorBody),
        (status = 503, description = "The node's engine is not answering, or its roster files cannot be read.", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub(super) async fn evidence(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    let actor = auth::actor(&state, &headers)?;
    let case = case_id(&id)?;
    let bytes = evidence_bundle(&state, actor, case.clone()).await?;
    Ok((
        [
            (
                axum::http::header::CONTENT_TYPE,
                "application/cose".to_string(),
            ),
            (
                axum::http::header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{case}.evidence.cose\""),
            ),
        ],
        bytes,
    )
        .into_response())
}

/// The signed evidence bundle of `case` as `actor` may export it (the API's and the pages').
pub(crate) async fn evidence_bundle(
    state: &AppState,
    actor: Actor,
    case: CaseId,
) -> Result<Vec<u8>, ApiError> {
    let rosters = state.config.roster_documents().map_err(|e| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::Unavailable,
            format!("the roster files: {e}"),
        )
    })?;
    Ok(state
        .engine
        .ask(|reply| Command::Evidence {
            actor,
            case,
            rosters,
            reply,
        })
        .await?)
}
