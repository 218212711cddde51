//! The local admin endpoint. sled allows one process per store, so while
//! `serve` runs on a data dir, every other command on that dir is sent to the
//! daemon over a Unix socket inside the data dir (`admin.sock`, mode 0600:
//! reachable only by the data dir's owner) and run there, against the open
//! node, with its output streamed back.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use lunxun_proto::v1 as pb;
use lunxun_proto::v1::admin_client::AdminClient;
use lunxun_proto::v1::admin_server::{Admin, AdminServer};
use tokio::net::UnixListener;
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::{ReceiverStream, UnixListenerStream};
use tonic::{Request, Response, Status};
use tracing::{info, warn};

use crate::app::App;
use crate::command::{CliResult, Output};

/// The socket's file name inside the data dir.
pub const SOCKET_FILE: &str = "admin.sock";
/// Bytes of its stdin a client sends with a command that reads it
/// (`--password-stdin`); more is refused by the command.
pub const STDIN_BYTES_MAX: usize = 4 * 1024;
/// Arguments after which a command reads its stdin.
const STDIN_FLAGS: [&str; 1] = ["--password-stdin"];
/// Output chunks buffered towards a slow client.
const OUTPUT_CHUNKS_MAX: usize = 64;

/// Runs one command line (the arguments after the binary name) against the
/// daemon's node and upstream worker; `cwd` is the client's working directory.
pub type Runner = Arc<dyn Fn(&App, Vec<String>, &Path, &mut Output<'_>) -> CliResult + Send + Sync>;

struct AdminService {
    app: App,
    runner: Runner,
}

/// Sends what a command writes to the client, in chunks.
struct ChannelWriter {
    tx: mpsc::Sender<Result<pb::RunOutput, Status>>,
    buf: Vec<u8>,
}

impl ChannelWriter {
    fn send(&mut self, kind: pb::run_output::Kind) -> std::io::Result<()> {
        self.tx
            .blocking_send(Ok(pb::RunOutput { kind: Some(kind) }))
            .map_err(|_| {
                std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the client went away")
            })
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= 16 * 1024 {
            self.flush()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::take(&mut self.buf);
        self.send(pb::run_output::Kind::Stdout(chunk.into()))
    }
}

#[tonic::async_trait]
impl Admin for AdminService {
    type RunStream = ReceiverStream<Result<pb::RunOutput, Status>>;

    async fn run(
        &self,
        request: Request<pb::RunRequest>,
    ) -> Result<Response<Self::RunStream>, Status> {
        let req = request.into_inner();
        let (tx, rx) = mpsc::channel(OUTPUT_CHUNKS_MAX);
        let app = self.app.clone();
        let runner = self.runner.clone();
        tokio::task::spawn_blocking(move || {
            let mut writer = ChannelWriter {
                tx: tx.clone(),
                buf: Vec::new(),
            };
            let cwd = PathBuf::from(&req.cwd);
            // The command, not its arguments: they can hold ID numbers.
            info!(
                command = req.args.first().map(String::as_str).unwrap_or(""),
                "admin command"
            );
            let result = {
                let mut io = Output {
                    out: &mut writer,
                    progress: false,
                    stdin: (!req.stdin.is_empty()).then(|| req.stdin.to_vec()),
                };
                runner(&app, req.args, &cwd, &mut io)
            };
            let _ = writer.flush();
            let code = match result {
                Ok(()) => 0,
                Err(e) => {
                    if !e.message.is_empty() {
                        let _ = writer.send(pb::run_output::Kind::Stderr(
                            format!("error: {}\n", e.message).into_bytes().into(),
                        ));
                    }
                    e.code
                }
            };
            let _ = writer.send(pb::run_output::Kind::ExitCode(code));
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }
}

/// Serves the admin endpoint for `app`'s node until `shutdown` turns true.
pub async fn serve(
    app: App,
    runner: Runner,
    mut shutdown: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let path = app.node().dir().join(SOCKET_FILE);
    // A socket left by a crashed daemon: we hold the store lock, so it is stale.
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&path)?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    info!(socket = %path.display(), "admin endpoint listening");
    let result = tonic::transport::Server::builder()
        .add_service(AdminServer::new(AdminService { app, runner }))
        .serve_with_incoming_shutdown(UnixListenerStream::new(listener), async move {
            let _ = shutdown.wait_for(|stop| *stop).await;
        })
        .await;
    let _ = std::fs::remove_file(&path);
    result.map_err(std::io::Error::other)
}

/// Runs `args` in the daemon serving `dir`, writing its output to ours.
/// Returns its exit code, or None when no daemon answers (then the caller
/// opens the store itself).
pub fn forward(dir: &Path, args: Vec<String>) -> Option<i32> {
    let path = std::path::absolute(dir.join(SOCKET_FILE)).ok()?;
    if !path.exists() {
        return None;
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .ok()?;
    runtime.block_on(async move {
        let endpoint = tonic::transport::Endpoint::from_shared(format!("unix://{}", path.display())).ok()?;
        let channel = match endpoint.connect().await {
            Ok(c) => c,
            Err(e) => {
                warn!(socket = %path.display(), error = %e, "no daemon answers on the admin socket");
                return None;
            }
        };
        let cwd = std::env::current_dir().unwrap_or_default().display().to_string();
        let mut stdin = Vec::new();
        if args.iter().any(|a| STDIN_FLAGS.contains(&a.as_str())) {
            use std::io::Read;
            // One byte over the bound, so that the command can refuse it.
            let _ = std::io::stdin()
                .lock()
                .take(STDIN_BYTES_MAX as u64 + 1)
                .read_to_end(&mut stdin);
        }
        let mut stream = AdminClient::new(channel)
            .run(pb::RunRequest { args, tty: false, cwd, stdin: stdin.into() })
            .await
            .ok()?
            .into_inner();
        let mut stdout = std::io::stdout().lock();
        let mut code = 1;
        loop {
            match stream.message().await {
                Ok(Some(pb::RunOutput { kind: Some(kind) })) => match kind {
                    pb::run_output::Kind::Stdout(b) => {
                        if stdout.write_all(&b).is_err() {
                            return Some(0);
                        }
                    }
                    pb::run_output::Kind::Stderr(b) => {
                        let _ = std::io::stderr().write_all(&b);
                    }
                    pb::run_output::Kind::ExitCode(c) => code = c,
                },
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(status) => {
                    eprintln!("error: the daemon failed: {}", status.message());
                    return Some(1);
                }
            }
        }
        let _ = stdout.flush();
        Some(code)
    })
}
