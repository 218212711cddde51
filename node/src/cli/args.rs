//! The command line's arguments (clap derive): every node command, its
//! flags and their help texts. The hub flattens [`Command`] into its own.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use super::EXIT_CODES_HELP;
use crate::render::Lang;
use crate::reports::ListKind;

/// The commands every node has.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a node for a bureau: its name, level and parent come from the org directory.
    Init(InitArgs),
    /// Import a roster, a training or an obligations file (CSV in UTF-8 or GB18030, or XLSX; English or Chinese headers).
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
    /// The periodic report (通报): every subordinate's coverage, ranked, with freshness and the year's obligations; a table, JSON, CSV, an Excel workbook, or a Word document to circulate (--format docx --out FILE).
    Report(ReportArgs),
    /// Bureau obligations (DOMAIN §5) per node of a subtree for a year: 专题研究, 座谈交流, 年度计划, 调训通报 met or not.
    Obligations(ObligationsArgs),
    /// The policy in force (cycles, hour thresholds, windows); at the national node, publish a revision to the whole tree.
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// The org directory: at the national node, publish changes (new, renamed, moved or retired codes) to the whole tree.
    #[command(subcommand)]
    Orgs(OrgsCommand),
    /// The bulletins this node holds (policy revisions, directory changes, revocations from the national bureau), and which are in force.
    Bulletins(BulletinsArgs),
    /// Offline transport: a signed file of this node's changes for its parent (export), taken at the parent (import, which writes an acknowledgement beside it), and that acknowledgement taken back at the child (import).
    #[command(subcommand)]
    Bundle(BundleCommand),
    /// Send this node's changes (and its subtree's) to the parent now.
    Sync(SyncArgs),
    /// Rebuild this node's records from its parent (after a lost disk or an old backup).
    Restore(RestoreArgs),
    /// Certificates for links between bureaus: a root or intermediate CA, node certificates.
    #[command(subcommand)]
    Certs(CertsCommand),
    /// Generate realistic rosters and training files (deterministic, seeded) for every node of a subtree.
    Gen(GenArgs),
    /// The dashboard's accounts: each sees one org's subtree, as a viewer or an admin.
    #[command(subcommand)]
    User(UserCommand),
    /// The audit log: logins, person lookups, exports and account changes, oldest first.
    Audit(AuditArgs),
    /// Delete one of this node's records (a class with its attendance, one attendance, a roster entry); the deletion flows up like any edit.
    #[command(subcommand)]
    Delete(DeleteCommand),
    /// This node's imports, deletions and undos: id, time, file and its hash, rows, changes.
    Imports(ImportsArgs),
    /// Revert one import (or deletion, or undo) by id: each record it touched goes back to its version before, unless a later change replaced it.
    Undo(UndoArgs),
    /// Every version of a person's or a class's records this node holds, when, and by which import.
    History(HistoryArgs),
}

#[derive(Debug, Args)]
pub struct ImportsArgs {
    #[arg(long, value_enum, default_value_t = StatusFormat::Table)]
    pub format: StatusFormat,
}

#[derive(Debug, Args)]
pub struct UndoArgs {
    /// The import's id (see `imports`).
    pub import_id: u64,
}

#[derive(Debug, Args)]
pub struct HistoryArgs {
    #[command(subcommand)]
    pub subject: HistorySubject,
    #[arg(long, value_enum, default_value_t = StatusFormat::Table, global = true)]
    pub format: StatusFormat,
}

#[derive(Debug, Subcommand)]
pub enum HistorySubject {
    /// One person: roster entries and attendance, at every origin this node holds.
    Person {
        /// The person's ID number (身份证号).
        id: String,
    },
    /// One class id: the class and its attendance, at every origin that used the id.
    Class { class_id: String },
}

