//! Why a gather, or one child of a settled gather, did not succeed.

use core::fmt;

/// Why a fail-fast gather failed: one child's error, or the deadline.
///
/// Either way, by the time you see this every child has been dropped (and
/// with it any cleanup its `Drop` does), and so has every output already
/// collected.
///
/// It is `#[non_exhaustive]`: a gather as a whole may learn new ways to end
/// (a cancellation signal, say) in a minor release, so a `match` on it needs
/// a `_` arm; [`index`](Self::index), [`is_timeout`](Self::is_timeout) and
/// [`into_error`](Self::into_error) need none. ([`SlotError`], the outcome
/// of one child, is exhaustive.)
///
/// ```compile_fail,E0004
/// use safe_gather::GatherError;
///
/// fn describe(error: &GatherError<()>) -> &'static str {
///     match error {
///         GatherError::Failed { .. } => "failed",
///         GatherError::TimedOut { .. } => "timed out",
///         // error[E0004]: a `_` arm is needed
///     }
/// }
/// ```
///
/// # Examples
///
/// ```
/// use safe_gather::{safe_gather, GatherError};
///
/// # futures::executor::block_on(async {
/// let jobs = (0..4).map(|n| async move { if n == 2 { Err("disk full") } else { Ok(n) } });
/// let error = safe_gather(jobs).await.unwrap_err();
///
/// assert_eq!(error, GatherError::Failed { index: 2, error: "disk full" });
/// assert_eq!(error.to_string(), "child 2 failed: disk full");
/// assert_eq!(error.index(), Some(2));
/// assert!(!error.is_timeout());
/// assert_eq!(error.into_error(), Some("disk full"));
/// # });
/// ```
///
/// # `?`, `source()` and the child's error
///
/// `GatherError<E>` is an [`Error`](core::error::Error) for every `E` that is
/// `Debug` and `Display`, so `?` turns it into an `anyhow::Error` or a
/// `Box<dyn Error + Send + Sync>` also when the children's errors are
/// themselves `anyhow::Error`s or boxed errors (which are not `Error`s):
///
/// ```
/// use safe_gather::safe_gather;
///
/// async fn fetch(page: u32) -> anyhow::Result<u32> {
///     if page == 1 {
///         return Err(anyhow::anyhow!("connection refused").context("fetching page 1"));
///     }
///     Ok(page * 10)
/// }
///
/// async fn fetch_all() -> anyhow::Result<Vec<u32>> {
///     Ok(safe_gather((0..3).map(fetch)).await?)
/// }
///
/// # futures::executor::block_on(async {
/// let error = fetch_all().await.unwrap_err();
/// assert_eq!(format!("{error:#}"), "child 1 failed: fetching page 1: connection refused");
/// # });
/// ```
///
/// The price is [`source()`](core::error::Error::source): without knowing
/// that `E` is an `Error` it cannot hand the child's error on, so it is
/// always `None`, and the child's error is written into the message instead
/// (`child 2 failed: connection refused`). The child's error is written with
/// the alternate flag (`{:#}`), so an anyhow or eyre child shows its whole
/// chain of context; an error reporter (anyhow's `{:#}` and `{:?}`, say)
/// prints the index and the child's message once, never twice.
///
/// Generic wrappers split on this. tracing-error's `TracedError<E>` requires
/// `E: Error`, keeps `source()`, and cannot wrap an `anyhow::Error`; anyhow's
/// own context wrapper has both, through a second impl for `anyhow::Error`
/// that only the crate owning that type can write; tokio's `SendError<T>` is
/// an `Error` for any `T: Debug`, with no source. A gather's children are
/// mostly application code, where anyhow and boxed errors are the usual
/// types, so here `?` wins.
///
/// The child's error is one call away: [`error`](Self::error) and
/// [`into_error`](Self::into_error) give the `E` itself, and
/// [`child_error`](Self::child_error) gives it as a `&dyn Error`, where `E`
/// is one, to walk its own chain. After `?` into anyhow,
/// `downcast_ref::<GatherError<E>>()` finds the gather error again.
///
/// ```
/// use std::error::Error;
/// use std::io;
/// use safe_gather::{safe_gather_array, GatherError};
///
/// async fn connect(port: u16) -> io::Result<u16> {
///     if port == 81 {
///         return Err(io::Error::new(io::ErrorKind::ConnectionRefused, "refused"));
///     }
///     Ok(port)
/// }
///
/// # futures::executor::block_on(async {
/// let result: anyhow::Result<[u16; 2]> = async {
///     Ok(safe_gather_array([connect(80), connect(81)]).await?)
/// }.await;
/// let error = result.unwrap_err();
/// let gather_error = error.downcast_ref::<GatherError<io::Error>>().unwrap();
/// assert_eq!(gather_error.index(), Some(1));
/// assert!(gather_error.source().is_none());
/// assert_eq!(gather_error.child_error().unwrap().to_string(), "refused");
/// # });
/// ```
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GatherError<E> {
    /// Child `index` (its position in the input) failed with `error`; every
    /// other child was dropped.
    Failed {
        /// The failing child's position in the input.
        index: usize,
        /// The child's error.
        error: E,
    },
    /// The deadline passed with `pending` children unfinished (including any
    /// a [`limit`](crate::SafeGather::limit) had not started yet); all were
    /// dropped, and the outputs of the `completed` ones with them.
    TimedOut {
        /// Children that had finished (successfully) before the deadline.
        completed: usize,
        /// Children that had not.
        pending: usize,
    },
}

