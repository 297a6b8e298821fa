//! CRUSH rules: a program of steps (take, choose, emit, and per-rule tunable overrides).

/// A rule for replicated pools (`type replicated`).
pub const RULE_TYPE_REPLICATED: u8 = 1;
/// A rule for erasure-coded pools (`type erasure`).
pub const RULE_TYPE_ERASURE: u8 = 3;

/// The name of a rule type in text maps; other codes print as numbers.
pub fn rule_type_name(rule_type: u8) -> Option<&'static str> {
    match rule_type {
        RULE_TYPE_REPLICATED => Some("replicated"),
        RULE_TYPE_ERASURE => Some("erasure"),
        _ => None,
    }
}

/// Step operation codes of Ceph's encoding.
pub(crate) mod op {
    pub const NOOP: u32 = 0;
    pub const TAKE: u32 = 1;
    pub const CHOOSE_FIRSTN: u32 = 2;
    pub const CHOOSE_INDEP: u32 = 3;
    pub const EMIT: u32 = 4;
    pub const CHOOSELEAF_FIRSTN: u32 = 6;
    pub const CHOOSELEAF_INDEP: u32 = 7;
    pub const SET_CHOOSE_TRIES: u32 = 8;
    pub const SET_CHOOSELEAF_TRIES: u32 = 9;
    pub const SET_CHOOSE_LOCAL_TRIES: u32 = 10;
    pub const SET_CHOOSE_LOCAL_FALLBACK_TRIES: u32 = 11;
    pub const SET_CHOOSELEAF_VARY_R: u32 = 12;
    pub const SET_CHOOSELEAF_STABLE: u32 = 13;
}

/// How a choose step picks: `firstn` (replicated: shift up on failure) or `indep` (erasure: keep
/// positions, leave holes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ChooseMode {
    FirstN,
    Indep,
}

impl ChooseMode {
    pub fn name(self) -> &'static str {
        match self {
            ChooseMode::FirstN => "firstn",
            ChooseMode::Indep => "indep",
        }
    }
}

/// One step of a rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Step {
    Noop,
    /// Start from this item (a bucket, or a shadow bucket for `take X class C`).
    Take(i32),
    /// `choose`/`chooseleaf` `firstn`/`indep` `count` `type`. A count ≤ 0 means "the replica count
    /// plus count".
    Choose {
        mode: ChooseMode,
        leaf: bool,
        count: i32,
        type_id: i32,
    },
    Emit,
    SetChooseTries(i32),
    SetChooseleafTries(i32),
    SetChooseLocalTries(i32),
    SetChooseLocalFallbackTries(i32),
    SetChooseleafVaryR(i32),
    SetChooseleafStable(i32),
    /// An operation this version does not know; kept so a decoded map re-encodes unchanged, and
    /// ignored by the mapper (as Ceph ignores unknown ops).
    Unknown {
        op: u32,
        arg1: i32,
        arg2: i32,
    },
}

impl Step {
    /// `(op, arg1, arg2)` as encoded.
    pub fn to_raw(self) -> (u32, i32, i32) {
        match self {
            Step::Noop => (op::NOOP, 0, 0),
            Step::Take(item) => (op::TAKE, item, 0),
            Step::Choose {
                mode,
                leaf,
                count,
                type_id,
            } => {
                let code = match (mode, leaf) {
                    (ChooseMode::FirstN, false) => op::CHOOSE_FIRSTN,
                    (ChooseMode::Indep, false) => op::CHOOSE_INDEP,
                    (ChooseMode::FirstN, true) => op::CHOOSELEAF_FIRSTN,
                    (ChooseMode::Indep, true) => op::CHOOSELEAF_INDEP,
                };
                (code, count, type_id)
            }
            Step::Emit => (op::EMIT, 0, 0),
            Step::SetChooseTries(v) => (op::SET_CHOOSE_TRIES, v, 0),
            Step::SetChooseleafTries(v) => (op::SET_CHOOSELEAF_TRIES, v, 0),
            Step::SetChooseLocalTries(v) => (op::SET_CHOOSE_LOCAL_TRIES, v, 0),
            Step::SetChooseLocalFallbackTries(v) => (op::SET_CHOOSE_LOCAL_FALLBACK_TRIES, v, 0),
            Step::SetChooseleafVaryR(v) => (op::SET_CHOOSELEAF_VARY_R, v, 0),
            Step::SetChooseleafStable(v) => (op::SET_CHOOSELEAF_STABLE, v, 0),
            Step::Unknown { op, arg1, arg2 } => (op, arg1, arg2),
        }
    }

    pub fn from_raw(code: u32, arg1: i32, arg2: i32) -> Step {
        let choose = |mode, leaf| Step::Choose {
            mode,
            leaf,
            count: arg1,
            type_id: arg2,
        };
        match code {
            op::NOOP => Step::Noop,
            op::TAKE => Step::Take(arg1),
            op::CHOOSE_FIRSTN => choose(ChooseMode::FirstN, false),
            op::CHOOSE_INDEP => choose(ChooseMode::Indep, false),
            op::CHOOSELEAF_FIRSTN => choose(ChooseMode::FirstN, true),
            op::CHOOSELEAF_INDEP => choose(ChooseMode::Indep, true),
            op::EMIT => Step::Emit,
            op::SET_CHOOSE_TRIES => Step::SetChooseTries(arg1),
            op::SET_CHOOSELEAF_TRIES => Step::SetChooseleafTries(arg1),
            op::SET_CHOOSE_LOCAL_TRIES => Step::SetChooseLocalTries(arg1),
            op::SET_CHOOSE_LOCAL_FALLBACK_TRIES => Step::SetChooseLocalFallbackTries(arg1),
            op::SET_CHOOSELEAF_VARY_R => Step::SetChooseleafVaryR(arg1),
            op::SET_CHOOSELEAF_STABLE => Step::SetChooseleafStable(arg1),
            _ => Step::Unknown {
                op: code,
                arg1,
                arg2,
            },
        }
    }
}

/// A placement rule.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Rule {
    /// The rule's ruleset number (equal to its id in maps written since Luminous).
    pub ruleset: u8,
    /// [`RULE_TYPE_REPLICATED`], [`RULE_TYPE_ERASURE`] or another code.
    pub rule_type: u8,
    pub min_size: u8,
    pub max_size: u8,
    pub steps: Vec<Step>,
}

impl Rule {
    /// Whether results keep positions (erasure-style): true when any choose step is `indep`.
    pub fn is_indep(&self) -> bool {
        self.steps.iter().any(|s| {
            matches!(
                s,
                Step::Choose {
                    mode: ChooseMode::Indep,
                    ..
                }
            )
        })
    }
}
