//! `export [POOL] FILE|-` and `import FILE|- [POOL]`: a whole pool (every namespace and locator
//! key; each object's data, xattrs, omap header and omap entries) in a streamed, checksummed
//! file. Neither side holds more than one record (at most 64 MiB) in memory.
//!
//! Format, version 1 (all integers little-endian):
//!
//! ```text
//! file    = "RADOSEXP" | version u32 | crc32c u32 (of the 12 bytes before it) | record*
//! record  = kind u8 | length u32 | payload (length bytes, at most 64 MiB)
//!           | crc32c u32 (of kind, length and payload)
//! 'O' object start   ns blob | locator blob | name blob | size u64 | mtime_ns u64
//! 'D' data           offset u64 | bytes to the end of the payload (in order, no gaps)
//! 'X' xattr          name blob | value to the end of the payload
//! 'H' omap header    bytes to the end of the payload
//! 'K' omap entries   count u32 | (key blob | value blob) * count
//! 'E' object end     data bytes u64 | xattrs u32 | omap entries u64 (checked on import)
//! 'Z' end of file    objects u64 (nothing may follow)
//! blob               length u32 | bytes
//! ```
//!
//! Import checks every record's checksum, the records' order and the counts. From a file it
//! checks the whole file before writing anything, so a damaged file is refused with nothing
//! changed; from standard input it stops at the first damaged record. Objects already in the
//! pool are replaced (kept with --no-overwrite); --dry-run only checks.

use crate::cli::Opts;
use crate::session::{errstr, fail, io_errstr};
use anyhow::Result;
use librados::client::ListEntry;
use librados::{Error, IoCtx, Rados};
use std::io::{BufReader, BufWriter, Read, Write};

const MAGIC: &[u8; 8] = b"RADOSEXP";
const VERSION: u32 = 1;
const MAX_PAYLOAD: usize = 64 << 20;
const CHUNK: u64 = 4 << 20;
const OMAP_BATCH_BYTES: usize = 4 << 20;
const PROGRESS_EVERY: u64 = 1000;

fn blob(len: usize) -> Result<[u8; 4]> {
    u32::try_from(len)
        .ok()
        .filter(|n| (*n as usize) < MAX_PAYLOAD)
        .map(u32::to_le_bytes)
        .ok_or_else(|| fail("cannot export a name or value of 64 MiB or more", 1))
}

struct Writer<W: Write> {
    out: W,
}

impl<W: Write> Writer<W> {
    /// Writes one record whose payload is `parts` in order.
    fn record(&mut self, kind: u8, parts: &[&[u8]]) -> Result<()> {
        let len: usize = parts.iter().map(|p| p.len()).sum();
        if len > MAX_PAYLOAD {
            return Err(fail("cannot export a record larger than 64 MiB", 1));
        }
        let mut head = [0u8; 5];
        head[0] = kind;
        head[1..].copy_from_slice(&(len as u32).to_le_bytes());
        let mut crc = crc32c::crc32c(&head);
        self.out.write_all(&head)?;
        for p in parts {
            crc = crc32c::crc32c_append(crc, p);
            self.out.write_all(p)?;
        }
        self.out.write_all(&crc.to_le_bytes())?;
        Ok(())
    }
}

fn display_name(ns: &str, name: &str) -> String {
    if ns.is_empty() {
        name.to_string()
    } else {
        format!("{ns}/{name}")
    }
}

