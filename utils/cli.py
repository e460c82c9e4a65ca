"""What every entry point does first: parse flags + config, set up logging and the MindSpore context.

    args, cfg, run = start(__file__, "Train TasNet", add_arguments)

* flags: the entry point's own (``add_arguments``) plus ``--device_target``, ``--device_id`` and
  ``--config_path``; every other ``--key value`` overrides ``<model>/config.yaml`` (see utils.config);
* logging to the console and, when the entry point has an ``--output_dir``, to ``OUT/<name>.log``;
  non-zero ranks log warnings only;
* ``init_context`` with the config's seed: graph mode, device, distributed group when launched so.

Every entry point's ``if __name__ == "__main__":`` goes through ``run(main, ...)``: an expected failure
(``utils.errors.is_expected``: bad audio, config key or value, missing file, corpus layout, checkpoint,
dependency) is printed as ``PROG: error: <what>`` and exits 2 (usage / input) or 1 (runtime); a traceback
only with ``--debug`` (or ``ZOO_DEBUG=1``) or for a genuine bug.
"""
import logging
import os
import sys

from utils import context, errors
from utils.config import parse_args, save_config

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def setup_logging(log_file=None, is_main=True):
    """Console (+ file) logging for the ``zoo.*`` loggers; idempotent."""
    root = logging.getLogger("zoo")
    root.setLevel(logging.INFO if is_main else logging.WARNING)
    root.propagate = False
    formatter = logging.Formatter(LOG_FORMAT, datefmt="%H:%M:%S")
    if not any(isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler)
               for h in root.handlers):
        console = logging.StreamHandler(sys.stderr)
        console.setFormatter(formatter)
        root.addHandler(console)
    if log_file and is_main and not any(getattr(h, "baseFilename", None) == os.path.abspath(log_file)
                                        for h in root.handlers):
        os.makedirs(os.path.dirname(os.path.abspath(log_file)), exist_ok=True)
        handler = logging.FileHandler(log_file, encoding="utf-8")
        handler.setFormatter(formatter)
        root.addHandler(handler)
    return root


def default_config_path(entry_file, name="config.yaml"):
    return os.path.join(os.path.dirname(os.path.abspath(entry_file)), name)


def start(entry_file, description, add_arguments=None, argv=None, save_resolved_config=False,
          default_config="config.yaml"):
    """Parse the command line of ``entry_file`` and prepare the process.

    Returns ``(args, cfg, run)``: argparse namespace, resolved Config, ``context.RunInfo``.
    With ``save_resolved_config`` the resolved config is written to ``OUT/config.yaml`` (rank 0).
    default_config: the config file beside ``entry_file`` used without ``--config_path``.
    """
    def flags(parser):
        parser.add_argument("--device_target", default=None, choices=list(context.DEVICE_TARGETS),
                            help="device to run on (default: the config's device_target)")
        parser.add_argument("--device_id", type=int, default=None, help="accelerator index (default: $DEVICE_ID)")
        add_debug_argument(parser)
        if add_arguments is not None:
            add_arguments(parser)

    args, cfg = parse_args(default_config_path(entry_file, default_config), description, flags, argv,
                           prog=program_name(entry_file))
    run = context.init_context(cfg.get("device_target", args.device_target or "CPU"), args.device_id,
                               seed=int(cfg.get("seed", 0)))
    output_dir = getattr(args, "output_dir", None)
    name = os.path.splitext(os.path.basename(entry_file))[0]
    setup_logging(os.path.join(output_dir, f"{name}.log") if output_dir else None, run.is_main)
    log = logging.getLogger(f"zoo.{name}")
    log.info("%s: %s", description, " ".join(sys.argv[1:] if argv is None else argv))
    if getattr(args, "pretrained", None):  # --pretrained NAME: download + convert once, then a cached checkpoint
        from utils.pretrained import PretrainedError, apply_to_args
        try:
            apply_to_args(args, cfg, entry_file)
        except PretrainedError as exc:
            raise SystemExit(f"error: {exc}") from None
    if output_dir and save_resolved_config and run.is_main:
        save_config(cfg, os.path.join(output_dir, "config.yaml"))
    return args, cfg, run


