"""Training parity with asteroid's LSTMTasNet: K full training steps from the same weights on the same batches
(PIT neg-SI-SDR, torch Adam with L2 decay on every parameter, global-norm clipping) land on the same weights."""
import pytest

from tests import training_parity as parity
from tests.utils.separation.asteroid_parity import asteroid_models, assert_three_training_steps_match
from tasnet.src.network import TasNet


@pytest.mark.slow
def test_three_training_steps_match_asteroid():
    torch = parity.torch_threads()
    torch.manual_seed(0)
    reference = asteroid_models().LSTMTasNet(n_src=2, n_filters=16, kernel_size=8, stride=4, hid_size=16, n_layers=2,
                                              dropout=0.0)
    assert_three_training_steps_match(reference, "LSTMTasNet", TasNet)


def test_initial_weights_follow_asteroid():
    """Fresh weights have asteroid's statistics: xavier-normal filterbanks, torch-default LSTM / Linear."""
    from tests.utils.separation.asteroid_parity import init_statistics_check
    torch = parity.torch_threads()
    torch.manual_seed(0)
    reference = asteroid_models().LSTMTasNet(n_src=2, n_filters=64, kernel_size=16, stride=8, hid_size=64, n_layers=2)
    problems, compared = init_statistics_check(reference, "LSTMTasNet", TasNet)
    assert compared >= 8 and not problems, problems
