"""Public checkpoints by name: download on first use, convert once, cache, reuse offline.

    path = pretrained_checkpoint("speechbrain/spkrec-ecapa-voxceleb", model="ecapa_tdnn")

The registry (``registry.yaml`` beside this file, plus an optional user file named by
``$ZOO_PRETRAINED_REGISTRY`` that adds entries or overrides fields) maps a NAME to where its files are,
which converter turns them into a zoo checkpoint and with which options. The cache folder is
``$ZOO_CACHE`` (default ``$XDG_CACHE_HOME/ms_speech_zoo``, i.e. ``~/.cache/ms_speech_zoo``):

    downloads/<NAME>/<filename>          the original files (sha256 checked when the registry has one)
    models/<NAME>/model.ckpt, config.yaml the converted checkpoint (+ pretrained.json: where it came from)

Once ``models/<NAME>/model.ckpt`` exists nothing touches the network. Hugging Face files come through
``huggingface_hub.hf_hub_download`` (``$HF_ENDPOINT`` / ``$ZOO_HF_ENDPOINT`` select a mirror, the hub's
token and proxy settings apply); ``source: url`` files through a plain HTTP(S) download with a progress bar.
``$ZOO_OFFLINE=1`` (or ``$HF_HUB_OFFLINE=1``) forbids any download. Every failure is a ``PretrainedError``
whose message is one line naming the model, the file or URL and what to do.
"""
import datetime
import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import urllib.error
import urllib.request

import yaml

LOG = logging.getLogger("zoo.pretrained")
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
REGISTRY_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "registry.yaml")
CACHE_NAME = "ms_speech_zoo"
CHUNK = 1 << 20  # bytes per read while downloading / hashing


class PretrainedError(RuntimeError):
    """A pretrained model that cannot be used: unknown name, download, checksum or conversion failure."""


def cache_root():
    """``$ZOO_CACHE``, else ``$XDG_CACHE_HOME/ms_speech_zoo``, else ``~/.cache/ms_speech_zoo``."""
    if os.environ.get("ZOO_CACHE"):
        return os.path.abspath(os.path.expanduser(os.environ["ZOO_CACHE"]))
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, CACHE_NAME)


def offline():
    return any(os.environ.get(name, "").lower() in ("1", "true", "yes", "on") for name in ("ZOO_OFFLINE", "HF_HUB_OFFLINE"))


def _merge(base, extra):
    merged = dict(base)
    for key, value in extra.items():
        merged[key] = _merge(merged[key], value) if isinstance(value, dict) and isinstance(merged.get(key), dict) \
            else value
    return merged


