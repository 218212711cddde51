//! `lunxun-node`: parses the command line, sets up logging and runs the
//! command — through the daemon when `serve` runs on the data dir.

use std::io::IsTerminal;

use clap::Parser;
use lunxun_node::cli::{self, NodeCli, NodeCommand, Output};

/// mimalloc: the sync pipeline's threads contend on glibc malloc's arenas;
/// measured in the sync benchmark, mimalloc makes it ~40% faster.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let cli = NodeCli::parse();
    let serving = matches!(cli.command, NodeCommand::Serve(_));
    lunxun_node::logging::init_with(if serving { "info" } else { "warn" });
    if let NodeCommand::Common(command) = &cli.command
        && cli::goes_through_daemon(command)
        && let Some(code) = lunxun_node::admin::forward(&cli.data, cli::forwarded_args())
    {
        std::process::exit(code);
    }
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut io = Output {
        out: &mut out,
        progress: std::io::stderr().is_terminal(),
    };
    let result = match cli.command {
        NodeCommand::Common(command) => cli::run(&cli.data, command, &mut io),
        NodeCommand::Serve(args) => cli::serve(&cli.data, args, cli::node_runner(), &mut io),
    };
    if let Err(e) = result {
        if !e.message.is_empty() {
            eprintln!("error: {}", e.message);
        }
        std::process::exit(e.code);
    }
}
