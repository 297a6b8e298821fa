//! CRUSH tunables: the knobs that changed the mapper's behaviour across Ceph releases, and the
//! named profiles that bundle them.

use super::error::CrushError;
use std::fmt;

/// The mapper's tunables, as stored in a map.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Tunables {
    /// Retries inside the same bucket after a collision (legacy behaviour, 0 in modern maps).
    pub choose_local_tries: u32,
    /// Retries inside the same bucket with a permutation before descending again (legacy).
    pub choose_local_fallback_tries: u32,
    /// Total descents tried per replica before giving up (the mapper adds one).
    pub choose_total_tries: u32,
    /// Nested `chooseleaf` tries only once instead of `choose_total_tries` times.
    pub chooseleaf_descend_once: u32,
    /// Feed the outer replica rank into the nested `chooseleaf` search (`r >> (vary_r - 1)`).
    pub chooseleaf_vary_r: u8,
    /// `chooseleaf firstn` keeps earlier replicas stable when the replica count changes.
    pub chooseleaf_stable: u8,
    /// How straw (v1) lengths are computed from weights (0: original, 1: fixed).
    pub straw_calc_version: u8,
    /// Bit mask of bucket algorithms clients may be asked to handle (`1 << alg`).
    pub allowed_bucket_algs: u32,
}

/// Uniform, list and straw: what every client has understood since argonaut.
pub const LEGACY_ALLOWED_BUCKET_ALGS: u32 = (1 << 1) | (1 << 2) | (1 << 4);
/// Legacy plus straw2 (hammer and later).
pub const HAMMER_ALLOWED_BUCKET_ALGS: u32 = LEGACY_ALLOWED_BUCKET_ALGS | (1 << 5);

/// The named tunables profiles, oldest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Profile {
    Argonaut,
    Bobtail,
    Firefly,
    Hammer,
    Jewel,
}

