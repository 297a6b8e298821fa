//! `rados osdmap`: build and inspect OSD map files and print placements, with osdmaptool's flags
//! and output formats (so `rados osdmap ARGS` can stand in for `osdmaptool ARGS`).
//!
//! Subcommand spellings: `create-simple N FILE`, `print FILE`, `map-object FILE NAME`,
//! `map-pgs FILE`, `import-crush FILE CRUSH`, `export-crush FILE OUT`.

use crate::args::{read_input, unknown, write_output, Args};
use crate::crush_cmd::read_map;
use anyhow::{anyhow, bail, Context, Result};
use librados::fmt::Report;
use librados::osdmap::tool::{self, CreateSimple, PgsReport};
use librados::osdmap::{OsdMap, PgId};
use std::io::Write;

pub const HELP: &str = "\
usage: rados osdmap FILE [options]

  --createsimple N        create a map with N OSDs (with --with-default-pool: pool 1 'rbd')
      --pg-bits B --pgp-bits B --osd-crush-chooseleaf-type T --osd-pool-default-size S --clobber
  --print                 print the map
  --import-crush FILE     replace the CRUSH map (binary or text)
  --export-crush FILE     write the CRUSH map (Ceph binary)
  --mark-up-in            treat every OSD as up and in (not saved)
  --mark-out N            treat OSD N as out (not saved)
  --test-map-object NAME [--pool P]     print the PG and acting set of an object
  --test-map-pg PGID                    print raw, up and acting sets of a PG
  --test-map-pgs[-dump[-all]] [--pool P]
";

#[derive(Default)]
struct Plan {
    file: Option<String>,
    create: Option<CreateSimple>,
    clobber: bool,
    print: bool,
    import_crush: Option<String>,
    export_crush: Option<String>,
    mark_up_in: bool,
    mark_out: Option<i32>,
    map_object: Option<String>,
    map_pg: Option<String>,
    map_pgs: Option<PgsReport>,
    pool: Option<i64>,
}

fn desugar(mut raw: Vec<String>) -> Vec<String> {
    let Some(first) = raw.first().cloned() else {
        return raw;
    };
    let flag = match first.as_str() {
        "create-simple" => "--createsimple",
        "print" => "--print",
        "map-pgs" => "--test-map-pgs-dump",
        "map-object" | "import-crush" | "export-crush" | "map-pg" => {
            // FILE first, then the flag's value.
            let flag = match first.as_str() {
                "map-object" => "--test-map-object",
                "map-pg" => "--test-map-pg",
                other => return splice_after_file(raw, &format!("--{other}")),
            };
            return splice_after_file(raw, flag);
        }
        _ => return raw,
    };
    raw[0] = flag.to_string();
    raw
}

fn splice_after_file(mut raw: Vec<String>, flag: &str) -> Vec<String> {
    raw.remove(0);
    let at = raw.len().min(1);
    raw.insert(at, flag.to_string());
    raw
}

