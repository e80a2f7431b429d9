//! # gradflow
//!
//! The integration crate: it re-exports every concept crate under one name and holds the
//! experiments and the `gradflow` command-line tool.

pub use gradflow_activations as activations;
pub use gradflow_clipping as clipping;
pub use gradflow_init as init;
pub use gradflow_layers as layers;
pub use gradflow_normalization as normalization;
pub use gradflow_optimizers as optimizers;
pub use gradflow_recurrent as recurrent;
pub use gradflow_resnet as resnet;
pub use gradflow_tensor as tensor;

pub mod data;
pub mod diagnostics;
pub mod image;
pub mod lm;
pub mod resnet_gradients;
pub mod run;
pub mod sequence;
pub mod vanishing;
