//! `demo`: the newcomer's first command.
//!
//! Under the (empty) data dir it builds a realistic slice of the real
//! hierarchy: the national bureau, three provinces, some of their prefectures
//! and counties (among them counties directly under their province), about
//! thirty nodes. It issues the certificates (a national root, and an
//! intermediate CA for 河南 that signs its own subtree), generates each
//! office's rosters and training histories with the deterministic generator
//! and imports them from the files through the normal import path, then runs
//! every node in this process — each with its own store, its own mTLS sync
//! service on loopback and its own upstream worker. A few counties stay
//! offline at first and come online later. When the national node holds
//! every office's records, the demo checks that its coverage equals the rules
//! applied to the union of all the files, prints the national coverage tree,
//! and serves the dashboard (or exits with `--exit`).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lunxun_core::bulletin::Body;
use lunxun_gen::GenParams;
use lunxun_node::certs;
use lunxun_node::cli::{self as node_cli, CliError, CliResult, Output, exit};
use lunxun_node::config::Config;
use lunxun_node::coverage;
use lunxun_node::import::{self, ImportOptions};
use lunxun_node::model::Record;
use lunxun_node::node::Node;
use lunxun_node::orgs::{OrgDirectory, OrgId};
use lunxun_node::policy::Policy;
use lunxun_node::sync::worker;
use lunxun_node::view::View;
use tokio::sync::watch;
use tonic::transport::Server;

use crate::identity::Identity;
use crate::service::SyncService;

/// The slice of the real tree the demo runs: (org, kept offline at first).
const SLICE: &[(&str, bool)] = &[
    ("100000", false),
    // 河南: two prefectures, and 济源 directly under the province.
    ("410000", false),
    ("410100", false),
    ("410102", false),
    ("410103", false),
    ("410104", true),
    ("410105", false),
    ("410300", false),
    ("410302", false),
    ("410303", false),
    ("410305", true),
    ("419001", false),
    // 湖北: two prefectures, and 仙桃 directly under the province.
    ("420000", false),
    ("420100", false),
    ("420102", false),
    ("420103", false),
    ("420106", false),
    ("420500", false),
    ("420502", false),
    ("420503", true),
    ("429004", false),
    // 海南: 海口, and counties directly under the province.
    ("460000", false),
    ("460100", false),
    ("460105", false),
    ("460106", false),
    ("469001", false),
    ("469002", true),
    ("469005", false),
];

/// Longest the demo waits for the hierarchy to converge.
/// The revision the national bureau publishes during the demo, effective
/// 30 days before the demo's date.
pub const REVISED_POLICY: &str = "# 2026 revision: counties rotate every two years; general cadres need 100 hours.\n\
[rotation.county]\nmin_years = 2\nmax_years = 2\n\n[hours.general]\nhours = 100\n";

const CONVERGE_MAX: Duration = Duration::from_secs(90);

fn fail(e: impl std::fmt::Display) -> CliError {
    CliError::new(exit::FAILED, e.to_string())
}

/// One node of the demo.
struct DemoNode {
    org: OrgId,
    code: &'static str,
    offline: bool,
    node: Arc<Node>,
    files: PathBuf,
}

/// Runs the demo in `data`: refuses a dir that is not empty, so it never
/// touches real records. Serves the dashboard on `http` unless `exit_when_done`.
pub fn run(
    data: &Path,
    exit_when_done: bool,
    http: Option<String>,
    as_of: Option<String>,
    io: &mut Output<'_>,
) -> CliResult {
    let used = std::fs::read_dir(data).is_ok_and(|mut d| d.next().is_some());
    if used {
        return Err(CliError::new(
            exit::USAGE,
            format!(
                "{} is not empty: give the demo an empty --data dir",
                data.display()
            ),
        ));
    }
    let as_of = match as_of {
        Some(text) => lunxun_node::model::parse_date("--as-of", &text)
            .map_err(|e| CliError::new(exit::USAGE, e.0))?,
        None => node_cli::today(),
    };
    node_cli::block_on(run_async(data, exit_when_done, http, as_of, io))?
}