fn parse(raw: Vec<String>) -> Result<Plan> {
    let mut a = Args::new(desugar(raw));
    let mut p = Plan::default();
    let mut create = CreateSimple::default();
    let mut num_osd: Option<u32> = None;
    while let Some(arg) = a.next() {
        match arg.as_str() {
            "-h" | "--help" => {
                print!("{HELP}");
                std::process::exit(0);
            }
            "--createsimple" => num_osd = Some(a.parse(&arg)?),
            "--with-default-pool" => create.with_default_pool = true,
            "--pg-bits" => create.pg_bits = a.parse(&arg)?,
            "--pgp-bits" => create.pgp_bits = a.parse(&arg)?,
            "--osd-crush-chooseleaf-type" => create.chooseleaf_type = a.parse(&arg)?,
            "--osd-pool-default-size" => create.pool_size = a.parse(&arg)?,
            "--fsid" => create.fsid = a.parse(&arg)?,
            "--clobber" => p.clobber = true,
            "--print" => p.print = true,
            "--import-crush" => p.import_crush = Some(a.value(&arg)?),
            "--export-crush" => p.export_crush = Some(a.value(&arg)?),
            "--mark-up-in" => p.mark_up_in = true,
            "--mark-out" => p.mark_out = Some(a.parse(&arg)?),
            "--test-map-object" => p.map_object = Some(a.value(&arg)?),
            "--test-map-pg" => p.map_pg = Some(a.value(&arg)?),
            "--test-map-pgs" => p.map_pgs = Some(PgsReport::Summary),
            "--test-map-pgs-dump" => p.map_pgs = Some(PgsReport::Dump),
            "--test-map-pgs-dump-all" => p.map_pgs = Some(PgsReport::DumpAll),
            "--pool" => p.pool = Some(a.parse(&arg)?),
            f if !f.starts_with('-') && p.file.is_none() => p.file = Some(f.to_string()),
            other => return Err(unknown(other)),
        }
    }
    if let Some(n) = num_osd {
        create.num_osd = n;
        p.create = Some(create);
    }
    Ok(p)
}

pub fn run(raw: Vec<String>, prog: &str) -> Result<()> {
    let p = parse(raw)?;
    let file = p
        .file
        .clone()
        .ok_or_else(|| anyhow!("no osdmap file given (see --help)"))?;
    let mut out = Report::default();
    let result = execute(&p, &file, prog, &mut out);
    std::io::stdout().write_all(out.stdout.as_bytes())?;
    std::io::stderr().write_all(out.stderr.as_bytes())?;
    result
}

fn execute(p: &Plan, file: &str, prog: &str, out: &mut Report) -> Result<()> {
    let mut modified = false;
    let mut map = match &p.create {
        Some(opts) => {
            if std::path::Path::new(file).exists() && !p.clobber {
                bail!("{file} exists, --clobber to overwrite");
            }
            modified = true;
            tool::create_simple(opts)?
        }
        None => {
            let bytes = read_input(file)?;
            OsdMap::decode(&bytes)
                .with_context(|| format!("'{file}' is not an OSD map written by rados"))?
        }
    };
    if let Some(path) = &p.import_crush {
        let crush = read_map(path)?;
        tool::import_crush(&mut map, crush)?;
        // The written map is one epoch past the import, as osdmaptool writes it.
        let next = map
            .epoch()
            .checked_add(1)
            .ok_or_else(|| anyhow!("the map is at the last possible epoch"))?;
        map.set_epoch(next);
        let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        out.stdout.push_str(&format!(
            "{prog}: imported {size} byte crush map from {path}\n"
        ));
        modified = true;
    }
    if let Some(path) = &p.export_crush {
        write_output(path, &librados::crush::binary::encode(map.crush()))?;
        out.stdout
            .push_str(&format!("{prog}: exported crush map to {path}\n"));
    }
    if modified {
        write_output(file, &map.encode())?;
        out.stdout.push_str(&format!(
            "{prog}: writing epoch {} to {file}\n",
            map.epoch()
        ));
    }
    // What follows only looks at the map (marks are not saved).
    if p.mark_up_in {
        tool::mark_up_in(&mut map, out)?;
    }
    if let Some(osd) = p.mark_out {
        tool::mark_out(&mut map, osd, out)?;
    }
    if let Some(name) = &p.map_object {
        tool::test_map_object(&map, name.as_bytes(), p.pool, out)?;
    }
    if let Some(pg) = &p.map_pg {
        let pgid: PgId = pg.parse()?;
        out.stdout.push_str(&format!(" parsed '{pg}' -> {pgid}\n"));
        out.stdout
            .push_str(&tool::dump_all_line(pgid, &map.pg_mapping(pgid)));
        out.stdout.push('\n');
    }
    if let Some(report) = p.map_pgs {
        tool::test_map_pgs(&map, p.pool, report, out)?;
    }
    if p.print {
        out.stdout.push_str(&tool::print(&map));
    }
    Ok(())
}
