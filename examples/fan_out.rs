//! A fan-out of 10,000 requests to a local server, at most 64 in flight:
//! `safe_gather(requests).limit(64)`, over real TCP on loopback, on smol.
//!
//! ```sh
//! cargo run --example fan_out            # 10,000 requests
//! cargo run --example fan_out -- 2000    # or any other number
//! ```
//!
//! The example starts a small line-based server on `127.0.0.1`: a request is
//! a connection that sends a number `n`; the reply is `n` and `n²`. Each
//! request opens its own connection, so the number of requests in flight is
//! the number of sockets open. It prints the total time, the most requests in
//! flight at once (counted by the client and, independently, by the server),
//! how many requests finished out of input order, and checks that the results
//! came back in input order all the same.
//!
//! Then it compares with no limit at all, but only if `ulimit -n` allows it:
//! without a limit every request holds a socket at once, twice over (client and
//! server run in this one process), and running out of file descriptors would
//! fail the gather. If the limit is too low it says so instead.
//!
//! Takes about a second in a debug build.

use std::error::Error;
use std::io;
use std::net::SocketAddr;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use safe_gather::safe_gather;
use smol::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use smol::net::{TcpListener, TcpStream};

const IN_FLIGHT_LIMIT: usize = 64;

/// A deadline for the unlimited run: thousands of simultaneous connections
/// can overflow the listen backlog, and retried SYNs take seconds.
const UNLIMITED_TIMEOUT: Duration = Duration::from_secs(15);

fn main() -> Result<(), Box<dyn Error>> {
    let requests: usize = match std::env::args().nth(1) {
        Some(arg) => arg
            .parse()
            .map_err(|_| format!("not a number of requests: {arg}"))?,
        None => 10_000,
    };
    smol::block_on(async {
        println!("{requests} requests, one connection each, at most {IN_FLIGHT_LIMIT} in flight:");
        let server = Server::start().await?;
        let client = ClientStats::default();
        let started = Instant::now();
        let replies = safe_gather((0..requests).map(|n| request(server.address, n, &client)))
            .limit(IN_FLIGHT_LIMIT)
            .await?;
        report(started.elapsed(), &replies, &client, &server);

        println!("\nThe same {requests} requests with no limit:");
        let needed = 2 * requests + 64;
        match open_file_limit() {
            Some(limit) if limit >= needed => {
                let server = Server::start().await?;
                let client = ClientStats::default();
                let started = Instant::now();
                let outcome =
                    safe_gather((0..requests).map(|n| request(server.address, n, &client)))
                        .timeout(UNLIMITED_TIMEOUT)
                        .await;
                match outcome {
                    Ok(replies) => report(started.elapsed(), &replies, &client, &server),
                    Err(error) => println!("  failed after {:?}: {error}", started.elapsed()),
                }
            }
            Some(limit) => println!(
                "  skipped: it could need up to {needed} file descriptors at once (both ends \
                 of every\n  connection live in this process), and `ulimit -n` is {limit}: \
                 the gather could fail\n  with \"Too many open files\". Bounding that is \
                 what .limit(n) is for."
            ),
            None => println!(
                "  skipped: could not read `ulimit -n`, and it needs about {needed} open files"
            ),
        }
        Ok(())
    })
}

/// One request's answer, as the server gave it.
struct Reply {
    /// The number the server says it was asked about.
    request: usize,
    square: u64,
    /// This request was the `finish_rank`-th to finish (from 0).
    finish_rank: usize,
}

/// Sends `n` on a fresh connection and reads the reply.
async fn request(server: SocketAddr, n: usize, stats: &ClientStats) -> io::Result<Reply> {
    let _in_flight = stats.enter();
    let mut stream = TcpStream::connect(server).await?;
    stream.write_all(format!("{n}\n").as_bytes()).await?;
    let mut line = String::new();
    BufReader::new(stream).read_line(&mut line).await?;
    let finish_rank = stats.finished.fetch_add(1, Ordering::Relaxed);

    let malformed = || io::Error::new(io::ErrorKind::InvalidData, format!("bad reply {line:?}"));
    let (request, square) = line.trim().split_once(' ').ok_or_else(malformed)?;
    Ok(Reply {
        request: request.parse().map_err(|_| malformed())?,
        square: square.parse().map_err(|_| malformed())?,
        finish_rank,
    })
}

