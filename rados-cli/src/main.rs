//! The `rados` command.
//!
//! Object, pool, snapshot, benchmark, lock, import/export and admin commands keep Ceph's
//! `rados` (and `ceph`) syntax and output, against an embedded cluster (see `cli.rs`).
//! `rados store ...` checks and inspects an object store directory.
//! `rados crush ...` and `rados osdmap ...` keep crushtool's and osdmaptool's flags and output
//! formats; installed under the names `crushtool` or `osdmaptool` (a symlink), the binary behaves
//! as that tool.

// See the workspace's Cargo.toml for why.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod admin_cmd;
mod args;
mod attr_cmd;
mod bench_cmd;
mod bench_run;
mod cli;
mod cluster_cmd;
mod crush_cmd;
mod daemon_cmd;
mod export_cmd;
mod object_cmd;
mod osdmap_cmd;
mod session;
mod snap_cmd;
mod store_cmd;
mod textfmt;
mod watch_cmd;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "rados",
    version,
    about = "An embeddable RADOS: objects, pools, snapshots, placement tools"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
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
        command: store_cmd::StoreCommand,
    },
    /// Run one daemon of a data directory in the foreground (mon, osd).
    Daemon {
        #[command(subcommand)]
        command: daemon_cmd::DaemonCommand,
    },
    /// A cluster of daemon processes on this host: create, start, stop, status.
    Cluster {
        #[command(subcommand)]
        command: cluster_cmd::ClusterCommand,
    },
}