def _read_registry(path):
    try:
        with open(path, encoding="utf-8") as handle:
            data = yaml.safe_load(handle) or {}
    except OSError as exc:
        raise PretrainedError(f"cannot read the pretrained registry {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise PretrainedError(f"{path}: invalid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise PretrainedError(f"{path}: expected a mapping NAME -> {{model, source, files, converter, ...}}")
    return data


def registry():
    """{NAME: entry dict}: registry.yaml, with ``$ZOO_PRETRAINED_REGISTRY`` merged in (entry by entry)."""
    entries = _read_registry(REGISTRY_FILE)
    user = os.environ.get("ZOO_PRETRAINED_REGISTRY")
    if user:
        for name, fields in _read_registry(user).items():
            entries[name] = _merge(entries.get(name, {}), fields)
    return entries


def entry(name, model=None):
    """The registry entry of ``name``; an error for an unknown or unsupported name, or (``model`` given) a
    model of another folder than the entry point's."""
    entries = registry()
    if name not in entries:
        raise PretrainedError(f"unknown pretrained model {name!r}; known: {', '.join(sorted(entries))} "
                              "(python -m utils.pretrained list)")
    found = dict(entries[name], name=name)
    if found.get("status", "supported") != "supported":
        raise PretrainedError(f"{name} is listed but not supported: {found.get('reason', 'no reason given')}")
    if model is not None and found.get("model") != model:
        raise PretrainedError(f"{name} is a {found.get('model')} model; this is {model}/ "
                              f"(use {found.get('model')}/*.py)")
    for key in ("model", "source", "files", "converter"):
        if not found.get(key):
            raise PretrainedError(f"registry entry {name} lacks {key!r}")
    return found


def _folder(name):
    """NAME (``org/model``) -> a relative folder with no separators but the one between org and model."""
    parts = [part for part in name.replace("\\", "/").split("/") if part not in ("", ".", "..")]
    return os.path.join(*[part.replace(":", "_") for part in parts])


def download_dir(name):
    return os.path.join(cache_root(), "downloads", _folder(name))


def model_dir(name):
    return os.path.join(cache_root(), "models", _folder(name))


def sha256_of(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def _check_sha256(name, path, expected):
    """The file's sha256; a mismatch with ``expected`` removes the file and is an error."""
    actual = sha256_of(path)
    if expected and actual != expected.lower():
        os.remove(path)
        raise PretrainedError(f"{name}: checksum mismatch for {os.path.basename(path)}: sha256 {actual}, the "
                              f"registry expects {expected} (file removed; download again, or fix the registry)")
    if not expected:
        LOG.warning("%s: %s has no published sha256 to check; its sha256 is %s", name, os.path.basename(path),
                    actual)
    return actual


def _http_download(name, url, target):
    """Stream ``url`` to ``target`` (via ``target.part``) with a tqdm progress bar."""
    from tqdm import tqdm

    partial = target + ".part"
    LOG.info("%s: downloading %s", name, url)
    try:
        request = urllib.request.Request(url, headers={"User-Agent": "ms_speech_zoo"})
        with urllib.request.urlopen(request, timeout=60) as response, open(partial, "wb") as out:
            total = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=os.path.basename(target),
                      disable=not sys.stderr.isatty()) as bar:
                for block in iter(lambda: response.read(CHUNK), b""):
                    out.write(block)
                    bar.update(len(block))
    except urllib.error.HTTPError as exc:
        _remove(partial)
        raise PretrainedError(f"{name}: download failed: HTTP {exc.code} {exc.reason} for {url}") from None
    except (urllib.error.URLError, OSError) as exc:
        _remove(partial)
        reason = getattr(exc, "reason", None) or exc.strerror or exc
        raise PretrainedError(f"{name}: cannot download {url}: {reason} (no network? put the file at "
                              f"{target} by hand to use it offline)") from None
    os.replace(partial, target)


def _hub_download(name, found, spec, folder):
    """One file of a Hugging Face repository into ``folder`` (huggingface_hub handles auth, mirrors, retries)."""
    try:
        from huggingface_hub import hf_hub_download
    except ImportError:
        raise PretrainedError(f"{name}: downloading from the Hugging Face hub needs huggingface_hub "
                              "(pip install -r requirements.txt)") from None
    endpoint = os.environ.get("ZOO_HF_ENDPOINT") or None
    LOG.info("%s: downloading %s from the Hugging Face hub (%s)", name, spec["filename"], found["repo_id"])
    try:
        path = hf_hub_download(found["repo_id"], spec["filename"], revision=found.get("revision") or None,
                               local_dir=folder, endpoint=endpoint)
    except Exception as exc:  # noqa: BLE001  (huggingface_hub raises many types: HTTP, offline, not found)
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise PretrainedError(f"{name}: cannot download {spec['filename']} from {found['repo_id']} "
                              f"({type(exc).__name__}: {message})") from None
    return path


def _remove(path):
    try:
        os.remove(path)
    except OSError:
        pass


def download(name, model=None):
    """Make sure every file of ``name`` is in ``downloads/<NAME>/`` with the right checksum.

    Returns {file key: local path}. Files already there are reused without any network access.
    """
    found = entry(name, model)
    folder = download_dir(name)
    os.makedirs(folder, exist_ok=True)
    paths = {}
    for key, spec in found["files"].items():
        if not isinstance(spec, dict) or not spec.get("filename"):
            raise PretrainedError(f"registry entry {name}: files.{key} needs a filename")
        target = os.path.join(folder, spec["filename"])
        if os.path.isfile(target):
            _check_sha256(name, target, spec.get("sha256"))
            paths[key] = target
            continue
        if offline():
            raise PretrainedError(f"{name}: {spec['filename']} is not in the cache ({target}) and downloads are "
                                  "off (ZOO_OFFLINE / HF_HUB_OFFLINE)")
        if found["source"] == "huggingface":
            downloaded = _hub_download(name, found, spec, folder)
            if os.path.abspath(downloaded) != os.path.abspath(target):
                shutil.copyfile(downloaded, target)
        elif found["source"] == "url":
            url = spec.get("url")
            if not url:
                raise PretrainedError(f"registry entry {name}: files.{key} needs a url")
            _http_download(name, url, target)
        else:
            raise PretrainedError(f"registry entry {name}: unknown source {found['source']!r} (huggingface, url)")
        _check_sha256(name, target, spec.get("sha256"))
        paths[key] = target
    return paths


def _converter_command(found, paths, output_dir):
    values = {**paths, "repo": REPO}
    try:
        args = [str(arg).format(**values) for arg in found.get("converter_args") or []]
    except KeyError as exc:
        raise PretrainedError(f"registry entry {found['name']}: converter_args name {exc}, which is not a file "
                              f"key ({', '.join(paths)})") from None
    return [sys.executable, os.path.join(REPO, found["converter"]), *args, "--output_dir", output_dir]


def convert(name, model=None, force=False):
    """Download (if needed) and convert ``name`` once into ``models/<NAME>/``; returns its model.ckpt."""
    found = entry(name, model)
    folder = model_dir(name)
    checkpoint = os.path.join(folder, "model.ckpt")
    if os.path.isfile(checkpoint) and not force:
        return checkpoint
    paths = download(name, model)
    partial = f"{folder}.partial-{os.getpid()}"
    shutil.rmtree(partial, ignore_errors=True)
    command = _converter_command(found, paths, partial)
    LOG.info("%s: converting once with %s", name, " ".join(command[1:]))
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    if done.returncode != 0 or not os.path.isfile(os.path.join(partial, "model.ckpt")):
        shutil.rmtree(partial, ignore_errors=True)
        lines = [line for line in (done.stderr or done.stdout).strip().splitlines() if line.strip()]
        raise PretrainedError(f"{name}: {found['converter']} failed: {lines[-1] if lines else 'no output'}")
    record = {"name": name, "model": found["model"], "converted": datetime.datetime.now(datetime.timezone.utc)
              .isoformat(timespec="seconds"), "converter": [os.path.relpath(c, REPO) if c.startswith(REPO) else c
                                                          for c in command[1:]],
              "files": {key: {"path": path, "sha256": sha256_of(path)} for key, path in paths.items()},
              "published": found.get("published") or {}}
    if found.get("decision_threshold") is not None:
        record["decision_threshold"] = float(found["decision_threshold"])
    with open(os.path.join(partial, "pretrained.json"), "w", encoding="utf-8") as handle:
        json.dump(record, handle, indent=2)
    if os.path.isdir(folder):
        shutil.rmtree(folder)
    os.makedirs(os.path.dirname(folder), exist_ok=True)
    os.replace(partial, folder)
    LOG.info("%s: cached %s", name, checkpoint)
    return checkpoint


def pretrained_checkpoint(name, model=None):
    """The converted checkpoint of ``name`` (downloaded and converted on first use)."""
    return convert(name, model)


def cached_record(checkpoint):
    """pretrained.json beside a cached checkpoint ({} for any other checkpoint)."""
    path = os.path.join(os.path.dirname(os.path.abspath(checkpoint)), "pretrained.json")
    if not os.path.isfile(path):
        return {}
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def status(name):
    """'converted', 'downloaded', 'partly downloaded', 'not cached' or 'unsupported'."""
    found = registry()[name]
    if found.get("status", "supported") != "supported":
        return "unsupported"
    if os.path.isfile(os.path.join(model_dir(name), "model.ckpt")):
        return "converted"
    files = [os.path.join(download_dir(name), spec.get("filename", "")) for spec in (found.get("files") or {}).values()]
    present = sum(os.path.isfile(path) for path in files)
    return "downloaded" if files and present == len(files) else "partly downloaded" if present else "not cached"


def apply_to_args(args, cfg, entry_file):
    """``--pretrained NAME`` of an entry point: fill ``args.ckpt_path`` (eval / infer / export) or
    ``args.init_from`` (train.py, whose config then takes the checkpoint's model and front end)."""
    from utils.config import Config

    model = os.path.basename(os.path.dirname(os.path.abspath(entry_file)))
    checkpoint = pretrained_checkpoint(args.pretrained, model)
    if hasattr(args, "ckpt_path"):
        args.ckpt_path = checkpoint
    elif hasattr(args, "init_from"):
        if args.init_from or getattr(args, "resume", None):
            raise PretrainedError("give --pretrained or --init_from / --resume, not both")
        args.init_from = checkpoint
        from utils.checkpoint import checkpoint_config
        stored = checkpoint_config(checkpoint)
        cfg.model = Config(stored["model"])  # the architecture the weights need
        for key in ("sample_rate", "features"):
            if key in (stored.get("data") or {}):
                cfg.data[key] = Config(stored["data"][key]) if isinstance(stored["data"][key], dict) \
                    else stored["data"][key]
    LOG.info("--pretrained %s: %s", args.pretrained, checkpoint)
    return checkpoint
