//! Invariants of the update rules, checked with proptest on random problems.

use gradflow_optimizers::*;
use gradflow_tensor::Tensor;
use proptest::prelude::*;

fn leaf(x: &[f32]) -> Tensor {
    Tensor::from_vec(x.to_vec(), &[x.len()]).requires_grad_()
}

fn set_grad(p: &Tensor, g: Vec<f32>) {
    let n = g.len();
    p.set_grad(Some(Tensor::from_vec(g, &[n])));
}

/// The optimizer running `rule` over `p`, boxed (one generic engine serves every rule).
fn boxed<R: UpdateRule + 'static>(p: &[Tensor], rule: R) -> Box<dyn Optimizer> {
    Box::new(Engine::<R>::new(p, rule).unwrap())
}

/// Every optimizer kind with settings suited to a quadratic with curvature in [0.5, 2].
fn all_optimizers(p: &[Tensor]) -> Vec<(&'static str, Box<dyn Optimizer>)> {
    let sgd = |lr, momentum, dampening, weight_decay, nesterov| SgdConfig {
        lr,
        momentum,
        dampening,
        weight_decay,
        nesterov,
    };
    let adam = |lr, amsgrad, weight_decay| AdamConfig {
        lr,
        amsgrad,
        weight_decay,
        ..Default::default()
    };
    let rms = |lr, centered, momentum| RmsPropConfig {
        lr,
        centered,
        momentum,
        ..Default::default()
    };
    let adamw = AdamWConfig {
        lr: 0.05,
        ..Default::default()
    };
    let ema = EmaMomentumConfig {
        lr: 0.3,
        beta: 0.8,
        weight_decay: 0.0,
    };
    let adagrad = AdagradConfig {
        lr: 0.2,
        lr_decay: 1e-3,
        ..Default::default()
    };
    vec![
        ("sgd", boxed(p, sgd(0.1, 0.0, 0.0, 0.0, false))),
        ("sgd_nesterov_wd", boxed(p, sgd(0.05, 0.9, 0.0, 1e-2, true))),
        ("sgd_dampening", boxed(p, sgd(0.05, 0.9, 0.3, 0.0, false))),
        ("ema_momentum", boxed(p, ema)),
        ("adam", boxed(p, adam(0.05, false, 0.0))),
        ("adam_amsgrad_wd", boxed(p, adam(0.05, true, 1e-2))),
        ("adamw", boxed(p, AdamConfig::from(adamw))),
        ("rmsprop", boxed(p, rms(0.01, false, 0.0))),
        ("rmsprop_centered_momentum", boxed(p, rms(0.005, true, 0.5))),
        ("adagrad", boxed(p, adagrad)),
    ]
}

fn quadratic(a: &[f32], x: &[f32]) -> f64 {
    a.iter()
        .zip(x)
        .map(|(a, x)| 0.5 * f64::from(*a) * f64::from(*x).powi(2))
        .sum()
}

