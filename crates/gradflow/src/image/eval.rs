//! Evaluation: loss, top-1 and top-5 accuracy and the confusion matrix of a network on a
//! dataset, and the figure of that matrix.
//!
//! top-k = (1/N) Σᵢ [yᵢ ∈ the k classes of largest logit for image i], with k = min(5, C);
//! ties are broken towards the lower class index. The loss is the mean cross-entropy
//! −(1/N) Σᵢ log softmax(zᵢ)_{yᵢ}.

use std::path::Path;

use gradflow_data::{Compose, DataLoader, LoaderConfig, VisionDataset};
use gradflow_tensor::{Module, Reduction, no_grad};

use super::ImageError;
use super::data::Images;
use crate::run::figures::{Body, Figure, HeatPanel, PlotError, emit};

/// What an evaluation pass measured.
#[derive(Clone, Debug, PartialEq)]
pub struct EvalResult {
    /// Images evaluated.
    pub images: usize,
    /// Mean cross-entropy.
    pub loss: f64,
    /// Top-1 accuracy in [0, 1].
    pub top1: f64,
    /// Top-5 accuracy in [0, 1] (top-C when there are fewer than 5 classes).
    pub top5: f64,
    /// `confusion[t][p]`: images of true class t predicted as p.
    pub confusion: Vec<Vec<usize>>,
}

/// The classes of the `k` largest values of `row`, largest first (ties: lower index first).
pub fn top_k(row: &[f32], k: usize) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..row.len()).collect();
    idx.sort_by(|&a, &b| row[b].total_cmp(&row[a]).then(a.cmp(&b)));
    idx.truncate(k);
    idx
}

/// A loader that visits `data` once in order, prepared by `transform`, `batch` images at a
/// time on `workers` threads.
///
/// # Errors
/// [`ImageError::Data`] for an empty dataset.
pub fn eval_loader(
    data: Images,
    transform: Compose,
    batch: usize,
    workers: usize,
) -> Result<DataLoader<Images>, ImageError> {
    let cfg = LoaderConfig {
        batch_size: batch.max(1),
        shuffle: false,
        drop_last: false,
        workers,
        ..LoaderConfig::default()
    };
    Ok(DataLoader::new(data, transform, cfg)?)
}

/// Evaluates `model` (put in evaluation mode by the caller) on every batch of `loader`.
///
/// # Errors
/// [`ImageError::Data`] when the loader fails (too many unreadable images).
pub fn evaluate_loader(
    model: &dyn Module,
    loader: &DataLoader<Images>,
) -> Result<EvalResult, ImageError> {
    let classes = loader.dataset().classes().len();
    let k = classes.min(5);
    let mut r = EvalResult {
        images: 0,
        loss: 0.0,
        top1: 0.0,
        top5: 0.0,
        confusion: vec![vec![0; classes]; classes],
    };
    let (mut loss_sum, mut hit1, mut hit5) = (0.0f64, 0usize, 0usize);
    for b in loader.epoch(0) {
        let b = b?;
        let (z, loss) = no_grad(|| {
            let logits = model.forward(&b.to_tensor());
            let loss = logits.cross_entropy(&b.labels, Reduction::Sum, 0.0).item();
            (logits.to_vec(), loss)
        });
        loss_sum += f64::from(loss);
        for (i, &y) in b.labels.iter().enumerate() {
            let top = top_k(&z[i * classes..(i + 1) * classes], k);
            hit1 += usize::from(top[0] == y);
            hit5 += usize::from(top.contains(&y));
            r.confusion[y][top[0]] += 1;
        }
        r.images += b.len();
    }
    let n = r.images.max(1) as f64;
    r.loss = loss_sum / n;
    r.top1 = hit1 as f64 / n;
    r.top5 = hit5 as f64 / n;
    Ok(r)
}

/// Draws the confusion matrix, row-normalized (each true class's predictions sum to 100 %),
/// as `<stem>.svg` / `<stem>.png` in `dir`: column t is the true class, row p the predicted
/// one (the heat map's rows are numbered from 1, so class c is row c + 1; the lab's heat map
/// labels its axes "step" and "layer"). The class names are left to the caller's text
/// ([`class_legend`]): ten names do not fit in a title.
///
/// # Errors
/// [`PlotError`] naming the file.
pub fn confusion_figure(
    r: &EvalResult,
    classes: &[String],
    title: &str,
    dir: &Path,
    stem: &str,
) -> Result<String, PlotError> {
    let cells = r
        .confusion
        .iter()
        .map(|row| {
            let total: usize = row.iter().sum();
            row.iter()
                .map(|&c| {
                    if total == 0 {
                        f32::NAN
                    } else {
                        c as f32 / total as f32
                    }
                })
                .collect()
        })
        .collect();
    let fig = Figure {
        title: format!("{title}: x = true class, y = predicted class + 1"),
        size: (1100, 700),
        body: Body::Heat {
            value_desc: "share of the true class".into(),
            panels: vec![HeatPanel {
                name: format!(
                    "top-1 {:.2} %, top-5 {:.2} %",
                    100.0 * r.top1,
                    100.0 * r.top5
                ),
                steps: (0..classes.len()).collect(),
                layers: classes.len(),
                cells,
            }],
        },
    };
    emit(&fig, dir, stem)
}

/// `0 = T-shirt/top, 1 = Trouser, …`: the class index of each name, for the text beside a
/// confusion figure.
pub fn class_legend(classes: &[String]) -> String {
    classes
        .iter()
        .enumerate()
        .map(|(i, c)| format!("{i} = {c}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_k_orders_by_value_and_breaks_ties_by_index() {
        assert_eq!(top_k(&[0.1, 0.5, 0.5, -1.0, 2.0], 3), vec![4, 1, 2]);
        assert_eq!(top_k(&[1.0, 0.0], 5), vec![0, 1]);
    }
}
