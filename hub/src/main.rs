//! `lunxun-hub`: parses the command line, sets up logging and runs the
//! command — through the daemon when `serve` runs on the data dir.

use clap::Parser;
use lunxun_hub::cli::{self, Cli, Command};
use lunxun_node::cli as node_cli;

/// mimalloc: the sync pipeline's threads contend on glibc malloc's arenas;
/// measured in the sync benchmark, mimalloc makes it ~40% faster.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let cli = Cli::parse();
    let serving = matches!(cli.command, Command::Serve(_));
    let forward = match &cli.command {
        Command::Node(c) => node_cli::goes_through_daemon(c),
        // A published revocation is a write of the store's.
        Command::Revoke(args) => args.publish,
        _ => false,
    };
    let data = cli.data.clone();
    node_cli::main_with(&data, serving, forward, |io| cli::run(cli, io));
}
