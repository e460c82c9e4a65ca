"""The training loop every model uses.

A model provides a loss Cell (``net_with_loss(*batch) -> scalar``), its network, a ``BatchLoader``
and a ``validate(network) -> {metric: value}`` function; the trainer does the rest:

* one compiled train step (``TrainStep``: a ``TrainOneStepCell`` with global-norm gradient
  clipping; ``LossScaledTrainStep`` when a loss scale is on), one static graph per batch shape or one
  dynamic-shape graph for all (``train.graph_shapes``, below);
* mixed precision (``train.amp_level`` O0-O3, ``train.amp_dtype``; see ``utils.amp``) with a dynamic or
  fixed loss scale whose state is saved in the checkpoints; overflow steps are skipped and counted;
* the learning rate: ``lr_schedule(global_step)`` (constant ``train.lr`` by default) times a factor
  halved after ``train.lr_halving_patience`` epochs without improvement;
* validation after every epoch, early stop after ``train.early_stop_patience`` such epochs;
* ``best.ckpt`` and ``last.ckpt`` with the full training state (see ``utils.checkpoint``), resume
  from ``last.ckpt`` continuing bit-identically, even mid-epoch;
* optional EMA of the weights (``train.ema_decay`` > 0), saved in the checkpoints;
* data parallel: every step's batch is zero-padded to the largest shape over the ranks, so the
  ranks together compute on exactly the tensors of one process holding the global batch;
* a tqdm bar per epoch, ``train_log.jsonl`` with one line per epoch, ``train.max_steps`` to stop
  early in smoke runs; only rank 0 writes.

``train:`` keys read here: epochs, lr, optimizer (adam|adamw), weight_decay, weight_decay_params (all|matrices),
betas, eps, clip_grad_norm, lr_halving_patience, early_stop_patience, max_steps, amp_level, amp_dtype, loss_scale,
loss_scale_init, loss_scale_window, ema_decay, graph_shapes, max_static_shapes (missing ones take the defaults of
``TRAIN_DEFAULTS``).

graph_shapes, max_static_shapes (missing ones take the defaults of ``TRAIN_DEFAULTS``).

graph_shapes "static" (default) compiles the train step for each distinct batch shape instead of once for
dynamic shapes: a dynamic-shape graph re-plans every kernel (shape inference, oneDNN primitive creation) at
every step, which cost 30 % of a DPRNN or ECAPA-TDNN step on CPU (bench/peers.py). Fixed training crops give
one shape; after ``max_static_shapes`` distinct shapes the step switches to dynamic shapes for good (one more
compile), so variable-length batches cost a few compiles at most. "dynamic" (Jasper's length buckets) compiles
once for every shape.
"""
import json
import logging
import math
import os
import time

import numpy as np
from tqdm import tqdm

import utils.context  # noqa: F401  (environment before mindspore)
import mindspore as ms
from mindspore import nn, ops

from utils.amp import (DEFAULT_INITIAL_SCALE, DEFAULT_SCALE_WINDOW, amp_settings, apply_amp_for_training,
                       check_device_supports, fp32_output_view, loss_scale_settings)
from utils.checkpoint import TrainState, load_into, load_training_checkpoint, read_weights, save_training_checkpoint
from utils.context import run_info
from utils.distributed import all_reduce_sum, pad_to_common_shape
from utils.modules import squared_norm

TRAIN_DEFAULTS = dict(epochs=10, lr=1e-3, optimizer="adam", weight_decay=0.0, weight_decay_params="all",
                      betas=[0.9, 0.999], eps=1e-8,
                      clip_grad_norm=5.0, lr_halving_patience=0, early_stop_patience=0, max_steps=0,
                      amp_level="O0", amp_dtype="float16", loss_scale="auto", loss_scale_init=DEFAULT_INITIAL_SCALE,
                      loss_scale_window=DEFAULT_SCALE_WINDOW, ema_decay=0.0, graph_shapes="static",
                      max_static_shapes=3)
GRAPH_SHAPES = ("static", "dynamic")

LOG = logging.getLogger("zoo.trainer")


_square_sum = ops.MultitypeFuncGraph("square_sum")
_scaled = ops.MultitypeFuncGraph("scaled")
_hyper_map = ops.HyperMap()