fn report(elapsed: Duration, replies: &[Reply], client: &ClientStats, server: &Server) {
    let in_input_order = replies
        .iter()
        .enumerate()
        .all(|(n, reply)| reply.request == n && reply.square == (n as u64).pow(2));
    let finished_out_of_order = replies
        .iter()
        .enumerate()
        .filter(|(n, reply)| reply.finish_rank != *n)
        .count();
    let per_second = replies.len() as f64 / elapsed.as_secs_f64();
    println!(
        "  total time            {} ms ({per_second:.0} requests/s)",
        elapsed.as_millis()
    );
    println!(
        "  most in flight        {} (client's count), {} (server's count of open connections)",
        client.most_in_flight.load(Ordering::Relaxed),
        server.stats.most_open.load(Ordering::Relaxed),
    );
    println!(
        "  finish order          {finished_out_of_order} of {} requests finished out of input order",
        replies.len()
    );
    println!(
        "  results               {} replies, {}",
        replies.len(),
        if in_input_order {
            "in input order: reply n answers request n"
        } else {
            "NOT in input order"
        }
    );
}

/// Counts kept by the client side.
#[derive(Default)]
struct ClientStats {
    in_flight: AtomicUsize,
    most_in_flight: AtomicUsize,
    finished: AtomicUsize,
}

impl ClientStats {
    /// Counts a request in flight until the returned guard is dropped (when
    /// the request finishes, or is dropped by the gather).
    fn enter(&self) -> InFlight<'_> {
        let now = self.in_flight.fetch_add(1, Ordering::Relaxed) + 1;
        self.most_in_flight.fetch_max(now, Ordering::Relaxed);
        InFlight(&self.in_flight)
    }
}

struct InFlight<'a>(&'a AtomicUsize);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The server: one task per connection on smol's executor thread.
struct Server {
    address: SocketAddr,
    stats: Arc<ServerStats>,
}

#[derive(Default)]
struct ServerStats {
    open: AtomicUsize,
    most_open: AtomicUsize,
}

impl Server {
    async fn start() -> io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let stats = Arc::new(ServerStats::default());
        let counts = Arc::clone(&stats);
        smol::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let now = counts.open.fetch_add(1, Ordering::Relaxed) + 1;
                counts.most_open.fetch_max(now, Ordering::Relaxed);
                let counts = Arc::clone(&counts);
                smol::spawn(async move {
                    // A client that sends garbage or vanishes only loses its
                    // own reply; the server carries on.
                    let _ = answer(stream).await;
                    counts.open.fetch_sub(1, Ordering::Relaxed);
                })
                .detach();
            }
        })
        .detach();
        Ok(Server { address, stats })
    }
}

/// Reads `n`, replies `n n²`, and closes the connection.
async fn answer(mut stream: TcpStream) -> io::Result<()> {
    let mut line = String::new();
    BufReader::new((&mut stream).take(32))
        .read_line(&mut line)
        .await?;
    let n: u64 = line
        .trim()
        .parse()
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "not a number"))?;
    stream
        .write_all(format!("{n} {}\n", n * n).as_bytes())
        .await
}

/// The soft limit on open files, as `ulimit -n` reports it ("unlimited" is
/// `usize::MAX`), or `None` if it cannot tell.
fn open_file_limit() -> Option<usize> {
    let output = Command::new("sh").args(["-c", "ulimit -n"]).output().ok()?;
    let limit = String::from_utf8(output.stdout).ok()?;
    match limit.trim() {
        "unlimited" => Some(usize::MAX),
        number => number.parse().ok(),
    }
}
