//! Bulletins a node is handed: the good series is taken once, in order, and
//! survives a reopen; every hostile or broken one is refused with one line
//! naming the bulletin and why, and changes nothing (the series held, the
//! policy and the directory in force, the store).

use std::path::{Path, PathBuf};

use bytes::Bytes;
use lunxun_core::bulletin::{Body, Bulletin, Sealed};
use lunxun_core::changelog::GENESIS;
use lunxun_node::app::init::{InitRequest, init};
use lunxun_node::certs::sign::Signer;
use lunxun_node::certs::{init_ca, issue};
use lunxun_node::codec;
use lunxun_node::config::Config;
use lunxun_node::model::{Date, Level};
use lunxun_node::node::Node;
use lunxun_node::orgs::OrgDirectory;

struct Pki {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    national: PathBuf,
    county: PathBuf,
    foreign_national: PathBuf,
}

fn pki() -> Pki {
    let orgs = OrgDirectory::builtin();
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    init_ca(&root, "100000", None, None, &orgs).unwrap();
    let other_root = tmp.path().join("other-root");
    init_ca(&other_root, "100000", None, None, &orgs).unwrap();
    let node = |ca: &Path, org: &str, name: &str| {
        let dir = tmp.path().join(name);
        issue(ca, org, &["127.0.0.1".into()], &dir, None, &orgs).unwrap();
        dir
    };
    Pki {
        national: node(&root, "100000", "national"),
        county: node(&root, "410102", "county"),
        foreign_national: node(&other_root, "100000", "foreign-national"),
        root,
        _tmp: tmp,
    }
}

fn open(dir: &Path, org: &str, tls: &Path) -> Node {
    init(
        dir,
        InitRequest {
            org: org.into(),
            upstream: None,
            tls_dir: Some(tls.to_path_buf()),
            insecure: false,
            orgs: None,
        },
    )
    .unwrap()
}

fn d(s: &str) -> Date {
    s.parse().unwrap()
}

fn county_cycle(node: &Node, date: &str) -> u32 {
    node.policy_at(d(date)).cycle(Level::County).max_years
}

/// A sealed bulletin made by hand (what a forger or a buggy publisher sends).
fn sealed(signer: Option<&Signer>, number: u64, prev: [u8; 32], body: Body) -> Bytes {
    let bytes = codec::encode_bulletin(&Bulletin {
        number,
        prev,
        signed_at_ms: lunxun_node::node::now_ms(),
        effective: d("2026-07-01"),
        body,
    });
    let sealed = match signer {
        Some(s) => s.seal_bulletin(bytes),
        None => Sealed {
            bytes,
            signature: Bytes::new(),
            chain: Vec::new(),
        },
    };
    codec::encode_sealed(&sealed)
}

fn cycle(years: u32) -> Body {
    Body::Policy {
        toml: format!("[rotation.county]\nmin_years = {years}\nmax_years = {years}\n"),
    }
}

