//! Charts drawn on the server as SVG (biểu đồ): grouped bar charts and horizontal gauges, with
//! a text alternative, no script. Values are whole numbers; labels are escaped.

/// One series of a bar chart.
pub struct Series<'a> {
    pub name: &'a str,
    /// CSS colour.
    pub colour: &'a str,
    /// One value per category.
    pub values: Vec<i64>,
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A round upper bound for the axis: 1, 2 or 5 × 10ⁿ at or above `max`.
pub fn nice_max(max: i64) -> i64 {
    let max = max.max(1);
    let mut step = 1i64;
    loop {
        for m in [1, 2, 5] {
            if step.saturating_mul(m) >= max {
                return step * m;
            }
        }
        step = step.saturating_mul(10);
    }
}

/// Stacked vertical bars: one bar per category, one segment per series; `title` is the
/// accessible name. Width adapts with the viewBox.
pub fn stacked_bars(title: &str, categories: &[String], series: &[Series<'_>]) -> String {
    let n = categories.len().max(1);
    let (w, h, left, bottom, top) = (640.0_f64, 240.0_f64, 44.0, 36.0, 10.0);
    let plot_w = w - left - 8.0;
    let plot_h = h - bottom - top;
    let totals: Vec<i64> = (0..n)
        .map(|i| {
            series
                .iter()
                .map(|s| s.values.get(i).copied().unwrap_or(0).max(0))
                .sum()
        })
        .collect();
    let max = nice_max(totals.iter().copied().max().unwrap_or(0));
    let slot = plot_w / n as f64;
    let bar = (slot * 0.7).max(2.0);
    let mut out = format!(
        "<svg class=\"chart\" viewBox=\"0 0 {w} {h}\" role=\"img\" aria-label=\"{}\" xmlns=\"http://www.w3.org/2000/svg\">",
        esc(title)
    );
    for k in 0..=4 {
        let v = max * k / 4;
        let y = top + plot_h - plot_h * (v as f64) / (max as f64);
        out.push_str(&format!(
            "<line x1=\"{left}\" x2=\"{}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#e5e7eb\"/><text x=\"{}\" y=\"{:.1}\" font-size=\"11\" text-anchor=\"end\" fill=\"#374151\">{v}</text>",
            w - 8.0,
            left - 4.0,
            y + 4.0
        ));
    }
    for (i, cat) in categories.iter().enumerate() {
        let x = left + slot * i as f64 + (slot - bar) / 2.0;
        let mut y = top + plot_h;
        for s in series {
            let v = s.values.get(i).copied().unwrap_or(0).max(0);
            if v == 0 {
                continue;
            }
            let hgt = plot_h * v as f64 / max as f64;
            y -= hgt;
            out.push_str(&format!(
                "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{bar:.1}\" height=\"{hgt:.1}\" fill=\"{}\"><title>{} · {}: {v}</title></rect>",
                s.colour,
                esc(cat),
                esc(s.name)
            ));
        }
        if n <= 16 || i % (n / 8).max(1) == 0 {
            out.push_str(&format!(
                "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\" text-anchor=\"middle\" fill=\"#374151\">{}</text>",
                x + bar / 2.0,
                h - bottom + 16.0,
                esc(cat)
            ));
        }
    }
    let mut lx = left;
    for s in series {
        out.push_str(&format!(
            "<rect x=\"{lx:.1}\" y=\"{:.1}\" width=\"10\" height=\"10\" fill=\"{}\"/><text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\" fill=\"#111827\">{}</text>",
            h - 12.0,
            s.colour,
            lx + 14.0,
            h - 3.0,
            esc(s.name)
        ));
        lx += 14.0 + 7.0 * s.name.chars().count() as f64 + 16.0;
    }
    out.push_str("</svg>");
    out
}

/// A horizontal gauge of `value` against `capacity` (green, amber from 80 %, red from 100 %).
pub fn gauge(label: &str, value: i64, capacity: i64) -> String {
    let cap = capacity.max(1);
    let share = value as f64 / cap as f64;
    let width = (share.min(1.0) * 300.0).max(0.0);
    let colour = if share >= 1.0 {
        "#b91c1c"
    } else if share >= 0.8 {
        "#d97706"
    } else {
        "#15803d"
    };
    format!(
        "<svg class=\"gauge\" viewBox=\"0 0 300 18\" role=\"img\" aria-label=\"{}: {value} / {capacity}\" xmlns=\"http://www.w3.org/2000/svg\"><rect width=\"300\" height=\"18\" fill=\"#e5e7eb\"/><rect width=\"{width:.1}\" height=\"18\" fill=\"{colour}\"/></svg>",
        esc(label)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axis_bounds_are_round() {
        assert_eq!(nice_max(0), 1);
        assert_eq!(nice_max(7), 10);
        assert_eq!(nice_max(870), 1000);
        assert_eq!(nice_max(1300), 2000);
        assert_eq!(nice_max(4100), 5000);
    }

    #[test]
    fn bars_are_proportional_and_labels_escaped() {
        let svg = stacked_bars(
            "Xe <qua>",
            &["01/12".to_string(), "02/12".to_string()],
            &[Series {
                name: "Xuất",
                colour: "#1d4ed8",
                values: vec![50, 100],
            }],
        );
        assert!(svg.contains("aria-label=\"Xe &lt;qua&gt;\""));
        // max 100: the second bar is the whole plot height (194), the first half of it.
        assert!(svg.contains("height=\"194.0\""), "{svg}");
        assert!(svg.contains("height=\"97.0\""), "{svg}");
        assert!(gauge("Bãi", 90, 100).contains("#d97706"));
        assert!(gauge("Bãi", 120, 100).contains("#b91c1c"));
    }
}
