//! The CRUSH text format: `compile` (as `crushtool -c`) and `decompile` (as `crushtool -d`).

mod compile;
mod decompile;
mod lexer;

pub use compile::compile;
pub use decompile::decompile;
