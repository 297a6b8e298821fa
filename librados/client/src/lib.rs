//! The client API: [`Rados`] (a cluster handle) and [`IoCtx`] (a pool, namespace and locator).
//!
//! The client computes placement itself (object → PG → acting primary), sends each request to
//! the primary, and resends when the PG's interval changes or the OSD asks it to (a newer map).
//! Every operation is async at the core ([`IoCtx::aio`]); the blocking methods wait on the
//! cluster's runtime, and refuse to run inside async code.
//!
//! Bounds: each handle keeps at most [`MAX_OPS_IN_FLIGHT`] requests and
//! [`MAX_BYTES_IN_FLIGHT`] payload bytes in flight (Ceph's objecter defaults); more wait.

pub use rados_common::config;
use rados_common::errno;
use rados_msg as msg;
use rados_placement::osdmap;
use rados_store as store;

mod application;
mod clog;
mod dispatch;
pub mod error;
mod extent;
mod ioctx;
mod ops;
mod order;
mod snap;
mod watch;

pub use crate::msg::clog::{ClusterLogEntry, LogLevel};
pub use crate::msg::command::{ClusterStatus, PoolOption, PoolUsage, TreeNode};
pub use crate::msg::ops::{
    CloneListing, CmpMode, CmpOp, SnapContext, SnapListing, StepOutput, StepResult,
};
pub use crate::store::SNAP_HEAD;
pub use clog::ClusterLogCallback;
pub use config::Config;
pub use error::{Error, Result};
pub use ioctx::{AioCtx, IoCtx, ListEntry, LockRenew, NotifyReplies, ObjectIter, ObjectStat};
pub use ops::{LockType, Locker, OpFlags, ReadOp, WriteOp};
pub use snap::PoolSnapInfo;
pub use watch::{NotifyEvent, WatchCallback, WatchErrorCallback, WatchOptions};

use crate::msg::command::{MonCommand, MonReply};
use crate::msg::ops::{ObjectName, OpOutcome, OpStep, OsdOpRequest, ReqId};
use crate::msg::{EntityName, Envelope, Message, Messenger};
use crate::osdmap::{EntityAddr, OsdMap, PgId, UTime};
use rados_cluster::Embedded;
use std::any::Any;
use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{oneshot, Semaphore};

pub const MAX_OPS_IN_FLIGHT: usize = 1024;
pub const MAX_BYTES_IN_FLIGHT: usize = 100 << 20;
/// How long a monitor command may take.
pub const MON_TIMEOUT: Duration = Duration::from_secs(30);

type Pending = Mutex<HashMap<u64, oneshot::Sender<Envelope>>>;

pub(crate) struct ClientInner {
    pub(crate) id: u64,
    msgr: Messenger,
    map: tokio::sync::watch::Receiver<Arc<OsdMap>>,
    pending: Arc<Pending>,
    watches: Arc<watch::Watches>,
    log_follower: Arc<clog::LogFollower>,
    next_tid: AtomicU64,
    /// Operations on one object run in submission order.
    order: order::ObjectOrder,
    ops: Semaphore,
    bytes: Semaphore,
    op_timeout: Option<Duration>,
    /// Where the client's tasks run and its blocking calls wait.
    runtime: tokio::runtime::Handle,
    /// Word of reset sessions with OSDs (their requests are sent again).
    resets: tokio::sync::broadcast::Sender<EntityName>,
    /// Keeps an embedded deployment running while this handle lives; never used otherwise.
    _deployment: Option<Arc<dyn Any + Send + Sync>>,
}

/// A connection to a cluster: pools, monitor commands, and [`IoCtx`]s.
#[derive(Clone)]
pub struct Rados {
    inner: Arc<ClientInner>,
}

impl Drop for ClientInner {
    fn drop(&mut self) {
        self.msgr.network().unregister(self.msgr.me);
    }
}

impl Rados {
    /// Opens (creating on first use) the embedded cluster in `dir`, as a new client.
    pub fn embedded(dir: impl AsRef<std::path::Path>) -> Result<Rados> {
        Rados::connect(&Config::embedded(dir))
    }

