"""utils/optimizers.TorchAdam against torch.optim.Adam / AdamW on a toy regression, through the trainer's
build_optimizer and TrainStep: Adam decaying every parameter, AdamW decaying only the weight matrix."""
import numpy as np
import pytest

from tests import training_parity as parity


def toy_steps(optimizer_name, rule, steps=4):
    """(our weight, bias after ``steps``, torch's, losses ours, torch's) for a Dense(3 -> 5) on a squared loss."""
    torch = parity.torch_threads()
    import mindspore as ms
    from mindspore import nn
    from utils.context import init_context
    from utils.trainer import TrainStep, build_optimizer
    init_context("CPU", seed=0)
    rng = np.random.default_rng(0)
    weight, bias = rng.standard_normal((5, 3)).astype(np.float32), rng.standard_normal(5).astype(np.float32)
    inputs = [(rng.standard_normal((8, 3)).astype(np.float32),) for _ in range(steps)]
    dense = nn.Dense(3, 5)
    dense.weight.set_data(ms.Tensor(weight))
    dense.bias.set_data(ms.Tensor(bias))

    class SquaredOutput(nn.Cell):
        def __init__(self):
            super().__init__(auto_prefix=False)
            self.dense = dense

        def construct(self, x):
            return (self.dense(x) ** 2).mean()

    cfg = {"optimizer": optimizer_name, "lr": 0.01, "weight_decay": 0.1, "weight_decay_params": rule}
    optimizer = build_optimizer(dense.trainable_params(), cfg)
    ours_losses = parity.ours_train(TrainStep(SquaredOutput(), optimizer, 0.5), optimizer, inputs)

    linear = torch.nn.Linear(3, 5)
    with torch.no_grad():
        linear.weight.copy_(torch.from_numpy(weight))
        linear.bias.copy_(torch.from_numpy(bias))
    groups = [{"params": [linear.weight]}, {"params": [linear.bias], "weight_decay": 0.1 if rule == "all" else 0.0}]
    torch_class = torch.optim.AdamW if optimizer_name == "adamw" else torch.optim.Adam
    losses, state, _ = parity.torch_train(linear, lambda model, batch: (model(torch.from_numpy(batch[0])) ** 2).mean(),
                                          inputs, lambda _: torch_class(groups, lr=0.01, weight_decay=0.1), 0.5)
    return dense.weight.asnumpy(), dense.bias.asnumpy(), state["weight"], state["bias"], ours_losses, losses


@pytest.mark.slow
@pytest.mark.parametrize("optimizer_name, rule", [("adam", "all"), ("adamw", "matrices")])
def test_matches_torch(optimizer_name, rule):
    """With "matrices" torch's bias group has no decay: a rule ignored would move the bias ~1e-3 away."""
    weight, bias, torch_weight, torch_bias, losses, torch_losses = toy_steps(optimizer_name, rule)
    # 4 float32 steps of lr 0.01: differences of a few ulps of the weights (~1e-7), far below an update (1e-2)
    np.testing.assert_allclose(weight, torch_weight, rtol=0, atol=2e-6)
    np.testing.assert_allclose(bias, torch_bias, rtol=0, atol=2e-6)
    np.testing.assert_allclose(losses, torch_losses, rtol=2e-6)


def test_unknown_rule_is_an_error():
    from mindspore import nn
    from utils.optimizers import TorchAdam
    with pytest.raises(ValueError, match="weight_decay_params must be one of all, matrices"):
        TorchAdam(nn.Dense(2, 2).trainable_params(), weight_decay_params="no_bias")
