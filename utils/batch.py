"""Batch command lines that lose nothing: one unusable input is reported, the rest is processed.

    batch = Batch("tasnet/infer.py", failures_path=os.path.join(out, "failures.tsv"), strict=args.strict)
    for path in files:
        ok, result = batch.attempt(path, separate_one, path)
    return batch.finish()          # prints "N done, M failed", writes failures.tsv, returns the exit code

* an item whose processing raises an expected error (``utils.errors.is_expected``: unreadable / empty /
  non-finite audio, missing file, ...) is reported on stderr in one line ``PROG: skipped ITEM: reason``
  and listed in ``failures.tsv`` (``item<TAB>reason``); a bug still stops the run with its traceback;
* ``strict``: the first failure stops the run (re-raised, so ``utils.cli.run`` prints it and exits 2);
* ``finish`` returns 0 when every item was done, 1 when any failed;
* ``atomic_outputs(paths)``: write every output of an item under a temporary name and rename them all at
  the end, so an item that fails half-way (or a killed run) leaves no half-written file.
"""
import contextlib
import csv
import os
import sys

from tqdm import tqdm

from utils import errors

FAILURES_FILE = "failures.tsv"


def add_batch_arguments(parser):
    parser.add_argument("--strict", action="store_true",
                        help="stop at the first input that cannot be used (default: report it in failures.tsv, "
                             "go on with the others and exit 1 at the end)")


class Batch:
    """Counts done / failed items of one run; see the module docstring.

    program: name shown in messages (e.g. ``tasnet/infer.py``).
    failures_path: where ``failures.tsv`` goes (None: only printed). A stale one is removed when the
        run has no failure.
    """

    def __init__(self, program, failures_path=None, strict=False, noun="file"):
        self.program, self.failures_path, self.strict, self.noun = program, failures_path, strict, noun
        self.done, self.failures = 0, []

    def attempt(self, item, function, *args, **kwargs):
        """``(True, function(*args, **kwargs))`` counted as done, or ``(False, None)`` after reporting an
        expected error."""
        try:
            result = function(*args, **kwargs)
        except Exception as error:  # noqa: BLE001  (only expected errors are caught, see below)
            if self.strict or not errors.is_expected(error):
                raise
            self.fail(item, errors.message(error))
            return False, None
        self.done += 1
        return True, result

    def fail(self, item, reason):
        """Report ``item`` as unusable for ``reason`` (one line on stderr)."""
        item = str(item)
        reason = reason[len(item) + 2:] if reason.startswith(item + ": ") else reason
        if self.strict:
            raise errors.UsageError(f"{item}: {reason}")
        self.failures.append((item, reason))
        tqdm.write(f"{self.program}: skipped {item}: {reason}", file=sys.stderr)  # keeps progress bars intact

    def finish(self):
        """Write failures.tsv, print ``N done, M failed`` and return the exit code (0, or 1 if any failed)."""
        if self.failures_path:
            if self.failures:
                with atomic_outputs([self.failures_path]) as (temporary,):
                    with open(temporary, "w", encoding="utf-8", newline="") as handle:
                        writer = csv.writer(handle, delimiter="\t", lineterminator="\n")
                        writer.writerow([self.noun, "reason"])
                        writer.writerows(self.failures)
            elif os.path.isfile(self.failures_path):
                os.remove(self.failures_path)
        where = f" (listed in {self.failures_path})" if self.failures and self.failures_path else ""
        print(f"{self.program}: {self.done} done, {len(self.failures)} failed{where}", file=sys.stderr, flush=True)
        return errors.RUNTIME_EXIT if self.failures else 0


def temporary_name(path):
    """A hidden sibling of ``path`` with the same extension (libraries pick the format from it)."""
    folder, name = os.path.split(path)
    stem, extension = os.path.splitext(name)
    return os.path.join(folder, f".{stem}.partial{os.getpid()}{extension}")


@contextlib.contextmanager
def atomic_outputs(paths):
    """Yield temporary paths for ``paths``; on success rename each onto its final path, on an error delete them.

    The parent folders are created. Every output of one item appears together or not at all."""
    temporaries = [temporary_name(path) for path in paths]
    for path in paths:
        parent = os.path.dirname(os.path.abspath(path))
        os.makedirs(parent, exist_ok=True)
    try:
        yield temporaries
    except BaseException:
        for temporary in temporaries:
            if os.path.exists(temporary):
                os.remove(temporary)
        raise
    for temporary, path in zip(temporaries, paths):
        os.replace(temporary, path)
