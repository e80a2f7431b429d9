//! Fan-in and fan-out of a weight tensor, `torch.nn.init._calculate_fan_in_and_fan_out`.
//!
//! A weight of shape `[out, in, k₁, …, k_d]` (Linear: `[out, in]`; Conv2d:
//! `[out, in/groups, kh, kw]`) connects each output unit to `fan_in = in·k₁⋯k_d` inputs and
//! each input unit to `fan_out = out·k₁⋯k_d` outputs. Forward variance depends on `fan_in`,
//! backward (gradient) variance on `fan_out`.

/// Which fan scales the variance in Kaiming initialization.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FanMode {
    /// Preserve the variance of the activations in the forward pass (PyTorch's default).
    #[default]
    FanIn,
    /// Preserve the variance of the gradients in the backward pass.
    FanOut,
}

/// `(fan_in, fan_out)` of a weight of shape `[out, in, k₁, …]`:
/// `fan_in = shape[1]·∏k`, `fan_out = shape[0]·∏k`, as PyTorch computes them.
///
/// For a grouped convolution the weight is `[out, in/groups, kh, kw]`, so `fan_in` is
/// per group while `fan_out` is *not* divided by the groups (PyTorch's convention).
///
/// ```
/// use gradflow_init::fan_in_and_fan_out;
/// assert_eq!(fan_in_and_fan_out(&[20, 10]), (10, 20));          // Linear(10 → 20)
/// assert_eq!(fan_in_and_fan_out(&[16, 3, 5, 5]), (75, 400));    // Conv2d(3 → 16, 5×5)
/// ```
///
/// # Panics
/// If `shape` has fewer than 2 dimensions; the message prints the shape.
#[track_caller]
pub fn fan_in_and_fan_out(shape: &[usize]) -> (usize, usize) {
    fans("fan_in_and_fan_out", shape)
}

/// [`fan_in_and_fan_out`] with the calling op's name in the panic message.
#[track_caller]
pub(crate) fn fans(op: &str, shape: &[usize]) -> (usize, usize) {
    assert!(
        shape.len() >= 2,
        "{op}: fan in and fan out can not be computed for a weight of shape {shape:?} \
         (rank {} < 2)",
        shape.len()
    );
    let receptive_field: usize = shape[2..].iter().product();
    (shape[1] * receptive_field, shape[0] * receptive_field)
}

/// The fan selected by `mode`, `torch.nn.init._calculate_correct_fan`.
#[track_caller]
pub(crate) fn fan(op: &str, shape: &[usize], mode: FanMode) -> usize {
    let (fan_in, fan_out) = fans(op, shape);
    match mode {
        FanMode::FanIn => fan_in,
        FanMode::FanOut => fan_out,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linear_and_conv() {
        assert_eq!(fan_in_and_fan_out(&[3, 7]), (7, 3));
        assert_eq!(fan_in_and_fan_out(&[8, 4, 3, 3]), (36, 72));
        // Conv1d [out, in, k] and Conv3d [out, in, d, h, w].
        assert_eq!(fan_in_and_fan_out(&[5, 2, 4]), (8, 20));
        assert_eq!(fan_in_and_fan_out(&[6, 3, 2, 3, 4]), (72, 144));
        // Grouped Conv2d(8 → 16, 3×3, groups = 4): weight [16, 2, 3, 3].
        assert_eq!(fan_in_and_fan_out(&[16, 2, 3, 3]), (18, 144));
        assert_eq!(fan("t", &[16, 2, 3, 3], FanMode::FanOut), 144);
        assert_eq!(fan("t", &[16, 2, 3, 3], FanMode::FanIn), 18);
    }

    #[test]
    #[should_panic(
        expected = "fan_in_and_fan_out: fan in and fan out can not be computed for a weight of shape [5]"
    )]
    fn rank_one_panics_with_shape() {
        fan_in_and_fan_out(&[5]);
    }
}
