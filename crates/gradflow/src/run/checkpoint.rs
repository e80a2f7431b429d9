//! Training checkpoints that resume: the model, the optimizer, the scheduler and the run's
//! position in one safetensors file, written atomically.
//!
//! PyTorch users write `torch.save({"model": model.state_dict(), "optimizer":
//! opt.state_dict(), "scheduler": sched.state_dict(), "epoch": e}, path)`; this is the same
//! bundle in a format that cannot run code when loaded:
//!
//! | entry | content |
//! |---|---|
//! | `model.<name>` | the model's `state_dict` under PyTorch's names (F32; counters I64) |
//! | `optimizer.<i>.<buffer>` | parameter i's optimizer buffer (`momentum_buffer`, `exp_avg`…), shaped like the parameter |
//! | metadata `gradflow.optimizer` | the optimizer's kind, hyperparameters and step counts (JSON) |
//! | metadata `gradflow.scheduler` | the scheduler's position (JSON), when there is one |
//! | metadata `gradflow.progress` | [`Progress`]: completed epochs, steps, the run's config (JSON) |
//!
//! The file is replaced atomically (temporary file, fsync, rename: see
//! [`gradflow_layers::checkpoint::write_atomic`]), so a run killed at any moment, `kill -9`
//! included, leaves the last good checkpoint whole. [`load`] checks everything before it
//! changes anything: on any error the model, optimizer and scheduler are as they were.
//!
//! Bit-exact resumption needs one more thing from the caller: every random draw after the
//! checkpoint must come from state that is saved ([`Progress::extra`]) or derived from the
//! seed and the position (the data loader draws sample i of epoch e from (seed, e, i)).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use gradflow_layers::LoadMode;
use gradflow_layers::checkpoint::{self, CheckpointError, Stored};
use gradflow_optimizers::{LrScheduler, OptimError, Optimizer, OptimizerState, SchedulerState};
use gradflow_tensor::{Module, Tensor};
use serde::{Deserialize, Serialize};

/// Metadata key of the optimizer state (without its buffers).
const OPTIMIZER_KEY: &str = "gradflow.optimizer";
/// Metadata key of the scheduler state.
const SCHEDULER_KEY: &str = "gradflow.scheduler";
/// Metadata key of the [`Progress`].
const PROGRESS_KEY: &str = "gradflow.progress";
/// Prefix of the model's entries.
const MODEL_PREFIX: &str = "model.";

/// Where a run stands, and what defines it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    /// Completed epochs.
    pub epoch: u64,
    /// Completed optimizer steps.
    pub step: u64,
    /// The settings that define the run (architecture, data, schedule…). A pipeline compares
    /// them on `--resume` and refuses a checkpoint of a different run.
    pub config: serde_json::Value,
    /// Anything else the pipeline needs to continue bit-exactly (a data position, an RNG
    /// state, class names, the best metric so far).
    pub extra: serde_json::Value,
}

/// A training checkpoint could not be written or read; each variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum RunCheckpointError {
    /// Reading, parsing, writing or matching the safetensors file (the model part).
    #[error(transparent)]
    File(#[from] CheckpointError),
    /// The file lacks a part the run needs.
    #[error("checkpoint {}: {what} is missing; is this a training checkpoint written by gradflow?", path.display())]
    Missing {
        /// The checkpoint.
        path: PathBuf,
        /// What is missing.
        what: String,
    },
    /// A JSON part does not parse.
    #[error("checkpoint {}: cannot read {what}: {source}", path.display())]
    Json {
        /// The checkpoint.
        path: PathBuf,
        /// Which part.
        what: &'static str,
        /// The parser's error.
        #[source]
        source: serde_json::Error,
    },
    /// The optimizer or scheduler refused the stored state (another kind, other sizes).
    #[error("checkpoint {}: the {what} state does not fit: {source}", path.display())]
    State {
        /// The checkpoint.
        path: PathBuf,
        /// `optimizer` or `scheduler`.
        what: &'static str,
        /// Why.
        #[source]
        source: OptimError,
    },
    /// The checkpoint has a scheduler and the run none, or the other way round.
    #[error("checkpoint {}: {why}", path.display())]
    SchedulerMismatch {
        /// The checkpoint.
        path: PathBuf,
        /// Which side has one.
        why: &'static str,
    },
}

fn json_err(
    path: &Path,
    what: &'static str,
) -> impl FnOnce(serde_json::Error) -> RunCheckpointError {
    let path = path.to_path_buf();
    move |source| RunCheckpointError::Json { path, what, source }
}

