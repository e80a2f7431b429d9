//! The loader: shuffled, augmented batches, prepared ahead by worker threads.
//!
//! # Order and randomness
//! Epoch e visits the samples in the order `SampleRng::for_shuffle(seed, e)` shuffles
//! `0..n` into (or `0..n` when shuffling is off), cut into batches of `batch_size`; with
//! `drop_last` the last partial batch is dropped, as in PyTorch. Sample i of epoch e is
//! augmented with `SampleRng::for_sample(seed, e, i)`. Both are pure functions of
//! (seed, epoch, index), so the batches are bit-identical for any number of workers.
//!
//! # Workers
//! With `workers = N > 0`, worker w prepares batches w, w + N, w + 2N, … and hands each to a
//! queue of its own holding at most `prefetch` batches; the consumer takes batch b from queue
//! b mod N, so batches arrive in order and at most `N · prefetch` wait in memory. With
//! `workers = 0` batches are prepared on the calling thread, as PyTorch's `num_workers=0`.
//!
//! # Unreadable samples
//! A sample whose file cannot be read or decoded is left out of its batch (which is then
//! shorter), counted, and named once (the first time it fails) through the loader's skip log
//! and, unless `log_skips` is off, on stderr. When the unreadable samples exceed
//! `max_unreadable_fraction` of the dataset (1 % by default), the epoch yields
//! [`DataError::TooManyUnreadable`] and ends.

use std::collections::BTreeMap;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use gradflow_tensor::Tensor;

use crate::{Compose, DataError, SampleRng, VisionDataset};

/// The most worker threads a loader starts. Each holds its own queue of prepared batches and
/// a thread stack; far above the core count they only add memory, and tens of thousands
/// exhaust the process (PyTorch warns above the CPU count; here it is an error).
pub const MAX_WORKERS: usize = 256;

/// The most batches one worker may hold ready (`prefetch`): the queue's slots are
/// allocated when the epoch starts.
pub const MAX_PREFETCH: usize = 1024;

/// The loader's settings (PyTorch `DataLoader` arguments in parentheses).
#[derive(Clone, Debug, PartialEq)]
pub struct LoaderConfig {
    /// Samples per batch (`batch_size`), at least 1.
    pub batch_size: usize,
    /// Reshuffle every epoch (`shuffle`).
    pub shuffle: bool,
    /// Drop the last partial batch (`drop_last`).
    pub drop_last: bool,
    /// The run's seed: shuffling and augmentation derive from it.
    pub seed: u64,
    /// Worker threads preparing batches ahead (`num_workers`); 0 prepares on the caller's
    /// thread.
    pub workers: usize,
    /// Batches each worker may hold ready (`prefetch_factor`), at least 1.
    pub prefetch: usize,
    /// The fraction of unreadable samples tolerated before the loader stops (0.01).
    pub max_unreadable_fraction: f64,
    /// Print each unreadable sample once on stderr.
    pub log_skips: bool,
}

impl Default for LoaderConfig {
    fn default() -> LoaderConfig {
        LoaderConfig {
            batch_size: 32,
            shuffle: true,
            drop_last: false,
            seed: 0,
            workers: 2,
            prefetch: 2,
            max_unreadable_fraction: 0.01,
            log_skips: true,
        }
    }
}

/// One batch: `n` normalized images as `[n, c, h, w]` floats, their classes and their dataset
/// indices.
#[derive(Clone, Debug, PartialEq)]
pub struct Batch {
    /// `n · c · h · w` values, row-major.
    pub images: Vec<f32>,
    /// `[n, c, h, w]`.
    pub shape: [usize; 4],
    /// The class of each image.
    pub labels: Vec<usize>,
    /// The dataset index of each image.
    pub indices: Vec<usize>,
}

impl Batch {
    /// Images in the batch.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// True for a batch without images.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The images as a `[n, c, h, w]` tensor.
    pub fn to_tensor(&self) -> Tensor {
        Tensor::from_vec(self.images.clone(), &self.shape)
    }
}

