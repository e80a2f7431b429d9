//! The layers: defaults match PyTorch's constructors, parameters carry PyTorch's names, and
//! each layer computes exactly its function.

use gradflow_activations::*;
use gradflow_tensor::{Module, Tensor};

fn x() -> Tensor {
    Tensor::from_vec(vec![-3.0, -0.5, 0.0, 0.25, 2.0, 30.0], &[1, 2, 3])
}

#[test]
fn defaults_are_pytorchs() {
    assert_eq!(LeakyRelu::default().negative_slope, 0.01); // nn.LeakyReLU(negative_slope=0.01)
    assert_eq!(Elu::default().alpha, 1.0); // nn.ELU(alpha=1.0)
    let sp = Softplus::default(); // nn.Softplus(beta=1.0, threshold=20.0)
    assert_eq!((sp.beta, sp.threshold), (1.0, 20.0));
    assert_eq!(Gelu::default().approximate, GeluApprox::None); // nn.GELU(approximate='none')
    let p = PRelu::default(); // nn.PReLU(num_parameters=1, init=0.25)
    assert_eq!(p.weight().shape(), &[1]);
    assert_eq!(p.weight().to_vec(), vec![0.25]);
    assert!(p.weight().requires_grad());
}

#[test]
fn layers_apply_their_functions_and_own_no_parameters() {
    let x = x();
    let layers: Vec<(Box<dyn Module>, Tensor)> = vec![
        (Box::new(Sigmoid), sigmoid(&x)),
        (Box::new(Tanh), tanh(&x)),
        (Box::new(Relu), relu(&x)),
        (Box::new(LeakyRelu::new(0.2)), leaky_relu(&x, 0.2)),
        (Box::new(Elu::new(0.5)), elu(&x, 0.5)),
        (Box::new(Selu), selu(&x)),
        (
            Box::new(Gelu::new(GeluApprox::Tanh)),
            gelu(&x, GeluApprox::Tanh),
        ),
        (Box::new(Silu), silu(&x)),
        (Box::new(Softplus::new(2.0, 10.0)), softplus(&x, 2.0, 10.0)),
        (Box::new(Mish), mish(&x)),
    ];
    for (layer, want) in layers {
        assert_eq!(layer.forward(&x).to_vec(), want.to_vec());
        assert!(layer.state_dict().is_empty());
    }
}

#[test]
fn prelu_weight_is_named_like_pytorch_and_learns_per_channel() {
    let layer = PReluConfig {
        num_parameters: 2,
        init: 0.25,
    }
    .init();
    let sd = layer.state_dict();
    assert_eq!(sd.len(), 1);
    assert_eq!(sd[0].0, "weight");
    assert_eq!(layer.num_parameters(), 2);

    // x (1, 2, 3): channel 0 = [−3, −0.5, 0], channel 1 = [0.25, 2, 30].
    let y = layer.forward(&x());
    assert_eq!(y.to_vec(), vec![-0.75, -0.125, 0.0, 0.25, 2.0, 30.0]);
    y.sum_all().backward();
    // ∂/∂a_c = Σ x over the non-positive elements of channel c.
    assert_eq!(layer.weight().grad().unwrap().to_vec(), vec![-3.5, 0.0]);
    layer.zero_grad();
    assert!(
        layer
            .weight()
            .grad()
            .is_none_or(|g| g.to_vec() == vec![0.0, 0.0])
    );
}

#[test]
#[should_panic(expected = "prelu: incompatible shapes [1, 2, 3] and [4]")]
fn prelu_layer_with_wrong_channel_count_panics() {
    PRelu::new(4, 0.25).forward(&x());
}