/// The checkpoint as safetensors bytes (see the [module docs](self)).
///
/// # Errors
/// [`RunCheckpointError::File`] if the model reports a name twice.
pub fn to_bytes(
    model: &dyn Module,
    opt: &dyn Optimizer,
    sched: Option<&dyn LrScheduler>,
    progress: &Progress,
) -> Result<Vec<u8>, RunCheckpointError> {
    let path = Path::new("<memory>");
    let mut entries: Vec<(String, Stored)> = checkpoint::state_entries(model)?
        .into_iter()
        .map(|(n, s)| (format!("{MODEL_PREFIX}{n}"), s))
        .collect();
    let mut state = opt.state_dict();
    for (i, (slot, param)) in state.state.iter_mut().zip(opt.params()).enumerate() {
        if let Some(s) = slot {
            for (name, values) in std::mem::take(&mut s.buffers) {
                entries.push((
                    format!("optimizer.{i}.{name}"),
                    Stored::Float(Tensor::from_vec(values, param.shape())),
                ));
            }
        }
    }
    let mut meta = HashMap::new();
    meta.insert(
        OPTIMIZER_KEY.to_string(),
        serde_json::to_string(&state).map_err(json_err(path, "the optimizer state"))?,
    );
    if let Some(s) = sched {
        meta.insert(
            SCHEDULER_KEY.to_string(),
            serde_json::to_string(&s.state_dict()).map_err(json_err(path, "the scheduler"))?,
        );
    }
    meta.insert(
        PROGRESS_KEY.to_string(),
        serde_json::to_string(progress).map_err(json_err(path, "the progress"))?,
    );
    Ok(checkpoint::entries_to_bytes(&entries, &meta)?)
}

/// Write the checkpoint to `path` atomically (the previous file survives any failure).
///
/// # Errors
/// As [`to_bytes`], and [`CheckpointError::Io`] (inside [`RunCheckpointError::File`]) naming
/// the path if it cannot be written.
pub fn save(
    path: &Path,
    model: &dyn Module,
    opt: &dyn Optimizer,
    sched: Option<&dyn LrScheduler>,
    progress: &Progress,
) -> Result<(), RunCheckpointError> {
    let bytes = to_bytes(model, opt, sched, progress)?;
    checkpoint::write_atomic(path, &bytes).map_err(|source| {
        RunCheckpointError::File(CheckpointError::Io {
            path: path.to_path_buf(),
            op: "write",
            source,
        })
    })
}

fn read(path: &Path) -> Result<Vec<u8>, RunCheckpointError> {
    std::fs::read(path).map_err(|source| {
        RunCheckpointError::File(CheckpointError::Io {
            path: path.to_path_buf(),
            op: "read",
            source,
        })
    })
}

fn metadata(bytes: &[u8], path: &Path) -> Result<HashMap<String, String>, RunCheckpointError> {
    checkpoint::read_metadata_from_bytes(bytes).map_err(|e| with_path(e, path).into())
}

fn progress_of(
    meta: &HashMap<String, String>,
    path: &Path,
) -> Result<Progress, RunCheckpointError> {
    let text = meta
        .get(PROGRESS_KEY)
        .ok_or_else(|| RunCheckpointError::Missing {
            path: path.to_path_buf(),
            what: "the run's progress".into(),
        })?;
    serde_json::from_str(text).map_err(json_err(path, "the progress"))
}

/// The [`Progress`] of the checkpoint at `path`, without touching any model: read it first
/// to rebuild the model and optimizer from the stored config, then [`load`].
///
/// # Errors
/// The file cannot be read or parsed, or has no progress entry.
pub fn peek(path: &Path) -> Result<Progress, RunCheckpointError> {
    let bytes = read(path)?;
    progress_of(&metadata(&bytes, path)?, path)
}

