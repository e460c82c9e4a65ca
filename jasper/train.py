"""Train Jasper / QuartzNet with CTC on JSON-lines manifests (see jasper/preprocess.py).

    python jasper/train.py --train_manifest M/train-clean-100.jsonl --valid_manifest M/dev-clean.jsonl \
        --output_dir runs/jasper [--config_path jasper/config_10x5dr.yaml] [--resume runs/jasper/last.ckpt] \
        [--train.max_steps 20] [--key value ...]

Writes OUT/best.ckpt (lowest validation WER, greedy decoding), OUT/last.ckpt, OUT/train_log.jsonl,
OUT/train.log and OUT/config.yaml.
"""
import os, sys  # noqa: E401
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from utils.cli import add_start_arguments, start  # noqa: E402  (first: sets the environment before mindspore loads)

import logging  # noqa: E402
from functools import partial  # noqa: E402


def add_arguments(parser):
    parser.add_argument("--train_manifest", required=True, help="JSON-lines manifest of the training utterances")
    parser.add_argument("--valid_manifest", required=True, help="JSON-lines manifest of the validation utterances")
    parser.add_argument("--output_dir", required=True, help="folder for checkpoints and logs")
    add_start_arguments(parser)


def main():
    args, cfg, run = start(__file__, "Train Jasper (CTC) on LibriSpeech-style manifests", add_arguments,
                           save_resolved_config=True)
    from jasper.src.asr import build_optimizer, greedy_validator
    from jasper.src.dataset import AsrDataset, collate
    from jasper.src.network import JasperWithCTCLoss, build_network, count_parameters, loss_input_specs
    from utils.audio import screen_training_files
    from utils.data import BatchLoader
    from utils.schedules import build_schedule
    from utils.sync_batch_norm import synchronise_batch_norm
    from utils.trainer import Trainer, start_from

    log = logging.getLogger("zoo.train")
    for flag in ("train_manifest", "valid_manifest"):
        if not os.path.isfile(getattr(args, flag)):
            raise SystemExit(f"jasper/train.py: --{flag} {getattr(args, flag)} does not exist")
    train_set = AsrDataset(args.train_manifest, cfg.data, train=True)
    valid_set = AsrDataset(args.valid_manifest, cfg.data, train=False)
    bad = screen_training_files([e["audio_filepath"] for e in train_set.entries + valid_set.entries],
                                args.skip_bad_files)
    for dataset in (train_set, valid_set):
        dataset.drop(bad)
    hours = sum(e["duration"] for e in train_set.entries) / 3600
    log.info("training on %d utterances (%.2f h) of %s; %d dropped as longer than data.max_duration = %s s",
             len(train_set), hours, args.train_manifest, train_set.dropped, cfg.data.max_duration)
    log.info("validating on %d utterances of %s (greedy WER selects best.ckpt)", len(valid_set), args.valid_manifest)

    network = build_network(cfg.to_dict())
    network = synchronise_batch_norm(network, cfg.train)  # data parallel: BN over the global batch
    log.info("network: %d blocks, %.2f M parameters, total stride %d", len(network.blocks_config),
             count_parameters(network) / 1e6, network.total_stride)
    train_cfg = cfg.train
    batch_collate = partial(collate, bucket_frames=int(cfg.data.bucket_frames))
    loader = BatchLoader(train_set, int(train_cfg.batch_size), batch_collate, shuffle=True, seed=int(cfg.seed),
                         rank=run.rank, group_size=run.group_size, lengths=train_set.lengths,
                         num_workers=int(train_cfg.get("num_workers", 0)))
    valid_loader = BatchLoader(valid_set, int(train_cfg.valid_batch_size), batch_collate, shuffle=False,
                               rank=run.rank, group_size=run.group_size)
    in_features = int(cfg.model.in_features)
    network.set_inputs(*loss_input_specs(in_features)[:2])  # validation: one compile for every batch shape
    trainer = Trainer(JasperWithCTCLoss(network), network, loader, greedy_validator(valid_loader), train_cfg,
                      args.output_dir, input_specs=loss_input_specs(in_features), metric="wer", mode="min",
                      lr_schedule=build_schedule(train_cfg, len(loader)), optimizer=build_optimizer(network, train_cfg),
                      config=cfg.to_dict())
    log.info("%d steps per epoch of %d x %d utterances, optimizer %s, schedule %s", len(loader),
             run.group_size, int(train_cfg.batch_size), train_cfg.optimizer, dict(train_cfg.get("schedule") or {}))
    start_from(trainer, args)
    state = trainer.fit()
    log.info("done: %d steps, best validation WER %s, first step (compile + run) %s; checkpoints in %s",
             state.global_step, f"{state.best_metric:.4f}" if state.best_metric is not None else "n/a",
             f"{trainer.compile_seconds:.1f} s" if trainer.compile_seconds else "n/a", args.output_dir)


if __name__ == "__main__":
    from utils import cli
    cli.run(__file__, main)