/// A non-convex but smooth test problem: gᵢ = aᵢ·cos xᵢ + 2cᵢxᵢ.
fn wavy_grad(x: &[f32]) -> Vec<f32> {
    x.iter()
        .enumerate()
        .map(|(i, &v)| (0.3 + 0.1 * i as f32) * v.cos() + 2.0 * 0.25 * v)
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn momentum_zero_is_plain_sgd(
        x0 in prop::collection::vec(-2.0f32..2.0, 1..8),
        lr in 1e-3f64..0.5,
        dampening in 0.0f64..0.9,
    ) {
        let n = x0.len();
        let p = leaf(&x0);
        let cfg = SgdConfig { lr, momentum: 0.0, dampening, ..Default::default() };
        let mut opt = Sgd::new(std::slice::from_ref(&p), cfg).unwrap();
        let mut x = x0.clone();
        for t in 0..5 {
            let g: Vec<f32> = (0..n).map(|i| ((i + t) as f32).sin()).collect();
            set_grad(&p, g.clone());
            opt.step();
            // PyTorch's param.add_(grad, alpha=-lr) is one fused multiply-add.
            for i in 0..n { x[i] = (-lr as f32).mul_add(g[i], x[i]); }
        }
        prop_assert_eq!(p.to_vec(), x);
    }

    #[test]
    fn adam_first_step_moves_each_coordinate_by_at_most_lr(
        g in prop::collection::vec(prop_oneof![-1e-6f32..1e-6, -1.0f32..1.0, -1e6f32..1e6], 1..16),
        lr in 1e-4f64..1.0,
        beta1 in 0.0f64..0.99,
        beta2 in 0.5f64..0.9999,
        amsgrad in any::<bool>(),
    ) {
        let p = leaf(&vec![0.0; g.len()]);
        let cfg = AdamConfig { lr, betas: (beta1, beta2), amsgrad, ..Default::default() };
        let mut opt = Adam::new(std::slice::from_ref(&p), cfg).unwrap();
        set_grad(&p, g.clone());
        opt.step();
        for (x, gi) in p.to_vec().iter().zip(&g) {
            prop_assert!(f64::from(x.abs()) <= lr * (1.0 + 1e-5), "moved {x} > lr {lr}");
            if *gi != 0.0 { prop_assert!(x.signum() == -gi.signum()); }
        }
    }

    #[test]
    fn every_optimizer_decreases_a_convex_quadratic(
        a in prop::collection::vec(0.5f32..2.0, 4),
        x0 in prop::collection::vec(-3.0f32..3.0, 4),
    ) {
        prop_assume!(quadratic(&a, &x0) > 1e-2);
        let f0 = quadratic(&a, &x0);
        for k in 0..all_optimizers(&[]).len() {
            let p = leaf(&x0);
            let (name, mut opt) = all_optimizers(std::slice::from_ref(&p)).swap_remove(k);
            for _ in 0..100 {
                let x = p.to_vec();
                set_grad(&p, a.iter().zip(&x).map(|(a, x)| a * x).collect());
                opt.step();
            }
            let f = quadratic(&a, &p.to_vec());
            prop_assert!(f < 0.5 * f0, "{name}: f went {f0} -> {f}");
        }
    }

    #[test]
    fn ema_momentum_equals_pytorch_momentum_with_scaled_lr(
        x0 in prop::collection::vec(-2.0f32..2.0, 1..6),
        lr in 1e-3f64..0.5,
        beta in 0.0f64..0.95,
    ) {
        let p = leaf(&x0);
        let q = leaf(&x0);
        let mut ema = EmaMomentum::new(std::slice::from_ref(&p), EmaMomentumConfig { lr, beta, weight_decay: 0.0 }).unwrap();
        let sgd_cfg = SgdConfig { lr: lr * (1.0 - beta), momentum: beta, ..Default::default() };
        let mut sgd = Sgd::new(std::slice::from_ref(&q), sgd_cfg).unwrap();
        for _ in 0..20 {
            set_grad(&p, wavy_grad(&p.to_vec()));
            set_grad(&q, wavy_grad(&q.to_vec()));
            ema.step();
            sgd.step();
        }
        for (a, b) in p.to_vec().iter().zip(q.to_vec()) {
            prop_assert!((a - b).abs() <= 1e-5 * (1.0 + b.abs()), "EMA {a} vs SGD {b}");
        }
    }

    #[test]
    fn state_json_round_trips_every_f32_bit(bits in prop::collection::vec(any::<u32>(), 1..64)) {
        let buf: Vec<f32> = bits.iter().map(|&b| f32::from_bits(b)).filter(|v| v.is_finite()).collect();
        let mut ps = ParamState { step: 3, buffers: Default::default() };
        ps.buffers.insert("exp_avg".into(), buf.clone());
        let st = OptimizerState { optimizer: "Adam".into(), hyperparameters: serde_json::json!({"lr": 0.1}), initial_lr: Some(0.1), state: vec![Some(ps), None] };
        let back = OptimizerState::from_json(&st.to_json().unwrap()).unwrap();
        let got: Vec<u32> = back.state[0].as_ref().unwrap().buffers["exp_avg"].iter().map(|v| v.to_bits()).collect();
        let want: Vec<u32> = buf.iter().map(|v| v.to_bits()).collect();
        prop_assert_eq!(got, want);
    }
}

