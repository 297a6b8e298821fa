//! `osdmaptool`-compatible operations and reports: build a simple map, import a CRUSH map, mark
//! OSDs up/in/out, and print object and PG placements in osdmaptool's exact format.

use super::{Fsid, OsdMap, OsdMapError, PgId, PgMapping, Pool, UTime};
use crate::crush::{simple, CrushMap, Workspace, CRUSH_ITEM_NONE, WEIGHT_IN};
use crate::fmt::{general, list, Report};
use std::fmt::Write;

/// Parameters of `osdmaptool --createsimple N [--with-default-pool]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CreateSimple {
    pub num_osd: u32,
    /// pg_num = num_osd << pg_bits.
    pub pg_bits: u32,
    /// pgp_num = num_osd << pgp_bits.
    pub pgp_bits: u32,
    /// Failure domain of the default rule: 1 (host) or 0 (OSDs).
    pub chooseleaf_type: i32,
    pub with_default_pool: bool,
    pub pool_size: u8,
    pub fsid: Fsid,
}

impl Default for CreateSimple {
    fn default() -> Self {
        CreateSimple {
            num_osd: 0,
            pg_bits: 6,
            pgp_bits: 6,
            chooseleaf_type: 1,
            with_default_pool: false,
            pool_size: 3,
            fsid: Fsid::NIL,
        }
    }
}

/// Builds a map like `osdmaptool --createsimple`: epoch 1, `num_osd` OSD slots (not yet
/// existing), the single-host CRUSH map, and optionally pool 1 `rbd`.
pub fn create_simple(opts: &CreateSimple) -> Result<OsdMap, OsdMapError> {
    let mut map = OsdMap::new(opts.fsid);
    let now = UTime::now();
    map.set_times(now, now);
    map.set_epoch(1);
    let max_osd =
        i32::try_from(opts.num_osd).map_err(|_| OsdMapError::Invalid("too many OSDs".into()))?;
    map.set_max_osd(max_osd)?;
    map.set_crush(simple::build_single_host(
        opts.num_osd,
        opts.chooseleaf_type,
    )?)?;
    if opts.with_default_pool {
        let shifted = |bits: u32| {
            opts.num_osd
                .checked_shl(bits)
                .filter(|v| v >> bits == opts.num_osd)
                .ok_or_else(|| {
                    OsdMapError::Invalid(format!("{} << {bits} PGs overflows", opts.num_osd))
                })
        };
        let mut pool = Pool::replicated(1, "rbd", opts.pool_size, shifted(opts.pg_bits)?, 0);
        pool.pgp_num = shifted(opts.pgp_bits)?.min(pool.pg_num);
        pool.applications.insert("rbd".into(), Default::default());
        map.set_pool(pool)?;
    }
    Ok(map)
}

/// `--import-crush`: replaces the CRUSH map through an incremental, as osdmaptool does (the epoch
/// advances and `modified` is left unset).
pub fn import_crush(map: &mut OsdMap, crush: CrushMap) -> Result<(), OsdMapError> {
    if crush.max_devices() > map.max_osd() {
        return Err(OsdMapError::Invalid(format!(
            "crushmap max_devices {} > osdmap max_osd {}",
            crush.max_devices(),
            map.max_osd()
        )));
    }
    let mut inc = super::Incremental::next(map);
    inc.modified = UTime::default();
    inc.new_crush = Some(crush);
    map.apply_incremental(&inc)
}

/// `--mark-up-in`: every OSD slot exists, is up and fully in; a device whose CRUSH weight is 0
/// gets weight 1.0 (as osdmaptool does, so it can be chosen).
pub fn mark_up_in(map: &mut OsdMap, out: &mut Report) -> Result<(), OsdMapError> {
    out.stdout.push_str("marking all OSDs up and in\n");
    for id in 0..map.max_osd() {
        map.set_osd_state(id, true, true)?;
        map.set_osd_weight(id, WEIGHT_IN)?;
        if crush_item_weight(map.crush(), id) == Some(0) {
            map.crush_mut().adjust_item_weight(id, WEIGHT_IN)?;
        }
    }
    Ok(())
}

/// `--mark-out N`.
pub fn mark_out(map: &mut OsdMap, osd: i32, out: &mut Report) -> Result<(), OsdMapError> {
    if (0..map.max_osd()).contains(&osd) {
        let _ = writeln!(out.stdout, "marking OSD@{osd} as out");
        map.set_osd_weight(osd, 0)?;
    }
    Ok(())
}

fn pool_or_default(map: &OsdMap, pool: Option<i64>, out: &mut Report) -> Result<i64, OsdMapError> {
    let id = match pool {
        Some(p) => p,
        None => {
            out.stderr
                .push_str("assuming pool 1 (use --pool to override)\n");
            1
        }
    };
    if map.pool(id).is_none() {
        let _ = writeln!(out.stderr, "There is no pool {id}");
        return Err(OsdMapError::PoolNotFound {
            pool: id.to_string(),
        });
    }
    Ok(id)
}

