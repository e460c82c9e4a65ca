"""The quickstart's main job: summarise the tiny corpora, run every model end to end, print one table.

    python -m utils.quickstart --data data/tiny --out runs/quickstart

For each model folder that has its entry points, the job trains briefly on CPU, evaluates, exports
MINDIR and runs inference on one sample, each as the user would from the shell (the commands are
printed); every step's output lands in ``OUT/<model>/``. The table is printed and written to
``OUT/results.md``.
"""
import argparse
import json
import os
import shlex
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# model -> list of (step name, argv template, metrics) where metrics is None or (column, "FILE:key,key"): a
# JSON file in the model's output folder and the keys shown in the table's "trained" or "untrained" column.
# Templates use {data} (the tiny corpora), {out} (the model's output folder) and {py} (this Python).
# "untrained" = the same network with random weights (export.py without --ckpt_path), evaluated the same way.
MODEL_JOBS = {
    "tasnet": [
        ("train", ["{py}", "tasnet/train.py", "--data_dir", "{data}/Libri2Mix", "--output_dir", "{out}",
                   "--train.max_steps", "100", "--train.batch_size", "4"], None),
        ("eval", ["{py}", "tasnet/eval.py", "--data_dir", "{data}/Libri2Mix", "--ckpt_path", "{out}/best.ckpt",
                  "--output_dir", "{out}"], ("trained", "metrics.json:si_snri,sdri")),
        ("export", ["{py}", "tasnet/export.py", "--ckpt_path", "{out}/best.ckpt", "--file_format", "MINDIR",
                    "--file_name", "{out}/tasnet"], None),
        ("infer", ["{py}", "tasnet/infer.py", "--ckpt_path", "{out}/tasnet.mindir", "--input",
                   "{data}/Libri2Mix/wav8k/min/test/mix_clean", "--output_dir", "{out}/separated"], None),
        ("untrained export", ["{py}", "tasnet/export.py", "--file_format", "MINDIR", "--file_name",
                              "{out}/untrained/tasnet"], None),
        ("untrained eval", ["{py}", "tasnet/eval.py", "--data_dir", "{data}/Libri2Mix", "--ckpt_path",
                            "{out}/untrained/tasnet.mindir", "--output_dir", "{out}/untrained"],
         ("untrained", "untrained/metrics.json:si_snri,sdri")),
    ],
    "dprnn": [
        ("train", ["{py}", "dprnn/train.py", "--data_dir", "{data}/Libri2Mix", "--output_dir", "{out}",
                   "--train.max_steps", "100", "--train.batch_size", "4"], None),
        ("eval", ["{py}", "dprnn/eval.py", "--data_dir", "{data}/Libri2Mix", "--ckpt_path", "{out}/best.ckpt",
                  "--output_dir", "{out}"], ("trained", "metrics.json:si_snri,sdri")),
        ("export", ["{py}", "dprnn/export.py", "--ckpt_path", "{out}/best.ckpt", "--file_format", "MINDIR",
                    "--file_name", "{out}/dprnn"], None),
        ("infer", ["{py}", "dprnn/infer.py", "--ckpt_path", "{out}/dprnn.mindir", "--input",
                   "{data}/Libri2Mix/wav8k/min/test/mix_clean", "--output_dir", "{out}/separated"], None),
        ("untrained export", ["{py}", "dprnn/export.py", "--file_format", "MINDIR", "--file_name",
                              "{out}/untrained/dprnn"], None),
        ("untrained eval", ["{py}", "dprnn/eval.py", "--data_dir", "{data}/Libri2Mix", "--ckpt_path",
                            "{out}/untrained/dprnn.mindir", "--output_dir", "{out}/untrained"],
         ("untrained", "untrained/metrics.json:si_snri,sdri")),
    ],
    "ecapa_tdnn": [
        ("train", ["{py}", "ecapa_tdnn/train.py", "--data_dir", "{data}/VoxCeleb1/dev/wav",
                   "--valid_trials", "{data}/VoxCeleb1/dev_trials.txt", "--musan_dir", "{data}/musan",
                   "--rir_dir", "{data}/RIRS_NOISES", "--output_dir", "{out}", "--epochs", "5",
                   "--train.batch_size", "32"], None),
        ("eval", ["{py}", "ecapa_tdnn/eval.py", "--data_dir", "{data}/VoxCeleb1/test/wav",
                  "--trials", "{data}/VoxCeleb1/veri_test2.txt", "--ckpt_path", "{out}/best.ckpt",
                  "--output_dir", "{out}"], ("trained", "metrics.json:eer,min_dcf")),
        ("export", ["{py}", "ecapa_tdnn/export.py", "--ckpt_path", "{out}/best.ckpt", "--file_format", "MINDIR",
                    "--file_name", "{out}/ecapa"], None),
        ("infer", ["{py}", "ecapa_tdnn/infer.py", "embed", "--ckpt_path", "{out}/ecapa.mindir",
                   "--input", "{data}/VoxCeleb1/test/wav/id10270", "--output_dir", "{out}/embeddings"], None),
        ("untrained export", ["{py}", "ecapa_tdnn/export.py", "--file_format", "MINDIR", "--file_name",
                              "{out}/untrained/ecapa"], None),
        ("untrained eval", ["{py}", "ecapa_tdnn/eval.py", "--data_dir", "{data}/VoxCeleb1/test/wav",
                            "--trials", "{data}/VoxCeleb1/veri_test2.txt", "--ckpt_path",
                            "{out}/untrained/ecapa.mindir", "--output_dir", "{out}/untrained"],
         ("untrained", "untrained/metrics.json:eer,min_dcf")),
    ],
    "jasper": [
        ("preprocess", ["{py}", "jasper/preprocess.py", "--data_dir", "{data}/LibriSpeech", "--output_dir",
                        "{out}/manifests"], None),
        ("train", ["{py}", "jasper/train.py", "--train_manifest", "{out}/manifests/train-clean-100.jsonl",
                   "--valid_manifest", "{out}/manifests/dev-clean.jsonl", "--output_dir", "{out}/run",
                   "--train.max_steps", "300", "--train.batch_size", "16"], None),
        ("eval", ["{py}", "jasper/eval.py", "--manifest", "{out}/manifests/test-clean.jsonl", "--ckpt_path",
                  "{out}/run/best.ckpt", "--output_dir", "{out}"], ("trained", "metrics.json:wer,cer")),
        ("export", ["{py}", "jasper/export.py", "--ckpt_path", "{out}/run/best.ckpt", "--file_format", "MINDIR",
                    "--file_name", "{out}/jasper"], None),
        ("infer", ["{py}", "jasper/infer.py", "--ckpt_path", "{out}/jasper.mindir", "--input",
                   "{data}/LibriSpeech/test-clean", "--output_dir", "{out}/infer"], None),
        ("untrained export", ["{py}", "jasper/export.py", "--file_format", "MINDIR", "--file_name",
                              "{out}/untrained/jasper"], None),
        ("untrained eval", ["{py}", "jasper/eval.py", "--manifest", "{out}/manifests/test-clean.jsonl", "--ckpt_path",
                            "{out}/untrained/jasper.mindir", "--output_dir", "{out}/untrained"],
         ("untrained", "untrained/metrics.json:wer,cer")),
    ],
}


