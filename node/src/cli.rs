//! The command line: argument definitions (clap) and the commands, which
//! write to the given output rather than to stdout, so a running daemon can
//! run them for a client on the same data dir.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::{Args, Parser, Subcommand, ValueEnum};
use serde::Serialize;

use crate::config::{Config, ORGS_FILE};
use crate::coverage::{self, format_timestamp};
use crate::error::Error;
use crate::import::{self, ImportError, ImportOptions};
use crate::model::{Date, Rank, Record};
use crate::node::Node;
use crate::orgs::OrgId;
use crate::render::{self, Column, Lang, col, num};
use crate::rules::RotationStatus;

pub use crate::command::{CliError, CliResult, EXIT_CODES_HELP, Output, exit};

/// The commands every node has.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a node for a bureau: its name, level and parent come from the org directory.
    Init(InitArgs),
    /// Import a roster or a training file (CSV in UTF-8 or GB18030, or XLSX; English or Chinese headers).
    #[command(subcommand)]
    Import(ImportCommand),
    /// Rotation and hour coverage of this node and its subtree.
    Coverage(CoverageArgs),
    /// People on a roster with their rotation status and hour compliance.
    People(PeopleArgs),
    /// Identity, counts and sync state of this node.
    Status(StatusArgs),
    /// One person: every roster entry and training this node can see, with statuses.
    Person(PersonArgs),
    /// Personnel lists for a year (DOMAIN §4): off-job trainings, over two months, failed, unjustified absences.
    Lists(ListsArgs),
    /// The periodic report (通报): every subordinate's coverage, ranked, with freshness.
    Report(ReportArgs),
    /// The policy in force (cycles, hour thresholds, windows).
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Send this node's changes (and its subtree's) to the parent now.
    Sync(SyncArgs),
    /// Rebuild this node's records from its parent (after a lost disk or an old backup).
    Restore(RestoreArgs),
    /// Certificates for links between bureaus: a root or intermediate CA, node certificates.
    #[command(subcommand)]
    Certs(CertsCommand),
    /// Generate realistic rosters and training files (deterministic, seeded) for every node of a subtree.
    Gen(GenArgs),
}

#[derive(Debug, Args)]
pub struct GenArgs {
    /// Root of the subtree to generate for (e.g. 410000 for 河南 and everything below it).
    #[arg(long, default_value = crate::orgs::NATIONAL)]
    pub org: String,
    /// Levels below the root (0: the root alone; default: all).
    #[arg(long)]
    pub depth: Option<u32>,
    /// Directory to write DIR/<org code>/roster.csv and trainings.csv into.
    #[arg(long)]
    pub out: PathBuf,
    /// Same seed, same files.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// The data's "today": classes end on or before it, YYYY-MM-DD.
    #[arg(long, default_value = "2026-06-30")]
    pub as_of: String,
    /// Years of history before --as-of.
    #[arg(long, default_value_t = 4)]
    pub years: u32,
    /// Township and village/community workers on each county's roster.
    #[arg(long, default_value_t = 120)]
    pub county_workers: u32,
    /// Staff of each bureau (on its parent's roster).
    #[arg(long, default_value_t = 12)]
    pub bureau_staff: u32,
    /// Organs' petition staff on each prefecture, province and national roster.
    #[arg(long, default_value_t = 20)]
    pub organs_staff: u32,
    /// Centralized classes each node organizes per year.
    #[arg(long, default_value_t = 2)]
    pub classes_per_year: u32,
    /// Share of nodes far behind on training (0..1).
    #[arg(long, default_value_t = 0.15)]
    pub behind_share: f64,
    /// Chance (times an office's diligence) of a second centralized class a year (0..1).
    #[arg(long, default_value_t = 0.0)]
    pub second_class_share: f64,
    /// File format.
    #[arg(long, value_enum, default_value_t = GenFormat::Csv)]
    pub format: GenFormat,
    /// Header and value language.
    #[arg(long, value_enum, default_value_t = Lang::Zh)]
    pub lang: Lang,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GenFormat {
    Csv,
    Xlsx,
}

#[derive(Debug, Subcommand)]
pub enum CertsCommand {
    /// A new CA: the national root (ca.pem, ca.key), or with --ca an intermediate CA for a subtree.
    InitCa(InitCaArgs),
    /// A node certificate for an org (URI SAN lunxun://org/CODE), written as a ready --tls-dir.
    Issue(IssueArgs),
    /// Org, serial, validity and hosts of a certificate (a PEM file, or a tls or CA dir).
    Show(ShowArgs),
}

#[derive(Debug, Args)]
pub struct InitCaArgs {
    /// Directory to create the CA in (ca.pem, ca.key, root.pem, chain.pem).
    #[arg(long)]
    pub out: PathBuf,
    /// The org this CA serves: the national bureau for the root; a province for an intermediate.
    #[arg(long, default_value = crate::orgs::NATIONAL)]
    pub org: String,
    /// Make an intermediate CA signed by the CA in this directory (its org must be an ancestor of --org).
    #[arg(long)]
    pub ca: Option<PathBuf>,
    /// Validity in days (root 3650, intermediate 1825 by default).
    #[arg(long)]
    pub days: Option<u32>,
    /// Org-directory extension (units without a region code).
    #[arg(long)]
    pub orgs: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct IssueArgs {
    /// The issuing CA's directory.
    #[arg(long)]
    pub ca: PathBuf,
    /// The node's org code (must lie in the CA's subtree).
    #[arg(long)]
    pub org: String,
    /// A DNS name or IP address the node serves on (hubs), repeatable.
    #[arg(long = "host")]
    pub hosts: Vec<String>,
    /// Directory to write ca.pem, node.pem and node.key (mode 0600) into.
    #[arg(long)]
    pub out: PathBuf,
    /// Validity in days (397 by default).
    #[arg(long)]
    pub days: Option<u32>,
    /// Org-directory extension (units without a region code).
    #[arg(long)]
    pub orgs: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// A PEM file, or a directory holding node.pem or ca.pem.
    pub path: PathBuf,
}

#[derive(Debug, Args)]
pub struct PersonArgs {
    /// The person's ID number (身份证号).
    pub id: String,
    /// The date to evaluate on, YYYY-MM-DD (default: today).
    #[arg(long)]
    pub as_of: Option<String>,
    /// Show the full ID number.
    #[arg(long)]
    pub show_ids: bool,
    #[arg(long, value_enum, default_value_t = StatusFormat::Table)]
    pub format: StatusFormat,
}

/// Where a table goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TableFormat {
    Table,
    Json,
    Csv,
    /// An Excel workbook (needs --out).
    Xlsx,
}

#[derive(Debug, Args)]
pub struct ListsArgs {
    /// The calendar year (a training belongs to the year its class ends in).
    #[arg(long)]
    pub year: i32,
    /// Only people on rosters in this org's subtree (default: this node's).
    #[arg(long)]
    pub org: Option<String>,
    /// Which lists (repeat or comma-separate; default: all four).
    #[arg(long, value_enum, value_delimiter = ',')]
    pub list: Vec<crate::reports::ListKind>,
    /// Show full ID numbers.
    #[arg(long)]
    pub show_ids: bool,
    #[arg(long, value_enum, default_value_t = TableFormat::Table)]
    pub format: TableFormat,
    /// Write to this file instead of stdout (required for xlsx).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Language of CSV column names.
    #[arg(long, value_enum, default_value_t = Lang::Zh)]
    pub lang: Lang,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The report's date, YYYY-MM-DD (default: today).
    #[arg(long)]
    pub as_of: Option<String>,
    /// Whose subordinates (default: this node's).
    #[arg(long)]
    pub org: Option<String>,
    #[arg(long, value_enum, default_value_t = TableFormat::Table)]
    pub format: TableFormat,
    /// Write to this file instead of stdout (required for xlsx).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Language of CSV column names.
    #[arg(long, value_enum, default_value_t = Lang::Zh)]
    pub lang: Lang,
}

#[derive(Debug, Args)]
pub struct SyncArgs {
    /// One session with the parent; exit 0 only when the parent acked everything.
    #[arg(long, required = true)]
    pub once: bool,
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// Fetch every change of this node's subtree that the parent holds.
    #[arg(long, required = true)]
    pub from_upstream: bool,
}

/// `serve`: the long-running daemon.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Accept plaintext links (tests, closed networks): logged as a warning.
    #[arg(long)]
    pub insecure: bool,
}

