"""`<model>/eval.py` for every separation model: SI-SNRi and SDRi (BSS-eval v3, PIT) over FULL test utterances.

    python tasnet/eval.py --data_dir Libri2Mix --ckpt_path OUT/best.ckpt --output_dir EVAL [--split test] [--save_wavs]

Writes EVAL/metrics.json (si_snri, sdri, si_snr, sdr, pesq, stoi, n_utterances, ...) and EVAL/per_utterance.csv;
with --save_wavs EVAL/wavs/<mixture_id>_s<k>.wav, source k matched to reference k. PESQ is narrow band at 8 kHz,
wide band at 16 kHz (other rates: resampled to 16 kHz), STOI classic; both average the matched sources of an
utterance, and mixture_pesq / mixture_stoi score the unprocessed mixture against each source (asteroid's input_*).
Without the pesq / pystoi packages those columns read "unavailable" and metrics.json says why.
"""
import csv
import json
import logging
import os
import time

import numpy as np
from tqdm import tqdm

from utils.cli import add_checkpoint_arguments, start

LOG = logging.getLogger("zoo.eval")
PERCEPTUAL = ("pesq", "stoi", "mixture_pesq", "mixture_stoi")
COLUMNS = ("si_snr", "si_snri", "sdr", "sdri") + PERCEPTUAL + ("audio_seconds", "seconds")


def add_eval_arguments(parser):
    parser.add_argument("--data_dir", required=True, help="LibriMix root or wsj0-2mix root (as for train.py)")
    add_checkpoint_arguments(parser, "trained checkpoint (.ckpt) or exported .mindir")
    parser.add_argument("--output_dir", required=True, help="metrics.json, per_utterance.csv (and wavs) go here")
    parser.add_argument("--split", default="test", help="test (test / tt), valid, or a corpus split name")
    parser.add_argument("--save_wavs", action="store_true", help="also write the separated sources as wavs")
    parser.add_argument("--use_ema", action="store_true", help="evaluate the EMA weights of the checkpoint")
    parser.add_argument("--max_items", type=int, default=None, help="only the first N mixtures (smoke runs)")


def utterance_metrics(estimates, sources, mixture):
    """estimates, sources [S, T], mixture [T] -> (metrics dict in dB averaged over sources, perm) where
    estimates[perm[j]] is matched to sources[j] (by SI-SNR; SDR uses BSS-eval's own SIR-based matching)."""
    from utils.metrics import bss_eval_sources, pit, si_snr
    si_snr_value, perm = pit(si_snr, estimates, sources)
    mixture_si_snr = float(np.mean(si_snr(mixture, sources)))
    sdr_values = bss_eval_sources(estimates, sources)[0]
    mixture_sdr = bss_eval_sources(np.broadcast_to(mixture, sources.shape), sources, compute_permutation=False)[0]
    return {"si_snr": float(si_snr_value), "si_snri": float(si_snr_value - mixture_si_snr),
            "sdr": float(np.mean(sdr_values)), "sdri": float(np.mean(sdr_values - mixture_sdr))}, perm


def perceptual_metrics(estimates, sources, mixture, sample_rate, backends):
    """PESQ / STOI of the matched estimates [S, T] (and of the mixture [T]) against sources [S, T], averaged
    over sources; NaN for a metric whose package is missing (``backends`` from metrics.perceptual_backends)."""
    from utils.metrics import pesq_score, stoi_score
    values = {}
    for name, score in (("pesq", pesq_score), ("stoi", stoi_score)):
        backend = backends[name]
        if backend is None:
            values[name] = values[f"mixture_{name}"] = float("nan")
            continue
        values[name] = float(np.nanmean([score(e, s, sample_rate, backend) for e, s in zip(estimates, sources)]))
        values[f"mixture_{name}"] = float(np.nanmean([score(mixture, s, sample_rate, backend) for s in sources]))
    return values


def evaluate(model, items, sample_rate, run, wav_dir=None):
    """Score every item of this rank's shard; returns the rows of ALL ranks as
    [(item index, {column: value})] sorted by index."""
    from utils.audio import write_audio
    from utils.distributed import all_gather_lists
    from utils.metrics import perceptual_backends
    from utils.separation.data import SeparationDataset
    from utils.separation.separate import separate

    mine = list(range(run.rank, len(items), run.group_size))
    dataset = SeparationDataset([items[i] for i in mine], sample_rate) if mine else None
    columns = {name: [] for name in ("index",) + COLUMNS}
    backends = perceptual_backends()
    for position, index in enumerate(tqdm(mine, desc="evaluation", unit="utt", disable=not run.is_main)):
        mixture, sources, _ = dataset.get(position)
        if dataset.bad_files:
            raise RuntimeError(f"cannot evaluate: {dataset.report()}")
        started = time.perf_counter()
        estimates = separate(model, mixture)
        separation_seconds = time.perf_counter() - started
        values, perm = utterance_metrics(estimates, sources, mixture)
        values.update(perceptual_metrics(estimates[perm], sources, mixture, sample_rate, backends))
        for name, value in values.items():
            columns[name].append(value)
        columns["seconds"].append(separation_seconds)
        columns["audio_seconds"].append(len(mixture) / sample_rate)
        columns["index"].append(index)
        if wav_dir:
            for k, source in enumerate(estimates[perm], start=1):
                peak = max(float(np.abs(source).max()), 1e-8)
                write_audio(os.path.join(wav_dir, f"{items[index].mixture_id}_s{k}.wav"),
                            source * min(1.0, 0.99 / peak), sample_rate)
    gathered = {name: all_gather_lists(values) for name, values in columns.items()}
    rows = sorted(zip([int(i) for i in gathered["index"]],
                      [dict(zip(COLUMNS, values)) for values in zip(*(gathered[c] for c in COLUMNS))]))
    if [index for index, _ in rows] != list(range(len(items))):
        raise RuntimeError(f"evaluation covered {len(rows)} utterances instead of each of the {len(items)} once")
    return rows


