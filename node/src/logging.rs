//! Structured logs on stderr, filtered by `RUST_LOG` (default: warnings only,
//! so command output stays clean; `serve` logs at info).

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber with `default` as the filter when
/// `RUST_LOG` is unset.
pub fn init_with(default: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    // Ignore the error of a second installation (tests, embedded use).
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .try_init();
}

/// Installs the subscriber with the default filter for short commands.
pub fn init() {
    init_with("warn");
}
