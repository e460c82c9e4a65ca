"""Write one JSON-lines manifest per LibriSpeech subset found under --data_dir.

Layout read: <data_dir>/<subset>/<speaker>/<chapter>/<speaker>-<chapter>.trans.txt plus the .flac files it
names. Output: <output_dir>/<subset>.jsonl with {"audio_filepath", "duration", "text"} per line; the flac
files are used in place (absolute paths), durations come from the file headers.
"""
import os, sys  # noqa: E401
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import argparse  # noqa: E402
import glob  # noqa: E402
import json  # noqa: E402

from tqdm import tqdm  # noqa: E402

from jasper.src.text import normalize_text  # noqa: E402
from utils.audio import AudioError, audio_info  # noqa: E402


def find_subsets(data_dir):
    """Subset folders (e.g. train-clean-100) that hold at least one transcript file, sorted."""
    subsets = []
    for name in sorted(os.listdir(data_dir)):
        if glob.glob(os.path.join(data_dir, name, "*", "*", "*.trans.txt")):
            subsets.append(name)
    return subsets


def subset_entries(subset_dir):
    """(entries, problems) for one subset: entries are manifest dicts, problems (path, reason) pairs."""
    entries, problems = [], []
    transcripts = sorted(glob.glob(os.path.join(subset_dir, "*", "*", "*.trans.txt")))
    lines = []
    for transcript in transcripts:
        with open(transcript, encoding="utf-8") as handle:
            lines.extend((os.path.dirname(transcript), line) for line in handle if line.strip())
    for folder, line in tqdm(lines, desc=os.path.basename(subset_dir), unit="utt"):
        utterance_id, _, text = line.strip().partition(" ")
        path = os.path.abspath(os.path.join(folder, utterance_id + ".flac"))
        try:
            num_samples, sample_rate, _ = audio_info(path)
        except AudioError as error:
            problems.append((path, str(error)))
            continue
        if num_samples == 0 or not normalize_text(text):
            problems.append((path, "empty audio or empty transcript"))
            continue
        entries.append({"audio_filepath": path, "duration": round(num_samples / sample_rate, 4),
                        "text": normalize_text(text)})
    return entries, problems


def build_manifests(data_dir, output_dir):
    """Write every subset's manifest; returns {subset: (written, skipped)}."""
    if not os.path.isdir(data_dir):
        raise SystemExit(f"jasper/preprocess.py: --data_dir {data_dir} is not a directory")
    subsets = find_subsets(data_dir)
    if not subsets:
        raise SystemExit(f"jasper/preprocess.py: no LibriSpeech subset (<subset>/<speaker>/<chapter>/*.trans.txt) "
                         f"under {data_dir}")
    os.makedirs(output_dir, exist_ok=True)
    summary = {}
    for subset in subsets:
        entries, problems = subset_entries(os.path.join(data_dir, subset))
        with open(os.path.join(output_dir, f"{subset}.jsonl"), "w", encoding="utf-8") as handle:
            for entry in entries:
                handle.write(json.dumps(entry) + "\n")
        for path, reason in problems[:10]:
            print(f"  skipped {path}: {reason}", file=sys.stderr)
        summary[subset] = (len(entries), len(problems))
    return summary


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data_dir", required=True, help="LibriSpeech root holding subset folders")
    parser.add_argument("--output_dir", required=True, help="where <subset>.jsonl manifests are written")
    from utils.cli import add_debug_argument
    add_debug_argument(parser)
    args = parser.parse_args(argv)
    summary = build_manifests(args.data_dir, args.output_dir)
    for subset, (written, skipped) in summary.items():
        print(f"{subset}: {written} utterances written to {os.path.join(args.output_dir, subset + '.jsonl')}, "
              f"{skipped} skipped")
    return summary


if __name__ == "__main__":
    from utils import cli
    cli.run(__file__, main)
