//! Runs a load over many connections on a few client threads and times it.
//!
//! Why one tokio current-thread runtime per client thread (and not a multi-thread runtime):
//! the client shares a 2-core host with the server, so every cycle it spends is taken from
//! the server. A current-thread runtime has no work-stealing queues, no cross-thread wakeups
//! and no atomics on the task path; each connection lives on one thread for the whole run.
//! `--threads` defaults to 1, leaving the other core to the server; connections are dealt
//! round-robin over the threads.
//!
//! All connections are opened (and whatever per-connection setup the workload needs is
//! done) before the clock starts: a barrier holds every thread until the last is ready.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use tokio::task::LocalSet;

use crate::common::error::BenchError;
use crate::common::process_cpu_clock::{self_cpu_us, ProcessCpuClock};
use crate::common::run_limit::RunLimit;

/// What each connection of a run does. Futures need not be `Send`: each runs on the thread
/// that created it.
pub trait ConnectionWorkload: Send + Sync + 'static {
    /// A connection after setup, ready to send load.
    type Conn: 'static;
    /// What a connection measured; merged by the caller.
    type Stats: Send + 'static;

    /// Opens connection number `index` (0-based over the whole run) and prepares it.
    fn connect(&self, index: usize) -> impl Future<Output = Result<Self::Conn, BenchError>>;

    /// Sends load until `limit` hands out no more requests.
    fn drive(&self, conn: Self::Conn, limit: &RunLimit) -> impl Future<Output = Result<Self::Stats, BenchError>>;
}

/// How a run is shaped.
pub struct ConnectionRunner {
    pub threads: usize,
    pub connections: usize,
    /// Stop handing out requests after this long (with `RunLimit::until_stopped`).
    pub duration: Option<Duration>,
    /// A run that completes no batch for this long has a server that stopped answering; it
    /// fails instead of hanging.
    pub stall_timeout: Duration,
    /// The server process, for CPU time over the measured interval.
    pub server_cpu: Option<ProcessCpuClock>,
}

/// Requests a run makes when neither `--requests` nor `--duration` is given.
const DEFAULT_REQUESTS: u64 = 100_000;
/// Seconds without a completed batch after which a run fails as stalled.
const STALL_TIMEOUT: Duration = Duration::from_secs(10);

/// The command-line choices every load subcommand shares.
pub struct RunOptions {
    pub threads: usize,
    pub connections: usize,
    pub duration: Option<Duration>,
    pub requests: Option<u64>,
    pub server_pid: Option<u32>,
}

impl ConnectionRunner {
    /// A runner and its limit for `options`, and how server CPU will be read (if at all).
    pub fn plan(options: RunOptions) -> Result<(ConnectionRunner, RunLimit, Option<&'static str>), BenchError> {
        let limit = match options.duration {
            Some(_) => RunLimit::until_stopped(),
            None => RunLimit::requests(options.requests.unwrap_or(DEFAULT_REQUESTS)),
        };
        let server_cpu = options.server_pid.map(ProcessCpuClock::open).transpose()?;
        let server_cpu_method = server_cpu.as_ref().map(|c| c.source().name());
        let runner = ConnectionRunner {
            threads: options.threads,
            connections: options.connections,
            duration: options.duration,
            stall_timeout: STALL_TIMEOUT,
            server_cpu,
        };
        Ok((runner, limit, server_cpu_method))
    }
}

/// What a run measured, besides the per-connection stats.
pub struct RunOutcome<S> {
    pub stats: Vec<S>,
    pub elapsed: Duration,
    pub server_cpu_ns: Option<u64>,
    pub client_cpu_us: u64,
}

type ThreadResult<S> = Result<Vec<S>, BenchError>;

impl ConnectionRunner {
    pub fn run<W: ConnectionWorkload>(
        &self,
        workload: Arc<W>,
        limit: Arc<RunLimit>,
    ) -> Result<RunOutcome<W::Stats>, BenchError> {
        let threads = self.threads.clamp(1, self.connections.max(1));
        // Every worker plus this thread meet twice: once connected, once to start.
        let connected = Arc::new(Barrier::new(threads + 1));
        let start = Arc::new(Barrier::new(threads + 1));
        let setup_failed = Arc::new(AtomicBool::new(false));
        let (done_tx, done_rx) = mpsc::channel::<ThreadResult<W::Stats>>();

        for thread_index in 0..threads {
            let indices: Vec<usize> = (thread_index..self.connections).step_by(threads).collect();
            let worker = Worker {
                workload: workload.clone(),
                limit: limit.clone(),
                connected: connected.clone(),
                start: start.clone(),
                setup_failed: setup_failed.clone(),
            };
            let done_tx = done_tx.clone();
            thread::Builder::new()
                .name(format!("bench-client-{thread_index}"))
                .spawn(move || worker.run(indices, done_tx))
                .map_err(BenchError::Runtime)?;
        }
        drop(done_tx);

        connected.wait();
        if setup_failed.load(Ordering::SeqCst) {
            // Let the workers through at once; the failing one reports why.
            limit.stop();
        }
        let server_cpu_before_ns = self.server_cpu.as_ref().map(|c| c.read_ns()).transpose()?;
        let client_cpu_before_us = self_cpu_us();
        let started_at = Instant::now();
        start.wait();

        let stats = self.collect(threads, &done_rx, &limit, started_at)?;
        let elapsed = started_at.elapsed();
        let client_cpu_us = self_cpu_us() - client_cpu_before_us;
        let server_cpu_ns = match (&self.server_cpu, server_cpu_before_ns) {
            (Some(clock), Some(before)) => Some(clock.read_ns()?.saturating_sub(before)),
            _ => None,
        };
        Ok(RunOutcome {
            stats,
            elapsed,
            server_cpu_ns,
            client_cpu_us,
        })
    }