/// Writes one object; `Ok(false)` when it was removed after being listed.
fn export_object<W: Write>(w: &mut Writer<W>, io: &IoCtx, e: &ListEntry) -> Result<bool> {
    let lib = |err: Error| {
        fail(
            format!(
                "error exporting {}: {}",
                display_name(&e.namespace, &e.name),
                errstr(&err)
            ),
            1,
        )
    };
    let name = e.name.as_str();
    let (st, xattrs, header) = match (|| {
        Ok((
            io.stat(name)?,
            io.get_xattrs(name)?,
            io.omap_get_header(name)?,
        ))
    })() {
        Ok(v) => v,
        Err(Error::NotFound { .. }) => return Ok(false),
        Err(err) => return Err(lib(err)),
    };
    let mtime = crate::textfmt::since_epoch(st.mtime).as_nanos() as u64;
    w.record(
        b'O',
        &[
            &blob(e.namespace.len())?,
            e.namespace.as_bytes(),
            &blob(e.locator.len())?,
            e.locator.as_bytes(),
            &blob(name.len())?,
            name.as_bytes(),
            &st.size.to_le_bytes(),
            &mtime.to_le_bytes(),
        ],
    )?;
    let mut offset = 0u64;
    loop {
        let d = io.read(name, CHUNK, offset).map_err(lib)?;
        if !d.is_empty() {
            w.record(b'D', &[&offset.to_le_bytes(), &d])?;
        }
        offset += d.len() as u64;
        if (d.len() as u64) < CHUNK {
            break;
        }
    }
    for (k, v) in &xattrs {
        w.record(b'X', &[&blob(k.len())?, k.as_bytes(), v])?;
    }
    if !header.is_empty() {
        w.record(b'H', &[&header])?;
    }
    let mut omap_count = 0u64;
    let mut batch: Vec<u8> = Vec::new();
    let mut in_batch = 0u32;
    let mut after: Vec<u8> = Vec::new();
    loop {
        let (entries, more) = io.omap_get_vals(name, &after, b"", 1024).map_err(lib)?;
        for (k, v) in &entries {
            if in_batch > 0 && batch.len() + k.len() + v.len() + 8 > OMAP_BATCH_BYTES {
                w.record(b'K', &[&in_batch.to_le_bytes(), &batch])?;
                batch.clear();
                in_batch = 0;
            }
            batch.extend_from_slice(&blob(k.len())?);
            batch.extend_from_slice(k);
            batch.extend_from_slice(&blob(v.len())?);
            batch.extend_from_slice(v);
            in_batch += 1;
            omap_count += 1;
        }
        match entries.last() {
            Some((k, _)) if more => after = k.to_vec(),
            _ => break,
        }
    }
    if in_batch > 0 {
        w.record(b'K', &[&in_batch.to_le_bytes(), &batch])?;
    }
    w.record(
        b'E',
        &[
            &offset.to_le_bytes(),
            &(xattrs.len() as u32).to_le_bytes(),
            &omap_count.to_le_bytes(),
        ],
    )?;
    Ok(true)
}

pub fn export(rados: &Rados, pool: &str, file: &str) -> Result<()> {
    let io = rados
        .ioctx(pool)
        .map_err(|e| fail(format!("error opening pool {pool}: {}", errstr(&e)), 1))?;
    let out: Box<dyn Write> = if file == "-" {
        Box::new(std::io::stdout().lock())
    } else {
        Box::new(
            std::fs::File::create(file)
                .map_err(|e| fail(format!("error opening {file}: {}", io_errstr(&e)), 1))?,
        )
    };
    let mut w = Writer {
        out: BufWriter::with_capacity(1 << 20, out),
    };
    let mut head = MAGIC.to_vec();
    head.extend_from_slice(&VERSION.to_le_bytes());
    let crc = crc32c::crc32c(&head);
    w.out.write_all(&head)?;
    w.out.write_all(&crc.to_le_bytes())?;
    let mut count = 0u64;
    for entry in io.list_objects_all_namespaces() {
        let entry =
            entry.map_err(|e| fail(format!("error listing pool {pool}: {}", errstr(&e)), 1))?;
        let mut oio = io.clone();
        oio.set_namespace(&entry.namespace);
        oio.set_locator_key(&entry.locator);
        if export_object(&mut w, &oio, &entry)? {
            count += 1;
            if count % PROGRESS_EVERY == 0 {
                eprintln!("exported {count} objects");
            }
        }
    }
    w.record(b'Z', &[&count.to_le_bytes()])?;
    w.out.flush()?;
    eprintln!("exported {count} objects from pool {pool}");
    Ok(())
}

