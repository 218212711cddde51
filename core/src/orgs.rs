//! The org directory: every bureau that can exist in the tree, with its level
//! and parent.
//!
//! The built-in directory is the real administrative-division tree
//! (`data/divisions.csv`, GB/T 2260 codes, embedded at build time). A node may
//! extend it with a local CSV of the same columns for units without a region
//! code (central organs' petition offices, 新疆生产建设兵团): codes of the form
//! `[A-Z][A-Z0-9-]{1,31}`. The directory decides who may send what: a parent
//! accepts from a child only origins inside that child's subtree.

use std::collections::HashMap;
use std::fmt;

use crate::hashing::FoldHash;
use crate::model::{Date, Level, parse_date};

/// The built-in directory, embedded in the binary.
const DIVISIONS_CSV: &str = include_str!("../data/divisions.csv");

/// The national bureau's code.
pub const NATIONAL: &str = "100000";

/// Most orgs a directory may hold (the built-in one has 3,499).
pub const ORGS_MAX: usize = 100_000;
/// Longest an org's name may be in a directory bulletin, in characters.
pub const ORG_NAME_CHARS_MAX: usize = 64;

/// A dense index into one process's directory. Never stored or sent: codes are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OrgId(u32);

impl OrgId {
    pub fn index(self) -> usize {
        self.0 as usize
    }

    /// The id at a dense index, for this crate's tables indexed by org.
    pub(crate) fn from_index(index: u32) -> OrgId {
        OrgId(index)
    }
}

/// One bureau.
#[derive(Debug, Clone)]
pub struct Org {
    pub code: String,
    pub name: String,
    pub level: Level,
    pub parent: Option<OrgId>,
    /// Longitude and latitude, when the division has them (for the map).
    pub location: Option<(f64, f64)>,
    /// The day a directory bulletin created it (None: always there).
    pub since: Option<Date>,
    /// The day a directory bulletin retired it: its records stay, under its
    /// last name, but nothing new is expected of it.
    pub retired: Option<Date>,
}

/// Why a directory file could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum OrgError {
    /// The file could not be read.
    #[error("{file}: {source}")]
    Io {
        file: String,
        source: std::io::Error,
    },
    /// A row is malformed or inconsistent with the rest of the tree.
    #[error("{file}:{line}: {reason}")]
    Row {
        file: String,
        line: u64,
        reason: String,
    },
}

/// Whether `code` is a well-formed org code: six digits (GB/T 2260), or
/// `[A-Z][A-Z0-9-]{1,31}` for units without a region code.
pub fn is_valid_code(code: &str) -> bool {
    let b = code.as_bytes();
    if b.len() == 6 && b.iter().all(u8::is_ascii_digit) {
        return true;
    }
    (2..=CODE_MAX).contains(&b.len())
        && b[0].is_ascii_uppercase()
        && b[1..]
            .iter()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == b'-')
}

/// A map keyed by org id (a batch may touch 100,000 origins), hashed with
/// [`FoldHash`].
pub type OrgMap<V> = HashMap<OrgId, V, FoldHash>;

/// A set of org ids, hashed with [`FoldHash`].
pub type OrgSet = std::collections::HashSet<OrgId, FoldHash>;

/// The longest org code [`is_valid_code`] accepts.
const CODE_MAX: usize = 32;

/// An org code held inline as a map key: looking one up among 100,000
/// reads the table's slot, not the slot and then a string elsewhere on
/// the heap (every change received looks up its origin).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct CodeKey {
    len: u8,
    bytes: [u8; CODE_MAX],
}

impl CodeKey {
    /// The key of `code`; none for a code longer than any valid one (which
    /// the directory cannot hold).
    fn of(code: &str) -> Option<CodeKey> {
        let len = code.len();
        if len > CODE_MAX {
            return None;
        }
        let mut bytes = [0; CODE_MAX];
        bytes[..len].copy_from_slice(code.as_bytes());
        Some(CodeKey {
            len: len as u8,
            bytes,
        })
    }
}

