"""Train ECAPA-TDNN speaker embeddings with AAM-softmax on a VoxCeleb-layout folder.

    python ecapa_tdnn/train.py --data_dir VoxCeleb1/dev/wav --output_dir OUT \
        [--valid_trials VoxCeleb1/dev_trials.txt --valid_data_dir DIR] [--musan_dir musan --rir_dir RIRS_NOISES] \
        [--resume OUT/last.ckpt] [--config_path ecapa_tdnn/config_c512.yaml] [--key value ...]

Random crops of every training file (online noise / music / babble / reverb augmentation when MUSAN or
RIRS_NOISES are given) -> log-mel -> ECAPA-TDNN -> AAM-softmax. After each epoch the embedding of every
file of the validation trial list is extracted once and the trials are scored by cosine: ``best.ckpt``
keeps the lowest EER (without a trial list: the lowest training loss).
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from utils.cli import add_start_arguments, start  # noqa: E402  (first: sets the environment before mindspore loads)


def add_arguments(parser):
    parser.add_argument("--data_dir", required=True, help="training folder holding idNNNNN/<video>/NNNNN.wav "
                                                          "(VoxCeleb's wav/)")
    parser.add_argument("--output_dir", required=True, help="checkpoints, logs and the resolved config go here")
    parser.add_argument("--valid_trials", default=None, help="trial list ('1|0 path1 path2' lines) scored after "
                                                             "each epoch, e.g. VoxCeleb1/dev_trials.txt")
    parser.add_argument("--valid_data_dir", default=None, help="folder the validation trial paths are relative to "
                                                               "(default: --data_dir)")
    parser.add_argument("--musan_dir", default=None, help="MUSAN root for noise/music/babble augmentation")
    parser.add_argument("--rir_dir", default=None, help="RIRS_NOISES root for reverberation")
    add_start_arguments(parser)


def main():
    args, cfg, run = start(__file__, "Train ECAPA-TDNN speaker embeddings", add_arguments,
                           save_resolved_config=True)
    import logging

    import mindspore as ms

    from ecapa_tdnn.src.dataset import VoxCelebTrainSet, build_augmenter, collate, read_trials
    from ecapa_tdnn.src.loss import AAMSoftmaxHead, SpeakerClassifierWithLoss
    from ecapa_tdnn.src.network import ECAPATDNN, count_parameters, dynamic_inputs
    from ecapa_tdnn.src.training import build_lr_schedule, schedule_with_margin_warmup
    from ecapa_tdnn.src.verification import (cosine_scores, extract_embeddings, network_embedder, trial_indices,
                                             verification_metrics)
    from utils.audio import screen_training_files
    from utils.data import BatchLoader
    from utils.sync_batch_norm import synchronise_batch_norm
    from utils.trainer import Trainer, build_optimizer, start_from

    log = logging.getLogger("zoo.train")
    # --musan_dir / --rir_dir share their names with data.augment keys: the config parser already put them there
    sample_rate = int(cfg.data.sample_rate)
    dataset = VoxCelebTrainSet(args.data_dir, sample_rate, cfg.data.crop_seconds, cfg.data.features,
                               build_augmenter(cfg.data.augment, sample_rate), cfg.data.speed_factors,
                               cfg.data.speed_as_new_speaker)
    bad = screen_training_files([os.path.join(args.data_dir, path) for path, _ in dataset.items], args.skip_bad_files)
    dataset.items = [(path, label) for path, label in dataset.items if os.path.join(args.data_dir, path) not in bad]
    loader = BatchLoader(dataset, int(cfg.train.batch_size), collate, shuffle=True, seed=int(cfg.seed),
                         rank=run.rank, group_size=run.group_size, num_workers=int(cfg.train.num_workers))
    log.info("%d training files of %d speakers (%d classes), %d steps per epoch; augmentation: %s",
             len(dataset), len(dataset.speakers), dataset.num_classes, len(loader),
             ", ".join(dataset.augmenter.kinds) if dataset.augmenter else "off")

    network = ECAPATDNN(**cfg.model)
    network = synchronise_batch_norm(network, cfg.train)  # data parallel: BN over the global batch
    head = AAMSoftmaxHead(int(cfg.model.embedding_dim), dataset.num_classes, cfg.loss.margin, cfg.loss.scale,
                          cfg.loss.easy_margin)
    with_loss = SpeakerClassifierWithLoss(network, head)
    log.info("ECAPA-TDNN with %.2f M parameters (+ %d x %d AAM head)", count_parameters(network) / 1e6,
             dataset.num_classes, int(cfg.model.embedding_dim))
    lr_schedule = schedule_with_margin_warmup(build_lr_schedule(cfg.train, len(loader)), head, cfg.loss,
                                              len(loader))

    validate, metric = None, "loss"
    if args.valid_trials:
        valid_dir = args.valid_data_dir or args.data_dir
        trials = read_trials(args.valid_trials, valid_dir)
        bad = screen_training_files([os.path.join(valid_dir, path) for trial in trials for path in trial[1:]],
                                    args.skip_bad_files, "validation")
        trials = [trial for trial in trials if not bad.intersection(os.path.join(valid_dir, p) for p in trial[1:])]
        paths, labels, first, second = trial_indices(trials)
        dynamic_inputs(network)  # one graph for every validation batch shape
        log.info("validation: %d trials over %d files of %s", len(labels), len(paths), valid_dir)
        metric = "eer"

        def validate(net):
            embeddings = extract_embeddings(network_embedder(net), valid_dir, paths, sample_rate, cfg.data.features,
                                            int(cfg.train.valid_batch_size), run.rank, run.group_size,
                                            desc="validation")
            scores = cosine_scores(embeddings, first, second)
            found = verification_metrics(scores, labels, float(cfg.eval.p_target))
            return {"eer": found["eer"], "min_dcf": found["min_dcf"]}

    feature_dim = int(cfg.model.input_dim)
    input_specs = [ms.Tensor(shape=[None, feature_dim, None], dtype=ms.float32),
                   ms.Tensor(shape=[None], dtype=ms.int32), ms.Tensor(shape=[None], dtype=ms.int32)]
    trainer = Trainer(with_loss, network, loader, validate, cfg.train, args.output_dir, input_specs=input_specs,
                      metric=metric, mode="min", lr_schedule=lr_schedule,
                      optimizer=build_optimizer(with_loss.trainable_params(), cfg.train), config=cfg.to_dict())
    start_from(trainer, args)
    state = trainer.fit()
    log.info("done: %d epochs, %d steps, best %s %s -> %s", state.epoch, state.global_step, metric,
             "n/a" if state.best_metric is None else f"{state.best_metric:.4f}",
             os.path.join(args.output_dir, "best.ckpt"))


if __name__ == "__main__":
    from utils import cli
    cli.run(__file__, main)
