//! The map of a subtree: a choropleth of its direct subordinates' boundaries
//! (or of the node itself, for a node without any), coloured by subtree
//! coverage, each a link to its page; on the national map, and wherever the
//! South China Sea islands are drawn, an inset of 南海诸岛 with the ten-dash
//! line, as the official map shows it. Boundaries come from the embedded
//! map ([`super::shapes`]); a node without one is listed under the map, never
//! drawn with a wrong shape.

use std::fmt::Write as _;

use lunxun_node::coverage::NodeCoverage;
use lunxun_node::model::Level;
use lunxun_node::orgs::OrgDirectory;
use lunxun_node::render::percent;

use super::common::*;
use super::shapes::{self, DASH_LINE_CODE, Shape, ShapeKind, Shapes};

/// The map's width in SVG units (two per CSS pixel at its usual size).
const WIDTH: f64 = 1280.0;
/// Tallest map, in SVG units.
const HEIGHT_MAX: f64 = 1120.0;
/// Margin around the drawing, in SVG units.
const PAD: f64 = 12.0;
/// Douglas–Peucker tolerance in SVG units (half a CSS pixel).
const TOLERANCE: f64 = 1.0;
/// Rings wholly south of this latitude are South China Sea islands: drawn in
/// the inset, and left out of the main map's frame.
const ISLANDS_LAT_MAX: f64 = 18.0;
/// The national map's main frame (longitude, latitude), 南海诸岛 aside.
const NATIONAL_FRAME: [f64; 4] = [73.4, 17.8, 135.1, 53.6];
/// The 南海诸岛 inset's frame (longitude, latitude).
const INSET_FRAME: [f64; 4] = [106.0, 2.5, 123.6, 24.8];
/// The inset's share of the map's width.
const INSET_WIDTH_SHARE: f64 = 0.2;
/// Areas drawn for context on the national map, without a bureau of their
/// own in the directory (台湾省, 香港, 澳门).
const CONTEXT_CODES: [(&str, &str); 3] = [
    ("710000", "台湾省"),
    ("810000", "香港特别行政区"),
    ("820000", "澳门特别行政区"),
];
/// Smallest extent a map shows, in projected units (the unit sphere: about
/// 6 km).
const SPAN_MIN: f64 = 0.001;
/// Most subordinates labelled by name.
const LABELS_MAX: usize = 40;

/// Albers equal-area conic (standard parallels 25°N and 47°N, central
/// meridian 105°E), as China's official small-scale maps use; north up.
fn albers(lon: f64, lat: f64) -> (f64, f64) {
    let (p1, p2) = (25f64.to_radians(), 47f64.to_radians());
    let n = (p1.sin() + p2.sin()) / 2.0;
    let c = p1.cos().powi(2) + 2.0 * n * p1.sin();
    let rho = |phi: f64| (c - 2.0 * n * phi.sin()).max(0.0).sqrt() / n;
    let theta = n * (lon - 105.0).to_radians();
    let r = rho(lat.to_radians());
    (r * theta.sin(), rho(0.0) - r * theta.cos())
}

/// A projected box: min x, min y, max x, max y (y grows north).
type Bounds = [f64; 4];

fn extend(b: &mut Option<Bounds>, (x, y): (f64, f64)) {
    let v = b.get_or_insert([x, y, x, y]);
    v[0] = v[0].min(x);
    v[1] = v[1].min(y);
    v[2] = v[2].max(x);
    v[3] = v[3].max(y);
}

/// The projected box of a longitude/latitude box (its edges sampled: the
/// projection curves them).
fn frame_bounds(f: [f64; 4]) -> Bounds {
    let mut b = None;
    for i in 0..=16 {
        let t = f64::from(i) / 16.0;
        let lon = f[0] + (f[2] - f[0]) * t;
        let lat = f[1] + (f[3] - f[1]) * t;
        for p in [(lon, f[1]), (lon, f[3]), (f[0], lat), (f[2], lat)] {
            extend(&mut b, albers(p.0, p.1));
        }
    }
    b.unwrap_or([0.0, 0.0, 1.0, 1.0])
}

/// Projected coordinates to SVG units: `bounds` fit into a box of `width`
/// and at most `height_max`, at `origin`.
#[derive(Debug, Clone, Copy)]
struct Fit {
    bounds: Bounds,
    scale: f64,
    origin: (f64, f64),
}

