//! The report figures: every file is written as a non-empty SVG and a valid PNG, the SVG names
//! every configuration, values a log axis cannot show (0, NaN, ∞, negative) do not panic, and
//! figures without data are skipped.

use std::path::Path;

use gradflow::data::{TeacherTask, teacher_task};
use gradflow::diagnostics::LayerStats;
use gradflow::run::figures::{Body, Figure, LinePanel, Look, PlotError, Series, YScale, emit};
use gradflow::vanishing::figures::write_figures;
use gradflow::vanishing::model::{Activation, InitScheme, MlpSpec, Norm};
use gradflow::vanishing::report::LabReport;
use gradflow::vanishing::{self, CurvePoint, LabConfig, LabOptions, OptimizerKind, RunResult};

const PNG_MAGIC: &[u8] = b"\x89PNG\r\n\x1a\n";

fn config(name: &str, activation: Activation, depth: usize) -> LabConfig {
    LabConfig {
        name: name.into(),
        about: format!("synthetic {name}"),
        spec: MlpSpec {
            depth,
            width: 8,
            input: 4,
            classes: 3,
            activation,
            init: InitScheme::Xavier,
            norm: Norm::None,
            residual: false,
        },
        optimizer: OptimizerKind::Sgd,
        clip: None,
    }
}

/// A run whose layer-l gradient norm at logged step i is `grad(l, i)`.
fn run(
    name: &str,
    lr: f64,
    depth: usize,
    steps: &[usize],
    grad: impl Fn(usize, usize) -> f32,
) -> RunResult {
    let curve = steps
        .iter()
        .enumerate()
        .map(|(i, &step)| CurvePoint {
            step,
            loss: 2.3 / (1.0 + i as f32),
            accuracy: 0.1 + 0.2 * i as f32,
            grad_norm: 1.0,
            layers: (1..=depth)
                .map(|l| LayerStats {
                    layer: l,
                    grad_w_norm: grad(l, i),
                    grad_h_norm: grad(l, i),
                    act_mean: 0.5,
                    act_std: 0.1,
                    saturated: (l as f32 / depth as f32) * (i as f32 / steps.len() as f32),
                    dead: 0.05 * l as f32 / depth as f32,
                })
                .collect(),
        })
        .collect();
    RunResult {
        config: name.into(),
        lr,
        diverged: false,
        diverged_at: None,
        divergence: None,
        curve,
        heldout_accuracy: 0.5 + lr as f32,
        wall_s: 1.0,
        steps_per_s: 10.0,
    }
}

fn report(configs: Vec<(LabConfig, Vec<RunResult>)>) -> LabReport {
    LabReport {
        data: "synthetic".into(),
        classes: 10,
        heldout_rows: 1000,
        options: LabOptions::default(),
        configs,
    }
}

