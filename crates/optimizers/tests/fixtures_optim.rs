//! Optimizer trajectories against PyTorch 2.15 (`foreach=False`), fixtures `optim_*` from
//! /work/shared/fixtures/make_fixtures.py:
//!
//! ```python
//! a0 = torch.rand(5, 3) + 0.5; c0 = torch.randn(5, 3); a1 = torch.randn(7); c1 = torch.rand(7) * 0.5 + 0.1
//! loss = (a0 * p0 ** 2 + c0 * p0).sum() + (a1 * torch.sin(p1) + c1 * p1 ** 2).sum()
//! opt = cls([p0, p1], foreach=False, **kwargs)   # 25 x (zero_grad, backward, step)
//! ```
//!
//! Two checks per configuration: (1) the whole 25-step run with gradients computed by
//! gradflow's autograd, against PyTorch's parameters after every step; (2) the optimizer
//! alone, fed PyTorch's own gradients `stepT.dp*`.

mod common;

use common::{Fixture, max_rel};
use gradflow_optimizers::*;
use gradflow_tensor::{Elementwise, Tensor};

#[derive(Clone, Copy)]
struct Sin;

impl Elementwise for Sin {
    const NAME: &'static str = "sin";
    const FROM_OUTPUT: bool = false;
    fn f(self, x: f32) -> f32 {
        x.sin()
    }
    fn df(self, x: f32, _y: f32) -> f32 {
        x.cos()
    }
}

fn tensor(fx: &Fixture, name: &str) -> Tensor {
    let (shape, data) = fx.get(name);
    Tensor::from_vec(data.clone(), shape)
}

fn build(fx: &Fixture, params: &[Tensor]) -> Box<dyn Optimizer> {
    let h = &fx.config["all_hyperparameters"];
    let f = |k: &str| {
        h[k].as_f64()
            .unwrap_or_else(|| panic!("hyperparameter {k}"))
    };
    let b = |k: &str| {
        h[k].as_bool()
            .unwrap_or_else(|| panic!("hyperparameter {k}"))
    };
    let betas = || {
        (
            h["betas"][0].as_f64().unwrap(),
            h["betas"][1].as_f64().unwrap(),
        )
    };
    match fx.config["optimizer"].as_str().unwrap() {
        "SGD" => Box::new(
            Sgd::new(
                params,
                SgdConfig {
                    lr: f("lr"),
                    momentum: f("momentum"),
                    dampening: f("dampening"),
                    weight_decay: f("weight_decay"),
                    nesterov: b("nesterov"),
                },
            )
            .unwrap(),
        ),
        "Adam" => Box::new(
            Adam::new(
                params,
                AdamConfig {
                    lr: f("lr"),
                    betas: betas(),
                    eps: f("eps"),
                    weight_decay: f("weight_decay"),
                    amsgrad: b("amsgrad"),
                },
            )
            .unwrap(),
        ),
        "AdamW" => Box::new(
            AdamW::new(
                params,
                AdamWConfig {
                    lr: f("lr"),
                    betas: betas(),
                    eps: f("eps"),
                    weight_decay: f("weight_decay"),
                    amsgrad: b("amsgrad"),
                },
            )
            .unwrap(),
        ),
        "RMSprop" => Box::new(
            RmsProp::new(
                params,
                RmsPropConfig {
                    lr: f("lr"),
                    alpha: f("alpha"),
                    eps: f("eps"),
                    weight_decay: f("weight_decay"),
                    momentum: f("momentum"),
                    centered: b("centered"),
                },
            )
            .unwrap(),
        ),
        "Adagrad" => Box::new(
            Adagrad::new(
                params,
                AdagradConfig {
                    lr: f("lr"),
                    lr_decay: f("lr_decay"),
                    weight_decay: f("weight_decay"),
                    initial_accumulator_value: f("initial_accumulator_value"),
                    eps: f("eps"),
                },
            )
            .unwrap(),
        ),
        other => panic!("unknown optimizer {other}"),
    }
}

/// loss = Σ(a0·p0² + c0·p0) + Σ(a1·sin p1 + c1·p1²), through gradflow's autograd.
fn loss(fx: &Fixture, p0: &Tensor, p1: &Tensor) -> Tensor {
    let (a0, c0, a1, c1) = (
        tensor(fx, "a0"),
        tensor(fx, "c0"),
        tensor(fx, "a1"),
        tensor(fx, "c1"),
    );
    let l0 = a0.mul(&p0.mul(p0)).add(&c0.mul(p0)).sum_all();
    let l1 = a1.mul(&p1.map(Sin)).add(&c1.mul(&p1.mul(p1))).sum_all();
    l0.add(&l1)
}

