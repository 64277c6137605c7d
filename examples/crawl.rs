//! A crawler: 3,000 pages from a local HTTP server, at most 64 requests at
//! once, handled as they land, with progress as it goes; and the same crawl
//! when one page answers `500`, which stops it at once.
//!
//! ```sh
//! cargo run --example crawl
//! ```
//!
//! The crawl is one stream:
//!
//! ```text
//! safe_gather(urls.iter().map(|url| client.get(server, url))).limit(64).unordered()
//! ```
//!
//! The requests are made from the iterator as slots free up, so at most 64
//! exist at any moment, whatever the number of pages; each page comes out as
//! `Ok((index, page))` when its response is in, in completion order, and is
//! handled then (here: counted, with a line every 500 pages) rather than kept
//! until the end. In the second crawl page 1,100 answers `500 Internal
//! Server Error`: that `Err` is the stream's last item, it names the page's
//! index, and before the stream hands it out it has dropped every other
//! request in flight (each closing its connection); the pages not yet
//! requested never are.
//!
//! It runs on smol: the server on smol's executor thread, the crawl on the
//! main thread, one connection per request over loopback. The output is the
//! same on every run (it prints no times). Takes about a second.

use std::cell::Cell;
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::pin::pin;

use safe_gather::{safe_gather, GatherError};
use smol::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use smol::net::{TcpListener, TcpStream};
use smol::stream::StreamExt;

/// How many pages the site has.
const PAGES: usize = 3_000;
/// How many requests may be in flight at once.
const LIMIT: usize = 64;
/// A line of progress every this many pages.
const PROGRESS_EVERY: usize = 500;
/// The page that is broken in the second crawl.
const BROKEN: usize = 1_100;

fn main() -> io::Result<()> {
    smol::block_on(async {
        let urls: Vec<String> = (0..PAGES).map(|n| format!("/pages/{n}")).collect();

        println!("Crawl 1: {PAGES} pages, at most {LIMIT} requests at once");
        let server = start_server(None).await?;
        crawl(server, &urls).await;

        println!("\nCrawl 2: the same pages, and page {BROKEN} answers 500");
        let server = start_server(Some(BROKEN)).await?;
        crawl(server, &urls).await;
        Ok(())
    })
}

/// Fetches every page in `urls`, at most `LIMIT` at once, and reports on the
/// way and at the end.
async fn crawl(server: SocketAddr, urls: &[String]) {
    let client = Client::default();
    let mut pages = pin!(safe_gather(urls.iter().map(|url| client.get(server, url)))
        .limit(LIMIT)
        .unordered());
    let (mut landed, mut bytes, mut index_sum) = (0, 0, 0);
    while let Some(item) = pages.next().await {
        match item {
            Ok((index, page)) => {
                landed += 1;
                bytes += page.len();
                index_sum += index;
                if landed % PROGRESS_EVERY == 0 {
                    println!("  {landed:>5}/{} pages", urls.len());
                }
            }
            Err(GatherError::Failed { index, error }) => {
                // Every other request was dropped before this item came out.
                let dropped = client.dropped.get();
                assert_eq!(client.in_flight.get(), 0);
                assert_eq!(client.made.get(), landed + 1 + dropped);
                println!("  => Err(Failed {{ index: {index}, .. }}): {error}");
                println!(
                    "     before it came out the stream had dropped the {dropped} other requests \
                     in flight,\n     closing their connections; the pages not yet requested \
                     never will be"
                );
                return;
            }
            // `GatherError` is `#[non_exhaustive]`; there is no deadline here.
            Err(other) => {
                println!("  => Err: {other}");
                return;
            }
        }
    }
    let every_page_once = landed == urls.len() && index_sum == urls.len() * (urls.len() - 1) / 2;
    println!(
        "  => {landed} pages, {bytes} bytes, every page once: {}; at most {} requests at once",
        if every_page_once { "yes" } else { "NO" },
        client.most_in_flight.get(),
    );
}

