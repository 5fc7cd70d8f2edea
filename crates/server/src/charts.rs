//! Charts drawn on the server as SVG (no script library, nothing downloaded):
//! a bar chart with an optional line on a second axis, and a multi-series line
//! chart. Pure functions of their data; labels are escaped.

use std::fmt::Write as _;

const W: f64 = 720.0;
const H: f64 = 260.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 56.0;
const TOP: f64 = 34.0;
const BOTTOM: f64 = 40.0;
const COLORS: [&str; 6] = ["#1f6feb", "#d9480f", "#2f9e44", "#9c36b5", "#e8590c", "#495057"];

/// Escape text for SVG.
pub fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn nice_max(v: f64) -> f64 {
    if v <= 0.0 || !v.is_finite() {
        return 1.0;
    }
    let e = 10f64.powf(v.log10().floor());
    for m in [1.0, 2.0, 2.5, 5.0, 10.0] {
        if v <= m * e {
            return m * e;
        }
    }
    10.0 * e
}

fn fmt_num(v: f64) -> String {
    if v.abs() >= 1e8 {
        format!("{:.1}亿", v / 1e8)
    } else if v.abs() >= 1e4 {
        format!("{:.1}万", v / 1e4)
    } else if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

fn header(title: &str) -> String {
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {W} {H}\" width=\"{W}\" height=\"{H}\" role=\"img\" aria-label=\"{t}\" font-family=\"sans-serif\" font-size=\"11\">\
<rect width=\"{W}\" height=\"{H}\" fill=\"#fff\"/><text x=\"{LEFT}\" y=\"18\" font-size=\"13\" font-weight=\"bold\">{t}</text>",
        t = esc(title)
    )
}

fn axes(out: &mut String, max: f64, unit: &str) {
    let ph = H - TOP - BOTTOM;
    for i in 0..=4 {
        let y = TOP + ph - ph * f64::from(i) / 4.0;
        let _ = write!(
            out,
            "<line x1=\"{LEFT}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\" stroke=\"#e9ecef\"/><text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\" fill=\"#495057\">{}</text>",
            W - RIGHT,
            LEFT - 6.0,
            y + 4.0,
            esc(&fmt_num(max * f64::from(i) / 4.0))
        );
    }
    if !unit.is_empty() {
        let _ = write!(out, "<text x=\"8\" y=\"{:.1}\" fill=\"#495057\">{}</text>", TOP - 6.0, esc(unit));
    }
}

/// Bars (one per label) with an optional line of ratios (0–1) on the right axis.
pub fn bars(title: &str, unit: &str, labels: &[String], values: &[f64], ratio: Option<(&str, &[f64])>) -> String {
    let mut s = header(title);
    let max = nice_max(values.iter().cloned().fold(0.0, f64::max));
    axes(&mut s, max, unit);
    let pw = W - LEFT - RIGHT;
    let ph = H - TOP - BOTTOM;
    let n = labels.len().max(1) as f64;
    let slot = pw / n;
    let bw = (slot * 0.6).max(1.0);
    for (i, (l, v)) in labels.iter().zip(values).enumerate() {
        let x = LEFT + slot * i as f64 + (slot - bw) / 2.0;
        let h = if max > 0.0 { ph * v.max(0.0) / max } else { 0.0 };
        let _ = write!(
            s,
            "<rect class=\"bar\" x=\"{x:.1}\" y=\"{:.1}\" width=\"{bw:.1}\" height=\"{h:.1}\" fill=\"{}\"><title>{}: {}</title></rect>\
<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" fill=\"#495057\">{}</text>",
            TOP + ph - h,
            COLORS[0],
            esc(l),
            esc(&fmt_num(*v)),
            x + bw / 2.0,
            H - BOTTOM + 14.0,
            esc(l)
        );
    }
    if let Some((name, r)) = ratio {
        let pts: Vec<String> = r
            .iter()
            .enumerate()
            .map(|(i, v)| format!("{:.1},{:.1}", LEFT + slot * i as f64 + slot / 2.0, TOP + ph - ph * v.clamp(0.0, 1.0)))
            .collect();
        let _ = write!(
            s,
            "<polyline class=\"ratio\" points=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"2\"/>",
            pts.join(" "),
            COLORS[1]
        );
        for i in 0..=4 {
            let y = TOP + ph - ph * f64::from(i) / 4.0;
            let _ = write!(s, "<text x=\"{:.1}\" y=\"{:.1}\" fill=\"{}\">{}%</text>", W - RIGHT + 6.0, y + 4.0, COLORS[1], i * 25);
        }
        let _ = write!(
            s,
            "<rect x=\"{:.1}\" y=\"8\" width=\"10\" height=\"10\" fill=\"{}\"/><text x=\"{:.1}\" y=\"17\">{}</text>\
<rect x=\"{:.1}\" y=\"8\" width=\"10\" height=\"10\" fill=\"{}\"/><text x=\"{:.1}\" y=\"17\">{}</text>",
            W - 260.0,
            COLORS[0],
            W - 246.0,
            esc(unit),
            W - 150.0,
            COLORS[1],
            W - 136.0,
            esc(name)
        );
    }
    s.push_str("</svg>");
    s
}

