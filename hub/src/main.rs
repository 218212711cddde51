//! `lunxun-hub`: parses the command line, sets up logging and runs the
//! command — through the daemon when `serve` runs on the data dir.

use std::io::IsTerminal;

use clap::Parser;
use lunxun_hub::cli::{self, Cli, Command};
use lunxun_node::cli::{self as node_cli, Output};

/// mimalloc: the sync pipeline's threads contend on glibc malloc's arenas;
/// measured in the sync benchmark, mimalloc makes it ~40% faster.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let cli = Cli::parse();
    let serving = matches!(cli.command, Command::Serve(_));
    lunxun_node::logging::init_with(if serving { "info" } else { "warn" });
    if let Command::Node(command) = &cli.command
        && node_cli::goes_through_daemon(command)
        && let Some(code) = lunxun_node::admin::forward(&cli.data, node_cli::forwarded_args())
    {
        std::process::exit(code);
    }
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut io = Output {
        out: &mut out,
        progress: std::io::stderr().is_terminal(),
    };
    if let Err(e) = cli::run(cli, &mut io) {
        if !e.message.is_empty() {
            eprintln!("error: {}", e.message);
        }
        std::process::exit(e.code);
    }
}