impl Fit {
    fn new(bounds: Bounds, width: f64, height_max: f64, origin: (f64, f64)) -> Fit {
        // At least SPAN_MIN each way, so one small shape still makes a map.
        let span_x = (bounds[2] - bounds[0]).max(SPAN_MIN);
        let span_y = (bounds[3] - bounds[1]).max(SPAN_MIN);
        let scale = (width / span_x).min(height_max / span_y);
        let mid = ((bounds[0] + bounds[2]) / 2.0, (bounds[1] + bounds[3]) / 2.0);
        let bounds = [
            mid.0 - width / scale / 2.0,
            bounds[1].min(mid.1 - span_y / 2.0),
            mid.0 + width / scale / 2.0,
            bounds[3].max(mid.1 + span_y / 2.0),
        ];
        Fit {
            bounds,
            scale,
            origin,
        }
    }

    fn height(&self) -> f64 {
        (self.bounds[3] - self.bounds[1]) * self.scale
    }

    fn point(&self, (x, y): (f64, f64)) -> (f64, f64) {
        (
            self.origin.0 + (x - self.bounds[0]) * self.scale,
            self.origin.1 + (self.bounds[3] - y) * self.scale,
        )
    }
}

/// Douglas–Peucker over `pts[i..=j]`, marking the points kept.
fn simplify(pts: &[(f64, f64)], keep: &mut [bool], i: usize, j: usize) {
    let mut stack = vec![(i, j)];
    while let Some((i, j)) = stack.pop() {
        let (a, b) = (pts[i], pts[j]);
        let (dx, dy) = (b.0 - a.0, b.1 - a.1);
        let len = dx.hypot(dy);
        let mut far = (0.0, 0);
        for (k, p) in pts.iter().enumerate().take(j).skip(i + 1) {
            let d = if len == 0.0 {
                (p.0 - a.0).hypot(p.1 - a.1)
            } else {
                (dy * p.0 - dx * p.1 + b.0 * a.1 - b.1 * a.0).abs() / len
            };
            if d > far.0 {
                far = (d, k);
            }
        }
        if far.0 > TOLERANCE {
            keep[far.1] = true;
            stack.push((i, far.1));
            stack.push((far.1, j));
        }
    }
}

/// Writes one ring or line as path data in integer SVG units: an absolute
/// move, then relative lines. A ring that shrinks below three points is
/// dropped, or drawn as a dot when `dots` (islands).
fn ring_path(d: &mut String, pts: &[(f64, f64)], closed: bool, dots: bool) {
    if pts.len() < 2 {
        return;
    }
    let mut keep = vec![false; pts.len()];
    keep[0] = true;
    let last = pts.len() - 1;
    keep[last] = true;
    if closed {
        // Split at the point farthest from the first.
        let far = (0..pts.len())
            .max_by(|&a, &b| {
                let da = (pts[a].0 - pts[0].0).hypot(pts[a].1 - pts[0].1);
                let db = (pts[b].0 - pts[0].0).hypot(pts[b].1 - pts[0].1);
                da.total_cmp(&db)
            })
            .unwrap_or(0);
        keep[far] = true;
        simplify(pts, &mut keep, 0, far);
        simplify(pts, &mut keep, far, last);
    } else {
        simplify(pts, &mut keep, 0, last);
    }
    let mut ints: Vec<(i64, i64)> = Vec::new();
    for (p, k) in pts.iter().zip(&keep) {
        let q = (p.0.round() as i64, p.1.round() as i64);
        if *k && ints.last() != Some(&q) {
            ints.push(q);
        }
    }
    if closed && ints.len() > 1 && ints.first() == ints.last() {
        ints.pop();
    }
    if ints.len() < if closed { 3 } else { 2 } {
        if dots && let Some(&(x, y)) = ints.first() {
            out!(d, "M{x} {y}h2v2h-2z");
        }
        return;
    }
    let (x0, y0) = ints[0];
    out!(d, "M{x0} {y0}l");
    let mut prev = (x0, y0);
    let mut first = true;
    for &(x, y) in &ints[1..] {
        for v in [x - prev.0, y - prev.1] {
            if !first && v >= 0 {
                d.push(' ');
            }
            out!(d, "{v}");
            first = false;
        }
        prev = (x, y);
    }
    if closed {
        d.push('z');
    }
}

/// Which rings of a shape a map draws.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Rings {
    /// Everything but the South China Sea islands (the main map with an inset).
    Mainland,
    /// Everything.
    All,
}

