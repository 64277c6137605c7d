//! Data fetching where every piece must arrive, over real HTTP on loopback.
//!
//! ```sh
//! cargo run --example fetch
//! ```
//!
//! The example starts a tiny HTTP/1.0 server on `127.0.0.1` (on a port the OS
//! picks), then loads a chat channel's page the way the Python pattern does,
//! `safe_gather!(channel_info(id), front_row(id), participants(id))` with a
//! 500 ms timeout, one connection per request. Three runs:
//!
//! 1. Channel 7 has everything: the gather resolves to one tuple.
//! 2. Channel 9 has no front row (404): the gather fails at once with
//!    `GatherError::Failed { index: 1, .. }`. The other two requests are still
//!    waiting for their responses; the gather drops them, which closes their
//!    sockets, and the server's log shows their clients hanging up.
//! 3. Channel 8's participant count takes 3 s: at 500 ms the gather gives up
//!    with `GatherError::TimedOut { completed: 2, pending: 1 }` and drops the
//!    slow request.
//!
//! It runs on smol: the server on smol's executor thread, the gather on the
//! main thread. Times are milliseconds since the run started, rounded to 10 ms.
//! Takes about a second.

use std::error::Error;
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use safe_gather::{safe_gather, GatherError};
use smol::channel::{Receiver, Sender};
use smol::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use smol::net::{TcpListener, TcpStream};
use smol::Timer;

/// What the server holds, and how long it takes to answer each: the path, the
/// latency in milliseconds, the body. Any other path is a 404 after 20 ms.
const RESOURCES: &[(&str, u64, &str)] = &[
    ("/channels/7/info", 120, "#rust"),
    ("/channels/7/front_row", 60, "ana,bo"),
    ("/channels/7/participants", 90, "412"),
    ("/channels/8/info", 120, "#async"),
    ("/channels/8/front_row", 60, "cy"),
    ("/channels/8/participants", 3000, "1289"),
    ("/channels/9/info", 120, "#embedded"),
    ("/channels/9/participants", 90, "97"),
];

/// The deadline for loading one channel's page.
const PAGE_TIMEOUT: Duration = Duration::from_millis(500);

/// The pieces of a page, in the order `load_channel` gathers them.
const PIECES: [&str; 3] = ["channel_info", "front_row", "participants"];

fn main() -> io::Result<()> {
    smol::block_on(async {
        let (server, server_log) = start_server().await?;
        println!("server listening on http://{server}");
        for (heading, channel) in [
            ("Run 1: channel 7, every piece there", 7),
            ("Run 2: channel 9, its front row is missing (404)", 9),
            ("Run 3: channel 8, its participant count takes 3 s", 8),
        ] {
            println!("\n{heading}");
            let client = Client {
                server,
                run_started: Instant::now(),
            };
            match load_channel(&client, channel).await {
                Ok((info, front_row, participants)) => client.say(format_args!(
                    "=> Ok: {info}, front row {front_row:?}, {participants} participants"
                )),
                Err(GatherError::Failed { index, error }) => client.say(format_args!(
                    "=> Err(Failed): child {index} ({}) failed with {error}",
                    PIECES[index]
                )),
                Err(GatherError::TimedOut { completed, pending }) => client.say(format_args!(
                    "=> Err(TimedOut): {completed} pieces arrived, {pending} still \
                     pending at the {} ms deadline",
                    PAGE_TIMEOUT.as_millis()
                )),
                // `GatherError` is `#[non_exhaustive]`.
                Err(other) => client.say(format_args!("=> Err: {other}")),
            }
            print_server_log(&server_log, client.run_started, PIECES.len()).await;
        }
        Ok(())
    })
}

/// One channel's page: all three pieces or an error, within `PAGE_TIMEOUT`.
async fn load_channel(
    client: &Client,
    channel: u32,
) -> Result<(String, Vec<String>, u32), GatherError<FetchError>> {
    safe_gather!(
        client.channel_info(channel),
        client.front_row(channel),
        client.participants(channel),
    )
    .timeout(PAGE_TIMEOUT)
    .await
}

/// An HTTP client for one run of the example.
struct Client {
    server: SocketAddr,
    run_started: Instant,
}

impl Client {
    async fn channel_info(&self, channel: u32) -> Result<String, FetchError> {
        self.get(&format!("/channels/{channel}/info")).await
    }

    async fn front_row(&self, channel: u32) -> Result<Vec<String>, FetchError> {
        let body = self.get(&format!("/channels/{channel}/front_row")).await?;
        Ok(body.split(',').map(str::to_owned).collect())
    }

    async fn participants(&self, channel: u32) -> Result<u32, FetchError> {
        let path = format!("/channels/{channel}/participants");
        let body = self.get(&path).await?;
        body.parse().map_err(|_| FetchError::Malformed { path })
    }

