//! `demo`: the newcomer's first command. Builds a realistic county node under
//! the data dir from the deterministic generator, imports its files through
//! the same path as `import`, and prints its coverage and its people who are
//! overdue.

use std::path::Path;

use lunxun_node::cli::{self as node_cli, CliError, CliResult, Output, exit};
use lunxun_node::config::Config;
use lunxun_node::generate::{self, GenParams};
use lunxun_node::import::{self, ImportOptions};
use lunxun_node::model::Record;
use lunxun_node::node::Node;
use lunxun_node::orgs::OrgDirectory;

/// The county the demo builds: 中原区, Zhengzhou.
const DEMO_COUNTY: &str = "410102";

/// Runs the demo in `data`: refuses a dir that is not empty, so it never
/// touches real records.
pub fn run(data: &Path, io: &mut Output<'_>) -> CliResult {
    let fail = |e: &dyn std::fmt::Display| CliError::new(exit::FAILED, e.to_string());
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
    let orgs = OrgDirectory::builtin();
    let county = orgs
        .get(DEMO_COUNTY)
        .ok_or_else(|| fail(&"the demo county is not in the org directory"))?;
    let params = GenParams::default();
    let files = data.join("files").join(DEMO_COUNTY);
    let node_dir = data.join("nodes").join(DEMO_COUNTY);
    writeln!(
        io.out,
        "generating rosters and training histories for {} ...",
        orgs.org(county)
    )?;
    let generated = generate::generate_node(&params, &orgs, county);
    generate::write_csv(&generated, &files, true).map_err(|e| fail(&e))?;
    let node = std::sync::Arc::new(Node::init(
        &node_dir,
        Config {
            org: DEMO_COUNTY.into(),
            upstream: None,
            tls_dir: None,
            insecure: false,
            revoked: Default::default(),
        },
    )?);
    let opts = ImportOptions {
        progress: io.progress,
    };
    let roster = import::read_roster(&files.join("roster.csv"), &opts).map_err(|e| fail(&e))?;
    let trainings =
        import::read_trainings(&files.join("trainings.csv"), &opts).map_err(|e| fail(&e))?;
    let mut records: Vec<Record> = roster
        .into_iter()
        .map(|r| Record::Roster(r.entry))
        .collect();
    records.extend(trainings.classes.into_iter().map(Record::Class));
    records.extend(trainings.attendance.into_iter().map(Record::Attendance));
    let summary = node.write_records(records)?;
    writeln!(
        io.out,
        "imported {} and {} into {}: {} changes\n",
        files.join("roster.csv").display(),
        files.join("trainings.csv").display(),
        node_dir.display(),
        summary.written
    )?;
    let as_of = params.as_of.to_string();
    node_cli::run_on(
        &node,
        node_cli::Command::Coverage(node_cli::CoverageArgs {
            org: None,
            as_of: Some(as_of.clone()),
            depth: None,
            format: node_cli::Format::Table,
            lang: lunxun_node::render::Lang::En,
            reporting_only: false,
        }),
        io,
    )?;
    writeln!(io.out)?;
    node_cli::run_on(
        &node,
        node_cli::Command::People(node_cli::PeopleArgs {
            org: None,
            as_of: Some(as_of),
            status: vec![node_cli::StatusFilter::Overdue],
            rank: vec![node_cli::RankFilter::General],
            non_compliant: false,
            show_ids: false,
            format: node_cli::Format::Table,
            lang: lunxun_node::render::Lang::En,
        }),
        io,
    )?;
    writeln!(
        io.out,
        "\ntry: lunxun-hub --data {} people --status overdue",
        node_dir.display()
    )?;
    Ok(())
}
