//! SVG charts of benchmark results. Bar charts (this file): one chart per table, one group
//! of bars per implementation, bar = median over the repetitions, whisker = min–max. Line
//! charts over time (soak): `line.rs`.
//!
//! Written by hand rather than with a plotting crate: a grouped bar chart with whiskers and
//! rotated labels is a few dozen SVG elements, and this way the bench gains no dependency
//! and no font handling (text is left to the SVG viewer, as `<text>` elements).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::compare::{Case, Record};
use crate::stats::Summary;

mod line;

pub use line::{render_line_svg, Band, Line, LineChart, Panel};

/// One chart: groups of bars (one group per implementation), one bar per series.
pub struct Chart {
    pub title: String,
    /// One line under the title: what the bars and whiskers are.
    pub subtitle: String,
    /// Value axis label, with the unit.
    pub y_label: String,
    /// Series names (e.g. "RTT p50", "RTT p99"); a legend is drawn when there are several.
    pub series: Vec<String>,
    pub groups: Vec<Group>,
}

/// The bars of one implementation.
pub struct Group {
    /// Axis label (the implementation name, plus the success count if some runs failed).
    pub label: String,
    /// Base colour (`#rrggbb`); series after the first are drawn in lighter tints of it.
    pub color: &'static str,
    /// One entry per series; `None`: no successful run, drawn as "no data".
    pub bars: Vec<Option<Summary>>,
}

/// Writes one SVG per `compare` table (test, pattern, transport, size) into `dir/charts/`
/// and returns the paths. Throughput tables chart `rx Kmsg/s`; latency tables chart RTT p50
/// and p99. Tables of any other test are skipped (there is no headline metric to chart).
///
/// Called by `compare::run` once the result files are written.
pub fn write_compare_charts(dir: &Path, records: &[Record]) -> Result<Vec<PathBuf>, String> {
    let mut cases: Vec<Case> = Vec::new();
    for r in records {
        if !cases.contains(&r.case) {
            cases.push(r.case);
        }
    }
    let mut charts = Vec::new();
    for case in cases {
        let rs: Vec<&Record> = records.iter().filter(|r| r.case == case).collect();
        if let Some(chart) = compare_chart(&case, &rs) {
            charts.push((file_stem(&case.label()), chart));
        }
    }
    write_all(&dir.join("charts"), &charts)
}

/// Writes `charts` (file stem, chart) as `<dir>/<stem>.svg`; a stem seen before gets a
/// numeric suffix so no chart overwrites another.
pub fn write_all(dir: &Path, charts: &[(String, Chart)]) -> Result<Vec<PathBuf>, String> {
    if charts.is_empty() {
        return Ok(Vec::new());
    }
    std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    let mut paths: Vec<PathBuf> = Vec::new();
    for (stem, chart) in charts {
        let mut path = dir.join(format!("{stem}.svg"));
        let mut k = 2;
        while paths.contains(&path) {
            path = dir.join(format!("{stem}-{k}.svg"));
            k += 1;
        }
        std::fs::write(&path, render_svg(chart))
            .map_err(|e| format!("writing {}: {e}", path.display()))?;
        paths.push(path);
    }
    Ok(paths)
}

/// The chart of one `compare` table, or `None` for a test without a charted metric.
fn compare_chart(case: &Case, records: &[&Record]) -> Option<Chart> {
    let (metrics, y_label, what): (&[(&str, &str)], &str, String) = match case.test.name() {
        "thr" => (
            &[("rx_kmsg_s", "rx Kmsg/s")],
            "rx Kmsg/s (higher is better)",
            format!("{} messages per run", case.count),
        ),
        "lat" => (
            &[("rtt_p50_us", "RTT p50"), ("rtt_p99_us", "RTT p99")],
            "round trip µs (lower is better)",
            format!("{} round trips per run", case.count),
        ),
        _ => return None,
    };
    let mut impls: Vec<&str> = Vec::new();
    for r in records {
        if !impls.contains(&r.imp.name) {
            impls.push(r.imp.name);
        }
    }
    let groups = impls
        .into_iter()
        .map(|name| {
            let runs: Vec<&Record> = records
                .iter()
                .copied()
                .filter(|r| r.imp.name == name)
                .collect();
            let ok = runs.iter().filter(|r| r.outcome.is_ok()).count();
            let bars = metrics
                .iter()
                .map(|(key, _)| {
                    let values: Vec<f64> = runs
                        .iter()
                        .filter_map(|r| r.outcome.as_ref().ok())
                        .filter_map(|m| m.iter().find(|(k, _)| k == key).map(|&(_, v)| v))
                        .collect();
                    Summary::of(&values)
                })
                .collect();
            Group {
                label: run_label(name, ok, runs.len()),
                color: impl_color(name),
                bars,
            }
        })
        .collect();
    Some(Chart {
        title: case.label(),
        subtitle: format!(
            "bar: median over the repetitions, whisker: min–max; {what}, implementations interleaved"
        ),
        y_label: y_label.to_string(),
        series: metrics.iter().map(|(_, n)| n.to_string()).collect(),
        groups,
    })
}