const RTOL: f32 = 1e-5;
const ATOL: f32 = 1e-6;

fn check(what: &str, actual: &[f32], expected: &[f32]) -> f64 {
    for (i, (a, e)) in actual.iter().zip(expected).enumerate() {
        assert!(
            (a - e).abs() <= ATOL + RTOL * e.abs(),
            "{what}[{i}]: got {a}, PyTorch {e} (rel {:e})",
            (a - e).abs() / e.abs()
        );
    }
    max_rel(actual, expected, 1e-3)
}

fn trajectory(name: &str) {
    let fx = Fixture::load(name);
    let steps = fx.config["steps"].as_u64().unwrap() as usize;
    let p0 = tensor(&fx, "step0.p0").requires_grad_();
    let p1 = tensor(&fx, "step0.p1").requires_grad_();
    let mut opt = build(&fx, &[p0.clone(), p1.clone()]);
    let (mut worst_grad, mut worst_param) = (0.0f64, 0.0f64);
    let losses = &fx.get("loss").1;
    for t in 1..=steps {
        opt.zero_grad();
        let l = loss(&fx, &p0, &p1);
        let lv = l.item();
        assert!(
            (lv - losses[t - 1]).abs() <= 1e-5 * losses[t - 1].abs() + 1e-5,
            "{name} step {t}: loss {lv}, PyTorch {}",
            losses[t - 1]
        );
        l.backward();
        for (k, p) in [&p0, &p1].iter().enumerate() {
            let g = p.grad().unwrap().to_vec();
            let e = &fx.get(&format!("step{t}.dp{k}")).1;
            worst_grad = worst_grad.max(check(&format!("{name} step{t}.dp{k}"), &g, e));
        }
        opt.step();
        for (k, p) in [&p0, &p1].iter().enumerate() {
            let e = &fx.get(&format!("step{t}.p{k}")).1;
            worst_param = worst_param.max(check(&format!("{name} step{t}.p{k}"), &p.to_vec(), e));
        }
    }
    eprintln!(
        "{name}: own gradients: max rel err grads {worst_grad:.2e}, params {worst_param:.2e}"
    );

    // The optimizer alone, on PyTorch's gradients.
    let q0 = tensor(&fx, "step0.p0").requires_grad_();
    let q1 = tensor(&fx, "step0.p1").requires_grad_();
    let mut opt = build(&fx, &[q0.clone(), q1.clone()]);
    let mut worst = 0.0f64;
    for t in 1..=steps {
        q0.set_grad(Some(tensor(&fx, &format!("step{t}.dp0"))));
        q1.set_grad(Some(tensor(&fx, &format!("step{t}.dp1"))));
        opt.step();
        for (k, q) in [&q0, &q1].iter().enumerate() {
            let e = &fx.get(&format!("step{t}.p{k}")).1;
            worst = worst.max(check(
                &format!("{name} (torch grads) step{t}.p{k}"),
                &q.to_vec(),
                e,
            ));
        }
    }
    eprintln!("{name}: PyTorch gradients: max rel err params {worst:.2e}");
    if fx.config["optimizer"] == "SGD" {
        // SGD's update is a chain of PyTorch `add(x, alpha=a)` calls, each one fused
        // multiply-add on the CPU; we do the same, so on PyTorch's gradients the whole
        // 25-step trajectory is reproduced bit for bit.
        assert_eq!(
            worst, 0.0,
            "{name}: SGD on PyTorch's gradients should be bit-exact"
        );
    }
}

macro_rules! fixture_tests {
    ($($test:ident => $file:literal),* $(,)?) => {
        $(#[test] fn $test() { trajectory($file); })*
    };
}

fixture_tests! {
    sgd_matches_pytorch => "optim_sgd",
    sgd_momentum_matches_pytorch => "optim_sgd_momentum",
    sgd_dampening_matches_pytorch => "optim_sgd_dampening",
    sgd_nesterov_matches_pytorch => "optim_sgd_nesterov",
    sgd_weight_decay_matches_pytorch => "optim_sgd_wd",
    adam_matches_pytorch => "optim_adam",
    adam_amsgrad_matches_pytorch => "optim_adam_amsgrad",
    adam_weight_decay_matches_pytorch => "optim_adam_wd",
    adamw_matches_pytorch => "optim_adamw",
    rmsprop_matches_pytorch => "optim_rmsprop",
    rmsprop_centered_momentum_matches_pytorch => "optim_rmsprop_centered_momentum",
    adagrad_matches_pytorch => "optim_adagrad",
}
