//! The bounded queue between the inputs (webhook, files) and the rules thread.
//!
//! Bounded in events. A batch is taken whole or not at all, so a webhook request is either fully
//! accepted (200) or not at all (503, the API server sends it again): nothing is half-delivered. A
//! batch larger than the whole capacity is still taken when the queue is empty, so one big request
//! cannot be refused forever. File inputs wait for room (they lose nothing and slow down instead).

use crate::event::AuditEvent;
use std::collections::VecDeque;
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

pub struct Queue {
    inner: Mutex<Inner>,
    /// Signalled when events arrive or producers end (the consumer waits on it).
    not_empty: Condvar,
    /// Signalled when the consumer takes events (waiting producers retry).
    not_full: Condvar,
    capacity: usize,
}

struct Inner {
    events: VecDeque<AuditEvent>,
    /// Producers still running; when 0 and the queue is empty, the source has ended.
    producers: usize,
    closed: bool,
}

/// A wait for the next event ended without one (the source is still running).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeout;

impl std::fmt::Display for Timeout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("no event within the wait")
    }
}

impl std::error::Error for Timeout {}

/// Why a push did not happen.
#[derive(Debug, PartialEq, Eq)]
pub enum PushError {
    /// No room within the wait.
    Full,
    /// The source is shutting down.
    Closed,
}

impl Queue {
    pub fn new(capacity: usize) -> Queue {
        Queue {
            inner: Mutex::new(Inner { events: VecDeque::new(), producers: 0, closed: false }),
            not_empty: Condvar::new(),
            not_full: Condvar::new(),
            capacity: capacity.max(1),
        }
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    pub fn len(&self) -> usize {
        self.lock().events.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panicking holder leaves a queue that is still consistent (push/pop are not torn).
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Register a producer; the source ends when every producer has called [`Queue::producer_done`].
    pub fn add_producer(&self) {
        self.lock().producers += 1;
    }

    pub fn producer_done(&self) {
        let mut g = self.lock();
        g.producers = g.producers.saturating_sub(1);
        drop(g);
        self.not_empty.notify_all();
    }

    /// Stop: pushes fail, `pop` returns what is queued then `None`.
    pub fn close(&self) {
        self.lock().closed = true;
        self.not_empty.notify_all();
        self.not_full.notify_all();
    }

    /// Push a whole batch, waiting at most `wait` for room.
    pub fn push_batch(
        &self,
        batch: Vec<AuditEvent>,
        wait: Duration,
    ) -> Result<(), (PushError, Vec<AuditEvent>)> {
        if batch.is_empty() {
            return Ok(());
        }
        let deadline = Instant::now() + wait;
        let mut g = self.lock();
        loop {
            if g.closed {
                return Err((PushError::Closed, batch));
            }
            let room = g.events.is_empty() || g.events.len() + batch.len() <= self.capacity;
            if room {
                g.events.extend(batch);
                drop(g);
                self.not_empty.notify_one();
                return Ok(());
            }
            let now = Instant::now();
            if now >= deadline {
                return Err((PushError::Full, batch));
            }
            g = self.not_full.wait_timeout(g, deadline - now).unwrap_or_else(|e| e.into_inner()).0;
        }
    }

    /// Push a batch, waiting as long as it takes (file inputs); fails only when closed.
    pub fn push_batch_blocking(&self, mut batch: Vec<AuditEvent>) -> Result<(), PushError> {
        loop {
            match self.push_batch(batch, Duration::from_millis(500)) {
                Ok(()) => return Ok(()),
                Err((PushError::Closed, _)) => return Err(PushError::Closed),
                Err((PushError::Full, b)) => batch = b,
            }
        }
    }

    /// Next event; waits until one arrives, or returns `None` when the source ended (no producer
    /// left, or closed) and the queue is drained. `timeout` bounds one wait: `Err(Timeout)` then,
    /// so a caller can do idle work.
    pub fn pop_timeout(&self, timeout: Duration) -> Result<Option<AuditEvent>, Timeout> {
        let deadline = Instant::now() + timeout;
        let mut g = self.lock();
        loop {
            if let Some(ev) = g.events.pop_front() {
                drop(g);
                self.not_full.notify_all();
                return Ok(Some(ev));
            }
            if g.closed || g.producers == 0 {
                return Ok(None);
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(Timeout);
            }
            g = self.not_empty.wait_timeout(g, deadline - now).unwrap_or_else(|e| e.into_inner()).0;
        }
    }

    /// Next event, waiting as long as needed; `None` when the source ended.
    pub fn pop(&self) -> Option<AuditEvent> {
        loop {
            if let Ok(x) = self.pop_timeout(Duration::from_secs(3600)) {
                return x;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::Json;

    fn ev(n: u64) -> AuditEvent {
        AuditEvent { ts: n, payload: "{}".into(), root: Json::Null }
    }

    #[test]
    fn whole_batches_within_capacity() {
        let q = Queue::new(3);
        q.add_producer();
        q.push_batch(vec![ev(1), ev(2)], Duration::ZERO).unwrap();
        let (e, back) = q.push_batch(vec![ev(3), ev(4)], Duration::from_millis(10)).unwrap_err();
        assert_eq!((e, back.len()), (PushError::Full, 2));
        assert_eq!(q.len(), 2, "nothing half-taken");
        assert_eq!(q.pop().unwrap().ts, 1);
        q.push_batch(vec![ev(3), ev(4)], Duration::ZERO).unwrap();
        assert_eq!(q.len(), 3);
        // Bigger than the capacity: only into an empty queue.
        let q2 = Queue::new(1);
        q2.push_batch(vec![ev(1), ev(2)], Duration::ZERO).unwrap();
        q.producer_done();
        let all: Vec<u64> = std::iter::from_fn(|| q.pop()).map(|e| e.ts).collect();
        assert_eq!(all, vec![2, 3, 4]);
    }

    #[test]
    fn a_waiting_producer_gets_in_when_the_consumer_takes() {
        let q = std::sync::Arc::new(Queue::new(1));
        q.add_producer();
        q.push_batch(vec![ev(1)], Duration::ZERO).unwrap();
        let q2 = q.clone();
        let t = std::thread::spawn(move || q2.push_batch(vec![ev(2)], Duration::from_secs(10)).is_ok());
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(q.pop().unwrap().ts, 1);
        assert!(t.join().unwrap());
        assert_eq!(q.pop().unwrap().ts, 2);
        q.close();
        assert!(q.pop().is_none());
        assert_eq!(q.push_batch(vec![ev(3)], Duration::ZERO).unwrap_err().0, PushError::Closed);
    }
}
