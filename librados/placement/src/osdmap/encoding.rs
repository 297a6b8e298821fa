//! Serialised forms of the OSD map and its incrementals (see `crate::encoding`).
//!
//! Format version 1. The CRUSH map inside is carried in Ceph's binary CRUSH encoding, so it is
//! validated by the same decoder that reads maps from Ceph clusters.

use super::{Incremental, OsdMap, OsdMapError};
use crate::encoding::{decode, encode};

const OSDMAP_KIND: &str = "osdmap";
const INCREMENTAL_KIND: &str = "osdmap-incremental";
const VERSION: u16 = 1;

impl OsdMap {
    pub fn encode(&self) -> Vec<u8> {
        encode(OSDMAP_KIND, VERSION, self).expect("an OSD map always serialises")
    }

    /// Decodes and validates a map: the project's encoding, or Ceph's (read-only).
    pub fn decode(bytes: &[u8]) -> Result<OsdMap, OsdMapError> {
        if super::is_ceph_osdmap(bytes) {
            return super::decode_ceph_osdmap(bytes);
        }
        let (_, map): (u16, OsdMap) =
            decode(OSDMAP_KIND, VERSION, bytes).map_err(|e| OsdMapError::Decode(e.to_string()))?;
        map.into_checked()
    }

    /// Validates a map received whole (from the network or a file) and rebuilds what is
    /// derived from it rather than stored.
    pub fn into_checked(mut self) -> Result<OsdMap, OsdMapError> {
        self.validate()?;
        self.refresh_weights();
        Ok(self)
    }
}

impl Incremental {
    pub fn encode(&self) -> Vec<u8> {
        encode(INCREMENTAL_KIND, VERSION, self).expect("an incremental always serialises")
    }

    pub fn decode(bytes: &[u8]) -> Result<Incremental, OsdMapError> {
        let (_, inc) = decode(INCREMENTAL_KIND, VERSION, bytes)
            .map_err(|e| OsdMapError::Decode(e.to_string()))?;
        Ok(inc)
    }
}
