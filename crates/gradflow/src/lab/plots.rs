//! Figures of the lab report (work in progress).
