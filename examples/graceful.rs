//! A server's shutdown with a grace period, over real TCP on loopback, on
//! tokio: when one worker fails, the others get time to flush and say
//! goodbye instead of being dropped on the spot.
//!
//! ```sh
//! cargo run --example graceful
//! ```
//!
//! Four workers each serve one connected client, all in one gather:
//!
//! ```text
//! safe_gather(workers).grace(Duration::from_millis(200), || token.cancel())
//! ```
//!
//! * `billing` fails: its client sends a negative charge. That is the
//!   gather's first error, so it cancels: it calls `on_cancel`, which
//!   cancels the `CancellationToken` that every worker selects on.
//! * `ingest` and `search` see the token, flush what they have buffered,
//!   send their client `BYE` and wait for it to hang up, all within the
//!   grace period: async cleanup, which a `Drop` could not do.
//! * `export` is stuck on an upstream that never answers and never looks at
//!   the token. When the grace period ends, the gather drops it, and
//!   dropping it closes its client's connection, without a goodbye.
//!
//! The gather then resolves to the error that began the cancellation,
//! `Failed { index: 2, .. }`; without `.grace(..)` it would have dropped
//! every worker at once, and no client would have heard `BYE`. Prints
//! outcomes, not times. Takes about a quarter of a second.

use std::cell::Cell;
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use safe_gather::safe_gather;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

/// How long the workers have, once told to stop, to finish their cleanup.
const GRACE: Duration = Duration::from_millis(200);

/// What a worker does with its client's requests, and how it stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Job {
    /// Buffers entries; flushing them at shutdown takes this long.
    Buffer { flush: Duration },
    /// Takes charges, and fails on a negative one.
    Billing,
    /// Forwards one request upstream and waits for the answer, ignoring the
    /// token: the worker a grace period has to give up on.
    Export,
}

struct Worker {
    name: &'static str,
    job: Job,
    /// What its client sends, each line after the pause before it.
    requests: &'static [(Duration, &'static str)],
}

const WORKERS: [Worker; 4] = [
    Worker {
        name: "ingest",
        job: Job::Buffer { flush: ms(20) },
        requests: &[(ms(0), "put a"), (ms(0), "put b"), (ms(0), "put c")],
    },
    Worker {
        name: "search",
        job: Job::Buffer { flush: ms(80) },
        requests: &[(ms(0), "index d"), (ms(0), "index e")],
    },
    Worker {
        name: "billing",
        job: Job::Billing,
        requests: &[(ms(0), "charge 12"), (ms(50), "charge -5")],
    },
    Worker {
        name: "export",
        job: Job::Export,
        requests: &[(ms(0), "export all")],
    },
];

#[tokio::main]
async fn main() -> io::Result<()> {
    let server = TcpListener::bind("127.0.0.1:0").await?;
    let address = server.local_addr()?;
    // Connections to it are accepted by the kernel and never answered.
    let upstream = TcpListener::bind("127.0.0.1:0").await?;
    let upstream_address = upstream.local_addr()?;

    let mut connections = Vec::new();
    let mut clients = Vec::new();
    for worker in &WORKERS {
        let (sent, first_requests_sent) = oneshot::channel();
        clients.push(tokio::spawn(client(address, worker.requests, sent)));
        connections.push(server.accept().await?.0);
        // Each worker has its client's first requests waiting when it starts.
        first_requests_sent.await.expect("the client connected")?;
    }
    println!(
        "{} workers up on loopback, one client connected to each",
        WORKERS.len()
    );

    let token = CancellationToken::new();
    println!(
        "\nsafe_gather(workers).grace({} ms, || token.cancel()):",
        GRACE.as_millis()
    );
    let result = safe_gather(
        WORKERS
            .iter()
            .zip(connections)
            .map(|(worker, connection)| serve(worker, connection, &token, upstream_address)),
    )
    .grace(GRACE, || {
        println!("  on_cancel: token cancelled; the others have until the end of the grace period");
        token.cancel();
    })
    .await;
    println!("=> {result:?}");

    println!("\nwhat each client saw:");
    for (worker, client) in WORKERS.iter().zip(clients) {
        let seen = client.await.expect("the client did not panic")?;
        println!("  {:<8} {seen}", worker.name);
    }
    Ok(())
}

/// Serves one client until it fails, or until the token is cancelled and
/// its cleanup is done; says so if the gather drops it before that.
async fn serve(
    worker: &Worker,
    connection: TcpStream,
    token: &CancellationToken,
    upstream: SocketAddr,
) -> Result<String, String> {
    let name = worker.name;
    let finished = Cell::new(false);
    // A `Drop` cannot wait for anything; it can say what was left undone.
    let _cut_off = OnDrop(|| {
        if !finished.get() {
            println!(
                "  {name}: dropped when the grace period ended, still waiting on its upstream"
            );
        }
    });
    let outcome = work(worker, connection, token, upstream).await;
    finished.set(true);
    outcome
}

