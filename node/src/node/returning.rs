//! The trainings this node returns to its children, the parent's side of
//! `lunxun_core::returns`: the answer to one child, computed under the
//! view's read lock (each person on the rosters of the child's subtree and
//! their trainings organized outside it, within
//! [`codec::trainings::PERSON_LIMITS`]), and what was last sent to each
//! child, kept in memory: a child whose digest is that answer's gets only
//! the people changed since; any other (a broken stream, a lost file, a
//! restart of either side) gets the whole set. A session's answer
//! (`Sync.Trainings`, the hub's service) and an acknowledgement's (a
//! bundle imported here) are the same answer and share that memory.

use lunxun_core::returns::child::{Answer, PersonAnswer};
use lunxun_core::returns::parent::{Sent, digests, person_set, plan};
use lunxun_core::returns::{Digest, NOTHING};

use super::Node;
use crate::codec;
use crate::orgs::OrgId;

/// One answer to a child, and what to remember once it is sent.
#[derive(Debug)]
pub struct Returning {
    /// What to send: the whole set (`full`) or the people changed since the
    /// answer the child holds (an empty set: the person has none any more).
    pub answer: Answer,
    /// Each person's digest as of this answer ([`Node::remember_returned`]).
    pub sent: Sent,
    /// People whose set exceeds the limits, left out as if empty.
    pub left_out: usize,
}

impl Node {
    /// The answer to `child`, which holds what `child_digest` sums up (None:
    /// it did not say, and gets the whole set). Nothing is remembered here.
    pub fn returning(&self, child: OrgId, child_digest: Option<&Digest>) -> Returning {
        let orgs = self.orgs();
        let view = self.view();
        let (now, left_out) = digests(&view, &orgs, child, &codec::trainings::PERSON_LIMITS);
        let plan = {
            let sent = self.returned_sent.lock().unwrap_or_else(|p| p.into_inner());
            let last = child_digest.and_then(|_| sent.get(&child));
            plan(last, child_digest.unwrap_or(&NOTHING), &now)
        };
        let people = plan
            .people
            .iter()
            .map(|person| PersonAnswer {
                person: *person,
                items: if now.contains_key(person) {
                    person_set(&view, &orgs, child, *person)
                } else {
                    Vec::new()
                },
            })
            .collect();
        drop(view);
        let sent = Sent::new(now);
        Returning {
            answer: Answer {
                full: plan.full,
                people,
                digest: sent.combined,
            },
            sent,
            left_out,
        }
    }

    /// Remembers `sent` as what `child` was last sent (a session's answer
    /// as it starts, an acknowledgement's once it is written).
    pub fn remember_returned(&self, child: OrgId, sent: Sent) {
        self.returned_sent
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(child, sent);
    }
}