/// One record read back.
enum Rec {
    Object {
        ns: String,
        locator: String,
        name: String,
    },
    Data {
        offset: u64,
        bytes: Vec<u8>,
    },
    Xattr {
        name: String,
        value: Vec<u8>,
    },
    Header(Vec<u8>),
    Omap(Vec<(Vec<u8>, Vec<u8>)>),
    End {
        data: u64,
        xattrs: u32,
        omap: u64,
    },
    Eof {
        objects: u64,
    },
}

/// A cursor over one payload; every read is bounds-checked.
struct Cur<'a> {
    b: &'a [u8],
}

impl<'a> Cur<'a> {
    fn take(&mut self, n: usize) -> std::result::Result<&'a [u8], String> {
        if self.b.len() < n {
            return Err("a record is shorter than its contents".into());
        }
        let (h, t) = self.b.split_at(n);
        self.b = t;
        Ok(h)
    }
    fn u32(&mut self) -> std::result::Result<u32, String> {
        let mut a = [0u8; 4];
        a.copy_from_slice(self.take(4)?);
        Ok(u32::from_le_bytes(a))
    }
    fn u64(&mut self) -> std::result::Result<u64, String> {
        let mut a = [0u8; 8];
        a.copy_from_slice(self.take(8)?);
        Ok(u64::from_le_bytes(a))
    }
    fn blob(&mut self) -> std::result::Result<Vec<u8>, String> {
        let n = self.u32()? as usize;
        Ok(self.take(n)?.to_vec())
    }
    fn string(&mut self) -> std::result::Result<String, String> {
        String::from_utf8(self.blob()?).map_err(|_| "a name is not valid UTF-8".to_string())
    }
    fn rest(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.b).to_vec()
    }
    fn done(&self) -> std::result::Result<(), String> {
        if self.b.is_empty() {
            Ok(())
        } else {
            Err("a record is longer than its contents".into())
        }
    }
}

struct Reader<R: Read> {
    inp: R,
    pos: u64,
    index: u64,
}

impl<R: Read> Reader<R> {
    fn damaged(&self, what: &str) -> anyhow::Error {
        fail(
            format!(
                "the export file is damaged at byte {} (record {}): {what}",
                self.pos, self.index
            ),
            1,
        )
    }