/// Path data for a shape in a fit, rings outside `clip` (SVG units) skipped.
fn shape_path(
    shapes: &Shapes,
    shape: &Shape,
    fit: &Fit,
    rings: Rings,
    clip: (f64, f64, f64, f64),
) -> String {
    let mut d = String::new();
    let closed = shape.kind == ShapeKind::Polygon;
    let mut pts = Vec::new();
    for ring in &shape.rings {
        pts.clear();
        let mut max_lat = f64::MIN;
        for &p in ring {
            let (lon, lat) = shapes.degrees(p);
            max_lat = max_lat.max(lat);
            pts.push(fit.point(albers(lon, lat)));
        }
        if rings == Rings::Mainland && closed && max_lat < ISLANDS_LAT_MAX {
            continue;
        }
        let outside = pts.iter().all(|p| p.0 < clip.0)
            || pts.iter().all(|p| p.0 > clip.2)
            || pts.iter().all(|p| p.1 < clip.1)
            || pts.iter().all(|p| p.1 > clip.3);
        if !outside {
            ring_path(&mut d, &pts, closed, max_lat < ISLANDS_LAT_MAX);
        }
    }
    d
}

/// Whether a ring lies wholly south of [`ISLANDS_LAT_MAX`].
fn is_island(shapes: &Shapes, ring: &[[i32; 2]]) -> bool {
    ring.iter().all(|&p| shapes.degrees(p).1 < ISLANDS_LAT_MAX)
}

/// Extends `b` with the projected box of a shape's rings, the South China
/// Sea islands left out when `mainland`; whether it left any out.
fn shape_bounds(shapes: &Shapes, shape: &Shape, mainland: bool, b: &mut Option<Bounds>) -> bool {
    let mut left_out = false;
    for ring in &shape.rings {
        if mainland && is_island(shapes, ring) {
            left_out = true;
            continue;
        }
        for &p in ring {
            let (lon, lat) = shapes.degrees(p);
            extend(b, albers(lon, lat));
        }
    }
    left_out
}

/// One area drawn: its node and shape.
struct Area<'a> {
    node: &'a NodeCoverage,
    shape: &'a Shape,
}

/// What a map draws: its areas, the areas drawn for context, the root's
/// boundary under them, and whether 南海诸岛 go into an inset.
struct Drawing<'a> {
    areas: Vec<Area<'a>>,
    context: Vec<(&'a Shape, &'a str)>,
    base: Option<&'a Shape>,
    inset: bool,
}

/// The tooltip of an area.
fn tip(n: &NodeCoverage) -> String {
    format!(
        "{} {} · 下辖轮训覆盖率 coverage {} · 在册 roster {} · 报送 reporting {}/{}",
        n.name,
        n.org,
        percent(n.subtree.rotation.rate),
        n.subtree.rotation.roster,
        n.subtree.nodes,
        n.subtree.expected
    )
}

/// The map as `templates/partials/map.html` lays it out: the SVG drawing,
/// its legend and the subordinates without a boundary, or why there is none.
pub(super) struct MapView {
    /// The embedded map could not be read.
    pub(super) error: Option<String>,
    /// The drawing, built here from numbers and [`esc`]-escaped names (so the
    /// template passes it as is); None when nothing has a boundary.
    pub(super) svg: Option<String>,
    /// The national map (its legend has the context areas' key).
    pub(super) national: bool,
    /// The colour bands' classes and labels.
    pub(super) legend: Vec<(&'static str, &'static str)>,
    pub(super) unmapped: Vec<Unmapped>,
}

/// A subordinate drawn without a boundary, listed under the map.
pub(super) struct Unmapped {
    pub(super) org: String,
    pub(super) name: String,
    /// Its colour band's class.
    pub(super) class: &'static str,
    pub(super) rate: String,
}