@_square_sum.register("Tensor")
def _square_sum_of(grad):
    return squared_norm(grad)


@_scaled.register("Tensor", "Tensor")
def _scaled_by(factor, grad):
    return grad * ops.cast(factor, grad.dtype)


def clip_by_global_norm(grads, clip_norm):
    """grads scaled by clip_norm / max(global L2 norm, clip_norm): ``ops.clip_by_global_norm``'s rule, which
    multiplies and then divides every gradient by tensors ([1]) and sums squares with ReduceSum; here one
    product per gradient by the scalar factor and the squares summed as dot products."""
    global_norm = ops.sqrt(ops.addn(_hyper_map(_square_sum, grads)))
    factor = clip_norm / ops.maximum(global_norm, clip_norm)
    return _hyper_map(ops.partial(_scaled, factor), grads)


class TrainStep(nn.TrainOneStepCell):
    """forward + backward + (all-reduce) + global-norm clipping + optimizer update, compiled once.

    clip_norm: 0 disables clipping. Returns the loss.
    """

    def __init__(self, net_with_loss, optimizer, clip_norm=0.0):
        super().__init__(net_with_loss, optimizer)
        self.clip_norm = float(clip_norm)

    def construct(self, *inputs):
        loss = self.network(*inputs)
        sens = ops.fill(loss.dtype, loss.shape, self.sens)
        grads = self.grad(self.network, self.weights)(*inputs, sens)
        grads = self.grad_reducer(grads)
        if self.clip_norm > 0:
            grads = clip_by_global_norm(grads, self.clip_norm)
        return ops.depend(loss, self.optimizer(grads))


class LossScaledTrainStep(nn.TrainOneStepWithLossScaleCell):
    """``TrainStep`` with loss scaling: the loss is multiplied by the scale before the backward pass and
    the gradients divided by it; a step whose gradients overflow (inf / nan) is skipped.

    dynamic: the scale halves on overflow and doubles after ``scale_window`` steps without one (floor 1);
    else it stays ``initial_scale``. Returns (loss, overflow flag, scale used by this step).
    """

    def __init__(self, net_with_loss, optimizer, initial_scale, clip_norm=0.0, dynamic=True,
                 scale_window=DEFAULT_SCALE_WINDOW):
        if dynamic:
            manager = nn.DynamicLossScaleUpdateCell(loss_scale_value=initial_scale, scale_factor=2,
                                                    scale_window=int(scale_window))
        else:
            manager = nn.FixedLossScaleUpdateCell(loss_scale_value=initial_scale)
        super().__init__(net_with_loss, optimizer, scale_sense=manager)
        self.clip_norm = float(clip_norm)

    def scale_state(self):
        """The Parameters holding the scale and the update cell's counters (saved in checkpoints)."""
        return [self.scale_sense] + list(self.loss_scaling_manager.get_parameters())

    def construct(self, *inputs):
        loss = self.network(*inputs)
        scale = self.scale_sense
        grads = self.grad(self.network, self.weights)(*inputs, ops.ones_like(loss) * ops.cast(scale, loss.dtype))
        grads = self.hyper_map(ops.partial(_unscale, scale), grads)
        grads = self.grad_reducer(grads)
        # isfinite works on every device (the built-in NPU float-status check is Ascend-only)
        finite = ops.stack([ops.isfinite(g).all() for g in grads]).all()
        overflow = self.process_loss_scale(ops.logical_not(finite))
        if self.clip_norm > 0:
            grads = clip_by_global_norm(grads, self.clip_norm)
        if not overflow:
            loss = ops.depend(loss, self.optimizer(grads))
        return loss, overflow, scale


def _unscale(scale, grad):
    return grad * ops.cast(ops.reciprocal(scale), grad.dtype)


class EMA(nn.Cell):
    """Exponential moving average of parameters: shadow = decay * shadow + (1 - decay) * live.

    The shadow copies are named ``ema.<name>`` so checkpoints carry them beside the live weights.
    """

    def __init__(self, params, decay):
        super().__init__()
        self.live = ms.ParameterTuple(params)
        self.shadow = self.live.clone(prefix="ema", init="same")
        for param in self.shadow:
            param.requires_grad = False
        self.decay = float(decay)
        self.hyper_map = ops.HyperMap()

    def construct(self):
        return self.hyper_map(ops.partial(_ema_update, self.decay), self.shadow, self.live)


