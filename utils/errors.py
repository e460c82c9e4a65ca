"""Which exceptions are a user's problem (bad input, config, file, dependency) and which are bugs.

Expected failures are shown as one line ``PROG: error: <message>`` and an exit code (``utils.cli.run``);
a per-item one in a batch is reported and the batch goes on (``utils.batch``). Bugs keep their traceback.

Expected are:

* ``ZooError`` and its subclasses (``UsageError``: exit 2; others exit 1), e.g. ``utils.audio.AudioError``;
* ``ValueError`` / ``KeyError`` / ``FileNotFoundError`` raised by a ``raise`` statement in this
  repository's own code: every one of them carries a message written for the user (a config value out
  of range, a checkpoint of the wrong shape, a malformed trial list ...). The same exceptions raised
  inside NumPy or MindSpore are bugs of ours and keep their traceback;
* ``FileNotFoundError`` / ``IsADirectoryError`` / ``PermissionError`` from opening a file the user named;
* ``ImportError`` of an optional third-party package (exit 1, "missing dependency").
"""
import os

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
USAGE_EXIT = 2    # the command line, a config, an input file or a checkpoint is wrong
RUNTIME_EXIT = 1  # the run could not complete (missing dependency, some items failed, ...)


class ZooError(Exception):
    """An expected failure with a message for the user; ``exit_code`` 1 (runtime)."""
    exit_code = RUNTIME_EXIT


class UsageError(ZooError):
    """The command line, a config, an input file or a checkpoint is wrong; exit code 2."""
    exit_code = USAGE_EXIT


class MissingDependency(ZooError, ImportError):
    """An optional package is not installed; the message says how to install it."""


def _raised_in_repo(error):
    """True when the innermost frame of ``error``'s traceback is this repository's code (not a library)."""
    trace = error.__traceback__
    if trace is None:
        return True  # never raised, e.g. built to be reported
    while trace.tb_next is not None:
        trace = trace.tb_next
    path = os.path.abspath(trace.tb_frame.f_code.co_filename)
    return path.startswith(REPO_ROOT + os.sep) and f"{os.sep}site-packages{os.sep}" not in path


def _missing_module(error):
    name = getattr(error, "name", None)
    return isinstance(error, ModuleNotFoundError) and name and not os.path.exists(
        os.path.join(REPO_ROOT, name.split(".")[0]))


def is_expected(error):
    """Whether ``error`` is a user-facing failure (see the module docstring) rather than a bug."""
    if isinstance(error, ZooError):
        return True
    if isinstance(error, (IsADirectoryError, NotADirectoryError, PermissionError, FileNotFoundError)):
        return True
    if isinstance(error, (ValueError, KeyError)):
        return _raised_in_repo(error)
    if isinstance(error, ImportError):
        return bool(_missing_module(error))
    return False


def exit_code(error):
    """2 for usage / input errors, 1 for runtime ones (see ``ZooError.exit_code``)."""
    if isinstance(error, ZooError):
        return error.exit_code
    if isinstance(error, ImportError):
        return RUNTIME_EXIT
    return USAGE_EXIT


def message(error):
    """One line for the user (KeyError's quotes removed; a missing package gets an install hint)."""
    if isinstance(error, ImportError) and not isinstance(error, ZooError):
        return (f"missing dependency: {error}: install it (requirements.txt and requirements-optional.txt list "
                "every package this zoo uses, with versions)")
    text = error.args[0] if isinstance(error, KeyError) and error.args else str(error)
    if isinstance(error, OSError) and error.filename and str(error.filename) not in text:
        text = f"{error.filename}: {text}"
    if isinstance(error, OSError) and error.strerror and error.filename:
        text = f"{error.filename}: {error.strerror}"
    return " ".join(str(text).split()) or type(error).__name__
