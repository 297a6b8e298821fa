//! What every cluster command shares: finding the data directory, connecting, opening the
//! pool, Ceph-style error text (`(2) No such file or directory`) and exit codes, and output
//! that survives a closed pipe.

use crate::cli::{Format, Opts};
use anyhow::Result;
use librados::client::error::strerror;
use librados::{Config, Error, IoCtx, Rados};
use std::io::Write;
use std::path::{Path, PathBuf};

/// An error whose message is already in Ceph's words, with the exit code Ceph uses.
#[derive(Debug)]
pub struct CliError {
    pub message: String,
    pub code: u8,
}

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CliError {}

/// Fails with `message` and exit code `code`.
pub fn fail(message: impl Into<String>, code: u8) -> anyhow::Error {
    anyhow::Error::new(CliError {
        message: message.into(),
        code,
    })
}

/// `(N) Text`, as Ceph's `cpp_strerror` prints an errno.
pub fn errno_str(errno: i32) -> String {
    format!("({errno}) {}", strerror(errno))
}

/// A client error as `cpp_strerror` prints it.
pub fn errstr(e: &Error) -> String {
    errno_str(e.errno())
}

/// An I/O error as `cpp_strerror` prints it.
pub fn io_errstr(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(n) => errno_str(n),
        None => format!("({}) {e}", librados::errno::EIO),
    }
}

/// The library's own words for an error, without the errno text.
pub fn detail(e: &Error) -> String {
    match e {
        Error::NotFound { what }
        | Error::Exists { what }
        | Error::NoData { what }
        | Error::Canceled { what }
        | Error::NoSpace { what }
        | Error::TimedOut { what }
        | Error::Busy { what }
        | Error::NotConnected { what } => what.clone(),
        Error::InvalidArgument(m) | Error::Unsupported(m) => m.clone(),
        Error::Os { what, message, .. } => format!("{what}: {message}"),
        other => other.to_string(),
    }
}

/// The default data directory: $RADOS_DATA_DIR, $XDG_DATA_HOME/rados, $HOME/.local/share/rados.
pub fn default_data_dir() -> Result<PathBuf> {
    let var = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
    if let Some(d) = var("RADOS_DATA_DIR") {
        return Ok(PathBuf::from(d));
    }
    if let Some(d) = var("XDG_DATA_HOME") {
        return Ok(PathBuf::from(d).join("rados"));
    }
    if let Some(h) = var("HOME") {
        return Ok(PathBuf::from(h).join(".local/share/rados"));
    }
    Err(fail(
        "cannot find a data directory: give --data-dir, or set RADOS_DATA_DIR or HOME",
        1,
    ))
}

fn absolute(p: &Path) -> PathBuf {
    if p.is_absolute() {
        return p.to_path_buf();
    }
    std::env::current_dir()
        .map(|d| d.join(p))
        .unwrap_or_else(|_| p.to_path_buf())
}

/// The configuration: --data-dir, then the -c file, then the default directory.
pub fn config(opts: &Opts) -> Result<Config> {
    let mut config = match &opts.conf {
        Some(path) => Config::from_file(path).map_err(|e| {
            fail(
                format!(
                    "error reading config file {}: {}",
                    path.display(),
                    detail(&librados::Error::from(e))
                ),
                1,
            )
        })?,
        None => Config::embedded(default_data_dir()?),
    };
    if let Some(m) = &opts.mon_host {
        config.set("mon_host", m);
    } else if let Some(d) = &opts.data_dir {
        config.set("data_dir", &absolute(d).to_string_lossy());
        config.set("mon_host", "");
    } else if config.data_dir().is_none() && config.mon_host().is_none() {
        config.set(
            "data_dir",
            &absolute(&default_data_dir()?).to_string_lossy(),
        );
    }
    Ok(config)
}

/// Connects as the options say.
pub fn connect(opts: &Opts) -> Result<Rados> {
    let config = config(opts)?;
    Rados::connect(&config).map_err(|e| {
        fail(
            format!(
                "couldn't connect to cluster: {} ({})",
                errstr(&e),
                detail(&e)
            ),
            1,
        )
    })
}

/// The pool named with -p (the command needs one).
pub fn pool_name(opts: &Opts) -> Result<&str> {
    opts.pool
        .as_deref()
        .ok_or_else(|| fail("no pool specified: use -p POOL", 1))
}

/// Opens `pool` with the namespace and locator the options name.
pub fn open_pool(rados: &Rados, opts: &Opts, pool: &str) -> Result<IoCtx> {
    let mut io = rados
        .ioctx(pool)
        .map_err(|e| fail(format!("error opening pool {pool}: {}", errstr(&e)), 1))?;
    if let Some(ns) = &opts.namespace {
        io.set_namespace(ns);
    }
    if let Some(key) = &opts.object_locator {
        io.set_locator_key(key);
    }
    Ok(io)
}

/// The output format (plain unless --format says otherwise).
pub fn format(opts: &Opts) -> Format {
    opts.format.unwrap_or(Format::Plain)
}

/// Prints a JSON value in the chosen JSON style, followed by a newline.
pub fn print_json(fmt: Format, v: &serde_json::Value) -> Result<()> {
    let text = if fmt == Format::JsonPretty {
        serde_json::to_string_pretty(v)?
    } else {
        serde_json::to_string(v)?
    };
    let mut out = std::io::stdout().lock();
    writeln!(out, "{text}")?;
    out.flush()?;
    Ok(())
}

/// Writes text to standard output.
pub fn print(text: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(())
}

/// Reads a whole file, `-` meaning standard input (for small values: xattrs, omap).
pub fn read_value(path: &str) -> std::io::Result<Vec<u8>> {
    if path == "-" {
        let mut buf = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin().lock(), &mut buf)?;
        return Ok(buf);
    }
    std::fs::read(path)
}

/// A value given as an argument, or read from --input-file, or from standard input.
pub fn value_arg(opts: &Opts, arg: Option<&str>) -> Result<Vec<u8>> {
    if let Some(v) = arg {
        return Ok(v.as_bytes().to_vec());
    }
    let path = opts
        .input_file
        .as_ref()
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_else(|| "-".into());
    read_value(&path).map_err(|e| {
        let what = if path == "-" {
            "standard input".to_string()
        } else {
            path.clone()
        };
        fail(format!("error reading {what}: {}", io_errstr(&e)), 1)
    })
}

/// The largest op -b may ask for (the library refuses messages over 130 MiB and objects over
/// 128 MiB; Ceph's OSDs refuse writes over 90 MB).
pub const MAX_OP_SIZE: u64 = 64 << 20;

/// The op size for put/get/bench (-b), 4 MiB by default.
pub fn op_size(opts: &Opts) -> Result<u64> {
    match &opts.block_size {
        None => Ok(4 << 20),
        Some(s) => match crate::textfmt::parse_size(s) {
            Some(n) if n > 0 && n <= MAX_OP_SIZE => Ok(n),
            _ => Err(fail(
                format!(
                    "invalid block size '{s}': give bytes (4096) or a size (4K, 4M), at most 64M"
                ),
                1,
            )),
        },
    }
}
