//! The run toolkit every pipeline shares (`vanishing`, and the image, language-model and
//! sequence pipelines): progress bars, the divergence stop, and the report folder that is
//! written whole or not at all.

pub mod divergence;
pub mod figures;
pub mod memory;
pub mod progress;
pub mod report_dir;

pub use divergence::{Divergence, DivergenceGuard};
pub use report_dir::{ReportDir, ReportDirError};