    /// Connects as `config` says: `mon_host` names monitor daemons to reach over TCP; a
    /// `data_dir` without `mon_host` runs the cluster embedded, in this process.
    pub fn connect(config: &Config) -> Result<Rados> {
        if tokio::runtime::Handle::try_current().is_ok() {
            return Err(blocking_in_async());
        }
        let op_timeout = config.op_timeout()?;
        if let Some(hosts) = config.mon_host() {
            return Rados::connect_tcp(config, hosts, op_timeout);
        }
        let dir = config.data_dir().ok_or_else(|| {
            Error::InvalidArgument("the configuration names neither data_dir nor mon_host".into())
        })?;
        let cluster = Embedded::open(&dir, config)?;
        let rt = cluster.handle();
        let net = cluster.network();
        let deployment: Arc<dyn Any + Send + Sync> = cluster;
        rt.block_on(Rados::start(
            net,
            rt.clone(),
            Some(deployment),
            op_timeout,
            MON_TIMEOUT,
        ))
    }

    fn connect_tcp(config: &Config, hosts: &str, op_timeout: Option<Duration>) -> Result<Rados> {
        let mons = rados_cluster::daemon::parse_mon_host(hosts)?;
        let fsid = match config.get("fsid") {
            Some(f) => f.parse().map_err(|e: crate::osdmap::FsidParseError| {
                Error::InvalidArgument(e.to_string())
            })?,
            // Learned from the monitor.
            None => crate::osdmap::Fsid::NIL,
        };
        let mount_timeout = config.mount_timeout()?;
        let rt = tcp_runtime()?;
        let handle = rt.clone();
        rt.block_on(async move {
            let net = crate::msg::TcpNetwork::new(
                crate::msg::TcpConfig::new(fsid),
                tokio::runtime::Handle::current(),
            );
            net.set_addr(
                EntityName::mon(0),
                crate::msg::PeerAddr {
                    public: mons[0],
                    cluster: None,
                    nonce: 0,
                },
            );
            let r = Rados::start(
                Arc::new(net.clone()),
                handle,
                None,
                op_timeout,
                mount_timeout,
            )
            .await;
            if r.is_err() {
                net.shutdown();
            }
            r
        })
    }

    async fn start(
        net: Arc<dyn crate::msg::Network>,
        runtime: tokio::runtime::Handle,
        deployment: Option<Arc<dyn Any + Send + Sync>>,
        op_timeout: Option<Duration>,
        mount_timeout: Duration,
    ) -> Result<Rados> {
        // A provisional name to ask the monitor for our id: the top half of the id space,
        // which the monitor never allocates, at random, so clients of other processes do not
        // collide.
        let temp = EntityName::client((1 << 63) | (rados_common::random::nonzero_u64() >> 1));
        let mut inbox = net.register(temp);
        let msgr = Messenger::new(temp, net.clone());
        let unreachable = |e: crate::msg::MsgError| Error::Os {
            what: "monitor".into(),
            errno: e.errno(),
            message: e.to_string(),
        };
        msgr.send(
            EntityName::mon(0),
            1,
            0,
            &Message::MonCommand(MonCommand::AllocClientId),
        )
        .await
        .map_err(unreachable)?;
        let allocated = tokio::time::timeout(mount_timeout, async {
            while let Some(env) = inbox.recv().await {
                if let Message::MonCommandReply(r) = env.msg {
                    return match r? {
                        MonReply::ClientId(id) => Ok(id),
                        other => Err(Error::InvalidArgument(format!(
                            "unexpected reply {other:?}"
                        ))),
                    };
                }
            }
            Err(Error::TimedOut {
                what: "the monitor".into(),
            })
        })
        .await;
        let id = match allocated {
            Ok(r) => r,
            Err(_) => Err(Error::TimedOut {
                what: format!(
                    "connecting to the monitor (no answer in {} s)",
                    mount_timeout.as_secs()
                ),
            }),
        };
        let registered = id.map(|id| (id, net.register(EntityName::client(id))));
        net.unregister(temp);
        let (id, inbox) = registered?;
        let me = EntityName::client(id);
        let msgr = Messenger::new(me, net);
        let (map_tx, map_rx) =
            tokio::sync::watch::channel(Arc::new(OsdMap::new(crate::osdmap::Fsid::NIL)));
        let inner = Arc::new(ClientInner {
            id,
            msgr: msgr.clone(),
            map: map_rx,
            pending: Arc::new(Mutex::new(HashMap::new())),
            watches: Arc::new(watch::Watches::default()),
            log_follower: Arc::default(),
            next_tid: AtomicU64::new(1),
            order: order::ObjectOrder::default(),
            ops: Semaphore::new(MAX_OPS_IN_FLIGHT),
            bytes: Semaphore::new(MAX_BYTES_IN_FLIGHT),
            op_timeout,
            runtime,
            resets: tokio::sync::broadcast::channel(64).0,
            _deployment: deployment,
        });
        // The receive loop holds no reference to the handle, so the cluster is always shut down
        // by whoever drops the last handle, never from inside its own runtime.
        let receiver = dispatch::Receiver {
            client: Arc::downgrade(&inner),
            pending: inner.pending.clone(),
            watches: inner.watches.clone(),
            log_follower: inner.log_follower.clone(),
            msgr,
            map_tx,
            resets: inner.resets.clone(),
        };
        tokio::spawn(receiver.run(inbox));
        let rados = Rados { inner };
        rados.request_map(0).await;
        rados.wait_for_epoch(1).await?;
        Ok(rados)
    }