#[derive(Debug, Subcommand)]
pub enum DeleteCommand {
    /// A class this node organized, and every attendance record of it.
    Class {
        /// The class id (班次编号).
        class_id: String,
    },
    /// One person's attendance of one of this node's classes.
    Attendance {
        class_id: String,
        /// The person's ID number (身份证号).
        person_id: String,
    },
    /// One entry of this node's roster (for a mistake: someone who left gets `until` instead).
    Roster {
        /// The person's ID number (身份证号).
        person_id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add an account; its password is read from stdin (one line), hashed with argon2id.
    Add(UserAddArgs),
    /// List the accounts (names, orgs, roles; never passwords).
    List,
    /// Remove an account; its sessions end at their next request.
    Remove(UserRemoveArgs),
}

#[derive(Debug, Args)]
pub struct UserAddArgs {
    /// The account name (letters, digits, '.', '_', '-'; at most 32).
    pub name: String,
    /// The org whose subtree the account sees (this node's or one below it).
    #[arg(long)]
    pub org: String,
    #[arg(long, value_enum, default_value_t = crate::accounts::Role::Viewer)]
    pub role: crate::accounts::Role,
    /// Read the password from stdin (required: never on the command line, where `ps` shows it).
    #[arg(long, required = true)]
    pub password_stdin: bool,
}

#[derive(Debug, Args)]
pub struct UserRemoveArgs {
    pub name: String,
}

#[derive(Debug, Args)]
pub struct AuditArgs {
    /// Entries from this day on (in the bureau's time zone), YYYY-MM-DD (default: all).
    #[arg(long)]
    pub since: Option<String>,
    #[arg(long, value_enum, default_value_t = StatusFormat::Table)]
    pub format: StatusFormat,
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
    #[arg(long, value_enum, default_value_t = PersonFormat::Table)]
    pub format: PersonFormat,
    /// With `--format xlsx`: the file for the training archive (培训档案).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// How `person` answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PersonFormat {
    Table,
    Json,
    /// The training archive (培训档案), year by year, as a workbook for the
    /// personnel office (needs --out; holds the full ID number).
    Xlsx,
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
    pub list: Vec<ListKind>,
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

/// How the 通报 is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    Table,
    Json,
    Csv,
    /// An Excel workbook (needs --out).
    Xlsx,
    /// A Word document to circulate (needs --out): title naming the period,
    /// a summary paragraph written from the figures, the ranking table and
    /// the year's obligations.
    Docx,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The report's date, YYYY-MM-DD (default: today).
    #[arg(long)]
    pub as_of: Option<String>,
    /// Whose subordinates (default: this node's).
    #[arg(long)]
    pub org: Option<String>,
    /// The previous period's date, YYYY-MM-DD, whose coverage each row is
    /// compared with (default: one quarter before `--as-of`; from a month's
    /// last day, the last day three months earlier).
    #[arg(long)]
    pub compare: Option<String>,
    #[arg(long, value_enum, default_value_t = ReportFormat::Table)]
    pub format: ReportFormat,
    /// Write to this file instead of stdout (required for xlsx and docx).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Language of CSV column names.
    #[arg(long, value_enum, default_value_t = Lang::Zh)]
    pub lang: Lang,
}

#[derive(Debug, Args)]
pub struct ObligationsArgs {
    /// Root of the subtree (default: this node).
    #[arg(long)]
    pub org: Option<String>,
    /// The calendar year (default: this year in the bureau's time zone).
    #[arg(long)]
    pub year: Option<i32>,
    /// Levels below the root to list (0: the root alone; default: all).
    #[arg(long)]
    pub depth: Option<u32>,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Language of CSV column names and values.
    #[arg(long, value_enum, default_value_t = Lang::En)]
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
    /// This bureau's obligation events, one per row: kind/事项 (study 专题研究, trainee_meeting 座谈交流, annual_plan 年度计划, callup_report 调训通报), date/日期 [, note/说明].
    Obligations(ImportArgs),
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The file (.csv or .xlsx).
    pub file: PathBuf,
    /// Only check the file and list every bad row; write nothing.
    #[arg(long)]
    pub check: bool,
    /// The file is the whole truth for what it names: a roster file for the whole roster
    /// (entries it leaves out are deleted), a training file for its classes (their
    /// attendance it leaves out is deleted), an obligations file for the calendar years
    /// its events fall in (this node's events of those years it leaves out are deleted).
    /// Without it an import only adds and updates.
    #[arg(long)]
    pub replace: bool,
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
    /// The root's trend instead: its figures at every month end of the plan
    /// period up to `--as-of` (and on that date), one row per date.
    #[arg(long, conflicts_with_all = ["depth", "reporting_only"])]
    pub trend: bool,
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
    /// Print the policy in force as TOML (copy it to policy.toml in the data dir to override), and the bulletin it comes from.
    Show(PolicyShowArgs),
    /// National node only: sign a bulletin with this policy, in force everywhere from --effective; every node receives it at its next session.
    Publish(PublishArgs),
}

#[derive(Debug, Args)]
pub struct PolicyShowArgs {
    /// The policy in force on this date, YYYY-MM-DD (default: today).
    #[arg(long)]
    pub as_of: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum OrgsCommand {
    /// National node only: sign a bulletin with these directory rows (CSV `code,name,level,parent`, optional `retired` date): new codes are added, known ones renamed, moved or retired.
    Publish(PublishArgs),
}

#[derive(Debug, Args)]
pub struct PublishArgs {
    /// The file: a policy TOML (as `policy show` prints it), or a directory CSV.
    pub file: PathBuf,
    /// The first day it is in force, YYYY-MM-DD: figures for earlier dates keep what was in force then.
    #[arg(long)]
    pub effective: String,
}

#[derive(Debug, Args)]
pub struct BulletinsArgs {
    #[arg(long, value_enum, default_value_t = StatusFormat::Table)]
    pub format: StatusFormat,
}

#[derive(Debug, Subcommand)]
pub enum BundleCommand {
    /// Write every change the parent lacks (above what it last acknowledged, by a session or a bundle) into one signed file.
    Export(BundleExportArgs),
    /// At the parent, take a child's bundle and write its acknowledgement beside it (FILE.ack, path printed); at the child, take that acknowledgement.
    Import(BundleImportArgs),
}

#[derive(Debug, Args)]
pub struct BundleExportArgs {
    /// The bundle file to write.
    #[arg(long)]
    pub out: PathBuf,
    /// Start above this vector instead (a JSON file: {"ORIGIN": SEQ, ...}).
    #[arg(long, conflicts_with = "all")]
    pub since: Option<PathBuf>,
    /// Everything this node may send, whatever the parent acknowledged.
    #[arg(long)]
    pub all: bool,
    #[arg(long, value_enum, default_value_t = StatusFormat::Table)]
    pub format: StatusFormat,
}

#[derive(Debug, Args)]
pub struct BundleImportArgs {
    /// A child's bundle, or the parent's acknowledgement.
    pub file: PathBuf,
    #[arg(long, value_enum, default_value_t = StatusFormat::Table)]
    pub format: StatusFormat,
}
