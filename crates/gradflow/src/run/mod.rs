//! The run toolkit every pipeline shares (`vanishing`, `sequence`, `resnet-gradients`, and the
//! image and language-model pipelines): progress bars, the divergence stop, the memory check,
//! figures, metrics tables, resumable checkpoints, and two kinds of output folder — a report
//! that is written whole or not at all ([`ReportDir`]), and a training run's folder that fills
//! up as the run goes, every file replaced atomically ([`RunDir`]).

pub mod checkpoint;
pub mod divergence;
pub mod figures;
pub mod file_error;
pub mod memory;
pub mod metrics;
pub mod progress;
pub mod report_dir;
pub mod run_dir;

pub use checkpoint::{Progress, RunCheckpointError};
pub use divergence::{Divergence, DivergenceGuard, clipped_norm};
pub use file_error::FileError;
pub use metrics::{MetricsError, MetricsLog};
pub use report_dir::{ReportDir, ReportDirError};
pub use run_dir::{RunDir, RunDirError};
