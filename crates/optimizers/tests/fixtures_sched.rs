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

mod common;

use common::Fixture;
use gradflow_optimizers::*;
use gradflow_tensor::Tensor;

fn f64s(v: &serde_json::Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

fn build(spec: &serde_json::Value, base_lr: f64) -> Box<dyn LrScheduler> {
    let f = |k: &str| spec[k].as_f64().unwrap();
    let u = |k: &str| spec[k].as_u64().unwrap() as usize;
    match spec["kind"].as_str().unwrap() {
        "StepLR" => Box::new(StepLr::new(base_lr, u("step_size"), f("gamma")).unwrap()),
        "MultiStepLR" => {
            let m: Vec<usize> = f64s(&spec["milestones"])
                .iter()
                .map(|&x| x as usize)
                .collect();
            Box::new(MultiStepLr::new(base_lr, &m, f("gamma")).unwrap())
        }
        "ExponentialLR" => Box::new(ExponentialLr::new(base_lr, f("gamma")).unwrap()),
        "CosineAnnealingLR" => {
            Box::new(CosineAnnealingLr::new(base_lr, u("T_max"), f("eta_min")).unwrap())
        }
        "LinearLR" => Box::new(
            LinearLr::new(
                base_lr,
                f("start_factor"),
                f("end_factor"),
                u("total_iters"),
            )
            .unwrap(),
        ),
        "OneCycleLR" => {
            Box::new(OneCycleLr::new(OneCycleConfig::new(f("max_lr"), u("total_steps"))).unwrap())
        }
        "SequentialLR" => {
            let m: Vec<usize> = f64s(&spec["milestones"])
                .iter()
                .map(|&x| x as usize)
                .collect();
            let children = vec![
                build(&spec["first"], base_lr),
                build(&spec["second"], base_lr),
            ];
            Box::new(SequentialLr::new(children, &m).unwrap())
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
    let fx = Fixture::load(name);
    let base_lr = fx.config["base_lr"].as_f64().unwrap();
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
    let mut sched = build(&fx.config["scheduler"], base_lr);
    sched.apply(&mut opt);
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
    let lr32 = &fx.get("lr").1;
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
