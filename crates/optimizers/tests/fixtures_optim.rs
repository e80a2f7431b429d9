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

use gradflow_optimizers::*;
use gradflow_tensor::{Elementwise, Saved, Tensor};
use gradflow_test_support::{Fixture, Worst, assert_slice_close, fixture};

#[derive(Clone, Copy)]
struct Sin;

impl Elementwise for Sin {
    const NAME: &'static str = "sin";
    const SAVES: Saved = Saved::Input;
    fn f(self, x: f32) -> f32 {
        x.sin()
    }
    fn df(self, x: f32) -> f32 {
        x.cos()
    }
}

/// The optimizer running `rule` over `params`, boxed.
fn boxed<R: UpdateRule + 'static>(params: &[Tensor], rule: R) -> Box<dyn Optimizer> {
    Box::new(Engine::<R>::new(params, rule).unwrap())
}

/// The optimizer the fixture ran, from its `all_hyperparameters` (PyTorch's param group).
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
    let adam = |decoupled_weight_decay| AdamConfig {
        lr: f("lr"),
        betas: (
            h["betas"][0].as_f64().unwrap(),
            h["betas"][1].as_f64().unwrap(),
        ),
        eps: f("eps"),
        weight_decay: f("weight_decay"),
        amsgrad: b("amsgrad"),
        decoupled_weight_decay,
    };
    match fx.config["optimizer"].as_str().unwrap() {
        "SGD" => boxed(
            params,
            SgdConfig {
                lr: f("lr"),
                momentum: f("momentum"),
                dampening: f("dampening"),
                weight_decay: f("weight_decay"),
                nesterov: b("nesterov"),
            },
        ),
        "Adam" => boxed(params, adam(false)),
        "AdamW" => boxed(params, adam(true)),
        "RMSprop" => boxed(
            params,
            RmsPropConfig {
                lr: f("lr"),
                alpha: f("alpha"),
                eps: f("eps"),
                weight_decay: f("weight_decay"),
                momentum: f("momentum"),
                centered: b("centered"),
            },
        ),
        "Adagrad" => boxed(
            params,
            AdagradConfig {
                lr: f("lr"),
                lr_decay: f("lr_decay"),
                weight_decay: f("weight_decay"),
                initial_accumulator_value: f("initial_accumulator_value"),
                eps: f("eps"),
            },
        ),
        other => panic!("unknown optimizer {other}"),
    }
}

/// loss = Σ(a0·p0² + c0·p0) + Σ(a1·sin p1 + c1·p1²), through gradflow's autograd.
fn loss(fx: &Fixture, p0: &Tensor, p1: &Tensor) -> Tensor {
    let (a0, c0, a1, c1) = (
        fx.tensor("a0"),
        fx.tensor("c0"),
        fx.tensor("a1"),
        fx.tensor("c1"),
    );
    let l0 = a0.mul(&p0.mul(p0)).add(&c0.mul(p0)).sum_all();
    let l1 = a1.mul(&p1.map(Sin)).add(&c1.mul(&p1.mul(p1))).sum_all();
    l0.add(&l1)
}

/// f32 updates that differ from PyTorch's only in rounding (a few ulp per step, compounded
/// over 25 steps) stay far inside 1e-5 relative; atol 1e-6 covers parameters near zero.
const RTOL: f64 = 1e-5;
const ATOL: f64 = 1e-6;

/// The worse of two [`Worst`]s.
fn worse(a: Worst, b: Worst) -> Worst {
    Worst {
        abs: a.abs.max(b.abs),
        of_tolerance: a.of_tolerance.max(b.of_tolerance),
    }
}

fn trajectory(name: &str) {
    let fx = fixture!(name);
    let steps = fx.cfg_usize("steps");
    let p0 = fx.tensor("step0.p0").requires_grad_();
    let p1 = fx.tensor("step0.p1").requires_grad_();
    let mut opt = build(&fx, &[p0.clone(), p1.clone()]);
    let (mut worst_grad, mut worst_param) = (Worst::default(), Worst::default());
    let losses = fx.values("loss");
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
            let key = format!("step{t}.dp{k}");
            let g = p.grad().unwrap().to_vec();
            let w = assert_slice_close(&format!("{name} {key}"), &g, fx.values(&key), RTOL, ATOL);
            worst_grad = worse(worst_grad, w);
        }
        opt.step();
        for (k, p) in [&p0, &p1].iter().enumerate() {
            let key = format!("step{t}.p{k}");
            let w = assert_slice_close(
                &format!("{name} {key}"),
                &p.to_vec(),
                fx.values(&key),
                RTOL,
                ATOL,
            );
            worst_param = worse(worst_param, w);
        }
    }
    eprintln!(
        "{name}: own gradients: grads max |diff| {:.2e} ({:.2} of tolerance), params max \
         |diff| {:.2e} ({:.2} of tolerance)",
        worst_grad.abs, worst_grad.of_tolerance, worst_param.abs, worst_param.of_tolerance
    );

    // The optimizer alone, on PyTorch's gradients.
    let q0 = fx.tensor("step0.p0").requires_grad_();
    let q1 = fx.tensor("step0.p1").requires_grad_();
    let mut opt = build(&fx, &[q0.clone(), q1.clone()]);
    let mut worst = Worst::default();
    for t in 1..=steps {
        q0.set_grad(Some(fx.tensor(&format!("step{t}.dp0"))));
        q1.set_grad(Some(fx.tensor(&format!("step{t}.dp1"))));
        opt.step();
        for (k, q) in [&q0, &q1].iter().enumerate() {
            let key = format!("step{t}.p{k}");
            let w = assert_slice_close(
                &format!("{name} (torch grads) {key}"),
                &q.to_vec(),
                fx.values(&key),
                RTOL,
                ATOL,
            );
            worst = worse(worst, w);
        }
    }
    eprintln!(
        "{name}: PyTorch gradients: params max |diff| {:.2e} ({:.2} of tolerance)",
        worst.abs, worst.of_tolerance
    );
    if fx.config["optimizer"] == "SGD" {
        // SGD's update is a chain of PyTorch `add(x, alpha=a)` calls, each one fused
        // multiply-add on the CPU; we do the same, so on PyTorch's gradients the whole
        // 25-step trajectory is reproduced bit for bit.
        assert_eq!(
            worst.abs, 0.0,
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
