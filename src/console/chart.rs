//! The dashboard's chart: the last hour as server-rendered SVG bars, no script and no library.
//! Colours are presentation attributes (not `style`), so the console's CSP needs nothing more.

use crate::metrics::recent::MINUTES;
use std::fmt::Write;

/// One series of bars: its name, its colour, and its count per minute (oldest first).
pub struct Series<'a> {
    pub label: &'a str,
    pub fill: &'a str,
    pub counts: [u64; MINUTES],
}

const WIDTH: u32 = 640;
const HEIGHT: u32 = 180;
const LEFT: u32 = 40;
const BOTTOM: u32 = 22;
const TOP: u32 = 8;

/// `HH:MM` UTC of `t` (unix seconds).
pub fn hhmm(t: u64) -> String {
    let day = t % 86_400;
    format!("{:02}:{:02}", day / 3600, day % 3600 / 60)
}

/// A bar chart of `series` stacked per minute, oldest minute left and the current one right.
/// `now` (unix seconds) dates the bars (each carries a `<title>`: its minute and counts);
/// `title` names the chart for assistive technology (`role="img"`).
pub fn bars(id: &str, title: &str, series: &[Series], now: u64) -> String {
    let totals: Vec<u64> = (0..MINUTES).map(|i| series.iter().map(|s| s.counts[i]).sum()).collect();
    let max = totals.iter().copied().max().unwrap_or(0).max(1);
    let plot_h = HEIGHT - BOTTOM - TOP;
    let slot = (WIDTH - LEFT) / MINUTES as u32;
    let mut out = String::new();
    let _ = write!(
        out,
        r#"<svg class="chart" id="{id}" viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" role="img" aria-labelledby="{id}-title">"#
    );
    let _ = write!(out, r#"<title id="{id}-title">{}</title>"#, esc(title));
    let base = HEIGHT - BOTTOM;
    let _ = write!(
        out,
        r##"<line x1="{LEFT}" y1="{base}" x2="{WIDTH}" y2="{base}" stroke="currentColor" stroke-width="1"/><text x="{}" y="{}" text-anchor="end" font-size="11" fill="currentColor">{max}</text><text x="{}" y="{base}" text-anchor="end" font-size="11" fill="currentColor">0</text>"##,
        LEFT - 4,
        TOP + 10,
        LEFT - 4,
    );
    for i in 0..MINUTES {
        let x = LEFT + i as u32 * slot + 1;
        let minute = now.saturating_sub((MINUTES - 1 - i) as u64 * 60);
        let mut y = base;
        let what: Vec<String> = series.iter().map(|s| format!("{} {}", s.counts[i], s.label)).collect();
        let _ = write!(out, "<g><title>{} UTC: {}</title>", hhmm(minute), esc(&what.join(", ")));
        for s in series {
            let h = (s.counts[i] * u64::from(plot_h)).div_ceil(max) as u32;
            if h == 0 {
                continue;
            }
            y -= h;
            let _ = write!(out, r#"<rect x="{x}" y="{y}" width="{}" height="{h}" fill="{}"/>"#, slot - 2, s.fill);
        }
        let _ = write!(out, "</g>");
    }
    let label_y = HEIGHT - 6;
    for (x, anchor, text) in
        [(LEFT, "start", "60 min ago"), (LEFT + 30 * slot, "middle", "30 min ago"), (WIDTH, "end", "now")]
    {
        let _ = write!(
            out,
            r#"<text x="{x}" y="{label_y}" text-anchor="{anchor}" font-size="11" fill="currentColor">{text}</text>"#
        );
    }
    out.push_str("</svg>");
    out
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_are_as_tall_as_their_share_of_the_busiest_minute() {
        let mut allowed = [0; MINUTES];
        let mut denied = [0; MINUTES];
        allowed[59] = 3;
        denied[59] = 1;
        allowed[0] = 2;
        let svg = bars(
            "req",
            "Requests per minute",
            &[
                Series { label: "allowed", fill: "#1b5e20", counts: allowed },
                Series { label: "denied", fill: "#b71c1c", counts: denied },
            ],
            3600 * 10 + 59 * 60,
        );
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert!(svg.contains(r#"role="img" aria-labelledby="req-title""#));
        // The busiest minute (4) fills the plot (150 px): 3 allowed → 113 px, 1 denied → 38 px.
        assert!(svg.contains(r##"height="113" fill="#1b5e20""##), "{svg}");
        assert!(svg.contains(r##"height="38" fill="#b71c1c""##), "{svg}");
        assert!(svg.contains("<title>10:59 UTC: 3 allowed, 1 denied</title>"), "{svg}");
        assert!(svg.contains("<title>10:00 UTC: 2 allowed, 0 denied</title>"), "{svg}");
        assert_eq!(svg.matches("<rect").count(), 3);
    }

    #[test]
    fn an_idle_hour_draws_no_bars() {
        let svg = bars("s", "Sign-ins", &[Series { label: "sign-ins", fill: "#0d47a1", counts: [0; MINUTES] }], 0);
        assert_eq!(svg.matches("<rect").count(), 0);
        assert_eq!(svg.matches("<g>").count(), MINUTES);
    }
}
