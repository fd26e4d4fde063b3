//! A short `ringlink-bench soak` end to end: both processes, sequence checks, end marker,
//! report files and charts. The thresholds that depend on the machine (rate, RSS) are
//! switched off here; `scripts/soak-ci.sh` runs the real 60 s soak with them.

use std::process::Command;

#[test]
fn short_soak_is_lossless_and_writes_its_report() {
    let out = std::env::temp_dir().join(format!("ringlink-soak-smoke-{}", std::process::id()));
    let run = Command::new(env!("CARGO_BIN_EXE_ringlink-bench"))
        .args([
            "soak",
            "--duration",
            "1.5",
            "--patterns",
            "DEALER_ROUTER",
            "--backends",
            "epoll",
            "--sample-ms",
            "250",
            "--warmup-min-s",
            "0.5",
            "--min-rate",
            "0",
            "--rss-tolerance-pct",
            "1000000",
            "--out",
        ])
        .arg(&out)
        .output()
        .expect("ringlink-bench runs");
    let stdout = String::from_utf8_lossy(&run.stdout);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "soak failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("| DEALER_ROUTER | epoll |"), "{stdout}");
    assert!(stdout.contains("**pass**"), "{stdout}");
    let json = std::fs::read_to_string(out.join("soak.json")).expect("soak.json");
    let v: serde_json::Value = serde_json::from_str(&json).expect("valid JSON");
    let run0 = &v["runs"][0];
    assert_eq!(run0["ok"], true);
    assert_eq!(run0["figures"]["lost"], 0);
    assert_eq!(run0["figures"]["out_of_sequence"], 0);
    assert_eq!(run0["figures"]["sent"], run0["figures"]["received"]);
    assert!(run0["figures"]["received"].as_u64().unwrap() > 0);
    // The first sample (at the first message) and the last (at the end marker) are always
    // there; how many fall in between depends on the machine's load.
    let rx = run0["rx_samples"].as_array().unwrap();
    assert!(rx.len() >= 2, "{rx:?}");
    let msgs: Vec<u64> = rx.iter().map(|s| s["msgs"].as_u64().unwrap()).collect();
    assert!(msgs.windows(2).all(|w| w[0] <= w[1]), "{msgs:?}");
    assert_eq!(msgs.last(), run0["figures"]["received"].as_u64().as_ref());
    let svg = std::fs::read_to_string(out.join("charts/soak-DEALER_ROUTER-epoll.svg"))
        .expect("chart written");
    assert!(svg.starts_with("<svg ") && svg.trim_end().ends_with("</svg>"));
    let _ = std::fs::remove_dir_all(&out);
}