/// Counts kept by the crawler: requests made, in flight, and dropped before
/// they finished.
#[derive(Default)]
struct Client {
    made: Cell<usize>,
    in_flight: Cell<usize>,
    most_in_flight: Cell<usize>,
    dropped: Cell<usize>,
}

impl Client {
    /// `GET path` on a fresh connection: the body of a `200`, or an error.
    /// The request counts as made, and in flight, from the moment the
    /// gather takes it from the iterator.
    fn get<'a>(
        &'a self,
        server: SocketAddr,
        path: &'a str,
    ) -> impl std::future::Future<Output = Result<String, FetchError>> + 'a {
        let in_flight = InFlight::new(self);
        async move {
            let result = fetch(server, path).await;
            in_flight.finish();
            result
        }
    }
}

/// A request between its making and its end: if it is dropped unfinished,
/// it counts as dropped.
struct InFlight<'a> {
    client: &'a Client,
    finished: bool,
}

impl<'a> InFlight<'a> {
    fn new(client: &'a Client) -> Self {
        client.made.set(client.made.get() + 1);
        client.in_flight.set(client.in_flight.get() + 1);
        client
            .most_in_flight
            .set(client.most_in_flight.get().max(client.in_flight.get()));
        InFlight {
            client,
            finished: false,
        }
    }

    fn finish(mut self) {
        self.finished = true;
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        let client = self.client;
        client.in_flight.set(client.in_flight.get() - 1);
        if !self.finished {
            client.dropped.set(client.dropped.get() + 1);
        }
    }
}

async fn fetch(server: SocketAddr, path: &str) -> Result<String, FetchError> {
    let failed = |error: io::Error| FetchError::Io {
        path: path.to_owned(),
        error,
    };
    let mut stream = TcpStream::connect(server).await.map_err(failed)?;
    let request = format!("GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n");
    stream.write_all(request.as_bytes()).await.map_err(failed)?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await.map_err(failed)?;
    let (head, body) = response
        .split_once("\r\n\r\n")
        .ok_or_else(|| failed(io::ErrorKind::InvalidData.into()))?;
    // "HTTP/1.0 200 OK": the status is what follows the version.
    let status_line = head.lines().next().unwrap_or_default();
    let status = status_line.split_once(' ').map_or("", |(_, status)| status);
    if status.starts_with("200 ") {
        Ok(body.to_owned())
    } else {
        Err(FetchError::Status {
            path: path.to_owned(),
            status: status.to_owned(),
        })
    }
}

/// Why one request failed.
#[derive(Debug)]
enum FetchError {
    Io { path: String, error: io::Error },
    Status { path: String, status: String },
}

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FetchError::Io { path, error } => write!(f, "GET {path}: {error}"),
            FetchError::Status { path, status } => write!(f, "GET {path}: HTTP {status}"),
        }
    }
}

impl std::error::Error for FetchError {}

/// Starts the site on smol's executor thread: `/pages/<n>` for every `n`
/// below `PAGES`, except `broken`, which answers `500`.
async fn start_server(broken: Option<usize>) -> io::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    smol::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            // A client that hangs up (a dropped request) only loses its own
            // response; the server carries on.
            smol::spawn(async move { answer(stream, broken).await.ok() }).detach();
        }
    })
    .detach();
    Ok(address)
}

async fn answer(mut stream: TcpStream, broken: Option<usize>) -> io::Result<()> {
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
    let page = request_line
        .split(' ')
        .nth(1)
        .and_then(|path| path.strip_prefix("/pages/"))
        .and_then(|n| n.parse::<usize>().ok())
        .filter(|&n| n < PAGES);
    let (status, body) = match page {
        Some(n) if Some(n) == broken => ("500 Internal Server Error", String::new()),
        Some(n) => (
            "200 OK",
            format!(
                "<html><title>Page {n}</title><a href=\"/pages/{}\">next</a></html>",
                n + 1
            ),
        ),
        None => ("404 Not Found", String::new()),
    };
    let response = format!(
        "HTTP/1.0 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(response.as_bytes()).await
}
