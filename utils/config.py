"""One configuration mechanism for every entry point.

``<model>/config.yaml`` holds every default of a model, nested in sections and commented
(``key: value  # meaning, unit``). An entry point declares its own flags (``--data_dir`` ...) with
argparse; every other ``--key value`` pair overrides a config key:

* ``--section.key value`` names a key by its full dotted path;
* ``--key value`` is enough when the leaf name is unique in the file;
* the value is converted to the type of the default (bool accepts true/false/1/0/yes/no, lists and
  null defaults are parsed as YAML); a wrong type or an unknown key is an error that lists the
  valid keys;
* ``--config_path FILE`` replaces the defaults file (e.g. ``config_paper.yaml``).

``--help`` prints the entry point's flags and every config key with its default and comment.
"""
import argparse
import copy
import os
import re
import sys

import yaml


class ConfigError(ValueError):
    """A configuration file or override is invalid."""


class Config(dict):
    """A dict with attribute access (``cfg.train.lr``); nested dicts are Configs too."""

    def __init__(self, data=None):
        super().__init__()
        for key, value in (data or {}).items():
            self[key] = Config(value) if isinstance(value, dict) and not isinstance(value, Config) else value

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError as exc:
            raise AttributeError(f"config has no key {name!r}; keys: {', '.join(self)}") from exc

    def __setattr__(self, name, value):
        self[name] = value

    def __deepcopy__(self, memo):
        return Config(copy.deepcopy(self.to_dict(), memo))

    def to_dict(self):
        """Plain nested dicts (for YAML/JSON dumps and checkpoint metadata)."""
        return {k: (v.to_dict() if isinstance(v, Config) else v) for k, v in self.items()}

    def flat(self, prefix=""):
        """{dotted.path: value} for every leaf."""
        out = {}
        for key, value in self.items():
            path = f"{prefix}{key}"
            if isinstance(value, Config) and value:
                out.update(value.flat(path + "."))
            else:
                out[path] = value
        return out


def load_yaml(path):
    """Read a YAML mapping; a clear error names the file when it is missing or malformed."""
    if not os.path.isfile(path):
        raise ConfigError(f"config file not found: {path}")
    with open(path, encoding="utf-8") as handle:
        try:
            data = yaml.safe_load(handle)
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: invalid YAML: {exc}") from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping of keys, got {type(data).__name__}")
    return Config(data)


def load_config(path, overrides=None):
    """Load ``path`` and apply ``overrides`` ({key or dotted path: value or string})."""
    cfg = load_yaml(path)
    for key, value in (overrides or {}).items():
        set_value(cfg, key, value)
    return cfg


def save_config(cfg, path):
    """Write the resolved config as YAML (atomically), so a run can be reproduced."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as handle:
        yaml.safe_dump(cfg.to_dict() if isinstance(cfg, Config) else cfg, handle, sort_keys=False)
    os.replace(tmp, path)


def resolve_key(cfg, key):
    """Full dotted path for ``key`` (a dotted path or a unique leaf name)."""
    flat = cfg.flat()
    if key in flat:
        return key
    matches = [path for path in flat if path.rsplit(".", 1)[-1] == key]
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise ConfigError(f"--{key} is ambiguous: use one of " + ", ".join(f"--{m}" for m in matches))
    raise ConfigError(f"unknown config key --{key}. Valid keys: " + ", ".join(sorted(flat)))


_TRUE = {"true", "1", "yes", "y", "on"}
_FALSE = {"false", "0", "no", "n", "off"}


def convert(text, default, name):
    """Convert the command-line string ``text`` to the type of ``default``."""
    if not isinstance(text, str):
        return text
    try:
        if isinstance(default, bool):
            lowered = text.strip().lower()
            if lowered in _TRUE:
                return True
            if lowered in _FALSE:
                return False
            raise ValueError("expected true/false")
        if isinstance(default, int):
            return int(text)
        if isinstance(default, float):
            return float(text)
        if isinstance(default, str):
            return text
        value = yaml.safe_load(text)
        if isinstance(default, (list, tuple)):
            if isinstance(value, str):  # "1,2,3" as well as "[1, 2, 3]"
                value = [yaml.safe_load(v) for v in value.split(",") if v.strip()]
            if not isinstance(value, list):
                value = [value]
        return value
    except (ValueError, yaml.YAMLError) as exc:
        raise ConfigError(f"--{name}: cannot read {text!r} as {type(default).__name__} "
                          f"(default {default!r}): {exc}") from exc


def set_value(cfg, key, value):
    """Set ``key`` (dotted path or unique leaf) to ``value``, converted to the default's type."""
    path = resolve_key(cfg, key)
    *parents, leaf = path.split(".")
    node = cfg
    for part in parents:
        node = node[part]
    node[leaf] = convert(value, node[leaf], path)
    return path


