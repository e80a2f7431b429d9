//! Progress bars in one style for every pipeline (indicatif): elapsed time, a bar, the
//! percentage, and a message with what is running and its throughput. Hidden when standard
//! error is not a terminal (CI logs stay clean).

use indicatif::{ProgressBar, ProgressStyle};

/// A bar over `total` units of work.
pub fn bar(total: u64) -> ProgressBar {
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:32} {percent:>3}% {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}
