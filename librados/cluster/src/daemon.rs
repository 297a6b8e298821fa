//! The daemons: a monitor or one OSD of a data directory, served over TCP. The same
//! `Monitor`, `Osd`, PG code and store as the embedded deployment; only the transport differs.
//!
//! Configuration, from `DIR/cluster.conf` as the daemon reads it (`[global]`, `[mon]` or
//! `[osd]`, `[mon.0]` or `[osd.N]`):
//!
//! ```ini
//! [global]
//! fsid = ...                     # the cluster's identity (written at creation)
//! mon_host = 127.0.0.1:6789      # where the monitor listens
//! osd_count = 3
//! [osd.1]
//! public_addr = 10.0.0.2         # where clients and the monitor reach it (port: any free)
//! cluster_addr = 10.1.0.2:6900   # where other OSDs do (default: the public address)
//! host = rack1-host2             # its CRUSH host (default: hostN)
//! ```
//!
//! Without `public_addr`, an OSD listens on the IP this host uses to reach the monitor, on a
//! free port; the map carries the address (with the incarnation's nonce) to everyone else.

use crate::mon::Monitor;
use crate::msg::{EntityName, Listener, Messenger, Network, PeerAddr, TcpConfig, TcpNetwork};
use crate::osd::Osd;
use crate::osdmap::EntityAddr;
use crate::store::{DiskStore, ObjectStore};
use crate::{io_error, ClusterConf, ClusterError, Result};
use std::collections::BTreeMap;
use std::fs::File;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;

/// The monitor's default port.
pub const DEFAULT_MON_PORT: u16 = 6789;

/// Parses `mon_host`: addresses separated by commas or spaces, each `HOST[:PORT]` (default
/// port 6789), optionally `v1:`/`v2:`-prefixed or in Ceph's `[v2:A,v1:B]` brackets; the first
/// of each bracket is taken.
pub fn parse_mon_host(text: &str) -> Result<Vec<SocketAddr>> {
    let mut out = Vec::new();
    let mut rest = text.trim();
    while !rest.is_empty() {
        let (item, after) = if let Some(inner) = rest.strip_prefix('[') {
            let end = inner
                .find(']')
                .ok_or_else(|| ClusterError::Invalid(format!("mon_host '{text}': unclosed '['")))?;
            let first = inner[..end].split(',').next().unwrap_or("");
            (first, &inner[end + 1..])
        } else {
            let end = rest.find([',', ' ', ';']).unwrap_or(rest.len());
            (&rest[..end], &rest[end..])
        };
        rest = after.trim_start_matches([',', ' ', ';']);
        let item = item.trim();
        if item.is_empty() {
            continue;
        }
        out.push(
            parse_host_port(item, DEFAULT_MON_PORT)
                .map_err(|e| ClusterError::Invalid(format!("mon_host '{text}': {e}")))?,
        );
    }
    if out.is_empty() {
        return Err(ClusterError::Invalid("mon_host names no address".into()));
    }
    Ok(out)
}

/// `HOST[:PORT][/NONCE]` (IPv6 in brackets), with an optional `v1:`/`v2:` prefix; names
/// are resolved.
pub fn parse_host_port(item: &str, default_port: u16) -> std::result::Result<SocketAddr, String> {
    let item = ["v1:", "v2:", "any:"]
        .iter()
        .find_map(|p| item.strip_prefix(p))
        .unwrap_or(item);
    let item = item.split('/').next().unwrap_or(item);
    if let Ok(a) = item.parse::<SocketAddr>() {
        return Ok(a);
    }
    if let Ok(ip) = item.trim_matches(['[', ']']).parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, default_port));
    }
    let with_port = if item.contains(':') {
        item.to_string()
    } else {
        format!("{item}:{default_port}")
    };
    with_port
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve '{item}': {e}"))?
        .next()
        .ok_or_else(|| format!("'{item}' resolves to no address"))
}

/// The IP this host uses to reach `to` (no packet is sent).
fn local_ip_toward(to: SocketAddr) -> IpAddr {
    let any: SocketAddr = if to.is_ipv4() {
        SocketAddr::from((std::net::Ipv4Addr::UNSPECIFIED, 0))
    } else {
        SocketAddr::from((std::net::Ipv6Addr::UNSPECIFIED, 0))
    };
    std::net::UdpSocket::bind(any)
        .and_then(|s| {
            s.connect(to)?;
            s.local_addr()
        })
        .map_or(to.ip(), |a| a.ip())
}

