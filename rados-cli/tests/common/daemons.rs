//! A cluster of daemon processes on 127.0.0.1 for a test: created with `rados cluster
//! create` in a temporary directory, driven by pid (kill, stop, continue, restart), and
//! stopped — exactly the processes it started — when dropped.

use librados::{Config, Rados};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

pub struct Daemons {
    pub dir: tempfile::TempDir,
    pub osds: u32,
    pub mons: u32,
    /// Every pid this test's cluster ever had, to be sure none outlives it.
    pids: std::sync::Mutex<Vec<i32>>,
}

/// Fast failure detection, for tests.
pub const FAST: &[&str] = &[
    "osd_heartbeat_interval=0.2",
    "osd_heartbeat_grace=1.5",
    "mon_osd_report_timeout=15",
    "mon_osd_down_out_interval=600",
    "rados_osd_op_timeout=120",
    // Small enough for the writers of these tests to meet it now and then.
    "osd_client_message_size_cap=4M",
];

fn rados(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rados"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run rados")
}

impl Daemons {
    /// Creates and starts a cluster of `osds` OSDs with `settings` (KEY=VALUE).
    pub fn create(osds: u32, settings: &[&str]) -> Daemons {
        Daemons::create_with_mons(1, osds, settings)
    }

    /// Creates and starts a cluster of `mons` monitors and `osds` OSDs with `settings`.
    pub fn create_with_mons(mons: u32, osds: u32, settings: &[&str]) -> Daemons {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("c");
        let n = osds.to_string();
        let m = mons.to_string();
        let mut args = vec![
            "cluster",
            "create",
            path.to_str().unwrap(),
            "--osds",
            &n,
            "--mons",
            &m,
        ];
        for s in settings {
            args.extend(["--set", s]);
        }
        let out = rados(&args);
        let d = Daemons {
            dir,
            osds,
            mons,
            pids: Default::default(),
        };
        d.note_pids();
        assert!(
            out.status.success(),
            "cluster create failed:\n{}{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            d.logs()
        );
        d
    }

    pub fn path(&self) -> PathBuf {
        self.dir.path().join("c")
    }

    pub fn conf(&self) -> PathBuf {
        self.path().join("ceph.conf")
    }

    /// A client over TCP.
    pub fn client(&self) -> Rados {
        let c = Config::from_file(self.conf()).expect("client config");
        Rados::connect(&c).expect("connect")
    }

    /// `rados -c DIR/ceph.conf ARGS`.
    pub fn cli(&self, args: &[&str]) -> Output {
        let conf = self.conf();
        let mut a = vec!["-c", conf.to_str().unwrap()];
        a.extend_from_slice(args);
        rados(&a)
    }

    pub fn cli_ok(&self, args: &[&str]) -> String {
        let out = self.cli(args);
        assert!(
            out.status.success(),
            "rados {args:?} failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `rados cluster SUB DIR ARGS`.
    pub fn cluster(&self, sub: &str, args: &[&str]) -> Output {
        let p = self.path();
        let mut a = vec!["cluster", sub, p.to_str().unwrap()];
        a.extend_from_slice(args);
        let out = rados(&a);
        self.note_pids();
        out
    }

    pub fn pid(&self, who: &str) -> Option<i32> {
        let p = self.path().join("run").join(format!("{who}.pid"));
        std::fs::read_to_string(p).ok()?.trim().parse().ok()
    }

    fn note_pids(&self) {
        let mut names: Vec<String> = (0..self.mons).map(|r| format!("mon.{r}")).collect();
        names.extend((0..self.osds).map(|i| format!("osd.{i}")));
        let mut pids = self.pids.lock().unwrap();
        for n in names {
            if let Some(p) = self.pid(&n) {
                if !pids.contains(&p) {
                    pids.push(p);
                }
            }
        }
    }

    /// Sends `sig` to daemon `who`'s process.
    pub fn signal(&self, who: &str, sig: i32) {
        let pid = self.pid(who).unwrap_or_else(|| panic!("{who} has no pid"));
        // SAFETY: kill takes a pid and a signal number.
        unsafe { libc::kill(pid, sig) };
        if sig == libc::SIGKILL {
            wait_gone(pid);
            let _ = std::fs::remove_file(self.path().join("run").join(format!("{who}.pid")));
        }
    }

    /// Starts `who` again (its pid file must be gone or stale).
    pub fn start(&self, who: &str) {
        let out = self.cluster("start", &[who, "--timeout", "0"]);
        assert!(
            out.status.success(),
            "start {who}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Waits until the cluster's status satisfies `ok`.
    pub fn wait_for(
        &self,
        r: &Rados,
        what: &str,
        timeout: Duration,
        ok: impl Fn(&librados::client::ClusterStatus) -> bool,
    ) {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(s) = r.status() {
                if ok(&s) {
                    return;
                }
                if Instant::now() > deadline {
                    panic!("timed out waiting for {what}: {s:?}\n{}", self.logs());
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The tail of every daemon's log, for failure messages.
    pub fn logs(&self) -> String {
        let mut out = String::new();
        let Ok(rd) = std::fs::read_dir(self.path().join("log")) else {
            return out;
        };
        for e in rd.flatten() {
            let text = std::fs::read_to_string(e.path()).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            let tail = &lines[lines.len().saturating_sub(15)..];
            out.push_str(&format!(
                "--- {}\n{}\n",
                e.path().display(),
                tail.join("\n")
            ));
        }
        out
    }

    /// Copies the daemons' logs somewhere that outlives the test; returns where.
    pub fn keep_logs(&self) -> String {
        let to = std::env::temp_dir().join(format!("rados-test-logs-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&to);
        if let Ok(rd) = std::fs::read_dir(self.path().join("log")) {
            for e in rd.flatten() {
                let _ = std::fs::copy(e.path(), to.join(e.file_name()));
            }
        }
        to.display().to_string()
    }

    /// Stops the cluster cleanly (the stores flush).
    pub fn stop_all(&self) {
        for p in self.pids.lock().unwrap().iter() {
            // SAFETY: kill takes a pid and a signal number.
            unsafe { libc::kill(*p, libc::SIGCONT) };
        }
        let _ = self.cluster("stop", &["--timeout", "10"]);
    }
}

fn alive(pid: i32) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let state = stat
        .rsplit(')')
        .next()
        .and_then(|r| r.split_whitespace().next());
    !matches!(state, None | Some("Z") | Some("X"))
}

fn wait_gone(pid: i32) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while alive(pid) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
}

impl Drop for Daemons {
    fn drop(&mut self) {
        self.stop_all();
        // Whatever did not stop: exactly the processes this cluster had.
        for &p in self.pids.lock().unwrap().iter() {
            if alive(p) {
                // SAFETY: as above.
                unsafe { libc::kill(p, libc::SIGKILL) };
            }
        }
    }
}

/// Whether a directory holds a daemon's log mentioning `text`.
pub fn log_mentions(dir: &Path, who: &str, text: &str) -> bool {
    std::fs::read_to_string(dir.join("log").join(format!("{who}.log")))
        .unwrap_or_default()
        .contains(text)
}
