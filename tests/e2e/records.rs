//! GB/T 39046 case records with real nodes: a Tianjin window takes an application for a
//! Beijing item to be posted; Beijing's reference back office accepts, concludes with a
//! licence, posts the result and confirms its delivery (送达). Both nodes hold the 受理
//! record with the limit and date Beijing fixed, the licence's issuing unit, the shipment and
//! the delivery.

use crate::support;

use serde_json::Value;
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mailed_result_is_posted_and_its_delivery_confirmed_with_the_records_at_both_ends() {
    let fed = Federation::new(&["110000", "120000"], FAST_APPROVALS);
    let bj = fed.start("110000");
    let tj = fed.start("120000");
    wait_for_catalogs(&[&bj, &tj], 6).await;
    let (tc, bc) = (tj.client(), bj.client());
    let mut app = tc.application("110000", "1100000001", 1).await;
    app["delivery"] = serde_json::json!({"method": "mail", "address": "天津市和平区南京路1号"});
    let (status, body) = tc.post("/api/v1/applications", WINDOW_TOKEN, &app).await;
    assert_eq!(status, 201, "{body}");
    let case = body["case"].as_str().expect("case").to_string();

    let mut digests = Vec::new();
    for c in [&tc, &bc] {
        let view = c
            .wait_case(&case, 60, |v| v["state"]["delivered"] != Value::Null)
            .await;
        let state = &view["state"];
        assert_eq!(
            kinds(&view["handling"]),
            [
                "received",
                "accepted",
                "in_review",
                "concluded",
                "result_dispatched",
                "result_delivered"
            ],
            "{view}"
        );
        // 受理: the unit is the item's 实施主体, the limit and date the ones Beijing fixed.
        let acceptance = &state["acceptance"];
        assert!(
            acceptance["unit"]
                .as_str()
                .is_some_and(|u| u.contains("市场监督管理局")),
            "{acceptance}"
        );
        assert!(
            acceptance["document_number"]
                .as_str()
                .is_some_and(|d| d.contains(&case)),
            "{acceptance}"
        );
        assert!(acceptance["committed_date"].is_string(), "{acceptance}");
        assert_eq!(state["limit"], view["clock"]["limit"], "{view}");
        // 办结: the licence names its issuing unit.
        let licence = &state["outcome"]["approved"]["licences"][0];
        assert_eq!(licence["issuer"], acceptance["unit"], "{licence}");
        // 物流 and 送达.
        let shipment = &state["shipment"];
        assert_eq!(shipment["courier"], "EMS", "{shipment}");
        assert_eq!(shipment["sender"], acceptance["unit"], "{shipment}");
        assert!(shipment["sent_on"].is_string(), "{shipment}");
        assert!(state["delivered"][0].is_string(), "{state}");
        // 电子证照: issued with the dispatch, signed by Beijing, shown with its digest.
        let issued = &view["licences"][0];
        assert_eq!(issued["licence"]["number"], licence["number"], "{issued}");
        assert_eq!(issued["licence"]["region"], "110000", "{issued}");
        assert_eq!(issued["licence"]["issuer"], acceptance["unit"], "{issued}");
        assert_eq!(
            issued["digest"].as_str().map(str::len),
            Some(64),
            "{issued}"
        );
        digests.push(issued["digest"].clone());
    }
    assert_eq!(digests[0], digests[1], "the same licence at both ends");
    let page = pages(&tj.base, WINDOW_TOKEN, &[format!("/cases/{case}")]).await;
    let digest = digests[0].as_str().unwrap_or_default();
    assert!(
        page[0].contains(digest),
        "the case page shows the licence's digest"
    );
    assert!(
        page[0].contains("证照摘要二维码"),
        "and its QR code to print"
    );
}
