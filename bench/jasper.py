"""Jasper speed on this machine, as a table (the train step, against PyTorch, is in bench/peers.py).

* transcription real-time factor of the default config: features + network + greedy decoding of one recording,
  compute seconds / audio seconds (below 1 = faster than real time);
* forward pass at batch 1 of 5 s for QuartzNet 5x5 and Jasper 10x5 DR (jasper/config_10x5dr.yaml).

    python bench/jasper.py [--repeats 3] [--skip_10x5dr]
"""
import os, sys  # noqa: E401
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from bench.common import time_calls  # noqa: E402
import utils.context  # noqa: E402,F401  (environment before mindspore)

import argparse  # noqa: E402

import numpy as np  # noqa: E402

import mindspore as ms  # noqa: E402

from jasper.src.decoder import greedy_decode  # noqa: E402
from jasper.src.network import build_network, count_parameters, input_specs  # noqa: E402
from utils.config import load_config  # noqa: E402
from utils.context import init_context  # noqa: E402
from utils.features import FeatureConfig, LogMelExtractor  # noqa: E402

JASPER = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "jasper")
FRAMES_PER_SECOND = 100


def rtf_row(cfg, seconds, repeats):
    network = build_network(cfg.to_dict())
    network.set_train(False)
    network.set_inputs(*input_specs(int(cfg.model.in_features)))
    extractor = LogMelExtractor(FeatureConfig.from_dict(dict(cfg.data.features)))
    wave = (0.1 * np.random.default_rng(1).standard_normal(int(seconds * 16000))).astype(np.float32)

    def transcribe():
        feats = extractor(wave)[None]
        log_probs, lengths = network(ms.Tensor(feats), ms.Tensor(np.array([feats.shape[-1]], np.int32)))
        return greedy_decode(log_probs.asnumpy(), lengths.asnumpy())

    _, median = time_calls(transcribe, repeats)
    return (f"transcription, default config, one {seconds:g} s recording", f"RTF {median / seconds:.3f}",
            f"{median:.3f} s (features + network + greedy)")


def forward_row(config_name, seconds, repeats):
    cfg = load_config(os.path.join(JASPER, config_name))
    network = build_network(cfg.to_dict())
    network.set_train(False)
    frames = int(seconds * FRAMES_PER_SECOND)
    shape = (1, int(cfg.model.in_features), frames)
    feats = ms.Tensor(np.random.default_rng(2).standard_normal(shape).astype(np.float32))
    lengths = ms.Tensor(np.array([frames], np.int32))
    first, median = time_calls(lambda: network(feats, lengths)[0].asnumpy(), repeats)
    return (f"forward, {config_name} ({count_parameters(network) / 1e6:.1f} M), batch 1 x {seconds:g} s",
            f"{median:.3f} s (RTF {median / seconds:.3f})", f"compile + first {first:.1f} s")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3, help="timed calls after the first (default: 3)")
    parser.add_argument("--skip_10x5dr", action="store_true", help="leave out the 333 M-parameter model")
    args = parser.parse_args(argv)
    init_context("CPU", seed=0)
    cfg = load_config(os.path.join(JASPER, "config.yaml"))
    rows = [rtf_row(cfg, 10.0, args.repeats),
            forward_row("config_quartznet5x5.yaml", 5.0, args.repeats)]
    if not args.skip_10x5dr:
        rows.append(forward_row("config_10x5dr.yaml", 5.0, args.repeats))
    header = ("case", "time", "note")
    widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(3)]
    lines = ["| " + " | ".join(str(c).ljust(w) for c, w in zip(row, widths)) + " |" for row in [header] + rows]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
