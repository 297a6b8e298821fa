//! The cluster log from a client: add lines to it, read its newest entries, and follow it as
//! it grows (`ceph -w`).

use super::{unexpected, Rados, Result};
use crate::msg::clog::{ClusterLogEntry, LogLevel};
use crate::msg::command::{MonCommand, MonReply};
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;

/// Called with each cluster log entry a subscription receives, in the monitor's order, on a
/// thread where it may block (one entry at a time: a slow callback delays the next).
pub type ClusterLogCallback = Arc<dyn Fn(&ClusterLogEntry) + Send + Sync>;

/// Hands the entries the receive loop gets to the subscription's callback task.
#[derive(Default)]
pub(crate) struct LogFollower {
    tx: Mutex<Option<mpsc::UnboundedSender<Vec<ClusterLogEntry>>>>,
    /// The level subscribed to, to subscribe again after the monitor's session was reset.
    level: Mutex<Option<LogLevel>>,
}

impl LogFollower {
    fn slot(
        &self,
    ) -> std::sync::MutexGuard<'_, Option<mpsc::UnboundedSender<Vec<ClusterLogEntry>>>> {
        self.tx.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn level(&self) -> std::sync::MutexGuard<'_, Option<LogLevel>> {
        self.level.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Subscribes again (the monitor's session was reset), in a task of its own: the
    /// receive loop that calls this must go on to deliver the monitor's answer.
    pub(crate) fn resubscribe(&self, rados: Rados) {
        let Some(level) = *self.level() else { return };
        rados.inner.runtime.clone().spawn(async move {
            let cmd = MonCommand::LogSubscribe { level: Some(level) };
            if let Err(e) = rados.mon_command_async(cmd).await {
                tracing::warn!(target: "client", "cannot follow the cluster log again: {e}");
            }
        });
    }

    /// Called by the receive loop: queues entries for the callback (dropped without one).
    pub(crate) fn deliver(&self, entries: Vec<ClusterLogEntry>) {
        if let Some(tx) = self.slot().as_ref() {
            let _ = tx.send(entries);
        }
    }
}

impl Rados {
    /// Adds `message` to the cluster log's `cluster` channel at `level`, as this client
    /// (Ceph's `log` command).
    pub fn log(&self, level: LogLevel, message: &str) -> Result<()> {
        self.log_to(level, None, message)
    }

    /// Adds `message` to the cluster log at `level`, in `channel` (`cluster` when `None`;
    /// a name of `a-z`, `0-9`, `_`, `-`, `.`).
    pub fn log_to(&self, level: LogLevel, channel: Option<&str>, message: &str) -> Result<()> {
        self.mon_command(MonCommand::Log {
            level,
            channel: channel.map(str::to_string),
            message: message.to_string(),
        })
        .map(drop)
    }

    /// The newest `num` cluster log entries at `level` or above (in `channel`, when given),
    /// oldest first (Ceph's `log last`).
    pub fn log_last(
        &self,
        num: u32,
        level: LogLevel,
        channel: Option<&str>,
    ) -> Result<Vec<ClusterLogEntry>> {
        match self.mon_command(MonCommand::LogLast {
            num,
            level,
            channel: channel.map(str::to_string),
        })? {
            MonReply::ClusterLog(entries) => Ok(entries),
            other => Err(unexpected(other)),
        }
    }

    /// Follows the cluster log: from when this returns, `callback` gets every entry at
    /// `level` or above (no earlier ones: see [`Rados::log_last`]). Replaces an earlier
    /// subscription of this handle; it lasts until [`Rados::monitor_log_stop`] or until
    /// the handle (every clone of it) is dropped.
    pub fn monitor_log(&self, level: LogLevel, callback: ClusterLogCallback) -> Result<()> {
        let (tx, mut rx) = mpsc::unbounded_channel::<Vec<ClusterLogEntry>>();
        self.inner.runtime.spawn(async move {
            while let Some(batch) = rx.recv().await {
                let cb = callback.clone();
                let ran = tokio::task::spawn_blocking(move || batch.iter().for_each(|e| cb(e)));
                if ran.await.is_err() {
                    tracing::warn!(target: "client", "a cluster log callback panicked");
                }
            }
        });
        // Listening before subscribing: nothing sent once the monitor has the subscription
        // is missed.
        let earlier = self.inner.log_follower.slot().replace(tx);
        let subscribed = self.mon_command(MonCommand::LogSubscribe { level: Some(level) });
        if subscribed.is_err() {
            *self.inner.log_follower.slot() = earlier;
        } else {
            *self.inner.log_follower.level() = Some(level);
        }
        subscribed.map(drop)
    }

