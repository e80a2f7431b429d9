//! The `gradflow` command-line tool. With no arguments it runs the vanishing-gradient lab.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use gradflow::data::{self, DEBIAN_FASHION_MNIST, Dataset};
use gradflow::run::{ReportDir, ReportDirError, memory, progress};
use gradflow::tensor::on_pool;
use gradflow::vanishing::report::LabReport;
use gradflow::vanishing::{self, LabOptions};

/// The binary's allocator (feature `mimalloc`, on by default): a training step frees and
/// reallocates the same large buffers every step; glibc's malloc returns them to the kernel
/// and faults them in again, mimalloc set up by `allocator` keeps them. See
/// `docs/benchmarks.md`, "The allocator".
#[cfg(feature = "mimalloc")]
#[allow(unsafe_code)] // two calls into mimalloc's option table; see the module.
mod allocator;

/// Vanishing gradients and their cures, measured.
///
/// With no subcommand, runs `vanishing` (and accepts its flags: `gradflow --steps 50`).
#[derive(Parser, Debug)]
#[command(version, about, long_about = None, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    vanishing: VanishingArgs,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Train deep MLPs from the problem (sigmoid, small weights) through each cure, and
    /// report per-layer gradient norms, saturation, dead units and accuracy.
    ///
    /// In a deep net, ∂L/∂W_l carries a product of σ′(z_k)·W_k over the layers above it;
    /// with sigmoid, σ′ ≤ 1/4, so the backward signal shrinks geometrically and the first
    /// layers stop learning. Each rung of the ladder applies one cure (Xavier/He init, tanh,
    /// ReLU and its variants, BatchNorm, residual connections, GroupNorm for very deep nets,
    /// momentum and Adam, gradient clipping against the opposite problem) and measures it.
    /// Every configuration is trained at a small learning-rate sweep; the table reports the
    /// best stable rate and those that diverged.
    Vanishing(VanishingArgs),
    /// Does the gradient reach the first block? ResNet-34/152 against their plain twins.
    ///
    /// Measures ‖∂L/∂W‖ of every block at initialization and after a few SGD steps, on one
    /// batch of 224×224 images (the embedded Fashion-MNIST images, enlarged), once without
    /// normalization (the seed's block: the skip connection alone) and once with torchvision's
    /// BatchNorm. A residual block's Jacobian is I + ∂F/∂h, so the identity carries the signal
    /// past every block; a plain block has only ∂F/∂h.
    ResnetGradients(ResnetArgs),
    /// Vanishing and exploding gradients in time: ‖∂L/∂h_t‖ of tanh RNN, LSTM and GRU at
    /// T = 200, the adding problem with and without clipping, an exploding recurrent init.
    Sequence(SequenceArgs),
    /// Train a character-level language model (Embedding → LSTM/GRU → Linear) with truncated
    /// BPTT; bits per character on the held-out end of the text every epoch; resumable.
    TrainLm(gradflow::lm::TrainLmArgs),
    /// Continue a prompt with a train-lm model (seeded, temperature, top-k).
    Sample(gradflow::lm::SampleArgs),
    /// Train a ResNet on images (ImageNet-layout folder, Fashion-MNIST, or the embedded
    /// subset by default), with eval each epoch, metrics, curves and resumable checkpoints.
    TrainImage(gradflow::image::TrainArgs),
    /// Evaluate a train-image checkpoint: top-1, top-5 and a confusion-matrix figure.
    EvalImage(gradflow::image::EvalArgs),
    /// The top-5 classes, with probabilities, of each image for a train-image checkpoint.
    Predict(gradflow::image::PredictArgs),
    /// Several train-image runs' training/validation error curves in one figure.
    CompareRuns(gradflow::image::CompareArgs),
}

