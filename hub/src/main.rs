//! `lunxun-hub`: parses the command line, sets up logging and runs the command.

use std::io::IsTerminal;

use clap::Parser;
use lunxun_hub::cli::{self, Cli};
use lunxun_node::cli::Output;

fn main() {
    let cli = Cli::parse();
    lunxun_node::logging::init();
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