    /// This handle's client id (`client.N`).
    pub fn instance_id(&self) -> u64 {
        self.inner.id
    }

    /// This client's address, which a blocklist names (`127.0.0.1:0/<instance id>` for a
    /// client of the embedded cluster).
    pub fn addr(&self) -> EntityAddr {
        self.inner.msgr.addr_of(self.inner.msgr.me)
    }

    /// Fences `addr` (a client's address, or an IP alone for every client there) for
    /// `expire` (an hour when `None`): from the map epoch this creates, OSDs refuse the
    /// client's requests with [`Error::Blocklisted`] and drop its watches. Returns the
    /// monitor's message once this client's map has the fence, so whatever this client
    /// does next (take over a lock, say) is ordered after it.
    pub fn blocklist_add(&self, addr: &str, expire: Option<Duration>) -> Result<String> {
        self.done_message(MonCommand::BlocklistAdd {
            addr: addr.into(),
            expire_secs: expire.map(|d| d.as_secs_f64()),
        })
    }

    /// Lifts a fence; an address that is not fenced is no error.
    pub fn blocklist_remove(&self, addr: &str) -> Result<String> {
        self.done_message(MonCommand::BlocklistRemove { addr: addr.into() })
    }

    /// Lifts every fence.
    pub fn blocklist_clear(&self) -> Result<String> {
        self.done_message(MonCommand::BlocklistClear)
    }

    /// The fenced addresses and when each fence is lifted.
    pub fn blocklist(&self) -> Result<Vec<(EntityAddr, UTime)>> {
        match self.mon_command(MonCommand::BlocklistList)? {
            MonReply::Blocklist(entries) => Ok(entries),
            other => Err(unexpected(other)),
        }
    }

    pub fn fsid(&self) -> String {
        self.osdmap().fsid().to_string()
    }

    /// The current OSD map.
    pub fn osdmap(&self) -> Arc<OsdMap> {
        self.inner.map.borrow().clone()
    }

    /// Runs `fut` on the cluster's runtime and waits for it.
    pub(crate) fn block_on<F: Future<Output = Result<T>> + Send + 'static, T: Send + 'static>(
        &self,
        fut: F,
    ) -> Result<T> {
        if tokio::runtime::Handle::try_current().is_ok() {
            return Err(blocking_in_async());
        }
        self.inner.runtime.block_on(fut)
    }

    fn tid(&self) -> u64 {
        self.inner.next_tid.fetch_add(1, Ordering::Relaxed)
    }