impl std::hash::Hash for CodeKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write(&self.bytes[..usize::from(self.len)]);
    }
}

/// The tree of bureaus.
#[derive(Debug, Clone)]
pub struct OrgDirectory {
    orgs: Vec<Org>,
    by_code: HashMap<CodeKey, OrgId, FoldHash>,
    children: Vec<Vec<OrgId>>,
    depth: Vec<u8>,
    /// Orgs in each org's subtree, itself included.
    sizes: Vec<u32>,
}

impl OrgDirectory {
    /// The built-in directory from divisions.csv.
    pub fn builtin() -> OrgDirectory {
        let mut dir = OrgDirectory {
            orgs: Vec::new(),
            by_code: HashMap::default(),
            children: Vec::new(),
            depth: Vec::new(),
            sizes: Vec::new(),
        };
        // The embedded file is checked by this module's tests; a failure here
        // would be a build defect, not bad input.
        if let Err(e) = dir.add_csv("divisions.csv", DIVISIONS_CSV) {
            panic!("built-in org directory is malformed: {e}");
        }
        dir
    }

    /// Adds rows `code,name,level,parent[,longitude,latitude]` (header
    /// required). Parents must precede their children or already exist.
    pub fn add_csv(&mut self, file: &str, text: &str) -> Result<(), OrgError> {
        let mut reader = csv::ReaderBuilder::new()
            .flexible(true)
            .trim(csv::Trim::All)
            .from_reader(text.trim_start_matches('\u{feff}').as_bytes());
        let row_err = |line: u64, reason: String| OrgError::Row {
            file: file.to_owned(),
            line,
            reason,
        };
        for (i, row) in reader.records().enumerate() {
            let line = i as u64 + 2;
            let row = row.map_err(|e| row_err(line, e.to_string()))?;
            let field = |n: usize| row.get(n).unwrap_or("");
            let (code, name, level, parent) = (field(0), field(1), field(2), field(3));
            if !is_valid_code(code) {
                return Err(row_err(line, format!("org code {code:?} is malformed")));
            }
            if self.get(code).is_some() {
                return Err(row_err(line, format!("org {code} is listed twice")));
            }
            if name.is_empty() {
                return Err(row_err(line, format!("org {code} has no name")));
            }
            let level: Level = level.parse().map_err(|e| row_err(line, format!("{e}")))?;
            let parent = if parent.is_empty() {
                if level != Level::National {
                    return Err(row_err(line, format!("org {code} ({level}) has no parent")));
                }
                if self.orgs.iter().any(|o| o.level == Level::National) {
                    return Err(row_err(line, "a second national org".into()));
                }
                None
            } else {
                let p = self.get(parent).ok_or_else(|| {
                    row_err(
                        line,
                        format!("parent {parent} of {code} is not in the directory"),
                    )
                })?;
                if self.orgs[p.index()].level >= level {
                    return Err(row_err(
                        line,
                        format!(
                            "parent {parent} ({}) is not above {code} ({level})",
                            self.orgs[p.index()].level
                        ),
                    ));
                }
                Some(p)
            };
            let location = match (field(4).parse::<f64>(), field(5).parse::<f64>()) {
                (Ok(lon), Ok(lat)) if lon.is_finite() && lat.is_finite() => Some((lon, lat)),
                _ => None,
            };
            if self.orgs.len() >= ORGS_MAX {
                return Err(row_err(line, format!("more than {ORGS_MAX} orgs")));
            }
            let id = OrgId(self.orgs.len() as u32);
            self.by_code.insert(Self::key(code), id);
            self.depth
                .push(parent.map_or(0, |p| self.depth[p.index()].saturating_add(1)));
            self.children.push(Vec::new());
            if let Some(p) = parent {
                self.children[p.index()].push(id);
            }
            self.orgs.push(Org {
                code: code.to_owned(),
                name: name.to_owned(),
                level,
                parent,
                location,
                since: None,
                retired: None,
            });
            self.sizes.push(1);
            let mut cur = parent;
            while let Some(p) = cur {
                self.sizes[p.index()] += 1;
                cur = self.orgs[p.index()].parent;
            }
        }
        Ok(())
    }

