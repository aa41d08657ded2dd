//! The load `tongban demo --load RATE` puts on the federation: realistic applications from a
//! window of one region for an item of another (materials uploaded first, as the item lists
//! them; for a 多地联办 item, a third region as its 转出地 or 协办地), and the table of what each region's windows submitted, concluded and have in
//! flight, printed every few seconds.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use tongban_protocol::suite::Suite;

use super::Region;

/// A small generator for the load (not for anything secret).
pub(super) struct Rng(pub(super) u64);

impl Rng {
    pub(super) fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    pub(super) fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const NAMES: [&str; 8] = [
    "张伟", "王芳", "李娜", "刘洋", "陈静", "杨磊", "赵敏", "黄勇",
];

/// One realistic application from a window of `from` for an item of region `to`.
pub(super) async fn submit(
    http: &reqwest::Client,
    from: &Region,
    to: &str,
    members: &[String],
    cache: &mut BTreeMap<(String, String), Vec<Value>>,
    rng: &mut Rng,
    suite: Suite,
) -> Result<(), String> {
    let key = (from.name.clone(), to.to_string());
    if !cache.contains_key(&key) {
        let url = format!("{}/api/v1/catalog/items?region={to}&limit=500", from.base);
        let hits: Value = http
            .get(url)
            .bearer_auth(&from.window_token)
            .send()
            .await
            .map_err(|e| e.to_string())?
            .json()
            .await
            .map_err(|e| e.to_string())?;
        // Only items this region's windows may collect for: 异地代收代办 or 多地联办 ones.
        let list: Vec<Value> = hits["items"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|hit| {
                let modes = &hit["item"]["modes"];
                modes
                    .as_array()
                    .is_some_and(|m| m.iter().any(|x| x == "proxy_intake" || x == "multi_site"))
            })
            .filter(|hit| {
                let c = &hit["item"]["collectors"];
                c == "all_members"
                    || c["regions"]
                        .as_array()
                        .is_some_and(|r| r.iter().any(|x| x == from.name.as_str()))
            })
            .cloned()
            .collect();
        if list.is_empty() {
            return Err(format!(
                "{} sees no item of region {to} it may collect for (yet)",
                from.name
            ));
        }
        cache.insert(key.clone(), list);
    }
    let list = cache.get(&key).map(Vec::as_slice).unwrap_or_default();
    let hit = &list[rng.below(list.len())];
    let item = &hit["item"];
    let mut materials = Vec::new();
    for m in item["materials"].as_array().into_iter().flatten() {
        if m["required"] != true {
            continue;
        }
        let content = format!("{} {} {}", m["name"], from.name, rng.next()).into_bytes();
        // Materials are addressed by the federation's digest: SHA-256, or SM3 in `sm`.
        let digest = suite.digest(&content).to_string();
        let url = format!(
            "{}/api/v1/materials/{digest}?offset=0&total={}",
            from.base,
            content.len()
        );
        let resp = http
            .put(url)
            .bearer_auth(&from.window_token)
            .body(content.clone())
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if !resp.status().is_success() {
            return Err(format!("upload: {}", resp.status()));
        }
        materials.push(json!({
            "material": m["id"], "digest": digest, "size": content.len(),
            "media_type": "application/pdf", "original_checked": true
        }));
    }
    let delivery = item["result"]["delivery"]
        .as_array()
        .and_then(|d| d.first())
        .and_then(Value::as_str)
        .unwrap_or("e_licence")
        .to_string();
    let target = item["targets"]
        .as_array()
        .and_then(|t| t.first())
        .cloned()
        .unwrap_or(json!("natural_person"));
    let (id_type, id_number) = if target == "natural_person" {
        (
            "resident_id_card",
            format!(
                "11010119{:02}0101{:04}",
                60 + rng.below(40),
                rng.below(10_000)
            ),
        )
    } else {
        (
            "credit_code",
            format!("91110000MA{:08}", rng.below(100_000_000)),
        )
    };
    // An item handled by the body of the applicant's place: an applicant of one of its areas.
    let locality = item["bodies"]
        .as_array()
        .filter(|b| !b.is_empty())
        .map(|b| b[rng.below(b.len())]["area"].clone());
    let mut body = json!({
        "region": to,
        "impl_code": item["impl_code"],
        "catalog_version": hit["catalog_version"],
        "applicant": {
            "kind": target,
            "name": NAMES[rng.below(NAMES.len())],
            "id_type": id_type,
            "id_number": id_number,
            "phone": format!("138{:08}", rng.below(100_000_000)),
        },
        "materials": materials,
        "delivery": {"method": delivery, "address": if delivery == "mail" { json!("北京市东城区正义路2号") } else { Value::Null }},
    });
    let modes = item["modes"].as_array().cloned().unwrap_or_default();
    if modes.iter().any(|m| m == "proxy_intake") {
        body["mode"] = json!("proxy_intake");
    } else {
        // 多地联办: every role but the handler's own (转入地) goes to another member — often a
        // third region, so the case runs across three.
        body["mode"] = json!("multi_site");
        let mut regions = serde_json::Map::new();
        for step in item["steps"].as_array().into_iter().flatten() {
            let role = step["role"].as_str().unwrap_or_default();
            if role == "transfer_in" || role.is_empty() || regions.contains_key(role) {
                continue;
            }
            let others: Vec<&String> = members.iter().filter(|m| m.as_str() != to).collect();
            if let Some(region) = others.get(rng.below(others.len())) {
                regions.insert(role.to_string(), json!(region));
            }
        }
        body["step_regions"] = Value::Object(regions);
    }
    if let Some(area) = locality {
        body["locality"] = area;
    }
    let resp = http
        .post(format!("{}/api/v1/applications", from.base))
        .bearer_auth(&from.window_token)
        .json(&body)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if resp.status().as_u16() == 201 {
        Ok(())
    } else {
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        Err(format!(
            "{status}: {}",
            text.chars().take(300).collect::<String>()
        ))
    }
}

/// Prints, per region, what its windows collected: submitted by the demo, concluded, in flight.
pub(super) async fn report(
    http: &reqwest::Client,
    regions: &BTreeMap<String, Region>,
    submitted: &BTreeMap<String, u64>,
    failed: u64,
) {
    println!(
        "{:<14} {:>9} {:>9} {:>9} {:>9}",
        "region", "submitted", "concluded", "ended", "in flight"
    );
    for r in regions.values() {
        let health: Value = match http.get(format!("{}/healthz", r.base)).send().await {
            Ok(resp) => resp.json().await.unwrap_or(Value::Null),
            Err(_) => Value::Null,
        };
        let collected = &health["cases"]["collected"];
        let count = |stage: &str| collected[stage].as_u64().unwrap_or(0);
        let total: u64 = collected
            .as_object()
            .map_or(0, |o| o.values().filter_map(Value::as_u64).sum());
        let concluded = count("concluded");
        let ended = count("rejected") + count("withdrawn");
        println!(
            "{:<14} {:>9} {:>9} {:>9} {:>9}",
            r.name,
            submitted.get(&r.name).copied().unwrap_or(0),
            concluded,
            ended,
            total.saturating_sub(concluded + ended)
        );
    }
    if failed > 0 {
        println!("({failed} applications failed; the first are shown above)");
    }
}
