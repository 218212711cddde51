//! The org page's trends: rotation coverage (own roster and subtree) and the
//! subtree's hour compliance at each month end of the plan period, as
//! server-rendered SVG line charts (no JavaScript); every point carries its
//! figure as a tooltip.

use std::fmt::Write as _;

use lunxun_core::trend::{Trend, TrendPoint};
use lunxun_node::coverage::RuleCount;
use lunxun_node::render::percent;

use super::common::esc;

/// A chart's size in SVG units.
const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 200.0;
/// Room for the axis labels: left, right, top, bottom.
const MARGIN: (f64, f64, f64, f64) = (40.0, 12.0, 10.0, 24.0);

/// One line of a chart: its label, CSS class suffix and value per point.
struct Series {
    label: &'static str,
    values: Vec<Option<f64>>,
}

/// The trends section as `templates/partials/trend.html` lays it out.
pub(super) struct TrendView {
    /// The plan period's first day.
    pub(super) start: String,
    /// The page's date.
    pub(super) end: String,
    pub(super) charts: Vec<Chart>,
}

/// One chart: its caption, the drawing and its lines' labels.
pub(super) struct Chart {
    pub(super) title: &'static str,
    /// Built by [`chart`] from numbers and [`esc`]-escaped labels, so the
    /// template passes it as is.
    pub(super) svg: String,
    pub(super) labels: Vec<&'static str>,
}

impl TrendView {
    /// Both charts for `trend` (None when it has no point).
    pub(super) fn new(trend: &Trend) -> Option<TrendView> {
        if trend.points.is_empty() {
            return None;
        }
        let rate = |f: fn(&TrendPoint) -> Option<f64>| trend.points.iter().map(f).collect();
        let rule = |f: fn(&TrendPoint) -> RuleCount| {
            trend.points.iter().map(|p| f(p).rate()).collect::<Vec<_>>()
        };
        let charts = [
            (
                "轮训覆盖率 Rotation coverage",
                vec![
                    Series {
                        label: "本级 own roster",
                        values: rate(|p| p.rotation.rate),
                    },
                    Series {
                        label: "下辖合计 subtree",
                        values: rate(|p| p.subtree_rotation.rate),
                    },
                ],
            ),
            (
                "学时达标率（下辖合计） Hour compliance, subtree",
                vec![
                    Series {
                        label: "县处级 leading",
                        values: rule(|p| p.subtree_hours.leading),
                    },
                    Series {
                        label: "乡科级 general",
                        values: rule(|p| p.subtree_hours.general),
                    },
                    Series {
                        label: "网络学时 online",
                        values: rule(|p| p.subtree_hours.online),
                    },
                ],
            ),
        ]
        .into_iter()
        .map(|(title, series)| Chart {
            title,
            svg: chart(title, trend, &series),
            labels: series.iter().map(|s| s.label).collect(),
        })
        .collect();
        Some(TrendView {
            start: trend.plan_period_start.to_string(),
            end: trend.as_of.to_string(),
            charts,
        })
    }
}

/// One line chart's SVG, 0–100 %, one x step per point.
fn chart(title: &str, trend: &Trend, series: &[Series]) -> String {
    let mut h = String::new();
    let (left, right, top, bottom) = MARGIN;
    let n = trend.points.len();
    let step = (WIDTH - left - right) / (n.max(2) - 1) as f64;
    let x = |i: usize| left + i as f64 * step;
    let y = |v: f64| top + (1.0 - v.clamp(0.0, 1.0)) * (HEIGHT - top - bottom);
    out!(
        h,
        r#"<svg viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" role="img" aria-label="{title}" xmlns="http://www.w3.org/2000/svg">"#,
        title = esc(title)
    );
    for pct in [0u32, 25, 50, 75, 100] {
        let v = f64::from(pct) / 100.0;
        let class = if pct == 0 { "axis" } else { "grid" };
        out!(
            h,
            r#"<line x1="{left}" x2="{:.1}" y1="{y:.1}" y2="{y:.1}" class="{class}"/><text x="{:.1}" y="{:.1}" text-anchor="end">{pct}%</text>"#,
            WIDTH - right,
            left - 4.0,
            y(v) + 4.0,
            y = y(v),
        );
    }
    // A tick and the year under every January (and the first point).
    for (i, p) in trend.points.iter().enumerate() {
        use chrono::Datelike;
        if i == 0 || p.as_of.month() == 1 {
            out!(
                h,
                r#"<line x1="{x:.1}" x2="{x:.1}" y1="{:.1}" y2="{:.1}" class="axis"/><text x="{x:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
                HEIGHT - bottom,
                HEIGHT - bottom + 4.0,
                HEIGHT - 6.0,
                p.as_of.year(),
                x = x(i),
            );
        }
    }
    for (k, s) in series.iter().enumerate() {
        let class = k + 1;
        // A gap where there is nothing to count (an empty roster).
        let mut run: Vec<(f64, f64)> = Vec::new();
        let flush = |h: &mut String, run: &mut Vec<(f64, f64)>| {
            if run.len() > 1 {
                let pts: Vec<String> = run.iter().map(|(a, b)| format!("{a:.1},{b:.1}")).collect();
                out!(
                    h,
                    r#"<polyline class="l{class}" points="{}"/>"#,
                    pts.join(" ")
                );
            }
            run.clear();
        };
        for (i, v) in s.values.iter().enumerate() {
            match v {
                Some(v) => run.push((x(i), y(*v))),
                None => flush(&mut h, &mut run),
            }
        }
        flush(&mut h, &mut run);
        for (i, v) in s.values.iter().enumerate() {
            if let Some(v) = v {
                out!(
                    h,
                    r#"<circle cx="{:.1}" cy="{:.1}" r="2.5" class="k{class}" data-series="{class}" data-date="{date}"><title>{label} {date}: {pct}</title></circle>"#,
                    x(i),
                    y(*v),
                    label = esc(s.label),
                    date = trend.points[i].as_of,
                    pct = percent(Some(*v)),
                );
            }
        }
    }
    out!(h, "</svg>");
    h
}
