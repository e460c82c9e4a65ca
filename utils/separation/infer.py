"""`<model>/infer.py` for every separation model: separate the user's own recordings.

    python tasnet/infer.py --ckpt_path OUT/best.ckpt --input FILE_OR_DIR --output_dir SEPARATED
        [--chunk_seconds 8 --overlap_seconds 1] [--record SECONDS]

Any format libsndfile reads, any sample rate (resampled to the model's), any channel count (averaged to
mono). Writes SEPARATED/<name>_s1.wav ... <name>_sN.wav (16-bit PCM at the model's rate) per input, keeping
the input folder structure. Files longer than a chunk go through the model chunk by chunk (memory bounded
by the chunk) with the speaker order kept across chunks; the outputs are streamed to disk.
"""
import logging
import os

import numpy as np
from tqdm import tqdm

from utils.cli import add_checkpoint_arguments, start

LOG = logging.getLogger("zoo.infer")
AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3", ".aiff", ".aif", ".au")


def add_infer_arguments(parser):
    add_checkpoint_arguments(parser, "trained checkpoint (.ckpt) or exported .mindir")
    parser.add_argument("--input", default=None, help="an audio file or a folder searched recursively for audio")
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


def list_audio(path):
    """A file -> [(file, its name without extension)]; a folder -> every audio file below it, named by its
    path relative to the folder (so outputs keep the structure)."""
    if os.path.isfile(path):
        return [(path, os.path.splitext(os.path.basename(path))[0])]
    if not os.path.isdir(path):
        raise FileNotFoundError(f"--input {path}: no such file or folder")
    found = []
    for folder, _, names in sorted(os.walk(path)):
        for name in sorted(names):
            if name.lower().endswith(AUDIO_EXTENSIONS):
                full = os.path.join(folder, name)
                found.append((full, os.path.splitext(os.path.relpath(full, path))[0]))
    if not found:
        raise FileNotFoundError(f"--input {path}: no audio files ({', '.join(AUDIO_EXTENSIONS)}) in this folder")
    return found


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
    if args.input is not None:
        inputs += list_audio(args.input)
    LOG.info("separating %d file(s) into %d sources at %d Hz with %s%s", len(inputs), n_src, sample_rate,
             args.ckpt_path, f" in {chunk_seconds:g} s chunks ({overlap_seconds:g} s overlap)" if chunk else "")
    for path, name in tqdm(inputs, desc="separating", unit="file", disable=len(inputs) < 2):
        mixture = read_audio(path, sample_rate, mono=True)[0]
        out_paths = [os.path.join(args.output_dir, f"{name}_s{k}.wav") for k in range(1, n_src + 1)]
        os.makedirs(os.path.dirname(out_paths[0]), exist_ok=True)
        separate_file(model, mixture, sample_rate, out_paths, chunk if len(mixture) > chunk else 0, overlap)
        print(f"{path} -> {', '.join(out_paths)}")
    return inputs
