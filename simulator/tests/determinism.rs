//! Same scenario and seed ⇒ byte-identical report; another seed ⇒ another report. Checked on
//! the library's report and on the CLI's output.

mod common;

use common::{run, scenario, short};

#[test]
fn the_same_seed_gives_the_same_report_byte_for_byte() {
    let s = scenario("crash-restart");
    let a = run(&s, short(7, "2h", 1500.0));
    let b = run(&s, short(7, "2h", 1500.0));
    assert!(a.cases.acknowledged > 20, "{}", a.to_text());
    assert_eq!(a.to_json(), b.to_json());
    assert_eq!(a.to_text(), b.to_text());
    assert_eq!(
        tongban_simulator::svg::chart(&a),
        tongban_simulator::svg::chart(&b)
    );
    let c = run(&s, short(8, "2h", 1500.0));
    assert_ne!(a.to_json(), c.to_json(), "another seed, another run");
}

#[test]
fn the_cli_prints_the_same_bytes_twice() {
    let exe = env!("CARGO_BIN_EXE_tongban-sim");
    let run = |seed: &str| {
        let out = std::process::Command::new(exe)
            .args([
                "run",
                "lossy-links",
                "--seed",
                seed,
                "--until",
                "1h",
                "--cases-per-day",
                "800",
                "--json",
                "-",
            ])
            .output()
            .expect("tongban-sim runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
        out.stdout
    };
    let a = run("3");
    assert_eq!(a, run("3"));
    assert_ne!(a, run("4"));
}
