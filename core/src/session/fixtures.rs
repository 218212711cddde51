//! What the session machines' tests share: the child and its origins, and
//! the record every simulated change carries.

use crate::model::{PersonId, Rank, Record, RosterEntry};

/// The child whose sessions the tests drive (郑州).
pub const CHILD: &str = "410100";
/// The origins of its subtree the tests write.
pub const ORIGINS: [&str; 3] = ["410100", "410102", "410103"];

/// What a change's record decodes to, for the placement (the simulated
/// parent never decodes the bytes).
pub fn roster() -> Record {
    Record::Roster(RosterEntry {
        person: "11010519491231002X".parse::<PersonId>().unwrap(),
        name: "人".into(),
        rank: Rank::General,
        since: "2024-01-01".parse().unwrap(),
        until: None,
        employer: String::new(),
        position: String::new(),
        group: String::new(),
    })
}