#[derive(Args, Debug)]
struct SequenceArgs {
    /// Experiments, comma-separated: gradients, adding, exploding, copy (not in the default).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "gradients,adding,exploding"
    )]
    only: Vec<String>,
    /// Sequence length T.
    #[arg(long, default_value_t = 200, allow_negative_numbers = true)]
    seq_len: usize,
    /// Hidden units H.
    #[arg(long, default_value_t = 64, allow_negative_numbers = true)]
    hidden: usize,
    /// Most Adam steps per adding-problem run (it stops once its held-out MSE < 0.01).
    #[arg(long, default_value_t = 100, allow_negative_numbers = true)]
    steps: usize,
    /// Adam learning rate.
    #[arg(long, default_value_t = 3e-3, allow_hyphen_values = true)]
    lr: f64,
    /// Held-out MSE every this many steps.
    #[arg(long, default_value_t = 25, allow_negative_numbers = true)]
    eval_every: usize,
    /// Delay T of the copy task.
    #[arg(long, default_value_t = 100, allow_negative_numbers = true)]
    copy_delay: usize,
    /// Most Adam steps per copy-task run.
    #[arg(long, default_value_t = 300, allow_negative_numbers = true)]
    copy_steps: usize,
    /// Seed for weights and data.
    #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
    seed: u64,
    /// Folder for the report files.
    #[arg(long, default_value = "sequence-report")]
    out: PathBuf,
}

#[derive(Args, Debug)]
struct ResnetArgs {
    /// Images in the batch.
    #[arg(long, default_value_t = 2, allow_negative_numbers = true)]
    batch: usize,
    /// Image side in pixels (a multiple of 14: the embedded images are 14×14).
    #[arg(long, default_value_t = 224, allow_negative_numbers = true)]
    size: usize,
    /// SGD steps between the two measurements.
    #[arg(long, default_value_t = 3, allow_negative_numbers = true)]
    steps: usize,
    /// SGD learning rate (momentum 0.9).
    #[arg(long, default_value_t = 0.01, allow_hyphen_values = true)]
    lr: f64,
    /// Seed for the weights.
    #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
    seed: u64,
    /// Depths to compare, each against its plain twin (18, 34, 50, 101, 152).
    #[arg(long, value_delimiter = ',', default_values_t = [34, 152])]
    depths: Vec<usize>,
    /// Normalization: none (the skip connection alone), batch (torchvision's), or both.
    #[arg(long, default_value = "both", value_parser = ["none", "batch", "both"])]
    norm: String,
    /// Start every residual branch at zero (torchvision's zero_init_residual), so each
    /// block starts as the identity.
    #[arg(long)]
    zero_init_residual: bool,
    /// Folder for the report files.
    #[arg(long, default_value = "resnet-report")]
    out: PathBuf,
}

#[derive(Args, Debug)]
struct VanishingArgs {
    /// Linear layers per network (at least 2).
    #[arg(long, default_value_t = 20, allow_negative_numbers = true)]
    depth: usize,
    /// Hidden units per layer.
    #[arg(long, default_value_t = 256, allow_negative_numbers = true)]
    width: usize,
    /// Layers of the very deep residual + GroupNorm network.
    #[arg(long, default_value_t = 100, allow_negative_numbers = true)]
    deep_depth: usize,
    /// Training steps per run.
    #[arg(long, default_value_t = 120, allow_negative_numbers = true)]
    steps: usize,
    /// Batch size.
    #[arg(long, default_value_t = 64, allow_negative_numbers = true)]
    batch: usize,
    /// Use this learning rate for every configuration instead of the sweep.
    #[arg(long, allow_hyphen_values = true)]
    lr: Option<f64>,
    /// Seed for weights and batch order.
    #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
    seed: u64,
    /// Folder of MNIST-layout IDX files (plain or .gz). Default: Fashion-MNIST from
    /// /usr/share/datasets/fashion-mnist when installed (scripts/fetch-data.sh), otherwise
    /// the embedded 14×14 Fashion-MNIST subset.
    #[arg(long)]
    data: Option<PathBuf>,
    /// Use the embedded 14×14 Fashion-MNIST subset even when the full set is installed.
    #[arg(long, conflicts_with = "data")]
    embedded: bool,
    /// Only run these configurations (comma-separated names; see the report for the list).
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Folder for the report files.
    #[arg(long, default_value = "gradflow-report")]
    out: PathBuf,
}

