//! CRUSH: Ceph's placement algorithm, bit-exact.
//!
//! - [`CrushMap`]: devices, bucket types, buckets (uniform, list, tree, straw, straw2), rules,
//!   tunables, device classes with their shadow hierarchies, choose_args.
//! - [`CrushMap::do_rule`]: the mapper (see `mapper.rs`).
//! - [`compile`] / [`decompile`]: the text format of `crushtool -c` / `crushtool -d`.
//! - [`binary`]: Ceph's binary encoding, so maps from a running Ceph cluster load directly.
//! - editing operations the monitor uses, and [`simple`] maps (`crushtool --build`, a new
//!   cluster's default hierarchy).
//! - [`tester`]: `crushtool --test` and its report formats.

pub mod binary;
mod bucket;
mod classes;
mod divide;
mod dump;
mod edit;
mod error;
mod ln_table;
mod map;
mod mapper;
mod rule;
pub mod simple;
pub mod tester;
mod text;
mod tree;
mod tunables;

pub use bucket::{Bucket, BucketAlg, BucketData, MAX_TREE_ITEMS};
pub use dump::dump;
pub use edit::{is_valid_name, weight_to_fixed, SimpleRule};
pub use error::CrushError;
pub use map::{
    ChooseArg, ChooseArgMap, CrushMap, CRUSH_ITEM_NONE, DEFAULT_CHOOSE_ARGS, MAX_BUCKETS,
    MAX_CHOOSE_COUNT, MAX_DEVICES, MAX_RULES, MAX_TRIES,
};
pub use mapper::{Workspace, MAX_RESULT, WEIGHT_IN};
pub use rule::{rule_type_name, ChooseMode, Rule, Step, RULE_TYPE_ERASURE, RULE_TYPE_REPLICATED};
pub use text::{compile, decompile};
pub use tree::tree;
pub use tunables::{Profile, Tunables};
