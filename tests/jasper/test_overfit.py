"""End to end: synthetic speech -> features -> Jasper -> CTC loss -> Novograd -> greedy CER."""
import time

import numpy as np
import pytest

from mindspore import Tensor, nn

from jasper.src.dataset import collate
from jasper.src.decoder import greedy_decode
from jasper.src.network import JasperNet, JasperWithCTCLoss
from jasper.src.novograd import Novograd
from jasper.src.text import encode
from utils.context import init_context
from utils.features import LogMelExtractor
from utils.metrics import char_error_rate

TEXTS = ["hello world", "good morning", "yes please", "thank you", "open the door", "big red fox"]
SMALL_BLOCKS = [dict(filters=128, kernel=11, stride=2), dict(filters=128, kernel=11, repeat=2, residual=True),
                dict(filters=128, kernel=11, repeat=2, residual=True), dict(filters=192, kernel=1)]


def ctc_nll(log_probs, labels, blank):
    """-ln P(labels | log_probs [T, C]) by the CTC forward recursion in numpy."""
    extended = [blank]
    for label in labels:
        extended += [int(label), blank]
    alpha = np.full(len(extended), -np.inf)
    alpha[0], alpha[1] = log_probs[0, blank], log_probs[0, extended[1]]
    for t in range(1, len(log_probs)):
        previous = alpha.copy()
        for s in range(len(extended)):
            terms = [previous[s]] + ([previous[s - 1]] if s > 0 else [])
            if s > 1 and extended[s] != blank and extended[s] != extended[s - 2]:
                terms.append(previous[s - 2])
            alpha[s] = np.logaddexp.reduce(terms) + log_probs[t, extended[s]]
    return -np.logaddexp(alpha[-1], alpha[-2])


@pytest.fixture(scope="module")
def synthetic_batch():
    synthesis = pytest.importorskip("utils.tts")
    synthesizer, speaker = synthesis.Synthesizer(), synthesis.make_speaker(3)
    extractor = LogMelExtractor()
    items = [(extractor(synthesizer.synthesize(text, speaker)), np.array(encode(text), np.int32)) for text in TEXTS]
    return [Tensor(array) for array in collate(items)]


def test_ctc_loss_is_the_mean_nll_or_the_mean_of_length_normalised_nll(synthetic_batch):
    init_context("CPU", seed=1)
    net = JasperNet(in_features=64, blocks=SMALL_BLOCKS[:1] + SMALL_BLOCKS[-1:])
    net.set_train(False)
    log_probs, out_lengths = (x.asnumpy() for x in net(*synthetic_batch[:2]))
    labels, label_lengths = synthetic_batch[2].asnumpy(), synthetic_batch[3].asnumpy()
    nll = np.array([ctc_nll(log_probs[b, :out_lengths[b]], labels[b, :label_lengths[b]], 28)
                    for b in range(len(labels))])
    # NVIDIA's Jasper loss (the default): mean NLL; per_label: torch's reduction="mean"
    assert float(JasperWithCTCLoss(net)(*synthetic_batch)) == pytest.approx(nll.mean(), rel=1e-4)
    assert float(JasperWithCTCLoss(net, per_label=True)(*synthetic_batch)) == pytest.approx(
        np.mean(nll / label_lengths), rel=1e-4)


@pytest.mark.slow
@pytest.mark.parametrize("amp_level", ["O0", "O2"])
def test_overfits_a_handful_of_synthetic_utterances(synthetic_batch, amp_level):
    init_context("CPU", seed=0)
    net = JasperNet(in_features=64, blocks=SMALL_BLOCKS)
    optimizer = Novograd(net.trainable_params(), learning_rate=0.01, weight_decay=1e-3)
    if amp_level == "O0":
        step = nn.TrainOneStepCell(JasperWithCTCLoss(net), optimizer)
    else:  # float16 with the trainer's dynamic loss scale (overflow steps are skipped)
        from utils.amp import apply_amp_for_training
        from utils.trainer import LossScaledTrainStep
        with_loss = apply_amp_for_training(JasperWithCTCLoss(net), net, amp_level)
        step = LossScaledTrainStep(with_loss, optimizer, 2.0 ** 16)
    start = time.perf_counter()
    losses = [float(step(*synthetic_batch)) if amp_level == "O0" else float(step(*synthetic_batch)[0])
              for _ in range(100)]
    net.set_train(False)
    log_probs, out_lengths = net(*synthetic_batch[:2])
    hypotheses = greedy_decode(log_probs.asnumpy(), out_lengths.asnumpy())
    cer = char_error_rate(TEXTS, hypotheses)
    print(f"100 steps in {time.perf_counter() - start:.1f} s, loss {losses[0]:.2f} -> {losses[-1]:.4f}, "
          f"CER {cer:.3f}: {hypotheses}")
    assert losses[-1] < losses[0] / 20
    assert cer < 0.10
