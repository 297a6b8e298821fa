//! The command line of Ceph's `rados` tool (objects, pools, pool snapshots, benchmarks,
//! advisory locks, import/export) plus `status`, `osd` and `pool` from `ceph`, against an
//! embedded cluster. Options may come before or after the command, as with Ceph.

use crate::store_cmd::StoreCommand;
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "rados",
    version,
    about = "An embeddable RADOS: objects, pools, snapshots, placement tools",
    long_about = "An embeddable RADOS: objects, pools, snapshots, placement tools.\n\n\
        Object, pool, snapshot and admin commands keep Ceph's `rados` syntax and output and run \
        against an embedded cluster in a data directory (created on first use, with a pool `data`). \
        Only one process at a time can open a data directory.",
    after_help = "The data directory is --data-dir, else data_dir in the -c file, else \
        $RADOS_DATA_DIR, else $XDG_DATA_HOME/rados, else $HOME/.local/share/rados."
)]
pub struct RadosCli {
    #[command(flatten)]
    pub opts: Opts,
    #[command(subcommand)]
    pub command: Cmd,
}

/// Output format of commands that have a structured form.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Plain,
    Json,
    #[value(name = "json-pretty")]
    JsonPretty,
}

/// Options every command accepts, anywhere on the line.
#[derive(Args, Clone, Debug, Default)]
pub struct Opts {
    /// Pool to operate on
    #[arg(short = 'p', long = "pool", global = true, value_name = "POOL")]
    pub pool: Option<String>,
    /// ceph.conf-style configuration ([global] data_dir = DIR runs embedded)
    #[arg(short = 'c', long = "conf", global = true, value_name = "FILE")]
    pub conf: Option<PathBuf>,
    /// Monitor address (HOST[:PORT], comma-separated for several): connect to daemons over
    /// TCP; takes precedence over -c and --data-dir
    #[arg(
        short = 'm',
        long = "mon-host",
        global = true,
        value_name = "HOST:PORT"
    )]
    pub mon_host: Option<String>,
    /// Embedded cluster data directory [default: $RADOS_DATA_DIR, else $XDG_DATA_HOME/rados,
    /// else $HOME/.local/share/rados]; takes precedence over -c
    #[arg(long = "data-dir", global = true, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Read at pool snapshot NAME (get, stat, ls, xattrs, omap ...); writes are refused
    #[arg(short = 's', long = "snap", global = true, value_name = "NAME")]
    pub snap: Option<String>,
    /// Namespace of the objects named
    #[arg(short = 'N', long = "namespace", global = true, value_name = "NS")]
    pub namespace: Option<String>,
    /// Output format [default: plain]
    #[arg(short = 'f', long = "format", global = true, value_enum)]
    pub format: Option<Format>,
    /// Locator key placing the objects named
    #[arg(long = "object-locator", global = true, value_name = "KEY")]
    pub object_locator: Option<String>,
    /// With ls and cleanup: every namespace
    #[arg(long, global = true)]
    pub all: bool,
    /// With ls: the default namespace only (overrides --all)
    #[arg(long, global = true)]
    pub default: bool,
    /// Op size for put/get and bench write (4096, 4K, 4M; at most 64M) [default: 4M]
    #[arg(short = 'b', long = "block-size", global = true, value_name = "SIZE")]
    pub block_size: Option<String>,
    /// Bench and cleanup: concurrent operations [default: 16]
    #[arg(
        short = 't',
        long = "concurrent-ios",
        global = true,
        value_name = "N",
        allow_hyphen_values = true
    )]
    pub concurrent_ios: Option<String>,
    /// Bench write: keep the objects (and their metadata) for seq/rand
    #[arg(long = "no-cleanup", global = true)]
    pub no_cleanup: bool,
    /// Bench metadata object [default: benchmark_last_metadata]
    #[arg(long = "run-name", global = true, value_name = "NAME")]
    pub run_name: Option<String>,
    /// Cleanup: object name prefix (must begin with benchmark_data)
    #[arg(long = "prefix", global = true, value_name = "PREFIX")]
    pub prefix: Option<String>,
    /// Bench seq/rand: do not check what is read
    #[arg(long = "no-verify", global = true)]
    pub no_verify: bool,
    /// Lock: cookie
    #[arg(long = "lock-cookie", global = true, value_name = "COOKIE")]
    pub lock_cookie: Option<String>,
    /// Lock: tag (shared lockers must agree)
    #[arg(long = "lock-tag", global = true, value_name = "TAG")]
    pub lock_tag: Option<String>,
    /// Lock: description
    #[arg(long = "lock-description", global = true, value_name = "DESC")]
    pub lock_description: Option<String>,
    /// Lock: duration in seconds [default: 0, for ever]
    #[arg(long = "lock-duration", global = true, value_name = "SECS")]
    pub lock_duration: Option<String>,
    /// Lock: exclusive or shared [default: exclusive]
    #[arg(long = "lock-type", global = true, value_name = "TYPE")]
    pub lock_type: Option<String>,
    /// cp: pool to copy into [default: the same pool]
    #[arg(long = "target-pool", global = true, value_name = "POOL")]
    pub target_pool: Option<String>,
    /// cp: namespace to copy into [default: the source's]
    #[arg(long = "target-nspace", global = true, value_name = "NS")]
    pub target_nspace: Option<String>,
    /// setomapval/setxattr: read the value from FILE
    #[arg(long = "input-file", global = true, value_name = "FILE")]
    pub input_file: Option<PathBuf>,
    /// import: check the file without writing anything
    #[arg(long = "dry-run", global = true)]
    pub dry_run: bool,
    /// import: keep objects that already exist
    #[arg(long = "no-overwrite", global = true)]
    pub no_overwrite: bool,
    /// rmpool: confirm the removal
    #[arg(long = "yes-i-really-really-mean-it", global = true)]
    pub yes_i_really_really_mean_it: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum BenchMode {
    Write,
    Seq,
    Rand,
}

