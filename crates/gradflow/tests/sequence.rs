//! The sequence experiments (`gradflow::sequence`) at small sizes, with fixed seeds: the
//! properties their math promises.

use gradflow::run::ReportDir;
use gradflow::sequence::{
    AddingBatch, Arch, CONSTANT_MSE, Experiment, OptimChoice, SequenceOptions, TrainSetup,
    through_time, train,
};
use rand::SeedableRng;

#[test]
fn a_constant_predictor_scores_one_sixth_on_the_adding_data() {
    // y = u_a + u_b with u ~ U[0, 1]: E[y] = 1, Var[y] = 1/6. The squared error of the
    // constant 1 is (y − 1)², whose own variance is E[(y − 1)⁴] − (1/6)² = 1/15 − 1/36 =
    // 7/180 (y − 1 has the triangular density 1 − |s| on [−1, 1]). Over N sequences the
    // sample MSE is within 5σ = 5·√(7/180/N) of 1/6 except with probability < 10⁻⁶.
    let n = 20_000;
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    let d = AddingBatch::sample(16, n, &mut rng);
    let bound = 5.0 * (7.0 / 180.0 / n as f64).sqrt();
    let mse = d.constant_mse(1.0);
    assert!(
        (mse - CONSTANT_MSE).abs() < bound,
        "MSE {mse} vs 1/6 ± {bound}"
    );
    // Any other constant c is worse by (c − 1)² (bias-variance), e.g. 0.25 for c = 0.5.
    assert!((d.constant_mse(0.5) - mse - 0.25).abs() < 0.02);
}

#[test]
fn the_default_tanh_rnn_loses_the_gradient_that_orthogonal_weights_and_forget_bias_keep() {
    // T = 200, loss at the last step. With PyTorch's default init the recurrent matrix's
    // spectral radius is about √(H·k²/3) = 1/√3 ≈ 0.58 (k = 1/√H, circular law), so the
    // gradient shrinks by about that factor per step: 0.58^199 ≈ 10⁻⁴⁷, below the
    // kernels' 10⁻³⁰ flush. An orthogonal W_hh has every singular value 1, and the LSTM
    // with forget bias 1 carries the gradient along c with factor f ≈ σ(1) and along h with
    // orthogonal blocks; both keep a measurable gradient at step 1. We ask for 10 decades
    // between them, far less than the ~40 the spectral radii predict.
    let mut rng = rand::rngs::StdRng::seed_from_u64(5);
    let data = AddingBatch::sample(200, 8, &mut rng);
    let rnn = through_time::measure(Arch::RnnTanh, 32, &data, 1);
    let orth = through_time::measure(Arch::RnnTanhOrthogonal, 32, &data, 1);
    let lstm = through_time::measure(Arch::LstmForgetBias, 32, &data, 1);
    for c in [&rnn, &orth, &lstm] {
        assert_eq!(c.norms.len(), 200);
        assert!(
            c.last() > 0.0 && c.norms.iter().all(|g| g.is_finite()),
            "{c:?}"
        );
    }
    assert!(
        rnn.ratio() < 1e-20,
        "default tanh RNN ratio {}",
        rnn.ratio()
    );
    assert!(
        rnn.per_step() < 0.75,
        "per-step factor {} should be near 1/√3",
        rnn.per_step()
    );
    for kept in [&orth, &lstm] {
        assert!(
            kept.ratio() > 1e10 * rnn.ratio().max(1e-300) && kept.ratio() > 1e-12,
            "{}: ratio {} vs default tanh RNN {}",
            kept.arch.name(),
            kept.ratio(),
            rnn.ratio()
        );
        assert!(kept.reach(1e-6) > 3 * rnn.reach(1e-6));
    }
}

#[test]
fn the_stepped_twin_of_a_sequence_model_predicts_the_same() {
    // The trained-network gradient curves are measured on a cell-by-cell copy of the fused
    // sequence layer; both compute the same recurrence in f32, so they agree to rounding
    // (a few ulps per step, accumulated over 30 steps: 1e-5 absolute on outputs of size ~1).
    let mut rng = rand::rngs::StdRng::seed_from_u64(8);
    let data = AddingBatch::sample(30, 5, &mut rng);
    for arch in Arch::ALL {
        let m = gradflow::sequence::SequenceModel::new(arch, 2, 12, &mut rng);
        let twin = gradflow::sequence::SteppedModel::from_sequence_model(&m);
        let xs: Vec<_> = (0..30).map(|t| data.step(t)).collect();
        let (a, b) = (m.predict(&data.inputs()).to_vec(), twin.run(&xs).0.to_vec());
        for (x, y) in a.iter().zip(&b) {
            assert!((x - y).abs() < 1e-5, "{}: {a:?} vs {b:?}", arch.name());
        }
    }
}

fn setup(steps: usize, clip: Option<f64>) -> TrainSetup {
    TrainSetup {
        seq_len: 10,
        hidden: 16,
        batch: 32,
        steps,
        optim: OptimChoice::Adam { lr: 1e-2 },
        clip,
        recurrent_gain: 1.0,
        eval_every: 50,
        target_mse: 0.0,
        seed: 2,
    }
}

