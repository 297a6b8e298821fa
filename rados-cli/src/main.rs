//! The `rados` command.
//!
//! `rados store ...` checks and inspects an object store directory.
//! `rados crush ...` and `rados osdmap ...` keep crushtool's and osdmaptool's flags and output
//! formats; installed under the names `crushtool` or `osdmaptool` (a symlink), the binary behaves
//! as that tool.

mod args;
mod crush_cmd;
mod osdmap_cmd;
mod store_cmd;

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
    let cli = Cli::parse();
    match cli.command {
        Command::Crush { args } => report("rados crush", crush_cmd::run(args::expand_equals(args))),
        Command::Osdmap { args } => report(
            "rados osdmap",
            osdmap_cmd::run(args::expand_equals(args), "rados osdmap"),
        ),
        Command::Store { command } => report("rados store", store_cmd::run(command)),
    }
}
