//! Trainings a parent returns, at the child, against a fake parent that
//! says whatever the test wants: a good answer is stored and shown, the same
//! answer again changes nothing, and every hostile or broken answer (a
//! person on none of our rosters, an organizer inside our subtree or
//! unknown, a digest that does not add up, too many people in a chunk, a
//! chunk over the message limit, a stream cut before its last chunk) is
//! refused with one line naming the parent and the field, the store and the
//! view unchanged.

mod support;

use std::collections::BTreeMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use lunxun_core::returns::child::Held;
use lunxun_core::returns::{Returned, person_digest, sort};
use lunxun_node::codec;
use lunxun_node::model::{Attendance, Class, Hours, Mode, Outcome, PersonId};
use lunxun_node::node::Node;
use lunxun_node::sync::client::{self, SyncError};
use lunxun_node::sync::trainings::{self, CHUNK_PEOPLE_MAX};
use lunxun_proto::v1 as pb;
use lunxun_proto::v1::sync_server::{Sync, SyncServer};
use tokio_stream::Stream;
use tonic::{Request, Response, Status, Streaming};

type Chunks = Vec<Result<pb::TrainingsChunk, Status>>;

/// A parent that answers `Trainings` with the chunks it is given, and
/// nothing else.
#[derive(Clone, Default)]
struct FakeParent {
    answer: Arc<Mutex<Chunks>>,
}

type Boxed<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

#[tonic::async_trait]
impl Sync for FakeParent {
    type SessionStream = Boxed<pb::ParentMessage>;
    type RestoreStream = Boxed<pb::Batch>;
    type TrainingsStream = Boxed<pb::TrainingsChunk>;

    async fn session(
        &self,
        _: Request<Streaming<pb::ChildMessage>>,
    ) -> Result<Response<Self::SessionStream>, Status> {
        Err(Status::unimplemented("no sessions here"))
    }

    async fn restore(
        &self,
        _: Request<pb::RestoreRequest>,
    ) -> Result<Response<Self::RestoreStream>, Status> {
        Err(Status::unimplemented("no restores here"))
    }

    async fn trainings(
        &self,
        _: Request<pb::TrainingsRequest>,
    ) -> Result<Response<Self::TrainingsStream>, Status> {
        let chunks = self.answer.lock().unwrap().clone();
        Ok(Response::new(Box::pin(tokio_stream::iter(chunks))))
    }
}

/// A county (中原区) with two people on its roster, syncing to the fake
/// parent; the parent's handle to set its answer.
async fn county(tmp: &std::path::Path) -> (Arc<Node>, FakeParent, [PersonId; 3]) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let parent = FakeParent::default();
    let server = SyncServer::new(parent.clone()).max_encoding_message_size(64 * 1024 * 1024);
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(server)
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    let data = tmp.join("data");
    let url = format!("http://{addr}");
    support::ok(
        &data,
        &["init", "--org", "410102", "--upstream", &url, "--insecure"],
    );
    let people = [
        support::id("41010219800101001"),
        support::id("41010219800101002"),
        support::id("41010219800101003"),
    ];
    let roster = tmp.join("roster.csv");
    std::fs::write(
        &roster,
        format!(
            "person_id,name,rank,since\n{},甲,general,2024-01-01\n{},乙,general,2024-01-01\n",
            people[0], people[1]
        ),
    )
    .unwrap();
    support::ok(&data, &["import", "roster", roster.to_str().unwrap()]);
    let node = Arc::new(Node::open(&data).unwrap());
    let people = people.map(|p| p.parse().unwrap());
    (node, parent, people)
}

fn class(id: &str) -> Class {
    Class {
        class_id: id.parse().unwrap(),
        title: format!("郑州市 {id}"),
        category: String::new(),
        mode: Mode::Centralized,
        off_job: true,
        start: "2025-04-01".parse().unwrap(),
        end: "2025-04-10".parse().unwrap(),
        hours: Hours::from_whole(60),
        days: None,
    }
}

