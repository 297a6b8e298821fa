//! Pool and object commands with Ceph's `rados` syntax and messages: lspools, mkpool, rmpool,
//! ls, put, get, append, truncate, create, rm, stat, stat2, cp. Data moves in op-size pieces
//! (-b, 4 MiB by default), so large objects and files are never held whole.

use crate::cli::{Format, Opts};
use crate::session::{errstr, fail, format, io_errstr, op_size, print, print_json};
use crate::textfmt::{since_epoch, utime};
use anyhow::Result;
use librados::{Error, IoCtx, Rados, WriteOp};
use std::io::{Read, Write};

pub fn lspools(rados: &Rados, opts: &Opts) -> Result<()> {
    let pools = rados.list_pools();
    match format(opts) {
        Format::Plain => {
            let mut out = std::io::stdout().lock();
            for p in pools {
                writeln!(out, "{p}")?;
            }
            out.flush()?;
            Ok(())
        }
        f => print_json(f, &serde_json::json!(pools)),
    }
}

pub fn mkpool(rados: &Rados, pool: &str) -> Result<()> {
    rados
        .create_pool(pool)
        .map_err(|e| fail(format!("error creating pool {pool}: {}", errstr(&e)), 1))?;
    print(&format!("successfully created pool {pool}\n"))
}

/// Refuses `rmpool` unless the pool is named twice and the removal confirmed.
pub fn check_rmpool(opts: &Opts, pool: &str, confirm: Option<&str>) -> Result<()> {
    if confirm != Some(pool) || !opts.yes_i_really_really_mean_it {
        return Err(fail(
            "WARNING:\n  This will PERMANENTLY DESTROY an entire pool of objects with no way back.\n  \
             To confirm, pass the pool to remove twice, followed by\n  \
             --yes-i-really-really-mean-it",
            1,
        ));
    }
    Ok(())
}

pub fn rmpool(rados: &Rados, pool: &str) -> Result<()> {
    rados.delete_pool(pool).map_err(|e| {
        fail(
            format!("pool {pool} could not be removed: {}", errstr(&e)),
            1,
        )
    })?;
    print(&format!("successfully deleted pool {pool}\n"))
}

/// `ls`: names one per line; with --all, `NAMESPACE\tNAME`; a locator key follows after a tab.
pub fn ls(io: &IoCtx, opts: &Opts, outfile: Option<&str>) -> Result<()> {
    let wildcard = opts.all && !opts.default && opts.namespace.is_none();
    let iter = if wildcard {
        io.list_objects_all_namespaces()
    } else {
        io.list_objects()
    };
    let mut out: Box<dyn Write> = match outfile {
        None | Some("-") => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
        Some(path) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(path)
                .map_err(|e| fail(format!("error opening {path}: {}", io_errstr(&e)), 1))?,
        )),
    };
    let fmt = format(opts);
    let mut json = Vec::new();
    for entry in iter {
        let e = entry.map_err(|e| fail(format!("error listing objects: {}", errstr(&e)), 1))?;
        if fmt != Format::Plain {
            let mut o = serde_json::json!({"namespace": e.namespace, "name": e.name});
            if !e.locator.is_empty() {
                o["locator"] = serde_json::json!(e.locator);
            }
            json.push(o);
            continue;
        }
        if wildcard {
            write!(out, "{}\t", e.namespace)?;
        }
        write!(out, "{}", e.name)?;
        if !e.locator.is_empty() {
            write!(out, "\t{}", e.locator)?;
        }
        writeln!(out)?;
    }
    if fmt != Format::Plain {
        let v = serde_json::Value::Array(json);
        let text = if fmt == Format::JsonPretty {
            serde_json::to_string_pretty(&v)?
        } else {
            serde_json::to_string(&v)?
        };
        writeln!(out, "{text}")?;
    }
    out.flush()?;
    Ok(())
}

