//! The hub's command line: every node command, plus the hub's own.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::{Parser, Subcommand};
use lunxun_node::cli::{self as node_cli, CliError, CliResult, EXIT_CODES_HELP, Output, exit};
use lunxun_node::daemon::Daemon;
use lunxun_node::node::Node;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;

use crate::identity::Identity;
use crate::service::SyncService;

/// The file `serve --listen` writes the bound address to (port 0 picks one).
pub const LISTEN_ADDR_FILE: &str = "listen.addr";

/// lunxun-hub: a petition bureau with subordinates — its own records, plus its subtree's.
#[derive(Debug, Parser)]
#[command(name = "lunxun-hub", version, after_help = EXIT_CODES_HELP)]
pub struct Cli {
    /// The node's data dir (config, store, policy overrides).
    #[arg(
        long,
        global = true,
        env = "LUNXUN_DATA",
        default_value = "./lunxun-data"
    )]
    pub data: PathBuf,
    #[command(subcommand)]
    pub command: Command,
}

/// The node's commands and the hub's own.
#[derive(Debug, Subcommand)]
pub enum Command {
    #[command(flatten)]
    Node(node_cli::Command),
    /// Run the hub: accept subordinates' syncs on --listen, serve the dashboard on --http, sync upward; other commands on this data dir go through it.
    Serve(ServeArgs),
    /// The newcomer's first command: a realistic slice of the hierarchy (about 30 offices) with its own certificates, synced over mTLS, verified, then the dashboard.
    Demo(DemoArgs),
    /// Cut off a certificate (by serial) or an org from syncing here; takes effect at the next session, without restart.
    Revoke(RevokeArgs),
}

#[derive(Debug, clap::Args)]
#[group(required = true, multiple = true)]
pub struct RevokeArgs {
    /// A certificate serial number, hex (as `certs issue` and `certs show` print it).
    #[arg(long)]
    pub serial: Vec<String>,
    /// An org code: every certificate for it is refused.
    #[arg(long)]
    pub org: Vec<String>,
    /// Lift these revocations instead.
    #[arg(long)]
    pub remove: bool,
    /// National node only: publish these revocations as a signed bulletin that every node of the tree enforces from its next session (instead of this node's config alone).
    #[arg(long, conflicts_with = "remove")]
    pub publish: bool,
    /// With --publish: the first day the revocation is in force, YYYY-MM-DD (default: today).
    #[arg(long, requires = "publish")]
    pub effective: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address to accept children's syncs on (e.g. 0.0.0.0:7443; port 0 picks one, written to listen.addr).
    #[arg(long)]
    pub listen: Option<String>,
    /// Serve the dashboard and the HTTP API here (e.g. 127.0.0.1:8080; port 0 picks one, written to http.addr). No login: keep it on 127.0.0.1 or behind an authenticated proxy.
    #[arg(long)]
    pub http: Option<String>,
    /// Plaintext, identities taken from what children claim (tests, closed networks): logged as a warning.
    #[arg(long)]
    pub insecure: bool,
}

#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Exit when done instead of serving the dashboard.
    #[arg(long)]
    pub exit: bool,
    /// Where to serve the dashboard (default 127.0.0.1:8080).
    #[arg(long)]
    pub http: Option<String>,
    /// The demo's "today": histories end there and coverage is evaluated on it, YYYY-MM-DD (default: today).
    #[arg(long)]
    pub as_of: Option<String>,
}

/// Runs a hub command.
pub fn run(cli: Cli, io: &mut Output<'_>) -> CliResult {
    match cli.command {
        Command::Node(command) => node_cli::run(&cli.data, command, io),
        Command::Serve(args) => serve(&cli.data, args, io),
        Command::Demo(args) => crate::demo::run(&cli.data, args.exit, args.http, args.as_of, io),
        Command::Revoke(args) if args.publish => {
            let node = Node::open(&cli.data).map_err(CliError::from)?;
            publish_revocation(&node, args, io)
        }
        Command::Revoke(args) => revoke(&cli.data, args, io),
    }
}

/// `revoke --publish`: a revocation bulletin of the national bureau.
pub fn publish_revocation(node: &Node, args: RevokeArgs, io: &mut Output<'_>) -> CliResult {
    let effective = match &args.effective {
        None => node.today(),
        Some(t) => lunxun_node::model::parse_date("--effective", t)
            .map_err(|e| CliError::new(exit::USAGE, e.0))?,
    };
    let serials: Vec<String> = args.serial.iter().map(|s| normalize_serial(s)).collect();
    if let Some(bad) = serials
        .iter()
        .find(|s| s.is_empty() || !s.bytes().all(|b| b.is_ascii_hexdigit()))
    {
        return Err(CliError::new(
            exit::USAGE,
            format!("--serial {bad:?} is not hex"),
        ));
    }
    let body = lunxun_core::bulletin::Body::Revocation {
        serials,
        orgs: args.org.clone(),
    };
    let number = node.publish(body, effective).map_err(|e| match e {
        lunxun_node::error::Error::Usage(m) => CliError::new(exit::REFUSED, m),
        e => e.into(),
    })?;
    writeln!(
        io.out,
        "published bulletin {number} (revocation, effective {effective}): every node enforces it from its next session"
    )?;
    Ok(())
}

fn normalize_serial(s: &str) -> String {
    s.trim()
        .trim_start_matches("0x")
        .to_ascii_lowercase()
        .replace(':', "")
}

