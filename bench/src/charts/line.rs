//! SVG line charts over time (the soak's rate, RSS and backlog): stacked panels sharing one
//! x axis, each with its own y axis, lines, translucent bands and horizontal rules.

use std::fmt::Write as _;

use super::{esc, fmt_tick, nice_axis, CHAR_W};

/// Stacked panels of line series over one shared x axis (time), e.g. message rate above RSS.
pub struct LineChart {
    pub title: String,
    /// Lines under the title (`\n` separates them).
    pub subtitle: String,
    /// x axis label, with the unit.
    pub x_label: String,
    /// Right end of the x axis (data units); rounded up to a tick.
    pub x_max: f64,
    /// A span of x shaded in every panel (e.g. the warm-up), with its label.
    pub shade: Option<(f64, f64, String)>,
    pub panels: Vec<Panel>,
}

/// One panel of a [`LineChart`]: its own y axis (from 0), lines, bands and rules.
pub struct Panel {
    /// y axis label, with the unit.
    pub y_label: String,
    pub lines: Vec<Line>,
    /// Translucent rectangles (e.g. an allowed range), drawn under the lines.
    pub bands: Vec<Band>,
    /// Horizontal reference lines (e.g. a minimum rate), with a label.
    pub rules: Vec<(f64, String)>,
}

/// One polyline; a legend entry per line is drawn at the top of its panel.
pub struct Line {
    pub name: String,
    pub color: String,
    pub dashed: bool,
    /// (x, y) points in x order.
    pub points: Vec<(f64, f64)>,
}

/// A translucent rectangle in data coordinates.
pub struct Band {
    pub x0: f64,
    pub x1: f64,
    pub y0: f64,
    pub y1: f64,
    pub color: String,
}

const LINE_LEFT: f64 = 76.0;
const LINE_RIGHT: f64 = 24.0;
const LINE_W: f64 = 720.0;
const PANEL_H: f64 = 190.0;
const PANEL_GAP: f64 = 56.0;

