//! Read-only views of the monitor's state: `status`, `df`, `osd tree`.

use super::state::MonState;
use crate::crush::CrushMap;
use crate::msg::command::{ClusterStatus, PoolUsage, TreeNode};
use crate::osdmap::OsdMap;

/// The map's OSDs: how many exist, are up, are in.
pub fn osd_counts(map: &OsdMap) -> (u32, u32, u32) {
    let (mut total, mut up, mut inn) = (0, 0, 0);
    for id in (0..map.max_osd()).filter(|&id| map.exists(id)) {
        total += 1;
        up += u32::from(map.is_up(id));
        inn += u32::from(map.is_in(id));
    }
    (total, up, inn)
}

/// The cluster summary: health, OSDs, PG states (as primaries last reported them), usage.
pub fn status(state: &MonState) -> ClusterStatus {
    let map = state.map();
    let mut st = ClusterStatus {
        fsid: map.fsid().to_string(),
        epoch: map.epoch(),
        num_pools: map.pools().len() as u32,
        ..ClusterStatus::default()
    };
    (st.num_osds, st.num_up_osds, st.num_in_osds) = osd_counts(map);
    for pool in map.pools().values() {
        for seed in 0..pool.pg_num {
            let pg = crate::osdmap::PgId::new(pool.id, seed);
            st.num_pgs += 1;
            let state_name = match pg_view(state, pg) {
                PgView::Reported(s) => {
                    st.objects += s.objects;
                    st.data_bytes += s.bytes;
                    s.state.clone()
                }
                other => other.name().to_string(),
            };
            *st.pgs_by_state.entry(state_name).or_default() += 1;
        }
    }
    for (osd, (total, used, avail)) in &state.osd_usage {
        if map.exists(*osd) {
            st.total_bytes += total;
            st.used_bytes += used;
            st.avail_bytes += avail;
        }
    }
    if st.num_up_osds < st.num_osds {
        st.health_details
            .push(format!("{} osds down", st.num_osds - st.num_up_osds));
    }
    let not_clean: u32 = st
        .pgs_by_state
        .iter()
        .filter(|(s, _)| s.as_str() != "active+clean")
        .map(|(_, n)| *n)
        .sum();
    if not_clean > 0 {
        st.health_details
            .push(format!("{not_clean} pgs not active+clean"));
    }
    st.health = if st.health_details.is_empty() {
        "HEALTH_OK".into()
    } else {
        "HEALTH_WARN".into()
    };
    st
}

/// What the monitor can say of one PG.
enum PgView<'a> {
    /// Its current primary's report, made in the PG's current interval.
    Reported(&'a crate::msg::command::PgStat),
    /// No OSD has reported it.
    Unknown,
    /// Its mapping changed since it last went active: it has not activated in this interval.
    Peering,
    /// The last report came from another OSD than the current primary, or predates the
    /// PG's activation in its current interval.
    Stale,
}

impl PgView<'_> {
    fn name(&self) -> &str {
        match self {
            PgView::Reported(s) => &s.state,
            PgView::Unknown => "unknown",
            PgView::Peering => "peering",
            PgView::Stale => "stale",
        }
    }
}

/// Only a report from the current primary about the PG's current interval describes it:
/// after a mapping change, older `active+clean` reports must not make the PG look clean.
fn pg_view(state: &MonState, pg: crate::osdmap::PgId) -> PgView<'_> {
    let map = state.map();
    let Some((osd, stat)) = state.pg_stats.get(&pg) else {
        return PgView::Unknown;
    };
    let mapping = map.pg_mapping(pg);
    let activated = map.pg_active(pg);
    if activated.is_some_and(|a| a.acting != mapping.acting) && stat.state.starts_with("active") {
        return PgView::Peering;
    }
    if *osd != mapping.acting_primary || activated.is_some_and(|a| stat.epoch < a.epoch) {
        return PgView::Stale;
    }
    PgView::Reported(stat)
}

/// Every PG: its state as its current primary last reported it (`stale` when another OSD
/// reported last or the report predates the current interval, `peering` when the PG has not
/// activated since its mapping changed, `unknown` when none reported), with its mapping.
pub fn pg_dump(state: &MonState) -> Vec<crate::msg::command::PgSummary> {
    let map = state.map();
    let mut out = Vec::new();
    for pool in map.pools().values() {
        for seed in 0..pool.pg_num {
            let pgid = crate::osdmap::PgId::new(pool.id, seed);
            let m = map.pg_mapping(pgid);
            let stat = match pg_view(state, pgid) {
                PgView::Reported(s) => s.clone(),
                other => {
                    let last = state.pg_stats.get(&pgid).map(|(_, s)| s);
                    crate::msg::command::PgStat {
                        pgid,
                        epoch: last.map_or(0, |s| s.epoch),
                        state: other.name().into(),
                        objects: last.map_or(0, |s| s.objects),
                        bytes: last.map_or(0, |s| s.bytes),
                        clones: 0,
                        omap_keys: 0,
                        to_recover: 0,
                    }
                }
            };
            out.push(crate::msg::command::PgSummary {
                stat,
                up: m.up,
                acting: m.acting,
                primary: m.acting_primary,
            });
        }
    }
    out
}

/// Usage per pool, from the primaries' PG reports.
pub fn df(state: &MonState) -> Vec<PoolUsage> {
    let map = state.map();
    map.pools()
        .values()
        .map(|pool| {
            let mut u = PoolUsage {
                name: pool.name.clone(),
                id: pool.id,
                size: pool.size,
                ..PoolUsage::default()
            };
            for (_, (_, s)) in state.pg_stats.range(
                crate::osdmap::PgId::new(pool.id, 0)..=crate::osdmap::PgId::new(pool.id, u32::MAX),
            ) {
                u.bytes += s.bytes;
                u.objects += s.objects;
                u.clones += s.clones;
            }
            u.copies = u.objects * u64::from(pool.size);
            u
        })
        .collect()
}

/// The CRUSH hierarchy with each OSD's state, roots first, depth-first.
pub fn osd_tree(map: &OsdMap) -> Vec<TreeNode> {
    let crush = map.crush();
    let mut out = Vec::new();
    for root in crush.roots() {
        if crush.is_shadow(root) {
            continue;
        }
        let weight = crush.bucket(root).map_or(0, |b| b.weight());
        walk(map, crush, root, weight, 0, &mut out);
    }
    out
}

fn walk(map: &OsdMap, crush: &CrushMap, id: i32, weight: u32, depth: u32, out: &mut Vec<TreeNode>) {
    if depth > 64 {
        return;
    }
    let weight = f64::from(weight) / 65536.0;
    if id >= 0 {
        let info = map.osd(id);
        out.push(TreeNode {
            id,
            class: crush.item_class(id).unwrap_or("").to_string(),
            weight,
            type_name: "osd".into(),
            name: format!("osd.{id}"),
            depth,
            status: Some(if map.is_up(id) { "up" } else { "down" }.to_string()),
            reweight: Some(info.map_or(0.0, |o| f64::from(o.weight) / 65536.0)),
        });
        return;
    }
    let Some(bucket) = crush.bucket(id) else {
        return;
    };
    out.push(TreeNode {
        id,
        class: String::new(),
        weight,
        type_name: crush
            .type_name(i32::from(bucket.type_id()))
            .unwrap_or("?")
            .to_string(),
        name: crush.item_name(id).unwrap_or("?").to_string(),
        depth,
        status: None,
        reweight: None,
    });
    for (pos, &item) in bucket.items().iter().enumerate() {
        walk(map, crush, item, bucket.item_weight(pos), depth + 1, out);
    }
}