/// lunxun-node: one petition bureau's cadre-training records (轮训).
#[derive(Debug, Parser)]
#[command(name = "lunxun-node", version, after_help = EXIT_CODES_HELP)]
pub struct NodeCli {
    /// The node's data dir (config, store, policy overrides).
    #[arg(
        long,
        global = true,
        env = "LUNXUN_DATA",
        default_value = "./lunxun-data"
    )]
    pub data: PathBuf,
    #[command(subcommand)]
    pub command: NodeCommand,
}

/// `lunxun-node`'s commands: the common ones, and `serve`.
#[derive(Debug, Subcommand)]
pub enum NodeCommand {
    #[command(flatten)]
    Common(Command),
    /// Run the node: sync with the parent on change and periodically; other commands on this data dir go through it.
    Serve(ServeArgs),
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// This bureau's org code (e.g. 410102 for 中原区; 100000 is the national bureau).
    #[arg(long)]
    pub org: String,
    /// The parent's sync endpoint: https://host:port, or http://host:port with --insecure.
    #[arg(long)]
    pub upstream: Option<String>,
    /// Directory holding ca.pem, node.pem and node.key for mTLS.
    #[arg(long, conflicts_with = "insecure")]
    pub tls_dir: Option<PathBuf>,
    /// Plaintext links (tests, closed networks): logs a warning at every start.
    #[arg(long)]
    pub insecure: bool,
    /// Org-directory extension (code,name,level,parent) for units without a region code.
    #[arg(long)]
    pub orgs: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum ImportCommand {
    /// A roster: person_id/身份证号, name/姓名, rank/职级, since/列入日期 [, employer/工作单位, position/职务, group/培训对象类别, until/移出日期].
    Roster(ImportArgs),
    /// Trainings, one row per person per class: class_id/培训班编号, title/培训班名称, mode/培训方式, start/开始日期, end/结束日期, hours/学时, person_id/身份证号, result/结果 [, off_job/脱产, days/天数, name/姓名, category/类别].
    Trainings(ImportArgs),
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The file (.csv or .xlsx).
    pub file: PathBuf,
    /// Only check the file and list every bad row; write nothing.
    #[arg(long)]
    pub check: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Aligned columns for people.
    Table,
    /// JSON, as the external contract documents.
    Json,
    /// CSV for spreadsheets.
    Csv,
}

#[derive(Debug, Args)]
pub struct CoverageArgs {
    /// Root of the subtree (default: this node).
    #[arg(long)]
    pub org: Option<String>,
    /// The date to evaluate on, YYYY-MM-DD (default: today).
    #[arg(long)]
    pub as_of: Option<String>,
    /// Levels below the root to list (0: the root alone; default: all).
    #[arg(long)]
    pub depth: Option<u32>,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Language of CSV column names.
    #[arg(long, value_enum, default_value_t = Lang::En)]
    pub lang: Lang,
    /// In tables, list only nodes that report or have a roster.
    #[arg(long)]
    pub reporting_only: bool,
}

#[derive(Debug, Args)]
pub struct PeopleArgs {
    /// Whose roster (default: this node's).
    #[arg(long)]
    pub org: Option<String>,
    /// The date to evaluate on, YYYY-MM-DD (default: today).
    #[arg(long)]
    pub as_of: Option<String>,
    /// Only these rotation statuses (repeat or comma-separate).
    #[arg(long, value_enum, value_delimiter = ',')]
    pub status: Vec<StatusFilter>,
    /// Only these rank bands (repeat or comma-separate).
    #[arg(long, value_enum, value_delimiter = ',')]
    pub rank: Vec<RankFilter>,
    /// Only people who do not meet an hour rule that applies to them.
    #[arg(long)]
    pub non_compliant: bool,
    /// Show full ID numbers (masked by default: 410102********1234).
    #[arg(long)]
    pub show_ids: bool,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Language of CSV column names.
    #[arg(long, value_enum, default_value_t = Lang::En)]
    pub lang: Lang,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StatusFilter {
    Current,
    Due,
    New,
    Overdue,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RankFilter {
    Leading,
    General,
    Grassroots,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[arg(long, value_enum, default_value_t = StatusFormat::Table)]
    pub format: StatusFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StatusFormat {
    Table,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Print the policy in force as TOML (copy it to policy.toml in the data dir to override).
    Show,
}

/// Today, in the machine's time zone (bureaus work in China Standard Time).
pub fn today() -> Date {
    chrono::Local::now().date_naive()
}

fn parse_as_of(text: Option<&str>) -> Result<Date, CliError> {
    match text {
        None => Ok(today()),
        Some(t) => {
            crate::model::parse_date("--as-of", t).map_err(|e| CliError::new(exit::USAGE, e.0))
        }
    }
}

fn resolve_org(node: &Node, code: Option<&str>) -> Result<OrgId, CliError> {
    match code {
        None => Ok(node.me()),
        Some(c) => node.orgs().get(c).ok_or_else(|| {
            CliError::new(
                exit::REFUSED,
                format!("org {c} is not in the org directory"),
            )
        }),
    }
}

/// Runs a command that needs no open node, or opens the node in `data` and
/// runs it.
pub fn run(data: &Path, command: Command, io: &mut Output<'_>) -> CliResult {
    match command {
        Command::Init(args) => init(data, args, io),
        Command::Certs(command) => certs(command, io),
        Command::Gen(args) => gen_files(args, io),
        Command::Policy(PolicyCommand::Show) if !data.join(crate::config::CONFIG_FILE).exists() => {
            write!(io.out, "{}", crate::policy::Policy::default().to_toml())?;
            Ok(())
        }
        command => {
            let node = Arc::new(Node::open(data)?);
            run_on(&node, command, io)
        }
    }
}

/// Runs a future to completion from synchronous code: on the current
/// runtime when called from one of its blocking threads (the daemon), else on
/// a new one.
pub fn block_on<F: std::future::Future>(future: F) -> Result<F::Output, CliError> {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) => Ok(handle.block_on(future)),
        Err(_) => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .map_err(|e| CliError::new(exit::FAILED, format!("runtime: {e}")))?;
            Ok(runtime.block_on(future))
        }
    }
}

/// Runs a command that a client sent to the daemon: paths resolve against
/// the client's working directory; commands that need the store to
/// themselves are refused.
pub fn run_in_daemon(
    node: &Arc<Node>,
    command: Command,
    cwd: &Path,
    io: &mut Output<'_>,
) -> CliResult {
    match command {
        Command::Restore(_) => Err(CliError::new(
            exit::USAGE,
            "restore needs the store to itself: stop `serve` on this data dir first",
        )),
        Command::Import(ImportCommand::Roster(mut args)) => {
            args.file = cwd.join(&args.file);
            run_on(node, Command::Import(ImportCommand::Roster(args)), io)
        }
        Command::Import(ImportCommand::Trainings(mut args)) => {
            args.file = cwd.join(&args.file);
            run_on(node, Command::Import(ImportCommand::Trainings(args)), io)
        }
        command => run_on(node, command, io),
    }
}

/// What both binaries do around a command: set up logging (`info` while
/// serving, `warn` otherwise, `RUST_LOG` overrides), hand the command to the
/// daemon serving `data` when `forward` ([`goes_through_daemon`]) and one
/// runs, else `run` it on stdout; on failure, say why and exit with its code.
pub fn main_with(
    data: &Path,
    serving: bool,
    forward: bool,
    run: impl FnOnce(&mut Output) -> Result<(), CliError>,
) {
    use std::io::IsTerminal;
    crate::logging::init_with(if serving { "info" } else { "warn" });
    if forward && let Some(code) = crate::admin::forward(data, forwarded_args()) {
        std::process::exit(code);
    }
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut io = Output {
        out: &mut out,
        progress: std::io::stderr().is_terminal(),
    };
    if let Err(e) = run(&mut io) {
        if !e.message.is_empty() {
            eprintln!("error: {}", e.message);
        }
        std::process::exit(e.code);
    }
}

/// This process's arguments without `--data DIR` (the daemon has its own).
pub fn forwarded_args() -> Vec<String> {
    let mut out = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a == "--data" {
            args.next();
        } else if !a.starts_with("--data=") {
            out.push(a);
        }
    }
    out
}