/// `person`'s attendance of class `id` organized by `origin`.
fn training(node: &Node, origin: &str, id: &str, person: PersonId) -> Returned {
    Returned {
        origin: node.orgs().get(origin).unwrap(),
        class: Some(class(id)),
        attendance: Attendance {
            class_id: id.parse().unwrap(),
            person,
            hours: Hours::from_whole(60),
            outcome: Outcome::Completed,
            name: "甲".into(),
        },
    }
}

/// The answer that gives `sets`, whole, in one chunk, with its true digest.
fn answer(node: &Node, sets: &[(PersonId, Vec<Returned>)]) -> pb::TrainingsChunk {
    let mut held = Held::default();
    let mut people = Vec::new();
    for (person, items) in sets {
        let mut items = items.clone();
        sort(&node.orgs(), &mut items);
        held.replace(*person, items.clone(), person_digest(&node.orgs(), &items));
        people.push(codec::encode_person_trainings(
            &node.orgs(),
            *person,
            &items,
        ));
    }
    pb::TrainingsChunk {
        people,
        full: true,
        digest: Bytes::copy_from_slice(&held.combined()),
        last: true,
        at_ms: 1_000,
    }
}

async fn fetch(node: &Node) -> Result<usize, SyncError> {
    let (url, mut c) = client::connect(node).await?;
    trainings::fetch(node, &url, &mut c)
        .await
        .map(|applied| applied.expect("the fake parent serves trainings").people)
}

/// Everything a refusal must leave as it was: the stored sets, when they
/// changed, the digest held, the view's counts.
type Snapshot = (Vec<(u64, Vec<u8>)>, Option<i64>, [u8; 32], String);

