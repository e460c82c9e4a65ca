"""Learning-rate schedules as plain functions ``fn(step) -> lr`` (step = optimizer steps taken, from 0).

The trainer calls ``lr_schedule(global_step)`` before every step, so any of these can be passed to it:

* ``warmup_hold_decay``: NVIDIA's Jasper/QuartzNet policy: linear warm-up, a hold at the peak, then a
  polynomial, cosine or exponential decay to a floor;
* ``cyclic_triangular``: the triangular cyclic LR (Smith 2017) SpeechBrain uses for ECAPA-TDNN,
  with its ``triangular2`` (halving amplitude) and ``exp_range`` variants;
* ``linear_warmup_decay``: linear ramp up to a peak, then linear ramp down to a final value.

``build_schedule(train_cfg, steps_per_epoch)`` picks one from a ``train.schedule`` config section.
"""
import math

DECAYS = ("poly", "cosine", "exp", "none")
CYCLIC_MODES = ("triangular", "triangular2", "exp_range")


def _check(condition, message):
    if not condition:
        raise ValueError(f"utils/schedules.py: {message}")


def warmup_hold_decay(peak_lr, total_steps, warmup_steps=0, hold_steps=0, decay="poly", min_lr=0.0,
                      power=2.0, half_life_steps=None):
    """Warm-up / hold / decay.

    peak_lr: LR reached at the end of the warm-up. total_steps: the step at which the decay ends
    (poly and cosine reach ``min_lr`` there; later steps stay at ``min_lr``).
    warmup_steps: linear ramp, lr = peak * (step + 1) / (warmup_steps + 1) so the first step is not 0.
    hold_steps: steps kept at ``peak_lr`` after the warm-up.
    decay: "poly" (peak * (1 - progress) ** power; power 2 is NVIDIA's Jasper policy), "cosine",
        "exp" (halves every ``half_life_steps``, default: a tenth of the decay span) or "none".
    min_lr: floor of the decayed LR.
    """
    _check(decay in DECAYS, f"decay must be one of {DECAYS}, got {decay!r}")
    _check(peak_lr > 0 and min_lr >= 0, f"need peak_lr > 0 and min_lr >= 0, got {peak_lr}, {min_lr}")
    _check(warmup_steps >= 0 and hold_steps >= 0, "warmup_steps and hold_steps must be >= 0")
    decay_start = int(warmup_steps) + int(hold_steps)
    decay_span = max(1, int(total_steps) - decay_start)
    half_life = float(half_life_steps) if half_life_steps else decay_span / 10.0
    _check(half_life > 0, f"half_life_steps must be > 0, got {half_life_steps}")

    def schedule(step):
        if step < warmup_steps:
            return peak_lr * (step + 1) / (warmup_steps + 1)
        if step < decay_start or decay == "none":
            return peak_lr
        progress = min(1.0, (step - decay_start) / decay_span)
        if decay == "poly":
            lr = peak_lr * (1.0 - progress) ** power
        elif decay == "cosine":
            lr = min_lr + (peak_lr - min_lr) * 0.5 * (1.0 + math.cos(math.pi * progress))
        else:
            lr = peak_lr * 0.5 ** ((step - decay_start) / half_life)
        return max(min_lr, lr)
    return schedule


def cyclic_triangular(base_lr, max_lr, step_size, mode="triangular", gamma=1.0):
    """Triangular cyclic LR: up from ``base_lr`` to ``max_lr`` in ``step_size`` steps, back down in as many.

    mode: "triangular" (constant amplitude), "triangular2" (amplitude halved every cycle) or
    "exp_range" (amplitude times ``gamma ** step``).
    """
    _check(mode in CYCLIC_MODES, f"mode must be one of {CYCLIC_MODES}, got {mode!r}")
    _check(step_size > 0, f"step_size must be > 0, got {step_size}")
    _check(max_lr >= base_lr >= 0, f"need max_lr >= base_lr >= 0, got {max_lr}, {base_lr}")

    def schedule(step):
        cycle = step // (2 * step_size)
        position = abs(step / step_size - 2 * cycle - 1)  # 1 at a cycle's ends, 0 at its peak
        amplitude = (max_lr - base_lr) * max(0.0, 1.0 - position)
        if mode == "triangular2":
            amplitude /= 2.0 ** cycle
        elif mode == "exp_range":
            amplitude *= gamma ** step
        return base_lr + amplitude
    return schedule


def linear_warmup_decay(peak_lr, warmup_steps, total_steps, initial_lr=0.0, final_lr=0.0):
    """Linear from ``initial_lr`` (step 0) to ``peak_lr`` (step ``warmup_steps``), then linear to ``final_lr``
    at ``total_steps`` and constant after."""
    _check(0 <= warmup_steps <= total_steps, f"need 0 <= warmup_steps <= total_steps, got {warmup_steps}, "
                                             f"{total_steps}")

    def schedule(step):
        if step < warmup_steps:
            return initial_lr + (peak_lr - initial_lr) * step / warmup_steps
        progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
        return peak_lr + (final_lr - peak_lr) * progress
    return schedule


def build_schedule(train_cfg, steps_per_epoch):
    """The schedule described by ``train_cfg["schedule"]`` (None or missing = constant ``train.lr``).

    Keys: ``name`` (warmup_hold_decay | cyclic_triangular | linear_warmup_decay | constant); lengths may be
    given in epochs (``warmup_epochs``, ``hold_epochs``, ``step_size_epochs``) and are converted with
    ``steps_per_epoch``; total steps = ``train.max_steps`` when set, else ``train.epochs * steps_per_epoch``.
    The peak LR is ``train.lr``; every other key is passed to the function.
    """
    options = dict(train_cfg.get("schedule") or {})
    name = options.pop("name", "constant")
    lr = float(train_cfg.get("lr", 1e-3))
    total = int(train_cfg.get("max_steps") or 0) or int(train_cfg.get("epochs", 1)) * int(steps_per_epoch)
    for key in [k for k in options if k.endswith("_epochs")]:
        options[key[:-len("_epochs")] + "_steps" if key != "step_size_epochs" else "step_size"] = \
            int(round(float(options.pop(key)) * steps_per_epoch))
    if name == "constant":
        return lambda step: lr
    if name == "warmup_hold_decay":
        return warmup_hold_decay(lr, total, **options)
    if name == "cyclic_triangular":
        return cyclic_triangular(max_lr=lr, **options)
    if name == "linear_warmup_decay":
        return linear_warmup_decay(lr, total_steps=total, **options)
    raise ValueError(f"utils/schedules.py: train.schedule.name must be constant, warmup_hold_decay, "
                     f"cyclic_triangular or linear_warmup_decay, got {name!r}")