/// A user-facing failure: one line, non-zero exit.
#[derive(Debug, thiserror::Error)]
enum CliError {
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Lm(#[from] gradflow::lm::LmError),
    #[error(transparent)]
    Data(#[from] data::DataError),
    #[error(transparent)]
    Report(#[from] vanishing::report::ReportError),
    #[error(transparent)]
    Plot(#[from] gradflow::run::figures::PlotError),
    #[error(transparent)]
    Out(#[from] ReportDirError),
    #[error(transparent)]
    Memory(#[from] memory::MemoryError),
    #[error(transparent)]
    ResnetReport(#[from] gradflow::resnet_gradients::ReportError),
    #[error(transparent)]
    Sequence(#[from] gradflow::sequence::SequenceError),
    #[error(transparent)]
    Image(#[from] gradflow::image::ImageError),
}

fn validate(a: &VanishingArgs) -> Result<(), CliError> {
    let bad = |m: String| Err(CliError::Usage(m));
    if a.depth < 2 {
        return bad(format!(
            "--depth {} is too small: a deep MLP needs at least 2 linear layers",
            a.depth
        ));
    }
    if a.deep_depth < 2 {
        return bad(format!(
            "--deep-depth {} is too small: it needs at least 2 linear layers",
            a.deep_depth
        ));
    }
    for (flag, v) in [
        ("--width", a.width),
        ("--steps", a.steps),
        ("--batch", a.batch),
    ] {
        if v == 0 {
            return bad(format!("{flag} must be at least 1"));
        }
    }
    if let Some(lr) = a.lr
        && !(lr.is_finite() && lr > 0.0)
    {
        return bad(format!("--lr {lr} must be a positive, finite number"));
    }
    Ok(())
}

fn load_data(a: &VanishingArgs) -> Result<(Dataset, Dataset, String), CliError> {
    let debian = PathBuf::from(DEBIAN_FASHION_MNIST);
    let folder = match (&a.data, a.embedded) {
        (Some(d), _) => Some(d.clone()),
        (None, false) if debian.is_dir() => Some(debian),
        _ => None,
    };
    let (mut train, mut test, what) = match folder {
        Some(dir) => {
            let (train, test) = data::load_idx_folder(&dir)?;
            let what = format!(
                "{} ({} train / {} test images)",
                train.name,
                train.len(),
                test.len()
            );
            (train, test, what)
        }
        None => {
            let (train, test) = data::embedded_fashion_mnist();
            let what = format!(
                "{} ({} train / {} test images; run scripts/fetch-data.sh for all 70,000 at 28×28)",
                train.name,
                train.len(),
                test.len()
            );
            (train, test, what)
        }
    };
    // Standardize with the training set's statistics, as every reference pipeline does.
    let (mean, std) = train.mean_std();
    train.standardize(mean, std);
    test.standardize(mean, std);
    Ok((
        train,
        test,
        format!("{what}, standardized (mean {mean:.3}, std {std:.3})"),
    ))
}

fn vanishing(a: VanishingArgs) -> Result<(), CliError> {
    validate(&a)?;
    let (train, test, what) = load_data(&a)?;
    println!("data: {what}");
    let opts = LabOptions {
        depth: a.depth,
        deep_depth: a.deep_depth,
        width: a.width,
        steps: a.steps,
        batch: a.batch,
        lr: a.lr,
        seed: a.seed,
        ..LabOptions::default()
    };
    let mut configs = vanishing::ladder(&opts, train.dim, train.classes);
    if !a.only.is_empty() {
        let known: Vec<String> = configs.iter().map(|c| c.name.clone()).collect();
        if let Some(bad) = a.only.iter().find(|n| !known.contains(n)) {
            return Err(CliError::Usage(format!(
                "--only: unknown configuration `{bad}`; known: {}",
                known.join(", ")
            )));
        }
        configs.retain(|c| a.only.contains(&c.name));
    }
    let available = memory::available();
    for c in &configs {
        if let Some(why) = c.batch_problem(opts.batch) {
            return Err(CliError::Usage(why));
        }
        memory::check(
            &format!("`{}` at --batch {}", c.name, opts.batch),
            c.memory_estimate(&opts),
            available,
            "--batch, --width, --depth, --deep-depth or --steps",
        )?;
    }
    let sweeps: Vec<Vec<f64>> = configs
        .iter()
        .map(|c| {
            opts.lr
                .map_or_else(|| c.optimizer.default_lrs(), |lr| vec![lr])
        })
        .collect();
    let total: u64 = configs
        .iter()
        .zip(&sweeps)
        .map(|(c, s)| (s.len() * (opts.steps + 1) * c.spec.depth) as u64)
        .sum();
    // Checked before the first step: a bad --out must not cost a whole run.
    let out = ReportDir::prepare(&a.out)?;
    let bar = progress::bar(total);
    let mut report = LabReport {
        data: what,
        classes: train.classes,
        heldout_rows: opts.eval_rows.min(test.len()),
        options: opts.clone(),
        configs: Vec::new(),
    };
    for (cfg, lrs) in configs.into_iter().zip(sweeps) {
        let mut runs = Vec::new();
        for lr in lrs {
            bar.set_message(format!("{} lr={lr}", cfg.name));
            let run = vanishing::run(&cfg, lr, &opts, &train, &test, || {
                bar.inc(cfg.spec.depth as u64)
            });
            runs.push(run);
        }
        report.configs.push((cfg, runs));
    }
    bar.finish_and_clear();
    print!("{}", report.table());
    let figures = vanishing::figures::write_figures(&report, out.path())?;
    report.write(&out, &figures)?;
    let dir = out.commit("gradflow vanishing")?;
    println!("report: {}", dir.join("report.md").display());
    Ok(())
}

fn resnet_gradients(a: ResnetArgs) -> Result<(), CliError> {
    use gradflow::resnet_gradients::{self as rg, NormChoice, Options};
    if a.batch == 0 || a.steps == 0 {
        return Err(CliError::Usage(
            "--batch and --steps must be at least 1".into(),
        ));
    }
    if a.size == 0 || !a.size.is_multiple_of(14) {
        return Err(CliError::Usage(format!(
            "--size {} must be a positive multiple of 14 (the embedded images are 14×14)",
            a.size
        )));
    }
    if !(a.lr.is_finite() && a.lr > 0.0) {
        return Err(CliError::Usage(format!(
            "--lr {} must be a positive, finite number",
            a.lr
        )));
    }
    let norms = match a.norm.as_str() {
        "none" => vec![NormChoice::None],
        "batch" => vec![NormChoice::Batch],
        _ => vec![NormChoice::None, NormChoice::Batch],
    };
    if a.batch < 2 && norms.contains(&NormChoice::Batch) {
        return Err(CliError::Usage(format!(
            "--batch {}: BatchNorm needs at least 2 images per batch; use --batch 2 or --norm none",
            a.batch
        )));
    }
    let (mut train, _) = data::embedded_fashion_mnist();
    if a.batch > train.len() {
        return Err(CliError::Usage(format!(
            "--batch {} exceeds the {} embedded images",
            a.batch,
            train.len()
        )));
    }
    let (mean, std) = train.mean_std();
    train.standardize(mean, std);
    let opts = Options {
        batch: a.batch,
        size: a.size,
        steps: a.steps,
        lr: a.lr,
        seed: a.seed,
        depths: a.depths.clone(),
        norms,
        zero_init_residual: a.zero_init_residual,
    };
    let available = memory::available();
    for &d in &opts.depths {
        rg::config(d, true, NormChoice::Batch, train.classes).map_err(CliError::Usage)?;
        memory::check(
            &format!("resnet{d} at --batch {} --size {}", a.batch, a.size),
            rg::memory_estimate(d, a.batch, a.size),
            available,
            "--batch, --size or --depths",
        )?;
    }
    let out = ReportDir::prepare(&a.out)?;
    let (x, y) = rg::image_batch(&train, a.batch, a.size);
    println!(
        "data: {} embedded Fashion-MNIST images enlarged to {}×{}, 3 channels; {} SGD steps at lr {}{}",
        a.batch,
        a.size,
        a.size,
        a.steps,
        a.lr,
        if a.zero_init_residual {
            "; residual branches zero-initialized"
        } else {
            ""
        }
    );
    let runs: Vec<(usize, bool, NormChoice)> = opts
        .norms
        .iter()
        .flat_map(|&n| {
            opts.depths
                .iter()
                .flat_map(move |&d| [(d, true, n), (d, false, n)])
        })
        .collect();
    let bar = progress::bar(runs.len() as u64);
    let mut results = Vec::new();
    for (d, residual, n) in runs {
        bar.set_message(format!(
            "{}{d} ({})",
            if residual { "resnet" } else { "plain" },
            n.name()
        ));
        results.push(
            rg::measure(d, residual, n, train.classes, &x, &y, &opts).map_err(CliError::Usage)?,
        );
        bar.inc(1);
    }
    bar.finish_and_clear();
    let table = rg::table(&results);
    print!("{table}");
    rg::write_report(&out, &opts, &results)?;
    let dir = out.commit("gradflow resnet-gradients")?;
    println!("report: {}", dir.join("report.md").display());
    Ok(())
}

fn sequence(a: SequenceArgs) -> Result<(), CliError> {
    use gradflow::sequence::{Experiment, SequenceOptions, run};
    let mut experiments = Vec::new();
    for n in &a.only {
        experiments.push(Experiment::parse(n).ok_or_else(|| {
            CliError::Usage(format!(
                "--only {n}: expected gradients, adding, exploding or copy"
            ))
        })?);
    }
    let opts = SequenceOptions {
        experiments,
        seq_len: a.seq_len,
        hidden: a.hidden,
        steps: a.steps,
        lr: a.lr,
        eval_every: a.eval_every,
        copy_delay: a.copy_delay,
        copy_steps: a.copy_steps,
        seed: a.seed,
        ..SequenceOptions::default()
    };
    opts.validate()?;
    let what = format!("sequence at --seq-len {} --hidden {}", a.seq_len, a.hidden);
    memory::check(
        &what,
        opts.memory_estimate(),
        memory::available(),
        "--seq-len, --hidden or --steps",
    )?;
    let out = ReportDir::prepare(&a.out)?;
    let report = run(&opts, &out, |line| eprintln!("{line}"))?;
    print!("{}", report.table());
    let dir = out.commit("gradflow sequence")?;
    println!("report: {}", dir.join("report.md").display());
    Ok(())
}

fn main() -> ExitCode {
    #[cfg(feature = "mimalloc")]
    allocator::keep_freed_memory();
    let cli = Cli::parse();
    // Rayon's workers get the main thread's stack size, since the commands below run on one
    // of them (`on_pool`). Fails only if the pool already exists, which nothing here causes.
    let _ = rayon::ThreadPoolBuilder::new()
        .stack_size(8 << 20)
        .build_global();
    // The commands whose steps read in-memory data run on a rayon worker (`on_pool`), so the
    // many parallel splits of each step are hot `join`s (docs/benchmarks.md); the image
    // commands, whose loop waits on loader threads, stay on the main thread, and
    // `train-image` runs only its forward and backward through `on_pool`.
    let result = match cli.command {
        Some(Command::Vanishing(a)) => on_pool(|| vanishing(a)),
        Some(Command::ResnetGradients(a)) => on_pool(|| resnet_gradients(a)),
        Some(Command::Sequence(a)) => on_pool(|| sequence(a)),
        Some(Command::TrainLm(a)) => {
            on_pool(|| gradflow::lm::cli::train_lm(&a)).map_err(CliError::from)
        }
        Some(Command::Sample(a)) => gradflow::lm::cli::sample_cli(&a).map_err(CliError::from),
        Some(Command::TrainImage(a)) => gradflow::image::train_image(&a)
            .map(drop)
            .map_err(Into::into),
        Some(Command::EvalImage(a)) => gradflow::image::eval_image(&a)
            .map(drop)
            .map_err(Into::into),
        Some(Command::Predict(a)) => gradflow::image::predict(&a).map(drop).map_err(Into::into),
        Some(Command::CompareRuns(a)) => gradflow::image::compare_runs(&a)
            .map(drop)
            .map_err(Into::into),
        None => on_pool(|| vanishing(cli.vanishing)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}