    /// `GET path` on a fresh connection: the body of a 200, or an error.
    async fn get(&self, path: &str) -> Result<String, FetchError> {
        let io_error = |source: io::Error| FetchError::Io {
            path: path.to_owned(),
            source,
        };
        let mut stream = TcpStream::connect(self.server).await.map_err(io_error)?;
        // Only the gather stops a request early, by dropping it (which closes
        // `stream`): say so when that happens.
        let in_flight = OnDrop::new(|| {
            self.say(format_args!(
                "dropped GET {path} while it waited for the response"
            ))
        });
        let request = format!("GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n");
        stream
            .write_all(request.as_bytes())
            .await
            .map_err(io_error)?;
        let mut response = String::new();
        stream
            .read_to_string(&mut response)
            .await
            .map_err(io_error)?;
        in_flight.defuse();

        let malformed = || FetchError::Malformed {
            path: path.to_owned(),
        };
        let (head, body) = response.split_once("\r\n\r\n").ok_or_else(malformed)?;
        let status: u16 = head
            .split(' ')
            .nth(1)
            .and_then(|code| code.parse().ok())
            .ok_or_else(malformed)?;
        match status {
            200 => Ok(body.to_owned()),
            _ => Err(FetchError::Status {
                path: path.to_owned(),
                status,
            }),
        }
    }

    fn say(&self, event: impl fmt::Display) {
        println!(
            "  client {} {event}",
            stamp(self.run_started, Instant::now())
        );
    }
}

/// Why one request failed.
#[derive(Debug)]
enum FetchError {
    Io { path: String, source: io::Error },
    Status { path: String, status: u16 },
    Malformed { path: String },
}

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FetchError::Io { path, source } => write!(f, "GET {path}: {source}"),
            FetchError::Status { path, status } => write!(f, "GET {path}: HTTP {status}"),
            FetchError::Malformed { path } => write!(f, "GET {path}: malformed response"),
        }
    }
}

impl Error for FetchError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            FetchError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// One line of the server's log. The server runs on another thread, so its
/// lines travel through a channel and are printed after each run rather than
/// interleaved at random with the client's.
struct ServerEvent {
    at: Instant,
    what: String,
}

/// Starts the HTTP server on smol's executor thread.
async fn start_server() -> io::Result<(SocketAddr, Receiver<ServerEvent>)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    let (log, log_reader) = smol::channel::unbounded();
    smol::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            smol::spawn(serve(stream, log.clone())).detach();
        }
    })
    .detach();
    Ok((address, log_reader))
}

/// Serves one request and logs what became of it.
async fn serve(stream: TcpStream, log: Sender<ServerEvent>) {
    let what = answer(stream)
        .await
        .unwrap_or_else(|error| format!("I/O error: {error}"));
    // The channel is unbounded, and the reader outlives the runs: this
    // cannot fail in a way worth reporting.
    let _ = log
        .send(ServerEvent {
            at: Instant::now(),
            what,
        })
        .await;
}

async fn answer(mut stream: TcpStream) -> io::Result<String> {
    let mut reader = BufReader::new(stream.clone());
    let mut request_line = String::new();
    reader.read_line(&mut request_line).await?;
    // Skip the headers, up to the blank line (or the end of the stream).
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).await? <= 2 {
            break;
        }
    }
    let path = request_line.split(' ').nth(1).unwrap_or("").to_owned();
    let (latency, body) = RESOURCES
        .iter()
        .find(|(known, ..)| *known == path)
        .map_or((20, None), |(_, latency, body)| (*latency, Some(*body)));

    // Take `latency` to prepare the answer, but watch the connection
    // meanwhile: a client that hangs up will never read it.
    let hung_up = smol::future::or(
        async {
            Timer::after(Duration::from_millis(latency)).await;
            false
        },
        async {
            let mut unexpected = [0; 64];
            while let Ok(1..) = reader.read(&mut unexpected).await {}
            true
        },
    )
    .await;
    if hung_up {
        return Ok(format!(
            "GET {path}: the client hung up, response never sent"
        ));
    }

    let (status, body) = match body {
        Some(body) => ("200 OK", body),
        None => ("404 Not Found", ""),
    };
    let response = format!(
        "HTTP/1.0 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(response.as_bytes()).await?;
    Ok(format!("GET {path}: answered {status}"))
}

/// Prints the server's account of the last run: one line per connection.
async fn print_server_log(log: &Receiver<ServerEvent>, run_started: Instant, connections: usize) {
    let mut events = Vec::new();
    for _ in 0..connections {
        // Every connection gets its line within milliseconds; the timeout only
        // keeps a broken run from hanging the example.
        let next = smol::future::or(async { log.recv().await.ok() }, async {
            Timer::after(Duration::from_secs(2)).await;
            None
        });
        match next.await {
            Some(event) => events.push(event),
            None => break,
        }
    }
    events.sort_by_key(|event| event.at);
    for event in &events {
        println!("  server {} {}", stamp(run_started, event.at), event.what);
    }
    if events.len() < connections {
        println!(
            "  server: {} connection(s) unaccounted for",
            connections - events.len()
        );
    }
}

/// `at` as milliseconds since `start`, rounded to 10 ms so that runs look
/// alike despite scheduling jitter.
fn stamp(start: Instant, at: Instant) -> String {
    let rounded = (at.saturating_duration_since(start).as_millis() + 5) / 10 * 10;
    format!("[{rounded:>3} ms]")
}

/// Runs a closure when dropped, unless defused first.
struct OnDrop<F: FnOnce()>(Option<F>);

impl<F: FnOnce()> OnDrop<F> {
    fn new(action: F) -> Self {
        OnDrop(Some(action))
    }

    fn defuse(mut self) {
        self.0 = None;
    }
}

impl<F: FnOnce()> Drop for OnDrop<F> {
    fn drop(&mut self) {
        if let Some(action) = self.0.take() {
            action();
        }
    }
}