/// Restore `model`, `opt` and `sched` from the checkpoint at `path` and return its
/// [`Progress`]. The model must match strictly (every name and shape).
///
/// # Errors
/// Any mismatch, with the file named; on error nothing has changed.
pub fn load(
    path: &Path,
    model: &dyn Module,
    opt: &mut dyn Optimizer,
    sched: Option<&mut dyn LrScheduler>,
) -> Result<Progress, RunCheckpointError> {
    let bytes = read(path)?;
    let meta = metadata(&bytes, path)?;
    let progress = progress_of(&meta, path)?;
    let missing = |what: &str| RunCheckpointError::Missing {
        path: path.to_path_buf(),
        what: what.to_string(),
    };
    let text = meta
        .get(OPTIMIZER_KEY)
        .ok_or_else(|| missing("the optimizer state"))?;
    let mut state: OptimizerState =
        serde_json::from_str(text).map_err(json_err(path, "the optimizer state"))?;
    let entries = checkpoint::read_entries_from_bytes(&bytes).map_err(|e| with_path(e, path))?;
    // Parameter i's buffers are the entries `optimizer.<i>.<buffer>`; which buffers must
    // exist is the optimizer's business: it checks them on load.
    let mut buffers: HashMap<usize, Vec<(String, Vec<f32>)>> = HashMap::new();
    for (name, stored) in entries {
        let Some((i, buffer)) = name
            .strip_prefix("optimizer.")
            .and_then(|rest| rest.split_once('.'))
        else {
            continue;
        };
        let (Ok(i), Stored::Float(t)) = (i.parse::<usize>(), stored) else {
            return Err(missing(&format!("`{name}` as a float tensor")));
        };
        buffers
            .entry(i)
            .or_default()
            .push((buffer.to_string(), t.to_vec()));
    }
    for (i, slot) in state.state.iter_mut().enumerate() {
        if let Some(s) = slot {
            for (name, values) in buffers.remove(&i).unwrap_or_default() {
                s.buffers.insert(name, values);
            }
        }
    }
    let sched_state: Option<SchedulerState> = match (meta.get(SCHEDULER_KEY), sched.is_some()) {
        (Some(t), true) => Some(serde_json::from_str(t).map_err(json_err(path, "the scheduler"))?),
        (None, false) => None,
        (Some(_), false) => {
            return Err(RunCheckpointError::SchedulerMismatch {
                path: path.to_path_buf(),
                why: "it holds a scheduler state and this run has no scheduler",
            });
        }
        (None, true) => {
            return Err(RunCheckpointError::SchedulerMismatch {
                path: path.to_path_buf(),
                why: "this run has a scheduler and the checkpoint holds none",
            });
        }
    };
    // Check the model first (no assignment), then change the optimizer and scheduler, and
    // undo them if a later part fails.
    let state_err = |what: &'static str| {
        let path = path.to_path_buf();
        move |source| RunCheckpointError::State { path, what, source }
    };
    let opt_before = opt.state_dict();
    opt.load_state_dict(&state)
        .map_err(state_err("optimizer"))?;
    if let (Some(s), Some(st)) = (sched, &sched_state) {
        let sched_before = s.state_dict();
        if let Err(e) = s.load_state_dict(st) {
            let _ = opt.load_state_dict(&opt_before);
            return Err(state_err("scheduler")(e));
        }
        if let Err(e) =
            checkpoint::load_prefixed_from_bytes(model, &bytes, MODEL_PREFIX, LoadMode::Strict)
        {
            let _ = opt.load_state_dict(&opt_before);
            let _ = s.load_state_dict(&sched_before);
            return Err(with_path(e, path).into());
        }
    } else if let Err(e) =
        checkpoint::load_prefixed_from_bytes(model, &bytes, MODEL_PREFIX, LoadMode::Strict)
    {
        let _ = opt.load_state_dict(&opt_before);
        return Err(with_path(e, path).into());
    }
    Ok(progress)
}

