//! A tour of `safe-gather`: the four patterns of Python's `safe_gather`, side
//! by side, on smol with real timers.
//!
//! ```sh
//! cargo run --example tour
//! ```
//!
//! 1. All must succeed: three different fetches become one tuple.
//! 2. Fail fast, with a timeout: one failure drops the others at once; a
//!    deadline drops whatever is still running.
//! 3. Partial results (`return_exceptions=True`): every fetch runs, each
//!    reports its own `Ok` or `Err`.
//! 4. Shutdown: settled plus a timeout, so a stuck service cannot hold the
//!    rest hostage.
//!
//! Each line says when it happened, in milliseconds since its section started
//! (rounded to 10 ms, so runs look alike). The "fetches" are timers standing
//! in for network calls; the `fetch`, `shutdown` and `fan_out` examples do the
//! same over real TCP. The whole tour takes about a second.

use std::fmt;
use std::time::{Duration, Instant};

use safe_gather::{safe_gather, GatherError};
use smol::Timer;

fn main() -> Result<(), GatherError<String>> {
    println!("safe-gather tour: smol, real timers; [ms] = time since the section started");
    smol::block_on(async {
        all_must_succeed().await?;
        fail_fast_with_timeout().await;
        partial_results().await;
        shutdown().await;
        Ok(())
    })
}

/// Python: `info, front_row, people = await safe_gather(fetch_channel_info(id), ...)`.
async fn all_must_succeed() -> Result<(), GatherError<String>> {
    let clock = Clock::start("1. All must succeed: safe_gather!(channel, front_row, participants)");
    let (channel, front_row, participants) = safe_gather!(
        fetch(&clock, "channel", ms(30), Ok("#rust")),
        fetch(&clock, "front_row", ms(80), Ok(vec!["ana", "bo"])),
        fetch(&clock, "participants", ms(50), Ok(412)),
    )
    .await?;
    clock.say(format_args!(
        "=> one tuple, in input order: ({channel:?}, {front_row:?}, {participants})"
    ));
    Ok(())
}

/// Python: `await safe_gather(*tasks, timeout=...)`, first when a task fails,
/// then when the deadline passes first.
async fn fail_fast_with_timeout() {
    let clock =
        Clock::start("2a. Fail fast: safe_gather([profile, avatar, history]).timeout(500 ms)");
    let result = safe_gather([
        fetch(&clock, "profile", ms(300), Ok("ana")),
        fetch(&clock, "avatar", ms(50), Err("404 not found".to_string())),
        fetch(&clock, "history", ms(800), Ok("42 posts")),
    ])
    .timeout(ms(500))
    .await;
    clock.say(format_args!(
        "=> {result:?}, without waiting for the slow two"
    ));

    let clock = Clock::start("2b. Deadline: the same fetches, all healthy, .timeout(200 ms)");
    let result = safe_gather([
        fetch(&clock, "profile", ms(50), Ok("ana")),
        fetch(&clock, "avatar", ms(100), Ok("ana.png")),
        fetch(&clock, "history", ms(500), Ok("42 posts")),
    ])
    .timeout(ms(200))
    .await;
    clock.say(format_args!("=> {result:?}"));
}

/// Python: `await safe_gather(*batch, return_exceptions=True)`.
async fn partial_results() {
    let clock = Clock::start("3. Partial results: safe_gather(batch).settled()");
    let outcomes = safe_gather([
        fetch(&clock, "page 1", ms(60), Ok(20)),
        fetch(&clock, "page 2", ms(10), Err("rate limited".to_string())),
        fetch(&clock, "page 3", ms(40), Ok(17)),
    ])
    .settled()
    .await;
    clock.say(format_args!(
        "=> every fetch ran to the end, despite page 2's early error:"
    ));
    for (page, outcome) in (1..).zip(outcomes) {
        match outcome {
            Ok(rows) => println!("           page {page}: Ok({rows} rows), processed"),
            Err(error) => println!("           page {page}: Err({error:?}), logged"),
        }
    }
}

/// Python: `await safe_gather(*(s.shutdown() for s in services), return_exceptions=True, timeout=...)`.
async fn shutdown() {
    let clock = Clock::start("4. Shutdown: safe_gather(shutdowns).settled().timeout(300 ms)");
    let services = [
        ("database", Stop::Clean(ms(40))),
        ("queue", Stop::Fails(ms(80), "broker unreachable")),
        ("cache", Stop::Clean(ms(120))),
        ("worker", Stop::Hangs),
    ];
    let outcomes = safe_gather(services.map(|(name, stop)| shut_down(&clock, name, stop)))
        .settled()
        .timeout(ms(300))
        .await;
    clock.say(format_args!(
        "=> no overall error; one outcome per service:"
    ));
    for ((name, _), outcome) in services.iter().zip(outcomes) {
        println!("           {name:<8} {outcome:?}");
    }
}

/// A stand-in for a network call: answers `reply` after `latency`.
async fn fetch<T: fmt::Debug>(
    clock: &Clock,
    name: &'static str,
    latency: Duration,
    reply: Result<T, String>,
) -> Result<T, String> {
    // Dropping a future is how Rust cancels it: this notice's `Drop` plays
    // the part of Python's `except CancelledError` / `finally`.
    let mut cancelled = CancelNotice {
        clock,
        what: format!(
            "{name} cancelled (would have answered at {} ms)",
            latency.as_millis()
        ),
        armed: true,
    };
    Timer::after(latency).await;
    cancelled.armed = false;
    match &reply {
        Ok(value) => clock.say(format_args!("{name} answered {value:?}")),
        Err(error) => clock.say(format_args!("{name} failed: {error}")),
    }
    reply
}

/// How a simulated service behaves when asked to stop.
#[derive(Clone, Copy)]
enum Stop {
    Clean(Duration),
    Fails(Duration, &'static str),
    Hangs,
}

async fn shut_down(clock: &Clock, name: &'static str, stop: Stop) -> Result<&'static str, String> {
    let mut abandoned = CancelNotice {
        clock,
        what: format!("{name} still stopping at the deadline: dropped"),
        armed: true,
    };
    let result = match stop {
        Stop::Clean(takes) => {
            Timer::after(takes).await;
            clock.say(format_args!("{name} stopped cleanly"));
            Ok("stopped")
        }
        Stop::Fails(takes, why) => {
            Timer::after(takes).await;
            clock.say(format_args!("{name} failed to stop: {why}"));
            Err(why.to_string())
        }
        Stop::Hangs => smol::future::pending().await,
    };
    abandoned.armed = false;
    result
}

/// Prints its message when dropped while still armed: that is, when the
/// future holding it was dropped before it finished.
struct CancelNotice<'a> {
    clock: &'a Clock,
    what: String,
    armed: bool,
}

impl Drop for CancelNotice<'_> {
    fn drop(&mut self) {
        if self.armed {
            self.clock.say(&self.what);
        }
    }
}

/// Time since a section started.
struct Clock(Instant);

impl Clock {
    fn start(heading: &str) -> Self {
        println!("\n{heading}");
        Clock(Instant::now())
    }

    /// Prints `event` stamped with the time since the section started,
    /// rounded to 10 ms so that runs look alike despite timer jitter.
    fn say(&self, event: impl fmt::Display) {
        let rounded = (self.0.elapsed().as_millis() + 5) / 10 * 10;
        println!("  [{rounded:>3} ms] {event}");
    }
}

fn ms(millis: u64) -> Duration {
    Duration::from_millis(millis)
}
