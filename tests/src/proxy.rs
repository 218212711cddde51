//! A fault-injecting TCP proxy between a child and its parent: the child's
//! `--upstream` points at the proxy, which forwards to the parent — or
//! doesn't, as the test decides, switching modes at run time.
//!
//! Faults are decided per connection from a seeded RNG, in the order
//! connections arrive, so a run is replayable up to the timing of the
//! processes. A cut or reset closes the sockets with SO_LINGER 0, so both
//! ends see a reset at once (never a silent stall that only a timeout ends).
//!
//! It can also record what children send ([`Proxy::capture`]), for tests
//! that replay a captured session byte for byte.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// Bytes read from one side before forwarding them, at most.
const CHUNK_BYTES: usize = 16 * 1024;
/// Longest wait to reach the parent.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// What the proxy does to the connections it accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Forward everything.
    Pass,
    /// Forward everything, each chunk delayed this long.
    Latency(Duration),
    /// Forward, and cut each connection after a random number of bytes
    /// (both directions together), uniform in `0..=max_bytes`.
    Cut { max_bytes: u64 },
    /// Link down: reset every connection at once, and the live ones too.
    Down,
    /// Per connection, at random: reset at once (1 in 4), cut after a
    /// random number of bytes up to `max_bytes` with a random latency (1 in
    /// 2), or pass with a random latency (1 in 4).
    Chaos {
        max_bytes: u64,
        latency_max: Duration,
    },
}

/// What the proxy did so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    pub connections: u64,
    /// Connections reset as soon as they were accepted.
    pub resets: u64,
    /// Connections cut after some bytes (or when the link went down).
    pub cuts: u64,
    /// Bytes forwarded from the child to the parent.
    pub bytes_up: u64,
    /// Bytes forwarded from the parent to the child.
    pub bytes_down: u64,
}

/// How one connection is treated.
enum Plan {
    Reset,
    Forward {
        cut_after: Option<u64>,
        latency: Duration,
    },
}

/// Child-to-parent bytes recorded per connection, by arrival order.
type Captured = Mutex<BTreeMap<u64, Vec<u8>>>;

struct Shared {
    name: String,
    mode: Mutex<Mode>,
    target: Mutex<SocketAddr>,
    rng: Mutex<ChaCha8Rng>,
    /// Bumped to cut every live connection.
    cut_all: watch::Sender<u64>,
    connections: AtomicU64,
    resets: AtomicU64,
    cuts: AtomicU64,
    bytes_up: AtomicU64,
    bytes_down: AtomicU64,
    /// Whether new connections' child-to-parent bytes are recorded.
    capture: std::sync::atomic::AtomicBool,
    /// Recorded child-to-parent bytes, per connection (by arrival order).
    captured: Captured,
}

impl Shared {
    fn plan(&self) -> Plan {
        let mode = *self.mode.lock().unwrap_or_else(|p| p.into_inner());
        let mut rng = self.rng.lock().unwrap_or_else(|p| p.into_inner());
        let latency = |rng: &mut ChaCha8Rng, max: Duration| {
            Duration::from_micros(rng.random_range(0..=max.as_micros() as u64))
        };
        match mode {
            Mode::Pass => Plan::Forward {
                cut_after: None,
                latency: Duration::ZERO,
            },
            Mode::Latency(latency) => Plan::Forward {
                cut_after: None,
                latency,
            },
            Mode::Cut { max_bytes } => Plan::Forward {
                cut_after: Some(rng.random_range(0..=max_bytes)),
                latency: Duration::ZERO,
            },
            Mode::Down => Plan::Reset,
            Mode::Chaos {
                max_bytes,
                latency_max,
            } => match rng.random_range(0..4u32) {
                0 => Plan::Reset,
                1 | 2 => Plan::Forward {
                    cut_after: Some(rng.random_range(0..=max_bytes)),
                    latency: latency(&mut rng, latency_max),
                },
                _ => Plan::Forward {
                    cut_after: None,
                    latency: latency(&mut rng, latency_max),
                },
            },
        }
    }
}

/// A running proxy; stops (dropping every connection) when dropped.
pub struct Proxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Proxy {
    /// Starts a proxy on a free port of 127.0.0.1 forwarding to `target`,
    /// passing everything until told otherwise. Prints its seed.
    pub fn start(name: &str, target: SocketAddr, seed: u64) -> Proxy {
        eprintln!("proxy {name}: seed {seed}");
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name(format!("proxy-{name}"))
            .enable_all()
            .build()
            .expect("a runtime for the proxy");
        let listener = runtime
            .block_on(TcpListener::bind("127.0.0.1:0"))
            .expect("bind the proxy");
        let addr = listener.local_addr().expect("the proxy's address");
        let (cut_all, _) = watch::channel(0);
        let shared = Arc::new(Shared {
            name: name.to_owned(),
            mode: Mutex::new(Mode::Pass),
            target: Mutex::new(target),
            rng: Mutex::new(ChaCha8Rng::seed_from_u64(seed)),
            cut_all,
            connections: AtomicU64::new(0),
            resets: AtomicU64::new(0),
            cuts: AtomicU64::new(0),
            bytes_up: AtomicU64::new(0),
            bytes_down: AtomicU64::new(0),
            capture: std::sync::atomic::AtomicBool::new(false),
            captured: Mutex::new(BTreeMap::new()),
        });
        runtime.spawn(accept(listener, shared.clone()));
        Proxy {
            addr,
            shared,
            runtime: Some(runtime),
        }
    }

