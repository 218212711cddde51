//! The command line: it parses (clap, [`args`]) and renders; what a command
//! does is the application layer's ([`crate::app`]). Commands write to the
//! given output rather than to stdout, so a running daemon can run them for a
//! client on the same data dir.
//!
//! - [`args`]: the arguments of every command.
//! - `setup`: init, certs, gen.
//! - `downward`: policy show, policy and orgs publish, bulletins.
//! - `records`: import (and `--replace`), delete, coverage, people.
//! - `reports`: person, lists, report, obligations (and their table export).
//! - `sync`: sync, restore, status.
//! - `accounts`: user, audit.
//! - `ledger`: imports, undo, history.
//! - `bundle`: bundle export and import (offline transport).

use std::path::Path;
use std::sync::Arc;

use clap::Parser;

use crate::app::App;
use crate::node::Node;
use crate::orgs::OrgId;

mod accounts;
pub mod args;
mod bundle;
mod downward;
mod ledger;
mod records;
mod reports;
mod setup;
mod sync;

pub use crate::command::{CliError, CliResult, EXIT_CODES_HELP, Output, exit};
pub use accounts::CLI_ACTOR;
pub use args::*;

/// Today in the default zone (`Asia/Shanghai`), for what has no node yet.
pub fn today() -> crate::model::Date {
    crate::clock::today_in(crate::clock::DEFAULT_TIME_ZONE)
}

