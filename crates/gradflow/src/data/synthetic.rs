//! The embedded default task: labels drawn by a fixed random "teacher" network.
//!
//! How it is made (all from one seed, so every run sees the same data):
//! 1. inputs x ∈ ℝ^d with i.i.d. N(0, 1) entries;
//! 2. a teacher with one hidden layer, h = tanh(W₁x / √d · 2), W₁ ∈ ℝ^{m×d} with N(0, 1)
//!    entries, then logits W₂h with W₂ ∈ ℝ^{C×m}, N(0, 1);
//! 3. the label is the arg-max class.
//!
//! The labels are a smooth, genuinely nonlinear function of x that a network with one or two
//! hidden layers learns well in a few hundred steps. A deep sigmoid network with small
//! initial weights cannot: the backward signal reaching its first layers is multiplied by
//! σ′ ≤ 1/4 at every layer and vanishes, so those layers barely move and the net stays near
//! chance. That contrast is what the lab measures.

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand_distr::{Distribution, StandardNormal};

use super::Dataset;

/// Size of the generated task.
#[derive(Clone, Copy, Debug)]
pub struct TeacherTask {
    /// Input features.
    pub dim: usize,
    /// Teacher hidden units.
    pub hidden: usize,
    /// Classes.
    pub classes: usize,
    /// Training rows.
    pub train: usize,
    /// Held-out rows.
    pub test: usize,
    /// Seed for inputs and teacher.
    pub seed: u64,
}

impl Default for TeacherTask {
    fn default() -> Self {
        TeacherTask {
            dim: 32,
            hidden: 64,
            classes: 10,
            train: 8192,
            test: 2048,
            seed: 2024,
        }
    }
}

/// Generate (train, test) for `task`; see the module docs for the construction.
pub fn teacher_task(task: TeacherTask) -> (Dataset, Dataset) {
    let mut rng = StdRng::seed_from_u64(task.seed);
    let mut normal = |n: usize| -> Vec<f32> {
        (0..n)
            .map(|_| StandardNormal.sample(&mut rng))
            .collect::<Vec<f32>>()
    };
    let w1 = normal(task.hidden * task.dim);
    let w2 = normal(task.classes * task.hidden);
    let n = task.train + task.test;
    let features = normal(n * task.dim);
    let scale = 2.0 / (task.dim as f32).sqrt();
    let labels: Vec<usize> = features
        .chunks(task.dim)
        .map(|x| {
            let h: Vec<f32> = w1
                .chunks(task.dim)
                .map(|row| (row.iter().zip(x).map(|(a, b)| a * b).sum::<f32>() * scale).tanh())
                .collect();
            let logits = w2
                .chunks(task.hidden)
                .map(|row| row.iter().zip(&h).map(|(a, b)| a * b).sum::<f32>());
            logits
                .enumerate()
                .fold((0, f32::NEG_INFINITY), |(bi, bv), (i, v)| {
                    if v > bv { (i, v) } else { (bi, bv) }
                })
                .0
        })
        .collect();
    let name = format!(
        "teacher task (embedded: d={}, {} classes, seed {})",
        task.dim, task.classes, task.seed
    );
    let split = |lo: usize, hi: usize| Dataset {
        name: name.clone(),
        features: features[lo * task.dim..hi * task.dim].to_vec(),
        labels: labels[lo..hi].to_vec(),
        dim: task.dim,
        classes: task.classes,
    };
    (split(0, task.train), split(task.train, n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_uses_every_class() {
        let t = TeacherTask {
            train: 2000,
            test: 10,
            ..TeacherTask::default()
        };
        let (a, _) = teacher_task(t);
        let (b, _) = teacher_task(t);
        assert_eq!(a.labels, b.labels);
        let mut counts = vec![0; t.classes];
        for &l in &a.labels {
            counts[l] += 1;
        }
        // No class may dominate: the task must not be solvable by predicting one label.
        let top = *counts.iter().max().unwrap_or(&0);
        assert!(top < 2000 / 3, "class counts {counts:?}");
    }
}