fn synthetic() -> LabReport {
    let steps = [0, 10, 20, 25];
    let decay = |f: f32| move |l: usize, _| f.powi(6 - l as i32);
    report(vec![
        (
            config("sigmoid-small", Activation::Sigmoid, 6),
            vec![run("sigmoid-small", 0.1, 6, &steps, decay(0.1))],
        ),
        (
            config("tanh-xavier", Activation::Tanh, 6),
            vec![run("tanh-xavier", 0.1, 6, &steps, decay(0.7))],
        ),
        (
            config("relu-he", Activation::Relu, 6),
            vec![
                run("relu-he", 0.1, 6, &steps, decay(1.0)),
                run("relu-he", 0.01, 6, &steps, decay(1.0)),
            ],
        ),
    ])
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// Every returned figure exists as SVG and PNG, non-empty, the PNG with its signature.
fn check_files(dir: &Path, figures: &[(String, String)]) {
    for (title, svg) in figures {
        assert!(!title.is_empty());
        assert!(svg.ends_with(".svg"), "{svg}");
        let svg_bytes = read(&dir.join(svg));
        assert!(svg_bytes.len() > 1000, "{svg}: {} bytes", svg_bytes.len());
        let text = String::from_utf8(svg_bytes).expect("SVG is UTF-8");
        assert!(
            text.starts_with("<svg") && text.trim_end().ends_with("</svg>"),
            "{svg}"
        );
        let png = dir.join(svg.replace(".svg", ".png"));
        let png_bytes = read(&png);
        assert!(png_bytes.starts_with(PNG_MAGIC), "{}", png.display());
        assert!(
            png_bytes.len() > 2000,
            "{}: {} bytes",
            png.display(),
            png_bytes.len()
        );
    }
}

fn svg_text(dir: &Path, name: &str) -> String {
    String::from_utf8(read(&dir.join(name))).expect("SVG is UTF-8")
}

#[test]
fn writes_every_figure_as_svg_and_png_naming_each_configuration() {
    let dir = tempfile::tempdir().expect("temp dir");
    let figures = write_figures(&synthetic(), dir.path()).expect("figures");
    let names: Vec<&str> = figures.iter().map(|f| f.1.as_str()).collect();
    assert_eq!(
        names,
        [
            "grad_flow_init.svg",
            "grad_flow_trained.svg",
            "training_curves.svg",
            "saturation_heatmap.svg",
            "dead_units_heatmap.svg"
        ]
    );
    check_files(dir.path(), &figures);
    for svg in [
        "grad_flow_init.svg",
        "grad_flow_trained.svg",
        "training_curves.svg",
    ] {
        let text = svg_text(dir.path(), svg);
        for name in ["sigmoid-small", "tanh-xavier", "relu-he"] {
            assert!(text.contains(name), "{svg} does not name {name}");
        }
    }
    // The best run of relu-he is the one at lr 0.1 (higher held-out accuracy).
    assert!(svg_text(dir.path(), "training_curves.svg").contains("relu-he (lr 0.1)"));
    // Heat maps hold only their activation family.
    let sat = svg_text(dir.path(), "saturation_heatmap.svg");
    assert!(
        sat.contains("sigmoid-small") && sat.contains("tanh-xavier") && !sat.contains("relu-he")
    );
    let dead = svg_text(dir.path(), "dead_units_heatmap.svg");
    assert!(dead.contains("relu-he") && !dead.contains("sigmoid-small"));
    // The 0.25^k sigmoid bound is drawn and named.
    assert!(svg_text(dir.path(), "grad_flow_init.svg").contains("0.25^k bound"));
    // No temporary file is left behind.
    let files = std::fs::read_dir(dir.path()).expect("list").count();
    assert_eq!(files, 2 * figures.len());
}

#[test]
fn zero_nan_infinite_and_negative_values_do_not_panic() {
    let steps = [0, 5];
    let bad = [0.0, f32::NAN, f32::INFINITY, -1.0, 1e-30, f32::MIN_POSITIVE];
    let mut nasty = run("sigmoid-small", 0.1, 6, &steps, |l, _| bad[l - 1]);
    for p in &mut nasty.curve {
        p.loss = f32::NAN;
        p.accuracy = f32::NAN;
        for s in &mut p.layers {
            s.saturated = f32::NAN;
        }
    }
    // All-zero gradients: nothing a log axis can show; the bound has no anchor.
    let zeros = run("relu-he", 0.1, 4, &steps, |_, _| 0.0);
    // A configuration whose runs all diverged, one of them before logging anything.
    let mut diverged = run("exploding", 0.1, 4, &[0], |_, _| f32::NAN);
    diverged.diverged = true;
    diverged.heldout_accuracy = f32::NAN;
    let mut empty = diverged.clone();
    empty.curve.clear();
    let r = report(vec![
        (config("sigmoid-small", Activation::Sigmoid, 6), vec![nasty]),
        (config("relu-he", Activation::Relu, 4), vec![zeros]),
        (
            config("exploding", Activation::Relu, 4),
            vec![empty, diverged],
        ),
        (config("no-runs", Activation::Tanh, 4), vec![]),
    ]);
    let dir = tempfile::tempdir().expect("temp dir");
    let figures = write_figures(&r, dir.path()).expect("figures");
    check_files(dir.path(), &figures);
    let init = svg_text(dir.path(), "grad_flow_init.svg");
    assert!(init.contains("sigmoid-small"));
    // relu-he has nothing positive to draw on a log axis: left out, not crashed.
    assert!(!init.contains("relu-he"));
    // The last sigmoid layer is 1e-38 > 0, so the bound still shows.
    assert!(init.contains("0.25^k bound"));
    // exploding diverged everywhere: drawn from its first logged run, marked as diverged.
    let dead = svg_text(dir.path(), "dead_units_heatmap.svg");
    assert!(dead.contains("exploding (lr 0.1, diverged)"), "{dead}");
}

#[test]
fn figures_without_data_are_skipped() {
    let steps = [0, 10];
    let r = report(vec![(
        config("elu-he", Activation::Elu, 5),
        vec![run("elu-he", 0.1, 5, &steps, |l, _| l as f32)],
    )]);
    let dir = tempfile::tempdir().expect("temp dir");
    let figures = write_figures(&r, dir.path()).expect("figures");
    let names: Vec<&str> = figures.iter().map(|f| f.1.as_str()).collect();
    // No sigmoid/tanh or ReLU rung: no heat map; no sigmoid rung: no bound.
    assert_eq!(
        names,
        [
            "grad_flow_init.svg",
            "grad_flow_trained.svg",
            "training_curves.svg"
        ]
    );
    assert!(!svg_text(dir.path(), "grad_flow_init.svg").contains("0.25^k"));
    let empty = write_figures(&report(vec![]), dir.path()).expect("empty report");
    assert!(empty.is_empty());
}

#[test]
fn an_unwritable_folder_is_an_error_naming_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("not-a-folder");
    std::fs::write(&file, b"x").expect("write");
    let err = write_figures(&synthetic(), &file.join("figures")).expect_err("must fail");
    assert!(matches!(err, PlotError::Io { .. }), "{err:?}");
    assert!(err.to_string().contains("not-a-folder"), "{err}");
}

