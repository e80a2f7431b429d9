//! Schedulers against PyTorch 2.15, fixtures `sched_*` from make_fixtures.py:
//!
//! ```python
//! opt = torch.optim.SGD([p], lr=0.1); sched = S.<Kind>(opt, **spec)
//! for _ in range(40):
//!     lrs.append(opt.param_groups[0]["lr"]); moms.append(opt.param_groups[0]["momentum"])
//!     opt.step(); sched.step()
//! ```
//!
//! The exact float64 values are in the metadata (`config.lr_f64`, `config.momentum_f64`).
//! As in PyTorch, lr[0] is the optimizer's lr right after the scheduler's construction: no
//! explicit `apply` is made.

use gradflow_optimizers::*;
use gradflow_tensor::Tensor;
use gradflow_test_support::fixture;

fn f64s(v: &serde_json::Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

/// The scheduler of `spec`, built on `opt` as the fixture built it on PyTorch's optimizer
/// (children included: none is given a base lr).
fn build(spec: &serde_json::Value, opt: &mut dyn Optimizer) -> Box<dyn LrScheduler> {
    let f = |k: &str| spec[k].as_f64().unwrap();
    let u = |k: &str| spec[k].as_u64().unwrap() as usize;
    let milestones = || -> Vec<usize> {
        f64s(&spec["milestones"])
            .iter()
            .map(|&x| x as usize)
            .collect()
    };
    match spec["kind"].as_str().unwrap() {
        "StepLR" => Box::new(StepLr::new(opt, u("step_size"), f("gamma")).unwrap()),
        "MultiStepLR" => Box::new(MultiStepLr::new(opt, &milestones(), f("gamma")).unwrap()),
        "ExponentialLR" => Box::new(ExponentialLr::new(opt, f("gamma")).unwrap()),
        "CosineAnnealingLR" => {
            Box::new(CosineAnnealingLr::new(opt, u("T_max"), f("eta_min")).unwrap())
        }
        "LinearLR" => Box::new(
            LinearLr::new(opt, f("start_factor"), f("end_factor"), u("total_iters")).unwrap(),
        ),
        "OneCycleLR" => Box::new(
            OneCycleLr::new(opt, OneCycleConfig::new(f("max_lr"), u("total_steps"))).unwrap(),
        ),
        "SequentialLR" => {
            let children = vec![build(&spec["first"], opt), build(&spec["second"], opt)];
            Box::new(SequentialLr::new(opt, children, &milestones()).unwrap())
        }
        other => panic!("unknown scheduler {other}"),
    }
}

fn close(what: &str, i: usize, got: f64, want: f64) -> f64 {
    assert!(
        (got - want).abs() <= 1e-12 * want.abs().max(1e-300),
        "{what}[{i}]: got {got:e}, PyTorch {want:e}"
    );
    (got - want).abs() / want.abs().max(1e-300)
}

fn schedule(name: &str) {
    let fx = fixture!(name);
    let base_lr = fx.cfg_f64("base_lr");
    let want_lr = f64s(&fx.config["lr_f64"]);
    let want_m = fx.config.get("momentum_f64").map(f64s);
    // Drive a real optimizer, as the fixture did.
    let p = Tensor::zeros(&[1]).requires_grad_();
    let mut opt = Sgd::new(
        std::slice::from_ref(&p),
        SgdConfig {
            lr: base_lr,
            ..SgdConfig::default()
        },
    )
    .unwrap();
    let mut sched = build(&fx.config["scheduler"], &mut opt);
    let mut worst = 0.0f64;
    for i in 0..want_lr.len() {
        worst = worst.max(close(&format!("{name} lr"), i, opt.lr(), want_lr[i]));
        if let Some(m) = &want_m {
            worst = worst.max(close(
                &format!("{name} momentum"),
                i,
                opt.momentum().unwrap(),
                m[i],
            ));
        }
        p.set_grad(Some(Tensor::zeros(&[1])));
        opt.step();
        sched.step(&mut opt);
    }
    eprintln!("{name}: max relative difference from PyTorch's f64 values {worst:.1e}");
    // The f32 tensor copy agrees too (within its own rounding).
    let lr32 = fx.values("lr");
    assert!((lr32[39] as f64 - want_lr[39]).abs() <= 1e-7 * want_lr[39]);
}

#[test]
fn step_lr_matches_pytorch() {
    schedule("sched_steplr");
}

#[test]
fn multi_step_lr_matches_pytorch() {
    schedule("sched_multisteplr");
}

#[test]
fn exponential_lr_matches_pytorch() {
    schedule("sched_exponentiallr");
}

#[test]
fn cosine_annealing_lr_matches_pytorch() {
    schedule("sched_cosineannealinglr");
}

#[test]
fn linear_then_cosine_matches_pytorch() {
    schedule("sched_linear_then_cosine");
}

#[test]
fn one_cycle_lr_and_momentum_match_pytorch() {
    schedule("sched_onecyclelr");
}

/// The first optimizer step runs at the scheduled lr₀ without any explicit `apply`: with
/// LinearLR(start_factor 0.25) on lr 0.1 and gradient 1, w moves by exactly −0.025 (0.025 is
/// not exactly representable, but both sides are the same f32 product η·1 rounded once).
#[test]
fn first_step_uses_the_scheduled_lr() {
    let w = Tensor::zeros(&[1]).requires_grad_();
    let cfg = SgdConfig {
        lr: 0.1,
        ..SgdConfig::default()
    };
    let mut opt = Sgd::new(std::slice::from_ref(&w), cfg).unwrap();
    let _sched = LinearLr::new(&mut opt, 0.25, 1.0, 4).unwrap();
    w.set_grad(Some(Tensor::ones(&[1])));
    opt.step();
    assert_eq!(w.item(), -((0.1f64 * 0.25) as f32));
}

/// OneCycle writes its momentum (Adam's β₁) at construction, as PyTorch's constructor does.
#[test]
fn one_cycle_sets_momentum_at_construction() {
    let mut opt = Adam::new(&[], AdamConfig::default()).unwrap();
    let _sched = OneCycleLr::new(&mut opt, OneCycleConfig::new(0.1, 10)).unwrap();
    assert_eq!(opt.momentum(), Some(0.95));
    assert!((opt.lr() - 0.1 / 25.0).abs() <= 1e-17);
}

/// SequentialLR's children share the pinned initial lr: the second child starts from the
/// optimizer's original lr, not from the lr the first child wrote.
#[test]
fn sequential_children_share_the_initial_lr() {
    let mut opt = Sgd::new(
        &[],
        SgdConfig {
            lr: 0.2,
            ..SgdConfig::default()
        },
    )
    .unwrap();
    let warm = LinearLr::new(&mut opt, 0.5, 1.0, 2).unwrap();
    let decay = ExponentialLr::new(&mut opt, 0.5).unwrap();
    assert_eq!(opt.initial_lr(), Some(0.2));
    let mut s = SequentialLr::new(&mut opt, vec![Box::new(warm), Box::new(decay)], &[2]).unwrap();
    assert_eq!(opt.lr(), 0.1); // 0.2 · 0.5, the warm-up's lr₀
    s.step(&mut opt);
    s.step(&mut opt);
    assert_eq!(opt.lr(), 0.2); // the exponential decay restarted at the initial lr
    s.step(&mut opt);
    assert_eq!(opt.lr(), 0.1);
}
