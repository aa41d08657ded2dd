//! The report's chart, as one standalone SVG file: cases in flight over time per handling
//! region, with partitions shaded and crashes and restarts marked; below it, the
//! distribution of event delivery latency. Like the report, it is a pure function of the run.

use std::fmt::Write as _;

use crate::duration::Dur;
use crate::report::Report;

const W: f64 = 900.0;
const H: f64 = 640.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 860.0;
const TOP1: f64 = 50.0;
const BOTTOM1: f64 = 330.0;
const TOP2: f64 = 410.0;
const BOTTOM2: f64 = 590.0;
const COLOURS: [&str; 8] = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
];

fn esc(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The chart of `report`.
pub fn chart(report: &Report) -> String {
    let t = &report.timeline;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="11">"#
    );
    let _ = writeln!(s, r#"<rect width="{W}" height="{H}" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="{LEFT}" y="22" font-size="14" font-weight="bold">{} · seed {} · {}</text>"#,
        esc(&report.scenario),
        report.seed,
        report.result.to_uppercase()
    );
    let _ = writeln!(
        s,
        r#"<text x="{LEFT}" y="40">Cases in flight (acknowledged, not yet decided) by handling region</text>"#
    );
    let span = report.simulated.ms().max(1) as f64;
    let x = |ms: u64| LEFT + (RIGHT - LEFT) * (ms as f64 / span);
    let max_y = t
        .samples
        .iter()
        .flat_map(|(_, v)| v.iter().copied())
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let y = |v: u64| BOTTOM1 - (BOTTOM1 - TOP1) * (v as f64 / max_y);
    // Partitions, shaded.
    for (from, to) in &t.partitions {
        let _ = writeln!(
            s,
            r##"<rect x="{:.1}" y="{TOP1}" width="{:.1}" height="{:.1}" fill="#fde0c5" opacity="0.6"><title>partition +{} to +{}</title></rect>"##,
            x(*from),
            (x(*to) - x(*from)).max(1.0),
            BOTTOM1 - TOP1,
            Dur(*from),
            Dur(*to)
        );
    }
    // The end of the workload.
    let end = x(report.until.ms());
    let _ = writeln!(
        s,
        r##"<line x1="{end:.1}" y1="{TOP1}" x2="{end:.1}" y2="{BOTTOM1}" stroke="#555" stroke-dasharray="2,3"/><text x="{:.1}" y="{:.1}" fill="#555">workload ends</text>"##,
        end + 3.0,
        TOP1 + 10.0
    );
    // Axes and ticks.
    let _ = writeln!(
        s,
        r##"<line x1="{LEFT}" y1="{BOTTOM1}" x2="{RIGHT}" y2="{BOTTOM1}" stroke="black"/><line x1="{LEFT}" y1="{TOP1}" x2="{LEFT}" y2="{BOTTOM1}" stroke="black"/>"##
    );
    for k in 0..=4u64 {
        let v = (max_y as u64) * k / 4;
        let _ = writeln!(
            s,
            r##"<text x="{:.1}" y="{:.1}" text-anchor="end">{v}</text><line x1="{LEFT}" y1="{:.1}" x2="{RIGHT}" y2="{:.1}" stroke="#eee"/>"##,
            LEFT - 5.0,
            y(v) + 4.0,
            y(v),
            y(v)
        );
        let ms = report.simulated.ms() * k / 4;
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">+{}</text>"#,
            x(ms),
            BOTTOM1 + 15.0,
            Dur(ms / 60_000 * 60_000)
        );
    }
    // Series.
    for (k, name) in t.series.iter().enumerate() {
        let colour = COLOURS[k % COLOURS.len()];
        let points: Vec<String> = t
            .samples
            .iter()
            .map(|(at, v)| format!("{:.1},{:.1}", x(*at), y(v.get(k).copied().unwrap_or(0))))
            .collect();
        if !points.is_empty() {
            let _ = writeln!(
                s,
                r#"<polyline fill="none" stroke="{colour}" stroke-width="1.5" points="{}"/>"#,
                points.join(" ")
            );
        }
        let lx = LEFT + 10.0 + (k as f64) * 98.0;
        let _ = writeln!(
            s,
            r#"<rect x="{lx:.1}" y="{:.1}" width="10" height="10" fill="{colour}"/><text x="{:.1}" y="{:.1}">{}</text>"#,
            BOTTOM1 + 24.0,
            lx + 14.0,
            BOTTOM1 + 33.0,
            esc(name)
        );
    }
    // Crashes and restarts.
    for (at, node, what) in &t.marks {
        let colour = if what == "crash" {
            "#d62728"
        } else {
            "#2ca02c"
        };
        let _ = writeln!(
            s,
            r#"<line x1="{:.1}" y1="{TOP1}" x2="{:.1}" y2="{BOTTOM1}" stroke="{colour}" stroke-width="1"><title>{} {} at +{}</title></line>"#,
            x(*at),
            x(*at),
            esc(what),
            esc(node),
            Dur(*at)
        );
    }
    // Latency histogram.
    let _ = writeln!(
        s,
        r#"<text x="{LEFT}" y="{:.1}">Event delivery latency (written → held by the other region): {} events, p50 {} ms, p99 {} ms</text>"#,
        TOP2 - 12.0,
        report.event_latency_ms.count,
        report.event_latency_ms.p50,
        report.event_latency_ms.p99
    );
    let buckets: Vec<&(u64, u64)> = t.latency_histogram.iter().collect();
    let last_used = buckets.iter().rposition(|(_, c)| *c > 0).unwrap_or(0);
    let shown = &buckets[..(last_used + 1).max(8).min(buckets.len())];
    let max_c = shown.iter().map(|(_, c)| *c).max().unwrap_or(0).max(1) as f64;
    let bw = (RIGHT - LEFT) / shown.len().max(1) as f64;
    let _ = writeln!(
        s,
        r##"<line x1="{LEFT}" y1="{BOTTOM2}" x2="{RIGHT}" y2="{BOTTOM2}" stroke="black"/>"##
    );
    for (k, (bound, count)) in shown.iter().enumerate() {
        let h = (BOTTOM2 - TOP2) * (*count as f64 / max_c);
        let bx = LEFT + bw * k as f64;
        let label = if *bound == u64::MAX {
            "more".to_string()
        } else if *bound >= 1000 {
            Dur(*bound / 1000 * 1000).to_string()
        } else {
            format!("{bound}ms")
        };
        let _ = writeln!(
            s,
            r##"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{h:.1}" fill="#4c78a8"><title>≤ {label}: {count}</title></rect><text x="{:.1}" y="{:.1}" text-anchor="middle" font-size="9">≤{label}</text>"##,
            bx + 1.0,
            BOTTOM2 - h,
            (bw - 2.0).max(1.0),
            bx + bw / 2.0,
            BOTTOM2 + 12.0
        );
    }
    let _ = writeln!(s, "</svg>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_report_still_draws() {
        let svg = chart(&Report::default());
        assert!(svg.starts_with("<svg"));
        assert!(svg.trim_end().ends_with("</svg>"));
    }
}