/// Whether a command should go through a daemon serving its data dir.
pub fn goes_through_daemon(command: &Command) -> bool {
    !matches!(
        command,
        Command::Init(_) | Command::Certs(_) | Command::Gen(_)
    )
}

/// The daemon's runner for `lunxun-node`: parses as the binary does.
pub fn node_runner() -> crate::admin::Runner {
    Arc::new(|node, args, cwd, io| {
        let cli = NodeCli::try_parse_from(std::iter::once("lunxun-node".to_owned()).chain(args))
            .map_err(|e| {
                CliError::new(
                    exit::USAGE,
                    e.to_string().lines().next().unwrap_or_default().to_owned(),
                )
            })?;
        match cli.command {
            NodeCommand::Common(command) => run_in_daemon(node, command, cwd, io),
            NodeCommand::Serve(_) => {
                Err(CliError::new(exit::USAGE, "already serving this data dir"))
            }
        }
    })
}

/// `serve` for `lunxun-node`: the admin endpoint and the upstream worker.
pub fn serve(
    data: &Path,
    args: ServeArgs,
    runner: crate::admin::Runner,
    io: &mut Output<'_>,
) -> CliResult {
    block_on(async {
        let node = Arc::new(Node::open(data)?);
        warn_if_insecure(&node, args.insecure);
        let mut daemon = crate::daemon::Daemon::new(node.clone());
        daemon.start_node_tasks(runner);
        writeln!(
            io.out,
            "serving {} ({}); upstream {}; Ctrl-C to stop",
            node.orgs().org(node.me()),
            node.dir().display(),
            node.config().upstream.as_deref().unwrap_or("none")
        )?;
        io.out.flush()?;
        daemon
            .run()
            .await
            .map_err(|e| CliError::new(exit::FAILED, e))
    })?
}

/// Logs the warning plaintext links deserve.
pub fn warn_if_insecure(node: &Node, flag: bool) {
    if flag || node.config().insecure {
        tracing::warn!(org = %node.code(), "INSECURE: plaintext links without certificates (--insecure); never use this between real bureaus");
    }
}

/// Runs a command against an open node.
pub fn run_on(node: &Arc<Node>, command: Command, io: &mut Output<'_>) -> CliResult {
    match command {
        Command::Init(_) => Err(CliError::new(
            exit::USAGE,
            format!(
                "{} already holds node {}",
                node.dir().display(),
                node.code()
            ),
        )),
        Command::Import(ImportCommand::Roster(args)) => import_file(node, Kind::Roster, args, io),
        Command::Import(ImportCommand::Trainings(args)) => {
            import_file(node, Kind::Trainings, args, io)
        }
        Command::Coverage(args) => coverage_cmd(node, args, io),
        Command::People(args) => people(node, args, io),
        Command::Status(args) => status(node, args, io),
        Command::Sync(_) => sync_once(node, io),
        Command::Person(args) => person(node, args, io),
        Command::Lists(args) => lists(node, args, io),
        Command::Report(args) => report(node, args, io),
        Command::Certs(command) => certs(command, io),
        Command::Gen(args) => gen_files(args, io),
        Command::Restore(_) => restore(node, io),
        Command::Policy(PolicyCommand::Show) => {
            let source = node.dir().join(crate::config::POLICY_FILE);
            if source.exists() {
                writeln!(
                    io.out,
                    "# in force: defaults overridden by {}",
                    source.display()
                )?;
            } else {
                writeln!(
                    io.out,
                    "# in force: the defaults (no {} in the data dir)",
                    crate::config::POLICY_FILE
                )?;
            }
            write!(io.out, "{}", node.policy().to_toml())?;
            Ok(())
        }
    }
}

