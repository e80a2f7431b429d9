//! Errors that the data (the gradients) can cause.

use thiserror::Error;

use crate::NormType;

/// Why a clipping call refused to touch the gradients.
#[derive(Debug, Clone, Copy, PartialEq, Error)]
pub enum ClipError {
    /// The total gradient norm is NaN or ±∞, so no finite coefficient can fix it; the
    /// gradients were left unchanged. Usually the loss itself overflowed: lower the learning
    /// rate, check the data, or skip the step.
    #[error(
        "clip_grad_norm: the total {norm_type} norm of the gradients is {norm}, not finite; \
         gradients left unchanged"
    )]
    NonFiniteNorm {
        /// The offending total norm.
        norm: f32,
        /// The norm that was measured.
        norm_type: NormType,
    },
}