def _yaml_comments(path):
    """{leaf key: comment} read from ``key: value  # comment`` lines (for --help)."""
    comments = {}
    pattern = re.compile(r"^\s*([A-Za-z_][\w]*)\s*:[^#]*#\s*(.+)$")
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            match = pattern.match(line)
            if match:
                comments.setdefault(match.group(1), match.group(2).strip())
    return comments


def _config_help(path):
    try:
        cfg = load_yaml(path)
    except ConfigError as exc:
        return f"(cannot read {path}: {exc})"
    comments = _yaml_comments(path)
    lines = [f"config keys (defaults from {os.path.relpath(path)}; override with --key value):"]
    for dotted, value in cfg.flat().items():
        note = comments.get(dotted.rsplit(".", 1)[-1], "")
        lines.append(f"  --{dotted} {value!r}" + (f"  # {note}" if note else ""))
    return "\n".join(lines)


class _ArgumentParser(argparse.ArgumentParser):
    """argparse with a two-line usage error: ``PROG: error: <what>`` and where to look, exit code 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {' '.join(message.split())}\n"
                     f"{self.prog}: see --help for every flag and config key\n")


def parse_args(default_config, description, add_arguments=None, argv=None, prog=None):
    """Parse an entry point's command line.

    default_config: path of the model's ``config.yaml``.
    description: first line of ``--help``.
    add_arguments: ``fn(parser)`` adding the entry point's own flags.
    prog: program name in messages (default: the script's file name).
    Returns ``(args, cfg)``: the argparse namespace and the resolved Config. A flag that is both an
    entry-point flag and a config key (e.g. ``--device_target``) is applied to the config as well.
    A usage or config error prints ``PROG: error: <what>`` (two lines, no usage block) and exits 2.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    pre = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    pre.add_argument("--config_path", default=default_config)
    known, _ = pre.parse_known_args(argv)
    parser = _ArgumentParser(
        prog=prog, description=description, formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False, epilog=_config_help(known.config_path))
    parser.add_argument("--config_path", default=default_config,
                        help="YAML file with every default (default: %(default)s)")
    if add_arguments is not None:
        add_arguments(parser)
    args, rest = parser.parse_known_args(argv)
    try:
        cfg = load_yaml(args.config_path)
        overrides = _pairs(rest)
        for key, value in overrides:
            set_value(cfg, key, value)
        flat = cfg.flat()
        leaves = {p.rsplit(".", 1)[-1]: p for p in flat}
        for name, value in vars(args).items():
            if value is not None and name != "config_path" and (name in flat or name in leaves):
                set_value(cfg, name, value if not isinstance(value, bool) else str(value))
    except ConfigError as exc:
        parser.error(str(exc))
    return args, cfg


def _pairs(tokens):
    """['--a', '1', '--b=2'] -> [('a', '1'), ('b', '2')]; anything else is an error."""
    pairs, index = [], 0
    while index < len(tokens):
        token = tokens[index]
        if not token.startswith("--") or len(token) == 2:
            raise ConfigError(f"unexpected argument {token!r} (expected --key value)")
        if "=" in token:
            key, value = token[2:].split("=", 1)
            index += 1
        else:
            if index + 1 >= len(tokens) or (tokens[index + 1].startswith("--") and len(tokens[index + 1]) > 2):
                raise ConfigError(f"{token} needs a value")
            key, value = token[2:], tokens[index + 1]
            index += 2
        pairs.append((key, value))
    return pairs