    fn read_exact(&mut self, buf: &mut [u8]) -> Result<()> {
        match self.inp.read_exact(buf) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                Err(self.damaged("the file ends early (truncated)"))
            }
            Err(e) => Err(fail(
                format!("error reading the export file: {}", io_errstr(&e)),
                1,
            )),
        }
    }

    fn header(&mut self) -> Result<()> {
        let mut h = [0u8; 16];
        let mut n = 0;
        while n < h.len() {
            match self.inp.read(&mut h[n..]) {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    return Err(fail(
                        format!("error reading the export file: {}", io_errstr(&e)),
                        1,
                    ))
                }
            }
        }
        if n < h.len() || &h[..8] != MAGIC {
            return Err(fail(
                "this is not a file made by `rados export` (bad magic)",
                1,
            ));
        }
        let crc = u32::from_le_bytes([h[12], h[13], h[14], h[15]]);
        if crc32c::crc32c(&h[..12]) != crc {
            return Err(self.damaged("the file header's checksum does not match"));
        }
        let version = u32::from_le_bytes([h[8], h[9], h[10], h[11]]);
        if version != VERSION {
            return Err(fail(
                format!("unsupported export format version {version} (this rados reads {VERSION})"),
                1,
            ));
        }
        self.pos = 16;
        Ok(())
    }

    fn next(&mut self) -> Result<Rec> {
        let mut head = [0u8; 5];
        self.read_exact(&mut head)?;
        let len = u32::from_le_bytes([head[1], head[2], head[3], head[4]]) as usize;
        if len > MAX_PAYLOAD {
            return Err(self.damaged("a record length is out of range"));
        }
        let mut payload = Vec::new();
        (&mut self.inp)
            .take(len as u64)
            .read_to_end(&mut payload)
            .map_err(|e| {
                fail(
                    format!("error reading the export file: {}", io_errstr(&e)),
                    1,
                )
            })?;
        if payload.len() < len {
            return Err(self.damaged("the file ends early (truncated)"));
        }
        let mut crc = [0u8; 4];
        self.read_exact(&mut crc)?;
        let want = crc32c::crc32c_append(crc32c::crc32c(&head), &payload);
        if u32::from_le_bytes(crc) != want {
            return Err(self.damaged("checksum mismatch"));
        }
        let rec = Self::parse(head[0], &payload).map_err(|m| self.damaged(&m))?;
        self.pos += 9 + len as u64;
        self.index += 1;
        Ok(rec)
    }

    fn parse(kind: u8, payload: &[u8]) -> std::result::Result<Rec, String> {
        let mut c = Cur { b: payload };
        let rec = match kind {
            b'O' => {
                let (ns, locator, name) = (c.string()?, c.string()?, c.string()?);
                let (_size, _mtime) = (c.u64()?, c.u64()?);
                Rec::Object { ns, locator, name }
            }
            b'D' => Rec::Data {
                offset: c.u64()?,
                bytes: c.rest(),
            },
            b'X' => Rec::Xattr {
                name: c.string()?,
                value: c.rest(),
            },
            b'H' => Rec::Header(c.rest()),
            b'K' => {
                let n = c.u32()?;
                let mut v = Vec::new();
                for _ in 0..n {
                    v.push((c.blob()?, c.blob()?));
                }
                Rec::Omap(v)
            }
            b'E' => Rec::End {
                data: c.u64()?,
                xattrs: c.u32()?,
                omap: c.u64()?,
            },
            b'Z' => Rec::Eof { objects: c.u64()? },
            other => return Err(format!("unknown record kind 0x{other:02x}")),
        };
        c.done()?;
        Ok(rec)
    }

    /// After the end record: the file must end.
    fn at_end(&mut self) -> Result<()> {
        let mut b = [0u8; 1];
        match self.inp.read(&mut b) {
            Ok(0) => Ok(()),
            Ok(_) => Err(self.damaged("data follows the end record")),
            Err(e) => Err(fail(
                format!("error reading the export file: {}", io_errstr(&e)),
                1,
            )),
        }
    }
}

/// The order and counts the format requires.
#[derive(Default)]
struct Check {
    open: Option<(u64, u32, u64)>,
    objects: u64,
}

impl Check {
    fn feed(&mut self, rec: &Rec) -> std::result::Result<(), String> {
        let inside = |o: &mut Option<(u64, u32, u64)>| {
            o.take()
                .ok_or_else(|| "a record outside any object".to_string())
        };
        match rec {
            Rec::Object { .. } if self.open.is_some() => {
                return Err("an object starts before the previous one ended".into())
            }
            Rec::Object { .. } => self.open = Some((0, 0, 0)),
            Rec::Data { offset, bytes } => {
                let mut o = inside(&mut self.open)?;
                if *offset != o.0 {
                    return Err("object data out of order".into());
                }
                o.0 += bytes.len() as u64;
                self.open = Some(o);
            }
            Rec::Xattr { .. } => {
                let mut o = inside(&mut self.open)?;
                o.1 += 1;
                self.open = Some(o);
            }
            Rec::Header(_) => self.open = Some(inside(&mut self.open)?),
            Rec::Omap(v) => {
                let mut o = inside(&mut self.open)?;
                o.2 += v.len() as u64;
                self.open = Some(o);
            }
            Rec::End { data, xattrs, omap } => {
                if inside(&mut self.open)? != (*data, *xattrs, *omap) {
                    return Err("an object's contents do not match its end record".into());
                }
                self.objects += 1;
            }
            Rec::Eof { objects } => {
                if self.open.is_some() || *objects != self.objects {
                    return Err("the end record does not match the objects before it".into());
                }
            }
        }
        Ok(())
    }
}