    /// Applies a directory bulletin in force from `effective`: rows
    /// `code,name,level,parent` with optional `retired` (a date, or empty)
    /// and `longitude,latitude` columns, by header name. A new code is
    /// added (created on `effective`); a known one takes the row's name,
    /// level and parent (renamed, moved) and, with `retired`, is retired.
    /// Ids of known orgs never change, so anything keyed by them stays valid.
    /// The whole file is checked against the directory as it would become
    /// before anything changes: on error the directory is untouched.
    pub fn amend_csv(
        &mut self,
        file: &str,
        text: &str,
        effective: Date,
    ) -> Result<usize, OrgError> {
        let mut next = self.clone();
        let changed = next.amend_in_place(file, text, effective)?;
        *self = next;
        Ok(changed)
    }

    fn amend_in_place(
        &mut self,
        file: &str,
        text: &str,
        effective: Date,
    ) -> Result<usize, OrgError> {
        let mut reader = csv::ReaderBuilder::new()
            .flexible(true)
            .trim(csv::Trim::All)
            .from_reader(text.trim_start_matches('\u{feff}').as_bytes());
        let row_err = |line: u64, reason: String| OrgError::Row {
            file: file.to_owned(),
            line,
            reason,
        };
        let headers = reader
            .headers()
            .map_err(|e| row_err(1, e.to_string()))?
            .clone();
        let column = |name: &str| headers.iter().position(|h| h == name);
        let (Some(c_code), Some(c_name), Some(c_level), Some(c_parent)) = (
            column("code"),
            column("name"),
            column("level"),
            column("parent"),
        ) else {
            return Err(row_err(
                1,
                "the header must name code, name, level and parent".into(),
            ));
        };
        let (c_retired, c_lon, c_lat) =
            (column("retired"), column("longitude"), column("latitude"));
        let mut changed = 0;
        for (i, row) in reader.records().enumerate() {
            let line = i as u64 + 2;
            let row = row.map_err(|e| row_err(line, e.to_string()))?;
            let field = |n: Option<usize>| n.and_then(|n| row.get(n)).unwrap_or("");
            let (code, name, level, parent) = (
                field(Some(c_code)),
                field(Some(c_name)),
                field(Some(c_level)),
                field(Some(c_parent)),
            );
            if !is_valid_code(code) {
                return Err(row_err(line, format!("org code {code:?} is malformed")));
            }
            if name.is_empty() || name.chars().count() > ORG_NAME_CHARS_MAX {
                return Err(row_err(
                    line,
                    format!("org {code} has no name or one over {ORG_NAME_CHARS_MAX} characters"),
                ));
            }
            let level: Level = level.parse().map_err(|e| row_err(line, format!("{e}")))?;
            let retired = match field(c_retired) {
                "" => None,
                text => Some(parse_date("retired", text).map_err(|e| row_err(line, e.0))?),
            };
            let location = match (field(c_lon).parse::<f64>(), field(c_lat).parse::<f64>()) {
                (Ok(lon), Ok(lat)) if lon.is_finite() && lat.is_finite() => Some((lon, lat)),
                _ => None,
            };
            let parent_id = if parent.is_empty() {
                None
            } else {
                Some(self.get(parent).ok_or_else(|| {
                    row_err(
                        line,
                        format!("parent {parent} of {code} is not in the directory"),
                    )
                })?)
            };
            match (parent_id, level) {
                (None, Level::National) | (Some(_), _) => {}
                (None, _) => {
                    return Err(row_err(line, format!("org {code} ({level}) has no parent")));
                }
            }
            if let Some(p) = parent_id
                && self.orgs[p.index()].level >= level
            {
                return Err(row_err(
                    line,
                    format!(
                        "parent {parent} ({}) is not above {code} ({level})",
                        self.orgs[p.index()].level
                    ),
                ));
            }
            match self.get(code) {
                None => {
                    let Some(p) = parent_id else {
                        return Err(row_err(line, "a second national org".into()));
                    };
                    if self.orgs.len() >= ORGS_MAX {
                        return Err(row_err(line, format!("more than {ORGS_MAX} orgs")));
                    }
                    let id = OrgId(self.orgs.len() as u32);
                    self.by_code.insert(Self::key(code), id);
                    self.depth.push(self.depth[p.index()].saturating_add(1));
                    self.children.push(Vec::new());
                    self.children[p.index()].push(id);
                    self.orgs.push(Org {
                        code: code.to_owned(),
                        name: name.to_owned(),
                        level,
                        parent: Some(p),
                        location,
                        since: Some(effective),
                        retired,
                    });
                    self.sizes.push(1);
                    self.grow_ancestors(Some(p), 1, true);
                }
                Some(id) => {
                    let old_parent = self.orgs[id.index()].parent;
                    if old_parent != parent_id {
                        let Some(p) = parent_id else {
                            return Err(row_err(
                                line,
                                format!("org {code} cannot become national"),
                            ));
                        };
                        if self.is_within(p, id) {
                            return Err(row_err(
                                line,
                                format!("org {code} cannot move under its own subtree ({parent})"),
                            ));
                        }
                        let size = self.sizes[id.index()];
                        self.grow_ancestors(old_parent, size, false);
                        if let Some(old) = old_parent {
                            self.children[old.index()].retain(|c| *c != id);
                        }
                        self.children[p.index()].push(id);
                        self.orgs[id.index()].parent = Some(p);
                        self.grow_ancestors(Some(p), size, true);
                        let base = self.depth[p.index()].saturating_add(1);
                        self.redepth(id, base);
                    }
                    if self.children[id.index()]
                        .iter()
                        .any(|c| self.orgs[c.index()].level <= level)
                    {
                        return Err(row_err(
                            line,
                            format!("org {code} ({level}) would not be above its subordinates"),
                        ));
                    }
                    let org = &mut self.orgs[id.index()];
                    org.name = name.to_owned();
                    org.level = level;
                    if location.is_some() {
                        org.location = location;
                    }
                    if retired.is_some() {
                        org.retired = retired;
                    }
                }
            }
            changed += 1;
        }
        Ok(changed)
    }

