//! Structured logs on stderr, filtered by `RUST_LOG` (default: warnings only,
//! so command output stays clean; `serve` logs at info).

use std::io::{self, Write};

use tracing_subscriber::EnvFilter;

/// Standard error with every ID number masked: a log line must never carry
/// one, whatever a field or a message holds. The formatter writes each event
/// in one call, so an ID is never split between two writes.
struct MaskedStderr;

impl Write for MaskedStderr {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match std::str::from_utf8(buf) {
            Ok(text) => io::stderr().write_all(crate::model::mask_ids(text).as_bytes())?,
            Err(_) => io::stderr().write_all(buf)?,
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        io::stderr().flush()
    }
}

/// Installs the global subscriber with `default` as the filter when
/// `RUST_LOG` is unset.
pub fn init_with(default: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    // Ignore the error of a second installation (tests, embedded use).
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| MaskedStderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .try_init();
}

/// Installs the subscriber with the default filter for short commands.
pub fn init() {
    init_with("warn");
}