/// The dashboard account `demo` creates on the national node.
pub const DEMO_ACCOUNT: &str = "demo";

/// A fresh random password: 16 letters and digits (95 bits).
fn demo_password() -> Result<String, String> {
    use ring::rand::SecureRandom;
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut bytes = [0u8; 16];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| "no randomness for the demo's password".to_owned())?;
    // 256 is not a multiple of 56: the bias is under 2% per character and
    // leaves well over 80 bits.
    Ok(bytes
        .iter()
        .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
        .collect())
}

fn step(io: &mut Output<'_>, started: Instant, text: &str) -> Result<(), CliError> {
    writeln!(io.out, "[{:>5.1}s] {text}", started.elapsed().as_secs_f64())?;
    io.out.flush()?;
    Ok(())
}

async fn run_async(
    data: &Path,
    exit_when_done: bool,
    http: Option<String>,
    as_of: lunxun_node::model::Date,
    io: &mut Output<'_>,
) -> CliResult {
    let started = Instant::now();
    let orgs = OrgDirectory::builtin();
    let as_of_text = as_of.to_string();
    std::fs::create_dir_all(data).map_err(fail)?;

    // 1. Certificates: a national root; 河南 runs an intermediate CA.
    step(
        io,
        started,
        "issuing certificates: a national root CA, an intermediate CA for 河南, one certificate per node",
    )?;
    let pki = data.join("pki");
    let root = pki.join("root-ca");
    certs::init_ca(&root, "100000", None, None, &orgs).map_err(fail)?;
    let henan_ca = pki.join("410000-ca");
    certs::init_ca(&henan_ca, "410000", Some(&root), None, &orgs).map_err(fail)?;
    for &(code, _) in SLICE {
        let id = orgs
            .get(code)
            .ok_or_else(|| fail(format!("{code} is not in the directory")))?;
        let under_henan = orgs.is_within(id, orgs.get("410000").ok_or_else(|| fail("410000"))?);
        let ca = if under_henan { &henan_ca } else { &root };
        let hub = !orgs.children(id).is_empty();
        let hosts: Vec<String> = if hub {
            vec!["127.0.0.1".into()]
        } else {
            Vec::new()
        };
        certs::issue(ca, code, &hosts, &pki.join(code), None, &orgs).map_err(fail)?;
    }

    // 2. The sync services' listeners first, so children know where to dial.
    let mut listeners = BTreeMap::new();
    for &(code, _) in SLICE {
        let id = orgs.get(code).ok_or_else(|| fail(code))?;
        if SLICE
            .iter()
            .any(|(c, _)| orgs.get(c).and_then(|o| orgs.parent(o)) == Some(id))
        {
            let l = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .map_err(fail)?;
            listeners.insert(code, l);
        }
    }
    let addr_of = |code: &str| listeners.get(code).and_then(|l| l.local_addr().ok());

    // 3. Files and nodes: generate each office's files, init its node, import.
    step(
        io,
        started,
        &format!(
            "generating and importing rosters and training histories for {} offices",
            SLICE.len()
        ),
    )?;
    let params = GenParams {
        seed: 7,
        as_of,
        years: 4,
        county_workers: 90,
        bureau_staff: 10,
        organs_staff: 15,
        classes_per_year: 2,
        behind_share: 0.2,
        second_class_share: 0.3,
    };
    let mut nodes: Vec<DemoNode> = Vec::new();
    let opts = ImportOptions { progress: false };
    for (i, &(code, offline)) in SLICE.iter().enumerate() {
        let org = orgs.get(code).ok_or_else(|| fail(code))?;
        let files = data.join("files").join(code);
        let generated = lunxun_gen::generate_node(&params, &orgs, org);
        // Offices keep their lists in all the ways they do: CSV or Excel,
        // Chinese or English headers.
        let xlsx = i % 3 == 1;
        let chinese = i % 4 != 3;
        if xlsx {
            lunxun_gen::write_xlsx(&generated, &files, chinese).map_err(fail)?;
        } else {
            lunxun_gen::write_csv(&generated, &files, chinese).map_err(fail)?;
        }
        let parent = orgs.parent(org).map(|p| orgs.code(p).to_owned());
        let upstream = parent
            .as_deref()
            .and_then(addr_of)
            .map(|a: SocketAddr| format!("https://{a}"));
        let node = Arc::new(
            Node::init(
                &data.join("nodes").join(code),
                Config {
                    org: code.into(),
                    upstream,
                    tls_dir: Some(std::path::absolute(pki.join(code)).map_err(fail)?),
                    insecure: false,
                    ..Default::default()
                },
            )
            .map_err(fail)?,
        );
        let ext = if xlsx { "xlsx" } else { "csv" };
        let roster =
            import::read_roster(&files.join(format!("roster.{ext}")), &opts).map_err(fail)?;
        let trainings =
            import::read_trainings(&files.join(format!("trainings.{ext}")), &opts).map_err(fail)?;
        let mut records: Vec<Record> = roster
            .into_iter()
            .map(|r| Record::Roster(r.entry))
            .collect();
        records.extend(trainings.classes.into_iter().map(Record::Class));
        records.extend(trainings.attendance.into_iter().map(Record::Attendance));
        // The bureau's obligation events, as `import obligations` records them.
        records.extend(
            generated
                .obligations
                .iter()
                .cloned()
                .map(Record::Obligation),
        );
        node.write_records(records).map_err(fail)?;
        nodes.push(DemoNode {
            org,
            code,
            offline,
            node,
            files,
        });
    }
    let total: u64 = nodes.iter().map(|n| n.node.view().counts().changes).sum();
    step(
        io,
        started,
        &format!(
            "{total} changes written across {} offices; starting every node",
            nodes.len()
        ),
    )?;

    // 4. Run: every hub's mTLS sync service, every online node's worker.
    let (stop_tx, stop) = watch::channel(false);
    for n in &nodes {
        if let Some(listener) = listeners.remove(n.code) {
            let dir = n
                .node
                .config()
                .tls_dir
                .clone()
                .ok_or_else(|| fail("no tls dir"))?;
            let tls = crate::listener::server_config(&dir).map_err(fail)?;
            let service = SyncService::new(n.node.clone(), Identity::Certificate)
                .with_shutdown(stop.clone())
                .into_server();
            let (node, mut stop) = (n.node.clone(), stop.clone());
            tokio::spawn(async move {
                let incoming = crate::listener::incoming(listener, tls, node);
                let _ = Server::builder()
                    .add_service(service)
                    .serve_with_incoming_shutdown(incoming, async move {
                        let _ = stop.wait_for(|s| *s).await;
                    })
                    .await;
            });
        }
    }
    for n in nodes.iter().filter(|n| !n.offline) {
        tokio::spawn(worker::run(n.node.clone(), stop.clone()));
    }
    let national = nodes[0].node.clone();
    let online: Vec<&DemoNode> = nodes.iter().filter(|n| !n.offline).collect();
    let offline: Vec<&DemoNode> = nodes.iter().filter(|n| n.offline).collect();
    step(
        io,
        started,
        &format!(
            "syncing over mTLS; {} counties stay offline for now: {}",
            offline.len(),
            offline
                .iter()
                .map(|n| orgs.org(n.org).name.as_str())
                .collect::<Vec<_>>()
                .join("、")
        ),
    )?;
    wait_until_held(&national, &online, started, io).await?;
    let silent = national
        .coverage(national.me(), None, as_of)
        .nodes
        .iter()
        .filter(|n| !n.reporting)
        .count();
    step(
        io,
        started,
        &format!(
            "the national node holds every online office's records; {silent} nodes of the tree are silent"
        ),
    )?;

    // 5. The offline counties come online.
    for n in &offline {
        tokio::spawn(worker::run(n.node.clone(), stop.clone()));
    }
    step(io, started, "the offline counties come online")?;
    wait_until_held(&national, &nodes.iter().collect::<Vec<_>>(), started, io).await?;
    step(
        io,
        started,
        "the national node holds every office's records",
    )?;

    // 6. Check: the national coverage equals the rules applied to all the files.
    let mut oracle = View::default();
    for n in &nodes {
        let xlsx = n.files.join("roster.xlsx").exists();
        let ext = if xlsx { "xlsx" } else { "csv" };
        let roster =
            import::read_roster(&n.files.join(format!("roster.{ext}")), &opts).map_err(fail)?;
        let trainings = import::read_trainings(&n.files.join(format!("trainings.{ext}")), &opts)
            .map_err(fail)?;
        for r in roster {
            oracle.apply(n.org, Record::Roster(r.entry));
        }
        for c in trainings.classes {
            oracle.apply(n.org, Record::Class(c));
        }
        for a in trainings.attendance {
            oracle.apply(n.org, Record::Attendance(a));
        }
    }
    let want = coverage::coverage(
        &oracle,
        &orgs,
        &Policy::default(),
        national.me(),
        None,
        as_of,
    );
    let got = national.coverage(national.me(), None, as_of);
    let figures = |r: &coverage::CoverageReport| -> Vec<(
        String,
        coverage::RotationJson,
        coverage::HoursCounts,
        coverage::RotationJson,
    )> {
        r.nodes
            .iter()
            .map(|n| (n.org.clone(), n.rotation, n.hours, n.subtree.rotation))
            .collect()
    };
    if figures(&got) != figures(&want) {
        return Err(fail(
            "the national coverage differs from the rules applied to the offices' files",
        ));
    }
    step(
        io,
        started,
        "verified: the national coverage equals the rules applied to every office's files",
    )?;

    // 6b. The national bureau revises the policy; one round of sessions,
    // top down, puts it in force at every level.
    let effective = as_of - chrono::TimeDelta::days(30);
    let before = national.coverage(national.me(), Some(0), as_of).nodes[0].subtree;
    let number = national
        .publish(
            Body::Policy {
                toml: REVISED_POLICY.into(),
            },
            effective,
        )
        .map_err(fail)?;
    step(
        io,
        started,
        &format!(
            "the national bureau publishes bulletin {number}, a revised policy effective {effective}: \
             counties rotate every 2 years, general cadres need 100 hours"
        ),
    )?;
    let mut top_down: Vec<&DemoNode> = nodes.iter().skip(1).collect();
    top_down.sort_by_key(|n| orgs.ancestry(n.org).len());
    for n in &top_down {
        worker::sync_once(&n.node).await.map_err(fail)?;
    }
    if let Some(n) = nodes.iter().find(|n| n.node.bulletins_held() < number) {
        return Err(fail(format!("{} did not receive the bulletin", n.code)));
    }
    let revised = Policy::from_toml(REVISED_POLICY, "the revised policy").map_err(fail)?;
    for n in &nodes {
        // Every office computes its own figures with the revised policy…
        let own = n.node.coverage(n.org, Some(0), as_of);
        let want = coverage::coverage(&n.node.view(), &orgs, &revised, n.org, Some(0), as_of);
        if figures(&own) != figures(&want) {
            return Err(fail(format!(
                "{} does not follow the revised policy",
                n.code
            )));
        }
    }
    // …and the national figures equal the rules under it on every file.
    let want = coverage::coverage(&oracle, &orgs, &revised, national.me(), None, as_of);
    if figures(&national.coverage(national.me(), None, as_of)) != figures(&want) {
        return Err(fail(
            "the national coverage differs from the revised rules applied to the offices' files",
        ));
    }
    let after = national.coverage(national.me(), Some(0), as_of).nodes[0].subtree;
    let rate = |r: Option<f64>| r.map_or("-".to_owned(), |r| format!("{:.1}%", r * 100.0));
    step(
        io,
        started,
        &format!(
            "every office received it and computes with it; national rotation coverage {} → {}, \
             general cadres meeting the hour rule {} → {} of {}",
            rate(before.rotation.rate),
            rate(after.rotation.rate),
            before.hours.general.compliant,
            after.hours.general.compliant,
            after.hours.general.people,
        ),
    )?;

    // 7. The national coverage tree.
    writeln!(io.out)?;
    node_cli::run_on(
        &national,
        node_cli::Command::Coverage(node_cli::CoverageArgs {
            org: None,
            as_of: Some(as_of_text.clone()),
            depth: Some(2),
            format: node_cli::Format::Table,
            lang: lunxun_node::render::Lang::En,
            reporting_only: true,
            trend: false,
        }),
        io,
    )?;
    writeln!(
        io.out,
        "\nthe nodes' data dirs are under {}; try:\n  lunxun-hub --data {} report --as-of {as_of_text}\n  lunxun-hub --data {} coverage --org 410000 --depth 1 --as-of {as_of_text}",
        data.join("nodes").display(),
        data.join("nodes/100000").display(),
        data.join("nodes/100000").display(),
    )?;
    io.out.flush()?;

    // 8. An account for the dashboard: the national bureau's admin.
    let password = demo_password().map_err(fail)?;
    lunxun_node::accounts::add(
        &national,
        DEMO_ACCOUNT,
        lunxun_node::orgs::NATIONAL,
        lunxun_node::accounts::Role::Admin,
        &password,
    )
    .map_err(fail)?;
    writeln!(
        io.out,
        "\ndashboard account 看板账号: {DEMO_ACCOUNT}  password 密码: {password}\n(more with: lunxun-hub --data {} user add NAME --org CODE --password-stdin)",
        data.join("nodes/100000").display(),
    )?;
    io.out.flush()?;

    if !exit_when_done {
        let addr = http.unwrap_or_else(|| "127.0.0.1:8080".into());
        let (listener, bound) = crate::dashboard::bind(&national, &addr)
            .await
            .map_err(fail)?;
        let server = tokio::spawn(crate::dashboard::serve(
            listener,
            national.clone(),
            stop.clone(),
        ));
        writeln!(io.out)?;
        step(
            io,
            started,
            &format!(
                "serving the national dashboard on http://{bound}/{} (Ctrl-C to stop; the offices keep syncing)",
                if as_of == node_cli::today() {
                    String::new()
                } else {
                    format!("?as_of={as_of_text}")
                }
            ),
        )?;
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                .map_err(fail)?;
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = terminate.recv() => {}
        }
        step(io, started, "stopping")?;
        let _ = stop_tx.send(true);
        let _ = server.await;
    }
    let _ = stop_tx.send(true);
    tokio::time::sleep(Duration::from_millis(200)).await;
    for n in &nodes {
        n.node.store().flush().map_err(fail)?;
    }
    Ok(())
}

/// Waits until the national node holds each node's own log up to its head.
async fn wait_until_held(
    national: &Node,
    nodes: &[&DemoNode],
    started: Instant,
    io: &mut Output<'_>,
) -> CliResult {
    let deadline = Instant::now() + CONVERGE_MAX;
    let mut last = usize::MAX;
    loop {
        let pending: Vec<&str> = nodes
            .iter()
            .filter(|n| {
                let own = n.node.view().head(n.org).map_or(0, |h| h.seq);
                national.view().head(n.org).map_or(0, |h| h.seq) < own
            })
            .map(|n| n.code)
            .collect();
        if pending.is_empty() {
            return Ok(());
        }
        if pending.len() != last {
            step(
                io,
                started,
                &format!(
                    "  {} of {} offices' records reached the national node",
                    nodes.len() - pending.len(),
                    nodes.len()
                ),
            )?;
            last = pending.len();
        }
        if Instant::now() > deadline {
            return Err(fail(format!(
                "the hierarchy did not converge: still waiting for {}",
                pending.join(", ")
            )));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
