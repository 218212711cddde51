//! The hub's command line: every node command, plus the hub's own.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use lunxun_node::cli::{self as node_cli, CliResult, EXIT_CODES_HELP, Output};

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
    /// Build a realistic county node from generated rosters and trainings, and show its coverage.
    Demo(DemoArgs),
}

#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Exit when done (the default today: the dashboard arrives with `serve --http`).
    #[arg(long)]
    pub exit: bool,
}

/// Runs a hub command.
pub fn run(cli: Cli, io: &mut Output<'_>) -> CliResult {
    match cli.command {
        Command::Node(command) => node_cli::run(&cli.data, command, io),
        Command::Demo(_) => crate::demo::run(&cli.data, io),
    }
}
