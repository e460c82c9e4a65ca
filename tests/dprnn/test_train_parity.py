"""Training parity with asteroid's DPRNNTasNet: K full training steps from the same weights on the same batches
(PIT neg-SI-SDR, torch Adam with L2 decay on every parameter, global-norm clipping) land on the same weights."""
import pytest

from dprnn.src.network import DPRNN
from tests import training_parity as parity
from tests.utils.separation.asteroid_parity import asteroid_models, assert_three_training_steps_match


@pytest.mark.slow
def test_three_training_steps_match_asteroid():
    torch = parity.torch_threads()
    torch.manual_seed(0)
    reference = asteroid_models().DPRNNTasNet(n_src=2, n_filters=16, kernel_size=4, stride=2, bn_chan=16, hid_size=16,
                                              chunk_size=20, n_repeats=2, dropout=0.0)
    assert_three_training_steps_match(reference, "DPRNNTasNet", DPRNN)


def test_initial_weights_follow_asteroid():
    """Fresh weights have asteroid's statistics: xavier-normal filterbanks, torch-default LSTM / Linear / 1x1
    convs, gLN ones / zeros, PReLU 0.25."""
    from tests.utils.separation.asteroid_parity import init_statistics_check
    torch = parity.torch_threads()
    torch.manual_seed(0)
    reference = asteroid_models().DPRNNTasNet(n_src=2, n_filters=64, kernel_size=16, stride=8, bn_chan=64,
                                              hid_size=64, chunk_size=20, n_repeats=1)
    problems, compared = init_statistics_check(reference, "DPRNNTasNet", DPRNN)
    assert compared >= 10 and not problems, problems
