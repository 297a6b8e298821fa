//! CRUSH: Ceph's placement algorithm, bit-exact.
//!
//! - [`CrushMap`]: devices, bucket types, buckets (uniform, list, tree, straw, straw2), rules,
//!   tunables, device classes with their shadow hierarchies, choose_args.
//! - [`CrushMap::do_rule`]: the mapper (see `mapper.rs`).
//! - [`compile`] / [`decompile`]: the text format of `crushtool -c` / `crushtool -d`.
//! - [`binary`]: Ceph's binary encoding, so maps from a running Ceph cluster load directly.
//! - editing operations the monitor uses, and [`build_simple`] (`crushtool --build`).
//! - [`tester`]: `crushtool --test` and its report formats.

pub mod binary;
mod bucket;
mod classes;
mod error;
mod ln_table;
mod map;
mod mapper;
mod rule;
mod text;
mod tunables;

pub use bucket::{Bucket, BucketAlg, BucketData, MAX_TREE_ITEMS};
pub use error::CrushError;
pub use map::{ChooseArg, ChooseArgMap, CrushMap, CRUSH_ITEM_NONE, DEFAULT_CHOOSE_ARGS, MAX_RULES};
pub use mapper::{Workspace, WEIGHT_IN};
pub use rule::{rule_type_name, ChooseMode, Rule, Step, RULE_TYPE_ERASURE, RULE_TYPE_REPLICATED};
pub use text::{compile, decompile};
pub use tunables::{Profile, Tunables};
