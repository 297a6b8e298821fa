//! `rados cluster create|start|stop|status DIR`: a cluster of daemon processes on this host,
//! over one data directory (the layout the embedded deployment uses, so a directory goes from
//! embedded to daemons and back unchanged).
//!
//! ```text
//! DIR/cluster.conf      the cluster's configuration; `mon_host` says where the monitors
//!                       listen (mon.N on the Nth address)
//! DIR/ceph.conf         a client configuration (fsid, mon_host): rados -c, Rados::connect,
//!                       python's rados.Rados(conffile=...)
//! DIR/mon, DIR/mon.N    the monitors' state (mon.0, mon.N)
//! DIR/run/NAME.pid      each running daemon's pid (mon.N, osd.N)
//! DIR/log/NAME.log      each daemon's log
//! ```
//!
//! Daemons are started as `rados daemon mon|osd` processes in their own process groups and
//! outlive this command; `stop` signals them by pid and waits for them to exit.

use anyhow::{bail, Context, Result};
use clap::Subcommand;
use librados::cluster::{daemon::parse_mon_host, ClusterConf, CLUSTER_CONF};
use librados::config::Config;
use librados::Rados;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The client configuration a cluster of daemons gets.
pub const CLIENT_CONF: &str = "ceph.conf";

#[derive(Subcommand, Debug)]
pub enum ClusterCommand {
    /// Create a cluster of daemons on this host (monitors and OSDs on 127.0.0.1), start it,
    /// and create pool `data`
    Create {
        dir: PathBuf,
        /// OSDs to run
        #[arg(long, default_value_t = 3)]
        osds: u32,
        /// Monitors to run (a quorum of 1, 3 or 5 survives the loss of 0, 1 or 2)
        #[arg(long, default_value_t = 1)]
        mons: u32,
        /// The first monitor's port (the others take the next ones) [default: free ones]
        #[arg(long)]
        mon_port: Option<u16>,
        /// Extra configuration for every daemon, KEY=VALUE (repeatable)
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
        /// Seconds to wait for every PG to become active
        #[arg(long, default_value_t = 60)]
        timeout: u64,
    },
    /// Start the daemons of DIR that are not running (all, or those named: mon.N, osd.N);
    /// an embedded data directory is given a monitor address first
    Start {
        dir: PathBuf,
        who: Vec<String>,
        /// Seconds to wait for every PG to become active (0: do not wait)
        #[arg(long, default_value_t = 60)]
        timeout: u64,
    },
    /// Stop the daemons of DIR (all, or those named), waiting for each to exit
    Stop {
        dir: PathBuf,
        who: Vec<String>,
        /// Seconds to wait for a daemon to exit before killing it
        #[arg(long, default_value_t = 30)]
        timeout: u64,
    },
    /// Which daemons run, and the cluster's state when the monitor answers
    Status { dir: PathBuf },
}

pub fn run(cmd: ClusterCommand) -> Result<()> {
    match cmd {
        ClusterCommand::Create {
            dir,
            osds,
            mons,
            mon_port,
            set,
            timeout,
        } => create(&dir, osds, mons, mon_port, &set, timeout),
        ClusterCommand::Start { dir, who, timeout } => {
            let dir = existing(&dir)?;
            start(&dir, &who, timeout)
        }
        ClusterCommand::Stop { dir, who, timeout } => {
            let dir = existing(&dir)?;
            stop(&dir, &who, Duration::from_secs(timeout))
        }
        ClusterCommand::Status { dir } => status(&existing(&dir)?),
    }
}

fn existing(dir: &Path) -> Result<PathBuf> {
    let d = dir
        .canonicalize()
        .with_context(|| format!("no data directory {}", dir.display()))?;
    if !d.join(CLUSTER_CONF).exists() {
        bail!(
            "{} holds no cluster ({CLUSTER_CONF} is missing)",
            d.display()
        );
    }
    Ok(d)
}

fn free_port() -> Result<u16> {
    free_port_but(&[])
}