fn gen_files(args: GenArgs, io: &mut Output<'_>) -> CliResult {
    use lunxun_gen::GenParams;
    let orgs = crate::orgs::OrgDirectory::builtin();
    let root = orgs.get(&args.org).ok_or_else(|| {
        CliError::new(
            exit::REFUSED,
            format!("org {} is not in the org directory", args.org),
        )
    })?;
    let as_of = crate::model::parse_date("--as-of", &args.as_of)
        .map_err(|e| CliError::new(exit::USAGE, e.0))?;
    if !(0.0..=1.0).contains(&args.behind_share) {
        return Err(CliError::new(
            exit::USAGE,
            "--behind-share must be within 0..1",
        ));
    }
    if args.years == 0 || args.years > 40 {
        return Err(CliError::new(exit::USAGE, "--years must be within 1..=40"));
    }
    let params = GenParams {
        seed: args.seed,
        as_of,
        years: args.years,
        county_workers: args.county_workers,
        bureau_staff: args.bureau_staff,
        organs_staff: args.organs_staff,
        classes_per_year: args.classes_per_year,
        behind_share: args.behind_share,
        second_class_share: args.second_class_share.clamp(0.0, 1.0),
    };
    let nodes = orgs.subtree(root, args.depth);
    let bar = io.progress.then(|| {
        let b = indicatif::ProgressBar::new(nodes.len() as u64);
        b.set_style(
            indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} nodes {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        b
    });
    let chinese = args.lang == Lang::Zh;
    let (mut people, mut rows) = (0usize, 0usize);
    for (org, _) in &nodes {
        let data = lunxun_gen::generate_node(&params, &orgs, *org);
        people += data.roster.len();
        rows += data.attendance.len();
        let dir = args.out.join(orgs.code(*org));
        match args.format {
            GenFormat::Csv => lunxun_gen::write_csv(&data, &dir, chinese)
                .map_err(|e| CliError::new(exit::FAILED, format!("{}: {e}", dir.display())))?,
            GenFormat::Xlsx => lunxun_gen::write_xlsx(&data, &dir, chinese)
                .map_err(|e| CliError::new(exit::FAILED, format!("{}: {e}", dir.display())))?,
        }
        if let Some(b) = &bar {
            b.inc(1);
        }
    }
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    writeln!(
        io.out,
        "generated {} nodes under {} (seed {}): {people} roster rows, {rows} training rows in {}",
        nodes.len(),
        orgs.org(root),
        args.seed,
        args.out.display()
    )?;
    Ok(())
}

fn directory(extension: Option<&Path>) -> Result<crate::orgs::OrgDirectory, CliError> {
    match extension {
        None => Ok(crate::orgs::OrgDirectory::builtin()),
        Some(p) => {
            crate::config::load_orgs(p).map_err(|e| CliError::new(exit::REFUSED, e.to_string()))
        }
    }
}

fn certs(command: CertsCommand, io: &mut Output<'_>) -> CliResult {
    use crate::certs::{self, CertError};
    let refused = |e: CertError| match e {
        CertError::Refused(_) | CertError::Invalid { .. } => {
            CliError::new(exit::REFUSED, e.to_string())
        }
        _ => CliError::new(exit::FAILED, e.to_string()),
    };
    match command {
        CertsCommand::InitCa(a) => {
            let orgs = directory(a.orgs.as_deref())?;
            let made =
                certs::init_ca(&a.out, &a.org, a.ca.as_deref(), a.days, &orgs).map_err(refused)?;
            let kind = if a.ca.is_some() {
                "intermediate CA"
            } else {
                "root CA"
            };
            writeln!(
                io.out,
                "{kind} for {} in {}: serial {}, valid until {}",
                made.org,
                a.out.display(),
                made.serial,
                made.not_after
            )?;
            writeln!(
                io.out,
                "keep {} secret: it can vouch for every node below {}",
                a.out.join(certs::CA_KEY_FILE).display(),
                made.org
            )?;
        }
        CertsCommand::Issue(a) => {
            let orgs = directory(a.orgs.as_deref())?;
            let made =
                certs::issue(&a.ca, &a.org, &a.hosts, &a.out, a.days, &orgs).map_err(refused)?;
            writeln!(
                io.out,
                "certificate for {} in {} (use it as --tls-dir): serial {}, valid until {}",
                made.org,
                a.out.display(),
                made.serial,
                made.not_after
            )?;
        }
        CertsCommand::Show(a) => {
            let file = if a.path.is_dir() {
                let node = a.path.join(crate::tls::CERT_FILE);
                if node.exists() {
                    node
                } else {
                    a.path.join(crate::tls::CA_FILE)
                }
            } else {
                a.path.clone()
            };
            let text = std::fs::read_to_string(&file)
                .map_err(|e| CliError::new(exit::REFUSED, format!("{}: {e}", file.display())))?;
            let ders = certs::pem_certificates(&text);
            if ders.is_empty() {
                return Err(CliError::new(
                    exit::REFUSED,
                    format!("{}: no certificate in it", file.display()),
                ));
            }
            for der in ders {
                let Some(i) = certs::info(&der) else {
                    return Err(CliError::new(
                        exit::REFUSED,
                        format!("{}: a certificate does not parse", file.display()),
                    ));
                };
                writeln!(
                    io.out,
                    "{}{}\n  org {}  serial {}\n  valid {} .. {}{}",
                    if i.is_ca { "CA " } else { "" },
                    i.subject,
                    if i.orgs.is_empty() {
                        "-".into()
                    } else {
                        i.orgs.join(",")
                    },
                    i.serial,
                    i.not_before,
                    i.not_after,
                    if i.hosts.is_empty() {
                        String::new()
                    } else {
                        format!("\n  hosts {}", i.hosts.join(", "))
                    }
                )?;
            }
        }
    }
    Ok(())
}

fn person(node: &Node, args: PersonArgs, io: &mut Output<'_>) -> CliResult {
    let as_of = parse_as_of(args.as_of.as_deref())?;
    let id: crate::model::PersonId = args
        .id
        .parse()
        .map_err(|e: crate::model::Invalid| CliError::new(exit::USAGE, e.0))?;
    let found = {
        let view = node.view();
        crate::reports::person(&view, node.orgs(), node.policy(), id, as_of, args.show_ids)
    };
    let Some(p) = found else {
        return Err(CliError::new(
            exit::REFUSED,
            format!(
                "{} is on no roster and in no training this node holds",
                id.masked()
            ),
        ));
    };
    if args.format == StatusFormat::Json {
        render::json(io.out, &p)?;
        return Ok(());
    }
    writeln!(
        io.out,
        "{} {} ({}{}) on {}",
        p.person_id,
        p.name.as_deref().unwrap_or("?"),
        p.gender,
        p.birth_date
            .map(|d| format!(", born {d}"))
            .unwrap_or_default(),
        p.as_of
    )?;
    let rows: Vec<Vec<String>> = p
        .entries
        .iter()
        .map(|e| {
            vec![
                format!("{} {}", e.org, e.org_name),
                e.rank.zh().to_owned(),
                e.since.to_string(),
                e.until.map(|u| u.to_string()).unwrap_or_default(),
                e.last_trained
                    .map(|d| d.to_string())
                    .unwrap_or_else(|| "-".into()),
                e.rotation
                    .map_or_else(|| "不在册".to_owned(), |r| r.zh().to_owned()),
                match e.hours.map(|h| (h.centralized, h.online)) {
                    Some((Some(c), _)) => format!(
                        "{}h/{}d{}",
                        c.hours,
                        c.days,
                        if c.met { " 达标" } else { "" }
                    ),
                    _ => "-".into(),
                },
                match e.hours.and_then(|h| h.online) {
                    Some(o) => format!("{}h{}", o.hours, if o.met { " 达标" } else { "" }),
                    None => "-".into(),
                },
            ]
        })
        .collect();
    writeln!(io.out, "\n名单 rosters")?;
    render::table(
        io.out,
        &[
            col("roster", "名单"),
            col("rank", "职级"),
            col("since", "列入日期"),
            col("until", "移出日期"),
            col("last_trained", "最近轮训"),
            col("rotation", "轮训状态"),
            col("centralized", "集中培训"),
            col("online", "网络学时"),
        ],
        &rows,
    )?;
    let rows: Vec<Vec<String>> = p
        .trainings
        .iter()
        .map(|t| {
            vec![
                t.organizer_name.clone(),
                t.title
                    .clone()
                    .unwrap_or_else(|| format!("({})", t.class_id)),
                t.mode.map(|m| m.zh()).unwrap_or("-").to_owned(),
                t.start.map(|d| d.to_string()).unwrap_or_default(),
                t.end.map(|d| d.to_string()).unwrap_or_default(),
                t.days.map(|d| d.to_string()).unwrap_or_default(),
                t.hours.to_string(),
                t.result.zh().to_owned(),
            ]
        })
        .collect();
    writeln!(io.out, "\n培训 trainings")?;
    render::table(
        io.out,
        &[
            col("organizer", "主办单位"),
            col("title", "培训班"),
            col("mode", "方式"),
            col("start", "开始"),
            col("end", "结束"),
            num("days", "天数"),
            num("hours", "学时"),
            col("result", "结果"),
        ],
        &rows,
    )?;
    Ok(())
}

/// Where and how a table goes: `--format`, `--out`, `--lang`.
struct Destination<'a> {
    format: TableFormat,
    out: Option<&'a Path>,
    lang: Lang,
}

