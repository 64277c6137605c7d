//! Why a gather, or one child of a settled gather, did not succeed.

use core::fmt;

/// Why a fail-fast gather failed: one child's error, or the deadline.
///
/// Either way, by the time you see this every child has been dropped (and
/// with it any cleanup its `Drop` does), and so has every output already
/// collected.
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
            GatherError::Failed { index, error } => write!(f, "child {index} failed: {error}"),
            GatherError::TimedOut { completed, pending } => {
                let total = completed + pending;
                write!(f, "timed out with {pending} of {total} children pending")
            }
        }
    }
}

impl<E: core::error::Error + 'static> core::error::Error for GatherError<E> {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
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
            SlotError::Failed(error) => write!(f, "child failed: {error}"),
            SlotError::TimedOut => f.write_str("child timed out"),
        }
    }
}

impl<E: core::error::Error + 'static> core::error::Error for SlotError<E> {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        self.error().map(|error| error as _)
    }
}
