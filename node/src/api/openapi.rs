//! The OpenAPI document, served at `/api/v1/openapi.json`.
//!
//! It is generated from the handlers' `#[utoipa::path]` attributes and the `ToSchema` derives
//! of the protocol crate's types (its `openapi` feature), so it cannot drift from the code
//! unnoticed: the tests below check that every route of the router is documented, and that the
//! copy in `docs/openapi.json` is the one the code generates (`TONGBAN_WRITE_OPENAPI=1 cargo
//! test -p tongban-node --lib openapi` writes it again).

use std::sync::OnceLock;

use axum::Json;
use serde_json::Value;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::error::{ErrorBody, ErrorCode, ErrorDetail};
use super::{applications, audit, backup, catalog, licences, materials, ops, roster};

/// The API's description: what it is for and how to use it.
const DESCRIPTION: &str = "The HTTP API of one tongban node: the service windows (综合窗口) and the back \
office of one member region of a federation for cross-region government services (跨省通办) use it to \
search the service items of every member region, upload materials, take applications, follow cases \
and report their status. The node signs every event and carries it to the other region itself.

Authentication: `Authorization: Bearer <token>`. Each token is configured on the node with a role: \
`window` (bound to one window; takes applications, uploads materials, records intake-side events), \
`back_office` (reports handling-side events) or `admin` (everything, and publishing the catalog). Window \
requests may name the operator with `X-Operator: <staff number>`. `/livez`, `/readyz`, `/healthz`, \
`/metrics` and this document need no token; the back-office webhook is authenticated by an HMAC signature instead.

Errors: every error answer is JSON, `{\"error\": {\"code\", \"message\", \"problems\"}}`, with a stable \
`code` to branch on and a `message` that says what to fix. See docs/API.md for a worked example.";

/// The OpenAPI document of the node's HTTP API.
#[derive(OpenApi)]
#[openapi(
    info(title = "tongban node API", description = DESCRIPTION),
    paths(
        ops::livez,
        ops::readyz,
        ops::healthz,
        ops::metrics,
        document,
        catalog::search,
        catalog::item,
        catalog::publish,
        materials::upload,
        applications::intake,
        applications::worklist,
        applications::view,
        applications::evidence,
        applications::withdraw,
        applications::event,
        applications::webhook_callback,
        roster::current,
        roster::apply,
        backup::backup,
        ops::dead_letters,
        ops::retry_dead_letters,
        ops::retry_dead_letter,
        audit::audit_head,
        audit::witnessed,
        licences::ask,
        licences::one,
        licences::list,
        licences::library,
        licences::import,
    ),
    components(schemas(
        ErrorBody,
        ErrorDetail,
        ErrorCode,
        roster::RosterAnswer,
        tongban_protocol::engine::IntakeRequest,
        tongban_protocol::engine::UploadStatus,
        tongban_protocol::engine::CaseView,
        tongban_protocol::engine::CaseRecord,
        tongban_protocol::engine::Worklist,
        tongban_protocol::engine::ItemHit,
        tongban_protocol::engine::Report,
        tongban_protocol::engine::CaseCounts,
        tongban_protocol::engine::DeadLetterView,
        tongban_protocol::engine::audit::SignedAuditHead,
        tongban_protocol::catalog::ServiceItem,
        tongban_protocol::catalog::Mode,
        tongban_protocol::case::application::Application,
        tongban_protocol::case::events::Event,
        tongban_protocol::case::events::EventKind,
        tongban_protocol::case::fold::CaseState,
        tongban_protocol::case::fold::Stage,
        tongban_protocol::case::clock::Colour,
        tongban_protocol::case::calendar::Date,
        tongban_protocol::wire::Receipt,
        tongban_protocol::ids::RegionId,
        tongban_protocol::ids::WindowId,
        tongban_protocol::ids::CaseId,
        tongban_protocol::ids::Digest,
        tongban_protocol::ids::Timestamp,
    )),
    modifiers(&BearerAuth),
    tags(
        (name = "catalog", description = "The service items (政务服务事项) of every member region, from their signed catalogs."),
        (name = "materials", description = "Material uploads, addressed by the federation's digest (SHA-256, or SM3 in the sm suite), before the application that lists them."),
        (name = "applications", description = "Applications and cases: intake, worklists, case detail, withdrawal, status events."),
        (name = "licences", description = "电子证照 and 免证办: licence requests to the issuing region with the applicant's consent, and the region's licence library."),
        (name = "back office", description = "Callbacks from the region's own back-office systems."),
        (name = "operations", description = "Health, metrics, the dead-letter table of notices the back office did not take, the signed head of the audit chain, and this document."),
    ),
)]
pub struct ApiDoc;