/// Figures from a real (tiny) run of the whole ladder, kept under the target folder for
/// inspection: `target/tmp/plots-real/`.
#[test]
fn figures_from_a_real_lab_run() {
    let (train, test) = teacher_task(TeacherTask {
        train: 512,
        test: 128,
        ..TeacherTask::default()
    });
    let opts = LabOptions {
        depth: 8,
        deep_depth: 16,
        width: 16,
        steps: 20,
        batch: 32,
        lr: None,
        seed: 0,
        log_every: 5,
        eval_rows: 128,
    };
    let configs = vanishing::ladder(&opts, train.dim, train.classes);
    let configs = configs
        .into_iter()
        .map(|cfg| {
            let lr = cfg.optimizer.default_lrs()[0];
            let run = vanishing::run(&cfg, lr, &opts, &train, &test, || {});
            (cfg, vec![run])
        })
        .collect();
    let r = LabReport {
        data: "teacher task".into(),
        classes: train.classes,
        heldout_rows: test.len(),
        options: opts,
        configs,
    };
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("plots-real");
    let figures = write_figures(&r, &dir).expect("figures");
    assert_eq!(figures.len(), 5);
    check_files(&dir, &figures);
    let init = svg_text(&dir, "grad_flow_init.svg");
    for (cfg, _) in &r.configs {
        assert!(
            init.contains(&cfg.name),
            "grad_flow_init.svg does not name {}",
            cfg.name
        );
    }
}

/// The toolkit on its own: a pipeline builds a line figure from plain data (one linear and one
/// log panel, a reference curve, a gap at a NaN) and emits it, without touching plotters or
/// the lab.
#[test]
fn a_line_figure_built_through_the_public_api_is_emitted() {
    let steps = [0.0, 10.0, 20.0, 30.0];
    let loss = Series {
        look: Look::nth(0),
        points: steps.iter().map(|&s| (s, 2.3 / (1.0 + s))).collect(),
    };
    let mut acc = Series {
        look: Look::nth(0),
        points: steps.iter().map(|&s| (s, 0.1 + 0.02 * s)).collect(),
    };
    acc.points[2].1 = f64::NAN;
    let target = Series {
        look: Look::reference(),
        points: vec![(0.0, 1e-2), (30.0, 1e-2)],
    };
    let panel = |title: &str, y_scale, series| LinePanel {
        title: title.into(),
        x_desc: "step".into(),
        y_desc: "value".into(),
        y_scale,
        series,
    };
    let fig = Figure {
        title: "Toolkit curves".into(),
        size: (1000, 500),
        body: Body::Lines {
            panels: vec![
                panel("loss", YScale::Log, vec![loss, target]),
                panel("accuracy", YScale::Linear, vec![acc]),
            ],
            legend: vec![
                ("toolkit-run".into(), Look::nth(0)),
                ("target loss".into(), Look::reference()),
            ],
        },
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let svg = emit(&fig, dir.path(), "curves").expect("emit");
    assert_eq!(svg, "curves.svg");
    let figures = [(fig.title.clone(), svg)];
    check_files(dir.path(), &figures);
    let text = svg_text(dir.path(), "curves.svg");
    for label in [
        "Toolkit curves",
        "toolkit-run",
        "target loss",
        "loss",
        "accuracy",
    ] {
        assert!(text.contains(label), "curves.svg does not name {label}");
    }
    // A folder that does not exist is an error naming the file.
    let missing = dir.path().join("missing");
    let err = emit(&fig, &missing, "curves").expect_err("no folder");
    assert!(matches!(err, PlotError::Io { .. }), "{err:?}");
    assert!(err.to_string().contains("missing"), "{err}");
}
