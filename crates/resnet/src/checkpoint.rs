//! Checkpoints that exchange with torchvision: a `model.state_dict()` saved as safetensors loads
//! into a [`ResNet`] of the same architecture, strictly, and a [`ResNet`] saves a file that
//! `model.load_state_dict(safetensors.torch.load_file(path))` accepts.
//!
//! Converting a torchvision `.pth` (PyTorch ≥ 1.13, `safetensors` installed):
//!
//! ```python
//! import torch, torchvision, safetensors.torch as st
//! st.save_file(torchvision.models.resnet50(weights="IMAGENET1K_V2").state_dict(), "resnet50.safetensors")
//! ```
//!
//! Matching is by name (see [`gradflow_layers::checkpoint`]): in strict mode a missing,
//! unexpected or mis-shaped tensor is an error that lists every offending name, and nothing
//! is assigned. BatchNorm's `num_batches_tracked` (I64 in PyTorch, f32 here) loads by value.

use std::path::Path;

use gradflow_layers::{LoadMode, LoadReport, checkpoint};

use crate::error::ResNetError;
use crate::resnet::ResNet;

impl ResNet {
    /// Load a torchvision state dict from a safetensors file, strictly (PyTorch's
    /// `load_state_dict(sd, strict=True)`).
    ///
    /// # Errors
    /// [`ResNetError::Checkpoint`] if the file cannot be read or parsed, or does not match
    /// the network exactly; the message names every missing, unexpected and mis-shaped
    /// tensor (`layer2.0.downsample.0.weight (module [128, 64, 1, 1], file [128, 64, 3, 3])`).
    /// The network is unchanged on error.
    pub fn load_state_dict(&self, path: impl AsRef<Path>) -> Result<LoadReport, ResNetError> {
        self.load_state_dict_with(path, LoadMode::Strict)
    }

    /// [`ResNet::load_state_dict`] with a choice of [`LoadMode`]: `NonStrict` loads what
    /// matches and reports the rest (e.g. a 1000-class checkpoint's `fc` into a 10-class
    /// network still fails on `fc.weight`'s shape, as in PyTorch; drop those entries first).
    ///
    /// # Errors
    /// As [`ResNet::load_state_dict`], missing and unexpected names excepted in `NonStrict`.
    pub fn load_state_dict_with(
        &self,
        path: impl AsRef<Path>,
        mode: LoadMode,
    ) -> Result<LoadReport, ResNetError> {
        Ok(checkpoint::load(self, path, mode)?)
    }

    /// [`ResNet::load_state_dict_with`] from safetensors bytes in memory.
    ///
    /// # Errors
    /// As [`ResNet::load_state_dict_with`].
    pub fn load_state_dict_from_bytes(
        &self,
        bytes: &[u8],
        mode: LoadMode,
    ) -> Result<LoadReport, ResNetError> {
        Ok(checkpoint::load_from_bytes(self, bytes, mode)?)
    }

    /// Save the state dict (parameters and running statistics, torchvision's names) as
    /// safetensors, atomically.
    ///
    /// # Errors
    /// [`ResNetError::Checkpoint`] if the file cannot be written.
    pub fn save_state_dict(&self, path: impl AsRef<Path>) -> Result<(), ResNetError> {
        Ok(checkpoint::save(self, path)?)
    }
}