fn snapshot(node: &Node) -> Snapshot {
    (
        node.store().returned().unwrap(),
        node.store().returned_at().unwrap(),
        node.returned_digest(),
        format!("{:?}", node.view().counts()),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_good_answer_is_kept_and_shown_and_the_same_again_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let (node, parent, [p, q, _]) = county(tmp.path()).await;
    let sets = vec![
        (
            p,
            vec![
                training(&node, "410100", "Z1", p),
                training(&node, "100000", "N1", p),
            ],
        ),
        (q, vec![training(&node, "410103", "S1", q)]),
    ];
    *parent.answer.lock().unwrap() = vec![Ok(answer(&node, &sets))];
    assert_eq!(fetch(&node).await.unwrap(), 2);
    assert_eq!(node.returned_counts().people, 2);
    assert_eq!(node.returned_counts().records, 3);
    assert_eq!(
        node.view().facts(p).len(),
        2,
        "the returned classes count for p"
    );
    // Nothing of it is in the log: nothing to forward, restore or bundle.
    let own = vec!["410102".to_owned()];
    assert_eq!(node.heads_by_code().into_keys().collect::<Vec<_>>(), own);
    assert_eq!(node.sendable_heads().into_keys().collect::<Vec<_>>(), own);
    assert!(
        node.store()
            .scan_all()
            .all(|e| e.unwrap().origin == "410102"),
        "only the own origin's changes in the log"
    );
    let kept = snapshot(&node);
    assert_eq!(fetch(&node).await.unwrap(), 0);
    assert_eq!(
        snapshot(&node),
        kept,
        "the same answer again writes nothing"
    );

    // Reopened, the node shows the same.
    let dir = node.dir().to_path_buf();
    drop(node);
    let node = Node::open(&dir).unwrap();
    assert_eq!(snapshot(&node), kept);
    assert_eq!(node.view().facts(p).len(), 2);

    // A whole answer without q drops q's.
    let only_p = answer(&node, &sets[..1]);
    *parent.answer.lock().unwrap() = vec![Ok(only_p)];
    let node = Arc::new(node);
    assert_eq!(fetch(&node).await.unwrap(), 1);
    assert_eq!(node.returned_counts().people, 1);
    assert!(node.view().facts(q).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_hostile_or_broken_answer_is_refused_and_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let (node, parent, [p, q, stranger]) = county(tmp.path()).await;
    let good = answer(&node, &[(p, vec![training(&node, "410100", "Z1", p)])]);
    *parent.answer.lock().unwrap() = vec![Ok(good.clone())];
    fetch(&node).await.unwrap();
    let before = snapshot(&node);

    let with = |edit: &dyn Fn(&mut pb::TrainingsChunk)| {
        let mut chunk = good.clone();
        edit(&mut chunk);
        vec![Ok(chunk)]
    };
    let cases: Vec<(&str, Chunks, &str)> = vec![
        (
            "a person on none of our rosters",
            vec![Ok(answer(
                &node,
                &[(stranger, vec![training(&node, "410100", "Z1", stranger)])],
            ))],
            "people[0]",
        ),
        (
            "an organizer inside our own subtree",
            vec![Ok(answer(
                &node,
                &[(p, vec![training(&node, "410102", "C1", p)])],
            ))],
            "people[0].items[0].origin 410102: inside our own subtree",
        ),
        (
            "an unknown organizer",
            with(&|c| c.people[0].items[0].origin = "999999".into()),
            "people[0].items[0].origin 999999: an unknown org",
        ),
        (
            "a digest that does not add up",
            with(&|c| {
                c.people[0].items[0]
                    .attendance
                    .as_mut()
                    .unwrap()
                    .hours_tenths += 10
            }),
            "digest",
        ),
        (
            "an invalid record",
            with(&|c| c.people[0].items[0].class.as_mut().unwrap().title = String::new()),
            "people[0].items[0].class: title is empty",
        ),
        (
            "too many people in one chunk",
            with(&|c| {
                let one = c.people[0].clone();
                c.people = vec![one; CHUNK_PEOPLE_MAX + 1];
            }),
            "chunks[0].people",
        ),
        (
            "a chunk over the message limit",
            with(&|c| c.people[0].person_id = "1".repeat(client::MESSAGE_BYTES_MAX + 1)),
            "chunks[0]: larger than",
        ),
        (
            "a digest that is not one",
            with(&|c| c.digest = Bytes::from_static(b"short")),
            "chunks[0].digest",
        ),
    ];
    for (what, chunks, field) in cases {
        *parent.answer.lock().unwrap() = chunks;
        let e = fetch(&node).await.unwrap_err();
        let line = e.to_string();
        assert!(matches!(e, SyncError::Trainings { .. }), "{what}: {line}");
        assert!(
            line.contains(&node.config().upstream.clone().unwrap()),
            "{what}: {line}"
        );
        assert!(line.contains(field), "{what}: {line}");
        assert!(!line.contains('\n'), "{what}: {line}");
        for person in [p, q, stranger] {
            assert!(
                !line.contains(&person.to_string()),
                "{what}: an ID number in {line}"
            );
        }
        assert_eq!(snapshot(&node), before, "{what}: the store changed");
    }

    // A stream cut before its last chunk applies nothing (the next answer
    // is whole: our digest is not what the parent last sent).
    let mut first = answer(&node, &[(q, vec![training(&node, "410100", "Z1", q)])]);
    first.last = false;
    *parent.answer.lock().unwrap() = vec![Ok(first), Err(Status::aborted("the link broke"))];
    let e = fetch(&node).await.unwrap_err();
    assert!(matches!(e, SyncError::Link(_)), "{e}");
    assert_eq!(snapshot(&node), before, "a broken stream changed the store");

    let mut cut = good.clone();
    cut.last = false;
    *parent.answer.lock().unwrap() = vec![Ok(cut)];
    let e = fetch(&node).await.unwrap_err();
    assert!(e.to_string().contains("before their last chunk"), "{e}");
    assert_eq!(snapshot(&node), before);
    let held: BTreeMap<_, _> = node.returned_digests();
    assert_eq!(held.keys().copied().collect::<Vec<_>>(), vec![p]);
}
