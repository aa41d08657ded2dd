//! Routing to the 实施主体 of the applicant's place, with real nodes: the Wuhan metro's node
//! serves its nine cities' windows, and an item each city's 人社局 handles for its own
//! insured. A 孝感 window collects for an applicant insured in 武汉: a cross-city case of one
//! node, accepted and concluded by the reference back office as the 武汉 body, the case view
//! naming that body and marking the case 跨市. A Tianjin window reaches the 孝感 body across
//! nodes. An applicant of a place no body serves is refused with the areas served.

use crate::support;

use serde_json::{Value, json};
use support::*;
use tongban_protocol::catalog::{CatalogFile, HandlingBody, LocalityBasis};
use tongban_protocol::ids::{Digest, RegionId};

const WM: &str = "wuhan-metro";
const TJ: &str = "120000";
const XIAOGAN_TOKEN: &str = "xiaogan-window-token-for-tests";
const XIAOGAN_WINDOW: &str = "420900-xiaogan-01";

const CITIES: [(&str, &str); 9] = [
    ("420100", "武汉市"),
    ("420200", "黄石市"),
    ("420700", "鄂州市"),
    ("420900", "孝感市"),
    ("421100", "黄冈市"),
    ("421200", "咸宁市"),
    ("429004", "仙桃市"),
    ("429005", "潜江市"),
    ("429006", "天门市"),
];

/// The metro's catalog: its first item handled by the 人社局 of the applicant's 参保地.
fn metro_catalog() -> CatalogFile {
    let mut items: Vec<_> = (1..=3).map(|k| item(WM, k)).collect();
    items[0].name = "社会保障卡申领".into();
    items[0].authority = "武汉市人力资源和社会保障局".into();
    items[0].locality = Some(LocalityBasis::InsuredPlace);
    items[0].bodies = CITIES
        .iter()
        .map(|(area, place)| HandlingBody {
            area: (*area).into(),
            place: (*place).into(),
            name: format!("{place}人力资源和社会保障局"),
        })
        .collect();
    CatalogFile {
        region: RegionId::new(WM).expect("region"),
        version: 1,
        items,
    }
}

/// The metro (with a 孝感 window) and Tianjin, their catalogs spread.
async fn start() -> (Federation, RunningNode, RunningNode) {
    let fed = Federation::new(&[WM, TJ], FAST_APPROVALS);
    std::fs::write(
        fed.dir.path().join(format!("{WM}.catalog.toml")),
        toml::to_string(&metro_catalog()).expect("toml"),
    )
    .expect("write catalog");
    fed.append(
        WM,
        &format!(
            "[[tokens]]\nname = \"孝感窗口\"\nsha256 = \"{}\"\nrole = \"window\"\nwindow = \"{XIAOGAN_WINDOW}\"\n",
            Digest::of(XIAOGAN_TOKEN.as_bytes())
        ),
    );
    let wm = fed.start(WM);
    let tj = fed.start(TJ);
    wait_for_catalogs(&[&wm, &tj], 6).await;
    (fed, wm, tj)
}

/// An application for the metro's 社会保障卡申领, materials uploaded by the window of
/// `token`, for an applicant insured in `locality`.
async fn application(c: &Client, token: &str, locality: Option<&str>, n: u32) -> Value {
    let mut materials = Vec::new();
    for (id, content) in [
        ("form", format!("申请表 {n}")),
        ("id-card", format!("身份证 {n}")),
    ] {
        let d = support::suite().digest(content.as_bytes());
        let resp = c
            .http
            .put(format!(
                "{}/api/v1/materials/{d}?offset=0&total={}",
                c.base,
                content.len()
            ))
            .bearer_auth(token)
            .body(content.clone().into_bytes())
            .send()
            .await
            .expect("upload");
        assert_eq!(resp.status().as_u16(), 200, "upload {id}");
        materials.push(
            json!({"material": id, "digest": d.to_string(), "size": content.len(),
            "media_type": "application/pdf", "original_checked": true}),
        );
    }
    let mut app = json!({
        "region": WM,
        "impl_code": code(WM, 1),
        "applicant": {"kind": "natural_person", "name": "刘芳", "id_type": "resident_id_card",
            "id_number": "420902199105061234", "phone": "13900139000"},
        "materials": materials,
        "delivery": {"method": "e_licence", "address": null}
    });
    if let Some(l) = locality {
        app["locality"] = json!(l);
    }
    app
}