#[test]
fn a_county_takes_the_national_series_once_and_refuses_everything_else() {
    let p = pki();
    let tmp = tempfile::tempdir().unwrap();
    let national = open(&tmp.path().join("national"), "100000", &p.national);
    let county_dir = tmp.path().join("county");
    let county = open(&county_dir, "410102", &p.county);

    // Published at the national node: signed, in force there at once.
    let n = national.publish(cycle(2), d("2026-07-01")).unwrap();
    assert_eq!(n, 1);
    assert_eq!(county_cycle(&national, "2026-07-01"), 2);
    assert_eq!(county_cycle(&national, "2026-06-30"), 1);
    let series = national.bulletins_above(0).unwrap();
    assert_eq!(series.len(), 1);

    let national_signer = Signer::load(&p.national, "100000").unwrap();
    let county_signer = Signer::load(&p.county, "410102").unwrap();
    let foreign_signer = Signer::load(&p.foreign_national, "100000").unwrap();
    let first_digest = {
        let s = codec::decode_sealed(&series[0]).unwrap();
        lunxun_core::bulletin::digest(&s.bytes)
    };
    // A tampered copy: the national bureau's signature over other bytes.
    let tampered = {
        let mut s = codec::decode_sealed(&series[0]).unwrap();
        let mut b = codec::decode_bulletin(&s.bytes).unwrap();
        b.body = cycle(5);
        s.bytes = codec::encode_bulletin(&b);
        codec::encode_sealed(&s)
    };
    let hostile: Vec<(&str, Bytes, &str)> = vec![
        ("tampered", tampered, "does not verify"),
        (
            "signed by a county",
            sealed(Some(&county_signer), 1, GENESIS, cycle(2)),
            "not for the national bureau",
        ),
        (
            "signed under another root",
            sealed(Some(&foreign_signer), 1, GENESIS, cycle(2)),
            "does not chain to our root",
        ),
        (
            "unsigned",
            sealed(None, 1, GENESIS, cycle(2)),
            "is not signed",
        ),
        (
            "after a gap",
            sealed(Some(&national_signer), 2, GENESIS, cycle(2)),
            "gap",
        ),
        (
            "a policy that does not validate",
            sealed(
                Some(&national_signer),
                1,
                GENESIS,
                Body::Policy {
                    toml: "[rotation.county]\nmax_years = 0\n".into(),
                },
            ),
            "max_years",
        ),
        (
            "a directory row under an unknown parent",
            sealed(
                Some(&national_signer),
                1,
                GENESIS,
                Body::Orgs {
                    csv: "code,name,level,parent\n410199,新区,county,999999\n".into(),
                },
            ),
            "not in the directory",
        ),
        (
            "not a bulletin",
            Bytes::from_static(b"\xff\x00garbage"),
            "malformed",
        ),
    ];
    for (what, bytes, reason) in &hostile {
        let e = county
            .receive_bulletins(std::slice::from_ref(bytes))
            .unwrap_err();
        let line = e.to_string();
        assert!(line.contains(reason), "{what}: {line}");
        assert!(!line.contains('\n'), "{what}: one line: {line}");
        assert_eq!(county.bulletins_held(), 0, "{what}");
        assert_eq!(county_cycle(&county, "2027-01-01"), 1, "{what}");
    }

    // The real one, once; again is nothing.
    assert_eq!(county.receive_bulletins(&series).unwrap(), 1);
    assert_eq!(county.receive_bulletins(&series).unwrap(), 0);
    assert_eq!(county.bulletins_held(), 1);
    assert_eq!(county_cycle(&county, "2026-07-01"), 2);
    assert_eq!(county_cycle(&county, "2026-06-30"), 1);

    // A second bulletin 1 (signed by the national bureau, but another one)
    // contradicts the series held: refused, the first kept.
    let other_first = sealed(Some(&national_signer), 1, GENESIS, cycle(3));
    let e = county.receive_bulletins(&[other_first]).unwrap_err();
    assert!(e.to_string().contains("contradicts"), "{e}");
    // So does a bulletin 2 chained to something else.
    let e = county
        .receive_bulletins(&[sealed(Some(&national_signer), 2, [9; 32], cycle(3))])
        .unwrap_err();
    assert!(e.to_string().contains("contradicts"), "{e}");
    // The right bulletin 2 goes through; a batch that ends in a bad one keeps
    // the good ones before it.
    let second = sealed(Some(&national_signer), 2, first_digest, cycle(3));
    let e = county
        .receive_bulletins(&[second.clone(), Bytes::from_static(b"junk")])
        .unwrap_err();
    assert!(e.to_string().contains("malformed"), "{e}");
    assert_eq!(county.bulletins_held(), 2);

    // A revoked signer: revocations in config.toml apply to bulletins too.
    let serial = {
        let info = lunxun_node::certs::info(
            &lunxun_node::certs::pem_certificates(
                &std::fs::read_to_string(p.national.join("node.pem")).unwrap(),
            )[0],
        )
        .unwrap();
        info.serial
    };
    drop(county);
    let mut config = Config::load(&county_dir).unwrap();
    config.revoked.serials.push(serial);
    config.save(&county_dir).unwrap();
    let county = Node::open(&county_dir).unwrap();
    // What was taken survives the reopen, in force.
    assert_eq!(county.bulletins_held(), 2);
    assert_eq!(county_cycle(&county, "2027-01-01"), 3);
    let second_digest = {
        let s = codec::decode_sealed(&second).unwrap();
        lunxun_core::bulletin::digest(&s.bytes)
    };
    let third = sealed(Some(&national_signer), 3, second_digest, cycle(4));
    let e = county.receive_bulletins(&[third]).unwrap_err();
    assert!(e.to_string().contains("revoked"), "{e}");
    assert_eq!(county.bulletins_held(), 2);
    assert!(p.root.exists());
}

#[test]
fn only_the_national_node_publishes_and_never_what_cannot_apply() {
    let p = pki();
    let tmp = tempfile::tempdir().unwrap();
    let county = open(&tmp.path().join("county"), "410102", &p.county);
    let e = county.publish(cycle(2), d("2027-01-01")).unwrap_err();
    assert!(e.to_string().contains("only the national bureau"), "{e}");
    let national = open(&tmp.path().join("national"), "100000", &p.national);
    let bad = Body::Orgs {
        csv: "code,name,level,parent\n410102,x,county,999999\n".into(),
    };
    assert!(national.publish(bad, d("2027-01-01")).is_err());
    assert_eq!(national.bulletins_held(), 0);
    let listed = national.bulletins();
    assert!(listed.is_empty());
    national
        .publish(
            Body::Orgs {
                csv: "code,name,level,parent\n410199,郑州新区,county,410100\n".into(),
            },
            d("2027-01-01"),
        )
        .unwrap();
    assert!(national.orgs().get("410199").is_some());
    assert_eq!(national.bulletins()[0].kind, "orgs");
    assert!(national.bulletins()[0].signed);
}
