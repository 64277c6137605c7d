//! Graceful shutdown of several local services that must not wait forever,
//! over real TCP on loopback, on tokio.
//!
//! ```sh
//! cargo run --example shutdown
//! ```
//!
//! Four services each listen on `127.0.0.1` with clients connected to them.
//! Shutting one down means: stop accepting, send each client `BYE`, wait until
//! each has finished and hung up, then flush what needs flushing. All four
//! shut down at once, the way the Python pattern does with
//! `safe_gather(*shutdowns, return_exceptions=True, timeout=...)`:
//!
//! ```text
//! safe_gather(services.map(Service::shut_down)).settled().timeout(500 ms)
//! ```
//!
//! * `api` and `chat`: every client leaves politely: `Ok`.
//! * `metrics`: its clients leave, but the collector it flushes its counters
//!   to is down (connection refused): `Err(SlotError::Failed(..))`.
//! * `jobs`: one client ignores `BYE` and never hangs up, so this shutdown
//!   is still waiting at the deadline: `Err(SlotError::TimedOut)`. The gather
//!   drops it, and dropping it closes its sockets (the synchronous cleanup a
//!   `Drop` can do): the stuck client sees its connection close.
//!
//! No shutdown holds up the others, and the gather never fails as a whole.
//! The deadline here is the crate's default timer; on tokio,
//! `.deadline(tokio::time::sleep(d))` works as well. Times are milliseconds
//! since the shutdown began, rounded to 10 ms. Takes about half a second.

use std::cell::Cell;
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use safe_gather::{safe_gather, SlotError};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

/// How long the whole shutdown may take.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_millis(500);

#[tokio::main]
async fn main() -> io::Result<()> {
    let collector = address_with_nothing_listening().await?;
    let (stuck_client, stuck_client_saw_close) = oneshot::channel();
    let services = vec![
        Service::start("api", &[ms(20), ms(40), ms(60)], None, None).await?,
        Service::start("chat", &[ms(80), ms(150)], None, None).await?,
        Service::start("metrics", &[ms(10)], Some(collector), None).await?,
        Service::start("jobs", &[ms(30)], None, Some(stuck_client)).await?,
    ];
    let clients: usize = services.iter().map(|service| service.clients.len()).sum();
    println!(
        "{} services up, {clients} clients connected; the metrics collector \
         ({collector}) is down",
        services.len()
    );
    let names: Vec<_> = services.iter().map(|service| service.name).collect();

    println!(
        "\nsafe_gather(shutdowns).settled().timeout({} ms):",
        SHUTDOWN_TIMEOUT.as_millis()
    );
    let clock = Clock(Instant::now());
    let outcomes = safe_gather(
        services
            .into_iter()
            .map(|service| service.shut_down(&clock)),
    )
    .settled()
    .timeout(SHUTDOWN_TIMEOUT)
    .await;

    clock.say("=> the gather returned, one outcome per service:");
    for (name, outcome) in names.iter().zip(outcomes) {
        match outcome {
            Ok(report) => println!("    {name:<8} Ok: {report}"),
            Err(SlotError::Failed(error)) => println!("    {name:<8} Err(Failed): {error}"),
            Err(SlotError::TimedOut) => println!("    {name:<8} Err(TimedOut): cut off"),
        }
    }

    // The jobs client that ignored `BYE` learns that its connection is gone
    // only because dropping the timed-out shutdown closed the server's socket.
    match tokio::time::timeout(Duration::from_secs(1), stuck_client_saw_close).await {
        Ok(Ok(closed_at)) => clock.say_at(
            closed_at,
            "the jobs client that ignored BYE saw its connection close",
        ),
        _ => clock.say("the jobs client that ignored BYE never saw its connection close"),
    }
    Ok(())
}

/// A running service: its listener and the server side of each client's
/// connection.
struct Service {
    name: &'static str,
    listener: TcpListener,
    clients: Vec<TcpStream>,
    /// Where the service flushes its state as the last step of shutting down.
    flush_to: Option<SocketAddr>,
}