fn concluded(v: &Value) -> bool {
    v["state"]["stage"] == "concluded" && v["state"]["dispatched"] != Value::Null
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_xiaogan_window_collects_for_the_wuhan_body_and_the_case_names_it() {
    let (_fed, wm, tj) = start().await;
    let c = wm.client();

    // Insured in 武汉, at the 孝感 window: one node, two cities.
    let app = application(&c, XIAOGAN_TOKEN, Some("420100"), 1).await;
    let (status, body) = c.post("/api/v1/applications", XIAOGAN_TOKEN, &app).await;
    assert_eq!(status, 201, "{body}");
    let case = body["case"].as_str().expect("case").to_string();
    let view = c.wait_case(&case, 60, concluded).await;
    let state = &view["state"];
    assert_eq!(
        state["acceptance"]["unit"], "武汉市人力资源和社会保障局",
        "{view}"
    );
    assert_eq!(
        state["outcome"]["approved"]["licences"][0]["issuer"], "武汉市人力资源和社会保障局",
        "{state}"
    );
    assert!(
        state["acceptance"]["committed_date"].is_string(),
        "the clock: {state}"
    );
    let handler = &view["handler"];
    assert_eq!(handler["region"], WM, "{handler}");
    assert_eq!(handler["name"], "武汉市人力资源和社会保障局", "{handler}");
    assert_eq!(handler["body"]["area"], "420100", "{handler}");
    assert_eq!(handler["locality"]["basis"], "insured_place", "{handler}");
    assert_eq!(handler["intake_area"], "420900", "{handler}");
    assert_eq!(handler["intake_place"], "孝感市", "{handler}");
    assert_eq!(handler["span"], "cross_city", "{handler}");
    assert_eq!(view["record"]["window"], XIAOGAN_WINDOW);
    // Signed into the application: the body and the applicant's 参保地.
    let signed = &view["intake"][0]["kind"]["submitted"]["application"];
    assert_eq!(signed["item"]["body"]["name"], "武汉市人力资源和社会保障局");
    assert_eq!(signed["locality"]["area"], "420100");
    assert_eq!(signed["intake"]["mode"], "proxy_intake", "{signed}");
    // The worklist names the body too.
    let (status, list) = c.get("/api/v1/applications", XIAOGAN_TOKEN).await;
    assert_eq!(status, 200, "{list}");
    let entry = list["cases"]
        .as_array()
        .and_then(|l| l.iter().find(|e| e["record"]["case"] == case.as_str()))
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        entry["record"]["body"]["name"], "武汉市人力资源和社会保障局",
        "{list}"
    );

    // The pages: the case names the body and marks the case 跨市; the receipt names the
    // body; the intake form asks for the applicant's 参保地 among the areas served.
    let html = pages(
        &wm.base,
        XIAOGAN_TOKEN,
        &[
            format!("/cases/{case}"),
            format!("/cases/{case}/receipt"),
            format!("/items/{WM}/{}/apply", code(WM, 1)),
        ],
    )
    .await;
    assert!(
        html[0].contains("id=\"handling-body\">武汉市人力资源和社会保障局")
            && html[0].contains("id=\"cross-city\"")
            && html[0].contains("跨市通办：孝感市窗口收件，武汉市办理"),
        "{}",
        html[0]
    );
    assert!(
        html[1].contains("id=\"receipt-body\">武汉市人力资源和社会保障局"),
        "{}",
        html[1]
    );
    assert!(
        html[2].contains("申请人参保地")
            && html[2].contains("value=\"420900\"")
            && html[2].contains("孝感市人力资源和社会保障局"),
        "{}",
        html[2]
    );

    // A place no body serves, and no place at all: refused, with the basis and the areas.
    for (locality, expected) in [(Some("110105"), "no body handles"), (None, "give locality")] {
        let app = application(&c, XIAOGAN_TOKEN, locality, 2).await;
        let (status, body) = c.post("/api/v1/applications", XIAOGAN_TOKEN, &app).await;
        assert_eq!(status, 422, "{body}");
        let problems = body["error"]["problems"].to_string();
        assert!(
            problems.contains(expected)
                && problems.contains("参保地")
                && problems.contains("420900 孝感市"),
            "{body}"
        );
    }

    // Across nodes: a Tianjin window, an applicant insured in 孝感 → the 孝感 body.
    let tc = tj.client();
    let app = application(&tc, WINDOW_TOKEN, Some("420900"), 3).await;
    let (status, body) = tc.post("/api/v1/applications", WINDOW_TOKEN, &app).await;
    assert_eq!(status, 201, "{body}");
    let case = body["case"].as_str().expect("case").to_string();
    for node in [&tc, &c] {
        let view = node.wait_case(&case, 60, concluded).await;
        assert_eq!(
            view["state"]["acceptance"]["unit"], "孝感市人力资源和社会保障局",
            "{view}"
        );
        assert_eq!(view["handler"]["name"], "孝感市人力资源和社会保障局");
        assert_eq!(view["handler"]["span"], "cross_region");
    }
}