/// What an epoch (or part of one) delivered, and how fast.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct LoaderStats {
    /// Images delivered.
    pub images: usize,
    /// Batches delivered.
    pub batches: usize,
    /// Samples skipped as unreadable in this epoch.
    pub skipped: usize,
    /// Wall time from the epoch's start to its last batch.
    pub elapsed: Duration,
}

impl LoaderStats {
    /// Loader throughput in images per second (0 before any time has passed).
    pub fn images_per_second(&self) -> f64 {
        let s = self.elapsed.as_secs_f64();
        if s > 0.0 { self.images as f64 / s } else { 0.0 }
    }
}

/// A batch as prepared by a worker: the batch (if any sample survived) and the samples that
/// could not be read, with their messages.
struct Prepared {
    batch: Result<Option<Batch>, DataError>,
    skipped: Vec<(usize, String)>,
}

/// The shared, immutable part of a loader that worker threads need.
struct Shared<D> {
    dataset: D,
    transform: Compose,
    cfg: LoaderConfig,
}

impl<D: VisionDataset> Shared<D> {
    fn prepare(&self, epoch: u64, indices: &[usize]) -> Prepared {
        let mut data = Vec::new();
        let mut labels = Vec::with_capacity(indices.len());
        let mut kept = Vec::with_capacity(indices.len());
        let mut skipped = Vec::new();
        let mut chw: Option<[usize; 3]> = None;
        for &i in indices {
            let mut rng = SampleRng::for_sample(self.cfg.seed, epoch, i as u64);
            let sample = self
                .dataset
                .load(i)
                .and_then(|(img, class)| Ok((self.transform.apply(img, &mut rng)?, class)));
            let (t, class) = match sample {
                Ok(s) => s,
                Err(e @ (DataError::Config(_) | DataError::Transform { .. })) => {
                    // A pipeline that cannot handle this image is not a damaged file: stop.
                    return Prepared {
                        batch: Err(DataError::Transform {
                            what: self.dataset.describe(i),
                            why: e.to_string(),
                        }),
                        skipped,
                    };
                }
                Err(e) => {
                    skipped.push((i, format!("{}: {e}", self.dataset.describe(i))));
                    continue;
                }
            };
            let dims = [t.channels, t.height, t.width];
            match chw {
                None => chw = Some(dims),
                Some(d) if d != dims => {
                    return Prepared {
                        batch: Err(DataError::Transform {
                            what: self.dataset.describe(i),
                            why: format!(
                                "image is {dims:?} (c, h, w) after the transforms, the batch's \
                                 first is {d:?}: add a Resize/CenterCrop or RandomResizedCrop \
                                 so that every sample has one size"
                            ),
                        }),
                        skipped,
                    };
                }
                Some(_) => {}
            }
            data.extend_from_slice(&t.data);
            labels.push(class);
            kept.push(i);
        }
        let batch = chw.map(|[c, h, w]| Batch {
            images: data,
            shape: [kept.len(), c, h, w],
            labels,
            indices: kept,
        });
        Prepared {
            batch: Ok(batch),
            skipped,
        }
    }
}

/// Shuffled, augmented batches of a [`VisionDataset`]; see the module docs.
pub struct DataLoader<D> {
    shared: Arc<Shared<D>>,
    /// Unreadable samples seen so far (index → message), across epochs.
    skip_log: Arc<Mutex<BTreeMap<usize, String>>>,
}

