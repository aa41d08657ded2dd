//! The web pages in a real browser: Debian's Chromium, driven through chromedriver (WebDriver),
//! against real nodes on 127.0.0.1. A 天津 window finds a 北京 item, uploads two materials,
//! takes the application and prints the receipt; 北京's back office (on the pages) asks for
//! 补正; the window answers with an upload; 北京 accepts, concludes and dispatches; the window
//! records the result handed over. Every step goes through the pages and every state is read
//! off them, then checked through the API at both nodes.
//!
//! `.ci/run` installs `chromium` and `chromium-driver` when they are missing; the test fails
//! (it does not skip) without them. Screenshots go to `target/ui-screenshots/`.

mod pages;
#[path = "../support/mod.rs"]
mod support;
mod webdriver;

use std::time::{Duration, Instant};

use pages::*;
use serde_json::json;
use support::{ADMIN_TOKEN, BACKOFFICE_TOKEN, Federation, WINDOW_TOKEN, WINDOW2_TOKEN, code};
use webdriver::Locator;

const TJ: &str = "120000";
const BJ: &str = "110000";
/// A 居民身份证 number with a valid check digit (GB 11643), made up.
const ID_NUMBER: &str = "11010519491231002X";

#[tokio::test(flavor = "multi_thread")]
async fn a_case_goes_from_a_tianjin_window_to_beijing_and_back_through_the_pages() {
    let fed = Federation::new(&[BJ, TJ], "");
    fed.set_backoffice(BJ, "[backoffice]\nkind = \"pages\"\n");
    let bj = fed.start(BJ);
    let tj = fed.start(TJ);
    let (bj_api, tj_api) = (bj.client(), tj.client());
    // Wait until 天津 holds 北京's catalog.
    let start = Instant::now();
    loop {
        let (_, hits) = tj_api
            .get(&format!("/api/v1/catalog/items?region={BJ}"), WINDOW_TOKEN)
            .await;
        if hits["items"].as_array().is_some_and(|a| !a.is_empty()) {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "catalog never spread"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let files = tempfile::tempdir().expect("temp dir");
    let scan = |name: &str, bytes: usize| {
        let p = files.path().join(name);
        let content: Vec<u8> = (0..bytes).map(|i| (i * 7 % 251) as u8).collect();
        std::fs::write(&p, content).expect("scan");
        p
    };
    // Over one chunk (256 KiB), so the upload goes in pieces.
    let form_pdf = scan("申请书.pdf", 600_000);
    let id_jpg = scan("身份证.jpg", 40_000);
    let fixed_jpg = scan("身份证-清晰.jpg", 50_000);

    let driver = chromedriver();
    let c = browser(&driver, &files.path().join("profile")).await;

    // — 天津's window finds the 北京 item and reads its 一次性告知单.
    sign_in(&c, &tj.base, WINDOW_TOKEN, "TJ-007").await;
    assert!(
        c.current_url()
            .await
            .expect("url")
            .path()
            .ends_with("/catalog")
    );
    type_in(&c, "#q", "个体工商户").await;
    css(&c, "#region")
        .await
        .select_by_value(BJ)
        .await
        .expect("region");
    let before = page(&c).await;
    css(&c, "#search").await.click().await.expect("search");
    left(before).await;
    let results = text(&c, "#catalog-results").await;
    assert!(
        results.contains(&format!("个体工商户设立登记（{BJ}-1）")),
        "{results}"
    );
    assert!(
        !results.contains(&format!("（{TJ}-")),
        "only 北京's items: {results}"
    );
    shot(&c, "catalog").await;
    c.find(Locator::LinkText(&format!("个体工商户设立登记（{BJ}-1）")))
        .await
        .expect("item link")
        .click()
        .await
        .expect("open item");
    let sheet = text(&c, "#notice-sheet").await;
    for expected in [
        "申请书",
        "居民身份证",
        "承诺时限",
        "5个工作日",
        "不收费",
        "营业执照",
    ] {
        assert!(
            sheet.contains(expected),
            "{expected} missing from the notice: {sheet}"
        );
    }
    shot(&c, "item").await;

    // — The intake form: two uploads, then a submission refused for a missing phone keeps
    //   everything typed and says what to fix beside the field.
    css(&c, "#apply").await.click().await.expect("apply");
    type_in(&c, "#name", "张三").await;
    type_in(&c, "#id_number", ID_NUMBER).await;
    type_in(&c, "#form_k1", "字号").await;
    type_in(&c, "#form_v1", "张三小吃店").await;
    upload(&c, "form", &form_pdf).await;
    upload(&c, "id-card", &id_jpg).await;
    assert!(text(&c, "#m-form").await.contains("已上传"));
    let before = page(&c).await;
    c.execute(
        "HTMLFormElement.prototype.submit.call(document.getElementById('intake'))",
        vec![],
    )
    .await
    .expect("submit without the phone");
    left(before).await;
    let err = text(&c, "#phone-err").await;
    assert!(
        err.contains("联系电话"),
        "the phone's error beside it: {err}"
    );
    assert_eq!(value(&c, "#name").await, "张三", "typed name kept");
    assert_eq!(
        value(&c, "#id_number").await,
        ID_NUMBER,
        "typed ID number kept"
    );
    assert_eq!(value(&c, "#form_v1").await, "张三小吃店");
    assert_eq!(
        value(&c, "[name=\"m.form.digest\"]").await.len(),
        64,
        "upload kept"
    );
    // The ID number is masked on screen while the field is not being edited.
    let security: String = c
        .execute(
            "return getComputedStyle(document.getElementById('id_number'))\
             .getPropertyValue('-webkit-text-security')",
            vec![],
        )
        .await
        .expect("style")
        .as_str()
        .unwrap_or("")
        .to_string();
    assert_eq!(security, "disc", "ID number masked on screen");
    shot(&c, "intake-form-errors").await;
    // The refused submission is the one console line so far (its 422).
    let refused = console_errors(&driver, &c).await;
    assert!(
        refused.len() == 1 && refused[0].contains("422"),
        "console errors: {refused:?}"
    );
    type_in(&c, "#phone", "13800138000").await;
    for id in ["form", "id-card"] {
        css(&c, &format!("#m-{id} [name=\"m.{id}.original_checked\"]"))
            .await
            .click()
            .await
            .expect("original checked (原件核验: trust level C)");
    }
    css(&c, "#send").await.click().await.expect("submit");

    // — The receipt, printable, with its signed digest.
    let case = text(&c, "#receipt-case").await;
    assert!(case.starts_with(TJ), "{case}");
    let receipt = text(&c, "#receipt").await;
    for expected in ["跨省通办收件凭证", BJ, "申请书", "居民身份证", "承诺时限"]
    {
        assert!(
            receipt.contains(expected),
            "{expected} missing from the receipt: {receipt}"
        );
    }
    assert!(
        !receipt.contains(ID_NUMBER),
        "the receipt masks the ID number"
    );
    // It names the federation's signature and digest, to check it with.
    let suite = support::suite();
    for expected in [suite.signature_name(), suite.digest_name()] {
        assert!(
            receipt.contains(expected),
            "{expected} missing from the receipt: {receipt}"
        );
    }
    assert_eq!(text(&c, "#receipt-digest").await.len(), 64);
    assert!(c.find(Locator::Css(".qr svg")).await.is_ok(), "QR code");
    shot(&c, "receipt").await;
    assert_eq!(console_errors(&driver, &c).await, Vec::<String>::new());

    // — 北京's back office, on its pages, asks for 补正 of the ID card.
    let bj_case = format!("{}/cases/{case}", bj.base);
    sign_in(&c, &bj.base, BACKOFFICE_TOKEN, "").await;
    reload_until(&c, &bj_case, "#act-supplement_requested").await;
    assert_eq!(stage(&c).await, "received");
    let applicant = text(&c, "#applicant").await;
    assert!(
        !applicant.contains("张三小吃店"),
        "the back office sees form fields masked"
    );
    css(
        &c,
        "#act-supplement_requested [name=gap][value=\"id-card\"]",
    )
    .await
    .click()
    .await
    .expect("tick the ID card");
    type_in(
        &c,
        "#act-supplement_requested [name=\"gap_reason.id-card\"]",
        "复印件不清晰",
    )
    .await;
    submit_action(&c, "supplement_requested").await;
    assert!(text(&c, "#supplement").await.contains("复印件不清晰"));
    shot(&c, "office-case").await;

    // — The window sees it and answers with an upload.
    let tj_case = format!("{}/cases/{case}", tj.base);
    sign_in(&c, &tj.base, WINDOW_TOKEN, "TJ-007").await;
    c.goto(&format!("{}/cases", tj.base))
        .await
        .expect("worklist");
    reload_until(&c, &format!("{}/cases", tj.base), "td.todo").await;
    let start = Instant::now();
    while !text(&c, "#worklist").await.contains("需补正") {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "补正 never showed in the worklist"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
        c.refresh().await.expect("refresh");
    }
    shot(&c, "worklist").await;
    reload_until(&c, &tj_case, "#act-supplement_provided").await;
    upload(&c, "id-card", &fixed_jpg).await;
    submit_action(&c, "supplement_provided").await;
    assert!(
        c.find(Locator::Css("#act-supplement_provided"))
            .await
            .is_err()
    );

    // — 北京 accepts, concludes and dispatches.
    sign_in(&c, &bj.base, BACKOFFICE_TOKEN, "").await;
    reload_until(
        &c,
        &bj_case,
        "#log-intake li[data-kind=supplement_provided]",
    )
    .await;
    // 受理: the person is typed; the 受理文号 is suggested from the case id, the unit left to
    // the item's 实施主体.
    type_in(&c, "#act-accepted [name=person]", "李受理").await;
    assert!(
        value(&c, "#act-accepted [name=document_number]")
            .await
            .contains(&case)
    );
    submit_action(&c, "accepted").await;
    assert_eq!(stage(&c).await, "accepted");
    let acceptance = text(&c, "#acceptance").await;
    assert!(
        acceptance.contains("李受理") && acceptance.contains("承诺办结日期"),
        "{acceptance}"
    );
    type_in(&c, "#act-concluded [name=licence_name]", "营业执照").await;
    type_in(
        &c,
        "#act-concluded [name=licence_number]",
        "92110105MA00000001",
    )
    .await;
    submit_action(&c, "concluded").await;
    assert_eq!(stage(&c).await, "concluded");
    css(&c, "#act-result_dispatched [name=method]")
        .await
        .select_by_value("intake_window_pickup")
        .await
        .expect("to the intake window");
    type_in(&c, "#act-result_dispatched [name=courier]", "EMS").await;
    type_in(&c, "#act-result_dispatched [name=reference]", "1234567890").await;
    submit_action(&c, "result_dispatched").await;
    assert!(text(&c, "#dispatched").await.contains("1234567890"));

    // — The window records the result handed over.
    sign_in(&c, &tj.base, WINDOW_TOKEN, "TJ-007").await;
    reload_until(&c, &tj_case, "#act-result_collected").await;
    submit_action(&c, "result_collected").await;
    assert!(text(&c, "#collected").await.contains("已交付"));
    assert_eq!(stage(&c).await, "concluded");
    shot(&c, "case").await;
    assert_eq!(console_errors(&driver, &c).await, Vec::<String>::new());

    // — The same, through the API at both nodes.
    for api in [&tj_api, &bj_api] {
        let view = api
            .wait_case(&case, 30, |v| v["state"]["collected"] == true)
            .await;
        assert_eq!(view["state"]["stage"], "concluded");
        assert_eq!(view["state"]["dispatched"][1], "EMS 1234567890");
        let kinds: Vec<&str> = view["state"]["timeline"]
            .as_array()
            .expect("timeline")
            .iter()
            .filter_map(|t| t["kind"].as_str())
            .collect();
        assert_eq!(
            kinds,
            [
                "submitted",
                "received",
                "supplement_requested",
                "supplement_provided",
                "accepted",
                "concluded",
                "result_dispatched",
                "result_collected"
            ]
        );
        let intake = &view["intake"][0]["kind"]["submitted"]["application"];
        assert_eq!(intake["intake"]["operator"], "TJ-007");
        assert_eq!(intake["materials"].as_array().map(Vec::len), Some(2));
    }

    // — 好差评: a 差评 at the window about 北京's handling opens a complaint that 北京's back
    // office verifies, rectifies and answers through its pages; the window sees the answer.
    sign_in(&c, &tj.base, WINDOW_TOKEN, "TJ-007").await;
    c.goto(&tj_case).await.expect("case page");
    css(&c, "#act-evaluated [name=score]")
        .await
        .select_by_value("1")
        .await
        .expect("score");
    css(
        &c,
        "#act-evaluated input[name=reason][value=not_told_at_once]",
    )
    .await
    .click()
    .await
    .expect("reason");
    type_in(&c, "#act-evaluated [name=comment]", "补正要求前后不一致").await;
    submit_action(&c, "evaluated").await;
    assert!(text(&c, "#evaluation-score").await.contains("未一次性告知"));
    assert!(text(&c, "#complaint-stage").await.contains("待核实"));
    sign_in(&c, &bj.base, BACKOFFICE_TOKEN, "").await;
    reload_until(&c, &bj_case, "#act-complaint_verified").await;
    assert!(text(&c, "#complaint-days").await.contains("剩余 5"));
    type_in(
        &c,
        "#act-complaint_verified [name=findings]",
        "补正告知分两次发出，属实",
    )
    .await;
    submit_action(&c, "complaint_verified").await;
    type_in(
        &c,
        "#act-complaint_rectified [name=measures]",
        "修订一次性告知清单",
    )
    .await;
    submit_action(&c, "complaint_rectified").await;
    type_in(
        &c,
        "#act-complaint_answered [name=feedback]",
        "已致电申请人说明整改情况",
    )
    .await;
    submit_action(&c, "complaint_answered").await;
    assert!(text(&c, "#complaint-stage").await.contains("已反馈"));
    sign_in(&c, &tj.base, WINDOW_TOKEN, "TJ-007").await;
    reload_until(&c, &tj_case, "#complaint-feedback").await;
    assert!(
        text(&c, "#complaint-measures")
            .await
            .contains("修订一次性告知清单")
    );
    c.execute(
        "document.getElementById('evaluation').scrollIntoView()",
        vec![],
    )
    .await
    .expect("scroll");
    shot(&c, "complaint").await;
    assert_eq!(console_errors(&driver, &c).await, Vec::<String>::new());

    // — Another window of 天津 cannot open this window's case.
    sign_out(&c).await;
    sign_in(&c, &tj.base, WINDOW2_TOKEN, "").await;
    c.goto(&tj_case).await.expect("case page");
    let page = text(&c, "main").await;
    assert!(page.contains("无权"), "{page}");
    assert!(!page.contains("张三"), "{page}");
    let refused = console_errors(&driver, &c).await;
    assert!(
        refused.len() == 1 && refused[0].contains("403"),
        "console errors: {refused:?}"
    );

    // — The operator's page.
    sign_in(&c, &bj.base, ADMIN_TOKEN, "").await;
    c.goto(&format!("{}/federation", bj.base))
        .await
        .expect("federation");
    let members = text(&c, "#members").await;
    assert!(members.contains(TJ) && members.contains(BJ), "{members}");
    assert!(
        members.contains("已连接"),
        "天津 shown connected: {members}"
    );
    shot(&c, "federation").await;
    assert_eq!(console_errors(&driver, &c).await, Vec::<String>::new());
    c.close().await.expect("close browser");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_double_submitted_intake_makes_one_case_and_the_form_works_by_keyboard_at_tablet_width() {
    let fed = Federation::new(&[TJ], "");
    let tj = fed.start(TJ);
    let files = tempfile::tempdir().expect("temp dir");
    let scan = files.path().join("scan.pdf");
    std::fs::write(&scan, b"%PDF-1.4 scan").expect("scan");
    let driver = chromedriver();
    let c = browser(&driver, &files.path().join("profile")).await;
    c.set_window_size(768, 1024).await.expect("tablet width");
    sign_in(&c, &tj.base, WINDOW_TOKEN, "").await;
    c.goto(&format!("{}/items/{TJ}/{}/apply", tj.base, code(TJ, 1)))
        .await
        .expect("form");
    // Keyboard only: focus the name and go on with Tab, as a window clerk does.
    css(&c, "#name").await.click().await.expect("focus");
    let tab = "\u{E004}";
    let keys = format!("李四{tab}{tab}{ID_NUMBER}{tab}13900139000");
    c.active_element()
        .await
        .expect("focus")
        .send_keys(&keys)
        .await
        .expect("type");
    assert_eq!(value(&c, "#name").await, "李四");
    assert_eq!(value(&c, "#id_number").await, ID_NUMBER);
    assert_eq!(value(&c, "#phone").await, "13900139000");
    upload(&c, "form", &scan).await;
    upload(&c, "id-card", &scan).await;
    for id in ["form", "id-card"] {
        css(&c, &format!("#m-{id} [name=\"m.{id}.original_checked\"]"))
            .await
            .send_keys(" ")
            .await
            .expect("original checked, by the space bar");
    }
    assert!(fits(&c).await, "the form fits a 768 px screen");
    shot(&c, "intake-form-tablet").await;
    // The same form sent twice (a double click the script did not stop, a retry after a
    // timeout): one case.
    let statuses = c
        .execute_async(
            "const done = arguments[arguments.length - 1];
             const f = document.getElementById('intake');
             const send = () => fetch(f.action, {method: 'POST', body: new URLSearchParams(new FormData(f)), redirect: 'manual'});
             Promise.all([send(), send()]).then(rs => Promise.all(rs.map(r => r.text())).then(ts => done(rs.map((r, i) => r.type + ':' + r.status + (r.type === 'basic' ? ts[i].slice(0, 3000) : '')))));",
            vec![],
        )
        .await
        .expect("two submissions");
    assert_eq!(statuses, json!(["opaqueredirect:0", "opaqueredirect:0"]));
    // Then the submit button, by keyboard: Enter on it.
    css(&c, "#send")
        .await
        .send_keys("\u{E007}")
        .await
        .expect("enter");
    css(&c, "#receipt-case").await;
    let (_, list) = tj.client().get("/api/v1/applications", WINDOW_TOKEN).await;
    assert_eq!(
        list["cases"].as_array().map(Vec::len),
        Some(1),
        "three submissions of one form made one case: {list}"
    );
    c.set_window_size(1280, 800).await.expect("desktop");
    c.goto(&format!("{}/cases", tj.base))
        .await
        .expect("worklist");
    assert!(fits(&c).await, "the worklist fits 1280×800");
    assert_eq!(console_errors(&driver, &c).await, Vec::<String>::new());
    c.close().await.expect("close browser");
}