#[derive(Subcommand)]
pub enum Cmd {
    /// List pools
    Lspools,
    /// Create a pool
    Mkpool { pool: String },
    /// Remove a pool: rmpool POOL POOL --yes-i-really-really-mean-it
    Rmpool {
        pool: String,
        confirm: Option<String>,
    },
    /// Show per-pool and total usage
    Df,
    /// List the objects of the pool (default namespace; -N NS; --all for every namespace)
    Ls {
        /// Write the listing here instead (- for standard output)
        outfile: Option<String>,
    },
    /// Write an object from a file (- for standard input)
    Put { obj: String, infile: String },
    /// Read an object into a file (- for standard output)
    Get { obj: String, outfile: String },
    /// Append a file (- for standard input) to an object
    Append { obj: String, infile: String },
    /// Truncate an object to LENGTH bytes
    Truncate {
        obj: String,
        #[arg(allow_hyphen_values = true)]
        length: String,
    },
    /// Create an empty object (fails if it exists)
    Create { obj: String },
    /// Remove objects
    Rm {
        #[arg(required = true)]
        objs: Vec<String>,
    },
    /// Show an object's size and modification time (whole seconds)
    Stat { obj: String },
    /// Show an object's size and modification time (microseconds)
    Stat2 { obj: String },
    /// Copy an object with its xattrs and omap
    Cp { obj: String, target: Option<String> },
    /// List the pool's snapshots (id, name, creation time)
    Lssnap,
    // Snapshot names are `snap_name`: `snap` is the id of the global -s.
    /// Take a pool snapshot named SNAP
    Mksnap {
        #[arg(value_name = "SNAP")]
        snap_name: String,
    },
    /// Remove pool snapshot SNAP (its clones are trimmed in the background)
    Rmsnap {
        #[arg(value_name = "SNAP")]
        snap_name: String,
    },
    /// Roll object OBJ back to pool snapshot SNAP
    Rollback {
        obj: String,
        #[arg(value_name = "SNAP")]
        snap_name: String,
    },
    /// List an object's clones (snaps served, size, extents shared with the next) and head
    Listsnaps { obj: String },
    /// List an object's xattr names
    Listxattr { obj: String },
    /// Watch an object and print its notifies until enter is pressed
    Watch { obj: String },
    /// Notify an object's watchers with a message and print their replies
    Notify { obj: String, message: String },
    /// Print an xattr's value
    Getxattr { obj: String, attr: String },
    /// Set an xattr (the value from standard input when omitted)
    Setxattr {
        obj: String,
        attr: String,
        #[arg(allow_hyphen_values = true)]
        value: Option<String>,
    },
    /// Remove an xattr
    Rmxattr { obj: String, attr: String },
    /// List the keys of an object's omap
    Listomapkeys { obj: String },
    /// List the keys and values of an object's omap
    Listomapvals { obj: String },
    /// Show the value of an omap key (or write it to OUTFILE)
    Getomapval {
        obj: String,
        key: String,
        outfile: Option<String>,
    },
    /// Set an omap value (from standard input when omitted)
    Setomapval {
        obj: String,
        key: String,
        #[arg(allow_hyphen_values = true)]
        value: Option<String>,
    },
    /// Remove an omap key
    Rmomapkey { obj: String, key: String },
    /// Remove every omap key of the objects
    Clearomap {
        #[arg(required = true)]
        objs: Vec<String>,
    },
    /// Show an object's omap header (or write it to OUTFILE)
    Getomapheader {
        obj: String,
        outfile: Option<String>,
    },
    /// Set an object's omap header
    Setomapheader {
        obj: String,
        #[arg(allow_hyphen_values = true)]
        value: String,
    },
    /// Advisory locks: list, get, info, break
    Lock {
        #[command(subcommand)]
        cmd: LockCmd,
    },
    /// Save a whole pool to a file: export [POOL] FILE|- (POOL defaults to -p)
    Export {
        #[arg(required = true, num_args = 1..=2, value_name = "[POOL] FILE")]
        args: Vec<String>,
    },
    /// Load a file made by export into a pool: import FILE|- [POOL] (POOL defaults to -p)
    Import {
        #[arg(required = true, num_args = 1..=2, value_name = "FILE [POOL]")]
        args: Vec<String>,
    },
    /// Benchmark: bench SECONDS write|seq|rand [-b SIZE] [-t N] [--no-cleanup] [--run-name NAME]
    Bench { seconds: String, mode: BenchMode },
    /// Remove benchmark objects: cleanup [--prefix P] [--run-name NAME]
    Cleanup,
    /// Cluster summary (like `ceph -s`)
    Status,
    /// OSDs: tree, in, out, down
    Osd {
        #[command(subcommand)]
        cmd: OsdCmd,
    },
    /// The cluster log: log TEXT... (adds a line) | log last [N] [LEVEL] [CHANNEL|*] |
    /// log follow [LEVEL] (prints new entries as they come, until interrupted)
    Log {
        #[arg(required = true)]
        args: Vec<String>,
    },
    /// PGs: stat (a summary), ls [STATE...] (each PG: objects, bytes, state, up, acting,
    /// objects left to recover)
    Pg {
        #[command(subcommand)]
        cmd: PgCmd,
    },
    /// Pool options: get, set
    Pool {
        #[command(subcommand)]
        cmd: PoolCmd,
    },
    /// Compile, decompile, test, build and edit CRUSH maps (crushtool's flags; `rados crush --help`).
    #[command(disable_help_flag = true)]
    Crush {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Create and inspect OSD maps, print placements (osdmaptool's flags; `rados osdmap --help`).
    #[command(disable_help_flag = true)]
    Osdmap {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Check, inspect and list one OSD's object store directory (fsck, statfs, ls).
    Store {
        #[command(subcommand)]
        command: StoreCommand,
    },
}

#[derive(Subcommand)]
pub enum LockCmd {
    /// List the advisory locks on an object
    List { obj: String },
    /// Take a lock (--lock-type, --lock-cookie, --lock-tag, --lock-description, --lock-duration)
    Get { obj: String, name: String },
    /// Show a lock's type, tag and holders
    Info { obj: String, name: String },
    /// Break the lock LOCKER (client.N) holds (--lock-cookie)
    Break {
        obj: String,
        name: String,
        locker: String,
    },
}

#[derive(Subcommand)]
pub enum PgCmd {
    /// How many PGs are in each state; data, usage, objects left to recover
    Stat,
    /// One line per PG, those in any of STATES when given (`active`, `down`, `recovering`...)
    Ls { states: Vec<String> },
}

#[derive(Subcommand)]
pub enum OsdCmd {
    /// The CRUSH hierarchy with each OSD's state (like `ceph osd tree`)
    Tree,
    /// Mark OSDs in
    In {
        #[arg(required = true)]
        ids: Vec<String>,
    },
    /// Mark OSDs out
    Out {
        #[arg(required = true)]
        ids: Vec<String>,
    },
    /// Mark OSDs down
    Down {
        #[arg(required = true)]
        ids: Vec<String>,
    },
    /// Set an OSD's reweight, 0.0 (out) to 1.0 (fully in)
    Reweight { id: String, weight: f64 },
    /// Fence clients by address: OSDs refuse their requests (like `ceph osd blocklist`)
    #[command(alias = "blacklist")]
    Blocklist {
        #[command(subcommand)]
        cmd: BlocklistCmd,
    },
    /// Edit CRUSH through the monitor
    Crush {
        #[command(subcommand)]
        cmd: CrushCmd,
    },
    /// Write the CRUSH map (Ceph's binary encoding) to a file
    Getcrushmap {
        #[arg(short = 'o', long = "output")]
        output: String,
    },
    /// Replace the CRUSH map from a file (binary or crushtool text)
    Setcrushmap {
        #[arg(short = 'i', long = "input")]
        input: String,
    },
}

#[derive(Subcommand)]
pub enum BlocklistCmd {
    /// Fence ADDR (IP:PORT/NONCE, or an IP for every client there) for EXPIRE seconds
    /// (default 3600)
    Add { addr: String, expire: Option<f64> },
    /// Lift the fence on ADDR
    Rm { addr: String },
    /// List fenced addresses and when each fence is lifted
    Ls,
    /// Lift every fence
    Clear,
}

#[derive(Subcommand)]
pub enum CrushCmd {
    /// Set a device's CRUSH weight
    Reweight { name: String, weight: f64 },
}

#[derive(Subcommand)]
pub enum PoolCmd {
    /// Show a pool option (size, min_size, pg_num, pgp_num, crush_rule)
    Get { pool: String, var: String },
    /// Set a pool option (size, min_size, crush_rule)
    Set {
        pool: String,
        var: String,
        value: String,
    },
}

impl Cmd {
    /// Whether the command works on the pool given with -p.
    pub fn needs_pool(&self) -> bool {
        !matches!(
            self,
            Cmd::Lspools
                | Cmd::Mkpool { .. }
                | Cmd::Rmpool { .. }
                | Cmd::Df
                | Cmd::Export { .. }
                | Cmd::Import { .. }
                | Cmd::Status
                | Cmd::Osd { .. }
                | Cmd::Pg { .. }
                | Cmd::Log { .. }
                | Cmd::Pool { .. }
                | Cmd::Crush { .. }
                | Cmd::Osdmap { .. }
                | Cmd::Store { .. }
        )
    }
}