async fn work(
    worker: &Worker,
    mut connection: TcpStream,
    token: &CancellationToken,
    upstream: SocketAddr,
) -> Result<String, String> {
    let name = worker.name;
    let fail = |error: io::Error| format!("{name}: {error}");
    let (from_client, mut to_client) = connection.split();
    let mut requests = BufReader::new(from_client).lines();
    let mut buffered = 0;
    loop {
        let request = tokio::select! {
            () = token.cancelled(), if worker.job != Job::Export => break,
            request = requests.next_line() => request.map_err(fail)?,
        };
        let Some(request) = request else {
            return Err(format!("{name}: its client left"));
        };
        match worker.job {
            Job::Buffer { .. } => buffered += 1,
            Job::Billing if request.starts_with("charge -") => {
                println!("  {name} failed: refused {request:?}");
                return Err(format!("{name}: refused a negative charge ({request})"));
            }
            Job::Billing => {}
            Job::Export => {
                let mut upstream = TcpStream::connect(upstream).await.map_err(fail)?;
                upstream
                    .write_all(format!("{request}\n").as_bytes())
                    .await
                    .map_err(fail)?;
                // Never answered; and this worker does not listen to the token.
                let mut answer = Vec::new();
                upstream.read_to_end(&mut answer).await.map_err(fail)?;
            }
        }
        to_client.write_all(b"ok\n").await.map_err(fail)?;
    }

    // Told to stop: the async cleanup the grace period is for.
    if let Job::Buffer { flush } = worker.job {
        // Stands for writing the buffered entries out.
        tokio::time::sleep(flush).await;
    }
    to_client.write_all(b"BYE\n").await.map_err(fail)?;
    // Whatever the client still sends is of no interest: this waits for it
    // to hang up.
    let mut leftovers = Vec::new();
    requests
        .into_inner()
        .read_to_end(&mut leftovers)
        .await
        .map_err(fail)?;
    let report = format!(
        "flushed {}, said BYE, its client hung up",
        count(buffered, "entry", "entries")
    );
    println!("  {name}: {report}");
    Ok(report)
}

/// What a client saw of its server at the end.
enum Seen {
    Goodbye,
    ClosedWithoutGoodbye,
}

impl fmt::Display for Seen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Seen::Goodbye => "BYE, then hung up",
            Seen::ClosedWithoutGoodbye => "its connection closed, without BYE",
        })
    }
}

/// Sends `requests` (reporting on `sent` once the first ones, those without
/// a pause, are out), then reads the server's lines until `BYE` or until the
/// connection closes.
async fn client(
    server: SocketAddr,
    requests: &'static [(Duration, &'static str)],
    sent: oneshot::Sender<io::Result<()>>,
) -> io::Result<Seen> {
    let mut connection = TcpStream::connect(server).await?;
    let (from_server, mut to_server) = connection.split();
    let mut lines = BufReader::new(from_server).lines();
    let mut sent = Some(sent);
    let sending = async {
        for &(pause, request) in requests {
            if !pause.is_zero() {
                if let Some(sent) = sent.take() {
                    let _ = sent.send(Ok(()));
                }
                tokio::time::sleep(pause).await;
            }
            to_server
                .write_all(format!("{request}\n").as_bytes())
                .await?;
        }
        if let Some(sent) = sent.take() {
            let _ = sent.send(Ok(()));
        }
        // Then only listens.
        std::future::pending::<io::Result<()>>().await
    };
    let listening = async {
        loop {
            match lines.next_line().await {
                Ok(Some(line)) if line == "BYE" => return Ok(Seen::Goodbye),
                Ok(Some(_ok)) => {}
                Ok(None) => return Ok(Seen::ClosedWithoutGoodbye),
                // A server that closes with requests still unread resets the
                // connection instead: closed all the same.
                Err(error) if error.kind() == io::ErrorKind::ConnectionReset => {
                    return Ok(Seen::ClosedWithoutGoodbye)
                }
                Err(error) => return Err(error),
            }
        }
    };
    // Returning hangs up.
    tokio::select! {
        seen = listening => seen,
        failed = sending => failed.map(|()| unreachable!("sending never ends")),
    }
}

/// Runs a closure when dropped.
struct OnDrop<F: FnMut()>(F);

impl<F: FnMut()> Drop for OnDrop<F> {
    fn drop(&mut self) {
        (self.0)();
    }
}

/// "1 entry", "3 entries".
fn count(n: usize, one: &str, many: &str) -> String {
    match n {
        1 => format!("1 {one}"),
        _ => format!("{n} {many}"),
    }
}

const fn ms(millis: u64) -> Duration {
    Duration::from_millis(millis)
}