#[test]
fn an_lstm_learns_a_short_adding_problem() {
    // At T = 10 the gradient survives the distance, so 400 Adam steps must take the LSTM
    // well below the constant predictor's 1/6 (a network that ignores the markers cannot
    // beat 1/6 on held-out data, whatever it learns).
    let mut rng = rand::rngs::StdRng::seed_from_u64(9);
    let eval = AddingBatch::sample(10, 500, &mut rng);
    let run = train::train(Arch::Lstm, &setup(400, Some(1.0)), &eval, |_| {}).unwrap();
    assert_eq!(run.steps(), 400);
    assert_eq!(run.evals.len(), 1 + 400 / 50);
    assert!(run.diverged.is_none(), "{:?}", run.diverged);
    assert!(
        run.final_mse() < CONSTANT_MSE / 3.0,
        "held-out MSE {} after 400 steps",
        run.final_mse()
    );
    // Clipping at c = 1 caps every step's applied norm; the recorded norm is the one before.
    assert!(run.grad_norms.iter().all(|g| g.is_finite()));
}

#[test]
fn a_large_recurrent_gain_explodes_without_clipping_and_trains_with_it() {
    // W_hh = 3 × orthogonal: σ_max = 3, and the backward product over T steps can grow like
    // 3^(T−t) wherever tanh′ is not saturated. With plain SGD a gradient of norm ‖g‖ moves
    // the weights by lr·‖g‖, so the unclipped run is thrown to a non-finite loss; clipping
    // to c = 1 bounds every step to lr·c and the run stays finite.
    let opts = SequenceOptions::default();
    let mut rng = rand::rngs::StdRng::seed_from_u64(4);
    let eval = AddingBatch::sample(opts.seq_len, 100, &mut rng);
    let explode = |clip| TrainSetup {
        seq_len: opts.seq_len,
        hidden: opts.hidden,
        batch: opts.batch,
        steps: opts.exploding_steps,
        optim: OptimChoice::Sgd {
            lr: opts.exploding_lr,
        },
        clip,
        recurrent_gain: opts.exploding_gain,
        eval_every: opts.exploding_steps,
        target_mse: 0.0,
        seed: opts.seed,
    };
    let free = train::train(Arch::RnnTanhOrthogonal, &explode(None), &eval, |_| {}).unwrap();
    let clipped = train::train(
        Arch::RnnTanhOrthogonal,
        &explode(Some(opts.clip)),
        &eval,
        |_| {},
    )
    .unwrap();
    assert!(free.diverged.is_some(), "{:?}", free.losses);
    assert!(
        clipped.diverged.is_none(),
        "{:?} {:?}",
        clipped.diverged,
        clipped.losses
    );
    assert_eq!(clipped.steps(), opts.exploding_steps);
    // "Trains": the held-out MSE falls from its value at the saturated initialization (≈ 1.3
    // with this seed) to well below it; we ask for half.
    assert!(
        clipped.final_mse() < clipped.evals[0].1 / 2.0,
        "held-out MSE {:?}",
        clipped.evals
    );
}

#[test]
fn run_writes_a_complete_report() {
    let opts = SequenceOptions {
        seq_len: 12,
        hidden: 8,
        batch: 4,
        steps: 6,
        eval_every: 3,
        eval_batch: 20,
        exploding_steps: 4,
        ..SequenceOptions::default()
    };
    let tmp = tempfile::tempdir().unwrap();
    let target = tmp.path().join("seq");
    let out = ReportDir::prepare(&target).unwrap();
    let mut lines = Vec::new();
    let report = gradflow::sequence::run(&opts, &out, |l| lines.push(l.to_string())).unwrap();
    out.commit("gradflow sequence").unwrap();
    assert_eq!(report.gradients.len(), 5);
    assert_eq!(report.adding.len(), 6);
    assert_eq!(report.exploding.len(), 2);
    assert_eq!(lines.len(), 5 + 6 + 2);
    assert!(report.adding.iter().all(|r| {
        r.diverged.is_some()
            || r.gradients_after
                .as_ref()
                .is_some_and(|c| c.norms.len() == 12)
    }));
    for f in [
        "results.json",
        "report.md",
        "gradients.csv",
        "gradient_through_time.svg",
        "gradient_through_time.png",
        "adding.csv",
        "gradients_after_training.csv",
        "adding.svg",
        "adding.png",
        "exploding.csv",
        "exploding.svg",
        "exploding.png",
        "manifest.json",
    ] {
        assert!(target.join(f).is_file(), "missing {f}");
    }
    let csv = std::fs::read_to_string(target.join("gradients.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + 5 * 12);
    let table = report.table();
    for name in ["rnn-tanh", "lstm-fb1", "gru+clip", "rnn-tanh-orth×3+clip"] {
        assert!(table.contains(name), "{name} missing from\n{table}");
    }
    let svg = std::fs::read_to_string(target.join("gradient_through_time.svg")).unwrap();
    assert!(svg.contains("after training"), "no trained-network panel");
    let md = std::fs::read_to_string(target.join("report.md")).unwrap();
    assert!(md.contains("](adding.svg)") && md.contains("](gradient_through_time.svg)"));
}

#[test]
fn options_out_of_range_are_refused_with_their_name() {
    let tmp = tempfile::tempdir().unwrap();
    let out = ReportDir::prepare(&tmp.path().join("r")).unwrap();
    for (opts, flag) in [
        (
            SequenceOptions {
                seq_len: 1,
                ..SequenceOptions::default()
            },
            "--seq-len",
        ),
        (
            SequenceOptions {
                lr: f64::NAN,
                ..SequenceOptions::default()
            },
            "--lr",
        ),
        (
            SequenceOptions {
                hidden: 0,
                ..SequenceOptions::default()
            },
            "--hidden",
        ),
    ] {
        let e = gradflow::sequence::run(&opts, &out, |_| {}).unwrap_err();
        assert!(e.to_string().contains(flag), "{e}");
    }
    assert!(
        Experiment::parse("adding").is_some()
            && Experiment::parse("copy").is_some()
            && Experiment::parse("lm").is_none()
    );
}
