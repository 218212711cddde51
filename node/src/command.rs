//! What running a command means to everything that runs one — the command
//! line, the daemon's admin endpoint, the hub: where a command writes
//! ([`Output`]), how it fails ([`CliError`] with an [`exit`] code).
//!
//! It sits below `cli`, `admin` and `daemon`, so each of them can name these
//! without naming the others.

use std::io::Write;

use crate::error::Error;

/// Exit codes, documented in `--help`.
pub mod exit {
    /// Success.
    pub const OK: i32 = 0;
    /// The operation failed (store, network, configuration).
    pub const FAILED: i32 = 1;
    /// The command line is wrong.
    pub const USAGE: i32 = 2;
    /// Input was refused (a bad file or value); nothing was changed.
    pub const REFUSED: i32 = 3;
    /// A sync did not complete: the parent did not ack everything.
    pub const INCOMPLETE: i32 = 4;
}

pub const EXIT_CODES_HELP: &str = "\
Exit codes: 0 success; 1 failure (store, network, configuration); 2 usage error;
3 input refused, nothing changed; 4 sync incomplete.

Environment: LUNXUN_DATA (data dir), RUST_LOG (log filter, e.g. info or lunxun_node=debug).";

/// A command's failure: a one-line message and an exit code.
#[derive(Debug)]
pub struct CliError {
    pub code: i32,
    pub message: String,
}

impl CliError {
    pub fn new(code: i32, message: impl Into<String>) -> CliError {
        CliError {
            code,
            message: message.into(),
        }
    }
}

impl From<Error> for CliError {
    fn from(e: Error) -> CliError {
        let code = match &e {
            Error::Import(_) | Error::UnknownOrg(_) => exit::REFUSED,
            Error::Usage(_) => exit::USAGE,
            _ => exit::FAILED,
        };
        CliError::new(code, e.to_string())
    }
}

impl From<std::io::Error> for CliError {
    fn from(e: std::io::Error) -> CliError {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            // The reader went away (`| head`): not a failure, nothing to say.
            return CliError::new(exit::OK, "");
        }
        CliError::new(exit::FAILED, format!("output: {e}"))
    }
}

pub type CliResult = Result<(), CliError>;

/// Where a command writes.
pub struct Output<'a> {
    pub out: &'a mut dyn Write,
    /// Whether to draw progress bars (the user's terminal is attached).
    pub progress: bool,
    /// What the command reads as its stdin: `None` for this process's own,
    /// or what a client sent the daemon (see [`crate::admin`]).
    pub stdin: Option<Vec<u8>>,
}

impl Output<'_> {
    /// The command's stdin, read to its end but at most `max` bytes (more is
    /// an error: stdin here is a password, not a file).
    pub fn read_stdin(&mut self, max: usize) -> Result<Vec<u8>, CliError> {
        use std::io::Read;
        let bytes = match self.stdin.take() {
            Some(bytes) => bytes,
            None => {
                let mut bytes = Vec::new();
                std::io::stdin()
                    .lock()
                    .take(max as u64 + 1)
                    .read_to_end(&mut bytes)
                    .map_err(|e| CliError::new(exit::FAILED, format!("stdin: {e}")))?;
                bytes
            }
        };
        if bytes.len() > max {
            return Err(CliError::new(
                exit::USAGE,
                format!("stdin holds more than {max} bytes"),
            ));
        }
        Ok(bytes)
    }
}