def summarize(rows, missing=None, **extra):
    """Rows [(index, {column: value})] -> metrics.json dict: mean si_snri, sdri, si_snr, sdr (dB), pesq, stoi
    (and the mixture's; NaN utterances, e.g. silence for PESQ, left out), counts, total audio / separation
    seconds and the real-time factor, plus ``extra`` (split, checkpoint...). ``missing`` {metric: why}: those
    metrics are reported as the reason instead of a number."""
    metrics = {name: float(np.mean([row[name] for _, row in rows])) for name in ("si_snri", "sdri", "si_snr", "sdr")}
    for name in PERCEPTUAL:
        why = (missing or {}).get(name.replace("mixture_", ""))
        values = [row[name] for _, row in rows if not np.isnan(row[name])]
        metrics[name] = why if why else (float(np.mean(values)) if values else None)
    metrics.update(n_utterances=len(rows), **extra,
                   audio_seconds=float(sum(row["audio_seconds"] for _, row in rows)),
                   separation_seconds=float(sum(row["seconds"] for _, row in rows)))
    warm = rows[1:] or rows  # the first utterance also pays the one-time graph compile
    metrics["real_time_factor"] = (sum(row["seconds"] for _, row in warm)
                                   / max(sum(row["audio_seconds"] for _, row in warm), 1e-9))
    return metrics


def write_tables(output_dir, metrics, rows, mixture_ids, missing=None):
    """OUT/metrics.json and OUT/per_utterance.csv (one line per row, mixture_ids[index] naming it; a metric
    in ``missing`` reads "unavailable")."""
    def cell(column, value):
        return "unavailable" if column.replace("mixture_", "") in (missing or {}) else f"{value:.4f}"

    os.makedirs(output_dir, exist_ok=True)
    with open(os.path.join(output_dir, "metrics.json"), "w", encoding="utf-8") as handle:
        json.dump(metrics, handle, indent=2)
    with open(os.path.join(output_dir, "per_utterance.csv"), "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(("mixture_id",) + COLUMNS)
        for index, row in rows:
            writer.writerow([mixture_ids[index]] + [cell(c, row[c]) for c in COLUMNS])


def _number(value):
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def eval_main(entry_file, network_class, description):
    """The whole evaluation entry point for `network_class` (built from the checkpoint's config)."""
    args, cfg, run = start(entry_file, description, add_eval_arguments)
    from utils.inference import load_model
    from utils.separation.separate import mixture_spec, network_builder
    from utils.separation.train import find_split

    model = load_model(args.ckpt_path, network_builder(network_class), args.use_ema, input_specs=[mixture_spec()])
    config = model.config or cfg.to_dict()
    data_cfg = type(cfg)(config.get("data", cfg.data))
    sample_rate = int(data_cfg.sample_rate)
    items = find_split(args.data_dir, args.split, data_cfg)[:args.max_items]
    LOG.info("evaluating %s on %d %s mixtures of %s", args.ckpt_path, len(items), args.split, args.data_dir)
    wav_dir = os.path.join(args.output_dir, "wavs") if args.save_wavs else None
    from utils.metrics import PESQ_RATES, perceptual_backends
    missing = perceptual_backends()["missing"]
    for name, why in missing.items():
        LOG.warning("%s: %s", name, why)
    rows = evaluate(model, items, sample_rate, run, wav_dir)
    metrics = summarize(rows, missing, split=args.split, checkpoint=os.path.abspath(args.ckpt_path),
                        pesq_mode=f"{PESQ_RATES.get(sample_rate, 'wb')} ({'resampled to 16 kHz' if sample_rate not in PESQ_RATES else f'{sample_rate} Hz'})")
    if run.is_main:
        write_tables(args.output_dir, metrics, rows, [item.mixture_id for item in items], missing)
    LOG.info("%s: SI-SNRi %.2f dB, SDRi %.2f dB (SI-SNR %.2f, SDR %.2f), PESQ %s, STOI %s over %d utterances -> %s",
             args.split, metrics["si_snri"], metrics["sdri"], metrics["si_snr"], metrics["sdr"],
             _number(metrics["pesq"]), _number(metrics["stoi"]), len(rows), os.path.join(args.output_dir, "metrics.json"))
    print(json.dumps({k: metrics[k] for k in ("si_snri", "sdri", "pesq", "stoi", "n_utterances")}))
    return metrics
