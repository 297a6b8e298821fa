//! The order of one handle's operations on one object.
//!
//! Operations on one object from one [`crate::Rados`] handle are applied in the order they were
//! submitted, as Ceph guarantees: each takes a turn on its object when it is submitted (the
//! first poll of its future; on call for the blocking API and Python's `aio_*`), and starts
//! only when the operation before it on that object has finished. Operations on different
//! objects run concurrently. Waiting for the turn does not hold any of the handle's in-flight
//! permits, so queued operations never starve the ones ahead of them.

use crate::msg::ops::ObjectName;
use std::collections::HashMap;
use std::sync::Mutex;
use tokio::sync::oneshot;

type Key = (i64, ObjectName);

/// The newest turn taken on each object that still has one pending or running.
#[derive(Default)]
pub(crate) struct ObjectOrder {
    tails: Mutex<HashMap<Key, (u64, oneshot::Receiver<()>)>>,
    next: std::sync::atomic::AtomicU64,
}

/// One operation's place in its object's order; dropping it lets the next one go.
pub(crate) struct Turn<'a> {
    order: &'a ObjectOrder,
    key: Key,
    id: u64,
    before: Option<oneshot::Receiver<()>>,
    // Dropped with the turn: wakes the operation queued behind this one.
    _done: oneshot::Sender<()>,
}

impl ObjectOrder {
    /// Takes the next turn on `object` of pool `pool`. Never waits.
    pub(crate) fn take(&self, pool: i64, object: &ObjectName) -> Turn<'_> {
        let id = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let (done, after) = oneshot::channel();
        let key = (pool, object.clone());
        let before = self
            .tails
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key.clone(), (id, after))
            .map(|(_, rx)| rx);
        Turn {
            order: self,
            key,
            id,
            before,
            _done: done,
        }
    }

    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.tails.lock().unwrap().len()
    }
}

impl Turn<'_> {
    /// Waits until the operation before this one on the object has finished (or was dropped).
    pub(crate) async fn ready(&mut self) {
        if let Some(before) = &mut self.before {
            // An error only means that operation's future was dropped: it is over too.
            let _ = before.await;
            self.before = None;
        }
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        let mut tails = self.order.tails.lock().unwrap_or_else(|e| e.into_inner());
        // Nobody queued behind this turn: forget the object.
        if tails.get(&self.key).is_some_and(|(id, _)| *id == self.id) {
            tails.remove(&self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    fn obj(name: &str) -> ObjectName {
        ObjectName {
            name: name.into(),
            ..ObjectName::default()
        }
    }

    #[tokio::test]
    async fn operations_on_one_object_run_in_submission_order() {
        let order = Arc::new(ObjectOrder::default());
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for i in 0..20u64 {
            let (order, log) = (order.clone(), log.clone());
            // The turn is taken here, in submission order; the tasks then run in any order.
            let (tx, rx) = oneshot::channel::<()>();
            tasks.push(tokio::spawn(async move {
                let mut turn = order.take(1, &obj("x"));
                tx.send(()).unwrap();
                turn.ready().await;
                // Later operations finish faster: without the order they would overtake.
                tokio::time::sleep(Duration::from_millis(20 - i)).await;
                log.lock().unwrap().push(i);
                drop(turn);
            }));
            rx.await.unwrap();
        }
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(*log.lock().unwrap(), (0..20).collect::<Vec<_>>());
        assert_eq!(order.tracked(), 0, "finished objects are forgotten");
    }

    #[tokio::test]
    async fn other_objects_do_not_wait_and_a_dropped_turn_lets_the_next_go() {
        let order = ObjectOrder::default();
        let _a = order.take(1, &obj("a"));
        // Another object, and the same name in another pool, go at once.
        let mut b = order.take(1, &obj("b"));
        let mut a_other_pool = order.take(2, &obj("a"));
        tokio::time::timeout(Duration::from_secs(1), b.ready())
            .await
            .unwrap();
        tokio::time::timeout(Duration::from_secs(1), a_other_pool.ready())
            .await
            .unwrap();
        // Behind a pending turn: waits until it is dropped (finished or cancelled).
        let first = order.take(1, &obj("c"));
        let mut second = order.take(1, &obj("c"));
        assert!(
            tokio::time::timeout(Duration::from_millis(50), second.ready())
                .await
                .is_err()
        );
        drop(first);
        tokio::time::timeout(Duration::from_secs(1), second.ready())
            .await
            .unwrap();
        drop((second, b, a_other_pool, _a));
        assert_eq!(order.tracked(), 0);
    }
}