/// `name`, plus "(ok/total ok)" when some runs failed.
pub fn run_label(name: &str, ok: usize, total: usize) -> String {
    if ok == total {
        name.to_string()
    } else {
        format!("{name} ({ok}/{total} ok)")
    }
}

/// One hue per library / backend (ringlink io_uring blue, epoll orange, libzmq grey, rzmq
/// purple, zeromq red), so the same library reads the same in every chart.
pub fn impl_color(name: &str) -> &'static str {
    // The peer libraries first: `rzmq-uring` is rzmq, not ringlink's io_uring.
    if name.starts_with("rzmq") {
        "#8e44ad"
    } else if name.starts_with("zeromq") {
        "#c0392b"
    } else if name.contains("uring") {
        "#3b6fb6"
    } else if name.contains("epoll") {
        "#e08a2c"
    } else if name.contains("libzmq") {
        "#7f7f7f"
    } else {
        "#4f9a55"
    }
}

/// A file name made of the label's letters and digits, other runs of characters as `-`.
pub fn file_stem(label: &str) -> String {
    let mut s = String::new();
    for c in label.chars() {
        if c.is_ascii_alphanumeric() || c == '_' {
            s.push(c);
        } else if !s.ends_with('-') {
            s.push('-');
        }
    }
    let s = s.trim_matches('-');
    if s.is_empty() {
        "chart".to_string()
    } else {
        s.to_string()
    }
}

// ----- rendering ------------------------------------------------------------------------

const BAR_W: f64 = 30.0;
const GROUP_GAP: f64 = 22.0;
const PLOT_H: f64 = 300.0;
const TOP: f64 = 74.0;
const RIGHT: f64 = 24.0;
/// Average glyph width of the 11 px axis labels (sans-serif), for sizing margins.
const CHAR_W: f64 = 6.4;
/// Axis labels are rotated by this many degrees (counter-clockwise).
const LABEL_ANGLE: f64 = 45.0;