/// Writes a table in the chosen format, to stdout or `--out`.
fn emit_table(
    io: &mut Output<'_>,
    to: Destination<'_>,
    title: &str,
    columns: &[Column],
    rows: Vec<Vec<String>>,
    json: impl FnOnce() -> serde_json::Value,
) -> CliResult {
    let Destination { format, out, lang } = to;
    let failed = |e: crate::reports::ExportError| CliError::new(exit::FAILED, e.to_string());
    match (format, out) {
        (TableFormat::Xlsx, None) => {
            return Err(CliError::new(exit::USAGE, "--format xlsx needs --out FILE"));
        }
        (TableFormat::Xlsx, Some(path)) => {
            crate::reports::write_xlsx(path, "lunxun", title, columns, &rows).map_err(failed)?;
        }
        (TableFormat::Csv, Some(path)) => {
            crate::reports::write_csv(path, None, columns, &rows, lang).map_err(failed)?;
        }
        (TableFormat::Csv, None) => render::csv(io.out, columns, &rows, lang)?,
        (TableFormat::Json, _) => render::json(io.out, &json())?,
        (TableFormat::Table, _) => {
            writeln!(io.out, "{title}")?;
            render::table(io.out, columns, &rows)?;
        }
    }
    if let (Some(path), TableFormat::Xlsx | TableFormat::Csv) = (out, format) {
        writeln!(
            io.out,
            "{title}: {} rows written to {}",
            rows.len(),
            path.display()
        )?;
    }
    Ok(())
}

fn lists(node: &Node, args: ListsArgs, io: &mut Output<'_>) -> CliResult {
    let root = resolve_org(node, args.org.as_deref())?;
    let kinds = if args.list.is_empty() {
        crate::reports::ListKind::ALL.to_vec()
    } else {
        args.list.clone()
    };
    let rows = {
        let view = node.view();
        crate::reports::personnel_lists(
            &view,
            node.orgs(),
            node.policy(),
            root,
            args.year,
            &kinds,
            args.show_ids,
        )
    };
    let zh = args.format != TableFormat::Csv || args.lang == Lang::Zh;
    let title = format!(
        "{} {}年 干部教育培训人事名单 personnel lists ({} rows)",
        node.orgs().org(root),
        args.year,
        rows.len()
    );
    let table = crate::reports::list_table(&rows, zh);
    emit_table(
        io,
        Destination {
            format: args.format,
            out: args.out.as_deref(),
            lang: args.lang,
        },
        &title,
        &crate::reports::LIST_COLUMNS,
        table,
        || serde_json::json!({ "org": node.orgs().code(root), "year": args.year, "rows": rows }),
    )
}

fn report(node: &Node, args: ReportArgs, io: &mut Output<'_>) -> CliResult {
    let as_of = parse_as_of(args.as_of.as_deref())?;
    let root = resolve_org(node, args.org.as_deref())?;
    let coverage = node.coverage(root, Some(1), as_of);
    let report = crate::reports::tongbao(&coverage)
        .ok_or_else(|| CliError::new(exit::FAILED, "nothing to report"))?;
    let title = format!(
        "{} 干部轮训覆盖情况通报 coverage report, {}",
        report.name, report.as_of
    );
    let table = crate::reports::report_table(&report);
    emit_table(
        io,
        Destination {
            format: args.format,
            out: args.out.as_deref(),
            lang: args.lang,
        },
        &title,
        &crate::reports::REPORT_COLUMNS,
        table,
        || serde_json::to_value(&report).unwrap_or_default(),
    )
}

fn sync_once(node: &Arc<Node>, io: &mut Output<'_>) -> CliResult {
    use crate::sync::client::SyncError;
    let result = block_on(async {
        // A backlog beyond one session's budget continues in further sessions.
        let (mut batches, mut sent, mut applied, mut skipped) = (0, 0, 0, 0);
        loop {
            let o = crate::sync::worker::sync_once(node).await?;
            (batches, sent, applied, skipped) = (
                batches + o.batches,
                sent + o.sent,
                applied + o.applied,
                skipped + o.skipped,
            );
            if !(o.truncated && o.held.is_empty()) {
                return Ok(crate::sync::session::Outcome {
                    batches,
                    sent,
                    applied,
                    skipped,
                    ..o
                });
            }
        }
    })?;
    if let Some(e) = node.conflict_error() {
        // Our own log disagrees with the parent's copy (the session still
        // forwarded every other origin).
        return Err(CliError::new(exit::FAILED, e.to_string()));
    }
    match result {
        Ok(o) if o.complete() => {
            writeln!(
                io.out,
                "synced with {}: {} changes sent in {} batches ({} applied, {} already held); the parent holds everything",
                node.config().upstream.as_deref().unwrap_or("?"),
                o.sent,
                o.batches,
                o.applied,
                o.skipped
            )?;
            Ok(())
        }
        Ok(o) => {
            writeln!(
                io.out,
                "sent {} changes ({} applied, {} already held)",
                o.sent, o.applied, o.skipped
            )?;
            for (origin, seq, reason) in &o.held {
                writeln!(
                    io.out,
                    "held back by the parent: {origin} from seq {seq}: {reason}"
                )?;
            }
            Err(CliError::new(
                exit::INCOMPLETE,
                format!(
                    "sync incomplete: {}",
                    crate::sync::worker::incomplete_reason(&o)
                ),
            ))
        }
        Err(e @ SyncError::NoUpstream) => Err(CliError::new(exit::USAGE, e.to_string())),
        Err(e) => Err(CliError::new(exit::INCOMPLETE, e.to_string())),
    }
}