/// A free port other than those in `taken` (picked already, not bound yet).
fn free_port_but(taken: &[u16]) -> Result<u16> {
    for _ in 0..64 {
        let l = std::net::TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
        let p = l.local_addr()?.port();
        if !taken.contains(&p) {
            return Ok(p);
        }
    }
    bail!("found no free port")
}

fn create(
    dir: &Path,
    osds: u32,
    mons: u32,
    mon_port: Option<u16>,
    set: &[String],
    timeout: u64,
) -> Result<()> {
    if dir.join(CLUSTER_CONF).exists() {
        bail!(
            "{} holds a cluster already (use `rados cluster start`)",
            dir.display()
        );
    }
    if !(1..=64).contains(&osds) {
        bail!("--osds {osds}: give 1 to 64");
    }
    let max_mons = librados::cluster::MAX_MONS;
    if !(1..=max_mons).contains(&mons) {
        bail!("--mons {mons}: give 1 to {max_mons}");
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let dir = dir.canonicalize()?;
    let mut from = Config::parse("", None)?;
    from.set("osd_count", &osds.to_string());
    let mut extra = String::new();
    for kv in set {
        let (k, v) = kv
            .split_once('=')
            .with_context(|| format!("--set {kv}: expected KEY=VALUE"))?;
        from.set(k.trim(), v.trim());
        extra.push_str(&format!("{} = {}\n", k.trim(), v.trim()));
    }
    let mut ports = Vec::new();
    for rank in 0..mons {
        ports.push(match mon_port {
            Some(p) => p
                .checked_add(rank as u16)
                .with_context(|| format!("--mon-port {p}: no room for {mons} monitors"))?,
            None => free_port_but(&ports)?,
        });
    }
    let mon_host = ports
        .iter()
        .map(|p| format!("127.0.0.1:{p}"))
        .collect::<Vec<_>>()
        .join(",");
    ClusterConf::create(&dir, &from, Some(&mon_host)).map_err(|e| anyhow::anyhow!("{e}"))?;
    if !extra.is_empty() {
        let path = dir.join(CLUSTER_CONF);
        let mut text = std::fs::read_to_string(&path)?;
        text.push_str(&extra);
        librados::cluster::write_atomically(&path, &text).map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    librados::cluster::seed_monitors(&dir).map_err(|e| anyhow::anyhow!("{e}"))?;
    start(&dir, &[], 0)?;
    let rados = connect(&dir, Duration::from_secs(timeout.max(10)))?;
    let deadline = Instant::now() + Duration::from_secs(timeout.max(10));
    wait_until(&rados, deadline, |s| s.num_up_osds == osds)?;
    match rados.create_pool(librados::cluster::DEFAULT_POOL) {
        Ok(()) | Err(librados::Error::Exists { .. }) => {}
        Err(e) => bail!("creating pool data: {e}"),
    }
    wait_until(&rados, deadline, active)?;
    println!(
        "cluster {} created in {}: monitors on {mon_host}, {osds} OSDs, pool data; clients: -c {}",
        rados.fsid(),
        dir.display(),
        dir.join(CLIENT_CONF).display()
    );
    Ok(())
}

/// The daemons of the cluster: mon.0 .. mon.(monitors - 1), osd.0 .. osd.(osd_count - 1).
fn daemons(dir: &Path) -> Result<Vec<String>> {
    let conf = ClusterConf::load(dir, "client").map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut v: Vec<String> = (0..conf.mons).map(|r| format!("mon.{r}")).collect();
    v.extend((0..conf.osds).map(|i| format!("osd.{i}")));
    Ok(v)
}

fn selected(dir: &Path, who: &[String]) -> Result<Vec<String>> {
    let all = daemons(dir)?;
    for w in who {
        if !all.contains(w) {
            bail!("{w} is not a daemon of this cluster ({})", all.join(", "));
        }
    }
    Ok(if who.is_empty() { all } else { who.to_vec() })
}

fn pid_path(dir: &Path, name: &str) -> PathBuf {
    dir.join("run").join(format!("{name}.pid"))
}

/// The pid in `pid_file` when that process is alive and serves `dir`.
pub fn running_pid(pid_file: &Path, dir: &Path) -> Option<i32> {
    let pid: i32 = std::fs::read_to_string(pid_file)
        .ok()?
        .trim()
        .parse()
        .ok()?;
    alive_for(pid, dir).then_some(pid)
}

fn alive_for(pid: i32, dir: &Path) -> bool {
    if pid <= 0 {
        return false;
    }
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The state follows the command name in parentheses; a zombie has exited.
    let state = stat
        .rsplit(')')
        .next()
        .and_then(|r| r.split_whitespace().next());
    if state.is_none() || state == Some("Z") || state == Some("X") {
        return false;
    }
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let cmdline = String::from_utf8_lossy(&cmdline);
    cmdline.contains(&*dir.to_string_lossy()) && cmdline.contains("daemon")
}

/// Adds `mon_host` to an embedded directory's configuration, and writes the client one.
fn ensure_mon_host(dir: &Path) -> Result<String> {
    let conf = ClusterConf::load(dir, "client").map_err(|e| anyhow::anyhow!("{e}"))?;
    let mon_host = match conf.conf.mon_host() {
        Some(m) => m.to_string(),
        None => {
            let m = format!("127.0.0.1:{}", free_port()?);
            let path = dir.join(CLUSTER_CONF);
            let text = std::fs::read_to_string(&path)?;
            let text = match text.find("[global]") {
                Some(i) => {
                    let end = i + "[global]".len();
                    format!("{}\nmon_host = {m}{}", &text[..end], &text[end..])
                }
                None => format!("[global]\nmon_host = {m}\n{text}"),
            };
            librados::cluster::write_atomically(&path, &text)
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            m
        }
    };
    parse_mon_host(&mon_host).map_err(|e| anyhow::anyhow!("{e}"))?;
    let client = format!("[global]\nfsid = {}\nmon_host = {mon_host}\n", conf.fsid);
    librados::cluster::write_atomically(&dir.join(CLIENT_CONF), &client)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(mon_host)
}

fn spawn(dir: &Path, name: &str) -> Result<()> {
    use std::os::unix::process::CommandExt;
    let logs = dir.join("log");
    std::fs::create_dir_all(&logs)?;
    let log_path = logs.join(format!("{name}.log"));
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .with_context(|| format!("cannot open {}", log_path.display()))?;
    let exe = std::env::current_exe().context("finding the rados binary")?;
    let mut cmd = std::process::Command::new(exe);
    cmd.arg("daemon");
    match name.split_once('.') {
        Some(("osd", id)) => cmd.args(["osd", &dir.to_string_lossy(), "--id", id]),
        Some(("mon", rank)) => cmd.args(["mon", &dir.to_string_lossy(), "--id", rank]),
        _ => bail!("{name} is not a daemon name"),
    };
    cmd.stdin(std::process::Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .process_group(0);
    cmd.spawn().with_context(|| format!("starting {name}"))?;
    Ok(())
}

fn start(dir: &Path, who: &[String], timeout: u64) -> Result<()> {
    let mon_host = ensure_mon_host(dir)?;
    let names = selected(dir, who)?;
    let mut started = Vec::new();
    for name in &names {
        if let Some(pid) = running_pid(&pid_path(dir, name), dir) {
            println!("{name} is running (pid {pid})");
            continue;
        }
        let _ = std::fs::remove_file(pid_path(dir, name));
        spawn(dir, name)?;
        started.push(name.clone());
    }
    let deadline = Instant::now() + Duration::from_secs(15);
    for name in &started {
        let pid = loop {
            if let Some(pid) = running_pid(&pid_path(dir, name), dir) {
                break pid;
            }
            if Instant::now() > deadline {
                let log = dir.join("log").join(format!("{name}.log"));
                let tail = std::fs::read_to_string(&log).unwrap_or_default();
                let tail: Vec<&str> = tail.lines().rev().take(5).collect();
                bail!(
                    "{name} did not start; the end of {}:\n{}",
                    log.display(),
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(25));
        };
        let at = match name
            .strip_prefix("mon.")
            .and_then(|r| r.parse::<usize>().ok())
        {
            Some(r) => format!(" on {}", mon_host.split(',').nth(r).unwrap_or("?").trim()),
            None => String::new(),
        };
        println!("{name} started (pid {pid}){at}");
    }
    if timeout > 0 {
        let rados = connect(dir, Duration::from_secs(timeout))?;
        let deadline = Instant::now() + Duration::from_secs(timeout);
        wait_until(&rados, deadline, active)?;
        let s = rados.status()?;
        println!(
            "cluster {}: {} of {} OSDs up, every PG active",
            rados.fsid(),
            s.num_up_osds,
            s.num_osds
        );
    }
    Ok(())
}

fn connect(dir: &Path, timeout: Duration) -> Result<Rados> {
    let mut config = Config::from_file(dir.join(CLIENT_CONF))?;
    config.set(
        "client_mount_timeout",
        &timeout.as_secs().max(1).to_string(),
    );
    Rados::connect(&config).map_err(|e| anyhow::anyhow!("cannot reach the monitor: {e}"))
}

fn active(s: &librados::client::ClusterStatus) -> bool {
    s.num_up_osds == s.num_osds && s.pgs_by_state.keys().all(|k| k.starts_with("active"))
}

fn wait_until(
    rados: &Rados,
    deadline: Instant,
    ok: impl Fn(&librados::client::ClusterStatus) -> bool,
) -> Result<()> {
    loop {
        let s = rados.status()?;
        if ok(&s) {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!(
                "timed out waiting for the cluster: {} of {} OSDs up, PGs {:?}",
                s.num_up_osds,
                s.num_osds,
                s.pgs_by_state
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn stop(dir: &Path, who: &[String], timeout: Duration) -> Result<()> {
    let mut names = selected(dir, who)?;
    // OSDs first, so they do not lose their monitor while stopping.
    names.sort_by_key(|n| n.starts_with("mon."));
    let mut waiting = Vec::new();
    for name in &names {
        match running_pid(&pid_path(dir, name), dir) {
            Some(pid) => {
                // SAFETY: kill takes a pid and a signal number.
                unsafe { libc::kill(pid, libc::SIGTERM) };
                waiting.push((name.clone(), pid));
            }
            None => {
                let _ = std::fs::remove_file(pid_path(dir, name));
            }
        }
    }
    let deadline = Instant::now() + timeout;
    for (name, pid) in waiting {
        while alive_for(pid, dir) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(25));
        }
        if alive_for(pid, dir) {
            // SAFETY: as above.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            println!("{name} (pid {pid}) did not stop in time: killed");
        } else {
            println!("{name} stopped (pid {pid})");
        }
        let _ = std::fs::remove_file(pid_path(dir, &name));
    }
    Ok(())
}

fn status(dir: &Path) -> Result<()> {
    let mut mon_running = false;
    for name in daemons(dir)? {
        match running_pid(&pid_path(dir, &name), dir) {
            Some(pid) => {
                mon_running |= name.starts_with("mon.");
                println!("{name}: running (pid {pid})");
            }
            None => println!("{name}: stopped"),
        }
    }
    if !mon_running || !dir.join(CLIENT_CONF).exists() {
        return Ok(());
    }
    let rados = connect(dir, Duration::from_secs(5))?;
    let s = rados.status()?;
    let pgs: Vec<String> = s
        .pgs_by_state
        .iter()
        .map(|(state, n)| format!("{n} {state}"))
        .collect();
    println!(
        "cluster {} epoch {}: {} OSDs, {} up, {} in; pgs: {}",
        rados.fsid(),
        s.epoch,
        s.num_osds,
        s.num_up_osds,
        s.num_in_osds,
        if pgs.is_empty() {
            "none".into()
        } else {
            pgs.join(", ")
        }
    );
    Ok(())
}