/// The line chart as a standalone SVG document.
pub fn render_line_svg(c: &LineChart) -> String {
    let width = LINE_LEFT + LINE_W + LINE_RIGHT;
    let sub_lines: Vec<&str> = c.subtitle.lines().collect();
    let top = 50.0 + 14.0 * sub_lines.len() as f64;
    let height = top + c.panels.len() as f64 * (PANEL_H + PANEL_GAP) + 4.0;
    let (x_max, x_step) = nice_axis(c.x_max);
    let x = |v: f64| LINE_LEFT + (v / x_max).clamp(0.0, 1.0) * LINE_W;

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
        r#"<text class="title" x="16" y="24" font-size="15" font-weight="bold">{}</text>"#,
        esc(&c.title)
    );
    for (i, line) in sub_lines.iter().enumerate() {
        let _ = writeln!(
            s,
            r##"<text class="subtitle" x="16" y="{:.1}" font-size="11" fill="#555">{}</text>"##,
            42.0 + 14.0 * i as f64,
            esc(line)
        );
    }
    for (pi, p) in c.panels.iter().enumerate() {
        let ptop = top + pi as f64 * (PANEL_H + PANEL_GAP);
        let bottom = ptop + PANEL_H;
        let y_top = p
            .lines
            .iter()
            .flat_map(|l| l.points.iter().map(|&(_, y)| y))
            .chain(p.bands.iter().map(|b| b.y1))
            .chain(p.rules.iter().map(|&(y, _)| y))
            .filter(|v| v.is_finite())
            .fold(0.0, f64::max);
        // Head room for the legend above the highest point.
        let (y_max, y_step) = nice_axis(y_top * 1.15);
        let y = |v: f64| bottom - (v / y_max).clamp(0.0, 1.0) * PANEL_H;
        if let Some((x0, x1, label)) = &c.shade {
            let _ = writeln!(
                s,
                r##"<rect class="shade" x="{:.1}" y="{ptop:.1}" width="{:.1}" height="{PANEL_H:.1}" fill="#000" fill-opacity="0.06"/>"##,
                x(*x0),
                (x(*x1) - x(*x0)).max(0.0)
            );
            let _ = writeln!(
                s,
                r##"<text x="{:.1}" y="{:.1}" font-size="10" fill="#777">{}</text>"##,
                x(*x0) + 4.0,
                bottom - 6.0,
                esc(label)
            );
        }
        for i in 0..=(y_max / y_step).round() as usize {
            let v = i as f64 * y_step;
            let yy = y(v);
            let _ = writeln!(
                s,
                r##"<line x1="{LINE_LEFT:.1}" y1="{yy:.1}" x2="{:.1}" y2="{yy:.1}" stroke="#e3e3e3"/>"##,
                LINE_LEFT + LINE_W
            );
            let _ = writeln!(
                s,
                r#"<text x="{:.1}" y="{:.1}" font-size="11" text-anchor="end">{}</text>"#,
                LINE_LEFT - 6.0,
                yy + 4.0,
                fmt_tick(v, y_step)
            );
        }
        for i in 0..=(x_max / x_step).round() as usize {
            let v = i as f64 * x_step;
            let _ = writeln!(
                s,
                r#"<text x="{:.1}" y="{:.1}" font-size="11" text-anchor="middle">{}</text>"#,
                x(v),
                bottom + 15.0,
                fmt_tick(v, x_step)
            );
        }
        let _ = writeln!(
            s,
            r#"<text class="y-label" transform="translate(18 {:.1}) rotate(-90)" font-size="12" text-anchor="middle">{}</text>"#,
            ptop + PANEL_H / 2.0,
            esc(&p.y_label)
        );
        let _ = writeln!(
            s,
            r#"<text class="x-label" x="{:.1}" y="{:.1}" font-size="11" text-anchor="middle">{}</text>"#,
            LINE_LEFT + LINE_W / 2.0,
            bottom + 30.0,
            esc(&c.x_label)
        );
        for b in &p.bands {
            let (y0, y1) = (y(b.y0), y(b.y1));
            let _ = writeln!(
                s,
                r#"<rect class="band" x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{}" fill-opacity="0.13"/>"#,
                x(b.x0),
                y1.min(y0),
                (x(b.x1) - x(b.x0)).max(0.0),
                (y0 - y1).abs(),
                b.color
            );
        }
        for (v, label) in &p.rules {
            let yy = y(*v);
            let _ = writeln!(
                s,
                r##"<line class="rule" x1="{LINE_LEFT:.1}" y1="{yy:.1}" x2="{:.1}" y2="{yy:.1}" stroke="#c0392b" stroke-dasharray="6 4"/>"##,
                LINE_LEFT + LINE_W
            );
            let _ = writeln!(
                s,
                r##"<text x="{:.1}" y="{:.1}" font-size="10" fill="#c0392b" text-anchor="end">{}</text>"##,
                LINE_LEFT + LINE_W - 4.0,
                yy - 4.0,
                esc(label)
            );
        }
        let _ = writeln!(
            s,
            r#"<line x1="{LINE_LEFT:.1}" y1="{bottom:.1}" x2="{:.1}" y2="{bottom:.1}" stroke="black"/>"#,
            LINE_LEFT + LINE_W
        );
        let _ = writeln!(
            s,
            r#"<line x1="{LINE_LEFT:.1}" y1="{ptop:.1}" x2="{LINE_LEFT:.1}" y2="{bottom:.1}" stroke="black"/>"#
        );
        for l in &p.lines {
            if l.points.is_empty() {
                continue;
            }
            let d: Vec<String> = l
                .points
                .iter()
                .enumerate()
                .map(|(i, &(px, py))| {
                    format!(
                        "{}{:.1} {:.1}",
                        if i == 0 { 'M' } else { 'L' },
                        x(px),
                        y(py)
                    )
                })
                .collect();
            let _ = writeln!(
                s,
                r#"<path class="line" data-series="{}" d="{}" stroke="{}" stroke-width="1.8" fill="none"{}/>"#,
                esc(&l.name),
                d.join(""),
                l.color,
                if l.dashed {
                    r#" stroke-dasharray="5 3""#
                } else {
                    ""
                }
            );
        }
        // Legend, left to right from the panel's top-left corner.
        let mut lx = LINE_LEFT + 10.0;
        for l in &p.lines {
            let ly = ptop + 12.0;
            let _ = writeln!(
                s,
                r#"<line class="legend" x1="{lx:.1}" y1="{ly:.1}" x2="{:.1}" y2="{ly:.1}" stroke="{}" stroke-width="2"{}/>"#,
                lx + 22.0,
                l.color,
                if l.dashed {
                    r#" stroke-dasharray="5 3""#
                } else {
                    ""
                }
            );
            let _ = writeln!(
                s,
                r#"<text x="{:.1}" y="{:.1}" font-size="11">{}</text>"#,
                lx + 27.0,
                ly + 4.0,
                esc(&l.name)
            );
            lx += 27.0 + l.name.chars().count() as f64 * CHAR_W + 18.0;
        }
    }
    s.push_str("</svg>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::charts::tests::assert_well_formed;

    #[test]
    fn line_chart_has_panels_lines_bands_and_rules() {
        let line = |name: &str, dashed: bool, k: f64| Line {
            name: name.into(),
            color: "#3b6fb6".into(),
            dashed,
            points: (0..=10).map(|i| (i as f64, k * (1.0 + i as f64))).collect(),
        };
        let chart = LineChart {
            title: "soak PUSH_PULL uring".into(),
            subtitle: "<rate & RSS>\nsecond line".into(),
            x_label: "seconds".into(),
            x_max: 10.0,
            shade: Some((0.0, 2.0, "warm-up".into())),
            panels: vec![
                Panel {
                    y_label: "M msg/s".into(),
                    lines: vec![line("rx", false, 1.0), line("tx", true, 1.1)],
                    bands: Vec::new(),
                    rules: vec![(1.0, "minimum 1 M msg/s".into())],
                },
                Panel {
                    y_label: "RSS MiB".into(),
                    lines: vec![line("rx", false, 0.5)],
                    bands: vec![Band {
                        x0: 2.0,
                        x1: 10.0,
                        y0: 0.9,
                        y1: 1.1,
                        color: "#3b6fb6".into(),
                    }],
                    rules: Vec::new(),
                },
            ],
        };
        let svg = render_line_svg(&chart);
        assert_well_formed(&svg);
        assert_eq!(svg.matches(r#"class="line""#).count(), 3);
        assert_eq!(svg.matches(r#"class="legend""#).count(), 3);
        assert_eq!(svg.matches(r#"class="band""#).count(), 1);
        assert_eq!(svg.matches(r#"class="rule""#).count(), 1);
        assert_eq!(svg.matches(r#"class="shade""#).count(), 2);
        assert_eq!(svg.matches("stroke-dasharray=\"5 3\"").count(), 2);
        assert!(svg.contains("&lt;rate &amp; RSS&gt;"));
        assert_eq!(svg.matches(r#"class="subtitle""#).count(), 2);
        assert!(svg.contains(">minimum 1 M msg/s</text>"));
    }
}