fn restore(node: &Arc<Node>, io: &mut Output<'_>) -> CliResult {
    let result = block_on(async {
        let (url, client) = crate::sync::client::connect(node).await?;
        crate::sync::client::restore(node.clone(), &url, client).await
    })?;
    let r = result.map_err(|e| CliError::new(exit::FAILED, e.to_string()))?;
    writeln!(
        io.out,
        "restored from {}: {} changes received in {} batches, {} new, {} already held",
        node.config().upstream.as_deref().unwrap_or("?"),
        r.received,
        r.batches,
        r.applied,
        r.skipped
    )?;
    if r.discarded > 0 {
        writeln!(
            io.out,
            "dropped {} local changes that the parent's copy does not have (written on an old copy of the data): import again what was imported since",
            r.discarded
        )?;
    }
    if let Some(conflict) = node.conflict() {
        return Err(CliError::new(
            exit::FAILED,
            format!(
                "the parent's copy did not resolve this node's own log ({conflict:?}): writes stay refused"
            ),
        ));
    }
    writeln!(
        io.out,
        "own log at seq {}; writes allowed",
        node.view().head(node.me()).map_or(0, |h| h.seq)
    )?;
    Ok(())
}

fn init(data: &Path, args: InitArgs, io: &mut Output<'_>) -> CliResult {
    if let Some(orgs) = &args.orgs {
        std::fs::create_dir_all(data)
            .map_err(|e| CliError::new(exit::FAILED, format!("{}: {e}", data.display())))?;
        // Check it before copying, so a bad file leaves the dir untouched.
        let mut dir = crate::orgs::OrgDirectory::builtin();
        let text = std::fs::read_to_string(orgs)
            .map_err(|e| CliError::new(exit::REFUSED, format!("{}: {e}", orgs.display())))?;
        dir.add_csv(&orgs.display().to_string(), &text)
            .map_err(|e| CliError::new(exit::REFUSED, e.to_string()))?;
        std::fs::write(data.join(ORGS_FILE), text)
            .map_err(|e| CliError::new(exit::FAILED, format!("{}: {e}", data.display())))?;
    }
    let config = Config {
        org: args.org,
        upstream: args.upstream,
        tls_dir: args.tls_dir.map(|p| std::path::absolute(&p).unwrap_or(p)),
        insecure: args.insecure,
        revoked: Default::default(),
    };
    if config.insecure {
        tracing::warn!("--insecure: links to the parent will be plaintext");
    }
    let node = Node::init(data, config)?;
    let org = node.orgs().org(node.me());
    let parent = org
        .parent
        .map(|p| node.orgs().org(p).to_string())
        .unwrap_or_else(|| "none".into());
    writeln!(
        io.out,
        "initialized {} ({}) in {}; parent in the directory: {}",
        org,
        org.level,
        data.display(),
        parent
    )?;
    match &node.config().upstream {
        Some(u) => writeln!(io.out, "upstream: {u}")?,
        None => writeln!(io.out, "no upstream: records stay on this machine")?,
    }
    Ok(())
}

#[derive(Clone, Copy)]
enum Kind {
    Roster,
    Trainings,
}

fn import_file(node: &Node, kind: Kind, args: ImportArgs, io: &mut Output<'_>) -> CliResult {
    let opts = ImportOptions {
        progress: io.progress,
    };
    let file = args.file.display().to_string();
    let read = match kind {
        Kind::Roster => import::read_roster(&args.file, &opts).map(|rows| {
            let n = rows.len();
            (
                n,
                rows.into_iter()
                    .map(|r| Record::Roster(r.entry))
                    .collect::<Vec<_>>(),
            )
        }),
        Kind::Trainings => import::read_trainings(&args.file, &opts).map(|t| {
            let n = t.attendance.len();
            let mut records: Vec<Record> = t.classes.into_iter().map(Record::Class).collect();
            records.extend(t.attendance.into_iter().map(Record::Attendance));
            (n, records)
        }),
    };
    let (rows, records) = match read {
        Ok(r) => r,
        Err(ImportError::Rows {
            file,
            problems,
            bad_rows,
        }) if args.check => {
            for p in &problems {
                writeln!(io.out, "{}", p.render(&file))?;
            }
            if bad_rows > problems.len() {
                writeln!(io.out, "... and {} more", bad_rows - problems.len())?;
            }
            return Err(CliError::new(
                exit::REFUSED,
                format!("{file}: {bad_rows} bad rows; nothing written"),
            ));
        }
        Err(e) => return Err(Error::Import(e).into()),
    };
    if args.check {
        writeln!(
            io.out,
            "{file}: {rows} rows, all valid ({} records)",
            records.len()
        )?;
        return Ok(());
    }
    let spinner = (io.progress && records.len() >= import::PROGRESS_ROWS_MIN).then(|| {
        let s = indicatif::ProgressBar::new_spinner();
        s.set_message(format!("writing {} records", records.len()));
        s.enable_steady_tick(std::time::Duration::from_millis(120));
        s
    });
    let summary = node.write_records(records);
    if let Some(s) = spinner {
        s.finish_and_clear();
    }
    let summary = summary?;
    writeln!(
        io.out,
        "{file}: {rows} rows; {} changes written, {} records unchanged (log at seq {})",
        summary.written, summary.unchanged, summary.seq
    )?;
    Ok(())
}

const COVERAGE_COLUMNS: [Column; 14] = [
    col("org", "机构代码"),
    col("name", "名称"),
    col("level", "层级"),
    num("roster", "名单人数"),
    num("current", "周期内"),
    num("due", "应安排"),
    num("new", "新列入"),
    num("overdue", "逾期"),
    num("rotation_rate", "轮训覆盖率"),
    num("leading_ok", "县处级达标"),
    num("general_ok", "乡科级达标"),
    num("online_ok", "网络学时达标"),
    num("subtree_rate", "下辖覆盖率"),
    col("freshness", "数据时间"),
];

fn coverage_cmd(node: &Node, args: CoverageArgs, io: &mut Output<'_>) -> CliResult {
    let as_of = parse_as_of(args.as_of.as_deref())?;
    let root = resolve_org(node, args.org.as_deref())?;
    let report = node.coverage(root, args.depth, as_of);
    match args.format {
        Format::Json => render::json(io.out, &report)?,
        Format::Table | Format::Csv => {
            let ratio = |c: &coverage::RuleCount| format!("{}/{}", c.compliant, c.people);
            let rows: Vec<Vec<String>> = report
                .nodes
                .iter()
                .filter(|n| {
                    !(args.reporting_only && args.format == Format::Table)
                        || n.depth == 0
                        || n.reporting
                        || n.subtree.rotation.roster > 0
                })
                .map(|n| {
                    let indent = if args.format == Format::Table {
                        "  ".repeat(n.depth as usize)
                    } else {
                        String::new()
                    };
                    vec![
                        n.org.clone(),
                        format!("{indent}{}", n.name),
                        n.level.to_owned(),
                        n.rotation.roster.to_string(),
                        n.rotation.current.to_string(),
                        n.rotation.due.to_string(),
                        n.rotation.new.to_string(),
                        n.rotation.overdue.to_string(),
                        render::percent(n.rotation.rate),
                        ratio(&n.hours.leading),
                        ratio(&n.hours.general),
                        ratio(&n.hours.online),
                        render::percent(n.subtree.rotation.rate),
                        n.freshness.clone().unwrap_or_else(|| {
                            if args.format == Format::Table {
                                "未报送 silent".into()
                            } else {
                                String::new()
                            }
                        }),
                    ]
                })
                .collect();
            if args.format == Format::Table {
                writeln!(io.out, "coverage on {} (覆盖情况)", report.as_of)?;
                render::table(io.out, &COVERAGE_COLUMNS, &rows)?;
            } else {
                render::csv(io.out, &COVERAGE_COLUMNS, &rows, args.lang)?;
            }
        }
    }
    Ok(())
}

