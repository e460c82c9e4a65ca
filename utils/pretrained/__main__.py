"""Manage the pretrained-model cache.

    python -m utils.pretrained list                 # every registry name: model, status in the cache, metric
    python -m utils.pretrained download NAME        # fetch the original files (checksums checked)
    python -m utils.pretrained convert NAME [--force]   # download if needed, convert once; prints model.ckpt

The cache is $ZOO_CACHE (default ~/.cache/ms_speech_zoo); see utils/pretrained/__init__.py.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
import utils.context  # noqa: E402,F401  (environment before mindspore, which the converters load)
from utils.cli import setup_logging  # noqa: E402
from utils.pretrained import (PretrainedError, cache_root, convert, download, registry,  # noqa: E402
                              status)


def list_models():
    entries = registry()
    print(f"cache: {cache_root()}")
    width = max(len(name) for name in entries)
    for name, found in sorted(entries.items()):
        published = found.get("published") or {}
        note = found.get("reason") if found.get("status", "supported") != "supported" else \
            (published.get("metric") or "metric: see " + str(published.get("page", "the model page")))
        print(f"{name:<{width}}  {found.get('model', '?'):<10}  {status(name):<17}  {note}")


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m utils.pretrained", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["list", "download", "convert"])
    parser.add_argument("name", nargs="?", help="registry name, e.g. speechbrain/spkrec-ecapa-voxceleb")
    parser.add_argument("--force", action="store_true", help="convert: convert again even when cached")
    args = parser.parse_args(argv)
    setup_logging()
    try:
        if args.command == "list":
            list_models()
            return
        if not args.name:
            parser.error(f"{args.command} needs a NAME (python -m utils.pretrained list)")
        if args.command == "download":
            for path in download(args.name).values():
                print(path)
        else:
            print(convert(args.name, force=args.force))
    except PretrainedError as exc:
        raise SystemExit(f"error: {exc}") from None


if __name__ == "__main__":
    main()