/// Reads up to `buf.len()` bytes, stopping short only at the end of the input.
fn read_full(r: &mut dyn Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

fn open_input(infile: &str) -> Result<Box<dyn Read>> {
    if infile == "-" {
        return Ok(Box::new(std::io::stdin().lock()));
    }
    let f = std::fs::File::open(infile).map_err(|e| {
        fail(
            format!("error reading input file {infile}: {}", io_errstr(&e)),
            1,
        )
    })?;
    Ok(Box::new(f))
}

/// Feeds the input to `each(offset, chunk)` in op-size pieces (at least one, maybe empty).
fn for_each_chunk(
    opts: &Opts,
    infile: &str,
    mut each: impl FnMut(u64, Vec<u8>) -> std::result::Result<(), Error>,
) -> Result<std::result::Result<(), Error>> {
    let size = op_size(opts)? as usize;
    let mut input = open_input(infile)?;
    let mut offset = 0u64;
    loop {
        let mut buf = vec![0u8; size];
        let n = read_full(&mut *input, &mut buf).map_err(|e| {
            fail(
                format!("error reading input file {infile}: {}", io_errstr(&e)),
                1,
            )
        })?;
        buf.truncate(n);
        if n == 0 && offset > 0 {
            return Ok(Ok(()));
        }
        if let Err(e) = each(offset, buf) {
            return Ok(Err(e));
        }
        offset += n as u64;
        if n < size {
            return Ok(Ok(()));
        }
    }
}

pub fn put(io: &IoCtx, opts: &Opts, obj: &str, infile: &str) -> Result<()> {
    let r = for_each_chunk(opts, infile, |offset, data| {
        if offset == 0 {
            io.write_full(obj, data)
        } else {
            io.write(obj, data, offset)
        }
    })?;
    r.map_err(|e| {
        fail(
            format!("error putting {}/{obj}: {}", io.pool_name(), errstr(&e)),
            1,
        )
    })
}

pub fn append(io: &IoCtx, opts: &Opts, obj: &str, infile: &str) -> Result<()> {
    let r = for_each_chunk(opts, infile, |_, data| io.append(obj, data))?;
    r.map_err(|e| {
        fail(
            format!("error appending {}/{obj}: {}", io.pool_name(), errstr(&e)),
            1,
        )
    })
}

pub fn get(io: &IoCtx, opts: &Opts, obj: &str, outfile: &str) -> Result<()> {
    let size = op_size(opts)?;
    let err = |e: Error| {
        fail(
            format!("error getting {}/{obj}: {}", io.pool_name(), errstr(&e)),
            1,
        )
    };
    // The first piece is read before the output is opened, so a missing object leaves no file.
    let mut data = io.read(obj, size, 0).map_err(err)?;
    let mut out: Box<dyn Write> = if outfile == "-" {
        Box::new(std::io::stdout().lock())
    } else {
        Box::new(
            std::fs::File::create(outfile)
                .map_err(|e| fail(format!("failed to open file: {}", io_errstr(&e)), 1))?,
        )
    };
    let mut offset = 0u64;
    loop {
        out.write_all(&data)
            .map_err(|e| fail(format!("error writing to file: {}", io_errstr(&e)), 1))?;
        if (data.len() as u64) < size {
            break;
        }
        offset += data.len() as u64;
        data = io.read(obj, size, offset).map_err(err)?;
    }
    out.flush()
        .map_err(|e| fail(format!("error writing to file: {}", io_errstr(&e)), 1))?;
    Ok(())
}

pub fn truncate(io: &IoCtx, obj: &str, length: &str) -> Result<()> {
    let size: i64 = length
        .parse()
        .map_err(|_| fail(format!("Invalid value for size: '{length}'"), 1))?;
    if size < 0 {
        return Err(fail("error, cannot truncate to negative value", 1));
    }
    io.truncate(obj, size as u64).map_err(|e| {
        fail(
            format!("error truncating oid {obj} to {size}: {}", errstr(&e)),
            1,
        )
    })
}

pub fn create(io: &IoCtx, obj: &str) -> Result<()> {
    io.create(obj, true).map_err(|e| {
        fail(
            format!("error creating {}/{obj}: {}", io.pool_name(), errstr(&e)),
            1,
        )
    })
}

pub fn rm(io: &IoCtx, objs: &[String]) -> Result<()> {
    for obj in objs {
        if let Err(e) = io.remove(obj) {
            let name = if io.namespace().is_empty() {
                obj.clone()
            } else {
                format!("{}/{obj}", io.namespace())
            };
            return Err(fail(
                format!("error removing {}>{name}: {}", io.pool_name(), errstr(&e)),
                1,
            ));
        }
    }
    Ok(())
}

/// `stat` (mtime in whole seconds, as Ceph's `stat` reports it) and `stat2` (microseconds).
pub fn stat(io: &IoCtx, obj: &str, precise: bool) -> Result<()> {
    let st = io.stat(obj).map_err(|e| {
        fail(
            format!(" error stat-ing {}/{obj}: {}", io.pool_name(), errstr(&e)),
            1,
        )
    })?;
    let mut t = since_epoch(st.mtime);
    if !precise {
        t = std::time::Duration::from_secs(t.as_secs());
    }
    print(&format!(
        "{}/{obj} mtime {}, size {}\n",
        io.pool_name(),
        utime(t),
        st.size
    ))
}

/// `cp OBJ [TARGET]`: data, xattrs, omap header and omap entries, replacing the target.
pub fn cp(rados: &Rados, io: &IoCtx, opts: &Opts, obj: &str, target: Option<&str>) -> Result<()> {
    let target_pool = opts
        .target_pool
        .clone()
        .unwrap_or_else(|| io.pool_name().to_string());
    let target_obj = match target {
        Some(t) => t.to_string(),
        None if target_pool == io.pool_name() && opts.target_nspace.is_none() => {
            return Err(fail("cannot copy object into itself", 1))
        }
        None => obj.to_string(),
    };
    let mut dst = rados.ioctx(&target_pool).map_err(|e| {
        fail(
            format!("error opening target pool {target_pool}: {}", errstr(&e)),
            1,
        )
    })?;
    dst.set_namespace(opts.target_nspace.as_deref().unwrap_or(io.namespace()));
    copy_object(io, &dst, obj, &target_obj, op_size(opts)?).map_err(|e| {
        fail(
            format!(
                "error copying {}/{obj} => {target_pool}/{target_obj}: {}",
                io.pool_name(),
                errstr(&e)
            ),
            1,
        )
    })
}

fn copy_object(
    src: &IoCtx,
    dst: &IoCtx,
    obj: &str,
    target: &str,
    chunk: u64,
) -> std::result::Result<(), Error> {
    let first = src.read(obj, chunk, 0)?;
    let xattrs = src.get_xattrs(obj)?;
    let header = src.omap_get_header(obj)?;
    let stale = match dst.get_xattrs(target) {
        Ok(x) => x,
        Err(Error::NotFound { .. }) => Default::default(),
        Err(e) => return Err(e),
    };
    let mut op = WriteOp::new();
    op.write_full(first.clone());
    for name in stale.keys().filter(|k| !xattrs.contains_key(*k)) {
        op.rm_xattr(name);
    }
    for (name, value) in &xattrs {
        op.set_xattr(name, value.clone());
    }
    op.omap_clear();
    op.omap_set_header(header);
    dst.operate(target, &op)?;
    let mut offset = first.len() as u64;
    let mut last = first.len() as u64;
    while last == chunk {
        let data = src.read(obj, chunk, offset)?;
        last = data.len() as u64;
        if data.is_empty() {
            break;
        }
        dst.write(target, data, offset)?;
        offset += last;
    }
    let mut after: Vec<u8> = Vec::new();
    loop {
        let (entries, more) = src.omap_get_vals(obj, &after, b"", 1024)?;
        if let Some((k, _)) = entries.last() {
            after = k.to_vec();
        }
        if !entries.is_empty() {
            dst.omap_set(target, entries)?;
        }
        if !more {
            return Ok(());
        }
    }
}
