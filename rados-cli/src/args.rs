//! A small cursor over raw arguments, for the commands that keep Ceph tools' own flag syntax
//! (crushtool, osdmaptool): flags in any order, `_` and `-` interchangeable in flag names.

use anyhow::{anyhow, bail, Context, Result};
use std::str::FromStr;

pub struct Args {
    items: Vec<String>,
    pos: usize,
}

impl Args {
    pub fn new(items: Vec<String>) -> Args {
        Args { items, pos: 0 }
    }

    /// The next raw argument, with a long flag's underscores turned into dashes.
    pub fn next(&mut self) -> Option<String> {
        let a = self.items.get(self.pos)?.clone();
        self.pos += 1;
        Some(normalize_flag(&a))
    }

    pub fn peek(&self) -> Option<&str> {
        self.items.get(self.pos).map(String::as_str)
    }

    /// The value of `flag` (its next argument).
    pub fn value(&mut self, flag: &str) -> Result<String> {
        let v = self
            .items
            .get(self.pos)
            .cloned()
            .ok_or_else(|| anyhow!("{flag} needs a value"))?;
        self.pos += 1;
        Ok(v)
    }

    /// The value of `flag`, parsed.
    pub fn parse<T: FromStr>(&mut self, flag: &str) -> Result<T>
    where
        T::Err: std::error::Error + Send + Sync + 'static,
    {
        let v = self.value(flag)?;
        v.parse()
            .with_context(|| format!("{flag}: invalid value '{v}'"))
    }
}

pub fn normalize_flag(a: &str) -> String {
    match a.strip_prefix("--") {
        Some(rest) => {
            let (name, value) = match rest.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (rest, None),
            };
            let name = name.replace('_', "-");
            match value {
                Some(v) => format!("--{name}={v}"),
                None => format!("--{name}"),
            }
        }
        None => a.to_string(),
    }
}

/// Splits `--flag=value` into the flag and a pending value to read first.
pub fn expand_equals(items: Vec<String>) -> Vec<String> {
    let mut out = Vec::with_capacity(items.len());
    for a in items {
        if a.starts_with("--") {
            if let Some((f, v)) = a.split_once('=') {
                out.push(f.to_string());
                out.push(v.to_string());
                continue;
            }
        }
        out.push(a);
    }
    out
}

/// Reads a file, `-` meaning standard input.
pub fn read_input(path: &str) -> Result<Vec<u8>> {
    if path == "-" {
        let mut buf = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut buf)
            .context("reading standard input")?;
        return Ok(buf);
    }
    std::fs::read(path).with_context(|| format!("cannot read '{path}'"))
}

/// Writes a file, `-` meaning standard output.
pub fn write_output(path: &str, data: &[u8]) -> Result<()> {
    if path == "-" {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        out.write_all(data)?;
        return Ok(out.flush()?);
    }
    std::fs::write(path, data).with_context(|| format!("cannot write '{path}'"))
}

pub fn unknown(flag: &str) -> anyhow::Error {
    anyhow!("unrecognized argument '{flag}' (see --help)")
}

pub fn ensure_unset<T>(slot: &Option<T>, what: &str) -> Result<()> {
    if slot.is_some() {
        bail!("{what} given twice");
    }
    Ok(())
}
