//! `lunxun-node`: parses the command line, sets up logging and runs the command.

use std::io::IsTerminal;

use clap::Parser;
use lunxun_node::cli::{self, Cli, Output};

fn main() {
    let cli = Cli::parse();
    lunxun_node::logging::init();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut io = Output {
        out: &mut out,
        progress: std::io::stderr().is_terminal(),
    };
    if let Err(e) = cli::run(&cli.data, cli.command, &mut io) {
        if !e.message.is_empty() {
            eprintln!("error: {}", e.message);
        }
        std::process::exit(e.code);
    }
}