impl<D: VisionDataset + 'static> DataLoader<D> {
    /// A loader over `dataset`, transforming every sample with `transform`.
    ///
    /// # Errors
    /// [`DataError::Config`] for a batch size or prefetch of 0, more than [`MAX_WORKERS`]
    /// workers or [`MAX_PREFETCH`] prefetched batches, an empty dataset, or a tolerated
    /// fraction outside [0, 1].
    pub fn new(
        dataset: D,
        transform: Compose,
        cfg: LoaderConfig,
    ) -> Result<DataLoader<D>, DataError> {
        if cfg.batch_size == 0 {
            return Err(DataError::Config("batch size must be at least 1".into()));
        }
        if cfg.prefetch == 0 {
            return Err(DataError::Config("prefetch must be at least 1".into()));
        }
        if cfg.workers > MAX_WORKERS {
            return Err(DataError::Config(format!(
                "{} loader workers is more than the {MAX_WORKERS} allowed",
                cfg.workers
            )));
        }
        if cfg.prefetch > MAX_PREFETCH {
            return Err(DataError::Config(format!(
                "prefetch {} is more than the {MAX_PREFETCH} batches allowed",
                cfg.prefetch
            )));
        }
        if dataset.is_empty() {
            return Err(DataError::Config("the dataset has no samples".into()));
        }
        if !(0.0..=1.0).contains(&cfg.max_unreadable_fraction) {
            return Err(DataError::Config(format!(
                "max_unreadable_fraction {} is not in [0, 1]",
                cfg.max_unreadable_fraction
            )));
        }
        Ok(DataLoader {
            shared: Arc::new(Shared {
                dataset,
                transform,
                cfg,
            }),
            skip_log: Arc::new(Mutex::new(BTreeMap::new())),
        })
    }

    /// The dataset.
    pub fn dataset(&self) -> &D {
        &self.shared.dataset
    }

    /// The settings.
    pub fn config(&self) -> &LoaderConfig {
        &self.shared.cfg
    }

    /// Batches per epoch (before any sample is skipped).
    pub fn batches_per_epoch(&self) -> usize {
        let (n, b) = (self.shared.dataset.len(), self.shared.cfg.batch_size);
        if self.shared.cfg.drop_last {
            n / b
        } else {
            n.div_ceil(b)
        }
    }

    /// The order in which epoch `epoch` visits the dataset.
    pub fn order(&self, epoch: u64) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.shared.dataset.len()).collect();
        if self.shared.cfg.shuffle {
            SampleRng::for_shuffle(self.shared.cfg.seed, epoch).shuffle(&mut order);
        }
        order
    }

    /// Unreadable samples found so far, as (index, message), each once.
    pub fn unreadable(&self) -> Vec<(usize, String)> {
        self.skip_log
            .lock()
            .map(|log| log.iter().map(|(i, m)| (*i, m.clone())).collect())
            .unwrap_or_default()
    }

    /// The batches of epoch `epoch`, in order (workers start at once).
    pub fn epoch(&self, epoch: u64) -> Epoch<D> {
        let order = self.order(epoch);
        let b = self.shared.cfg.batch_size;
        let mut batches: Vec<Vec<usize>> = order.chunks(b).map(<[usize]>::to_vec).collect();
        if self.shared.cfg.drop_last && batches.last().is_some_and(|l| l.len() < b) {
            batches.pop();
        }
        let batches = Arc::new(batches);
        let workers = self.shared.cfg.workers;
        let mut queues = Vec::with_capacity(workers);
        let mut handles = Vec::with_capacity(workers);
        for w in 0..workers {
            let (tx, rx): (SyncSender<Prepared>, Receiver<Prepared>) =
                sync_channel(self.shared.cfg.prefetch);
            let shared = Arc::clone(&self.shared);
            let batches = Arc::clone(&batches);
            let handle = std::thread::Builder::new()
                .name(format!("gradflow-loader-{w}"))
                .spawn(move || {
                    let mut b = w;
                    while b < batches.len() {
                        // A send error means the epoch was dropped: stop quietly.
                        if tx.send(shared.prepare(epoch, &batches[b])).is_err() {
                            return;
                        }
                        b += workers;
                    }
                });
            match handle {
                Ok(h) => {
                    queues.push(rx);
                    handles.push(h);
                }
                // No thread could be started: the remaining batches are prepared inline.
                Err(_) => break,
            }
        }
        Epoch {
            shared: Arc::clone(&self.shared),
            skip_log: Arc::clone(&self.skip_log),
            epoch,
            batches,
            next: 0,
            queues,
            handles,
            start: Instant::now(),
            stats: LoaderStats::default(),
            done: false,
        }
    }

    /// Runs up to `max_batches` batches of epoch `epoch` and discards them: the loader's
    /// throughput alone, to compare with the training step's.
    ///
    /// # Errors
    /// The epoch's first error.
    pub fn measure_throughput(
        &self,
        epoch: u64,
        max_batches: usize,
    ) -> Result<LoaderStats, DataError> {
        let mut it = self.epoch(epoch);
        for batch in it.by_ref().take(max_batches) {
            batch?;
        }
        Ok(it.stats())
    }
}