impl Service {
    /// Starts a service with one polite client per delay in `polite_clients`
    /// (each takes that long to finish its work after `BYE`), plus, if
    /// `stuck_client` is given, one client that ignores `BYE` and reports
    /// when it sees the connection close instead.
    async fn start(
        name: &'static str,
        polite_clients: &[Duration],
        flush_to: Option<SocketAddr>,
        stuck_client: Option<oneshot::Sender<Instant>>,
    ) -> io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let mut clients = Vec::new();
        for &finish_work in polite_clients {
            tokio::spawn(polite_client(address, finish_work));
            clients.push(listener.accept().await?.0);
        }
        if let Some(report_close) = stuck_client {
            tokio::spawn(stuck_client_task(address, report_close));
            clients.push(listener.accept().await?.0);
        }
        Ok(Service {
            name,
            listener,
            clients,
            flush_to,
        })
    }

    /// Stops accepting, says `BYE` to every client, waits for each to hang
    /// up, then flushes. Reports how many clients left.
    async fn shut_down(self, clock: &Clock) -> io::Result<String> {
        let Service {
            name,
            listener,
            mut clients,
            flush_to,
        } = self;
        drop(listener);

        let still_connected = Cell::new(clients.len());
        // Runs only if the gather drops this shutdown before it finishes: a
        // `Drop` cannot wait for anything, but closing sockets is synchronous.
        let _cut_off = OnDrop(Some(|| {
            if still_connected.get() > 0 {
                clock.say(format_args!(
                    "{name}: dropped at the deadline with {} still connected; \
                     its sockets close now",
                    count(still_connected.get(), "client")
                ));
            }
        }));

        for client in &mut clients {
            client.write_all(b"BYE\n").await?;
        }
        for client in &mut clients {
            // Anything a client still sends is of no interest now: this waits
            // for it to hang up.
            let mut leftovers = Vec::new();
            client.read_to_end(&mut leftovers).await?;
            still_connected.set(still_connected.get() - 1);
        }
        clock.say(format_args!(
            "{name}: {} said goodbye",
            count(clients.len(), "client")
        ));

        if let Some(collector) = flush_to {
            let flushed = async {
                let mut connection = TcpStream::connect(collector).await?;
                connection.write_all(b"requests_total 1289\n").await
            };
            if let Err(error) = flushed.await {
                clock.say(format_args!("{name}: flushing failed: {error}"));
                return Err(io::Error::new(
                    error.kind(),
                    format!("flushing counters to {collector}: {error}"),
                ));
            }
        }
        Ok(format!("{} left", count(clients.len(), "client")))
    }
}

/// A client that, told `BYE`, takes `finish_work` to wrap up, then hangs up.
async fn polite_client(service: SocketAddr, finish_work: Duration) -> io::Result<()> {
    let mut lines = BufReader::new(TcpStream::connect(service).await?).lines();
    while let Some(line) = lines.next_line().await? {
        if line == "BYE" {
            tokio::time::sleep(finish_work).await;
            return Ok(());
        }
    }
    Ok(())
}

/// A client that ignores `BYE` and stays connected until the service closes
/// the connection, then reports when that happened.
async fn stuck_client_task(
    service: SocketAddr,
    report_close: oneshot::Sender<Instant>,
) -> io::Result<()> {
    let mut lines = BufReader::new(TcpStream::connect(service).await?).lines();
    while lines.next_line().await?.is_some() {}
    // The receiver may have given up waiting; then there is no one to tell.
    let _ = report_close.send(Instant::now());
    Ok(())
}

/// A loopback address that refuses connections: bound once by us, so no one
/// else had it, then released.
async fn address_with_nothing_listening() -> io::Result<SocketAddr> {
    TcpListener::bind("127.0.0.1:0").await?.local_addr()
}

/// Time since the shutdown began.
struct Clock(Instant);

impl Clock {
    fn say(&self, event: impl fmt::Display) {
        self.say_at(Instant::now(), event);
    }

    /// Prints `event` stamped with the time since the clock started,
    /// rounded to 10 ms so that runs look alike despite scheduling jitter.
    fn say_at(&self, at: Instant, event: impl fmt::Display) {
        let rounded = (at.saturating_duration_since(self.0).as_millis() + 5) / 10 * 10;
        println!("  [{rounded:>3} ms] {event}");
    }
}

/// Runs a closure when dropped.
struct OnDrop<F: FnOnce()>(Option<F>);

impl<F: FnOnce()> Drop for OnDrop<F> {
    fn drop(&mut self) {
        if let Some(action) = self.0.take() {
            action();
        }
    }
}

/// "1 client", "3 clients".
fn count(n: usize, noun: &str) -> String {
    match n {
        1 => format!("1 {noun}"),
        _ => format!("{n} {noun}s"),
    }
}

fn ms(millis: u64) -> Duration {
    Duration::from_millis(millis)
}