/// One row of `people --format json`.
#[derive(Debug, Serialize)]
struct PersonJson {
    person_id: String,
    name: String,
    rank: Rank,
    since: Date,
    until: Option<Date>,
    employer: String,
    position: String,
    group: String,
    last_trained: Option<Date>,
    rotation: RotationStatus,
    hours: crate::rules::HoursStatus,
    compliant: Option<bool>,
}

const PEOPLE_COLUMNS: [Column; 10] = [
    col("person_id", "身份证号"),
    col("name", "姓名"),
    col("rank", "职级"),
    col("since", "列入日期"),
    col("last_trained", "最近轮训"),
    col("rotation", "轮训状态"),
    col("centralized", "集中培训"),
    col("online", "网络学时"),
    col("compliant", "学时达标"),
    col("employer", "工作单位"),
];

fn people(node: &Node, args: PeopleArgs, io: &mut Output<'_>) -> CliResult {
    let as_of = parse_as_of(args.as_of.as_deref())?;
    let org = resolve_org(node, args.org.as_deref())?;
    let view = node.view();
    let statuses = coverage::roster_statuses(&view, node.orgs(), node.policy(), org, as_of);
    let wanted = |s: &coverage::PersonStatus<'_>| {
        let status_ok = args.status.is_empty()
            || args.status.iter().any(|f| {
                matches!(
                    (f, s.rotation),
                    (StatusFilter::Current, RotationStatus::Current)
                        | (StatusFilter::Due, RotationStatus::Due)
                        | (StatusFilter::New, RotationStatus::New)
                        | (StatusFilter::Overdue, RotationStatus::Overdue)
                )
            });
        let rank_ok = args.rank.is_empty()
            || args.rank.iter().any(|f| {
                matches!(
                    (f, s.entry.rank),
                    (RankFilter::Leading, Rank::Leading)
                        | (RankFilter::General, Rank::General)
                        | (RankFilter::Grassroots, Rank::Grassroots)
                )
            });
        status_ok && rank_ok && (!args.non_compliant || compliant(&s.hours) == Some(false))
    };
    let selected: Vec<&coverage::PersonStatus<'_>> =
        statuses.iter().filter(|s| wanted(s)).collect();
    let id = |s: &coverage::PersonStatus<'_>| {
        if args.show_ids {
            s.entry.person.to_string()
        } else {
            s.entry.person.masked()
        }
    };
    match args.format {
        Format::Json => {
            let rows: Vec<PersonJson> = selected
                .iter()
                .map(|s| PersonJson {
                    person_id: id(s),
                    name: s.entry.name.clone(),
                    rank: s.entry.rank,
                    since: s.entry.since,
                    until: s.entry.until,
                    employer: s.entry.employer.clone(),
                    position: s.entry.position.clone(),
                    group: s.entry.group.clone(),
                    last_trained: s.last_trained,
                    rotation: s.rotation,
                    hours: s.hours,
                    compliant: compliant(&s.hours),
                })
                .collect();
            #[derive(Serialize)]
            struct PeopleJson<'a> {
                org: &'a str,
                as_of: Date,
                people: Vec<PersonJson>,
            }
            render::json(
                io.out,
                &PeopleJson {
                    org: node.orgs().code(org),
                    as_of,
                    people: rows,
                },
            )?;
        }
        Format::Table | Format::Csv => {
            let zh = args.format == Format::Table || args.lang == Lang::Zh;
            let rows: Vec<Vec<String>> = selected
                .iter()
                .map(|s| {
                    let tally = |t: Option<crate::rules::Tally>, days: bool| match t {
                        None => "-".to_owned(),
                        Some(t) if days => format!("{}h/{}d", t.hours, t.days),
                        Some(t) => format!("{}h", t.hours),
                    };
                    vec![
                        id(s),
                        s.entry.name.clone(),
                        if zh {
                            s.entry.rank.zh()
                        } else {
                            s.entry.rank.as_str()
                        }
                        .to_owned(),
                        s.entry.since.to_string(),
                        s.last_trained
                            .map(|d| d.to_string())
                            .unwrap_or_else(|| "-".into()),
                        if zh {
                            s.rotation.zh()
                        } else {
                            s.rotation.as_str()
                        }
                        .to_owned(),
                        tally(s.hours.centralized, true),
                        tally(s.hours.online, false),
                        match compliant(&s.hours) {
                            None => "-".into(),
                            Some(true) => if zh { "达标" } else { "yes" }.into(),
                            Some(false) => if zh { "未达标" } else { "no" }.into(),
                        },
                        s.entry.employer.clone(),
                    ]
                })
                .collect();
            if args.format == Format::Table {
                writeln!(
                    io.out,
                    "{} on {}: {} of {} active roster entries",
                    node.orgs().org(org),
                    as_of,
                    rows.len(),
                    statuses.len()
                )?;
                render::table(io.out, &PEOPLE_COLUMNS, &rows)?;
            } else {
                render::csv(io.out, &PEOPLE_COLUMNS, &rows, args.lang)?;
            }
        }
    }
    Ok(())
}

/// Whether the hour rules that apply are all met (None: none apply).
fn compliant(h: &crate::rules::HoursStatus) -> Option<bool> {
    match (h.centralized, h.online) {
        (None, None) => None,
        (c, o) => Some(c.is_none_or(|t| t.met) && o.is_none_or(|t| t.met)),
    }
}

/// `status --format json`.
#[derive(Debug, Serialize)]
pub struct StatusJson {
    pub org: String,
    pub name: String,
    pub level: &'static str,
    pub parent: Option<String>,
    pub data_dir: String,
    pub store_bytes: u64,
    pub incarnation: String,
    pub own_seq: u64,
    pub last_write: Option<String>,
    pub writable: bool,
    pub counts: crate::view::ViewCounts,
    pub unknown_origin_changes: u64,
    pub upstream: Option<UpstreamJson>,
    pub children: Vec<ChildJson>,
    /// Origins whose changes this node holds back (quarantine, gap, fork).
    pub held: Vec<HeldJson>,
    /// Peers refused before they were known as one of our children, by reason.
    pub refused_peers: std::collections::BTreeMap<String, u64>,
}

#[derive(Debug, Serialize)]
pub struct UpstreamJson {
    pub url: String,
    pub last_attempt: Option<String>,
    pub last_success: Option<String>,
    pub last_error: Option<String>,
    pub failures: u32,
    /// Changes not acked by the parent as of the last session.
    pub pending: u64,
    /// Age of the oldest of them, in seconds.
    pub lag_seconds: Option<i64>,
    pub parent_incarnation: Option<String>,
    pub held_by_parent: Vec<HeldJson>,
}