def _ema_update(decay, shadow, live):
    return ops.assign(shadow, shadow * decay + live * (1.0 - decay))


class ParameterGroup(nn.Cell):
    """Existing Parameters (names unchanged) gathered in one Cell, so checkpoints can save and load them."""

    def __init__(self, params):
        super().__init__()
        self.group = ms.ParameterTuple(params)


def start_from(trainer, args):
    """Apply ``--resume`` or ``--init_from`` (``utils.cli.add_start_arguments``) to ``trainer`` before ``fit()``."""
    if args.resume and args.init_from:
        raise SystemExit("error: give --resume (continue a run) or --init_from (fine-tune), not both")
    if args.init_ema and not args.init_from:
        raise SystemExit("error: --init_ema needs --init_from")
    if args.resume:
        trainer.resume(args.resume)
    elif args.init_from:
        trainer.initialize_from(args.init_from, use_ema=args.init_ema)


def build_optimizer(params, train_cfg):
    """Adam (L2 added to the gradient) or AdamW (decoupled decay) from the ``train:`` config, with
    torch.optim's exact update (``utils.optimizers.TorchAdam``); ``train.weight_decay_params`` picks the
    decayed parameters ("all", torch's rule and the default, or "matrices")."""
    from utils.optimizers import TorchAdam
    name = str(train_cfg.get("optimizer", "adam")).lower()
    if name not in ("adam", "adamw"):
        raise ValueError(f"train.optimizer must be adam or adamw (or the model's own), got {name!r}")
    betas = train_cfg.get("betas", TRAIN_DEFAULTS["betas"])
    return TorchAdam(params, learning_rate=float(train_cfg.get("lr", TRAIN_DEFAULTS["lr"])), beta1=float(betas[0]),
                     beta2=float(betas[1]), eps=float(train_cfg.get("eps", TRAIN_DEFAULTS["eps"])),
                     weight_decay=float(train_cfg.get("weight_decay", 0.0)), decoupled=name == "adamw",
                     weight_decay_params=str(train_cfg.get("weight_decay_params",
                                                           TRAIN_DEFAULTS["weight_decay_params"])))