/// The chart as a standalone SVG document.
pub fn render_svg(c: &Chart) -> String {
    let nseries = c.series.len().max(1);
    let group_w = nseries as f64 * BAR_W + GROUP_GAP;
    let longest = c.groups.iter().map(|g| g.label.chars().count()).max();
    let (sin, cos) = LABEL_ANGLE.to_radians().sin_cos();
    let label_len = longest.unwrap_or(0) as f64 * CHAR_W;
    // Rotated labels hang down and to the left of their group's centre.
    let left = (label_len * cos - group_w / 2.0 + 12.0).max(84.0);
    // Bold 15 px title and 11 px subtitle, average glyph widths.
    let text_w =
        (c.title.chars().count() as f64 * 9.4).max(c.subtitle.chars().count() as f64 * 6.2);
    let legend: Vec<f64> = c
        .series
        .iter()
        .map(|n| n.chars().count() as f64 * CHAR_W + 28.0)
        .collect();
    let legend_w: f64 = if c.series.len() > 1 {
        legend.iter().sum()
    } else {
        0.0
    };
    let width = (left + (c.groups.len() as f64 * group_w).max(160.0).max(legend_w) + RIGHT)
        .max(text_w + 32.0)
        .ceil();
    // The plot takes the whole width; each group's bars are centred in an equal slot.
    let plot_w = width - left - RIGHT;
    let slot = plot_w / c.groups.len().max(1) as f64;
    let bottom = TOP + PLOT_H;
    let height = (bottom + label_len * sin + 28.0).ceil();

    let top_value = c
        .groups
        .iter()
        .flat_map(|g| g.bars.iter().flatten())
        .map(|s| s.max.max(s.median))
        .filter(|v| v.is_finite())
        .fold(0.0, f64::max);
    let (axis_max, step) = nice_axis(top_value);
    let y = |v: f64| bottom - (v / axis_max).clamp(0.0, 1.0) * PLOT_H;

    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif">"#
    );
    let _ = writeln!(
        s,
        r#"<rect width="{width}" height="{height}" fill="white"/>"#
    );
    let _ = writeln!(
        s,
        r#"<text class="title" x="{:.1}" y="24" font-size="15" font-weight="bold">{}</text>"#,
        16.0,
        esc(&c.title)
    );
    let _ = writeln!(
        s,
        r##"<text class="subtitle" x="16" y="42" font-size="11" fill="#555">{}</text>"##,
        esc(&c.subtitle)
    );

    // Value axis: grid lines, tick labels, axis title.
    let ticks = (axis_max / step).round() as usize;
    for i in 0..=ticks {
        let v = i as f64 * step;
        let yy = y(v);
        let _ = writeln!(
            s,
            r##"<line x1="{left:.1}" y1="{yy:.1}" x2="{:.1}" y2="{yy:.1}" stroke="#e3e3e3"/>"##,
            left + plot_w
        );
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}" font-size="11" text-anchor="end">{}</text>"#,
            left - 6.0,
            yy + 4.0,
            fmt_tick(v, step)
        );
    }
    let _ = writeln!(
        s,
        r#"<text class="y-label" transform="translate(18 {:.1}) rotate(-90)" font-size="12" text-anchor="middle">{}</text>"#,
        TOP + PLOT_H / 2.0,
        esc(&c.y_label)
    );
    let _ = writeln!(
        s,
        r#"<line x1="{left:.1}" y1="{bottom:.1}" x2="{:.1}" y2="{bottom:.1}" stroke="black"/>"#,
        left + plot_w
    );
    let _ = writeln!(
        s,
        r#"<line x1="{left:.1}" y1="{TOP:.1}" x2="{left:.1}" y2="{bottom:.1}" stroke="black"/>"#
    );

    // Bars, whiskers, value labels, group labels.
    for (gi, g) in c.groups.iter().enumerate() {
        let gx = left + gi as f64 * slot + (slot - nseries as f64 * BAR_W) / 2.0;
        for (si, bar) in g.bars.iter().enumerate() {
            let x = gx + si as f64 * BAR_W;
            let cx = x + BAR_W / 2.0;
            let series = c.series.get(si).map_or("", String::as_str);
            let Some(sum) = bar else {
                let _ = writeln!(
                    s,
                    r##"<text class="no-data" transform="translate({:.1} {:.1}) rotate(-90)" font-size="10" fill="#b00">no data</text>"##,
                    cx + 3.0,
                    bottom - 4.0
                );
                continue;
            };
            let top = y(sum.median);
            let _ = writeln!(
                s,
                r#"<rect class="bar" data-group="{}" data-series="{}" x="{:.1}" y="{top:.1}" width="{:.1}" height="{:.1}" fill="{}"><title>{}</title></rect>"#,
                esc(&g.label),
                esc(series),
                x + 2.0,
                BAR_W - 4.0,
                bottom - top,
                tint(g.color, si),
                esc(&format!(
                    "{} {series}: median {} [min {} – max {}], {} runs",
                    g.label,
                    fmt_value(sum.median),
                    fmt_value(sum.min),
                    fmt_value(sum.max),
                    sum.n
                ))
            );
            let (y_lo, y_hi) = (y(sum.min), y(sum.max));
            if sum.n > 1 {
                let _ = writeln!(
                    s,
                    r#"<path class="whisker" d="M{cx:.1} {y_lo:.1}V{y_hi:.1}M{:.1} {y_lo:.1}h{:.1}M{:.1} {y_hi:.1}h{:.1}" stroke="black" fill="none"/>"#,
                    cx - BAR_W / 4.0,
                    BAR_W / 2.0,
                    cx - BAR_W / 4.0,
                    BAR_W / 2.0
                );
            }
            let _ = writeln!(
                s,
                r#"<text class="value" x="{cx:.1}" y="{:.1}" font-size="10" text-anchor="middle">{}</text>"#,
                y_hi.min(top) - 4.0,
                fmt_value(sum.median)
            );
        }
        let lx = gx + nseries as f64 * BAR_W / 2.0;
        let _ = writeln!(
            s,
            r#"<text class="group-label" transform="translate({lx:.1} {:.1}) rotate(-{LABEL_ANGLE})" font-size="11" text-anchor="end">{}</text>"#,
            bottom + 14.0,
            esc(&g.label)
        );
    }

    // Legend: one swatch per series, in the neutral grey's tints.
    if c.series.len() > 1 {
        let mut x = left + plot_w - legend_w;
        for ((si, name), w) in c.series.iter().enumerate().zip(&legend) {
            let _ = writeln!(
                s,
                r#"<rect class="legend" x="{x:.1}" y="52" width="12" height="12" fill="{}"/>"#,
                tint("#7f7f7f", si)
            );
            let _ = writeln!(
                s,
                r#"<text x="{:.1}" y="62" font-size="11">{}</text>"#,
                x + 16.0,
                esc(name)
            );
            x += w;
        }
    }
    s.push_str("</svg>\n");
    s
}

