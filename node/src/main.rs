//! `lunxun-node`: parses the command line, sets up logging and runs the
//! command — through the daemon when `serve` runs on the data dir.

use clap::Parser;
use lunxun_node::cli::{self, NodeCli, NodeCommand};

/// mimalloc: the sync pipeline's threads contend on glibc malloc's arenas;
/// measured in the sync benchmark, mimalloc makes it ~40% faster.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let cli = NodeCli::parse();
    let serving = matches!(cli.command, NodeCommand::Serve(_));
    let forward = matches!(&cli.command, NodeCommand::Common(c) if cli::goes_through_daemon(c));
    let data = cli.data;
    cli::main_with(&data, serving, forward, |io| match cli.command {
        NodeCommand::Common(command) => cli::run(&data, command, io),
        NodeCommand::Serve(args) => cli::serve(&data, args, cli::node_runner(), io),
    });
}