    /// Ends this handle's cluster log subscription (no error without one); entries already
    /// received are still delivered.
    pub fn monitor_log_stop(&self) -> Result<()> {
        self.mon_command(MonCommand::LogSubscribe { level: None })?;
        self.inner.log_follower.level().take();
        self.inner.log_follower.slot().take();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::msg::EntityName;
    use std::time::Duration;

    /// Collects what a subscription receives.
    fn follow(r: &Rados, level: LogLevel) -> std::sync::mpsc::Receiver<ClusterLogEntry> {
        let (tx, rx) = std::sync::mpsc::channel();
        let tx = Mutex::new(tx);
        r.monitor_log(
            level,
            Arc::new(move |e: &ClusterLogEntry| {
                let _ = tx.lock().unwrap().send(e.clone());
            }),
        )
        .unwrap();
        rx
    }

    fn next(rx: &std::sync::mpsc::Receiver<ClusterLogEntry>) -> ClusterLogEntry {
        rx.recv_timeout(Duration::from_secs(10)).expect("an entry")
    }

    #[test]
    fn subscribers_get_entries_at_their_level_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let a = Rados::embedded(dir.path()).unwrap();
        let b = Rados::embedded(dir.path()).unwrap();
        let warn = follow(&a, LogLevel::Warn);
        let all = follow(&b, LogLevel::Debug);
        b.log(LogLevel::Info, "hello").unwrap();
        b.log_to(LogLevel::Error, Some("audit"), "disk on fire")
            .unwrap();
        a.create_pool("logged").unwrap();

        let e = next(&all);
        assert_eq!((e.level, e.channel.as_str()), (LogLevel::Info, "cluster"));
        assert_eq!(
            (e.message.as_str(), e.who),
            ("hello", EntityName::client(b.instance_id()))
        );
        let e2 = next(&all);
        assert_eq!(
            (e2.level, e2.message.as_str()),
            (LogLevel::Error, "disk on fire")
        );
        assert_eq!(e2.seq, e.seq + 1);
        // A change a client made is audited by the monitor, naming the client; the new
        // map's summary follows.
        let e3 = next(&all);
        assert_eq!((e3.channel.as_str(), e3.who), ("audit", EntityName::mon(0)));
        let from = format!("from='client.{} {}': ", a.instance_id(), a.addr());
        assert!(e3.message.starts_with(&from), "{e3:?}");
        assert!(e3.message.contains("logged"), "{e3:?}");
        let e4 = next(&all);
        assert_eq!(
            (e4.channel.as_str(), e4.level),
            ("cluster", LogLevel::Debug)
        );
        assert!(e4.message.starts_with("osdmap e"), "{e4:?}");
        // The warn subscriber got only the error.
        assert_eq!(next(&warn), e2);
        assert!(warn.recv_timeout(Duration::from_millis(300)).is_err());

        // `log last` has them too, filtered the same way.
        let last = a.log_last(4, LogLevel::Debug, None).unwrap();
        assert_eq!(last, vec![e.clone(), e2.clone(), e3, e4.clone()]);
        assert_eq!(a.log_last(10, LogLevel::Error, None).unwrap(), vec![e2]);
        assert_eq!(
            a.log_last(2, LogLevel::Debug, Some("cluster")).unwrap(),
            vec![e.clone(), e4]
        );
        assert_eq!(
            a.log_last(1, LogLevel::Info, Some("cluster")).unwrap(),
            vec![e]
        );

        // After stopping, nothing more arrives.
        b.monitor_log_stop().unwrap();
        a.log(LogLevel::Error, "unseen by b").unwrap();
        assert_eq!(next(&warn).message, "unseen by b");
        assert!(all.recv_timeout(Duration::from_millis(300)).is_err());
    }

    #[test]
    fn bad_channels_and_long_lines_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let r = Rados::embedded(dir.path()).unwrap();
        for bad in ["", "Has Space", "UPPER"] {
            let e = r.log_to(LogLevel::Info, Some(bad), "x").unwrap_err();
            assert_eq!(e.errno(), crate::errno::EINVAL, "{bad:?}: {e}");
        }
        let long = "x".repeat(crate::msg::clog::MAX_LOG_MESSAGE_BYTES + 1);
        let e = r.log(LogLevel::Info, &long).unwrap_err();
        assert_eq!(e.errno(), crate::errno::EINVAL);
        assert!(r.log_last(10, LogLevel::Debug, Some("x y")).is_err());
    }

    #[test]
    fn the_log_outlives_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let first = {
            let r = Rados::embedded(dir.path()).unwrap();
            r.log(LogLevel::Warn, "before the restart").unwrap();
            r.log_last(1, LogLevel::Warn, None).unwrap()
        };
        let r = Rados::embedded(dir.path()).unwrap();
        assert_eq!(r.log_last(1, LogLevel::Warn, None).unwrap(), first);
        r.log(LogLevel::Warn, "after").unwrap();
        let last = r.log_last(1, LogLevel::Warn, None).unwrap();
        assert!(last[0].seq > first[0].seq);
    }
}
