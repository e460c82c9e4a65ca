"""Additive angular margin (AAM) softmax, used only for training.

logit_j = scale * cos(theta_j) for non-target classes and scale * cos(theta_y + margin) for the target,
theta being the angle between the L2-normalised embedding and the L2-normalised class weight
(Deng et al. 2019, ArcFace; SpeechBrain's ``AdditiveAngularMargin``). Without ``easy_margin`` the
target logit becomes ``cos(theta) - margin * sin(margin)`` once theta + margin would pass pi, which keeps
it monotonic in theta; with ``easy_margin`` the margin is applied only where cos(theta) > 0.
"""
import math

import utils.context  # noqa: F401  (must precede the mindspore import)

import mindspore as ms
import numpy as np
from mindspore import nn, ops

_COSINE_MARGIN = 1e-7  # cos(theta) is clamped to [-1 + this, 1 - this]


def l2_normalize(x, eps=1e-12):
    """Rows of x [N, D] divided by their L2 norm (at least ``eps``), as torch's F.normalize.

    Written with elementwise ops: MindSpore 2.10's CPU ``L2NormalizeGrad`` took 60 % of an ECAPA train
    step for the [1211, 192] class weights (7 s of a 4.3 s step under the profiler, bench/peers.py).
    """
    return x * ops.rsqrt(ops.maximum((x * x).sum(axis=1, keepdims=True), eps * eps))


class AAMSoftmaxHead(nn.Cell):
    """Class weights + angular margin.

    embedding_dim: size of the speaker embedding; n_classes: training speakers.
    margin: angle added to the target, radians; ``set_margin`` changes it between steps without
    recompiling (warm-up schedules). scale: logit scale s.
    construct(embeddings [B, D] float32, labels [B] int32) -> logits [B, n_classes] float32.
    """

    def __init__(self, embedding_dim, n_classes, margin=0.2, scale=30.0, easy_margin=False):
        super().__init__()
        self.scale = float(scale)
        self.easy_margin = bool(easy_margin)
        self.n_classes = int(n_classes)
        bound = math.sqrt(6.0 / (embedding_dim + n_classes))
        self.weight = ms.Parameter(ms.Tensor(np.random.uniform(-bound, bound, (n_classes, embedding_dim))
                                             .astype(np.float32)), name="weight")
        # A non-trainable parameter is read at run time, so changing it needs no new graph.
        self.margin = ms.Parameter(ms.Tensor(float(margin), ms.float32), name="margin", requires_grad=False)

    def set_margin(self, margin):
        """Use ``margin`` (radians) from the next step on."""
        self.margin.set_data(ms.Tensor(float(margin), ms.float32))

    def cosine(self, embeddings):
        """cos(theta) between embeddings [B, D] and every class weight -> [B, n_classes]."""
        return ops.matmul(l2_normalize(embeddings), l2_normalize(self.weight).T)

    def construct(self, embeddings, labels):
        # SpeechBrain's clamp: keeps sqrt() away from 0, whose gradient is infinite
        cosine = ops.clamp(self.cosine(embeddings), -1.0 + _COSINE_MARGIN, 1.0 - _COSINE_MARGIN)
        sine = ops.sqrt(1.0 - cosine * cosine)
        cos_m, sin_m = ops.cos(self.margin), ops.sin(self.margin)
        with_margin = cosine * cos_m - sine * sin_m
        if self.easy_margin:
            with_margin = ops.where(cosine > 0, with_margin, cosine)
        else:
            # cos(pi - m) is the last angle where adding m keeps the curve decreasing.
            with_margin = ops.where(cosine > -cos_m, with_margin, cosine - sin_m * self.margin)
        target = ops.one_hot(labels, self.n_classes, ms.Tensor(1.0, ms.float32), ms.Tensor(0.0, ms.float32))
        return self.scale * (target * with_margin + (1.0 - target) * cosine)


class SpeakerClassifierWithLoss(nn.Cell):
    """Embedding network + AAM head + cross entropy, the cell to wrap in ``nn.TrainOneStepCell``.

    The network keeps its own parameter names (so checkpoints load into a bare ``ECAPATDNN``); the head's
    become ``head.weight`` / ``head.margin``.
    construct(features [B, F, T] float32, lengths [B] int32 frames, labels [B] int32) -> mean loss (scalar).
    """

    def __init__(self, network, head):
        super().__init__(auto_prefix=False)
        self.network = network
        self.head = head
        if not head.weight.name.startswith("head."):
            head.update_parameters_name("head.")
        self.cross_entropy = nn.CrossEntropyLoss()

    def construct(self, features, lengths, labels):
        return self.cross_entropy(self.head(self.network(features, lengths), labels), labels)


def margin_warmup(final_margin, warmup_steps):
    """AAM margin schedule: linear from 0 at step 0 to ``final_margin`` (radians) at ``warmup_steps``, then
    constant (warmup_steps <= 0: always ``final_margin``). Returns ``fn(step) -> margin``."""
    final_margin, warmup_steps = float(final_margin), int(warmup_steps)

    def schedule(step):
        return final_margin if warmup_steps <= 0 else final_margin * min(1.0, step / warmup_steps)
    return schedule


def with_margin_schedule(lr_schedule, head, margin_schedule):
    """Wrap ``lr_schedule(step) -> lr`` so that each call also sets ``head``'s margin for that step.

    The trainer calls its lr schedule before every optimizer step, which makes this the per-step hook
    for the margin warm-up without a trainer change. The margin Parameter is written only when it moves.
    """
    current = [None]

    def schedule(step):
        margin = margin_schedule(step)
        if margin != current[0]:
            head.set_margin(margin)
            current[0] = margin
        return lr_schedule(step)
    return schedule