/// The transport of a daemon; `client_cap`: the setting that bounds the bytes of client
/// messages it holds at once, and its default.
fn daemon_net(conf: &ClusterConf, mons: &[SocketAddr], client_bytes: u64) -> Result<TcpNetwork> {
    let mut cfg = TcpConfig::new(conf.fsid);
    cfg.session_bytes_max = conf
        .conf
        .bytes("ms_session_bytes_max", cfg.session_bytes_max)?;
    cfg.client_bytes_max = Some(client_bytes);
    let net = TcpNetwork::new(cfg, tokio::runtime::Handle::current());
    for (rank, &public) in mons.iter().enumerate() {
        net.set_addr(
            EntityName::mon(rank as u64),
            PeerAddr {
                public,
                cluster: None,
                nonce: 0,
            },
        );
    }
    Ok(net)
}

/// Ceph's default of `mon_client_bytes`: 100 MiB. (An OSD's `osd_client_message_size_cap`
/// defaults to a share of its memory target: `crate::osd_memory`.)
const MON_CLIENT_BYTES: u64 = 100 << 20;

/// The monitors' addresses, by rank.
fn mon_addrs(conf: &ClusterConf) -> Result<Vec<SocketAddr>> {
    let host = conf.conf.mon_host().ok_or_else(|| {
        ClusterError::Invalid(format!(
            "{} has no mon_host: serve the directory with `rados cluster start`, which sets one",
            conf.path.display()
        ))
    })?;
    parse_mon_host(host)
}

/// A running daemon: its network and its task.
pub struct Daemon {
    pub name: EntityName,
    pub net: TcpNetwork,
    /// The address clients reach it at.
    pub addr: SocketAddr,
    task: JoinHandle<()>,
    /// Tells an OSD to stop (it first asks to be marked down).
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    _lock: Option<File>,
}

impl Daemon {
    /// Stops serving: an OSD asks the monitor to mark it down and waits for the map that
    /// does (a few seconds at most); then the entity leaves the network and its task ends
    /// (an OSD's PGs stop, and its store is flushed once the last of them is gone).
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
            let _ = tokio::time::timeout(Duration::from_secs(5), &mut self.task).await;
        }
        self.net.unregister(self.name);
        if !self.task.is_finished() {
            let _ = tokio::time::timeout(Duration::from_secs(10), &mut self.task).await;
        }
        self.net.shutdown();
    }

    /// Whether the daemon's task ended on its own.
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }
}

/// Starts monitor `rank` of `dir`, listening on the `rank`th address of `mon_host`, as a
/// member of the quorum of all the monitors `mon_host` lists.
pub async fn start_mon(dir: &Path, rank: u32) -> Result<Daemon> {
    let who = format!("mon.{rank}");
    let conf = ClusterConf::load(dir, &who)?;
    let addrs = mon_addrs(&conf)?;
    let Some(&addr) = addrs.get(rank as usize) else {
        return Err(ClusterError::Invalid(format!(
            "{who} is not a monitor of {}: mon_host lists {} address(es)",
            dir.display(),
            addrs.len()
        )));
    };
    // mon.0 holds the directory as the embedded cluster would (one or the other serves
    // it); the others hold their own.
    let mon_dir = crate::mon_dir(dir, rank);
    std::fs::create_dir_all(&mon_dir)
        .map_err(io_error(format!("creating {}", mon_dir.display())))?;
    let lock = crate::take_lock(if rank == 0 { dir } else { &mon_dir })?;
    let name = EntityName::mon(u64::from(rank));
    let net = daemon_net(
        &conf,
        &addrs,
        conf.conf.bytes("mon_client_bytes", MON_CLIENT_BYTES)?,
    )?;
    let inbox = net.register(name);
    let bound = net
        .listen(addr, Listener::Public)
        .await
        .map_err(io_error(format!("{who} cannot listen on {addr}")))?;
    let members: BTreeMap<u64, String> = addrs
        .iter()
        .enumerate()
        .map(|(r, a)| (r as u64, a.to_string()))
        .collect();
    let monitor = Monitor::open_member(
        &mon_dir,
        conf.fsid,
        conf.mon.clone(),
        Messenger::new(name, Arc::new(net.clone())),
        &members,
        &crate::consensus_config(&conf.conf)?,
    )
    .await?
    .with_failure_config(crate::failure_config(&conf.conf)?);
    let task = tokio::spawn(monitor.run(inbox));
    tracing::info!(target: "cluster", "{who} of {} serving on {bound} ({} monitors)", conf.fsid, addrs.len());
    Ok(Daemon {
        name,
        net,
        addr: bound,
        task,
        stop: None,
        _lock: Some(lock),
    })
}