    /// A new tid whose reply the receive loop will hand to the returned receiver.
    fn expect_reply(&self) -> (u64, oneshot::Receiver<Envelope>) {
        let tid = self.tid();
        let (tx, rx) = oneshot::channel();
        self.pending().insert(tid, tx);
        (tid, rx)
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, HashMap<u64, oneshot::Sender<Envelope>>> {
        self.inner.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    async fn request_map(&self, have: u32) {
        let tid = self.tid();
        let _ = self
            .inner
            .msgr
            .send(
                EntityName::mon(0),
                tid,
                have,
                &Message::MonGetMap {
                    have,
                    subscribe: true,
                },
            )
            .await;
    }

    /// Waits until the map is at least `epoch`.
    pub(crate) async fn wait_for_epoch(&self, epoch: u32) -> Result<()> {
        let mut rx = self.inner.map.clone();
        let ok = tokio::time::timeout(MON_TIMEOUT, rx.wait_for(|m| m.epoch() >= epoch))
            .await
            .is_ok_and(|r| r.is_ok());
        if ok {
            Ok(())
        } else {
            Err(Error::TimedOut {
                what: format!("waiting for map epoch {epoch}"),
            })
        }
    }

    /// Sends a request and waits for the reply with the same tid.
    async fn call(
        &self,
        to: EntityName,
        msg: &Message,
        timeout: Option<Duration>,
    ) -> Result<Option<Envelope>> {
        let (tid, rx) = self.expect_reply();
        let epoch = self.inner.map.borrow().epoch();
        if let Err(e) = self.inner.msgr.send(to, tid, epoch, msg).await {
            self.pending().remove(&tid);
            tracing::debug!(target: "client", "send to {to} failed: {e}");
            return Ok(None);
        }
        let res = match timeout {
            Some(t) => tokio::time::timeout(t, rx).await.ok().and_then(|r| r.ok()),
            None => rx.await.ok(),
        };
        if res.is_none() {
            self.pending().remove(&tid);
        }
        Ok(res)
    }

    /// Runs a monitor command; waits until this client's map reflects a change it made.
    pub async fn mon_command_async(&self, cmd: MonCommand) -> Result<MonReply> {
        let env = self
            .call(
                EntityName::mon(0),
                &Message::MonCommand(cmd),
                Some(MON_TIMEOUT),
            )
            .await?
            .ok_or_else(|| Error::TimedOut {
                what: "monitor command".into(),
            })?;
        let Message::MonCommandReply(reply) = env.msg else {
            return Err(Error::InvalidArgument(
                "unexpected reply from the monitor".into(),
            ));
        };
        let reply = reply?;
        if let MonReply::Done { epoch, .. } | MonReply::Snap { epoch, .. } = &reply {
            self.wait_for_epoch(*epoch).await?;
        }
        Ok(reply)
    }

    pub fn mon_command(&self, cmd: MonCommand) -> Result<MonReply> {
        let me = self.clone();
        self.block_on(async move { me.mon_command_async(cmd).await })
    }

    /// Creates a replicated pool with the cluster's default size and pg_num.
    pub fn create_pool(&self, name: &str) -> Result<()> {
        self.create_pool_with(name, None, None)
    }

    pub fn create_pool_with(
        &self,
        name: &str,
        pg_num: Option<u32>,
        size: Option<u8>,
    ) -> Result<()> {
        self.mon_command(MonCommand::PoolCreate {
            name: name.into(),
            pg_num,
            size,
        })
        .map(|_| ())
    }

    pub fn delete_pool(&self, name: &str) -> Result<()> {
        self.mon_command(MonCommand::PoolDelete { name: name.into() })
            .map_err(|e| match e {
                Error::NotFound { .. } => Error::PoolNotFound { name: name.into() },
                e => e,
            })
            .map(|_| ())
    }

    pub fn list_pools(&self) -> Vec<String> {
        self.osdmap()
            .pools()
            .values()
            .map(|p| p.name.clone())
            .collect()
    }

    pub fn pool_lookup(&self, name: &str) -> Option<i64> {
        self.osdmap().pool_by_name(name).map(|p| p.id)
    }

    pub fn pool_exists(&self, name: &str) -> bool {
        self.pool_lookup(name).is_some()
    }

    /// An I/O context on pool `name`.
    pub fn ioctx(&self, name: &str) -> Result<IoCtx> {
        let id = self
            .pool_lookup(name)
            .ok_or_else(|| Error::PoolNotFound { name: name.into() })?;
        Ok(IoCtx::new(self.clone(), id, name.to_string()))
    }

    pub fn status(&self) -> Result<ClusterStatus> {
        match self.mon_command(MonCommand::Status)? {
            MonReply::Status(s) => Ok(s),
            other => Err(unexpected(other)),
        }
    }

    pub fn df(&self) -> Result<Vec<PoolUsage>> {
        match self.mon_command(MonCommand::Df)? {
            MonReply::Df(d) => Ok(d),
            other => Err(unexpected(other)),
        }
    }

    /// Every PG: its state as its primary last reported it, its objects and bytes, its up and
    /// acting sets, and how many objects it still has to recover (`pg ls`).
    pub fn pg_dump(&self) -> Result<Vec<crate::msg::command::PgSummary>> {
        match self.mon_command(MonCommand::PgDump)? {
            MonReply::PgDump(p) => Ok(p),
            other => Err(unexpected(other)),
        }
    }

    pub fn osd_tree(&self) -> Result<Vec<TreeNode>> {
        match self.mon_command(MonCommand::OsdTree)? {
            MonReply::OsdTree(t) => Ok(t),
            other => Err(unexpected(other)),
        }
    }

    pub fn pool_get(&self, pool: &str, var: &str) -> Result<PoolOption> {
        match self.mon_command(MonCommand::PoolGet {
            name: pool.into(),
            var: var.into(),
        })? {
            MonReply::PoolOption(o) => Ok(o),
            other => Err(unexpected(other)),
        }
    }

    pub fn pool_set(&self, pool: &str, var: &str, value: &str) -> Result<()> {
        self.mon_command(MonCommand::PoolSet {
            name: pool.into(),
            var: var.into(),
            value: value.into(),
        })
        .map(|_| ())
    }

    /// Marks OSDs out (`false`) or in (`true`).
    pub fn osd_set_in(&self, ids: &[i32], is_in: bool) -> Result<String> {
        let cmd = if is_in {
            MonCommand::OsdIn { ids: ids.to_vec() }
        } else {
            MonCommand::OsdOut { ids: ids.to_vec() }
        };
        match self.mon_command(cmd)? {
            MonReply::Done { message, .. } => Ok(message),
            other => Err(unexpected(other)),
        }
    }

    /// Sets an OSD's reweight (0.0 .. 1.0).
    pub fn osd_reweight(&self, id: i32, weight: f64) -> Result<String> {
        self.done_message(MonCommand::OsdReweight { id, weight })
    }

    /// Sets a CRUSH item's weight.
    pub fn osd_crush_reweight(&self, name: &str, weight: f64) -> Result<String> {
        self.done_message(MonCommand::OsdCrushReweight {
            name: name.into(),
            weight,
        })
    }

    /// The CRUSH map, in Ceph's binary encoding (`rados crush -d` decompiles it).
    pub fn get_crush_map(&self) -> Result<Vec<u8>> {
        match self.mon_command(MonCommand::GetCrushMap)? {
            MonReply::CrushMap(m) => Ok(m),
            other => Err(unexpected(other)),
        }
    }

    /// Replaces the CRUSH map (binary or crushtool text); data moves as the new map says.
    pub fn set_crush_map(&self, map: &[u8]) -> Result<String> {
        self.done_message(MonCommand::SetCrushMap { map: map.to_vec() })
    }

    fn done_message(&self, cmd: MonCommand) -> Result<String> {
        match self.mon_command(cmd)? {
            MonReply::Done { message, .. } => Ok(message),
            other => Err(unexpected(other)),
        }
    }

    pub fn osd_down(&self, ids: &[i32]) -> Result<String> {
        match self.mon_command(MonCommand::OsdDown { ids: ids.to_vec() })? {
            MonReply::Done { message, .. } => Ok(message),
            other => Err(unexpected(other)),
        }
    }

    /// Waits until every PG of every pool is active+clean (or `timeout` passes).
    pub fn wait_for_clean(&self, timeout: Duration) -> Result<()> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let s = self.status()?;
            if s.pgs_by_state.keys().all(|k| k == "active+clean") && s.num_up_osds == s.num_osds {
                return Ok(());
            }
            if std::time::Instant::now() > deadline {
                return Err(Error::TimedOut {
                    what: format!("waiting for clean PGs ({:?})", s.pgs_by_state),
                });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Sends one compound request (its steps, and the indices of those allowed to fail) to
    /// the object's primary until it is answered.
    pub(crate) async fn submit(
        &self,
        pool: i64,
        object: ObjectName,
        (steps, failok): (Vec<OpStep>, Vec<u32>),
        snap: u64,
        snapc: crate::msg::ops::SnapContext,
        mtime_ns: Option<u64>,
    ) -> Result<(Vec<StepResult>, u64)> {
        // Taken before the first await: the turn's order is the order of submission.
        let mut turn = self.inner.order.take(pool, &object);
        turn.ready().await;
        if steps.iter().any(|s| matches!(s, OpStep::Notify { .. })) {
            // A notify comes after what was submitted before it, but what follows need not
            // wait for its watchers (whose callbacks may well use this object themselves).
            drop(turn);
        }
        let what = object.name.clone();
        // What the request costs the OSDs: a write-same of a few bytes writes its whole extent.
        let bytes: u64 = steps
            .iter()
            .map(|s| s.payload_bytes().max(s.written_bytes()))
            .fold(0, u64::saturating_add);
        let _op_permit = self.inner.ops.acquire().await.map_err(|_| closed())?;
        let byte_permits = bytes.min(MAX_BYTES_IN_FLIGHT as u64) as u32;
        let _byte_permit = self
            .inner
            .bytes
            .acquire_many(byte_permits)
            .await
            .map_err(|_| closed())?;
        let reqid = ReqId {
            client: self.inner.id,
            tid: self.tid(),
        };
        let deadline = self
            .inner
            .op_timeout
            .map(|t| tokio::time::Instant::now() + t);
        let mut req = OsdOpRequest {
            reqid,
            pgid: PgId::default(),
            object,
            hash: 0,
            steps,
            mtime_ns: mtime_ns.unwrap_or_else(crate::store::transaction::now_ns),
            resend: false,
            snap,
            snapc,
            failok,
        };
        loop {
            let map = self.osdmap();
            let p = map.pool(pool).ok_or_else(|| Error::NotFound {
                what: format!("pool {pool}"),
            })?;
            let key = if req.object.key.is_empty() {
                &req.object.name
            } else {
                &req.object.key
            };
            req.hash = p.hash_key(key.as_bytes(), req.object.namespace.as_bytes());
            req.pgid = p.raw_pg_to_pg(PgId::new(pool, req.hash));
            let primary = map.pg_mapping(req.pgid).acting_primary;
            let outcome = if primary < 0 {
                Sent::MapChanged
            } else {
                self.send_op(&req, primary, &map, deadline).await?
            };
            let outcome = match outcome {
                Sent::Answered(o) => Some(o),
                Sent::MapChanged => None,
                Sent::Reset => {
                    // The OSD's session was reset: it may not have our request. Send again
                    // (a write it did apply is recognised by its request id).
                    self.sleep_or_timeout(Duration::from_millis(10), deadline, &what)
                        .await?;
                    req.resend = true;
                    continue;
                }
            };
            match outcome {
                Some(OpOutcome::Done {
                    results,
                    user_version,
                }) => return Ok((results, user_version)),
                Some(OpOutcome::Failed { errno, .. }) => {
                    return Err(Error::from_errno(errno, what))
                }
                Some(OpOutcome::Retry { epoch }) => {
                    if map.epoch() < epoch {
                        self.request_map(map.epoch()).await;
                        self.wait_until(epoch, deadline, &what).await?;
                    } else {
                        // Our map is current but the PG is not ready there yet.
                        self.sleep_or_timeout(Duration::from_millis(20), deadline, &what)
                            .await?;
                    }
                }
                None => {
                    // No primary, or the map moved under the request: wait for a newer map.
                    if map.epoch() == self.osdmap().epoch() {
                        self.wait_until(map.epoch() + 1, deadline, &what).await?;
                    }
                }
            }
            req.resend = true;
        }
    }

    async fn sleep_or_timeout(
        &self,
        d: Duration,
        deadline: Option<tokio::time::Instant>,
        what: &str,
    ) -> Result<()> {
        if deadline.is_some_and(|dl| tokio::time::Instant::now() + d > dl) {
            return Err(Error::TimedOut {
                what: what.to_string(),
            });
        }
        tokio::time::sleep(d).await;
        Ok(())
    }

    async fn wait_until(
        &self,
        epoch: u32,
        deadline: Option<tokio::time::Instant>,
        what: &str,
    ) -> Result<()> {
        let mut rx = self.inner.map.clone();
        let fut = rx.wait_for(|m| m.epoch() >= epoch);
        match deadline {
            Some(dl) => match tokio::time::timeout_at(dl, fut).await {
                Ok(Ok(_)) => Ok(()),
                Ok(Err(_)) => Err(closed()),
                Err(_) => Err(Error::TimedOut {
                    what: what.to_string(),
                }),
            },
            None => fut.await.map(|_| ()).map_err(|_| closed()),
        }
    }

    /// Sends to `primary`; returns the outcome, or why there is none.
    async fn send_op(
        &self,
        req: &OsdOpRequest,
        primary: i32,
        map: &Arc<OsdMap>,
        deadline: Option<tokio::time::Instant>,
    ) -> Result<Sent> {
        let mut resets = self.inner.resets.subscribe();
        let (tid, rx) = self.expect_reply();
        let msg = Message::OsdOp(Box::new(req.clone()));
        let sent = self
            .inner
            .msgr
            .send(EntityName::osd(primary), tid, map.epoch(), &msg)
            .await;
        let cleanup = || {
            self.pending().remove(&tid);
        };
        match sent {
            Ok(()) => {}
            Err(crate::msg::MsgError::TooLarge { bytes, max }) => {
                cleanup();
                return Err(Error::Os {
                    what: format!(
                        "{}: request of {bytes} bytes exceeds the {max}-byte message limit",
                        req.object.name
                    ),
                    errno: crate::errno::E2BIG,
                    message: error::strerror(crate::errno::E2BIG),
                });
            }
            Err(_) => {
                cleanup();
                return Ok(Sent::MapChanged);
            }
        }
        let mut maps = self.inner.map.clone();
        let pgid = req.pgid;
        let changed = async {
            loop {
                if maps.changed().await.is_err() {
                    return;
                }
                let new = maps.borrow().clone();
                if crate::osdmap::interval_changed(map, &new, pgid) {
                    return;
                }
            }
        };
        let osd = EntityName::osd(primary);
        let reset = async {
            loop {
                match resets.recv().await {
                    Ok(peer) if peer == osd => return,
                    Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => {
                        std::future::pending::<()>().await
                    }
                }
            }
        };
        let wait = async {
            tokio::select! {
                r = rx => r.ok().map(Sent::Answered),
                _ = changed => Some(Sent::MapChanged),
                _ = reset => Some(Sent::Reset),
            }
        };
        let got = match deadline {
            Some(dl) => match tokio::time::timeout_at(dl, wait).await {
                Ok(r) => r,
                Err(_) => {
                    cleanup();
                    return Err(Error::TimedOut {
                        what: req.object.name.clone(),
                    });
                }
            },
            None => wait.await,
        };
        match got {
            Some(Sent::Answered(env)) => match env.msg {
                Message::OsdOpReply(r) => Ok(Sent::Answered(r.outcome)),
                _ => Ok(Sent::MapChanged),
            },
            Some(Sent::Reset) => {
                cleanup();
                Ok(Sent::Reset)
            }
            Some(Sent::MapChanged) | None => {
                cleanup();
                Ok(Sent::MapChanged)
            }
        }
    }

    /// One page of a PG's objects from its primary.
    pub(crate) async fn list_pg(
        &self,
        req: crate::msg::ops::PgListRequest,
    ) -> Result<crate::msg::ops::PgListReply> {
        let deadline = self
            .inner
            .op_timeout
            .map(|t| tokio::time::Instant::now() + t);
        loop {
            let map = self.osdmap();
            let primary = map.pg_mapping(req.pgid).acting_primary;
            if primary >= 0 {
                let reply = self
                    .call(
                        EntityName::osd(primary),
                        &Message::PgList(req.clone()),
                        Some(Duration::from_secs(5)),
                    )
                    .await?;
                if let Some(Envelope {
                    msg: Message::PgListReply(r),
                    epoch,
                    ..
                }) = reply
                {
                    match r {
                        Ok(page) => return Ok(page),
                        Err(e) if e.errno == crate::errno::EAGAIN => {
                            if epoch > map.epoch() {
                                self.request_map(map.epoch()).await;
                                self.wait_until(epoch, deadline, "listing").await?;
                            } else {
                                self.sleep_or_timeout(
                                    Duration::from_millis(20),
                                    deadline,
                                    "listing",
                                )
                                .await?;
                            }
                            continue;
                        }
                        Err(e) => return Err(e.into()),
                    }
                }
            }
            self.sleep_or_timeout(Duration::from_millis(20), deadline, "listing")
                .await?;
        }
    }
}

/// The runtime of every TCP client of this process: two threads, started on first use and
/// kept for the life of the process (handles come and go; their tasks end with them).
fn tcp_runtime() -> Result<tokio::runtime::Handle> {
    static RT: std::sync::OnceLock<std::result::Result<tokio::runtime::Runtime, String>> =
        std::sync::OnceLock::new();
    let rt = RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("rados-client")
            .enable_all()
            .build()
            .map_err(|e| e.to_string())
    });
    match rt {
        Ok(rt) => Ok(rt.handle().clone()),
        Err(e) => Err(Error::Os {
            what: "starting the client runtime".into(),
            errno: crate::errno::EIO,
            message: e.clone(),
        }),
    }
}

/// What became of a request sent to a primary.
enum Sent<T = OpOutcome> {
    Answered(T),
    /// The PG's interval changed (or the primary could not be reached): resend on the map.
    MapChanged,
    /// The primary's session was reset before it answered: resend now.
    Reset,
}

fn closed() -> Error {
    Error::Os {
        what: "client".into(),
        errno: crate::errno::EBADF,
        message: "the client was shut down".into(),
    }
}

fn unexpected(r: MonReply) -> Error {
    Error::InvalidArgument(format!("unexpected monitor reply {r:?}"))
}

fn blocking_in_async() -> Error {
    Error::InvalidArgument(
        "a blocking call was made inside async code; use the async form (IoCtx::aio) instead"
            .into(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::msg::ops::{SnapContext, StepOutput, StepResult};

    /// Sends `req` to its primary as the client's op path does, and waits for the outcome.
    fn send(r: &Rados, req: &OsdOpRequest) -> OpOutcome {
        let (me, req) = (r.clone(), req.clone());
        r.block_on(async move {
            let map = me.osdmap();
            let primary = map.pg_mapping(req.pgid).acting_primary;
            match me.send_op(&req, primary, &map, None).await? {
                Sent::Answered(o) => Ok(o),
                _ => panic!("no answer"),
            }
        })
        .unwrap()
    }

    #[test]
    fn a_resent_write_is_answered_as_the_first_attempt_was() {
        let dir = tempfile::tempdir().unwrap();
        let r = Rados::embedded(dir.path()).unwrap();
        r.ioctx("data")
            .unwrap()
            .write_full("dup", &b"x"[..])
            .unwrap();
        let map = r.osdmap();
        let pool = map.pool_by_name("data").unwrap();
        let hash = pool.hash_key(b"dup", b"");
        let mut req = OsdOpRequest {
            reqid: ReqId {
                client: r.instance_id(),
                tid: u64::MAX / 2,
            },
            pgid: pool.raw_pg_to_pg(PgId::new(pool.id, hash)),
            object: ObjectName {
                name: "dup".into(),
                ..ObjectName::default()
            },
            hash,
            // An exclusive create of an existing object, allowed to fail, then an append.
            steps: vec![
                OpStep::Create { exclusive: true },
                OpStep::Append {
                    data: bytes::Bytes::from_static(b"+"),
                },
            ],
            mtime_ns: 1,
            resend: false,
            snap: crate::store::SNAP_HEAD,
            snapc: SnapContext::default(),
            failok: vec![0],
        };
        let first = send(&r, &req);
        let OpOutcome::Done { results, .. } = &first else {
            panic!("{first:?}")
        };
        let failed = StepResult {
            rval: -crate::errno::EEXIST,
            out: StepOutput::Failed {
                errno: crate::errno::EEXIST,
            },
        };
        assert_eq!(results, &vec![failed, StepResult::default()]);
        // The reply was lost, say: the resend is recognised, not applied again, and
        // answered with the same results and version.
        req.resend = true;
        assert_eq!(send(&r, &req), first);
        let io = r.ioctx("data").unwrap();
        assert_eq!(&io.read("dup", 16, 0).unwrap()[..], b"x+");
    }
}