/// `--test-map-object NAME [--pool P]`: ` object 'NAME' -> 1.6 -> [6,4,2]`.
pub fn test_map_object(
    map: &OsdMap,
    name: &[u8],
    pool: Option<i64>,
    out: &mut Report,
) -> Result<(), OsdMapError> {
    let pool = pool_or_default(map, pool, out)?;
    let pg = map.object_to_pg(name, &super::ObjectLocator::new(pool))?;
    let acting = map.pg_mapping(pg).acting;
    let _ = writeln!(
        out.stdout,
        " object '{}' -> {pg} -> {}",
        String::from_utf8_lossy(name),
        list(&acting)
    );
    Ok(())
}

/// Which `--test-map-pgs*` report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PgsReport {
    /// `--test-map-pgs`: statistics only.
    Summary,
    /// `--test-map-pgs-dump`: one line per PG with its acting set and primary.
    Dump,
    /// `--test-map-pgs-dump-all`: raw, up and acting sets with their primaries.
    DumpAll,
}

/// `--test-map-pgs[-dump[-all]] [--pool P]`: maps every PG and prints per-OSD statistics.
pub fn test_map_pgs(
    map: &OsdMap,
    pool: Option<i64>,
    report: PgsReport,
    out: &mut Report,
) -> Result<(), OsdMapError> {
    if let Some(p) = pool {
        if map.pool(p).is_none() {
            let _ = writeln!(out.stderr, "There is no pool {p}");
            return Err(OsdMapError::PoolNotFound {
                pool: p.to_string(),
            });
        }
    }
    let n = map.max_osd().max(0) as usize;
    let mut count = vec![0u64; n];
    let mut first = vec![0u64; n];
    let mut primary_count = vec![0u64; n];
    let mut sizes: Vec<u64> = Vec::new();
    let mut ws = Workspace::new();
    let s = &mut out.stdout;
    for (&id, p) in map.pools() {
        if pool.is_some_and(|want| want != id) {
            continue;
        }
        let _ = writeln!(s, "pool {id} pg_num {}", p.pg_num);
        for seed in 0..p.pg_num {
            let pg = PgId::new(id, seed);
            let m = map.pg_mapping_with(pg, &mut ws);
            let (osds, primary) = (&m.acting, m.acting_primary);
            match report {
                PgsReport::Dump => {
                    let _ = writeln!(s, "{pg}\t{}\t{primary}", list(osds));
                }
                PgsReport::DumpAll => {
                    let _ = writeln!(s, "{}", dump_all_line(pg, &m));
                }
                PgsReport::Summary => {}
            }
            if sizes.len() <= osds.len() {
                sizes.resize(osds.len() + 1, 0);
            }
            sizes[osds.len()] += 1;
            for &o in osds {
                if let Some(c) = usize::try_from(o)
                    .ok()
                    .filter(|_| o != CRUSH_ITEM_NONE)
                    .and_then(|o| count.get_mut(o))
                {
                    *c += 1;
                }
            }
            if let Some(&o) = osds.first() {
                if let Some(c) = usize::try_from(o)
                    .ok()
                    .filter(|_| o != CRUSH_ITEM_NONE)
                    .and_then(|o| first.get_mut(o))
                {
                    *c += 1;
                }
            }
            if let Some(c) = usize::try_from(primary)
                .ok()
                .and_then(|o| primary_count.get_mut(o))
            {
                *c += 1;
            }
        }
    }
    write_osd_statistics(map, &count, &first, &primary_count, s);
    for (size, &k) in sizes.iter().enumerate() {
        if k > 0 {
            let _ = writeln!(s, "size {size}\t{k}");
        }
    }
    Ok(())
}