/// `revoke`: edits the `[revoked]` list of `config.toml`, which the sync
/// service re-reads at every new session.
pub fn revoke(data: &Path, args: RevokeArgs, io: &mut Output<'_>) -> CliResult {
    use lunxun_node::config::Config;
    let mut config = Config::load(data).map_err(|e| CliError::new(exit::FAILED, e.to_string()))?;
    for serial in args.serial.iter().map(|s| normalize_serial(s)) {
        if serial.is_empty() || !serial.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(CliError::new(
                exit::USAGE,
                format!("--serial {serial:?} is not hex"),
            ));
        }
        let list = &mut config.revoked.serials;
        list.retain(|s| *s != serial);
        if !args.remove {
            list.push(serial);
        }
    }
    for org in &args.org {
        if !lunxun_node::orgs::is_valid_code(org) {
            return Err(CliError::new(
                exit::USAGE,
                format!("--org {org:?} is not an org code"),
            ));
        }
        let list = &mut config.revoked.orgs;
        list.retain(|o| o != org);
        if !args.remove {
            list.push(org.clone());
        }
    }
    config
        .save(data)
        .map_err(|e| CliError::new(exit::FAILED, e.to_string()))?;
    writeln!(
        io.out,
        "revoked here: {} serials, {} orgs (effective at the next session)",
        config.revoked.serials.len(),
        config.revoked.orgs.len()
    )?;
    Ok(())
}

/// The daemon's runner for `lunxun-hub`: parses as the binary does.
pub fn hub_runner() -> lunxun_node::admin::Runner {
    Arc::new(|app, args, cwd, io| {
        let cli = Cli::try_parse_from(std::iter::once("lunxun-hub".to_owned()).chain(args))
            .map_err(|e| {
                CliError::new(
                    exit::USAGE,
                    e.to_string().lines().next().unwrap_or_default().to_owned(),
                )
            })?;
        match cli.command {
            Command::Node(command) => node_cli::run_in_daemon(app, command, cwd, io),
            Command::Serve(_) => Err(CliError::new(exit::USAGE, "already serving this data dir")),
            Command::Demo(_) => Err(CliError::new(
                exit::USAGE,
                "the demo needs an empty data dir",
            )),
            Command::Revoke(args) if args.publish => publish_revocation(app.node(), args, io),
            Command::Revoke(args) => revoke(app.node().dir(), args, io),
        }
    })
}

fn failed(e: impl std::fmt::Display) -> CliError {
    CliError::new(exit::FAILED, e.to_string())
}

/// `serve`: the node's tasks, plus the children-facing sync service.
pub fn serve(data: &Path, args: ServeArgs, io: &mut Output<'_>) -> CliResult {
    node_cli::block_on(async {
        let node = Arc::new(Node::open(data)?);
        node_cli::warn_if_insecure(&node, args.insecure);
        let mut daemon = Daemon::new(node.clone());
        daemon.start_node_tasks(hub_runner());
        if let Some(listen) = &args.listen {
            let tls = if args.insecure {
                None
            } else {
                let dir = node.config().tls_dir.clone().ok_or_else(|| {
                    CliError::new(
                        exit::USAGE,
                        "serving children needs certificates (init --tls-dir) or --insecure",
                    )
                })?;
                Some(crate::listener::server_config(&dir).map_err(failed)?)
            };
            let listener = tokio::net::TcpListener::bind(listen)
                .await
                .map_err(|e| failed(format!("cannot listen on {listen}: {e}")))?;
            let addr = listener.local_addr().map_err(failed)?;
            std::fs::write(node.dir().join(LISTEN_ADDR_FILE), addr.to_string()).map_err(failed)?;
            let identity = if args.insecure {
                Identity::Insecure
            } else {
                Identity::Certificate
            };
            let service = SyncService::new(node.clone(), identity)
                .with_shutdown(daemon.shutdown())
                .into_server();
            let mut stop = daemon.shutdown();
            let node_for_tls = node.clone();
            daemon.spawn("sync-service", async move {
                let router =
                    crate::listener::configure_server(Server::builder()).add_service(service);
                let stopped = async move {
                    let _ = stop.wait_for(|s| *s).await;
                };
                match tls {
                    // The handshake is ours, so a refused one is counted.
                    Some(config) => {
                        let incoming = crate::listener::incoming(listener, config, node_for_tls);
                        router.serve_with_incoming_shutdown(incoming, stopped).await
                    }
                    None => {
                        let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
                        router.serve_with_incoming_shutdown(incoming, stopped).await
                    }
                }
                .map_err(|e| format!("sync service: {e}"))
            });
            writeln!(io.out, "accepting children's syncs on {addr}")?;
        }
        if let Some(http) = &args.http {
            let (listener, addr) = crate::dashboard::bind(&node, http).await.map_err(failed)?;
            let (node, stop) = (node.clone(), daemon.shutdown());
            daemon.spawn("dashboard", crate::dashboard::serve(listener, node, stop));
            writeln!(io.out, "dashboard on http://{addr}/")?;
        }
        writeln!(
            io.out,
            "serving {} ({}); upstream {}; Ctrl-C to stop",
            node.orgs().org(node.me()),
            node.dir().display(),
            node.config().upstream.as_deref().unwrap_or("none")
        )?;
        io.out.flush()?;
        daemon.run().await.map_err(failed)
    })?
}
