//! Errors a configuration or a saved state can cause.

use thiserror::Error;

/// Why an optimizer or scheduler could not be built, or a state could not be loaded.
#[derive(Debug, Error)]
pub enum OptimError {
    /// A hyperparameter is out of its valid range (PyTorch raises `ValueError` for these).
    #[error("{op}: invalid {name} = {value}: {reason}")]
    InvalidHyperparameter {
        /// The optimizer or scheduler.
        op: &'static str,
        /// The hyperparameter.
        name: &'static str,
        /// Its value.
        value: f64,
        /// What it must satisfy.
        reason: &'static str,
    },
    /// A state saved by another optimizer or scheduler kind.
    #[error("load_state_dict: the state is for {found}, not {expected}")]
    WrongKind {
        /// The kind being loaded into.
        expected: &'static str,
        /// The kind the state came from.
        found: String,
    },
    /// The state holds a different number of parameters (or child schedulers).
    #[error("load_state_dict: the state has {found} entries, this {what} has {expected}")]
    CountMismatch {
        /// "optimizer" (parameters) or "scheduler" (children).
        what: &'static str,
        /// Entries here.
        expected: usize,
        /// Entries in the state.
        found: usize,
    },
    /// A per-parameter buffer is missing or has the wrong length.
    #[error(
        "load_state_dict: parameter {index}: buffer `{buffer}` has {found} elements, \
         the parameter has {expected}"
    )]
    BufferMismatch {
        /// Index of the parameter.
        index: usize,
        /// The buffer's name (`exp_avg`, `momentum_buffer`, …).
        buffer: String,
        /// The parameter's element count.
        expected: usize,
        /// The buffer's element count (0 when missing).
        found: usize,
    },
    /// The saved hyperparameters do not describe this optimizer's configuration.
    #[error("load_state_dict: bad hyperparameters")]
    Hyperparameters(#[source] serde_json::Error),
    /// The JSON text could not be written or read.
    #[error("optimizer state JSON")]
    Json(#[source] serde_json::Error),
}

/// `Err(InvalidHyperparameter)` unless `ok`.
pub(crate) fn check(
    ok: bool,
    op: &'static str,
    name: &'static str,
    value: f64,
    reason: &'static str,
) -> Result<(), OptimError> {
    if ok {
        Ok(())
    } else {
        Err(OptimError::InvalidHyperparameter {
            op,
            name,
            value,
            reason,
        })
    }
}

/// `Err(InvalidHyperparameter)` for the first `(name, value)` that is negative (or NaN).
pub(crate) fn non_negative(
    op: &'static str,
    values: &[(&'static str, f64)],
) -> Result<(), OptimError> {
    for &(name, value) in values {
        check(value >= 0.0, op, name, value, "must be >= 0")?;
    }
    Ok(())
}

/// `Err(InvalidHyperparameter)` for the first `(name, value)` outside [0, 1) (averaging
/// coefficients: β, α).
pub(crate) fn below_one(
    op: &'static str,
    values: &[(&'static str, f64)],
) -> Result<(), OptimError> {
    for &(name, value) in values {
        check(
            (0.0..1.0).contains(&value),
            op,
            name,
            value,
            "must be in [0, 1)",
        )?;
    }
    Ok(())
}
