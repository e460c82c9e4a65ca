"""`<model>/train.py` for every separation model: random segments -> PIT SI-SNR -> the shared Trainer,
validated on FULL dev utterances (SI-SNRi, best checkpoint by it).

    python tasnet/train.py --data_dir Libri2Mix --output_dir OUT [--resume OUT/last.ckpt] [--key value ...]
"""
import logging
import os

import numpy as np
from tqdm import tqdm

from utils.cli import add_start_arguments, start

LOG = logging.getLogger("zoo.train")


def add_train_arguments(parser):
    parser.add_argument("--data_dir", required=True,
                        help="LibriMix root (holding wav8k/min/metadata) or wsj0-2mix root (holding tr/cv/tt)")
    parser.add_argument("--output_dir", required=True, help="checkpoints, train_log.jsonl and train.log go here")
    add_start_arguments(parser)
    parser.add_argument("--train_split", default="train",
                        help="split to train on: train (train-360, else train-100 / tr) or a corpus split name")
    parser.add_argument("--valid_split", default="valid", help="split validated after each epoch (dev / cv)")


def find_split(data_dir, split, data_cfg):
    """The SeparationItems of one split, with the data section's corpus options."""
    from utils.separation.data import find_items
    return find_items(data_dir, split, int(data_cfg.sample_rate), data_cfg.get("mode", "min"),
                      data_cfg.get("mixture_type", "mix_clean"))


def make_validator(items, sample_rate, run, desc="validation"):
    """validate(network) -> {"si_snri", "si_snr"}: mean over the FULL utterances of `items` (this rank's
    shard, summed over ranks), one utterance at a time so nothing is padded or cropped."""
    from utils.metrics import pit, si_snr
    from utils.distributed import all_reduce_sum
    from utils.separation.data import SeparationDataset
    from utils.separation.separate import separate

    dataset = SeparationDataset(items, sample_rate, num_shards=run.group_size, shard_id=run.rank) \
        if len(items) > run.rank else None

    def validate(network):
        totals = np.zeros(3)
        for index in tqdm(range(len(dataset) if dataset else 0), desc=desc, unit="utt", leave=False,
                          disable=not run.is_main):
            mixture, sources, _ = dataset.get(index)
            estimates = separate(network, mixture)
            value = pit(si_snr, estimates, sources)[0]
            totals += (value, value - float(np.mean(si_snr(mixture, sources))), 1.0)
        totals = all_reduce_sum(totals)
        count = max(totals[2], 1.0)
        return {"si_snr": totals[0] / count, "si_snri": totals[1] / count, "n_valid": int(totals[2])}

    return validate


def train_main(entry_file, network_class, description):
    """The whole training entry point; `network_class(**cfg.model)` builds the model."""
    args, cfg, run = start(entry_file, description, add_train_arguments, save_resolved_config=True)
    from utils.audio import screen_training_files
    from utils.data import BatchLoader
    from utils.separation.data import SeparationDataset, collate
    from utils.separation.loss import SeparationLossCell, neg_sisnr_pit_loss
    from utils.separation.separate import count_parameters, mixture_spec, training_specs
    from utils.trainer import Trainer, start_from

    sample_rate = int(cfg.data.sample_rate)
    train_items = find_split(args.data_dir, args.train_split, cfg.data)
    valid_items = find_split(args.data_dir, args.valid_split, cfg.data)
    bad = screen_training_files([path for item in train_items + valid_items
                                 for path in (item.mixture_path, *item.source_paths)], args.skip_bad_files)
    train_items, valid_items = ([item for item in items
                                 if not bad.intersection((item.mixture_path, *item.source_paths))]
                                for items in (train_items, valid_items))
    dataset = SeparationDataset(train_items, sample_rate, float(cfg.data.segment_seconds), seed=int(cfg.seed),
                                dynamic_mixing=float(cfg.data.get("dynamic_mixing", 0.0)),
                                remix_gain_db=float(cfg.data.get("remix_gain_db", 2.5)))
    loader = BatchLoader(dataset, int(cfg.train.batch_size), collate, shuffle=True, seed=int(cfg.seed),
                         rank=run.rank, group_size=run.group_size, num_workers=int(cfg.train.get("num_workers", 0)))
    LOG.info("%d training mixtures (%s s segments, batch %d: %d steps per epoch, dynamic mixing %g), "
             "%d validation mixtures", len(train_items), cfg.data.segment_seconds, int(cfg.train.batch_size),
             len(loader), dataset.dynamic_mixing, len(valid_items))

    network = network_class(**cfg.model)
    n_src = int(cfg.model.n_src)
    if len(train_items[0].source_paths) != n_src:
        raise ValueError(f"{args.data_dir}: the corpus has {len(train_items[0].source_paths)} sources per mixture "
                         f"but model.n_src is {n_src}")
    LOG.info("%s with %.3f M parameters", type(network).__name__, count_parameters(network) / 1e6)
    network.set_inputs(mixture_spec())  # validation: one graph for every utterance length
    with_loss = SeparationLossCell(network, neg_sisnr_pit_loss(n_src))
    trainer = Trainer(with_loss, network, loader, make_validator(valid_items, sample_rate, run), cfg.train,
                      args.output_dir, input_specs=training_specs(n_src), metric="si_snri", mode="max",
                      config=cfg.to_dict())
    start_from(trainer, args)
    state = trainer.fit()
    if dataset.report():
        LOG.warning(dataset.report())
    best = "n/a" if state.best_metric is None else f"{state.best_metric:.2f} dB"
    LOG.info("done: %d epochs, %d steps, best validation SI-SNRi %s -> %s", state.epoch, state.global_step, best,
             os.path.join(args.output_dir, "best.ckpt"))
    return state