/// `--as-of`, or today in the bureau's time zone.
fn parse_as_of(node: &Node, text: Option<&str>) -> Result<crate::model::Date, CliError> {
    match text {
        None => Ok(node.today()),
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
        Command::Init(args) => setup::init(data, args, io),
        Command::Certs(command) => setup::certs(command, io),
        Command::Gen(args) => setup::gen_files(args, io),
        Command::Policy(PolicyCommand::Show(_))
            if !data.join(crate::config::CONFIG_FILE).exists() =>
        {
            setup::default_policy(io)
        }
        command => {
            let app = App::open(data)?;
            let result = run_in(&app, command, io);
            // A command that had to replay much of the log leaves a snapshot,
            // so the next one opens at once.
            app.node()
                .snapshot_if_changed(crate::node::snapshot::SNAPSHOT_AFTER_CHANGES);
            result
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
pub fn run_in_daemon(app: &App, command: Command, cwd: &Path, io: &mut Output<'_>) -> CliResult {
    match command {
        Command::Restore(_) => Err(CliError::new(
            exit::USAGE,
            "restore needs the store to itself: stop `serve` on this data dir first",
        )),
        Command::Import(ImportCommand::Roster(mut args)) => {
            args.file = cwd.join(&args.file);
            run_in(app, Command::Import(ImportCommand::Roster(args)), io)
        }
        Command::Import(ImportCommand::Trainings(mut args)) => {
            args.file = cwd.join(&args.file);
            run_in(app, Command::Import(ImportCommand::Trainings(args)), io)
        }
        Command::Import(ImportCommand::Obligations(mut args)) => {
            args.file = cwd.join(&args.file);
            run_in(app, Command::Import(ImportCommand::Obligations(args)), io)
        }
        Command::Lists(mut args) => {
            args.out = args.out.map(|out| cwd.join(out));
            run_in(app, Command::Lists(args), io)
        }
        Command::Report(mut args) => {
            args.out = args.out.map(|out| cwd.join(out));
            run_in(app, Command::Report(args), io)
        }
        Command::Person(mut args) => {
            args.out = args.out.map(|out| cwd.join(out));
            run_in(app, Command::Person(args), io)
        }
        Command::Policy(PolicyCommand::Publish(mut args)) => {
            args.file = cwd.join(&args.file);
            run_in(app, Command::Policy(PolicyCommand::Publish(args)), io)
        }
        Command::Orgs(OrgsCommand::Publish(mut args)) => {
            args.file = cwd.join(&args.file);
            run_in(app, Command::Orgs(OrgsCommand::Publish(args)), io)
        }
        Command::Bundle(BundleCommand::Export(mut args)) => {
            args.out = cwd.join(&args.out);
            args.since = args.since.map(|s| cwd.join(s));
            run_in(app, Command::Bundle(BundleCommand::Export(args)), io)
        }
        Command::Bundle(BundleCommand::Import(mut args)) => {
            args.file = cwd.join(&args.file);
            run_in(app, Command::Bundle(BundleCommand::Import(args)), io)
        }
        command => run_in(app, command, io),
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
    // Everything this process creates (the store's files, exports, the admin
    // socket) is its owner's only: the records are people's files.
    // SAFETY: umask only swaps the process's file-mode mask; it cannot fail.
    unsafe {
        libc::umask(0o077);
    }
    crate::logging::init_with(if serving { "info" } else { "warn" });
    if forward && let Some(code) = crate::admin::forward(data, forwarded_args()) {
        std::process::exit(code);
    }
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut io = Output {
        out: &mut out,
        progress: std::io::stderr().is_terminal(),
        stdin: None,
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
    Arc::new(|app, args, cwd, io| {
        let cli = NodeCli::try_parse_from(std::iter::once("lunxun-node".to_owned()).chain(args))
            .map_err(|e| {
                CliError::new(
                    exit::USAGE,
                    e.to_string().lines().next().unwrap_or_default().to_owned(),
                )
            })?;
        match cli.command {
            NodeCommand::Common(command) => run_in_daemon(app, command, cwd, io),
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

/// Runs a command against an open node, with a new upstream worker (see
/// [`run_in`] to share one).
pub fn run_on(node: &Arc<Node>, command: Command, io: &mut Output<'_>) -> CliResult {
    run_in(&App::new(node.clone()), command, io)
}

/// Runs a command against an open node and its upstream worker.
pub fn run_in(app: &App, command: Command, io: &mut Output<'_>) -> CliResult {
    let node = app.node();
    match command {
        Command::Init(_) => Err(CliError::new(
            exit::USAGE,
            format!(
                "{} already holds node {}",
                node.dir().display(),
                node.code()
            ),
        )),
        Command::Import(ImportCommand::Roster(args)) => {
            records::import_file(node, crate::app::import::Kind::Roster, args, io)
        }
        Command::Import(ImportCommand::Trainings(args)) => {
            records::import_file(node, crate::app::import::Kind::Trainings, args, io)
        }
        Command::Import(ImportCommand::Obligations(args)) => {
            records::import_file(node, crate::app::import::Kind::Obligations, args, io)
        }
        Command::Obligations(args) => reports::obligations(node, args, io),
        Command::Coverage(args) => records::coverage(node, args, io),
        Command::People(args) => records::people(node, args, io),
        Command::Status(args) => sync::status(node, args, io),
        Command::Sync(_) => sync::sync_once(app, io),
        Command::Person(args) => reports::person(node, args, io),
        Command::Lists(args) => reports::lists(node, args, io),
        Command::Report(args) => reports::report(node, args, io),
        Command::Certs(command) => setup::certs(command, io),
        Command::Gen(args) => setup::gen_files(args, io),
        Command::Restore(_) => sync::restore(node, io),
        Command::Policy(PolicyCommand::Show(args)) => downward::policy(node, args, io),
        Command::Policy(PolicyCommand::Publish(args)) => downward::publish_policy(node, args, io),
        Command::Orgs(OrgsCommand::Publish(args)) => downward::publish_orgs(node, args, io),
        Command::Bulletins(args) => downward::bulletins(node, args, io),
        Command::User(command) => accounts::user(node, command, io),
        Command::Audit(args) => accounts::audit(node, args, io),
        Command::Delete(command) => records::delete(node, command, io),
        Command::Imports(args) => ledger::list(node, args, io),
        Command::Undo(args) => ledger::undo(node, args, io),
        Command::History(args) => ledger::history(node, args, io),
        Command::Bundle(BundleCommand::Export(args)) => bundle::export(node, args, io),
        Command::Bundle(BundleCommand::Import(args)) => bundle::import(node, args, io),
    }
}
