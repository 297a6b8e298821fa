//! Watches, client side: each registered watch's callbacks and health (when its primary last
//! confirmed it, or the error that ended it), the pings that keep it alive on the primary, and
//! registering it again when its object's PG changes interval.
//!
//! A watch fails — once, for good, until it is unwatched, as in Ceph — when its primary drops
//! it (the object was removed: `WatchDisconnect`), when a ping finds it gone (it lapsed), or
//! when registering it again fails. It then reports [`Error::NotConnected`] (or the error of
//! the failed registration) from [`super::IoCtx::watch_check`] and to its error callback.

use super::{Error, Rados, Result};
use crate::msg::ops::{ObjectName, OpStep, SnapContext, DEFAULT_WATCH_TIMEOUT, MAX_WATCH_TIMEOUT};
use crate::msg::{Envelope, Message, Messenger};
use crate::osdmap::{OsdMap, PgId};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

/// How often a watch is pinged at most (Ceph's objecter ticks every 5 s).
pub const MAX_PING_INTERVAL: Duration = Duration::from_secs(5);

/// A notify as a watcher's callback sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotifyEvent {
    pub notify_id: u64,
    /// The notifying client's id.
    pub notifier: u64,
    /// The watch this notify arrived through.
    pub cookie: u64,
    pub payload: bytes::Bytes,
}

/// The watcher's callback: returns the reply sent back to the notifier.
pub type WatchCallback = Arc<dyn Fn(&NotifyEvent) -> Vec<u8> + Send + Sync>;

/// Called once when a watch fails, with its cookie and the error (see the module docs). It
/// runs on a blocking thread and may itself call the client (to unwatch and watch again).
pub type WatchErrorCallback = Arc<dyn Fn(u64, &Error) + Send + Sync>;

/// How a watch is kept.
#[derive(Clone, Default)]
pub struct WatchOptions {
    /// How long the primary keeps the watch without hearing from this client (whole
    /// seconds, rounded up); `None`: the OSD's default, 30 s. The client pings it every
    /// third of that, at most every 5 s.
    pub timeout: Option<Duration>,
    /// Told when the watch fails.
    pub on_error: Option<WatchErrorCallback>,
}

impl WatchOptions {
    /// The timeout as the OSD takes it: whole seconds, 0 for its default.
    fn timeout_secs(&self) -> u32 {
        self.timeout.map_or(0, |t| {
            let t = t.min(MAX_WATCH_TIMEOUT);
            let secs = t.as_secs() + u64::from(t.subsec_nanos() > 0);
            u32::try_from(secs.max(1)).unwrap_or(u32::MAX)
        })
    }

    fn ping_interval(&self) -> Duration {
        let timeout = match self.timeout_secs() {
            0 => DEFAULT_WATCH_TIMEOUT,
            s => Duration::from_secs(u64::from(s)),
        };
        (timeout / 3).min(MAX_PING_INTERVAL)
    }
}

struct Health {
    /// When the primary last confirmed the watch (the send time of its latest successful
    /// registration or ping).
    confirmed: Instant,
    error: Option<Error>,
    /// Bumped whenever the watch is registered again (its PG changed interval): what a
    /// ping or registration of an older generation learns no longer counts, since the new
    /// primary may see that ping before the registration.
    generation: u64,
    /// A registration is in flight: pings wait for it.
    registering: bool,
}

impl Health {
    fn new() -> Arc<Mutex<Health>> {
        Arc::new(Mutex::new(Health {
            confirmed: Instant::now(),
            error: None,
            generation: 0,
            registering: false,
        }))
    }
}

#[derive(Clone)]
pub(crate) struct WatchEntry {
    pub(crate) pool: i64,
    pub(crate) object: ObjectName,
    callback: WatchCallback,
    on_error: Option<WatchErrorCallback>,
    timeout_secs: u32,
    health: Arc<Mutex<Health>>,
}

impl WatchEntry {
    fn health(&self) -> std::sync::MutexGuard<'_, Health> {
        self.health.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn failed(&self) -> bool {
        self.health().error.is_some()
    }

    /// The generation to ping under, or None when there is nothing to ping (the watch
    /// failed) or a registration is in flight.
    fn ping_generation(&self) -> Option<u64> {
        let h = self.health();
        (h.error.is_none() && !h.registering).then_some(h.generation)
    }

    /// Starts registering the watch again; returns the new generation.
    fn begin_registration(&self) -> u64 {
        let mut h = self.health();
        h.generation += 1;
        h.registering = true;
        h.generation
    }

    /// Whether `generation` is still the watch's latest (ending its registration, if any).
    fn settle(&self, generation: u64, registration: bool) -> bool {
        let mut h = self.health();
        if h.generation != generation {
            return false;
        }
        if registration {
            h.registering = false;
        }
        true
    }

    fn confirm(&self, at: Instant) {
        let mut h = self.health();
        h.confirmed = h.confirmed.max(at);
    }

    fn register_step(&self, cookie: u64) -> OpStep {
        OpStep::Watch {
            cookie,
            timeout_secs: self.timeout_secs,
        }
    }
}

