"""AAM-softmax: target logit = s*cos(theta + m), others s*cos(theta), margin changeable at run time."""
import mindspore as ms
import numpy as np
import pytest

from ecapa_tdnn.src.loss import AAMSoftmaxHead


def _angles(head, embeddings):
    weight = head.weight.asnumpy()
    cosine = (embeddings / np.linalg.norm(embeddings, axis=1, keepdims=True)) @ \
        (weight / np.linalg.norm(weight, axis=1, keepdims=True)).T
    return np.arccos(np.clip(cosine, -1, 1)), cosine


@pytest.fixture(scope="module", params=[ms.GRAPH_MODE, ms.PYNATIVE_MODE])
def mode(request):
    ms.set_context(mode=request.param)
    yield request.param
    ms.set_context(mode=ms.GRAPH_MODE)


def test_target_logit_has_margin_others_do_not(mode):
    ms.set_seed(0)
    np.random.seed(0)
    head = AAMSoftmaxHead(16, 5, margin=0.2, scale=30.0)
    embeddings = np.random.default_rng(0).normal(size=(6, 16)).astype(np.float32)
    labels = np.array([0, 1, 2, 3, 4, 0], np.int32)
    theta, cosine = _angles(head, embeddings)
    logits = head(ms.Tensor(embeddings), ms.Tensor(labels)).asnumpy()
    rows = np.arange(6)
    # Random 16-d vectors sit near 90 degrees, where theta + m < pi: the plain ArcFace formula applies.
    np.testing.assert_allclose(logits[rows, labels], 30.0 * np.cos(theta[rows, labels] + 0.2), atol=1e-4)
    others = np.ones_like(logits, bool)
    others[rows, labels] = False
    np.testing.assert_allclose(logits[others], 30.0 * cosine[others], atol=1e-4)


def test_set_margin_takes_effect_without_rebuilding():
    ms.set_context(mode=ms.GRAPH_MODE)
    head = AAMSoftmaxHead(8, 3, margin=0.0, scale=10.0)
    embeddings = ms.Tensor(np.random.default_rng(1).normal(size=(3, 8)).astype(np.float32))
    labels = ms.Tensor(np.array([0, 1, 2], np.int32))
    theta, _ = _angles(head, embeddings.asnumpy())
    first = head(embeddings, labels).asnumpy()
    np.testing.assert_allclose(first[np.arange(3), [0, 1, 2]], 10.0 * np.cos(theta[np.arange(3), [0, 1, 2]]),
                               atol=1e-4)
    head.set_margin(0.35)
    second = head(embeddings, labels).asnumpy()
    np.testing.assert_allclose(second[np.arange(3), [0, 1, 2]],
                               10.0 * np.cos(theta[np.arange(3), [0, 1, 2]] + 0.35), atol=1e-4)


def test_margin_fallbacks_for_large_angles():
    """Past theta = pi - m the strict version uses cos(theta) - m*sin(m); easy margin keeps cos(theta)
    wherever cos(theta) <= 0."""
    ms.set_context(mode=ms.GRAPH_MODE)
    margin = 0.5
    strict = AAMSoftmaxHead(2, 1, margin=margin, scale=1.0)
    easy = AAMSoftmaxHead(2, 1, margin=margin, scale=1.0, easy_margin=True)
    for head in (strict, easy):
        head.weight.set_data(ms.Tensor(np.array([[1.0, 0.0]], np.float32)))
    angles = np.array([0.3, 2.0, 3.0])  # cos > 0; cos < 0 but theta < pi - m; theta > pi - m
    embeddings = ms.Tensor(np.stack([np.cos(angles), np.sin(angles)], 1).astype(np.float32))
    labels = ms.Tensor(np.zeros(3, np.int32))
    np.testing.assert_allclose(strict(embeddings, labels).asnumpy()[:, 0],
                               [np.cos(0.8), np.cos(2.5), np.cos(3.0) - margin * np.sin(margin)], atol=1e-5)
    np.testing.assert_allclose(easy(embeddings, labels).asnumpy()[:, 0],
                               [np.cos(0.8), np.cos(2.0), np.cos(3.0)], atol=1e-5)


def test_loss_cell_keeps_network_names_and_prefixes_the_head():
    from ecapa_tdnn.src.loss import SpeakerClassifierWithLoss
    from ecapa_tdnn.src.network import ECAPATDNN
    network = ECAPATDNN(channels=[16, 16, 16, 16, 48], attention_channels=8, se_channels=8, embedding_dim=8)
    bare_names = [p.name for p in network.get_parameters()]
    with_loss = SpeakerClassifierWithLoss(network, AAMSoftmaxHead(8, 3))
    names = [p.name for p in with_loss.get_parameters()]
    assert names[:len(bare_names)] == bare_names and "blocks.0.conv.conv.weight" in names
    assert sorted(names[len(bare_names):]) == ["head.margin", "head.weight"]
