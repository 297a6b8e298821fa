//! Commit handles: a transaction's [`Commit`] resolves once the transaction is durable. Waiting
//! works blocking ([`Commit::wait`]) or as a future (`Commit` implements `Future`), so the
//! async OSD and the blocking tools share one store.

use super::error::{StoreError, StoreResult};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::thread::Thread;

/// Tracks which sequence numbers are durable. The committing side calls [`Self::mark_durable`]
/// after each group sync; blocked threads are unparked one by one (no thundering herd on a
/// shared lock) and futures are woken.
#[derive(Default)]
pub(crate) struct CommitTracker {
    state: Mutex<TrackerState>,
}

#[derive(Default)]
struct TrackerState {
    durable: u64,
    /// Once a sync fails, every sequence not yet durable fails with this message.
    failed: Option<String>,
    wakers: Vec<(u64, Waker)>,
    threads: Vec<(u64, Thread)>,
}

impl CommitTracker {
    fn lock(&self) -> MutexGuard<'_, TrackerState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn durable(&self) -> u64 {
        self.lock().durable
    }

    pub(crate) fn mark_durable(&self, seq: u64) {
        let (wakers, threads) = {
            let mut st = self.lock();
            st.durable = st.durable.max(seq);
            let durable = st.durable;
            let (ready, pending): (Vec<_>, Vec<_>) =
                st.wakers.drain(..).partition(|(s, _)| *s <= durable);
            st.wakers = pending;
            let (woken, waiting): (Vec<_>, Vec<_>) =
                st.threads.drain(..).partition(|(s, _)| *s <= durable);
            st.threads = waiting;
            (ready, woken)
        };
        wakers.into_iter().for_each(|(_, w)| w.wake());
        threads.into_iter().for_each(|(_, t)| t.unpark());
    }

    pub(crate) fn mark_failed(&self, cause: String) {
        let (wakers, threads) = {
            let mut st = self.lock();
            st.failed.get_or_insert(cause);
            (
                std::mem::take(&mut st.wakers),
                std::mem::take(&mut st.threads),
            )
        };
        wakers.into_iter().for_each(|(_, w)| w.wake());
        threads.into_iter().for_each(|(_, t)| t.unpark());
    }

    fn outcome(st: &TrackerState, seq: u64) -> Option<StoreResult<()>> {
        if st.durable >= seq {
            Some(Ok(()))
        } else {
            st.failed.as_ref().map(|cause| {
                Err(StoreError::ReadOnly {
                    cause: cause.clone(),
                })
            })
        }
    }

    fn wait(&self, seq: u64) -> StoreResult<()> {
        {
            let mut st = self.lock();
            if let Some(r) = Self::outcome(&st, seq) {
                return r;
            }
            st.threads.push((seq, std::thread::current()));
        }
        loop {
            // Unparked once `seq` is durable or the store failed; wake-ups may be spurious.
            std::thread::park();
            if let Some(r) = Self::outcome(&self.lock(), seq) {
                return r;
            }
        }
    }

    fn poll(&self, seq: u64, cx: &mut Context<'_>) -> Poll<StoreResult<()>> {
        let mut st = self.lock();
        match Self::outcome(&st, seq) {
            Some(r) => Poll::Ready(r),
            None => {
                st.wakers.push((seq, cx.waker().clone()));
                Poll::Pending
            }
        }
    }
}

enum State {
    Done(Option<StoreResult<()>>),
    Pending {
        seq: u64,
        tracker: Arc<CommitTracker>,
    },
}

/// Resolves when its transaction is durable (or the store failed before it became so).
#[must_use = "a transaction is durable only once its Commit resolves"]
pub struct Commit {
    state: State,
}

impl Commit {
    /// An already durable (or already failed) transaction.
    pub(crate) fn done(result: StoreResult<()>) -> Self {
        Commit {
            state: State::Done(Some(result)),
        }
    }

    pub(crate) fn pending(seq: u64, tracker: Arc<CommitTracker>) -> Self {
        Commit {
            state: State::Pending { seq, tracker },
        }
    }

    /// Blocks until the transaction is durable.
    pub fn wait(self) -> StoreResult<()> {
        match self.state {
            State::Done(r) => r.unwrap_or(Ok(())),
            State::Pending { seq, tracker } => tracker.wait(seq),
        }
    }

    /// Whether the transaction is already durable.
    pub fn is_durable(&self) -> bool {
        match &self.state {
            State::Done(r) => matches!(r, Some(Ok(())) | None),
            State::Pending { seq, tracker } => tracker.durable() >= *seq,
        }
    }
}

impl Future for Commit {
    type Output = StoreResult<()>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match &mut self.state {
            State::Done(r) => Poll::Ready(r.take().unwrap_or(Ok(()))),
            State::Pending { seq, tracker } => tracker.poll(*seq, cx),
        }
    }
}