fn report(prog: &str, result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{prog}: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn main() -> ExitCode {
    let mut argv = Vec::new();
    for a in std::env::args_os() {
        match a.into_string() {
            Ok(s) => argv.push(s),
            Err(bad) => {
                eprintln!("rados: error: argument {bad:?} is not valid UTF-8");
                return ExitCode::FAILURE;
            }
        }
    }
    let invoked = argv
        .first()
        .map(|a| a.rsplit('/').next().unwrap_or(a).to_string())
        .unwrap_or_default();
    match invoked.as_str() {
        "crushtool" => {
            return report(
                "crushtool",
                crush_cmd::run(args::expand_equals(argv.split_off(1))),
            )
        }
        "osdmaptool" => {
            return report(
                "osdmaptool",
                osdmap_cmd::run(args::expand_equals(argv.split_off(1)), "osdmaptool"),
            )
        }
        _ => {}
    }
    if !matches!(
        argv.get(1).map(String::as_str),
        Some("crush" | "osdmap" | "store" | "daemon" | "cluster")
    ) {
        return run_rados(argv);
    }
    let cli = Cli::parse();
    match cli.command {
        Command::Crush { args } => report("rados crush", crush_cmd::run(args::expand_equals(args))),
        Command::Osdmap { args } => report(
            "rados osdmap",
            osdmap_cmd::run(args::expand_equals(args), "rados osdmap"),
        ),
        Command::Store { command } => report("rados store", store_cmd::run(command)),
        Command::Daemon { command } => report("rados daemon", daemon_cmd::run(command)),
        Command::Cluster { command } => report("rados cluster", cluster_cmd::run(command)),
    }
}

/// Parses and runs one of the Ceph-style commands; errors print as Ceph prints them.
fn run_rados(argv: Vec<String>) -> ExitCode {
    let mut after_dashdash = false;
    let argv: Vec<String> = argv
        .into_iter()
        .map(|a| {
            if a == "--" {
                after_dashdash = true;
            }
            if after_dashdash {
                a
            } else {
                args::normalize_flag(&a)
            }
        })
        .collect();
    let parsed = match <cli::RadosCli as clap::Parser>::try_parse_from(&argv) {
        Ok(p) => p,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    match run_cluster_command(parsed) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if let Some(io) = e.downcast_ref::<std::io::Error>() {
                if io.kind() == std::io::ErrorKind::BrokenPipe {
                    return ExitCode::SUCCESS;
                }
            }
            if let Some(c) = e.downcast_ref::<session::CliError>() {
                if !c.message.is_empty() {
                    eprintln!("{}", c.message);
                }
                return ExitCode::from(c.code.max(1));
            }
            eprintln!("rados: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run_cluster_command(parsed: cli::RadosCli) -> anyhow::Result<()> {
    use cli::Cmd;
    let cli::RadosCli { opts, command } = parsed;
    match command {
        Cmd::Crush { args } => return crush_cmd::run(args::expand_equals(args)),
        Cmd::Osdmap { args } => return osdmap_cmd::run(args::expand_equals(args), "rados osdmap"),
        Cmd::Store { command } => return store_cmd::run(command),
        Cmd::Rmpool {
            ref pool,
            ref confirm,
        } => object_cmd::check_rmpool(&opts, pool, confirm.as_deref())?,
        _ => {}
    }
    if opts.snap.is_some() && opts.pool.is_none() {
        return Err(session::fail("pool name must be specified with --snap", 1));
    }
    let pool = if command.needs_pool() || opts.snap.is_some() {
        Some(session::pool_name(&opts)?.to_string())
    } else {
        None
    };
    let rados = session::connect(&opts)?;
    let result = dispatch(&rados, &opts, pool.as_deref().unwrap_or(""), &command);
    // The cluster stops (and its stores flush) when the last handle goes.
    drop(rados);
    result
}

fn dispatch(
    rados: &librados::Rados,
    opts: &cli::Opts,
    pool: &str,
    command: &cli::Cmd,
) -> anyhow::Result<()> {
    use cli::Cmd;
    use object_cmd as o;
    // Every pool command opens the pool the same way, -s included, as Ceph's tool does.
    let io = || -> anyhow::Result<librados::IoCtx> {
        let mut io = session::open_pool(rados, opts, pool)?;
        snap_cmd::select_read_snap(&mut io, opts)?;
        Ok(io)
    };
    if opts.snap.is_some() && !command.needs_pool() {
        // As in Ceph, -s opens the pool and names the snapshot whatever the command.
        io()?;
    }
    match command {
        Cmd::Lspools => o::lspools(rados, opts),
        Cmd::Mkpool { pool } => o::mkpool(rados, pool),
        Cmd::Rmpool { pool, .. } => o::rmpool(rados, pool),
        Cmd::Df => admin_cmd::df(rados, opts),
        Cmd::Ls { outfile } => o::ls(&io()?, opts, outfile.as_deref()),
        Cmd::Put { obj, infile } => o::put(&io()?, opts, obj, infile),
        Cmd::Get { obj, outfile } => o::get(&io()?, opts, obj, outfile),
        Cmd::Append { obj, infile } => o::append(&io()?, opts, obj, infile),
        Cmd::Truncate { obj, length } => o::truncate(&io()?, obj, length),
        Cmd::Create { obj } => o::create(&io()?, obj),
        Cmd::Rm { objs } => o::rm(&io()?, objs),
        Cmd::Stat { obj } => o::stat(&io()?, obj, false),
        Cmd::Stat2 { obj } => o::stat(&io()?, obj, true),
        Cmd::Cp { obj, target } => o::cp(rados, &io()?, opts, obj, target.as_deref()),
        Cmd::Lssnap => snap_cmd::lssnap(&io()?),
        Cmd::Mksnap { snap_name } => snap_cmd::mksnap(&io()?, snap_name),
        Cmd::Rmsnap { snap_name } => snap_cmd::rmsnap(&io()?, snap_name),
        Cmd::Rollback { obj, snap_name } => snap_cmd::rollback(&io()?, obj, snap_name),
        Cmd::Listsnaps { obj } => snap_cmd::listsnaps(&io()?, opts, obj),
        Cmd::Listxattr { obj } => attr_cmd::listxattr(&io()?, obj),
        Cmd::Watch { obj } => watch_cmd::watch(&io()?, obj),
        Cmd::Notify { obj, message } => watch_cmd::notify(&io()?, obj, message),
        Cmd::Getxattr { obj, attr } => attr_cmd::getxattr(&io()?, obj, attr),
        Cmd::Setxattr { obj, attr, value } => {
            attr_cmd::setxattr(&io()?, opts, obj, attr, value.as_deref())
        }
        Cmd::Rmxattr { obj, attr } => attr_cmd::rmxattr(&io()?, obj, attr),
        Cmd::Listomapkeys { obj } => attr_cmd::listomapkeys(&io()?, obj),
        Cmd::Listomapvals { obj } => attr_cmd::listomapvals(&io()?, obj),
        Cmd::Getomapval { obj, key, outfile } => {
            attr_cmd::getomapval(&io()?, obj, key, outfile.as_deref())
        }
        Cmd::Setomapval { obj, key, value } => {
            attr_cmd::setomapval(&io()?, opts, obj, key, value.as_deref())
        }
        Cmd::Rmomapkey { obj, key } => attr_cmd::rmomapkey(&io()?, obj, key),
        Cmd::Clearomap { objs } => attr_cmd::clearomap(&io()?, objs),
        Cmd::Getomapheader { obj, outfile } => {
            attr_cmd::getomapheader(&io()?, obj, outfile.as_deref())
        }
        Cmd::Setomapheader { obj, value } => attr_cmd::setomapheader(&io()?, obj, value),
        Cmd::Lock { cmd } => attr_cmd::lock(&io()?, opts, cmd),
        Cmd::Export { args } => {
            let (pool, file) = match args.as_slice() {
                [file] => (session::pool_name(opts)?, file),
                [pool, file, ..] => (pool.as_str(), file),
                [] => {
                    return Err(session::fail(
                        "export needs a file (- for standard output)",
                        1,
                    ))
                }
            };
            export_cmd::export(rados, pool, file)
        }
        Cmd::Import { args } => {
            let (file, pool) = match args.as_slice() {
                [file] => (file, session::pool_name(opts)?),
                [file, pool, ..] => (file, pool.as_str()),
                [] => {
                    return Err(session::fail(
                        "import needs a file (- for standard input)",
                        1,
                    ))
                }
            };
            export_cmd::import(rados, opts, file, pool)
        }
        Cmd::Bench { seconds, mode } => bench_cmd::bench(&io()?, opts, seconds, *mode),
        Cmd::Cleanup => bench_cmd::cleanup(&io()?, opts),
        Cmd::Status => admin_cmd::status(rados, opts),
        Cmd::Osd { cmd } => admin_cmd::osd(rados, opts, cmd),
        Cmd::Pg { cmd } => admin_cmd::pg(rados, opts, cmd),
        Cmd::Log { args } => admin_cmd::log(rados, opts, args),
        Cmd::Pool { cmd } => admin_cmd::pool(rados, opts, cmd),
        Cmd::Crush { .. } | Cmd::Osdmap { .. } | Cmd::Store { .. } => Ok(()),
    }
}
