"""Data-parallel scaling on this machine: training samples/s with 1 and 2 CPU workers per model.

    python bench/scaling.py [--data data/tiny] [--steps 12] [--models tasnet dprnn ...]

Each model trains through the launchers exactly as a user would (the quickstart's training command,
``scripts/run_standalone_train.sh ... --foreground`` for 1 worker and
``scripts/run_distribute_train_msrun.sh MODEL 2 CPU`` for 2) with the same GLOBAL batch, so the
2-worker run gives each worker half of it. samples/s = global batch / median step time (the
compiling first step and data loading excluded, read from the run's train_log.jsonl). On a 2-core
machine two workers share the cores: the table shows the mechanism's overhead, not a speed-up.
"""
import argparse
import glob
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from utils.quickstart import MODEL_JOBS, job_argv  # noqa: E402


def batch_key(argv):
    """The --batch_size value in a training command (the models' ``train.batch_size``)."""
    for flag in ("--train.batch_size", "--batch_size"):
        if flag in argv:
            return flag, int(argv[argv.index(flag) + 1])
    raise ValueError(f"the training command sets no --train.batch_size: {argv}")


def median_step_seconds(output_dir):
    logs = glob.glob(os.path.join(output_dir, "**", "train_log.jsonl"), recursive=True)
    if not logs:
        raise FileNotFoundError(f"no train_log.jsonl under {output_dir}")
    records = [json.loads(line) for line in open(logs[0], encoding="utf-8")]
    return records[-1]["step_seconds"]


def run_training(model, argv, workers, steps, out_dir):
    """argv: the training command (python MODEL/train.py ...); returns the median step seconds."""
    flag, global_batch = batch_key(argv)
    args = list(argv[2:])  # drop "python MODEL/train.py"
    args[args.index(flag) + 1] = str(global_batch // workers)
    args += ["--train.max_steps", str(steps), "--output_dir", out_dir]
    if workers == 1:
        cmd = ["bash", "scripts/run_standalone_train.sh", model, "CPU", "--foreground", *args]
    else:
        cmd = ["bash", "scripts/run_distribute_train_msrun.sh", model, str(workers), "CPU", *args]
    env = dict(os.environ, PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
    subprocess.run(cmd, cwd=ROOT, check=True, env=env, stdout=subprocess.DEVNULL)
    return median_step_seconds(out_dir), global_batch


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=os.path.join(ROOT, "data", "tiny"), help="tiny corpora folder")
    parser.add_argument("--out", default=os.path.join(ROOT, "runs", "bench_scaling"), help="output folder")
    parser.add_argument("--steps", type=int, default=12, help="training steps per run")
    parser.add_argument("--models", nargs="*", default=None, help="subset of models")
    args = parser.parse_args()
    data = os.path.abspath(args.data)
    if not os.path.isfile(os.path.join(data, "summary.json")):
        subprocess.run([sys.executable, "-m", "utils.tiny_corpora", "--out", data], cwd=ROOT, check=True)
    rows = []
    for model, steps in MODEL_JOBS.items():
        if args.models and model not in args.models:
            continue
        model_out = os.path.join(os.path.abspath(args.out), model)
        train = None
        for name, template, _ in steps:
            argv = job_argv(template, data, model_out)
            if name == "train":
                train = argv
                break
            subprocess.run(argv, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)  # data preparation
        row = {"model": model}
        for workers in (1, 2):
            seconds, global_batch = run_training(model, train, workers, args.steps,
                                                 os.path.join(model_out, f"w{workers}"))
            row[workers] = global_batch / seconds
        rows.append(row)
    print(f"{'model':12s} {'1 worker':>14s} {'2 workers':>14s} {'ratio':>7s}   (training samples/s, CPU)")
    for row in rows:
        print(f"{row['model']:12s} {row[1]:14.2f} {row[2]:14.2f} {row[2] / row[1]:7.2f}")


if __name__ == "__main__":
    main()