/// Lines: one per series over the same labels (None: no value at that label).
pub fn lines(title: &str, unit: &str, labels: &[String], series: &[(String, Vec<Option<f64>>)]) -> String {
    let mut s = header(title);
    let all: Vec<f64> = series.iter().flat_map(|x| x.1.iter().flatten().cloned()).collect();
    let max = nice_max(all.iter().cloned().fold(0.0, f64::max));
    axes(&mut s, max, unit);
    let pw = W - LEFT - RIGHT;
    let ph = H - TOP - BOTTOM;
    let n = labels.len().max(1) as f64;
    let slot = pw / n;
    for (i, l) in labels.iter().enumerate() {
        let _ = write!(
            s,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" fill=\"#495057\">{}</text>",
            LEFT + slot * i as f64 + slot / 2.0,
            H - BOTTOM + 14.0,
            esc(l)
        );
    }
    for (k, (name, vals)) in series.iter().enumerate() {
        let c = COLORS[k % COLORS.len()];
        let pts: Vec<(f64, f64, f64)> = vals
            .iter()
            .enumerate()
            .filter_map(|(i, v)| v.map(|v| (LEFT + slot * i as f64 + slot / 2.0, TOP + ph - if max > 0.0 { ph * v / max } else { 0.0 }, v)))
            .collect();
        let _ = write!(
            s,
            "<polyline class=\"series\" points=\"{}\" fill=\"none\" stroke=\"{c}\" stroke-width=\"2\"/>",
            pts.iter().map(|(x, y, _)| format!("{x:.1},{y:.1}")).collect::<Vec<_>>().join(" ")
        );
        for (x, y, v) in &pts {
            let _ = write!(s, "<circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"3\" fill=\"{c}\"><title>{}: {v:.4}</title></circle>", esc(name));
        }
        let lx = LEFT + 10.0 + 150.0 * k as f64;
        let _ = write!(
            s,
            "<rect x=\"{lx:.1}\" y=\"{:.1}\" width=\"10\" height=\"10\" fill=\"{c}\"/><text x=\"{:.1}\" y=\"{:.1}\">{}</text>",
            H - 14.0,
            lx + 14.0,
            H - 5.0,
            esc(name)
        );
    }
    s.push_str("</svg>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_have_one_rect_per_label_and_escape_text() {
        let labels: Vec<String> = (1..=12).map(|m| format!("{m}月")).collect();
        let v: Vec<f64> = (1..=12).map(f64::from).collect();
        let r: Vec<f64> = vec![0.95; 12];
        let svg = bars("病例数 <&>", "例", &labels, &v, Some(("入组率", &r)));
        assert_eq!(svg.matches("class=\"bar\"").count(), 12);
        assert!(svg.contains("病例数 &lt;&amp;&gt;"));
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert_eq!(svg.matches("class=\"ratio\"").count(), 1);
        // The tallest bar fills the plot height at the nice maximum (12 → 20: 60 %).
        assert!(svg.contains("height=\"111.6\""), "{svg}");
    }

    #[test]
    fn lines_skip_missing_points() {
        let labels = vec!["Q1".to_owned(), "Q2".to_owned(), "Q3".to_owned()];
        let svg = lines("点值", "元/点", &labels, &[("职工".into(), vec![Some(1.0), None, Some(0.9)])]);
        assert_eq!(svg.matches("<circle").count(), 2);
        assert_eq!(svg.matches("class=\"series\"").count(), 1);
    }

    #[test]
    fn nice_maxima() {
        assert_eq!(nice_max(0.0), 1.0);
        assert_eq!(nice_max(12.0), 20.0);
        assert_eq!(nice_max(0.93), 1.0);
        assert_eq!(nice_max(2400.0), 2500.0);
    }
}