/// Runs `steps` of (gradient, optimizer step, scheduler step) on the wavy problem.
fn run(opt: &mut dyn Optimizer, sched: &mut dyn LrScheduler, steps: usize) {
    for _ in 0..steps {
        for p in opt.params().to_vec() {
            set_grad(&p, wavy_grad(&p.to_vec()));
        }
        opt.step();
        sched.step(opt);
    }
}

type Make = fn(&[Tensor]) -> Box<dyn Optimizer>;

/// An optimizer over no parameters, to drive a schedule on its own.
fn bare(lr: f64) -> Sgd {
    Sgd::new(
        &[],
        SgdConfig {
            lr,
            ..SgdConfig::default()
        },
    )
    .unwrap()
}

fn schedulers(opt: &mut dyn Optimizer) -> Box<dyn LrScheduler> {
    let warm = LinearLr::new(opt, 0.1, 1.0, 4).unwrap();
    let cyc = OneCycleLr::new(opt, OneCycleConfig::new(0.05, 30)).unwrap();
    Box::new(SequentialLr::new(opt, vec![Box::new(warm), Box::new(cyc)], &[4]).unwrap())
}

#[test]
fn resumed_run_is_bit_exact() {
    let makers: Vec<(&str, Make, bool)> = vec![
        (
            "sgd",
            |p| {
                let cfg = SgdConfig {
                    lr: 0.05,
                    momentum: 0.9,
                    nesterov: true,
                    ..Default::default()
                };
                boxed(p, cfg)
            },
            true,
        ),
        ("ema", |p| boxed(p, EmaMomentumConfig::default()), true),
        (
            "adam",
            |p| {
                let cfg = AdamConfig {
                    amsgrad: true,
                    weight_decay: 1e-3,
                    ..Default::default()
                };
                boxed(p, cfg)
            },
            true,
        ),
        (
            "adamw",
            |p| boxed(p, AdamConfig::from(AdamWConfig::default())),
            true,
        ),
        (
            "rmsprop",
            |p| {
                let cfg = RmsPropConfig {
                    centered: true,
                    momentum: 0.5,
                    ..Default::default()
                };
                boxed(p, cfg)
            },
            true,
        ),
        (
            "adagrad",
            |p| {
                let cfg = AdagradConfig {
                    lr_decay: 0.01,
                    ..Default::default()
                };
                boxed(p, cfg)
            },
            false,
        ),
    ];
    let x0 = [0.7f32, -1.3, 2.1, 0.05, -0.4];
    let y0 = [1.5f32, -0.2];
    for (name, make, cycle_momentum) in makers {
        let sched_for = |opt: &mut dyn Optimizer| -> Box<dyn LrScheduler> {
            if cycle_momentum {
                schedulers(opt)
            } else {
                Box::new(CosineAnnealingLr::new(opt, 15, 1e-3).unwrap())
            }
        };
        // Uninterrupted 20 steps.
        let ps = [leaf(&x0), leaf(&y0)];
        let mut opt = make(&ps);
        let mut sched = sched_for(opt.as_mut());
        run(opt.as_mut(), sched.as_mut(), 20);
        let straight: Vec<Vec<u32>> = ps
            .iter()
            .map(|p| p.to_vec().iter().map(|v| v.to_bits()).collect())
            .collect();

        // 10 steps, checkpoint to JSON, fresh everything, load, 10 more.
        let ps = [leaf(&x0), leaf(&y0)];
        let mut opt = make(&ps);
        let mut sched = sched_for(opt.as_mut());
        run(opt.as_mut(), sched.as_mut(), 10);
        let weights: Vec<Vec<f32>> = ps.iter().map(|p| p.to_vec()).collect();
        let opt_json = opt.state_dict().to_json().unwrap();
        let sched_json = sched.state_dict().to_json().unwrap();
        drop((opt, sched, ps));

        let ps = [leaf(&weights[0]), leaf(&weights[1])];
        let mut opt = make(&ps);
        // Build the scheduler first (it starts from the configured lr, as the original did),
        // then load both states: the loads overwrite what the constructor wrote.
        let mut sched = sched_for(opt.as_mut());
        opt.set_lr(123.0); // overwritten by the load
        opt.load_state_dict(&OptimizerState::from_json(&opt_json).unwrap())
            .unwrap();
        sched
            .load_state_dict(&SchedulerState::from_json(&sched_json).unwrap())
            .unwrap();
        run(opt.as_mut(), sched.as_mut(), 10);
        let resumed: Vec<Vec<u32>> = ps
            .iter()
            .map(|p| p.to_vec().iter().map(|v| v.to_bits()).collect())
            .collect();
        assert_eq!(
            straight, resumed,
            "{name}: resumed run differs from the uninterrupted one"
        );
    }
}