impl MapView {
    /// The choropleth of `nodes` (a coverage report to depth 1 or more: the
    /// root first).
    pub(super) fn new(orgs: &OrgDirectory, nodes: &[NodeCoverage], as_of: AsOf) -> MapView {
        let mut view = MapView {
            error: None,
            svg: None,
            national: false,
            legend: BANDS
                .iter()
                .map(|&(rate, label)| (band(rate).0, label))
                .collect(),
            unmapped: Vec::new(),
        };
        let Some(root) = nodes.first() else {
            return view;
        };
        let shapes = match shapes::embedded() {
            Ok(s) => s,
            Err(e) => {
                view.error = Some(e.to_string());
                return view;
            }
        };
        let children: Vec<&NodeCoverage> = nodes.iter().filter(|n| n.depth == 1).collect();
        let drawn: Vec<&NodeCoverage> = if children.is_empty() {
            vec![root]
        } else {
            children
        };
        let national = orgs
            .get(&root.org)
            .is_some_and(|id| orgs.org(id).level == Level::National);
        view.national = national;
        let mut areas = Vec::new();
        for &n in &drawn {
            match shapes.get(&n.org) {
                Some(shape) if shape.kind == ShapeKind::Polygon => {
                    areas.push(Area { node: n, shape })
                }
                _ => view.unmapped.push(Unmapped {
                    org: n.org.clone(),
                    name: n.name.clone(),
                    class: band(n.subtree.rotation.rate).0,
                    rate: percent(n.subtree.rotation.rate),
                }),
            }
        }
        let base = shapes
            .get(&root.org)
            .filter(|_| drawn.len() > 1 || drawn[0].org != root.org);
        let context: Vec<(&Shape, &str)> = if national {
            CONTEXT_CODES
                .iter()
                .filter(|(code, _)| !nodes.iter().any(|n| n.org == *code))
                .filter_map(|(code, name)| Some((shapes.get(code)?, *name)))
                .collect()
        } else {
            Vec::new()
        };

        // The main frame, and whether 南海诸岛 go into an inset.
        let (bounds, inset) = if national {
            (Some(frame_bounds(NATIONAL_FRAME)), true)
        } else {
            // The islands go into an inset when anything else is drawn (海南's
            // page); 三沙's own page is all islands, drawn as they are.
            let drawn_shapes: Vec<&Shape> = areas.iter().map(|a| a.shape).chain(base).collect();
            let mainland = drawn_shapes
                .iter()
                .any(|s| s.rings.iter().any(|r| !is_island(shapes, r)));
            let mut b = None;
            let mut left_out = false;
            for s in drawn_shapes {
                left_out |= shape_bounds(shapes, s, mainland, &mut b);
            }
            (b, left_out)
        };
        if let Some(bounds) = bounds {
            let drawing = Drawing {
                areas,
                context,
                base,
                inset,
            };
            view.svg = Some(svg(orgs, shapes, &drawing, bounds, &as_of.query()));
        }
        view
    }
}