/// Adds the bearer-token security scheme every authenticated path names.
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "A token from the node's configuration, bound to a role: window (one window's staff), \
                         back_office, admin or applicant_app (the region's applicant channel: evaluations \
                         only). Window requests may add `X-Operator: <staff number>`.",
                    ))
                    .build(),
            ),
        );
    }
}

/// The document as JSON, made once.
fn json_document() -> &'static Value {
    static DOC: OnceLock<Value> = OnceLock::new();
    DOC.get_or_init(|| {
        let mut doc = serde_json::to_value(ApiDoc::openapi()).unwrap_or_default();
        add_links(&mut doc);
        close_tagged_variants(&mut doc);
        doc
    })
}

/// An enum serde writes as `{"variant": {...}}` takes exactly one key: say so in each
/// variant's schema (`additionalProperties: false`), as serde refuses any other key.
fn close_tagged_variants(doc: &mut Value) {
    let Some(schemas) = doc
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    for schema in schemas.values_mut() {
        let Some(variants) = schema.get_mut("oneOf").and_then(Value::as_array_mut) else {
            continue;
        };
        for variant in variants {
            let Some(object) = variant.as_object_mut() else {
                continue;
            };
            let single = object
                .get("properties")
                .and_then(Value::as_object)
                .is_some_and(|p| p.len() == 1)
                && object.get("type").and_then(Value::as_str) == Some("object");
            if single {
                object.insert("additionalProperties".into(), Value::Bool(false));
            }
        }
    }
}

/// OpenAPI links from the answers that name a case or an item to the operations that take
/// them, so a client (or a stateful tester such as Schemathesis) can walk a whole case: intake,
/// then read it, record events on it, withdraw it; search, then open the item found.
fn add_links(doc: &mut Value) {
    let case_ops = [
        ("view", "view"),
        ("event", "event"),
        ("withdraw", "withdraw"),
    ];
    let mut case_links = serde_json::Map::new();
    for (name, operation) in case_ops {
        case_links.insert(
            name.into(),
            serde_json::json!({
                "operationId": operation,
                "parameters": {"id": "$response.body#/case"},
            }),
        );
    }
    for status in ["200", "201"] {
        if let Some(response) = doc
            .pointer_mut(&format!(
                "/paths/~1api~1v1~1applications/post/responses/{status}"
            ))
            .and_then(Value::as_object_mut)
        {
            response.insert("links".into(), Value::Object(case_links.clone()));
        }
    }
    if let Some(response) = doc
        .pointer_mut("/paths/~1api~1v1~1catalog~1items/get/responses/200")
        .and_then(Value::as_object_mut)
    {
        response.insert(
            "links".into(),
            serde_json::json!({
                "item": {
                    "operationId": "item",
                    "parameters": {
                        "region": "$response.body#/items/0/region",
                        "code": "$response.body#/items/0/item/impl_code",
                    },
                },
            }),
        );
    }
}

