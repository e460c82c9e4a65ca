"""End to end: files -> crops -> log-mel -> small ECAPA-TDNN + AAM, trained in graph mode until it
classifies its training batch perfectly (with BatchNorm in inference mode)."""
import time

import mindspore as ms
import numpy as np
import pytest
from mindspore import nn

from ecapa_tdnn.src.dataset import VoxCelebTrainSet, collate
from ecapa_tdnn.src.loss import AAMSoftmaxHead, SpeakerClassifierWithLoss
from ecapa_tdnn.src.network import ECAPATDNN
from utils.audio import write_audio

SR = 16000
SPEAKER_F0_HZ = (110.0, 150.0, 200.0, 260.0)


def _voice(speaker, rng, seconds=1.0):
    """A harmonic "voice": the speaker fixes f0 and the harmonic amplitudes (timbre); each utterance
    gets its own f0 offset, vibrato, phases and breath noise."""
    timbre = np.random.default_rng(100 + speaker).uniform(0.1, 1.0, 20)
    t = np.arange(int(seconds * SR)) / SR
    f0 = SPEAKER_F0_HZ[speaker] * rng.uniform(0.95, 1.05) * (1 + 0.02 * np.sin(2 * np.pi * rng.uniform(3, 6) * t))
    phase = 2 * np.pi * np.cumsum(f0) / SR
    wave = sum(amp * np.sin(k * phase + rng.uniform(0, 2 * np.pi)) for k, amp in enumerate(timbre, start=1)
               if k * SPEAKER_F0_HZ[speaker] < 7000)
    wave = wave + 0.3 * rng.normal(size=t.size)
    return 0.5 * wave / np.abs(wave).max()


@pytest.mark.slow
def test_small_ecapa_overfits_four_speakers(tmp_path):
    rng = np.random.default_rng(0)
    for speaker in range(4):
        for utt in range(4):
            write_audio(str(tmp_path / f"id1000{speaker}" / "video000001" / f"{utt + 1:05d}.wav"),
                        _voice(speaker, rng), SR)
    dataset = VoxCelebTrainSet(str(tmp_path), SR, crop_seconds=(0.5, 0.8))
    feats, lengths, labels = collate([dataset.get(i, np.random.default_rng(i)) for i in range(len(dataset))])
    assert len(set(lengths.tolist())) > 1  # a padded batch: masking is exercised

    ms.set_context(mode=ms.GRAPH_MODE)
    ms.set_seed(0)
    network = ECAPATDNN(input_dim=80, channels=[64, 64, 64, 64, 192], attention_channels=32, se_channels=16,
                        embedding_dim=32)
    head = AAMSoftmaxHead(32, dataset.num_classes, margin=0.2, scale=30.0)
    with_loss = SpeakerClassifierWithLoss(network, head)
    step = nn.TrainOneStepCell(with_loss, nn.Adam(with_loss.trainable_params(), learning_rate=3e-3))
    step.set_inputs(ms.Tensor(shape=[None, 80, None], dtype=ms.float32), ms.Tensor(shape=[None], dtype=ms.int32),
                    ms.Tensor(shape=[None], dtype=ms.int32))
    step.set_train()
    inputs = (ms.Tensor(feats), ms.Tensor(lengths), ms.Tensor(labels))
    start = time.time()
    losses = [float(step(*inputs).asnumpy()) for _ in range(30)]
    elapsed = time.time() - start

    network.set_train(False)
    cosine = head.cosine(network(ms.Tensor(feats), ms.Tensor(lengths))).asnumpy()
    accuracy = float(np.mean(cosine.argmax(axis=1) == labels))
    print(f"losses {np.round(losses[:3], 2)} ... {losses[-1]:.3f}, accuracy {accuracy:.2f}, 30 steps in {elapsed:.1f} s")
    assert losses[-1] < 0.3 * losses[0]
    assert accuracy == 1.0