    /// Where children connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Switches the mode for new connections; [`Mode::Down`] also cuts the
    /// live ones.
    pub fn set_mode(&self, mode: Mode) {
        *self.shared.mode.lock().unwrap_or_else(|p| p.into_inner()) = mode;
        if mode == Mode::Down {
            self.shared.cut_all.send_modify(|n| *n += 1);
        }
    }

    /// Forwards new connections to `target` instead.
    pub fn set_target(&self, target: SocketAddr) {
        *self.shared.target.lock().unwrap_or_else(|p| p.into_inner()) = target;
    }

    /// Records what children send through new connections from now on
    /// (see [`Proxy::captured`]).
    pub fn capture(&self, on: bool) {
        self.shared.capture.store(on, Ordering::SeqCst);
    }

    /// The bytes each recorded connection carried from the child to the
    /// parent, in the order the connections arrived.
    pub fn captured(&self) -> Vec<Vec<u8>> {
        self.shared
            .captured
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect()
    }

    pub fn stats(&self) -> Stats {
        Stats {
            connections: self.shared.connections.load(Ordering::SeqCst),
            resets: self.shared.resets.load(Ordering::SeqCst),
            cuts: self.shared.cuts.load(Ordering::SeqCst),
            bytes_up: self.shared.bytes_up.load(Ordering::SeqCst),
            bytes_down: self.shared.bytes_down.load(Ordering::SeqCst),
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

async fn accept(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                tokio::spawn(connection(stream, shared.clone()));
            }
            Err(e) => {
                eprintln!("proxy {}: accept failed: {e}", shared.name);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// Closes a socket with a reset rather than a FIN.
fn reset(stream: &TcpStream) {
    let _ = stream.set_zero_linger();
}

async fn connection(mut inbound: TcpStream, shared: Arc<Shared>) {
    let index = shared.connections.fetch_add(1, Ordering::SeqCst);
    let capture = shared.capture.load(Ordering::SeqCst).then(|| {
        shared
            .captured
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(index, Vec::new());
        (&shared.captured, index)
    });
    let mut cut_all = shared.cut_all.subscribe();
    let (cut_after, latency) = match shared.plan() {
        Plan::Reset => {
            shared.resets.fetch_add(1, Ordering::SeqCst);
            reset(&inbound);
            return;
        }
        Plan::Forward { cut_after, latency } => (cut_after, latency),
    };
    let target = *shared.target.lock().unwrap_or_else(|p| p.into_inner());
    let mut outbound = match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(target)).await
    {
        Ok(Ok(s)) => s,
        _ => {
            reset(&inbound);
            return;
        }
    };
    let _ = inbound.set_nodelay(true);
    let _ = outbound.set_nodelay(true);
    let budget = AtomicI64::new(cut_after.map_or(i64::MAX, |b| b as i64));
    let cut = {
        let (mut in_read, mut in_write) = inbound.split();
        let (mut out_read, mut out_write) = outbound.split();
        let up = pump(
            &mut in_read,
            &mut out_write,
            &budget,
            latency,
            &shared.bytes_up,
            capture,
        );
        let down = pump(
            &mut out_read,
            &mut in_write,
            &budget,
            latency,
            &shared.bytes_down,
            None,
        );
        tokio::pin!(up, down);
        let (mut up_done, mut down_done) = (false, false);
        loop {
            tokio::select! {
                end = &mut up, if !up_done => {
                    if end != End::Eof {
                        break true;
                    }
                    up_done = true;
                }
                end = &mut down, if !down_done => {
                    if end != End::Eof {
                        break true;
                    }
                    down_done = true;
                }
                _ = cut_all.changed() => break true,
            }
            if up_done && down_done {
                break false;
            }
        }
    };
    if cut {
        shared.cuts.fetch_add(1, Ordering::SeqCst);
        reset(&inbound);
        reset(&outbound);
    }
}

#[derive(Debug, PartialEq, Eq)]
enum End {
    /// The reading side closed: the close was passed on.
    Eof,
    /// The byte budget ran out.
    Cut,
    /// A side failed.
    Error,
}

/// Copies from `from` to `to` until EOF, an error, or the shared byte budget
/// running out, delaying each chunk by `latency`, counting the bytes
/// forwarded in `forwarded` and recording them in `capture` (a connection's
/// entry) if given.
async fn pump(
    from: &mut (impl AsyncReadExt + Unpin),
    to: &mut (impl AsyncWriteExt + Unpin),
    budget: &AtomicI64,
    latency: Duration,
    forwarded: &AtomicU64,
    capture: Option<(&Captured, u64)>,
) -> End {
    let mut buf = vec![0u8; CHUNK_BYTES];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) => {
                let _ = to.shutdown().await;
                return End::Eof;
            }
            Ok(n) => n,
            Err(_) => return End::Error,
        };
        let before = budget.fetch_sub(n as i64, Ordering::SeqCst);
        let allowed = before.clamp(0, n as i64) as usize;
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        if allowed > 0 && to.write_all(&buf[..allowed]).await.is_err() {
            return End::Error;
        }
        forwarded.fetch_add(allowed as u64, Ordering::SeqCst);
        if let Some((captured, index)) = capture {
            let mut captured = captured.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(bytes) = captured.get_mut(&index) {
                bytes.extend_from_slice(&buf[..allowed]);
            }
        }
        if allowed < n {
            return End::Cut;
        }
    }
}