/// `GET /api/v1/openapi.json`.
#[utoipa::path(
    get,
    path = "/api/v1/openapi.json",
    tag = "operations",
    summary = "This OpenAPI 3.1 document",
    description = "No token needed.",
    responses(
        (status = 200, description = "The document.", body = Object),
    ),
)]
pub async fn document() -> Json<Value> {
    Json(json_document().clone())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    /// `(method, path)` of every route in the router, read from its source so that a route
    /// added there without documentation fails this test.
    fn routes() -> BTreeSet<(String, String)> {
        let source = include_str!("mod.rs");
        let mut out = BTreeSet::new();
        for chunk in source.split(".route(").skip(1) {
            // The call's text up to its closing parenthesis.
            let mut depth = 1;
            let end = chunk
                .char_indices()
                .find(|&(_, c)| {
                    match c {
                        '(' => depth += 1,
                        ')' => depth -= 1,
                        _ => {}
                    }
                    depth == 0
                })
                .map(|(i, _)| i)
                .expect("an unclosed .route(");
            let call = &chunk[..end];
            let path = call
                .split('"')
                .nth(1)
                .expect("a route without a path")
                .to_string();
            for method in ["get", "post", "put", "delete", "patch"] {
                let calls = call.matches(&format!("{method}(")).count();
                let named = call.matches(&format!("_{method}(")).count();
                if calls > named {
                    out.insert((method.to_string(), path.clone()));
                }
            }
        }
        out
    }

    #[test]
    fn intake_and_search_link_to_the_operations_that_take_their_ids() {
        let doc = json_document();
        let ids: BTreeSet<&str> = doc["paths"]
            .as_object()
            .expect("paths")
            .values()
            .flat_map(|p| p.as_object().into_iter().flat_map(|m| m.values()))
            .filter_map(|op| op["operationId"].as_str())
            .collect();
        for status in ["200", "201"] {
            let links = &doc["paths"]["/api/v1/applications"]["post"]["responses"][status]["links"];
            for name in ["view", "event", "withdraw"] {
                let op = links[name]["operationId"].as_str().expect("a link");
                assert!(ids.contains(op), "link {name} names no operation: {op}");
                assert_eq!(links[name]["parameters"]["id"], "$response.body#/case");
            }
        }
        let item =
            &doc["paths"]["/api/v1/catalog/items"]["get"]["responses"]["200"]["links"]["item"];
        assert!(ids.contains(item["operationId"].as_str().expect("a link")));
        assert_eq!(
            doc["paths"]["/api/v1/catalog/items/{region}/{code}"]["get"]["operationId"],
            item["operationId"]
        );
    }

    #[test]
    fn every_route_is_documented_with_its_method() {
        let doc = json_document();
        assert_eq!(doc["openapi"], "3.1.0");
        assert_eq!(doc["info"]["title"], "tongban node API");
        assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
        let routes = routes();
        for (method, path) in [
            ("get", "/livez"),
            ("get", "/readyz"),
            ("get", "/healthz"),
            ("get", "/metrics"),
            ("get", "/api/v1/openapi.json"),
            ("get", "/api/v1/catalog/items"),
            ("get", "/api/v1/catalog/items/{region}/{code}"),
            ("put", "/api/v1/materials/{digest}"),
            ("get", "/api/v1/applications"),
            ("post", "/api/v1/applications"),
            ("get", "/api/v1/applications/{id}"),
            ("post", "/api/v1/applications/{id}/withdrawal"),
            ("post", "/api/v1/applications/{id}/events"),
            ("post", "/api/v1/backoffice/webhook"),
            ("get", "/api/v1/admin/dead-letters"),
            ("post", "/api/v1/admin/dead-letters/retry"),
            ("post", "/api/v1/admin/dead-letters/{id}/retry"),
        ] {
            assert!(
                routes.contains(&(method.to_string(), path.to_string())),
                "the router has no {method} {path}: {routes:?}"
            );
        }
        let documented: BTreeSet<(String, String)> = doc["paths"]
            .as_object()
            .expect("paths")
            .iter()
            .flat_map(|(path, item)| {
                item.as_object()
                    .expect("a path item")
                    .keys()
                    .map(move |method| (method.clone(), path.clone()))
            })
            .collect();
        for (method, path) in &routes {
            let op = &doc["paths"][path][method];
            assert!(op.is_object(), "{method} {path} is not documented");
            assert!(
                op["responses"].as_object().is_some_and(|r| !r.is_empty()),
                "{method} {path} documents no responses"
            );
        }
        assert_eq!(documented, routes, "the document and the router disagree");
    }

    #[test]
    fn authenticated_paths_name_the_bearer_scheme_and_errors_have_the_error_body() {
        let doc = json_document();
        assert_eq!(
            doc["components"]["securitySchemes"]["bearer"]["scheme"],
            "bearer"
        );
        let open = [
            "/livez",
            "/readyz",
            "/healthz",
            "/metrics",
            "/api/v1/openapi.json",
            "/api/v1/backoffice/webhook",
        ];
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                let bearer = op["security"]
                    .as_array()
                    .is_some_and(|s| s.iter().any(|r| r.get("bearer").is_some()));
                assert_eq!(bearer, !open.contains(&path.as_str()), "{method} {path}");
                for (status, response) in op["responses"].as_object().unwrap() {
                    if status.starts_with('4') || status.starts_with('5') {
                        assert_eq!(
                            response["content"]["application/json"]["schema"]["$ref"],
                            "#/components/schemas/ErrorBody",
                            "{method} {path} {status}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn the_intake_request_schema_requires_what_serde_requires() {
        let doc = json_document();
        let schema = &doc["components"]["schemas"]["IntakeRequest"];
        let required: BTreeSet<&str> = schema["required"]
            .as_array()
            .expect("required")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert_eq!(
            required,
            BTreeSet::from(["region", "impl_code", "applicant", "delivery"])
        );
        assert_eq!(schema["additionalProperties"], false, "deny_unknown_fields");
        for field in [
            "catalog_version",
            "materials",
            "form",
            "accept_with_gaps",
            "pledge",
            "mode",
        ] {
            assert!(schema["properties"][field].is_object(), "{field}");
        }
        assert_eq!(
            schema["properties"]["region"]["$ref"],
            "#/components/schemas/RegionId"
        );
    }

    /// The custom-serde types are described as their JSON really looks.
    #[test]
    fn hand_written_schemas_match_the_serde_forms() {
        use tongban_protocol::case::calendar::Date;
        use tongban_protocol::ids::{CaseId, Digest, RegionId, Timestamp, WindowId};
        let doc = json_document();
        let schemas = &doc["components"]["schemas"];
        let check = |name: &str, value: Value| {
            let schema = &schemas[name];
            match schema["type"].as_str() {
                Some("string") => {
                    let text = value.as_str().unwrap_or_else(|| panic!("{name}: {value}"));
                    if let Some(max) = schema["maxLength"].as_u64() {
                        assert!(text.len() as u64 <= max, "{name}");
                    }
                    assert!(schema["pattern"].is_string(), "{name}");
                }
                Some("integer") => assert!(value.is_u64(), "{name}: {value}"),
                other => panic!("{name}: type {other:?}"),
            }
        };
        check(
            "RegionId",
            serde_json::to_value(RegionId::new("110000").unwrap()).unwrap(),
        );
        check(
            "WindowId",
            serde_json::to_value(WindowId::new("110000-a.1").unwrap()).unwrap(),
        );
        check(
            "CaseId",
            serde_json::to_value(CaseId::new("110000-20260301-000001").unwrap()).unwrap(),
        );
        check("Digest", serde_json::to_value(Digest::of(b"x")).unwrap());
        check("Timestamp", serde_json::to_value(Timestamp(1)).unwrap());
        check(
            "Date",
            serde_json::to_value(Date::new(2026, 3, 2).unwrap()).unwrap(),
        );
        assert_eq!(schemas["Date"]["format"], "date");
    }

    /// How serde writes the enums, as the document must say: unit variants of an externally
    /// tagged enum are plain strings, the others one-key objects; codes keep their rename.
    #[test]
    fn enum_schemas_follow_serde() {
        let doc = json_document();
        let schemas = &doc["components"]["schemas"];
        let text = serde_json::to_string(&schemas["EventKind"]).unwrap();
        for kind in [
            "\"accepted\"",
            "\"result_collected\"",
            "\"withdrawal_confirmed\"",
            "\"in_review\"",
            "\"supplement_requested\"",
        ] {
            assert!(text.contains(kind), "EventKind lacks {kind}: {text}");
        }
        let item_type = serde_json::to_string(&schemas["ItemType"]).unwrap();
        assert!(
            item_type.contains("\"00\"") && item_type.contains("\"20\""),
            "{item_type}"
        );
        let delivery = serde_json::to_string(&schemas["Delivery"]).unwrap();
        assert!(delivery.contains("\"e_licence\""), "{delivery}");
        assert_eq!(
            serde_json::to_value(tongban_protocol::case::events::EventKind::Received).unwrap(),
            "received"
        );
    }

    /// `docs/openapi.json` is the document this code generates. With `TONGBAN_WRITE_OPENAPI=1`
    /// the test writes it instead.
    #[test]
    fn the_committed_document_is_current() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/openapi.json");
        let generated = format!(
            "{}\n",
            serde_json::to_string_pretty(json_document()).expect("the document serialises")
        );
        if std::env::var_os("TONGBAN_WRITE_OPENAPI").is_some_and(|v| v == "1") {
            std::fs::write(path, &generated).expect("writing docs/openapi.json");
            return;
        }
        let committed = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            committed == generated,
            "docs/openapi.json is not the document the code generates; run \
             TONGBAN_WRITE_OPENAPI=1 cargo test -p tongban-node --lib openapi and commit it"
        );
    }
}