fn open_input(file: &str) -> Result<Reader<Box<dyn Read>>> {
    let inp: Box<dyn Read> = if file == "-" {
        Box::new(BufReader::with_capacity(1 << 20, std::io::stdin().lock()))
    } else {
        Box::new(BufReader::with_capacity(
            1 << 20,
            std::fs::File::open(file)
                .map_err(|e| fail(format!("error opening {file}: {}", io_errstr(&e)), 1))?,
        ))
    };
    let mut r = Reader {
        inp,
        pos: 0,
        index: 0,
    };
    r.header()?;
    Ok(r)
}

/// Reads the whole file, checking it; returns the number of objects.
fn verify(file: &str) -> Result<u64> {
    let mut r = open_input(file)?;
    let mut check = Check::default();
    loop {
        let rec = r.next()?;
        check.feed(&rec).map_err(|m| r.damaged(&m))?;
        if let Rec::Eof { objects } = rec {
            r.at_end()?;
            return Ok(objects);
        }
    }
}

pub fn import(rados: &Rados, opts: &Opts, file: &str, pool: &str) -> Result<()> {
    let io = rados
        .ioctx(pool)
        .map_err(|e| fail(format!("error opening pool {pool}: {}", errstr(&e)), 1))?;
    if file != "-" || opts.dry_run {
        let n = verify(file)?;
        if opts.dry_run {
            eprintln!("{file}: a valid export of {n} objects");
            return Ok(());
        }
    }
    let mut r = open_input(file)?;
    let mut check = Check::default();
    let mut cur = io.clone();
    let (mut name, mut skip) = (String::new(), false);
    let (mut imported, mut skipped) = (0u64, 0u64);
    loop {
        let rec = r.next()?;
        check.feed(&rec).map_err(|m| r.damaged(&m))?;
        let lib = |e: Error, ns: &str, name: &str| {
            fail(
                format!("error importing {}: {}", display_name(ns, name), errstr(&e)),
                1,
            )
        };
        let res = match rec {
            Rec::Object {
                ns,
                locator,
                name: n,
            } => {
                cur = io.clone();
                cur.set_namespace(&ns);
                cur.set_locator_key(&locator);
                name = n;
                skip = opts.no_overwrite && cur.stat(&name).is_ok();
                if skip {
                    Ok(())
                } else {
                    match cur.remove(&name) {
                        Ok(()) | Err(Error::NotFound { .. }) => cur.create(&name, false),
                        Err(e) => Err(e),
                    }
                }
            }
            Rec::End { .. } => {
                if skip {
                    skipped += 1;
                } else {
                    imported += 1;
                }
                if (imported + skipped) % PROGRESS_EVERY == 0 {
                    eprintln!("imported {} objects", imported + skipped);
                }
                Ok(())
            }
            Rec::Eof { .. } => {
                r.at_end()?;
                break;
            }
            _ if skip => Ok(()),
            Rec::Data { offset, bytes } => cur.write(&name, bytes, offset),
            Rec::Xattr { name: k, value } => cur.set_xattr(&name, &k, value),
            Rec::Header(h) => cur.omap_set_header(&name, h),
            Rec::Omap(entries) => cur.omap_set(&name, entries),
        };
        res.map_err(|e| lib(e, cur.namespace(), &name))?;
    }
    if skipped > 0 {
        eprintln!("imported {imported} objects into pool {pool} ({skipped} existing objects kept)");
    } else {
        eprintln!("imported {imported} objects into pool {pool}");
    }
    Ok(())
}