/// The client's watches by cookie.
#[derive(Default)]
pub(crate) struct Watches {
    map: Mutex<HashMap<u64, WatchEntry>>,
}

impl Watches {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<u64, WatchEntry>> {
        self.map.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn get(&self, cookie: u64) -> Option<WatchEntry> {
        self.map().get(&cookie).cloned()
    }

    /// Puts watch `cookie` in error (the first error sticks) and tells its error callback.
    fn fail(&self, cookie: u64, err: Error) {
        let Some(entry) = self.get(cookie) else {
            return;
        };
        // Ceph's normalisation: a watch whose object is gone is disconnected, whether the
        // primary said so or a registration raced the removal.
        let err = match err {
            Error::NotFound { what } => Error::NotConnected { what },
            e => e,
        };
        {
            let mut h = entry.health();
            if h.error.is_some() {
                return;
            }
            h.error = Some(err.clone());
        }
        tracing::info!(target: "client", "watch {cookie} on {} failed: {err}", entry.object.name);
        if let Some(cb) = entry.on_error {
            // User code that may block: off the runtime's workers.
            tokio::task::spawn_blocking(move || cb(cookie, &err));
        }
    }

    /// Runs the watch's callback for a notify (off the receive loop: it is user code and
    /// may block) and acknowledges it with the callback's reply. A notify for a watch this
    /// client no longer has is not acknowledged; the notifier counts it as timed out.
    pub(crate) fn on_notify(&self, msgr: &Messenger, env: Envelope) {
        let Message::WatchNotify {
            pgid,
            cookie,
            notify_id,
            notifier,
            payload,
        } = env.msg
        else {
            return;
        };
        let Some(entry) = self.get(cookie) else {
            return;
        };
        let ev = NotifyEvent {
            notify_id,
            notifier,
            cookie,
            payload,
        };
        let msgr = msgr.clone();
        tokio::spawn(async move {
            let reply = tokio::task::spawn_blocking(move || (entry.callback)(&ev))
                .await
                .unwrap_or_default();
            let ack = Message::NotifyAck {
                pgid,
                cookie,
                notify_id,
                reply: reply.into(),
            };
            let _ = msgr.send(env.src, env.tid, env.epoch, &ack).await;
        });
    }

    /// The primary dropped watch `cookie`.
    pub(crate) fn on_disconnect(&self, cookie: u64) {
        let what = match self.get(cookie) {
            Some(e) => format!("watch {cookie} on {}", e.object.name),
            None => return,
        };
        self.fail(cookie, Error::NotConnected { what });
    }
}

impl Rados {
    /// Registers a watch on `object` (answered by its primary) and starts pinging it.
    pub(crate) async fn watch_object(
        &self,
        pool: i64,
        object: ObjectName,
        callback: WatchCallback,
        options: WatchOptions,
    ) -> Result<u64> {
        let cookie = self.tid();
        let entry = WatchEntry {
            pool,
            object,
            callback,
            on_error: options.on_error.clone(),
            timeout_secs: options.timeout_secs(),
            health: Health::new(),
        };
        // Registered first, so a notify racing the reply finds its callback.
        self.inner.watches.map().insert(cookie, entry.clone());
        let sent = Instant::now();
        if let Err(e) = self
            .submit_watch_step(&entry, entry.register_step(cookie))
            .await
        {
            self.inner.watches.map().remove(&cookie);
            return Err(e);
        }
        entry.confirm(sent);
        spawn_pinger(Arc::downgrade(&self.inner), cookie, options.ping_interval());
        Ok(cookie)
    }

    /// Unregisters watch `cookie` (NotFound if this client has no such watch). Unwatching a
    /// failed watch succeeds, as in Ceph, even though its object may be gone: the primary is
    /// still told, in case it kept the watch.
    pub(crate) async fn unwatch_cookie(&self, cookie: u64) -> Result<()> {
        let entry = self
            .inner
            .watches
            .map()
            .remove(&cookie)
            .ok_or_else(|| Error::NotFound {
                what: format!("watch {cookie}"),
            })?;
        let done = self
            .submit_watch_step(&entry, OpStep::Unwatch { cookie })
            .await;
        if entry.failed() {
            return Ok(());
        }
        done
    }

    /// How long ago the primary last confirmed watch `cookie`, or the error that ended it.
    pub(crate) fn check_watch(&self, cookie: u64) -> Result<Duration> {
        let entry = self
            .inner
            .watches
            .get(cookie)
            .ok_or_else(|| Error::NotFound {
                what: format!("watch {cookie}"),
            })?;
        let h = entry.health();
        match &h.error {
            Some(e) => Err(e.clone()),
            None => Ok(h.confirmed.elapsed()),
        }
    }