/// The batches of one epoch; an iterator of `Result<Batch, DataError>` that ends after the
/// last batch or after the first error.
pub struct Epoch<D> {
    shared: Arc<Shared<D>>,
    skip_log: Arc<Mutex<BTreeMap<usize, String>>>,
    epoch: u64,
    batches: Arc<Vec<Vec<usize>>>,
    next: usize,
    queues: Vec<Receiver<Prepared>>,
    handles: Vec<JoinHandle<()>>,
    start: Instant,
    stats: LoaderStats,
    done: bool,
}

impl<D: VisionDataset> Epoch<D> {
    /// What this epoch has delivered so far, and the throughput.
    pub fn stats(&self) -> LoaderStats {
        self.stats
    }

    /// The epoch's number.
    pub fn number(&self) -> u64 {
        self.epoch
    }

    fn receive(&mut self, b: usize) -> Prepared {
        if !self.queues.is_empty() {
            let q = b % self.queues.len();
            if let Ok(p) = self.queues[q].recv() {
                return p;
            }
        }
        // No worker (or a worker died): prepare here. Same function, same result.
        self.shared.prepare(self.epoch, &self.batches[b])
    }

    /// Records newly unreadable samples; errors once past the tolerated fraction.
    fn note_skips(&mut self, skipped: Vec<(usize, String)>) -> Result<(), DataError> {
        if skipped.is_empty() {
            return Ok(());
        }
        self.stats.skipped += skipped.len();
        let mut log = self
            .skip_log
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for (i, msg) in skipped {
            if let std::collections::btree_map::Entry::Vacant(slot) = log.entry(i) {
                if self.shared.cfg.log_skips {
                    eprintln!("warning: skipping unreadable sample {msg}");
                }
                slot.insert(msg);
            }
        }
        let total = self.shared.dataset.len();
        let limit = self.shared.cfg.max_unreadable_fraction;
        if log.len() as f64 > limit * total as f64 {
            return Err(DataError::TooManyUnreadable {
                bad: log.len(),
                total,
                limit_percent: limit * 100.0,
                first: log.values().next().cloned().unwrap_or_default(),
            });
        }
        Ok(())
    }
}

impl<D: VisionDataset> Iterator for Epoch<D> {
    type Item = Result<Batch, DataError>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.done && self.next < self.batches.len() {
            let b = self.next;
            self.next += 1;
            let prepared = self.receive(b);
            if let Err(e) = self.note_skips(prepared.skipped) {
                self.done = true;
                return Some(Err(e));
            }
            match prepared.batch {
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
                // Every sample of this batch was unreadable: go on to the next.
                Ok(None) => {}
                Ok(Some(batch)) => {
                    self.stats.images += batch.len();
                    self.stats.batches += 1;
                    self.stats.elapsed = self.start.elapsed();
                    return Some(Ok(batch));
                }
            }
        }
        None
    }
}

impl<D> Drop for Epoch<D> {
    fn drop(&mut self) {
        // Closing the queues makes every blocked worker's send fail, so each thread ends.
        self.queues.clear();
        for h in self.handles.drain(..) {
            let _ = h.join();
        }
    }
}
