"""Conv1d and LSTM train-step times with and without the oneDNN ISA cap, as a table.

MindSpore reads ONEDNN_MAX_CPU_ISA once, when it is imported, so each setting runs in its own
subprocess. "default" lets oneDNN choose (AVX-512 on this CPU: slow reference Conv1d kernels);
"AVX2" is what utils/context.py sets. A regression shows as the AVX2 column losing its lead.

    python bench/ops.py [--repeats 5]
"""
import argparse
import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CASES = [  # name, builder args
    ("Conv1d k=3 256->256, [8, 256, 400]", dict(kind="conv", kernel=3, channels=256, batch=8, length=400)),
    ("Conv1d k=11 256->256, [8, 256, 400]", dict(kind="conv", kernel=11, channels=256, batch=8, length=400)),
    ("Conv1d k=1 256->256, [8, 256, 400]", dict(kind="conv", kernel=1, channels=256, batch=8, length=400)),
    ("BLSTM 128->2x128, [4, 500, 128]", dict(kind="lstm", hidden=128, batch=4, length=500)),
]


def measure(case, repeats):
    """Median seconds of one compiled forward+backward+Adam step (first call = compile, excluded)."""
    import numpy as np
    import mindspore as ms
    from mindspore import nn
    ms.set_context(mode=ms.GRAPH_MODE)
    ms.set_device("CPU")
    if case["kind"] == "conv":
        net = nn.Conv1d(case["channels"], case["channels"], case["kernel"], pad_mode="same")
        x = np.random.randn(case["batch"], case["channels"], case["length"]).astype(np.float32)
    else:
        net = nn.LSTM(case["hidden"], case["hidden"], batch_first=True, bidirectional=True)
        x = np.random.randn(case["batch"], case["length"], case["hidden"]).astype(np.float32)

    class Loss(nn.Cell):
        def __init__(self):
            super().__init__(auto_prefix=False)
            self.net = net

        def construct(self, inputs):
            out = self.net(inputs)
            out = out[0] if isinstance(out, tuple) else out
            return (out ** 2).mean()

    step = nn.TrainOneStepCell(Loss(), nn.Adam(net.trainable_params(), 1e-3))
    tensor = ms.Tensor(x)
    started = time.perf_counter()
    step(tensor).asnumpy()
    compile_s = time.perf_counter() - started
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        step(tensor).asnumpy()
        times.append(time.perf_counter() - started)
    return {"step_s": float(np.median(times)), "compile_s": compile_s}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5, help="timed steps per case (median reported)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)  # internal: run one case in this process
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(measure(json.loads(args.worker), args.repeats)))
        return
    settings = {"default": None, "AVX2": "AVX2"}
    rows = []
    for name, case in CASES:
        row = {"case": name}
        for label, isa in settings.items():
            env = {k: v for k, v in os.environ.items() if k != "ONEDNN_MAX_CPU_ISA"}
            env["GLOG_v"] = "3"
            if isa:
                env["ONEDNN_MAX_CPU_ISA"] = isa
            out = subprocess.run([sys.executable, __file__, "--worker", json.dumps(case), "--repeats",
                                  str(args.repeats)], env=env, cwd=ROOT, capture_output=True, text=True, check=True)
            row[label] = json.loads(out.stdout.strip().splitlines()[-1])["step_s"]
        rows.append(row)
    print(f"{'train step (fwd+bwd+Adam), CPU':40s} {'oneDNN default':>15s} {'ISA=AVX2':>10s} {'speed-up':>9s}")
    for row in rows:
        print(f"{row['case']:40s} {row['default'] * 1e3:13.1f}ms {row['AVX2'] * 1e3:8.1f}ms "
              f"{row['default'] / row['AVX2']:8.1f}x")


if __name__ == "__main__":
    main()