#[test]
fn bad_states_are_rejected_and_change_nothing() {
    let p = leaf(&[1.0, 2.0]);
    let mut adam = Adam::new(std::slice::from_ref(&p), AdamConfig::default()).unwrap();
    set_grad(&p, vec![1.0, 1.0]);
    adam.step();
    let good = adam.state_dict();

    let sgd = Sgd::new(std::slice::from_ref(&p), SgdConfig::default()).unwrap();
    assert!(matches!(
        adam.load_state_dict(&sgd.state_dict()),
        Err(OptimError::WrongKind { .. })
    ));

    let mut two = good.clone();
    two.state.push(None);
    assert!(matches!(
        adam.load_state_dict(&two),
        Err(OptimError::CountMismatch {
            expected: 1,
            found: 2,
            ..
        })
    ));

    let mut short = good.clone();
    short.state[0]
        .as_mut()
        .unwrap()
        .buffers
        .insert("exp_avg".into(), vec![0.0]);
    assert!(matches!(
        adam.load_state_dict(&short),
        Err(OptimError::BufferMismatch {
            index: 0,
            expected: 2,
            found: 1,
            ..
        })
    ));

    let mut bad_lr = good.clone();
    bad_lr.hyperparameters["lr"] = serde_json::json!(-1.0);
    assert!(matches!(
        adam.load_state_dict(&bad_lr),
        Err(OptimError::InvalidHyperparameter { name: "lr", .. })
    ));
    assert_eq!(
        adam.state_dict(),
        good,
        "failed loads must not change the optimizer"
    );

    assert!(OptimizerState::from_json("{not json").is_err());
}

#[test]
fn zero_grad_clears_and_none_grads_are_skipped() {
    let p = leaf(&[1.0]);
    let q = leaf(&[5.0]);
    let mut opt = Adam::new(&[p.clone(), q.clone()], AdamConfig::default()).unwrap();
    set_grad(&p, vec![1.0]);
    opt.step();
    assert_eq!(q.item(), 5.0);
    let st = opt.state_dict();
    assert_eq!(st.state[0].as_ref().unwrap().step, 1);
    assert!(st.state[1].is_none());
    opt.zero_grad();
    assert!(p.grad().is_none());
}

#[test]
fn one_cycle_momentum_on_adagrad_is_refused() {
    let p = leaf(&[1.0]);
    let mut opt = Adagrad::new(std::slice::from_ref(&p), AdagradConfig::default()).unwrap();
    assert!(matches!(
        OneCycleLr::new(&mut opt, OneCycleConfig::new(0.1, 10)),
        Err(OptimError::InvalidHyperparameter {
            name: "cycle_momentum",
            ..
        })
    ));
    assert_eq!(
        opt.lr(),
        1e-2,
        "a refused scheduler must not touch the optimizer"
    );
    assert_eq!(opt.initial_lr(), None);
    let mut cfg = OneCycleConfig::new(0.1, 10);
    cfg.cycle_momentum = false;
    OneCycleLr::new(&mut opt, cfg).unwrap();
    assert!((opt.lr() - 0.1 / 25.0).abs() <= 1e-17);
}

#[test]
fn one_cycle_sets_adam_beta1() {
    let p = leaf(&[1.0]);
    let mut opt = Adam::new(std::slice::from_ref(&p), AdamConfig::default()).unwrap();
    let mut s = OneCycleLr::new(&mut opt, OneCycleConfig::new(0.1, 10)).unwrap();
    assert_eq!(opt.config().betas, (0.95, 0.999));
    for _ in 0..2 {
        s.step(&mut opt);
    }
    assert!(opt.config().betas.0 < 0.95);
}

#[test]
#[should_panic(expected = "OneCycleLR: tried to step 11 times")]
fn one_cycle_past_the_end_panics() {
    let mut s = OneCycleLr::new(&mut bare(0.1), OneCycleConfig::new(0.1, 10)).unwrap();
    for _ in 0..11 {
        s.advance();
    }
}