    /// Waits for every worker, stopping the run at the deadline and failing it on a stall.
    fn collect<S>(
        &self,
        threads: usize,
        done_rx: &mpsc::Receiver<ThreadResult<S>>,
        limit: &RunLimit,
        started_at: Instant,
    ) -> Result<Vec<S>, BenchError> {
        const POLL: Duration = Duration::from_millis(100);
        let deadline = self.duration.map(|d| started_at + d);
        let mut stats = Vec::with_capacity(self.connections);
        let mut first_error = None;
        let mut finished = 0;
        let mut progress = limit.claimed();
        let mut progress_at = Instant::now();
        while finished < threads {
            let now = Instant::now();
            let wait = match deadline {
                Some(deadline) if now < deadline => POLL.min(deadline - now),
                Some(_) => {
                    limit.stop();
                    POLL
                }
                None => POLL,
            };
            match done_rx.recv_timeout(wait) {
                Ok(Ok(thread_stats)) => {
                    stats.extend(thread_stats);
                    finished += 1;
                }
                Ok(Err(e)) => {
                    limit.stop();
                    first_error.get_or_insert(e);
                    finished += 1;
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    return Err(first_error.unwrap_or(BenchError::WorkerPanicked))
                }
            }
            let claimed = limit.claimed();
            if claimed != progress {
                progress = claimed;
                progress_at = Instant::now();
            } else if progress_at.elapsed() > self.stall_timeout {
                return Err(first_error.unwrap_or(BenchError::Stalled(self.stall_timeout)));
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(stats),
        }
    }
}

/// One client thread: its runtime and its share of the connections.
struct Worker<W> {
    workload: Arc<W>,
    limit: Arc<RunLimit>,
    connected: Arc<Barrier>,
    start: Arc<Barrier>,
    setup_failed: Arc<AtomicBool>,
}

impl<W: ConnectionWorkload> Worker<W> {
    fn run(self, indices: Vec<usize>, done_tx: mpsc::Sender<ThreadResult<W::Stats>>) {
        let local = LocalSet::new();
        let setup = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(BenchError::Runtime)
            .and_then(|runtime| {
                let conns = local.block_on(&runtime, self.connect_all(indices))?;
                Ok((runtime, conns))
            });
        if setup.is_err() {
            self.setup_failed.store(true, Ordering::SeqCst);
        }
        self.connected.wait();
        self.start.wait();
        let result = match setup {
            Ok((runtime, conns)) => local.block_on(&runtime, self.drive_all(conns)),
            Err(e) => Err(e),
        };
        // The receiver is gone only if the run already failed elsewhere.
        let _ = done_tx.send(result);
    }

    /// Opens this thread's connections concurrently: thousands of sequential handshakes to a
    /// remote host would take seconds.
    async fn connect_all(&self, indices: Vec<usize>) -> Result<Vec<W::Conn>, BenchError> {
        let tasks: Vec<_> = indices
            .into_iter()
            .map(|index| {
                let workload = self.workload.clone();
                tokio::task::spawn_local(async move { workload.connect(index).await })
            })
            .collect();
        let mut conns = Vec::with_capacity(tasks.len());
        for task in tasks {
            conns.push(task.await.map_err(|_| BenchError::WorkerPanicked)??);
        }
        Ok(conns)
    }

    async fn drive_all(&self, conns: Vec<W::Conn>) -> Result<Vec<W::Stats>, BenchError> {
        let tasks: Vec<_> = conns
            .into_iter()
            .map(|conn| {
                let workload = self.workload.clone();
                let limit = self.limit.clone();
                tokio::task::spawn_local(async move {
                    let result = workload.drive(conn, &limit).await;
                    if result.is_err() {
                        // One broken connection spoils the run: end it for everyone now.
                        limit.stop();
                    }
                    result
                })
            })
            .collect();
        let mut stats = Vec::with_capacity(tasks.len());
        let mut first_error = None;
        for task in tasks {
            match task.await {
                Ok(Ok(s)) => stats.push(s),
                Ok(Err(e)) => {
                    first_error.get_or_insert(e);
                }
                Err(_) => {
                    first_error.get_or_insert(BenchError::WorkerPanicked);
                }
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(stats),
        }
    }
}
