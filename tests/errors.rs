//! The two error types as applications meet them: `?` into `anyhow::Error`
//! and `Box<dyn Error + Send + Sync>` whatever the children's error type,
//! what `{}`, `{:#}` and `{:?}` then show (the failing index and the child's
//! message, once), `source()` and the way back to the child's own error, and
//! the helpers on every variant.

use std::error::Error;
use std::fmt;
use std::future::{pending, ready};
use std::io;

use futures::executor::block_on;
#[cfg(feature = "alloc")]
use safe_gather::safe_gather;
use safe_gather::{safe_gather_array, GatherError, SlotError};

type BoxError = Box<dyn Error + Send + Sync>;

/// A child that finishes with `outcome` at its first poll, or never for
/// `None`.
async fn child<E>(outcome: Option<Result<u32, E>>) -> Result<u32, E> {
    match outcome {
        Some(outcome) => outcome,
        None => pending().await,
    }
}

/// A concrete error type with a source of its own.
#[derive(Debug)]
struct Refused {
    port: u16,
    cause: io::Error,
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "port {} refused the connection", self.port)
    }
}

impl Error for Refused {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(&self.cause)
    }
}

fn refused(port: u16) -> Refused {
    Refused {
        port,
        cause: io::Error::new(io::ErrorKind::ConnectionRefused, "no listener"),
    }
}

/// anyhow's `{:?}` starts with the message and lists the sources under
/// "Caused by:"; with `RUST_BACKTRACE` set a backtrace follows.
fn assert_debug_shows_once(error: &anyhow::Error, message: &str) {
    let debug = format!("{error:?}");
    assert_eq!(debug.lines().next(), Some(message), "{debug}");
    assert!(!debug.contains("Caused by"), "{debug}");
}

/// The case from the issue: a `Vec` gather, so it needs `alloc`; the array
/// and tuple cases below run without it too.
#[cfg(feature = "alloc")]
#[test]
fn question_mark_turns_a_gather_of_anyhow_children_into_an_anyhow_error() {
    async fn load() -> anyhow::Result<Vec<u32>> {
        let children = [
            child(Some(Ok(1))),
            child(Some(Err(anyhow::anyhow!("disk full")))),
            child(Some(Ok(3))),
        ];
        Ok(safe_gather(children).await?)
    }
    let error = block_on(load()).unwrap_err();
    assert_eq!(error.to_string(), "child 1 failed: disk full");
    assert_eq!(format!("{error:#}"), "child 1 failed: disk full");
    // What `fn main() -> anyhow::Result<()>` prints: no "Caused by" section
    // repeating the child's message (a backtrace may follow, by environment).
    assert_debug_shows_once(&error, "child 1 failed: disk full");
}

#[test]
fn an_anyhow_childs_whole_context_chain_is_shown_once() {
    async fn load() -> anyhow::Result<[u32; 2]> {
        let cause = anyhow::anyhow!("connection refused").context("fetching /users");
        Ok(safe_gather_array([child(Some(Ok(7))), child(Some(Err(cause)))]).await?)
    }
    let error = block_on(load()).unwrap_err();
    let expected = "child 1 failed: fetching /users: connection refused";
    assert_eq!(error.to_string(), expected);
    assert_eq!(format!("{error:#}"), expected);
    assert_debug_shows_once(&error, expected);
    assert_eq!(error.chain().count(), 1, "no source repeats the message");
}