impl Profile {
    pub const ALL: [Profile; 5] = [
        Profile::Argonaut,
        Profile::Bobtail,
        Profile::Firefly,
        Profile::Hammer,
        Profile::Jewel,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Profile::Argonaut => "argonaut",
            Profile::Bobtail => "bobtail",
            Profile::Firefly => "firefly",
            Profile::Hammer => "hammer",
            Profile::Jewel => "jewel",
        }
    }

    /// Accepts the profile names and Ceph's aliases `legacy`, `optimal` and `default`.
    pub fn from_name(name: &str) -> Option<Profile> {
        match name {
            "legacy" => Some(Profile::Argonaut),
            "optimal" | "default" => Some(Profile::Jewel),
            _ => Profile::ALL.into_iter().find(|p| p.name() == name),
        }
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Default for Tunables {
    /// Legacy (argonaut) values: what a text map without `tunable` lines compiles to.
    fn default() -> Self {
        Tunables::profile(Profile::Argonaut)
    }
}

impl Tunables {
    /// The values of a named profile.
    pub fn profile(profile: Profile) -> Tunables {
        let modern = Tunables {
            choose_local_tries: 0,
            choose_local_fallback_tries: 0,
            choose_total_tries: 50,
            chooseleaf_descend_once: 1,
            chooseleaf_vary_r: 0,
            chooseleaf_stable: 0,
            straw_calc_version: 0,
            allowed_bucket_algs: LEGACY_ALLOWED_BUCKET_ALGS,
        };
        match profile {
            Profile::Argonaut => Tunables {
                choose_local_tries: 2,
                choose_local_fallback_tries: 5,
                choose_total_tries: 19,
                chooseleaf_descend_once: 0,
                ..modern
            },
            Profile::Bobtail => modern,
            Profile::Firefly => Tunables {
                chooseleaf_vary_r: 1,
                ..modern
            },
            Profile::Hammer => Tunables {
                chooseleaf_vary_r: 1,
                straw_calc_version: 1,
                allowed_bucket_algs: HAMMER_ALLOWED_BUCKET_ALGS,
                ..modern
            },
            Profile::Jewel => Tunables {
                chooseleaf_vary_r: 1,
                chooseleaf_stable: 1,
                straw_calc_version: 1,
                allowed_bucket_algs: HAMMER_ALLOWED_BUCKET_ALGS,
                ..modern
            },
        }
    }

    /// The newest profile: what new clusters and `crush build` use.
    pub fn optimal() -> Tunables {
        Tunables::profile(Profile::Jewel)
    }

    /// The profile these tunables match, ignoring `straw_calc_version` (as Ceph's detection does).
    pub fn detect_profile(&self) -> Option<Profile> {
        Profile::ALL.into_iter().rev().find(|&p| {
            let want = Tunables {
                straw_calc_version: self.straw_calc_version,
                ..Tunables::profile(p)
            };
            want == *self
        })
    }

    /// Sets one tunable by its text-map name.
    pub fn set_by_name(&mut self, name: &str, value: u32) -> Result<(), CrushError> {
        let byte = |v: u32| {
            u8::try_from(v).map_err(|_| {
                CrushError::Invalid(format!("tunable {name} {v} is out of range (0-255)"))
            })
        };
        let tries = |v: u32| {
            if v > super::map::MAX_TRIES {
                Err(CrushError::Invalid(format!(
                    "tunable {name} {v} is above the limit {}",
                    super::map::MAX_TRIES
                )))
            } else {
                Ok(v)
            }
        };
        match name {
            "choose_local_tries" => self.choose_local_tries = tries(value)?,
            "choose_local_fallback_tries" => self.choose_local_fallback_tries = tries(value)?,
            "choose_total_tries" => self.choose_total_tries = tries(value)?,
            "chooseleaf_descend_once" => self.chooseleaf_descend_once = value,
            "chooseleaf_vary_r" => self.chooseleaf_vary_r = byte(value)?,
            "chooseleaf_stable" => self.chooseleaf_stable = byte(value)?,
            "straw_calc_version" => self.straw_calc_version = byte(value)?,
            "allowed_bucket_algs" => self.allowed_bucket_algs = value,
            _ => {
                return Err(CrushError::NotFound {
                    kind: "tunable",
                    name: name.to_string(),
                })
            }
        }
        Ok(())
    }

    /// `(name, value)` for every tunable, in the order text maps list them.
    pub fn named_values(&self) -> [(&'static str, u32); 8] {
        [
            ("choose_local_tries", self.choose_local_tries),
            (
                "choose_local_fallback_tries",
                self.choose_local_fallback_tries,
            ),
            ("choose_total_tries", self.choose_total_tries),
            ("chooseleaf_descend_once", self.chooseleaf_descend_once),
            ("chooseleaf_vary_r", u32::from(self.chooseleaf_vary_r)),
            ("chooseleaf_stable", u32::from(self.chooseleaf_stable)),
            ("straw_calc_version", u32::from(self.straw_calc_version)),
            ("allowed_bucket_algs", self.allowed_bucket_algs),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_profile_is_detected_as_itself() {
        for p in Profile::ALL {
            assert_eq!(Tunables::profile(p).detect_profile(), Some(p));
        }
        let mut odd = Tunables::optimal();
        odd.choose_total_tries = 3;
        assert_eq!(odd.detect_profile(), None);
    }

    #[test]
    fn set_by_name_checks_names_and_ranges() {
        let mut t = Tunables::default();
        t.set_by_name("choose_total_tries", 50).unwrap();
        assert_eq!(t.choose_total_tries, 50);
        assert!(matches!(
            t.set_by_name("chooseleaf_vary_r", 300),
            Err(CrushError::Invalid(_))
        ));
        assert!(matches!(
            t.set_by_name("nope", 1),
            Err(CrushError::NotFound { .. })
        ));
    }

    #[test]
    fn aliases() {
        assert_eq!(Profile::from_name("legacy"), Some(Profile::Argonaut));
        assert_eq!(Profile::from_name("optimal"), Some(Profile::Jewel));
        assert_eq!(Profile::from_name("nautilus"), None);
    }
}