def add_start_arguments(parser):
    """``--resume`` / ``--init_from`` / ``--init_ema`` of every train.py (applied by ``utils.trainer.start_from``) and
    ``--skip_bad_files`` (``utils.audio.screen_training_files``)."""
    parser.add_argument("--resume", default=None, help="continue this run from a checkpoint (e.g. OUT/last.ckpt): "
                        "weights, optimizer, schedule and progress")
    parser.add_argument("--init_from", default=None, help="fine-tune: start from the weights of this checkpoint "
                        "(e.g. a converted public model, see the README) with a fresh optimizer and schedule")
    parser.add_argument("--init_ema", action="store_true", help="with --init_from: take the checkpoint's EMA weights")
    parser.add_argument("--skip_bad_files", action="store_true", help="train without the audio files that cannot be "
                        "used (unreadable, empty, truncated, NaN/Inf samples: every file is decoded before the first "
                        "step, verdicts cached in $ZOO_CACHE/audio_screen; listed in the log); default: stop before "
                        "training and list them")
    parser.add_argument("--pretrained", default=None, metavar="NAME", help="fine-tune from a public model of the "
                        "registry (python -m utils.pretrained list): like --init_from its converted checkpoint, "
                        "whose model and front-end config replace the config's")


def add_debug_argument(parser):
    """``--debug``: show the traceback of expected errors too (read by ``run`` from sys.argv)."""
    parser.add_argument("--debug", action="store_true", help="show the full traceback of an error")


def program_name(entry_file):
    """``tasnet/infer.py`` for an entry point of the repository, else its file name."""
    path = os.path.abspath(entry_file)
    if path.startswith(errors.REPO_ROOT + os.sep):
        return os.path.relpath(path, errors.REPO_ROOT)
    return os.path.basename(path)


def debug_requested(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    return "--debug" in argv or os.environ.get("ZOO_DEBUG", "") not in ("", "0")


def report_error(program, text):
    """Print ``PROGRAM: error: text`` on stderr (once, without repeating a prefix the text already has)."""
    for prefix in (f"{program}: ", "error: "):
        if text.startswith(prefix):
            text = text[len(prefix):]
    print(f"{program}: error: {text}", file=sys.stderr, flush=True)


def run(entry_file, main, *args, **kwargs):
    """Run ``main(*args, **kwargs)`` as the program ``entry_file`` and exit with its status.

    ``main`` may return an exit code (e.g. 1 when some items of a batch failed). Expected errors
    (``utils.errors.is_expected``) and ``SystemExit("message")`` become ``PROG: error: message`` with exit
    code 2 (usage / input) or 1 (runtime); other exceptions are bugs and keep their traceback.
    """
    program = program_name(entry_file)
    try:
        status = main(*args, **kwargs)
    except SystemExit as exit_:
        if isinstance(exit_.code, str):  # raise SystemExit("...") marks a usage / input error
            report_error(program, " ".join(exit_.code.split()))
            sys.exit(errors.USAGE_EXIT)
        raise
    except KeyboardInterrupt:
        print(f"{program}: interrupted", file=sys.stderr, flush=True)
        sys.exit(130)
    except Exception as error:  # noqa: BLE001  (sorted into expected / bug just below)
        if not errors.is_expected(error) or debug_requested():
            raise
        report_error(program, errors.message(error))
        sys.exit(errors.exit_code(error))
    sys.exit(status if isinstance(status, int) and not isinstance(status, bool) else 0)



PRETRAINED_HELP = ("a public model by name instead of a checkpoint, downloaded and converted on first use, then "
                   "cached ($ZOO_CACHE, default ~/.cache/ms_speech_zoo; names: python -m utils.pretrained list)")


def add_checkpoint_arguments(parser, help, required=True):
    """``--ckpt_path FILE`` or ``--pretrained NAME`` (one of them when ``required``); ``start`` turns
    ``--pretrained`` into ``args.ckpt_path``."""
    group = parser.add_mutually_exclusive_group(required=required)
    group.add_argument("--ckpt_path", default=None, help=help)
    group.add_argument("--pretrained", default=None, metavar="NAME", help=PRETRAINED_HELP)