/// Starts OSD `id` of `dir` over its store `DIR/osd.ID`.
pub async fn start_osd(dir: &Path, id: i32) -> Result<Daemon> {
    if !(0..crate::osdmap::MAX_OSD_LIMIT).contains(&id) {
        return Err(ClusterError::Invalid(format!("osd id {id} out of range")));
    }
    let who = format!("osd.{id}");
    let conf = ClusterConf::load(dir, &who)?;
    let mons = mon_addrs(&conf)?;
    let mon = mons[0];
    let ip = local_ip_toward(mon);
    let public = listen_addr(&conf, "public_addr", ip)?;
    let cluster = match conf.conf.get("cluster_addr") {
        Some(_) => Some(listen_addr(&conf, "cluster_addr", ip)?),
        None => None,
    };
    let memory = crate::osd_memory(&conf.conf)?;
    crate::msg::buf::set_idle_max(usize::try_from(memory.idle_frame_bytes).unwrap_or(usize::MAX));
    let store_dir: PathBuf = dir.join(&who);
    let store = DiskStore::open_with(&store_dir, memory.store.clone()).map_err(|source| {
        ClusterError::Store {
            what: format!("{who} store"),
            source,
        }
    })?;
    let store: Arc<dyn ObjectStore> = Arc::new(store);
    let name = EntityName::osd(id);
    let net = daemon_net(&conf, &mons, memory.client_message_bytes)?;
    tracing::info!(target: "cluster", "{who}: memory target {} MiB (store cache {} MiB, memtables {} MiB, client messages {} MiB)",
        memory.target >> 20, memory.store.cache_bytes >> 20, (3 * memory.store.memtable_bytes) >> 20, memory.client_message_bytes >> 20);
    let inbox = net.register(name);
    let public = net
        .listen(public, Listener::Public)
        .await
        .map_err(io_error(format!("{who} cannot listen on {public}")))?;
    let cluster = match cluster {
        Some(c) => Some(
            net.listen(c, Listener::Cluster)
                .await
                .map_err(io_error(format!("{who} cannot listen on {c}")))?,
        ),
        None => None,
    };
    let entity = |a: SocketAddr| {
        EntityAddr {
            ip: a.ip(),
            port: a.port(),
            nonce: net.nonce(),
        }
        .to_string()
    };
    let host = conf
        .conf
        .get("host")
        .map_or_else(|| format!("host{id}"), str::to_string);
    let osd = Osd::new(id, host, store, Messenger::new(name, Arc::new(net.clone())))
        .with_addrs(entity(public), cluster.map(entity))
        .with_config(crate::osd_config(&conf.conf)?);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel();
    let task = tokio::spawn(osd.run_until(inbox, async move {
        let _ = stop_rx.await;
    }));
    tracing::info!(target: "cluster", "{who} of {} serving on {public}", conf.fsid);
    Ok(Daemon {
        name,
        net,
        addr: public,
        task,
        stop: Some(stop_tx),
        _lock: None,
    })
}

/// A listening address from the configuration (`key`), or `ip` on any free port.
fn listen_addr(conf: &ClusterConf, key: &str, ip: IpAddr) -> Result<SocketAddr> {
    match conf.conf.get(key) {
        None => Ok(SocketAddr::new(ip, 0)),
        Some(v) => {
            parse_host_port(v, 0).map_err(|e| ClusterError::Invalid(format!("{key} = {v}: {e}")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mon_host_takes_ceph_forms() {
        let one = |s: &str| parse_mon_host(s).unwrap();
        assert_eq!(
            one("127.0.0.1:7000"),
            vec!["127.0.0.1:7000".parse().unwrap()]
        );
        assert_eq!(one("127.0.0.1"), vec!["127.0.0.1:6789".parse().unwrap()]);
        assert_eq!(
            one("[v2:127.0.0.1:3300,v1:127.0.0.1:6789], 10.0.0.1:7000"),
            vec![
                "127.0.0.1:3300".parse().unwrap(),
                "10.0.0.1:7000".parse().unwrap()
            ]
        );
        assert_eq!(one("v1:[::1]:7000/0"), vec!["[::1]:7000".parse().unwrap()]);
        assert!(parse_mon_host("").is_err());
        assert!(parse_mon_host("[v2:1.2.3.4:5").is_err());
        assert!(parse_mon_host("no-such-host.invalid:1").is_err());
    }
}