/// Axis maximum and tick step: about five ticks of 1, 2, 2.5 or 5 × 10^k covering `max`.
fn nice_axis(max: f64) -> (f64, f64) {
    if !(max.is_finite() && max > 0.0) {
        return (1.0, 0.2);
    }
    let raw = max / 5.0;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .into_iter()
        .map(|m| m * mag)
        .find(|&s| s >= raw)
        .unwrap_or(10.0 * mag);
    ((max / step).ceil() * step, step)
}

fn fmt_tick(v: f64, step: f64) -> String {
    // As many decimals as the step needs (0.25 -> 2, 0.2 -> 1, 50 -> 0).
    let decimals = (0..6)
        .find(|&d| {
            let x = step * 10f64.powi(d);
            (x - x.round()).abs() < 1e-6
        })
        .unwrap_or(6) as usize;
    format!("{v:.decimals$}")
}

/// A bar's value label: whole numbers from 100 up, else three significant digits.
fn fmt_value(v: f64) -> String {
    let a = v.abs();
    if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// `color` for series 0; later series are mixed with white (45 %, then 70 %).
fn tint(color: &str, series: usize) -> String {
    let mix = match series {
        0 => return color.to_string(),
        1 => 0.45,
        _ => 0.7,
    };
    let channel = |i: usize| {
        let c = u8::from_str_radix(color.get(i..i + 2).unwrap_or("80"), 16).unwrap_or(0x80);
        (f64::from(c) + (255.0 - f64::from(c)) * mix).round() as u8
    };
    format!("#{:02x}{:02x}{:02x}", channel(1), channel(3), channel(5))
}

/// Escapes text for SVG content and attribute values.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::impls::{Impl, Pattern, Test, Transport};

    /// Minimal XML well-formedness check: every tag closed in order, attributes quoted,
    /// `&` only in entities, one root element.
    pub(crate) fn assert_well_formed(svg: &str) {
        let mut stack: Vec<String> = Vec::new();
        let mut rest = svg;
        let mut roots = 0;
        while let Some(open) = rest.find('<') {
            let text = &rest[..open];
            for (i, _) in text.match_indices('&') {
                let ent = &text[i..];
                assert!(
                    ["&amp;", "&lt;", "&gt;", "&quot;"]
                        .iter()
                        .any(|e| ent.starts_with(e)),
                    "bare & in text: {ent:.20}"
                );
            }
            let close = rest[open..].find('>').expect("unterminated tag") + open;
            let tag = &rest[open + 1..close];
            assert!(!tag.contains('<'), "'<' inside a tag: {tag}");
            assert_eq!(tag.matches('"').count() % 2, 0, "unbalanced quotes: {tag}");
            if let Some(name) = tag.strip_prefix('/') {
                assert_eq!(
                    stack.pop().as_deref(),
                    Some(name.trim()),
                    "mismatched </{name}>"
                );
            } else if !tag.ends_with('/') {
                let name = tag.split_whitespace().next().expect("tag name").to_string();
                if stack.is_empty() {
                    roots += 1;
                }
                stack.push(name);
            } else if stack.is_empty() {
                roots += 1;
            }
            rest = &rest[close + 1..];
        }
        assert!(stack.is_empty(), "unclosed: {stack:?}");
        assert_eq!(roots, 1, "one root element");
        assert!(svg.starts_with("<svg "));
    }

    fn summary(v: &[f64]) -> Option<Summary> {
        Summary::of(v)
    }

    #[test]
    fn chart_has_a_bar_and_whisker_per_series_and_group() {
        let chart = Chart {
            title: "lat PAIR tcp 64 B".into(),
            subtitle: "bar: median, whisker: min–max <&>".into(),
            y_label: "round trip µs".into(),
            series: vec!["RTT p50".into(), "RTT p99".into()],
            groups: vec![
                Group {
                    label: "ringlink-uring".into(),
                    color: impl_color("ringlink-uring"),
                    bars: vec![
                        summary(&[70.0, 80.0, 75.0]),
                        summary(&[150.0, 190.0, 160.0]),
                    ],
                },
                Group {
                    label: "libzmq (2/3 ok)".into(),
                    color: impl_color("libzmq"),
                    bars: vec![summary(&[82.0, 90.0]), None],
                },
            ],
        };
        let svg = render_svg(&chart);
        assert_well_formed(&svg);
        assert_eq!(svg.matches(r#"class="bar""#).count(), 3);
        assert_eq!(svg.matches(r#"class="whisker""#).count(), 3);
        assert_eq!(svg.matches(r#"class="no-data""#).count(), 1);
        assert_eq!(svg.matches(r#"class="legend""#).count(), 2);
        assert!(svg.contains(">lat PAIR tcp 64 B</text>"));
        assert!(svg.contains(">ringlink-uring</text>"));
        assert!(svg.contains(">libzmq (2/3 ok)</text>"));
        assert!(svg.contains("&lt;&amp;&gt;"));
        // Median labels; the p99 bar of uring is the tallest, so the axis reaches 200.
        assert!(svg.contains(">75.0</text>") && svg.contains(">160</text>"));
        assert!(svg.contains(">200</text>"));
    }

    #[test]
    fn axis_steps_are_round() {
        assert_eq!(nice_axis(17_916.5), (20_000.0, 5000.0));
        assert_eq!(nice_axis(190.0), (200.0, 50.0));
        assert_eq!(nice_axis(0.9), (1.0, 0.2));
        assert_eq!(nice_axis(0.0), (1.0, 0.2));
        assert_eq!(fmt_tick(0.4, 0.2), "0.4");
        assert_eq!(fmt_tick(0.75, 0.25), "0.75");
        assert_eq!(fmt_tick(5000.0, 5000.0), "5000");
        assert_eq!(tint("#7f7f7f", 0), "#7f7f7f");
        assert_eq!(tint("#000000", 1), "#737373");
        assert_eq!(file_stem("thr PAIR tcp 64 B"), "thr-PAIR-tcp-64-B");
    }

    fn record(
        case: Case,
        imp: &str,
        rep: usize,
        outcome: Result<Vec<(&'static str, f64)>, String>,
    ) -> Record {
        Record {
            case,
            imp: Impl::parse(imp).expect("known implementation"),
            rep,
            secs: 0.1,
            outcome,
        }
    }

    #[test]
    fn compare_records_give_one_chart_per_table() {
        let thr = Case {
            test: Test::Thr,
            pattern: Pattern::Pair,
            transport: Transport::Tcp,
            size: 64,
            count: 200_000,
        };
        let lat = Case {
            test: Test::Lat,
            count: 20_000,
            ..thr
        };
        let mut records = Vec::new();
        for rep in 0..3 {
            for (imp, rx) in [("ringlink-uring", 12_000.0), ("libzmq", 4_000.0)] {
                let rx = rx + 100.0 * rep as f64;
                records.push(record(
                    thr,
                    imp,
                    rep,
                    Ok(vec![("rx_kmsg_s", rx), ("tx_kmsg_s", rx)]),
                ));
            }
            for (imp, p50) in [("ringlink-uring", 80.0), ("libzmq", 90.0)] {
                let outcome = if imp == "libzmq" && rep == 1 {
                    Err("timed out".to_string())
                } else {
                    Ok(vec![("rtt_p50_us", p50), ("rtt_p99_us", 2.0 * p50)])
                };
                records.push(record(lat, imp, rep, outcome));
            }
        }
        let dir = std::env::temp_dir().join(format!("ringlink-charts-{}", std::process::id()));
        let paths = write_compare_charts(&dir, &records).expect("charts written");
        let names: Vec<String> = paths
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["thr-PAIR-tcp-64-B.svg", "lat-PAIR-tcp-64-B.svg"]);
        let thr_svg = std::fs::read_to_string(&paths[0]).expect("readable");
        let lat_svg = std::fs::read_to_string(&paths[1]).expect("readable");
        std::fs::remove_dir_all(&dir).expect("cleanup");
        for svg in [&thr_svg, &lat_svg] {
            assert_well_formed(svg);
        }
        assert_eq!(thr_svg.matches(r#"class="bar""#).count(), 2);
        assert!(thr_svg.contains(">thr PAIR tcp 64 B</text>"));
        assert!(thr_svg.contains("median 12100 [min 12000 – max 12200], 3 runs"));
        assert!(thr_svg.contains(">rx Kmsg/s (higher is better)</text>"));
        assert_eq!(lat_svg.matches(r#"class="bar""#).count(), 4);
        assert!(lat_svg.contains(">libzmq (2/3 ok)</text>"));
        assert!(lat_svg.contains(r#"data-series="RTT p99""#));
    }
}
