//! Refuse a configuration that cannot fit in memory *before* allocating it.
//!
//! `--batch 100000000` or `--width 1000000` would otherwise allocate until the kernel kills
//! the process (or the whole machine slows to a crawl). Each pipeline estimates the bytes its
//! largest configuration needs (parameters, gradients, optimizer state, the activations a
//! training step keeps for backward, the data) and [`check`] compares that with what the
//! machine has available now.

/// The estimate exceeds what the machine can give.
#[derive(Debug, thiserror::Error)]
#[error(
    "{what} needs about {} of memory, but this machine has {} available; reduce {hint}",
    human(*needed),
    human(*available)
)]
pub struct MemoryError {
    /// What was estimated (a configuration's name).
    pub what: String,
    /// Estimated bytes.
    pub needed: f64,
    /// Bytes available.
    pub available: f64,
    /// Which flags make it smaller.
    pub hint: String,
}

/// Bytes as a human reads them (GB = 10⁹ bytes).
pub fn human(bytes: f64) -> String {
    if bytes >= 1e9 {
        format!("{:.1} GB", bytes / 1e9)
    } else {
        format!("{:.0} MB", (bytes / 1e6).ceil())
    }
}

/// Bytes the system can give a new allocation now (`MemAvailable` in /proc/meminfo), if
/// known.
pub fn available() -> Option<f64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024.0)
}

/// Share of the available memory a run may plan to use (the estimate is approximate, and the
/// allocator and the rest of the process need room too).
pub const BUDGET: f64 = 0.8;

/// `Ok` when `needed` bytes fit in [`BUDGET`] of `available` (or when the machine does not
/// say; estimates in f64 never overflow).
///
/// # Errors
/// [`MemoryError`] naming `what`, both sizes and the flags in `hint`.
pub fn check(
    what: &str,
    needed: f64,
    available: Option<f64>,
    hint: &str,
) -> Result<(), MemoryError> {
    match available {
        // Written so that a NaN estimate is refused too.
        Some(avail) if needed.is_nan() || needed > avail * BUDGET => Err(MemoryError {
            what: what.to_string(),
            needed,
            available: avail,
            hint: hint.to_string(),
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_what_does_not_fit_and_names_the_sizes() {
        let e = check("run x", 30e9, Some(24e9), "--batch").unwrap_err();
        assert_eq!(
            e.to_string(),
            "run x needs about 30.0 GB of memory, but this machine has 24.0 GB available; reduce --batch"
        );
        assert!(check("run x", 1e9, Some(24e9), "--batch").is_ok());
        assert!(
            check("nan", f64::NAN, Some(24e9), "").is_err(),
            "a NaN estimate is refused"
        );
        assert!(check("unknown machine", 1e15, None, "").is_ok());
    }

    #[test]
    fn this_machine_reports_its_memory() {
        if cfg!(target_os = "linux") {
            assert!(available().is_some_and(|b| b > 0.0));
        }
    }
}