    async fn submit_watch_step(&self, entry: &WatchEntry, step: OpStep) -> Result<()> {
        self.submit(
            entry.pool,
            entry.object.clone(),
            (vec![step], Vec::new()),
            crate::store::SNAP_HEAD,
            SnapContext::default(),
            None,
        )
        .await
        .map(drop)
    }
}

/// Pings watch `cookie` every `every` until it is unwatched, fails, or the client goes. Any
/// failed ping fails the watch, as in Ceph.
fn spawn_pinger(client: Weak<super::ClientInner>, cookie: u64, every: Duration) {
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(every).await;
            let Some(inner) = client.upgrade() else {
                return;
            };
            let rados = Rados { inner };
            let Some(entry) = rados.inner.watches.get(cookie).filter(|e| !e.failed()) else {
                release(rados);
                return;
            };
            // While it is being registered again, the registration confirms it.
            if let Some(generation) = entry.ping_generation() {
                let sent = Instant::now();
                let pinged = rados
                    .submit_watch_step(&entry, OpStep::WatchPing { cookie })
                    .await;
                if entry.settle(generation, false) {
                    match pinged {
                        Ok(()) => entry.confirm(sent),
                        // (Unwatched while the ping was out: `fail` finds nothing to report.)
                        Err(e) => rados.inner.watches.fail(cookie, e),
                    }
                }
            }
            release(rados);
        }
    });
}

/// Registers the client's watches again on PGs whose interval changed (the new primary has
/// none of them); a registration that fails fails its watch.
pub(crate) fn rewatch(
    client: &Weak<super::ClientInner>,
    watches: &Watches,
    old: &OsdMap,
    new: &OsdMap,
) {
    let entries: Vec<(u64, WatchEntry)> = watches
        .map()
        .iter()
        .filter(|(_, e)| !e.failed())
        .map(|(c, e)| (*c, e.clone()))
        .collect();
    for (cookie, e) in entries {
        let Some(pool) = new.pool(e.pool) else {
            continue;
        };
        let key = if e.object.key.is_empty() {
            &e.object.name
        } else {
            &e.object.key
        };
        let hash = pool.hash_key(key.as_bytes(), e.object.namespace.as_bytes());
        let pgid = pool.raw_pg_to_pg(PgId::new(e.pool, hash));
        if !crate::osdmap::interval_changed(old, new, pgid) {
            continue;
        }
        // Before any ping can be resent to the new primary: the map reached this client
        // just now, and replies (to pings too) come through the receive loop that runs this.
        let generation = e.begin_registration();
        let client = client.clone();
        tokio::spawn(async move {
            let Some(inner) = client.upgrade() else {
                return;
            };
            let rados = Rados { inner };
            let sent = Instant::now();
            let registered = rados.submit_watch_step(&e, e.register_step(cookie)).await;
            if e.settle(generation, true) {
                match registered {
                    Ok(()) => e.confirm(sent),
                    Err(err) => {
                        tracing::warn!(target: "client", "re-registering watch {cookie} on {}: {err}", e.object.name);
                        rados.inner.watches.fail(cookie, err);
                    }
                }
            }
            release(rados);
        });
    }
}

/// Drops a handle taken inside the runtime. Should it be the client's last, dropping it
/// shuts the cluster down, which cannot be done from a runtime thread: that is left to a
/// plain thread.
fn release(rados: Rados) {
    if Arc::strong_count(&rados.inner) == 1 {
        let _ = std::thread::Builder::new()
            .name("rados-release".into())
            .spawn(move || drop(rados));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(timeout: Option<Duration>) -> WatchOptions {
        WatchOptions {
            timeout,
            on_error: None,
        }
    }

    #[test]
    fn answers_from_before_a_registration_do_not_count() {
        let e = WatchEntry {
            pool: 1,
            object: ObjectName::default(),
            callback: Arc::new(|_| Vec::new()),
            on_error: None,
            timeout_secs: 0,
            health: Health::new(),
        };
        let ping = e.ping_generation().unwrap();
        let reg = e.begin_registration();
        assert_eq!(e.ping_generation(), None, "no pings while registering");
        assert!(!e.settle(ping, false), "the older ping's answer is ignored");
        assert!(e.settle(reg, true));
        assert_eq!(e.ping_generation(), Some(reg));
        // Registered again twice in a row: only the newer registration settles it.
        let (older, newer) = (e.begin_registration(), e.begin_registration());
        assert!(!e.settle(older, true));
        assert_eq!(e.ping_generation(), None);
        assert!(e.settle(newer, true));
        assert_eq!(e.ping_generation(), Some(newer));
    }

    #[test]
    fn timeouts_round_up_to_whole_seconds_and_pings_come_well_within_them() {
        assert_eq!(opts(None).timeout_secs(), 0);
        assert_eq!(opts(None).ping_interval(), Duration::from_secs(5));
        assert_eq!(opts(Some(Duration::from_millis(1))).timeout_secs(), 1);
        assert_eq!(opts(Some(Duration::from_millis(1500))).timeout_secs(), 2);
        assert_eq!(opts(Some(Duration::from_secs(3))).timeout_secs(), 3);
        assert_eq!(
            opts(Some(Duration::from_secs(3))).ping_interval(),
            Duration::from_secs(1)
        );
        assert_eq!(
            opts(Some(Duration::MAX)).timeout_secs() as u64,
            MAX_WATCH_TIMEOUT.as_secs()
        );
        assert_eq!(opts(Some(Duration::MAX)).ping_interval(), MAX_PING_INTERVAL);
    }
}
