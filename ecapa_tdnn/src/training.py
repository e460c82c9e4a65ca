"""Training schedules of the ECAPA-TDNN recipe, built from flat ``train:`` / ``loss:`` config keys.

The learning-rate shapes themselves live in ``utils/schedules.py``; this maps the recipe's keys (kept
flat so every one can be overridden from the command line) onto them and adds the AAM margin warm-up.
"""
from ecapa_tdnn.src.loss import margin_warmup, with_margin_schedule
from utils.schedules import build_schedule

LR_SCHEDULES = ("cyclic", "warmup_decay", "constant")


def build_lr_schedule(train_cfg, steps_per_epoch):
    """``fn(step) -> lr`` from ``train.lr_schedule``.

    cyclic: triangular cyclic LR between ``base_lr`` and ``lr``, half cycle ``cyclic_step_epochs``
        (SpeechBrain's CyclicLRScheduler); warmup_decay: linear warm-up over ``warmup_epochs`` to ``lr``,
        then ``decay`` down to ``min_lr`` at the end of training; constant: ``lr``.
    """
    kind = train_cfg.get("lr_schedule", "constant")
    if kind == "cyclic":
        schedule = dict(name="cyclic_triangular", base_lr=float(train_cfg["base_lr"]),
                        step_size_epochs=max(float(train_cfg["cyclic_step_epochs"]), 1.0 / steps_per_epoch),
                        mode=train_cfg.get("cyclic_mode", "triangular"))
    elif kind == "warmup_decay":
        schedule = dict(name="warmup_hold_decay", warmup_epochs=float(train_cfg["warmup_epochs"]),
                        decay=train_cfg.get("decay", "cosine"), min_lr=float(train_cfg.get("min_lr", 0.0)))
    elif kind == "constant":
        schedule = dict(name="constant")
    else:
        raise ValueError(f"ecapa_tdnn config: train.lr_schedule must be one of {LR_SCHEDULES}, got {kind!r}")
    # the total length of a decay is the configured training length, not a smoke run's max_steps
    return build_schedule({**dict(train_cfg), "max_steps": 0, "schedule": schedule}, steps_per_epoch)


def schedule_with_margin_warmup(lr_schedule, head, loss_cfg, steps_per_epoch):
    """The LR schedule, also ramping ``head``'s AAM margin 0 -> ``loss.margin`` over
    ``loss.margin_warmup_epochs`` (applied before every step by the trainer's schedule call)."""
    warmup_steps = int(round(float(loss_cfg.get("margin_warmup_epochs", 0)) * steps_per_epoch))
    return with_margin_schedule(lr_schedule, head, margin_warmup(loss_cfg["margin"], warmup_steps))