#[test]
fn scheduler_errors_are_typed() {
    let opt = &mut bare(0.1);
    assert!(matches!(
        StepLr::new(opt, 0, 0.5),
        Err(OptimError::InvalidHyperparameter {
            name: "step_size",
            ..
        })
    ));
    assert!(matches!(
        LinearLr::new(opt, 0.0, 1.0, 5),
        Err(OptimError::InvalidHyperparameter {
            name: "start_factor",
            ..
        })
    ));
    let a: Box<dyn LrScheduler> = Box::new(ExponentialLr::new(opt, 0.9).unwrap());
    assert!(matches!(
        SequentialLr::new(opt, vec![a], &[3]),
        Err(OptimError::CountMismatch { .. })
    ));
    let mut s = StepLr::new(opt, 2, 0.5).unwrap();
    let other = ExponentialLr::new(opt, 0.9).unwrap().state_dict();
    assert!(matches!(
        s.load_state_dict(&other),
        Err(OptimError::WrongKind { .. })
    ));
}

#[test]
fn closed_forms_agree_with_recursions() {
    let opt = &mut bare(0.1);
    let mut scheds: Vec<(Box<dyn LrScheduler>, Box<dyn LrScheduler>)> = vec![
        (
            Box::new(StepLr::new(opt, 3, 0.5).unwrap()),
            Box::new(StepLr::new(opt, 3, 0.5).unwrap()),
        ),
        (
            Box::new(MultiStepLr::new(opt, &[2, 2, 7], 0.5).unwrap()),
            Box::new(MultiStepLr::new(opt, &[2, 2, 7], 0.5).unwrap()),
        ),
        (
            Box::new(ExponentialLr::new(opt, 0.9).unwrap()),
            Box::new(ExponentialLr::new(opt, 0.9).unwrap()),
        ),
        (
            Box::new(CosineAnnealingLr::new(opt, 7, 1e-3).unwrap()),
            Box::new(CosineAnnealingLr::new(opt, 7, 1e-3).unwrap()),
        ),
        (
            Box::new(LinearLr::new(opt, 0.2, 0.9, 6).unwrap()),
            Box::new(LinearLr::new(opt, 0.2, 0.9, 6).unwrap()),
        ),
    ];
    for (rec, closed) in scheds.iter_mut() {
        for e in 1..20 {
            rec.advance();
            closed.reset_to(e);
            let (a, b) = (rec.lr(), closed.lr());
            assert!(
                (a - b).abs() <= 1e-12 * b.abs() + 1e-15,
                "{} epoch {e}: {a} vs {b}",
                rec.name()
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn schedules_stay_in_their_ranges(
        base in 1e-4f64..1.0,
        t_max in 1usize..60,
        eta_frac in 0.0f64..0.5,
        total in 2usize..80,
        pct in 0.05f64..0.95,
    ) {
        let eta_min = base * eta_frac;
        let opt = &mut bare(base);
        let mut cos = CosineAnnealingLr::new(opt, t_max, eta_min).unwrap();
        for _ in 0..3 * t_max {
            let lr = cos.lr();
            prop_assert!(lr >= eta_min * (1.0 - 1e-9) - 1e-15 && lr <= base * (1.0 + 1e-9), "cosine lr {lr}");
            cos.advance();
        }
        let mut cfg = OneCycleConfig::new(base, total);
        cfg.pct_start = pct;
        let mut one = OneCycleLr::new(opt, cfg).unwrap();
        for e in 0..total {
            let (lr, m) = (one.lr(), one.momentum().unwrap());
            prop_assert!(lr > 0.0 && lr <= base * (1.0 + 1e-9), "one-cycle lr {lr} at {e}");
            prop_assert!((0.85 - 1e-9..=0.95 + 1e-9).contains(&m), "one-cycle momentum {m} at {e}");
            one.advance();
        }
        let mut step = StepLr::new(opt, 1 + t_max % 7, 0.5).unwrap();
        let mut prev = step.lr();
        for _ in 0..30 {
            step.advance();
            prop_assert!(step.lr() <= prev);
            prev = step.lr();
        }
    }
}
