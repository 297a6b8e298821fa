//! `rados daemon mon DIR` and `rados daemon osd DIR --id N`: one daemon of a data directory,
//! in the foreground, until SIGTERM or SIGINT.
//!
//! - Pid file `DIR/run/<name>.pid` (or `--pid-file`), written once the daemon listens and
//!   removed when it stops; a daemon already running is refused.
//! - Logs through `tracing` to standard error, with per-subsystem levels: `--log-level`, else
//!   `log_level` in the daemon's sections of `DIR/cluster.conf`, else `RUST_LOG`, else
//!   `info` (a filter such as `info,osd=debug,msg=warn`). SIGHUP reads `log_level` again.
//! - A bad configuration exits nonzero with a message saying what is wrong.

use anyhow::{bail, Context, Result};
use clap::Subcommand;
use librados::cluster::daemon::{self, Daemon};
use librados::config::Config;
use std::path::{Path, PathBuf};
use tracing_subscriber::{reload, EnvFilter};

#[derive(Subcommand, Debug)]
pub enum DaemonCommand {
    /// Run a monitor of a data directory (mon.N listens on the Nth address of mon_host, in
    /// the quorum of all of them)
    Mon {
        dir: PathBuf,
        /// The monitor's rank
        #[arg(long, default_value_t = 0)]
        id: u32,
        #[command(flatten)]
        common: DaemonOpts,
    },
    /// Run one OSD of a data directory over its store DIR/osd.N
    Osd {
        dir: PathBuf,
        /// The OSD's id
        #[arg(long)]
        id: i32,
        #[command(flatten)]
        common: DaemonOpts,
    },
}

#[derive(clap::Args, Debug)]
pub struct DaemonOpts {
    /// Pid file [default: DIR/run/NAME.pid]
    #[arg(long, value_name = "FILE")]
    pid_file: Option<PathBuf>,
    /// Log filter, per subsystem (info,osd=debug,msg=warn) [default: log_level in the
    /// configuration, else RUST_LOG, else info]
    #[arg(long, value_name = "FILTER")]
    log_level: Option<String>,
}

type Reload = reload::Handle<EnvFilter, tracing_subscriber::Registry>;

/// The log filter a daemon starts with.
fn log_filter(flag: Option<&str>, conf: &Config) -> Result<EnvFilter> {
    let text = flag
        .map(str::to_string)
        .or_else(|| conf.get("log_level").map(str::to_string))
        .or_else(|| std::env::var("RUST_LOG").ok().filter(|v| !v.is_empty()))
        .unwrap_or_else(|| "info".to_string());
    EnvFilter::try_new(quiet_consensus(&text))
        .with_context(|| format!("invalid log level '{text}'"))
}

/// The monitors' consensus library narrates every election at `info`: it logs warnings
/// only, unless the filter names it (`openraft=info`).
fn quiet_consensus(filter: &str) -> String {
    if filter.contains("openraft") {
        filter.to_string()
    } else {
        format!("{filter},openraft=warn")
    }
}

fn init_logs(filter: EnvFilter) -> Reload {
    use tracing_subscriber::prelude::*;
    let (layer, handle) = reload::Layer::new(filter);
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(false);
    let _ = tracing_subscriber::registry()
        .with(layer)
        .with(fmt)
        .try_init();
    handle
}

/// Default of `daemon_threads`: the threads that run a daemon's connections and PGs (the
/// store has threads of its own).
const DAEMON_THREADS: u32 = 2;

pub fn run(cmd: DaemonCommand) -> Result<()> {
    let (dir, who, opts) = match cmd {
        DaemonCommand::Mon { dir, id, common } => (dir, Who::Mon(id), common),
        DaemonCommand::Osd { dir, id, common } => (dir, Who::Osd(id), common),
    };
    let name = match who {
        Who::Mon(r) => format!("mon.{r}"),
        Who::Osd(i) => format!("osd.{i}"),
    };
    let dir = dir
        .canonicalize()
        .with_context(|| format!("cannot open data directory {}", dir.display()))?;
    let conf_path = dir.join(librados::cluster::CLUSTER_CONF);
    let conf = Config::from_file_for(&conf_path, &name)
        .with_context(|| format!("{name}: reading {}", conf_path.display()))?;
    let reload = init_logs(log_filter(opts.log_level.as_deref(), &conf)?);
    let pid_file = opts
        .pid_file
        .unwrap_or_else(|| dir.join("run").join(format!("{name}.pid")));
    if let Some(pid) = crate::cluster_cmd::running_pid(&pid_file, &dir) {
        bail!("{name} of {} is running already (pid {pid})", dir.display());
    }
    let threads = conf.count("daemon_threads", DAEMON_THREADS)?;
    if !(1..=64).contains(&threads) {
        bail!("daemon_threads = {threads}: use 1 to 64");
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads as usize)
        .thread_name(name.clone())
        .enable_all()
        .build()
        .context("starting the runtime")?;
    let result = rt.block_on(serve(&dir, who, &name, &pid_file, &conf_path, reload));
    rt.shutdown_timeout(std::time::Duration::from_secs(10));
    let _ = std::fs::remove_file(&pid_file);
    if result.is_ok() {
        eprintln!("{name}: stopped");
    }
    result
}

/// Which daemon runs.
#[derive(Clone, Copy, Debug)]
enum Who {
    Mon(u32),
    Osd(i32),
}

async fn serve(
    dir: &Path,
    who: Who,
    name: &str,
    pid_file: &Path,
    conf_path: &Path,
    reload: Reload,
) -> Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut hup = signal(SignalKind::hangup())?;
    let d: Daemon = match who {
        Who::Mon(r) => daemon::start_mon(dir, r).await,
        Who::Osd(i) => daemon::start_osd(dir, i).await,
    }
    .map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
    if let Some(parent) = pid_file.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    std::fs::write(pid_file, format!("{}\n", std::process::id()))
        .with_context(|| format!("cannot write {}", pid_file.display()))?;
    tracing::info!(target: "cluster", "{name} started (pid {}, {})", std::process::id(), d.addr);
    loop {
        tokio::select! {
            _ = term.recv() => break,
            _ = int.recv() => break,
            _ = hup.recv() => reload_level(conf_path, name, &reload),
            _ = tokio::time::sleep(std::time::Duration::from_millis(500)) => {
                if d.is_finished() {
                    bail!("{name}: stopped on its own; see the log above");
                }
            }
        }
    }
    tracing::info!(target: "cluster", "{name} stopping");
    d.stop().await;
    Ok(())
}

/// SIGHUP: takes `log_level` from the configuration again.
fn reload_level(conf_path: &Path, name: &str, reload: &Reload) {
    let level = Config::from_file_for(conf_path, name)
        .ok()
        .and_then(|c| c.get("log_level").map(str::to_string))
        .unwrap_or_else(|| "info".into());
    match EnvFilter::try_new(quiet_consensus(&level)) {
        Ok(f) => {
            let _ = reload.reload(f);
            tracing::info!(target: "cluster", "{name}: log level now '{level}'");
        }
        Err(e) => tracing::warn!(target: "cluster", "{name}: ignoring log level '{level}': {e}"),
    }
}