    /// Adds (`up`) or removes `n` orgs from the subtree sizes of `from` and
    /// its ancestors.
    fn grow_ancestors(&mut self, from: Option<OrgId>, n: u32, up: bool) {
        let mut cur = from;
        while let Some(p) = cur {
            let size = &mut self.sizes[p.index()];
            *size = if up {
                size.saturating_add(n)
            } else {
                size.saturating_sub(n)
            };
            cur = self.orgs[p.index()].parent;
        }
    }

    /// Sets the depth of `root` to `depth` and of its subtree below it.
    fn redepth(&mut self, root: OrgId, depth: u8) {
        let mut stack = vec![(root, depth)];
        while let Some((id, d)) = stack.pop() {
            self.depth[id.index()] = d;
            for &c in &self.children[id.index()] {
                stack.push((c, d.saturating_add(1)));
            }
        }
    }

    /// Whether `id` is in force on `date`: created by then (or always
    /// there) and not retired by then.
    pub fn in_force(&self, id: OrgId, date: Date) -> bool {
        let org = &self.orgs[id.index()];
        org.since.is_none_or(|s| s <= date) && org.retired.is_none_or(|r| r > date)
    }

    pub fn len(&self) -> usize {
        self.orgs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.orgs.is_empty()
    }

    /// Looks up a code.
    pub fn get(&self, code: &str) -> Option<OrgId> {
        self.by_code.get(&CodeKey::of(code)?).copied()
    }

    /// The key of a code checked by [`is_valid_code`].
    fn key(code: &str) -> CodeKey {
        debug_assert!(is_valid_code(code));
        CodeKey::of(code).unwrap_or(CodeKey {
            len: 0,
            bytes: [0; CODE_MAX],
        })
    }