class Trainer:
    """Fit ``net_with_loss`` with the shared loop.

    net_with_loss: Cell(*batch) -> scalar loss; ``network`` is the part saved and validated.
    loader: ``utils.data.BatchLoader`` of training batches (tuples of arrays).
    validate: ``fn(network) -> dict`` of validation metrics, called in eval mode after each epoch.
    train_cfg: the ``train:`` section. output_dir: where checkpoints and logs go (rank 0 only).
    input_specs: Tensors with None dims for ``set_inputs`` (one compile for every batch shape).
    metric / mode: the validation key that selects ``best.ckpt`` and whether "max" or "min" is better.
    lr_schedule: ``fn(global_step) -> lr``; default constant ``train.lr``.
    optimizer: a prebuilt optimizer over ``network.trainable_params()`` (default: ``build_optimizer``).
    config: the resolved full config, stored in every checkpoint.
    """

    def __init__(self, net_with_loss, network, loader, validate, train_cfg, output_dir, input_specs=None,
                 metric="loss", mode="min", lr_schedule=None, optimizer=None, config=None):
        self.cfg = {**TRAIN_DEFAULTS, **dict(train_cfg)}
        self.network, self.net_with_loss, self.loader, self.validate = network, net_with_loss, loader, validate
        self.output_dir, self.metric, self.mode = output_dir, metric, mode
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
        self.config = config or {}
        self.run = run_info()
        renamed = [(rel, p.name) for rel, p in network.parameters_and_names() if rel != p.name]
        if renamed:
            raise ValueError(f"parameter {renamed[0][1]!r} of the network is named {renamed[0][0]!r} inside it: "
                             "build the loss Cell with super().__init__(auto_prefix=False) so checkpoints "
                             "load into a bare network")
        self.optimizer = optimizer or build_optimizer(network.trainable_params(), self.cfg)
        self.lr_schedule = lr_schedule or (lambda step: float(self.cfg["lr"]))
        self.amp_level, self.amp_dtype = amp_settings(self.cfg)
        if self.amp_level != "O0":  # before building the step: it compiles what the flags say
            check_device_supports(self.amp_dtype)
            apply_amp_for_training(net_with_loss, network, self.amp_level, self.amp_dtype)
            LOG.info("mixed precision %s %s (normalisations, softmax, pooling statistics and the loss in float32)",
                     self.amp_level, self.amp_dtype)
        scaling, initial_scale, window = loss_scale_settings(self.cfg, self.amp_level)
        self.scale_params = None
        if scaling == "none":
            self.step = TrainStep(net_with_loss, self.optimizer, self.cfg["clip_grad_norm"])
        else:
            self.step = LossScaledTrainStep(net_with_loss, self.optimizer, initial_scale, self.cfg["clip_grad_norm"],
                                            dynamic=scaling == "dynamic", scale_window=window)
            self.scale_params = ParameterGroup(self.step.scale_state())
            LOG.info("%s loss scale, initial %g%s", scaling, initial_scale,
                     f", x2 after {window} steps without overflow" if scaling == "dynamic" else "")
        # validation reads float32 outputs of the (possibly low-precision) network
        self.eval_network = network if self.amp_level == "O0" else fp32_output_view(network)
        if self.cfg["graph_shapes"] not in GRAPH_SHAPES:
            raise ValueError(f"train.graph_shapes must be one of {', '.join(GRAPH_SHAPES)}, "
                             f"got {self.cfg['graph_shapes']!r}")
        self.input_specs = list(input_specs or [])
        self.static_shapes = set()  # batch shapes compiled so far while the step runs with static shapes
        self.dynamic = self.cfg["graph_shapes"] == "dynamic" or not self.input_specs
        if self.dynamic and self.input_specs:
            self.step.set_inputs(*self.input_specs)
        self.step.set_train(True)
        self.ema = EMA(network.trainable_params(), self.cfg["ema_decay"]) if self.cfg["ema_decay"] > 0 else None
        self.state = TrainState(config=self.config)
        self.compile_seconds = None
        self.step_seconds = []  # wall time of every step but the compiling first one (data loading excluded)
        self.step_losses = []  # loss of every step of the last train_epoch call (nan: a skipped overflow step)
        self.overflow_steps = 0  # steps of the last train_epoch call skipped for a gradient overflow

    # ---- checkpoints -------------------------------------------------------------------------
    def _cells(self):
        return [self.network, self.optimizer] + ([self.ema] if self.ema is not None else [])

    def checkpoint_path(self, name):
        return os.path.join(self.output_dir, f"{name}.ckpt")

    def save(self, name):
        if self.run.is_main:
            scale = [self.scale_params] if self.scale_params is not None else []
            save_training_checkpoint(self.checkpoint_path(name), self._cells() + scale, self.state)

    def resume(self, path):
        """Restore weights, optimizer, EMA, loss scale and progress from ``path`` (e.g. OUT/last.ckpt). A
        checkpoint without a loss scale (an O0 run) leaves the scale at its initial value."""
        optional = [self.scale_params] if self.scale_params is not None else []
        self.state = load_training_checkpoint(path, self._cells(), optional_cells=optional)
        self.state.config = self.config or self.state.config
        LOG.info("resumed from %s at epoch %d, step %d (global step %d)", path, self.state.epoch,
                 self.state.step_in_epoch, self.state.global_step)
        return self.state

    def initialize_from(self, path, use_ema=False):
        """Fine-tune: start from the weights in ``path`` (a converted public checkpoint, or another run's
        ``best.ckpt``); the optimizer, schedule and progress start afresh.

        Every network parameter must be in the file with its shape (else a KeyError / ValueError naming
        it). Trainable weights outside the network (e.g. a classifier head in the loss Cell) are taken
        when the file has them with the same shape, else they keep their initial values: a head for a
        new set of classes is trained from scratch. use_ema: take the file's EMA weights.
        Returns ``(taken, fresh)``: names of the extra weights loaded and left at their initial values.
        """
        params, _ = read_weights(path, use_ema)
        load_into([self.network], params, path)
        network_names = {p.name for p in self.network.get_parameters()}
        taken, fresh = [], []
        for param in self.net_with_loss.get_parameters():
            if param.name in network_names:
                continue
            value = params.get(param.name)
            if value is not None and tuple(value.shape) == tuple(param.shape):
                param.set_data(value)
                taken.append(param.name)
            else:
                fresh.append(param.name)
        if self.ema is not None:  # the average starts from the loaded weights, not the random ones
            for shadow, live in zip(self.ema.shadow, self.ema.live):
                shadow.set_data(live.data.copy())
        LOG.info("initialised from %s: %d network parameters%s%s", path, len(network_names),
                 f", also {', '.join(taken)}" if taken else "",
                 f"; {', '.join(fresh)} start from scratch" if fresh else "")
        return taken, fresh

    # ---- loop --------------------------------------------------------------------------------
    def loss_scale(self):
        """The current loss scale (1.0 without loss scaling)."""
        return float(self.step.scale_sense.asnumpy()) if self.scale_params is not None else 1.0

    def _set_lr(self):
        lr = self.lr_schedule(self.state.global_step) * self.state.lr_factor
        self.optimizer.learning_rate.set_data(ms.Tensor(lr, ms.float32))
        return lr

    def _improved(self, value):
        best = self.state.best_metric
        if value is None or not math.isfinite(value):
            return False
        return best is None or (value > best if self.mode == "max" else value < best)

    def _log_epoch(self, record):
        self.state.history.append(record)
        if self.run.is_main:
            os.makedirs(self.output_dir, exist_ok=True)
            with open(os.path.join(self.output_dir, "train_log.jsonl"), "a", encoding="utf-8") as handle:
                handle.write(json.dumps(record) + "\n")
        LOG.info("epoch %d: %s", record["epoch"], ", ".join(
            f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in record.items() if k != "epoch"))

    def run_step(self, tensors):
        """One train step; with static graph shapes, a new batch shape compiles a new graph until
        ``max_static_shapes`` shapes were seen, then the step switches to dynamic shapes."""
        if not self.dynamic:
            shape = tuple(tuple(t.shape) for t in tensors)
            if shape not in self.static_shapes:
                if len(self.static_shapes) >= int(self.cfg["max_static_shapes"]):
                    LOG.info("more than %d batch shapes: the train step switches to dynamic shapes (one more "
                             "compile)", len(self.static_shapes))
                    self.step.set_inputs(*self.input_specs)
                    self.dynamic = True
                else:
                    self.static_shapes.add(shape)
        return self.step(*tensors)

    def train_epoch(self, max_steps):
        """Run the rest of the current epoch (or until ``max_steps``); returns (mean loss, steps).

        Distributed: the mean loss is over the whole global batches (the same on every rank), so the
        ranks take the same decisions from it (best checkpoint, LR halving, early stop)."""
        epoch = self.state.epoch
        total = len(self.loader)
        losses = []
        self.overflow_steps = 0
        self.step_seconds = []
        self.step_losses = []
        bar = tqdm(total=total, initial=self.state.step_in_epoch, desc=f"epoch {epoch + 1}", unit="step",
                   disable=not self.run.is_main, leave=False, dynamic_ncols=True)
        for batch in self.loader.iterate(epoch, start_batch=self.state.step_in_epoch):
            if self.run.distributed:  # each rank padded its share to its own longest item
                batch = pad_to_common_shape(batch)
            lr = self._set_lr()
            started = time.perf_counter()
            out = self.run_step([ms.Tensor(array) for array in batch])
            loss = float((out[0] if isinstance(out, tuple) else out).asnumpy())
            if self.compile_seconds is None:
                self.compile_seconds = time.perf_counter() - started
                LOG.info("first step (compile + run): %.2f s", self.compile_seconds)
            else:
                self.step_seconds.append(time.perf_counter() - started)
            overflow = isinstance(out, tuple) and bool(out[1].asnumpy())
            self.overflow_steps += overflow
            if not math.isfinite(loss) and not (overflow and self.loss_scale() > 1.0):
                raise FloatingPointError(
                    f"loss became {loss} at epoch {epoch + 1}, step {self.state.step_in_epoch + 1}: lower train.lr "
                    "or check the data" + (f" (at amp_level {self.amp_level} the forward pass overflows "
                                           f"{self.amp_dtype}: try O1 or O0)" if self.amp_level != "O0" else ""))
            if self.ema is not None and not overflow:
                self.ema()
            if math.isfinite(loss):  # a skipped overflow step may have no loss to average
                losses.append(loss)
            self.step_losses.append(loss)
            self.state.step_in_epoch += 1
            self.state.global_step += 1
            bar.update(1)
            if self.scale_params is not None:
                bar.set_postfix(loss=f"{loss:.3f}", lr=f"{lr:.2e}", scale=f"{self.loss_scale():g}",
                                overflows=self.overflow_steps)
            else:
                bar.set_postfix(loss=f"{loss:.3f}", lr=f"{lr:.2e}")
            if max_steps and self.state.global_step >= max_steps:
                break
        bar.close()
        if self.run.distributed:  # each rank saw its share: the global batch's loss is the mean over ranks
            loss_sum, loss_count = all_reduce_sum([sum(losses), len(losses)])
            return (float(loss_sum / loss_count) if loss_count else float("nan")), len(losses)
        return (float(np.mean(losses)) if losses else float("nan")), len(losses)

    def fit(self):
        """Train until ``epochs``, early stop or ``max_steps``; returns the final ``TrainState``."""
        epochs, max_steps = int(self.cfg["epochs"]), int(self.cfg["max_steps"])
        halving, patience = int(self.cfg["lr_halving_patience"]), int(self.cfg["early_stop_patience"])
        while self.state.epoch < epochs:
            if max_steps and self.state.global_step >= max_steps:
                break
            started = time.time()
            train_loss, steps = self.train_epoch(max_steps)
            epoch_done = self.state.step_in_epoch >= len(self.loader)
            self.network.set_train(False)
            metrics = self.validate(self.eval_network) if self.validate is not None else {}
            self.network.set_train(True)
            value = metrics.get(self.metric, train_loss if self.metric == "loss" else None)
            improved = self._improved(value)
            if improved:
                self.state.best_metric = float(value)
                self.state.epochs_without_improvement = 0
            elif epoch_done:
                self.state.epochs_without_improvement += 1
                if halving and self.state.epochs_without_improvement % halving == 0:
                    self.state.lr_factor *= 0.5
                    LOG.info("no improvement for %d epochs: learning rate halved (factor %g)",
                             self.state.epochs_without_improvement, self.state.lr_factor)
            if epoch_done:
                self.state.epoch += 1
                self.state.step_in_epoch = 0
            record = {"epoch": self.state.epoch if epoch_done else self.state.epoch + 1,
                      "complete": epoch_done, "steps": steps, "global_step": self.state.global_step,
                      "train_loss": train_loss, "lr": self.lr_schedule(self.state.global_step) * self.state.lr_factor,
                      **{k: float(v) for k, v in metrics.items()}, "best": self.state.best_metric,
                      "seconds": round(time.time() - started, 2),
                      "step_seconds": float(np.median(self.step_seconds)) if self.step_seconds else None,
                      "compile_seconds": self.compile_seconds}
            if self.scale_params is not None:
                record.update(loss_scale=self.loss_scale(), overflow_steps=self.overflow_steps)
            self._log_epoch(record)
            if improved:
                self.save("best")
            self.save("last")
            if patience and self.state.epochs_without_improvement >= patience:
                LOG.info("early stop: no improvement of %s for %d epochs", self.metric, patience)
                break
        if os.environ.get("ZOO_DEBUG_DUMP_DIR"):
            self.dump_debug(os.environ["ZOO_DEBUG_DUMP_DIR"])
        return self.state

    def dump_debug(self, folder):
        """Write this rank's final parameters and the item indices it trained on (every rank writes:
        used by the distributed tests to compare ranks and check the shards)."""
        os.makedirs(folder, exist_ok=True)
        params = {f"param/{p.name}": p.asnumpy() for p in self.network.get_parameters()}
        indices = {f"epoch{e}": self.loader.shard(e) for e in range(self.state.epoch)}
        np.savez(os.path.join(folder, f"rank_{self.run.rank}.npz"), **params, **indices,
                 group_size=self.run.group_size, global_step=self.state.global_step)