impl<E> GatherError<E> {
    /// The position of the child that failed, or `None` for a timeout.
    ///
    /// ```
    /// use safe_gather::GatherError;
    ///
    /// assert_eq!(GatherError::Failed { index: 3, error: () }.index(), Some(3));
    /// assert_eq!(GatherError::<()>::TimedOut { completed: 1, pending: 2 }.index(), None);
    /// ```
    pub fn index(&self) -> Option<usize> {
        match self {
            GatherError::Failed { index, .. } => Some(*index),
            GatherError::TimedOut { .. } => None,
        }
    }

    /// Whether the deadline passed.
    ///
    /// ```
    /// use safe_gather::GatherError;
    ///
    /// assert!(GatherError::<()>::TimedOut { completed: 0, pending: 2 }.is_timeout());
    /// assert!(!GatherError::Failed { index: 0, error: () }.is_timeout());
    /// ```
    pub fn is_timeout(&self) -> bool {
        matches!(self, GatherError::TimedOut { .. })
    }

    /// The failed child's error, if a child failed.
    ///
    /// ```
    /// use safe_gather::GatherError;
    ///
    /// let error = GatherError::Failed { index: 0, error: "refused" };
    /// assert_eq!(error.error(), Some(&"refused"));
    /// ```
    pub fn error(&self) -> Option<&E> {
        match self {
            GatherError::Failed { error, .. } => Some(error),
            GatherError::TimedOut { .. } => None,
        }
    }

    /// The failed child's error, or `None` for a timeout.
    ///
    /// ```
    /// use safe_gather::GatherError;
    ///
    /// let error = GatherError::Failed { index: 0, error: "refused" };
    /// assert_eq!(error.into_error(), Some("refused"));
    /// ```
    pub fn into_error(self) -> Option<E> {
        match self {
            GatherError::Failed { error, .. } => Some(error),
            GatherError::TimedOut { .. } => None,
        }
    }
}

impl<E: fmt::Display> fmt::Display for GatherError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // `{:#}`: an anyhow or eyre child's whole chain, since `source()`
            // cannot hand it on (see the type's docs).
            GatherError::Failed { index, error } => write!(f, "child {index} failed: {error:#}"),
            GatherError::TimedOut { completed, pending } => {
                let total = completed + pending;
                write!(f, "timed out with {pending} of {total} children pending")
            }
        }
    }
}

/// For every `E` that is `Debug` and `Display`, so that `?` works for anyhow
/// and boxed children too; `source()` is therefore `None`, and the child's
/// error is part of the message (see [`GatherError`]'s docs).
impl<E: fmt::Debug + fmt::Display> core::error::Error for GatherError<E> {}

impl<E: core::error::Error + 'static> GatherError<E> {
    /// The failed child's error as a `&dyn Error`, or `None` for a timeout:
    /// where `source()` would lead if it could (see
    /// [`GatherError`]'s docs on `?`), to walk the child's own chain.
    ///
    /// ```
    /// use std::error::Error;
    /// use std::fmt;
    /// use safe_gather::GatherError;
    ///
    /// #[derive(Debug)]
    /// struct Refused;
    /// impl fmt::Display for Refused {
    ///     fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    ///         f.write_str("connection refused")
    ///     }
    /// }
    /// impl Error for Refused {}
    ///
    /// let error = GatherError::Failed { index: 4, error: Refused };
    /// assert!(error.source().is_none());
    /// assert_eq!(error.child_error().unwrap().to_string(), "connection refused");
    /// assert!(GatherError::<Refused>::TimedOut { completed: 1, pending: 1 }.child_error().is_none());
    /// ```
    pub fn child_error(&self) -> Option<&(dyn core::error::Error + 'static)> {
        self.error().map(|error| error as _)
    }
}

