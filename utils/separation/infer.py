"""`<model>/infer.py` for every separation model: separate the user's own recordings.

    python tasnet/infer.py --ckpt_path OUT/best.ckpt --input FILE_OR_DIR --output_dir SEPARATED
        [--chunk_seconds 8 --overlap_seconds 1] [--record SECONDS]

Any format libsndfile reads, any sample rate (resampled to the model's), any channel count (averaged to
mono). Writes SEPARATED/<name>_s1.wav ... <name>_sN.wav (16-bit PCM at the model's rate) per input, keeping
the input folder structure. Files longer than a chunk go through the model chunk by chunk (memory bounded
by the chunk) with the speaker order kept across chunks; the outputs are streamed to disk under temporary
names and renamed when the file is done. A file that cannot be used (unreadable, empty, NaN / Inf ...) is
reported and listed in SEPARATED/failures.tsv, the others are separated; the run ends with "N done, M failed"
and exits 1 if any failed (--strict: stop at the first). A single input file that cannot be used is an error
(one line, exit 2). See utils/batch.py.
"""
import logging
import os

import numpy as np
from tqdm import tqdm

from utils.audio import is_single_file, list_audio
from utils.batch import FAILURES_FILE, Batch, add_batch_arguments, atomic_outputs
from utils.cli import add_checkpoint_arguments, program_name, start

LOG = logging.getLogger("zoo.infer")


def add_infer_arguments(parser):
    add_checkpoint_arguments(parser, "trained checkpoint (.ckpt) or exported .mindir")
    parser.add_argument("--input", default=None, help="an audio file, a folder searched recursively for audio, or a "
                        ".txt list of audio paths (relative to the list's folder)")
    parser.add_argument("--output_dir", required=True, help="the separated wavs are written here")
    parser.add_argument("--chunk_seconds", type=float, default=None,
                        help="separate longer files in chunks of this many seconds (0: whole file; "
                             "default: the config's infer.chunk_seconds)")
    parser.add_argument("--overlap_seconds", type=float, default=None,
                        help="overlap between chunks (default: the config's infer.overlap_seconds)")
    parser.add_argument("--record", type=float, default=None, metavar="SECONDS",
                        help="first record this many seconds from the microphone (needs the optional "
                             "'sounddevice' package) and separate the recording")
    parser.add_argument("--use_ema", action="store_true", help="use the EMA weights of the checkpoint")
    add_batch_arguments(parser)


def record_microphone(seconds, sample_rate, path):
    """Record `seconds` of mono audio from the default microphone into `path`; returns path."""
    try:
        import sounddevice
    except ImportError:
        raise SystemExit("--record needs the optional 'sounddevice' package: pip install sounddevice "
                         "(see requirements-optional.txt), or pass --input FILE") from None
    from utils.audio import write_audio
    LOG.info("recording %.1f s from the default microphone at %d Hz ...", seconds, sample_rate)
    recording = sounddevice.rec(int(round(seconds * sample_rate)), samplerate=sample_rate, channels=1,
                                dtype="float32")
    sounddevice.wait()
    write_audio(path, recording[:, 0], sample_rate)
    LOG.info("recorded %s", path)
    return path


def mixture_gains(estimates, mixture):
    """Least-squares gains g [S] with sum_s g_s * estimates[s] ~= mixture: an SI-SNR-trained model's output
    scale is arbitrary, this gives the sources the mixture's loudness."""
    gains = np.linalg.lstsq(estimates.T.astype(np.float64), mixture.astype(np.float64), rcond=1e-4)[0]
    return np.where(np.abs(gains) > 1e-3, gains, 1.0).astype(np.float32)


def separate_file(model, mixture, sample_rate, out_paths, chunk, overlap):
    """Separate mixture [T] and stream source k into out_paths[k] (16-bit PCM)."""
    import soundfile

    from utils.separation.separate import separate_in_chunks
    writers = [soundfile.SoundFile(path, "w", sample_rate, 1, "PCM_16") for path in out_paths]
    try:
        gains, written = None, 0
        pieces = separate_in_chunks(model, mixture, chunk or len(mixture), overlap if chunk else 0)
        bar = tqdm(total=round(len(mixture) / sample_rate, 1), unit="s", desc="chunks", leave=False,
                   disable=not chunk)
        for piece in pieces:
            bar.update(round(piece.shape[1] / sample_rate, 1))
            if gains is None:
                gains = mixture_gains(piece, mixture[:piece.shape[1]])
            for writer, source in zip(writers, piece * gains[:, None]):
                writer.write(np.clip(source, -1.0, 1.0))
            written += piece.shape[1]
        bar.close()
    finally:
        for writer in writers:
            writer.close()
    if written != len(mixture):
        raise RuntimeError(f"separated {written} samples of a {len(mixture)}-sample mixture")


def infer_main(entry_file, network_class, description):
    args, cfg, _ = start(entry_file, description, add_infer_arguments)
    from utils.audio import read_audio
    from utils.inference import load_model
    from utils.separation.separate import mixture_spec, network_builder

    if args.input is None and args.record is None:
        raise SystemExit("give --input FILE_OR_DIR or --record SECONDS")
    files = list_audio(args.input) if args.input is not None else []
    model = load_model(args.ckpt_path, network_builder(network_class), args.use_ema, input_specs=[mixture_spec()])
    config = model.config or cfg.to_dict()
    sample_rate = int(config["data"]["sample_rate"])
    n_src = int(config["model"]["n_src"])
    infer_cfg = cfg.get("infer", {})
    chunk_seconds = args.chunk_seconds if args.chunk_seconds is not None else float(infer_cfg.get("chunk_seconds", 0))
    overlap_seconds = (args.overlap_seconds if args.overlap_seconds is not None
                       else float(infer_cfg.get("overlap_seconds", 0)))
    chunk, overlap = int(round(chunk_seconds * sample_rate)), int(round(overlap_seconds * sample_rate))
    if chunk and not 0 < 2 * overlap <= chunk:
        raise SystemExit(f"--overlap_seconds ({overlap_seconds}) must be > 0 and at most half of --chunk_seconds "
                         f"({chunk_seconds}): the overlap keeps the speaker order between chunks")
    os.makedirs(args.output_dir, exist_ok=True)
    inputs = []
    if args.record is not None:
        recording = record_microphone(args.record, sample_rate, os.path.join(args.output_dir, "recording.wav"))
        inputs.append((recording, "recording"))
    inputs += files
    LOG.info("separating %d file(s) into %d sources at %d Hz with %s%s", len(inputs), n_src, sample_rate,
             args.ckpt_path, f" in {chunk_seconds:g} s chunks ({overlap_seconds:g} s overlap)" if chunk else "")
    single = len(inputs) == 1 and (args.record is not None or is_single_file(args.input))
    batch = Batch(program_name(entry_file), os.path.join(args.output_dir, FAILURES_FILE), args.strict or single)

    def separate_one(path, name):
        mixture = read_audio(path, sample_rate, mono=True)[0]
        out_paths = [os.path.join(args.output_dir, f"{name}_s{k}.wav") for k in range(1, n_src + 1)]
        with atomic_outputs(out_paths) as temporaries:
            separate_file(model, mixture, sample_rate, temporaries, chunk if len(mixture) > chunk else 0, overlap)
        print(f"{path} -> {', '.join(out_paths)}", flush=True)

    for path, name in tqdm(inputs, desc="separating", unit="file", disable=len(inputs) < 2):
        batch.attempt(path, separate_one, path, name)
    return batch.finish()