/// The drawing: the areas (each a link to its page, with a tooltip), their
/// labels, the context and the inset. Names go through [`esc`]; `q` is the
/// links' query string (`?as_of=YYYY-MM-DD` or nothing).
fn svg(
    orgs: &OrgDirectory,
    shapes: &Shapes,
    drawing: &Drawing<'_>,
    bounds: Bounds,
    q: &str,
) -> String {
    let Drawing {
        areas,
        context,
        base,
        inset,
    } = drawing;
    let (base, inset) = (*base, *inset);
    let mut h = String::new();
    let fit = Fit::new(
        bounds,
        WIDTH - 2.0 * PAD,
        HEIGHT_MAX - 2.0 * PAD,
        (PAD, PAD),
    );
    let height = (fit.height() + 2.0 * PAD).ceil();
    let clip = (0.0, 0.0, WIDTH, height);
    let rings = if inset { Rings::Mainland } else { Rings::All };
    out!(
        h,
        r#"<svg viewBox="0 0 {WIDTH} {height}" width="100%" role="img" aria-label="分布图 map" xmlns="http://www.w3.org/2000/svg"><rect x="0" y="0" width="{WIDTH}" height="{height}" class="sea"/>"#
    );
    if let Some(s) = base {
        let d = shape_path(shapes, s, &fit, rings, clip);
        out!(h, r#"<path class="base" d="{d}"/>"#);
    }
    for (shape, name) in context {
        let d = shape_path(shapes, shape, &fit, rings, clip);
        out!(
            h,
            r#"<path class="ctx" d="{d}"><title>{}</title></path>"#,
            esc(name)
        );
    }
    for a in areas {
        let d = shape_path(shapes, a.shape, &fit, rings, clip);
        let (class, _) = band(a.node.subtree.rotation.rate);
        out!(
            h,
            r#"<a href="/org/{org}{q}"><path data-org="{org}" class="area {class}" d="{d}"><title>{tip}</title></path></a>"#,
            org = esc(&a.node.org),
            tip = esc(&tip(a.node)),
        );
    }
    if areas.len() > 1 && areas.len() <= LABELS_MAX {
        for a in areas {
            let Some((lon, lat)) = orgs.get(&a.node.org).and_then(|id| orgs.org(id).location)
            else {
                continue;
            };
            if !lon.is_finite() || !lat.is_finite() || (inset && lat < ISLANDS_LAT_MAX) {
                continue;
            }
            let (x, y) = fit.point(albers(lon, lat));
            out!(
                h,
                r#"<text x="{x:.0}" y="{y:.0}" class="lbl">{}</text>"#,
                esc(&short_name(&a.node.name))
            );
        }
    }
    if inset {
        inset_map(&mut h, shapes, areas, context, base, height);
    }
    out!(h, "</svg>");
    h
}

/// The 南海诸岛 inset in the bottom right corner: the same areas, unlinked,
/// and the ten-dash line.
fn inset_map(
    h: &mut String,
    shapes: &Shapes,
    areas: &[Area<'_>],
    context: &[(&Shape, &str)],
    base: Option<&Shape>,
    height: f64,
) {
    let frame = frame_bounds(INSET_FRAME);
    let width = (WIDTH * INSET_WIDTH_SHARE).round();
    let ratio = (frame[3] - frame[1]) / (frame[2] - frame[0]);
    let inset_height = (width * ratio).round().min(height - 2.0 * PAD);
    let fit = Fit::new(frame, width, inset_height, (0.0, 0.0));
    let (x, y) = (WIDTH - PAD - width, height - PAD - inset_height);
    let clip = (0.0, 0.0, width, inset_height);
    out!(
        h,
        r#"<g class="inset" aria-label="南海诸岛 South China Sea islands"><svg x="{x}" y="{y}" width="{width}" height="{inset_height}" viewBox="0 0 {width} {inset_height}"><rect x="0" y="0" width="{width}" height="{inset_height}" class="sea"/>"#
    );
    if let Some(s) = base {
        let d = shape_path(shapes, s, &fit, Rings::All, clip);
        out!(h, r#"<path class="base" d="{d}"/>"#);
    }
    for (shape, _) in context {
        let d = shape_path(shapes, shape, &fit, Rings::All, clip);
        if !d.is_empty() {
            out!(h, r#"<path class="ctx" d="{d}"/>"#);
        }
    }
    for a in areas {
        let d = shape_path(shapes, a.shape, &fit, Rings::All, clip);
        if !d.is_empty() {
            let (class, _) = band(a.node.subtree.rotation.rate);
            out!(
                h,
                r#"<path class="area {class}" d="{d}"><title>{}</title></path>"#,
                esc(&tip(a.node))
            );
        }
    }
    if let Some(dashes) = shapes.by_code(DASH_LINE_CODE) {
        let d = shape_path(shapes, dashes, &fit, Rings::All, clip);
        out!(h, r#"<path class="dash" d="{d}"/>"#);
    }
    out!(
        h,
        r#"<rect x="0" y="0" width="{width}" height="{inset_height}" class="frame"/></svg><text x="{tx}" y="{ty}" class="lbl inset-lbl">南海诸岛</text></g>"#,
        tx = WIDTH - PAD - 8.0,
        ty = height - PAD - 10.0,
    );
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_relative_and_simplified() {
        let mut d = String::new();
        let square: Vec<(f64, f64)> = vec![
            (10.0, 10.0),
            (20.0, 10.2),
            (30.0, 10.0),
            (30.0, 30.0),
            (10.0, 30.0),
        ];
        ring_path(&mut d, &square, true, false);
        assert_eq!(d, "M10 10l20 0 0 20-20 0z");
        let mut tiny = String::new();
        ring_path(
            &mut tiny,
            &[(5.0, 5.0), (5.2, 5.1), (5.1, 5.3)],
            true,
            false,
        );
        assert_eq!(tiny, "");
        ring_path(&mut tiny, &[(5.0, 5.0), (5.2, 5.1), (5.1, 5.3)], true, true);
        assert_eq!(tiny, "M5 5h2v2h-2z");
    }

    #[test]
    fn the_projection_puts_north_up_and_east_right() {
        let (x1, y1) = albers(105.0, 30.0);
        let (x2, y2) = albers(110.0, 40.0);
        assert!(x2 > x1 && y2 > y1);
        assert!(x1.abs() < 1e-12);
    }
}