/// The in-memory readers name `<memory>`; errors here name the file.
fn with_path(e: CheckpointError, path: &Path) -> CheckpointError {
    let path = path.to_path_buf();
    match e {
        CheckpointError::Mismatch { report, .. } => CheckpointError::Mismatch { path, report },
        CheckpointError::Format { source, .. } => CheckpointError::Format { path, source },
        CheckpointError::UnsupportedDtype { name, dtype, .. } => {
            CheckpointError::UnsupportedDtype { path, name, dtype }
        }
        CheckpointError::DuplicateName { name, .. } => {
            CheckpointError::DuplicateName { path, name }
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gradflow_layers::{LinearConfig, Sequential};
    use gradflow_optimizers::{Adam, AdamConfig, Sgd, SgdConfig, StepLr};
    use rand::SeedableRng;

    fn model(seed: u64) -> Sequential {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        Sequential::new()
            .with(LinearConfig::new(3, 4).init(&mut rng))
            .with(LinearConfig::new(4, 2).init(&mut rng))
    }

    fn train_step(m: &Sequential, opt: &mut dyn Optimizer, k: f32) {
        let x = Tensor::from_vec(vec![0.5, -1.0, k, 0.25, 2.0, -k], &[2, 3]);
        let loss = m.forward(&x).powf(2.0).mean_all();
        opt.zero_grad();
        loss.backward();
        opt.step();
    }

    #[test]
    fn adam_with_a_scheduler_resumes_bit_exactly() {
        // Four steps straight, against two steps + save + load into fresh objects + two
        // steps: every weight bit must agree (Adam's moments and step counts, the scheduler's
        // position and the weights all round-trip exactly).
        let fresh = |seed: u64| {
            let m = model(seed);
            let config = AdamConfig {
                lr: 0.05,
                ..AdamConfig::default()
            };
            let mut opt = Adam::new(&m.parameters(), config).unwrap();
            let sched = StepLr::new(&mut opt, 2, 0.5).unwrap();
            (m, opt, sched)
        };
        let run = |split: bool| -> Vec<Vec<u32>> {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("checkpoint.safetensors");
            let (mut m, mut opt, mut sched) = fresh(1);
            for k in 0..2 {
                train_step(&m, &mut opt, k as f32);
                sched.step(&mut opt);
            }
            if split {
                let p = Progress {
                    epoch: 1,
                    step: 2,
                    ..Progress::default()
                };
                save(&path, &m, &opt, Some(&sched), &p).unwrap();
                (m, opt, sched) = fresh(99);
                let back = load(&path, &m, &mut opt, Some(&mut sched)).unwrap();
                assert_eq!(back, p);
            }
            for k in 2..4 {
                train_step(&m, &mut opt, k as f32);
                sched.step(&mut opt);
            }
            m.parameters()
                .iter()
                .map(|p| p.to_vec().iter().map(|v| v.to_bits()).collect())
                .collect()
        };
        assert_eq!(run(false), run(true));
    }

    #[test]
    fn a_mismatched_checkpoint_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.safetensors");
        let m = model(1);
        let mut opt = Sgd::new(
            &m.parameters(),
            SgdConfig {
                lr: 0.1,
                momentum: 0.9,
                ..SgdConfig::default()
            },
        )
        .unwrap();
        train_step(&m, &mut opt, 1.0);
        save(&path, &m, &opt, None, &Progress::default()).unwrap();
        // A model of another shape: the optimizer state fits nothing and the model fails;
        // the target's optimizer and weights must be untouched.
        let mut rng = rand::rngs::StdRng::seed_from_u64(5);
        let other = Sequential::new()
            .with(LinearConfig::new(3, 4).init(&mut rng))
            .with(LinearConfig::new(4, 3).init(&mut rng));
        let mut opt2 = Sgd::new(
            &other.parameters(),
            SgdConfig {
                lr: 0.1,
                momentum: 0.9,
                ..SgdConfig::default()
            },
        )
        .unwrap();
        train_step(&other, &mut opt2, 1.0);
        let (w_before, s_before) = (weights(&other), opt2.state_dict());
        let err = load(&path, &other, &mut opt2, None).unwrap_err();
        assert!(err.to_string().contains("c.safetensors"), "{err}");
        assert_eq!(weights(&other), w_before);
        assert_eq!(opt2.state_dict(), s_before);
        // A scheduler on one side only is refused by name.
        let mut sched = StepLr::new(&mut opt2, 2, 0.5).unwrap();
        let err = load(&path, &m, &mut opt, Some(&mut sched)).unwrap_err();
        assert!(
            matches!(err, RunCheckpointError::SchedulerMismatch { .. }),
            "{err}"
        );
    }

    fn weights(m: &Sequential) -> Vec<Vec<f32>> {
        m.parameters().iter().map(Tensor::to_vec).collect()
    }

    #[test]
    fn peek_reads_the_progress_alone_and_names_a_foreign_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.safetensors");
        let m = model(2);
        let opt = Sgd::new(
            &m.parameters(),
            SgdConfig {
                lr: 0.1,
                ..SgdConfig::default()
            },
        )
        .unwrap();
        let p = Progress {
            epoch: 3,
            step: 30,
            config: serde_json::json!({"arch": "resnet20"}),
            extra: serde_json::json!({"classes": ["a", "b"]}),
        };
        save(&path, &m, &opt, None, &p).unwrap();
        assert_eq!(peek(&path).unwrap(), p);
        // A plain model checkpoint has no progress: a clear error, not a panic.
        let plain = dir.path().join("model.safetensors");
        checkpoint::save(&m, &plain).unwrap();
        let err = peek(&plain).unwrap_err().to_string();
        assert!(
            err.contains("model.safetensors") && err.contains("progress"),
            "{err}"
        );
    }
}
