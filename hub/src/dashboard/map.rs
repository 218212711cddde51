//! The map of a subtree: its nodes placed by longitude and latitude,
//! coloured by coverage, each a link to its page.

use std::fmt::Write as _;

use lunxun_node::coverage::NodeCoverage;
use lunxun_node::orgs::OrgDirectory;
use lunxun_node::render::percent;

use super::common::*;

/// The subtree's nodes on an equirectangular projection fit to their
/// bounding box, each a circle coloured by its subtree coverage.
pub(super) fn map(h: &mut String, orgs: &OrgDirectory, nodes: &[NodeCoverage], as_of: AsOf) {
    const WIDTH: f64 = 640.0;
    const HEIGHT_MAX: f64 = 560.0;
    const PAD: f64 = 24.0;
    let q = as_of.query();
    let placed: Vec<(&NodeCoverage, f64, f64)> = nodes
        .iter()
        .filter_map(|n| {
            let id = orgs.get(&n.org)?;
            let (lon, lat) = orgs.org(id).location?;
            (lon.is_finite() && lat.is_finite()).then_some((n, lon, lat))
        })
        .collect();
    let Some(&(_, lon0, lat0)) = placed.first() else {
        return;
    };
    let (mut min_lon, mut max_lon, mut min_lat, mut max_lat) = (lon0, lon0, lat0, lat0);
    for &(_, lon, lat) in &placed {
        min_lon = min_lon.min(lon);
        max_lon = max_lon.max(lon);
        min_lat = min_lat.min(lat);
        max_lat = max_lat.max(lat);
    }
    // At least a fifth of a degree each way, so one node (or a line of
    // them) still makes a map.
    let widen = |lo: &mut f64, hi: &mut f64| {
        let span = *hi - *lo;
        if span < 0.2 {
            let mid = (*lo + *hi) / 2.0;
            *lo = mid - 0.1;
            *hi = mid + 0.1;
        }
    };
    widen(&mut min_lon, &mut max_lon);
    widen(&mut min_lat, &mut max_lat);
    let kx = ((min_lat + max_lat) / 2.0).to_radians().cos().max(0.2);
    let span_x = (max_lon - min_lon) * kx;
    let span_y = max_lat - min_lat;
    let scale = ((WIDTH - 2.0 * PAD) / span_x).min((HEIGHT_MAX - 2.0 * PAD) / span_y);
    let height = span_y * scale + 2.0 * PAD;
    let offset_x = (WIDTH - span_x * scale) / 2.0;
    let project = |lon: f64, lat: f64| {
        (
            offset_x + (lon - min_lon) * kx * scale,
            PAD + (max_lat - lat) * scale,
        )
    };
    let deepest = placed.iter().map(|p| p.0.depth).max().unwrap_or(0);
    let label_children = placed.iter().filter(|p| p.0.depth == 1).count() <= 40;
    out!(
        h,
        r#"<div class="map"><svg viewBox="0 0 {WIDTH} {height:.0}" width="100%" role="img" aria-label="分布图 map" xmlns="http://www.w3.org/2000/svg"><rect x="0" y="0" width="{WIDTH}" height="{height:.0}" class="sea"/>"#
    );
    // Larger, higher-level circles first; deeper ones on top of them.
    let mut order: Vec<&(&NodeCoverage, f64, f64)> = placed.iter().collect();
    order.sort_by_key(|p| p.0.depth);
    for &&(n, lon, lat) in &order {
        let (x, y) = project(lon, lat);
        let (class, _) = band(n.subtree.rotation.rate);
        let r = match (n.depth, deepest) {
            (0, _) => 10.0,
            (1, 1) => 7.0,
            (1, _) => 7.5,
            (2, 2) => 4.0,
            (2, _) => 4.5,
            _ => 3.0,
        };
        let tip = format!(
            "{} {} · 下辖轮训覆盖率 coverage {} · 在册 roster {} · 报送 reporting {}/{}",
            n.name,
            n.org,
            percent(n.subtree.rotation.rate),
            n.subtree.rotation.roster,
            n.subtree.nodes,
            n.subtree.expected
        );
        let shape = if n.depth == 0 { "root" } else { class };
        out!(
            h,
            r#"<a href="/org/{org}{q}"><circle data-org="{org}" cx="{x:.1}" cy="{y:.1}" r="{r}" class="{shape} d{d}"><title>{tip}</title></circle></a>"#,
            org = esc(&n.org),
            d = n.depth.min(3),
            tip = esc(&tip),
        );
    }
    if label_children {
        for &(n, lon, lat) in placed.iter().filter(|p| p.0.depth == 1) {
            let (x, y) = project(lon, lat);
            out!(
                h,
                r#"<text x="{:.1}" y="{:.1}" class="lbl">{}</text>"#,
                x + 9.0,
                y + 4.0,
                esc(&short_name(&n.name))
            );
        }
    }
    out!(h, "</svg>");
    out!(
        h,
        r#"<div class="legend"><span class="legend-title">下辖轮训覆盖率 <span class="en">Subtree rotation coverage</span></span>"#
    );
    for (rate, label) in BANDS {
        let (_, colour) = band(rate);
        out!(
            h,
            r#"<span class="key"><svg width="14" height="14" aria-hidden="true"><circle cx="7" cy="7" r="6" fill="{colour}"/></svg> {label}</span>"#
        );
    }
    out!(
        h,
        r#"<span class="key"><svg width="14" height="14" aria-hidden="true"><circle cx="7" cy="7" r="5" class="root"/></svg> 本单位 <span class="en">this unit</span></span>"#
    );
    let unplaced = nodes.len() - placed.len();
    if unplaced > 0 {
        out!(
            h,
            r#"<span class="key note">另有 {unplaced} 个单位无坐标未标注 <span class="en">{unplaced} without coordinates not shown</span></span>"#
        );
    }
    out!(h, "</div></div>");
}

/// A name shortened for a map label (the suffixes every province has).
pub(super) fn short_name(name: &str) -> String {
    let mut s = name;
    for suffix in [
        "维吾尔自治区",
        "壮族自治区",
        "回族自治区",
        "自治区",
        "特别行政区",
        "省",
        "市",
    ] {
        if let Some(stripped) = s.strip_suffix(suffix)
            && !stripped.is_empty()
        {
            s = stripped;
            break;
        }
    }
    s.to_owned()
}