def corpus_rows(data_dir):
    path = os.path.join(data_dir, "summary.json")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path} missing: build the corpora with python -m utils.tiny_corpora --out {data_dir}")
    with open(path, encoding="utf-8") as handle:
        summary = json.load(handle)
    rows = []
    for name, info in summary.get("corpora", summary).items():
        if isinstance(info, dict):
            rows.append((name, ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}"
                                         for k, v in info.items() if not isinstance(v, (dict, list)))))
    return rows


def job_argv(template, data_dir, model_out):
    """A step's command line: {data}, {out} and {py} filled in."""
    return [part.format(data=data_dir, out=model_out, py=sys.executable) for part in template]


def run_model(model, steps, data_dir, out_dir):
    """Run one model's steps; returns {step: seconds} and {column: {metric: value}} of the steps writing them."""
    model_out = os.path.join(out_dir, model)
    os.makedirs(model_out, exist_ok=True)
    seconds, metrics = {}, {}
    for name, template, metric_spec in steps:
        argv = job_argv(template, data_dir, model_out)
        print(f"\n[{model}] {name}: {shlex.join(argv)}", flush=True)
        started = time.time()
        subprocess.run(argv, cwd=ROOT, check=True)
        seconds[name] = time.time() - started
        if metric_spec:
            column, (path, _, keys) = metric_spec[0], metric_spec[1].partition(":")
            with open(os.path.join(model_out, path), encoding="utf-8") as handle:
                values = json.load(handle)
            metrics.setdefault(column, {}).update({key: values[key] for key in keys.split(",")})
    return seconds, metrics


def format_value(key, value):
    """Metrics as people quote them: dB with 2 decimals, rates in %, minDCF with 3 decimals."""
    if key in ("eer", "wer", "cer"):
        return f"{100 * value:.1f} %"
    if key == "min_dcf":
        return f"{value:.3f}"
    return f"{value:.2f} dB" if key in ("si_snri", "sdri") else f"{value:.3g}"


def results_table(results):
    """Markdown rows: one per model and metric, untrained beside trained."""
    lines = ["| model | metric | untrained (random weights) | trained | wall seconds per stage |",
             "|---|---|---|---|---|"]
    for model, metrics, seconds in results:
        trained, untrained = metrics.get("trained", {}), metrics.get("untrained", {})
        stages = ", ".join(f"{k} {v:.0f}" for k, v in seconds.items())
        for index, key in enumerate(trained):
            before = format_value(key, untrained[key]) if key in untrained else "-"
            lines.append(f"| {model if index == 0 else ''} | {key} | {before} | {format_value(key, trained[key])} | "
                         f"{stages if index == 0 else ''} |")
    return lines


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="folder of the tiny corpora (python -m utils.tiny_corpora)")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--models", nargs="*", default=None, help="subset of models to run (default: all)")
    from utils.cli import add_debug_argument
    add_debug_argument(parser)
    args = parser.parse_args(argv)
    lines = ["## Tiny corpora", "", "| corpus | contents |", "|---|---|"]
    lines += [f"| {name} | {text} |" for name, text in corpus_rows(args.data)]
    results = []
    for model, steps in MODEL_JOBS.items():
        if args.models and model not in args.models:
            continue
        seconds, metrics = run_model(model, steps, os.path.abspath(args.data), os.path.abspath(args.out))
        results.append((model, metrics, seconds))
    if results:
        lines += ["", "## Models (short CPU runs on the tiny corpora)", ""] + results_table(results)
    else:
        lines += ["", "(no model entry points yet: the quickstart built and summarised the corpora)"]
    table = "\n".join(lines)
    print("\n" + table)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "results.md"), "w", encoding="utf-8") as handle:
        handle.write(table + "\n")


if __name__ == "__main__":
    from utils import cli
    cli.run(__file__, main)
