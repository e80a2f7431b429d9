//! `IntoPair`: pass `3` or `(3, 5)` wherever a layer takes a 2-D size.

/// A 2-D size (vertical, horizontal): a single `usize` means the same value both ways, as
/// PyTorch's `kernel_size=3` means `(3, 3)`.
pub trait IntoPair {
    /// The `(vertical, horizontal)` pair.
    fn into_pair(self) -> (usize, usize);
}

impl IntoPair for usize {
    fn into_pair(self) -> (usize, usize) {
        (self, self)
    }
}

impl IntoPair for (usize, usize) {
    fn into_pair(self) -> (usize, usize) {
        self
    }
}

impl IntoPair for [usize; 2] {
    fn into_pair(self) -> (usize, usize) {
        (self[0], self[1])
    }
}