/// Why one child of a settled gather with a deadline has no value.
///
/// A settled gather (see [`settled`](crate::SafeGather::settled)) with a
/// deadline gives each child a `Result<T, SlotError<E>>`: its own error, or
/// [`TimedOut`](SlotError::TimedOut) if it was still running when the deadline
/// passed (it was then dropped).
///
/// Unlike [`GatherError`] it is exhaustive, and will stay so: a child of a
/// settled gather either runs to its end or is cut off by the deadline,
/// since settled mode never stops a child for any other reason, so a `match`
/// on a slot needs no `_` arm:
///
/// ```
/// use safe_gather::SlotError;
///
/// fn log_line(outcome: &Result<&str, SlotError<&str>>) -> String {
///     match outcome {
///         Ok(status) => format!("stopped: {status}"),
///         Err(SlotError::Failed(error)) => format!("failed to stop: {error}"),
///         Err(SlotError::TimedOut) => "still stopping at the deadline".to_string(),
///     }
/// }
///
/// assert_eq!(log_line(&Err(SlotError::TimedOut)), "still stopping at the deadline");
/// ```
///
/// Like [`GatherError`] it is an [`Error`](core::error::Error) for every
/// `E` that is `Debug` and `Display`, so `?` turns it into an
/// `anyhow::Error` or a `Box<dyn Error + Send + Sync>`, with the child's
/// error in its message and `source()` always `None`;
/// [`child_error`](Self::child_error) reaches the child's error (see
/// [`GatherError`]'s docs on `?` for why).
///
/// # Examples
///
/// ```
/// use safe_gather::SlotError;
///
/// let failed: SlotError<&str> = SlotError::Failed("refused");
/// assert_eq!(failed.to_string(), "child failed: refused");
/// assert_eq!(failed.error(), Some(&"refused"));
///
/// let late: SlotError<&str> = SlotError::TimedOut;
/// assert!(late.is_timeout());
/// assert_eq!(late.to_string(), "child timed out");
/// assert_eq!(late.into_error(), None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SlotError<E> {
    /// The child finished with this error.
    Failed(E),
    /// The child was still running at the deadline and was dropped.
    TimedOut,
}

impl<E> SlotError<E> {
    /// Whether the child was cut off by the deadline.
    ///
    /// ```
    /// use safe_gather::SlotError;
    ///
    /// assert!(SlotError::<()>::TimedOut.is_timeout());
    /// ```
    pub fn is_timeout(&self) -> bool {
        matches!(self, SlotError::TimedOut)
    }

    /// The child's own error, if it failed.
    ///
    /// ```
    /// use safe_gather::SlotError;
    ///
    /// assert_eq!(SlotError::Failed(7).error(), Some(&7));
    /// ```
    pub fn error(&self) -> Option<&E> {
        match self {
            SlotError::Failed(error) => Some(error),
            SlotError::TimedOut => None,
        }
    }

    /// The child's own error, or `None` if it timed out.
    ///
    /// ```
    /// use safe_gather::SlotError;
    ///
    /// assert_eq!(SlotError::Failed(7).into_error(), Some(7));
    /// ```
    pub fn into_error(self) -> Option<E> {
        match self {
            SlotError::Failed(error) => Some(error),
            SlotError::TimedOut => None,
        }
    }
}

impl<E: fmt::Display> fmt::Display for SlotError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // `{:#}`, as for `GatherError`.
            SlotError::Failed(error) => write!(f, "child failed: {error:#}"),
            SlotError::TimedOut => f.write_str("child timed out"),
        }
    }
}

/// For every `E` that is `Debug` and `Display`, as for [`GatherError`];
/// `source()` is `None`.
impl<E: fmt::Debug + fmt::Display> core::error::Error for SlotError<E> {}

impl<E: core::error::Error + 'static> SlotError<E> {
    /// The child's own error as a `&dyn Error`, or `None` if it timed out:
    /// the way to the child's error chain, which `source()` cannot give.
    ///
    /// ```
    /// use std::io;
    /// use safe_gather::SlotError;
    ///
    /// let slot = SlotError::Failed(io::Error::other("broker unreachable"));
    /// assert_eq!(slot.child_error().unwrap().to_string(), "broker unreachable");
    /// assert!(SlotError::<io::Error>::TimedOut.child_error().is_none());
    /// ```
    pub fn child_error(&self) -> Option<&(dyn core::error::Error + 'static)> {
        self.error().map(|error| error as _)
    }
}