    pub fn org(&self, id: OrgId) -> &Org {
        &self.orgs[id.index()]
    }

    pub fn code(&self, id: OrgId) -> &str {
        &self.orgs[id.index()].code
    }

    pub fn parent(&self, id: OrgId) -> Option<OrgId> {
        self.orgs[id.index()].parent
    }

    pub fn children(&self, id: OrgId) -> &[OrgId] {
        &self.children[id.index()]
    }

    /// The org at dense index `index`, if there is one (for state this
    /// process derived and keeps with [`OrgDirectory::digest`]).
    pub fn id_at(&self, index: u32) -> Option<OrgId> {
        ((index as usize) < self.orgs.len()).then_some(OrgId(index))
    }

    /// A digest of what dense ids mean here: every org's code, parent and
    /// dates, in id order. State kept with ids is only read back under a
    /// directory with the same digest.
    pub fn digest(&self) -> [u8; 32] {
        let mut h = blake3::Hasher::new();
        for org in &self.orgs {
            h.update(org.code.as_bytes());
            h.update(&[0]);
            h.update(&org.parent.map_or(u32::MAX, |p| p.0).to_le_bytes());
            for d in [org.since, org.retired] {
                h.update(d.map_or_else(String::new, |d| d.to_string()).as_bytes());
                h.update(&[0]);
            }
        }
        *h.finalize().as_bytes()
    }

    /// Every org, in directory order (parents before children).
    pub fn ids(&self) -> impl Iterator<Item = OrgId> + '_ {
        (0..self.orgs.len() as u32).map(OrgId)
    }

    /// Whether `id` is `ancestor` or lies below it.
    pub fn is_within(&self, id: OrgId, ancestor: OrgId) -> bool {
        let target_depth = self.depth[ancestor.index()];
        let mut cur = id;
        while self.depth[cur.index()] > target_depth {
            match self.parent(cur) {
                Some(p) => cur = p,
                None => return false,
            }
        }
        cur == ancestor
    }

    /// The path from the root down to `id`, inclusive.
    pub fn ancestry(&self, id: OrgId) -> Vec<OrgId> {
        let mut path = vec![id];
        let mut cur = id;
        while let Some(p) = self.parent(cur) {
            path.push(p);
            cur = p;
        }
        path.reverse();
        path
    }

    /// `root` and its descendants down to `depth` levels below it (all with
    /// `None`), in pre-order, with each one's depth below `root`.
    pub fn subtree(&self, root: OrgId, depth: Option<u32>) -> Vec<(OrgId, u32)> {
        let mut out = Vec::new();
        let mut stack = vec![(root, 0u32)];
        while let Some((id, d)) = stack.pop() {
            out.push((id, d));
            if depth.is_none_or(|max| d < max) {
                for &c in self.children(id).iter().rev() {
                    stack.push((c, d + 1));
                }
            }
        }
        out
    }

    /// Number of orgs in the subtree of `root`, `root` included.
    pub fn subtree_len(&self, root: OrgId) -> usize {
        self.sizes[root.index()] as usize
    }

    /// The direct child of `ancestor` on the way down to `id`, if `id` lies
    /// strictly below `ancestor`.
    pub fn child_towards(&self, ancestor: OrgId, id: OrgId) -> Option<OrgId> {
        let mut cur = id;
        loop {
            let p = self.parent(cur)?;
            if p == ancestor {
                return Some(cur);
            }
            cur = p;
        }
    }
}

impl fmt::Display for Org {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.code, self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_tree_shape() {
        let dir = OrgDirectory::builtin();
        assert_eq!(dir.len(), 3_499);
        let count = |l: Level| dir.ids().filter(|&i| dir.org(i).level == l).count();
        assert_eq!(count(Level::National), 1);
        assert_eq!(count(Level::Province), 31);
        assert_eq!(count(Level::Prefecture), 334);
        assert_eq!(count(Level::County), 3_133);
        let root = dir.get(NATIONAL).unwrap();
        assert_eq!(dir.subtree_len(root), 3_499);
        for id in dir.ids().step_by(97) {
            assert_eq!(dir.subtree_len(id), dir.subtree(id, None).len());
        }
    }

