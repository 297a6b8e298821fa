//! What a transport learns from the OSD map: where each OSD listens, and which OSDs are down
//! or were replaced by another incarnation (their sessions end).

use super::{EntityName, Network, PeerAddr};
use crate::osdmap::{EntityAddr, OsdMap};
use std::net::SocketAddr;

/// An OSD's addresses from the map, when it has them.
pub fn osd_addr(map: &OsdMap, osd: i32) -> Option<PeerAddr> {
    let info = map.osd(osd)?;
    let public: EntityAddr = info.addr.as_deref()?.parse().ok()?;
    let cluster = info
        .cluster_addr
        .as_deref()
        .and_then(|a| a.parse::<EntityAddr>().ok())
        .map(|a| SocketAddr::new(a.ip, a.port));
    Some(PeerAddr {
        public: SocketAddr::new(public.ip, public.port),
        cluster,
        nonce: public.nonce,
    })
}

/// Tells the transport what `new` says about every OSD, given the map it had (`old`): up
/// OSDs' addresses, and an end to sessions with OSDs that went down.
pub fn follow_map(net: &dyn Network, old: Option<&OsdMap>, new: &OsdMap) {
    for osd in 0..new.max_osd() {
        let was_up = old.is_some_and(|m| m.is_up(osd));
        if new.is_up(osd) {
            if let Some(a) = osd_addr(new, osd) {
                if old.and_then(|m| osd_addr(m, osd)) != Some(a) || !was_up {
                    net.set_peer_addr(EntityName::osd(osd), a);
                }
            }
        } else if was_up {
            net.mark_down(EntityName::osd(osd));
        }
    }
}
