//! Trainings returned down the tree, in real processes over mutual TLS: the
//! prefecture (郑州) trains 中原区's township workers and the national
//! bureau trains them too; after a few rounds of syncs 中原区's own hour
//! figures equal the national node's for it, `person` shows the classes,
//! and it holds nothing of anyone off its rosters (二七区's people attended
//! a class of 郑州 as well). A link cut at random bytes during the transfer
//! leaves the county with the old set or the new one, never part of it, and
//! the next session completes. Nothing returned travels back up: the
//! county's log holds its own origin only, byte for byte at its parent.

use chrono::TimeDelta;
use lunxun_tests::data::extra_class;
use lunxun_tests::shown::{classes_of, own_figures, returned_records};
use lunxun_tests::{Mode, Node, Proxy, World, assert_exactly_once, seed};

#[test]
fn a_county_sees_its_peoples_trainings_held_above_it_and_sends_none_of_them_up() {
    let world = World::tls("returned", seed("returned", 17));
    let as_of = world.as_of();
    let national = world.hub("100000", None);
    let province = world.hub("410000", Some(&national.url()));
    let prefecture = world.hub("410100", Some(&province.url()));
    let link = Proxy::start("returned-410102", prefecture.addr(), 21);
    let county = world.node("410102", Some(&world.security.url(link.addr())));
    let sibling = world.node("410103", Some(&prefecture.url()));
    let mut nodes = [national, province, prefecture, county, sibling];
    let mut data = Vec::new();
    for node in &mut nodes {
        let generated = world.data(&node.org);
        node.import_data(&generated);
        data.push(generated);
    }
    let [national, province, prefecture, county, sibling] = &mut nodes;
    let (county_data, sibling_data) = (&data[3], &data[4]);
    // 郑州 trains both counties' workers; the national bureau 中原区's.
    let day = world.params.as_of - TimeDelta::days(40);
    prefecture.import_data(&extra_class(county_data, 100, day));
    prefecture.import_data(&extra_class(sibling_data, 101, day));
    national.import_data(&extra_class(county_data, 200, day + TimeDelta::days(5)));

    let sync_up = |nodes: &[&Node]| {
        for node in nodes {
            let out = node.sync_ok();
            assert!(
                out.contains("the parent holds everything"),
                "{}: {out}",
                node.org
            );
        }
    };
    // Returned trainings go one level per session: three rounds bring the
    // national class to the county.
    for _ in 0..3 {
        sync_up(&[&*county, &*sibling, &*prefecture, &*province]);
    }
    let worker = county_data.roster[0].person.to_string();
    let held = classes_of(county, &worker);
    for class in ["410100:X100", "100000:X200"] {
        assert!(held.contains(&class.to_owned()), "{class} not in {held:?}");
    }
    assert_eq!(
        own_figures(county, "410102", &as_of),
        own_figures(national, "410102", &as_of),
        "中原区's own figures, at 中原区 and at the national node"
    );
    // 二七区's people are nobody 中原区 may see.
    for r in &sibling_data.roster {
        let seen = classes_of(county, &r.person.to_string());
        assert!(
            seen.is_empty(),
            "中原区 holds trainings of 二七区's people: {seen:?}"
        );
    }
    assert!(
        classes_of(sibling, &sibling_data.roster[0].person.to_string())
            .contains(&"410100:X101".to_owned())
    );

    // 郑州 trains 中原区's people again; the answer crosses a link cut at
    // random bytes: the county holds the old set or the new one, whole.
    let before = returned_records(county);
    let after = before + county_data.roster.len() as u64;
    prefecture.import_data(&extra_class(county_data, 102, day + TimeDelta::days(10)));
    let own_seq = county.own_seq();
    link.set_mode(Mode::Cut { max_bytes: 40_000 });
    let mut broken = 0;
    for _ in 0..10 {
        let out = county.sync_once();
        assert!(
            out.code == 0 || out.code == 4,
            "sync exited {}: {}",
            out.code,
            out.stderr
        );
        broken += usize::from(out.code != 0);
        let records = returned_records(county);
        assert!(
            records == before || records == after,
            "the county holds {records} returned records, neither {before} nor {after}"
        );
    }
    eprintln!("{broken} of 10 syncs broken; link {:?}", link.stats());
    assert!(link.stats().cuts > 0, "the link was never cut");
    link.set_mode(Mode::Pass);
    sync_up(&[&*county]);
    assert_eq!(returned_records(county), after);
    assert_eq!(
        county.own_seq(),
        own_seq,
        "nothing was written to the county's log"
    );
    assert_eq!(
        own_figures(county, "410102", &as_of),
        own_figures(national, "410102", &as_of)
    );

    // Nothing returned went up: the county's log is its own origin only,
    // and its parent holds it byte for byte; the parent's store holds the
    // same changes as before the county's last syncs.
    let changes = |n: &Node| n.status_json()["counts"]["changes"].as_u64().unwrap();
    let at_parent = changes(prefecture);
    sync_up(&[&*county]);
    assert_eq!(changes(prefecture), at_parent);
    prefecture.stop();
    let (own, parent) = (county.logs(), prefecture.logs());
    assert_eq!(own.origin_codes(), vec!["410102"]);
    assert_exactly_once("410102", &own, &parent);
}