    #[test]
    fn skipped_levels_and_subtrees() {
        let dir = OrgDirectory::builtin();
        let id = |c: &str| dir.get(c).unwrap();
        // 济源 hangs directly under 河南.
        assert_eq!(dir.parent(id("419001")), Some(id("410000")));
        assert!(dir.is_within(id("410102"), id("410100")));
        assert!(dir.is_within(id("410102"), id("410000")));
        assert!(dir.is_within(id("410102"), id("100000")));
        assert!(dir.is_within(id("410100"), id("410100")));
        assert!(!dir.is_within(id("410100"), id("410102")));
        assert!(!dir.is_within(id("420100"), id("410000")));
        assert_eq!(
            dir.child_towards(id("410000"), id("410102")),
            Some(id("410100"))
        );
        assert_eq!(dir.child_towards(id("410000"), id("410000")), None);
        let depth1 = dir.subtree(id("410000"), Some(1));
        assert!(depth1.iter().all(|&(_, d)| d <= 1));
        assert!(depth1.iter().any(|&(o, _)| o == id("419001")));
        assert_eq!(dir.ancestry(id("410102")).len(), 4);
    }

    #[test]
    fn extension_rows_are_checked() {
        let mut dir = OrgDirectory::builtin();
        dir.add_csv(
            "x.csv",
            "code,name,level,parent\nBINGTUAN,新疆生产建设兵团信访局,province,100000\n",
        )
        .unwrap();
        assert!(dir.get("BINGTUAN").is_some());
        let err = |text: &str| {
            let mut d = OrgDirectory::builtin();
            d.add_csv("x.csv", text).unwrap_err().to_string()
        };
        assert!(err("code,name,level,parent\nlower,x,province,100000\n").contains("malformed"));
        assert!(err("code,name,level,parent\n410000,x,province,100000\n").contains("twice"));
        assert!(
            err("code,name,level,parent\nAB,x,province,999999\n").contains("not in the directory")
        );
        assert!(err("code,name,level,parent\nAB,x,province,410102\n").contains("not above"));
        assert!(err("code,name,level,parent\nAB,x,county,\n").contains("no parent"));
        assert!(err("code,name,level,parent\nAB,x,planet,100000\n").contains("x.csv:2"));
    }

    #[test]
    fn a_directory_bulletin_adds_renames_moves_and_retires() {
        let mut dir = OrgDirectory::builtin();
        let before = dir.len();
        let zhengzhou = dir.get("410100").unwrap();
        let luoyang = dir.get("410300").unwrap();
        let henan = dir.get("410000").unwrap();
        let national = dir.get(NATIONAL).unwrap();
        let (zz, ly, hn, all) = (
            dir.subtree_len(zhengzhou),
            dir.subtree_len(luoyang),
            dir.subtree_len(henan),
            dir.subtree_len(national),
        );
        let zhongyuan = dir.get("410102").unwrap();
        let effective: Date = "2027-01-01".parse().unwrap();
        let changed = dir
            .amend_csv(
                "orgs.csv",
                "code,name,level,parent,retired\n\
                 410199,郑州新区,county,410100,\n\
                 410102,中原区（新）,county,410300,\n\
                 410103,二七区,county,410100,2026-12-31\n",
                effective,
            )
            .unwrap();
        assert_eq!(changed, 3);
        assert_eq!(dir.len(), before + 1);
        let new = dir.get("410199").unwrap();
        assert_eq!(dir.parent(new), Some(zhengzhou));
        assert_eq!(dir.org(new).since, Some(effective));
        assert!(dir.is_within(new, henan));
        // Ids are stable; the moved county now lies under 洛阳.
        assert_eq!(dir.get("410102"), Some(zhongyuan));
        assert_eq!(dir.org(zhongyuan).name, "中原区（新）");
        assert!(dir.is_within(zhongyuan, luoyang));
        assert!(!dir.is_within(zhongyuan, zhengzhou));
        assert!(!dir.children(zhengzhou).contains(&zhongyuan));
        assert_eq!(dir.subtree_len(zhengzhou), zz); // one in, one out
        assert_eq!(dir.subtree_len(luoyang), ly + 1);
        assert_eq!(dir.subtree_len(henan), hn + 1);
        assert_eq!(dir.subtree_len(national), all + 1);
        let erqi = dir.get("410103").unwrap();
        assert!(dir.in_force(erqi, "2026-12-30".parse().unwrap()));
        assert!(!dir.in_force(erqi, "2026-12-31".parse().unwrap()));
        assert!(!dir.in_force(new, "2026-12-31".parse().unwrap()));
        assert!(dir.in_force(new, effective));
        // Figures equal a directory built from scratch with the same tree.
        for id in dir.ids() {
            let counted = dir.subtree(id, None).len();
            assert_eq!(dir.subtree_len(id), counted, "{}", dir.code(id));
        }
    }