/// The per-OSD table and the balance summary of `--test-map-pgs`.
fn write_osd_statistics(
    map: &OsdMap,
    count: &[u64],
    first: &[u64],
    primary: &[u64],
    s: &mut String,
) {
    s.push_str("#osd\tcount\tfirst\tprimary\tc wt\twt\n");
    let counted: Vec<usize> = (0..count.len())
        .filter(|&i| {
            map.is_in(i as i32) && crush_item_weight(map.crush(), i as i32).is_some_and(|w| w > 0)
        })
        .collect();
    let (mut total, mut min_osd, mut max_osd) = (0u64, None::<usize>, None::<usize>);
    for &i in &counted {
        let cw = crush_item_weight(map.crush(), i as i32).unwrap_or(0) as f32 / 65536.0;
        let w = map.osd(i as i32).map_or(0, |o| o.weight) as f32 / 65536.0;
        let _ = writeln!(
            s,
            "osd.{i}\t{}\t{}\t{}\t{}\t{}",
            count[i],
            first[i],
            primary[i],
            general(f64::from(cw)),
            general(f64::from(w))
        );
        total += count[i];
        if count[i] > 0 && min_osd.is_none_or(|m| count[i] < count[m]) {
            min_osd = Some(i);
        }
        if count[i] > 0 && max_osd.is_none_or(|m| count[i] > count[m]) {
            max_osd = Some(i);
        }
    }
    let n_in = counted.len() as u64;
    let avg = total.checked_div(n_in).unwrap_or(0);
    let sum_sq: f64 = counted
        .iter()
        .map(|&i| {
            avg.wrapping_sub(count[i])
                .wrapping_mul(avg.wrapping_sub(count[i])) as f64
        })
        .sum();
    let dev = c_div(sum_sq, n_in as f64).sqrt();
    let edev = (c_div(total as f64, n_in as f64) * (1.0 - c_div(1.0, n_in as f64))).sqrt();
    let g = |v: f64| general(v);
    let _ = writeln!(s, " in {n_in}");
    let _ = writeln!(
        s,
        " avg {avg} stddev {} ({}x) (expected {} {}x))",
        g(dev),
        g(c_div(dev, avg as f64)),
        g(edev),
        g(c_div(edev, avg as f64))
    );
    if let Some(m) = min_osd {
        let _ = writeln!(s, " min osd.{m} {}", count[m]);
    }
    if let Some(m) = max_osd {
        let _ = writeln!(s, " max osd.{m} {}", count[m]);
    }
}

/// Division as x86 hardware does it in C: 0/0 is a NaN with the sign bit set (printed `-nan`).
fn c_div(a: f64, b: f64) -> f64 {
    if b == 0.0 && (a == 0.0 || a.is_nan()) {
        -f64::NAN
    } else {
        a / b
    }
}

/// `1.0 raw ([0,2,4], p0) up ([0,2,4], p0) acting ([0,2,4], p0)`: a PG at every stage.
pub fn dump_all_line(pg: PgId, m: &PgMapping) -> String {
    format!(
        "{pg} raw ({}, p{}) up ({}, p{}) acting ({}, p{})",
        list(&m.raw),
        m.raw_primary,
        list(&m.up),
        m.up_primary,
        list(&m.acting),
        m.acting_primary
    )
}

/// A device's CRUSH weight: its weight in the first bucket (by slot) holding it.
fn crush_item_weight(crush: &CrushMap, item: i32) -> Option<u32> {
    crush
        .buckets()
        .find_map(|b| b.position_of(item).map(|p| b.item_weight(p)))
}

/// `--print`: the map summary osdmaptool prints.
pub fn print(map: &OsdMap) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "epoch {}", map.epoch());
    let _ = writeln!(s, "fsid {}", map.fsid());
    let _ = writeln!(s, "created {}", map.created());
    let _ = writeln!(s, "modified {}", map.modified());
    let _ = writeln!(s, "flags ");
    let _ = writeln!(s, "crush_version {}", map.crush_version());
    s.push_str("full_ratio 0\nbackfillfull_ratio 0\nnearfull_ratio 0\n");
    let _ = writeln!(s, "min_compat_client {}", map.min_compat_client());
    s.push_str("stretch_mode_enabled false\n\n");
    for p in map.pools().values() {
        let _ = write!(
            s,
            "pool {} '{}' {} size {} min_size {} crush_rule {} object_hash {} pg_num {} pgp_num {} \
             autoscale_mode on last_change {} flags {} stripe_width 0",
            p.id,
            p.name,
            p.pool_type.name(),
            p.size,
            p.min_size,
            p.crush_rule,
            p.object_hash.name(),
            p.pg_num,
            p.pgp_num,
            p.last_change,
            p.flag_names()
        );
        if !p.applications.is_empty() {
            let apps: Vec<&str> = p.applications.keys().map(String::as_str).collect();
            let _ = write!(s, " application {}", apps.join(","));
        }
        s.push('\n');
    }
    let _ = writeln!(s, "\nmax_osd {}", map.max_osd());
    for id in 0..map.max_osd() {
        let Some(o) = map.osd(id).filter(|o| o.exists) else {
            continue;
        };
        let state = if o.up { "exists,up" } else { "exists" };
        let _ = writeln!(
            s,
            "osd.{id} {} {} weight {} up_from {} up_thru 0 down_at {} last_clean_interval [0,0)   {state}",
            if o.up { "up  " } else { "down" },
            if o.weight > 0 { "in " } else { "out" },
            general(f64::from(o.weight as f32 / 65536.0)),
            o.up_from,
            o.down_at
        );
    }
    s.push('\n');
    s
}