#[derive(Debug, Serialize)]
pub struct ChildJson {
    pub org: String,
    pub name: String,
    pub last_session: Option<String>,
    pub last_success: Option<String>,
    pub last_error: Option<String>,
    pub pending: Option<u64>,
    /// Seconds since the child's last complete session.
    pub lag_seconds: Option<i64>,
    pub applied: u64,
    pub skipped: u64,
    pub refused: u64,
    /// Refusals by reason.
    pub refusals: std::collections::BTreeMap<String, u64>,
}

#[derive(Debug, Serialize)]
pub struct HeldJson {
    pub origin: String,
    pub seq: u64,
    pub reason: String,
}

fn ts(ms: Option<i64>) -> Option<String> {
    ms.map(format_timestamp)
}

/// The node's `status`.
pub fn status_json(node: &Node) -> StatusJson {
    let now = crate::node::now_ms();
    let org = node.orgs().org(node.me());
    let (own, counts) = {
        let view = node.view();
        (view.head(node.me()).copied(), view.counts())
    };
    let upstream = node.config().upstream.as_ref().map(|url| {
        let state = crate::sync::worker::UpstreamState::load(node);
        let (pending, lag) = state.pending(node);
        UpstreamJson {
            url: url.clone(),
            last_attempt: ts(state.last_attempt),
            last_success: ts(state.last_success),
            last_error: state.last_error.clone(),
            failures: state.failures,
            pending,
            lag_seconds: lag.map(|ms| ms / 1000),
            parent_incarnation: state.parent_incarnation.clone(),
            held_by_parent: state
                .held
                .iter()
                .map(|(origin, seq, reason)| HeldJson {
                    origin: origin.clone(),
                    seq: *seq,
                    reason: reason.clone(),
                })
                .collect(),
        }
    });
    let children = node
        .orgs()
        .children(node.me())
        .iter()
        .filter_map(|&c| {
            let code = node.orgs().code(c);
            let state = crate::sync::children::ChildState::load(node, code);
            // Children that never connected are listed only at hubs that hear from any.
            state.last_session?;
            Some(ChildJson {
                org: code.to_owned(),
                name: node.orgs().org(c).name.clone(),
                last_session: ts(state.last_session),
                last_success: ts(state.last_success),
                last_error: state.last_error.clone(),
                pending: state.pending,
                lag_seconds: state.last_success.map(|t| (now - t).max(0) / 1000),
                applied: state.applied,
                skipped: state.skipped,
                refused: state.refused,
                refusals: state.refusals.clone(),
            })
        })
        .collect();
    let held = node
        .holds()
        .unwrap_or_default()
        .into_iter()
        .map(|(origin, seq, reason)| HeldJson {
            origin,
            seq,
            reason,
        })
        .collect();
    StatusJson {
        org: org.code.clone(),
        name: org.name.clone(),
        level: org.level.as_str(),
        parent: org.parent.map(|p| node.orgs().code(p).to_owned()),
        data_dir: node.dir().display().to_string(),
        store_bytes: node.store().size_on_disk(),
        incarnation: node
            .incarnation()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect(),
        own_seq: own.map_or(0, |h| h.seq),
        last_write: own.map(|h| format_timestamp(h.received_at_ms)),
        writable: node.writable(),
        counts,
        unknown_origin_changes: node.unknown_origin_changes(),
        upstream,
        children,
        held,
        refused_peers: crate::sync::children::unidentified_refusals(node),
    }
}

fn status(node: &Node, args: StatusArgs, io: &mut Output<'_>) -> CliResult {
    let s = status_json(node);
    if args.format == StatusFormat::Json {
        render::json(io.out, &s)?;
        return Ok(());
    }
    let out = &mut io.out;
    writeln!(
        out,
        "node       {} {} ({}), parent {}",
        s.org,
        s.name,
        s.level,
        s.parent.as_deref().unwrap_or("none")
    )?;
    writeln!(
        out,
        "data       {} ({:.1} MiB on disk)",
        s.data_dir,
        s.store_bytes as f64 / (1024.0 * 1024.0)
    )?;
    writeln!(
        out,
        "own log    seq {}, last write {}{}",
        s.own_seq,
        s.last_write.as_deref().unwrap_or("never"),
        if s.writable {
            ""
        } else {
            "; WRITES REFUSED: lost tail, run `restore --from-upstream`"
        }
    )?;
    writeln!(
        out,
        "held       {} changes from {} origins",
        s.counts.changes, s.counts.origins
    )?;
    writeln!(
        out,
        "records    {} roster entries, {} people, {} classes, {} attendance records",
        s.counts.roster_entries, s.counts.people, s.counts.classes, s.counts.attendance
    )?;
    if s.unknown_origin_changes > 0 {
        writeln!(
            out,
            "warning    {} changes of origins not in the org directory are held but not shown",
            s.unknown_origin_changes
        )?;
    }
    match &s.upstream {
        None => writeln!(out, "upstream   none configured")?,
        Some(u) => {
            writeln!(out, "upstream   {}", u.url)?;
            writeln!(
                out,
                "           last success {}, last attempt {}, pending {} changes{}",
                u.last_success.as_deref().unwrap_or("never"),
                u.last_attempt.as_deref().unwrap_or("never"),
                u.pending,
                u.lag_seconds
                    .map(|l| format!(" (oldest {l}s old)"))
                    .unwrap_or_default()
            )?;
            if let Some(e) = &u.last_error {
                writeln!(out, "           last error ({} in a row): {e}", u.failures)?;
            }
            for h in &u.held_by_parent {
                writeln!(
                    out,
                    "           held back by the parent: {} from seq {}: {}",
                    h.origin, h.seq, h.reason
                )?;
            }
        }
    }
    if !s.children.is_empty() {
        let rows: Vec<Vec<String>> = s
            .children
            .iter()
            .map(|c| {
                vec![
                    c.org.clone(),
                    c.name.clone(),
                    c.last_success.clone().unwrap_or_else(|| "never".into()),
                    c.lag_seconds
                        .map(|l| l.to_string())
                        .unwrap_or_else(|| "-".into()),
                    c.pending
                        .map(|p| p.to_string())
                        .unwrap_or_else(|| "-".into()),
                    c.applied.to_string(),
                    c.refused.to_string(),
                    c.last_error.clone().unwrap_or_default(),
                ]
            })
            .collect();
        writeln!(out, "children")?;
        render::table(
            *out,
            &[
                col("org", "机构代码"),
                col("name", "名称"),
                col("last_success", "最近同步"),
                num("lag_s", "滞后秒"),
                num("pending", "待传"),
                num("received", "已收"),
                num("refused", "拒收"),
                col("last_error", "最近错误"),
            ],
            &rows,
        )?;
    }
    for h in &s.held {
        writeln!(
            out,
            "HELD       {} from seq {}: {}",
            h.origin, h.seq, h.reason
        )?;
    }
    Ok(())
}