    #[test]
    fn a_bad_directory_bulletin_changes_nothing() {
        let effective: Date = "2027-01-01".parse().unwrap();
        let err = |text: &str| {
            let mut d = OrgDirectory::builtin();
            let before = d.len();
            let e = d
                .amend_csv("b.csv", text, effective)
                .unwrap_err()
                .to_string();
            assert_eq!(d.len(), before);
            assert_eq!(d.org(d.get("410102").unwrap()).name, "中原区");
            e
        };
        // The first row is fine; the second fails: nothing of either stays.
        let e = err("code,name,level,parent\n410102,改名,county,410100\n410198,x,county,999999\n");
        assert!(
            e.contains("b.csv:3") && e.contains("not in the directory"),
            "{e}"
        );
        assert!(err("code,name,level\n410102,x,county\n").contains("header"));
        assert!(err("code,name,level,parent\n410000,x,province,410100\n").contains("not above"));
        assert!(err("code,name,level,parent\n410100,x,county,410000\n").contains("subordinates"));
        assert!(err("code,name,level,parent\nNEWNATION,x,national,\n").contains("second national"));
        assert!(
            err("code,name,level,parent,retired\n410102,x,county,410100,someday\n")
                .contains("retired")
        );
        assert!(err("code,name,level,parent\n100000,x,national,410000\n").contains("not above"));
    }

    #[test]
    fn code_shapes() {
        assert!(is_valid_code("410102"));
        assert!(is_valid_code("ZY-GUOBAN"));
        assert!(!is_valid_code("4101"));
        assert!(!is_valid_code("A"));
        assert!(!is_valid_code("a1"));
        assert!(!is_valid_code("X\u{0}"));
    }

    #[test]
    fn codes_are_found_by_their_whole_bytes() {
        let longest = format!("Z{}", "9".repeat(CODE_MAX - 1));
        let mut orgs = OrgDirectory::builtin();
        let csv =
            format!("code,name,level,parent\nZ1,甲,county,410100\n{longest},乙,county,410100\n");
        orgs.add_csv("orgs.csv", &csv).expect("valid rows");
        let (z1, last) = (
            orgs.get("Z1").expect("Z1"),
            orgs.get(&longest).expect("32 bytes"),
        );
        assert_ne!(z1, last);
        assert_eq!(orgs.code(last), longest);
        // Prefixes, extensions and codes longer than any valid one are not found.
        for absent in ["Z", "Z10", "Z1\u{0}", "", "41010", "4101020"] {
            assert_eq!(orgs.get(absent), None, "{absent:?}");
        }
        assert_eq!(orgs.get(&format!("{longest}9")), None);
        assert_eq!(orgs.get(&"9".repeat(4096)), None);
        assert_eq!(orgs.get("410102").map(|o| orgs.code(o)), Some("410102"));
    }
}