#[test]
fn question_mark_turns_a_gather_of_boxed_errors_into_a_boxed_error() {
    async fn load() -> Result<(u32, &'static str), BoxError> {
        let count = async { Ok::<_, BoxError>(4) };
        let name = async { Err::<&str, BoxError>("no such user".into()) };
        Ok(safe_gather::safe_gather!(count, name).await?)
    }
    let error = block_on(load()).unwrap_err();
    assert_eq!(error.to_string(), "child 1 failed: no such user");
    assert_eq!(format!("{error:#}"), "child 1 failed: no such user");
    assert!(error.source().is_none());
    let gather_error = error
        .downcast_ref::<GatherError<BoxError>>()
        .expect("the boxed error is the gather's error");
    assert_eq!(gather_error.index(), Some(1));
    let child_error: &(dyn Error + 'static) = &**gather_error.error().unwrap();
    assert_eq!(child_error.to_string(), "no such user");
}

#[test]
fn question_mark_works_for_concrete_child_errors_into_both_error_types() {
    fn children() -> [impl std::future::Future<Output = Result<u32, Refused>>; 3] {
        [
            child(Some(Ok(80))),
            child(Some(Ok(443))),
            child(Some(Err(refused(8080)))),
        ]
    }
    async fn into_anyhow() -> anyhow::Result<[u32; 3]> {
        Ok(safe_gather_array(children()).await?)
    }
    async fn into_box() -> Result<[u32; 3], BoxError> {
        Ok(safe_gather_array(children()).await?)
    }
    let expected = "child 2 failed: port 8080 refused the connection";

    let error = block_on(into_anyhow()).unwrap_err();
    assert_eq!(error.to_string(), expected);
    assert_eq!(format!("{error:#}"), expected);
    let boxed = block_on(into_box()).unwrap_err();
    assert_eq!(boxed.to_string(), expected);
    assert_eq!(format!("{boxed:#}"), expected);
}

#[test]
fn a_timeout_converts_too_and_reports_its_counts() {
    async fn load() -> anyhow::Result<[u32; 3]> {
        let children = [
            child::<io::Error>(Some(Ok(1))),
            child(None),
            child(Some(Ok(3))),
        ];
        Ok(safe_gather_array(children).deadline(ready(())).await?)
    }
    let error = block_on(load()).unwrap_err();
    assert_eq!(error.to_string(), "timed out with 1 of 3 children pending");
    let gather_error = error.downcast_ref::<GatherError<io::Error>>().unwrap();
    assert!(matches!(
        gather_error,
        GatherError::TimedOut {
            completed: 2,
            pending: 1
        }
    ));
    assert!(gather_error.child_error().is_none());
}

#[test]
fn source_is_none_and_child_error_leads_to_the_childs_own_chain() {
    let error = GatherError::Failed {
        index: 3,
        error: refused(25),
    };
    assert!(
        error.source().is_none(),
        "the child's error is in the message"
    );
    let child_error = error.child_error().expect("a child failed");
    assert_eq!(child_error.to_string(), "port 25 refused the connection");
    assert_eq!(child_error.source().unwrap().to_string(), "no listener");

    let slot = SlotError::Failed(refused(587));
    assert!(slot.source().is_none());
    let child_error = slot.child_error().expect("the child failed");
    assert_eq!(child_error.to_string(), "port 587 refused the connection");
    assert_eq!(child_error.source().unwrap().to_string(), "no listener");
    assert!(SlotError::<Refused>::TimedOut.child_error().is_none());
}

#[test]
fn question_mark_on_a_settled_slot_names_the_child_error_or_the_deadline() {
    fn outcomes() -> [Result<u32, SlotError<anyhow::Error>>; 2] {
        let children = [
            child(Some(Err(anyhow::anyhow!("broker unreachable")))),
            child(None),
        ];
        block_on(safe_gather_array(children).settled().deadline(ready(())))
    }
    fn first(slots: [Result<u32, SlotError<anyhow::Error>>; 2]) -> anyhow::Result<u32> {
        let [first, _] = slots;
        Ok(first?)
    }
    fn second(slots: [Result<u32, SlotError<anyhow::Error>>; 2]) -> Result<u32, BoxError> {
        let [_, second] = slots;
        Ok(second?)
    }
    let failed = first(outcomes()).unwrap_err();
    assert_eq!(format!("{failed:#}"), "child failed: broker unreachable");
    let late = second(outcomes()).unwrap_err();
    assert_eq!(late.to_string(), "child timed out");
}

#[test]
fn is_timeout_tells_the_deadline_from_a_failure() {
    assert!(GatherError::<()>::TimedOut {
        completed: 0,
        pending: 1
    }
    .is_timeout());
    assert!(!GatherError::Failed {
        index: 0,
        error: ()
    }
    .is_timeout());
    assert!(SlotError::<()>::TimedOut.is_timeout());
    assert!(!SlotError::Failed(()).is_timeout());
}

#[test]
fn the_helpers_give_the_failing_index_and_error_and_nothing_for_a_timeout() {
    let failed = GatherError::Failed {
        index: 5,
        error: "refused",
    };
    assert_eq!(failed.index(), Some(5));
    assert_eq!(failed.error(), Some(&"refused"));
    assert_eq!(failed.into_error(), Some("refused"));
    let late = GatherError::<&str>::TimedOut {
        completed: 2,
        pending: 3,
    };
    assert_eq!(late.index(), None);
    assert_eq!(late.error(), None);
    assert_eq!(late.into_error(), None);

    assert_eq!(SlotError::Failed("refused").error(), Some(&"refused"));
    assert_eq!(SlotError::Failed("refused").into_error(), Some("refused"));
    assert_eq!(SlotError::<&str>::TimedOut.error(), None);
    assert_eq!(SlotError::<&str>::TimedOut.into_error(), None);
}

#[test]
fn display_counts_every_child_of_a_timed_out_gather() {
    let late = GatherError::<&str>::TimedOut {
        completed: 3,
        pending: 5,
    };
    assert_eq!(late.to_string(), "timed out with 5 of 8 children pending");
    let failed = GatherError::Failed {
        index: 0,
        error: "refused",
    };
    assert_eq!(failed.to_string(), "child 0 failed: refused");
    assert_eq!(
        SlotError::Failed("refused").to_string(),
        "child failed: refused"
    );
}
