"""Flags of the ``dufm`` command, derived from the library's configuration dataclasses.

Each flag of a :class:`~dufm.Problem`, :class:`~dufm.SolverConfig`,
:class:`~dufm.Thresholds`, :class:`~dufm.critical.RefineConfig` or
:class:`~dufm.critical.ClassifyConfig` field comes from the field itself
(:func:`dufm.options.option`): its name (``per_class`` -> ``--per-class``),
its default and its help text are stated once, in the library. Values are
parsed here but validated by the library, whose ValueError names the
parameter; :func:`explain` maps that name back to the flag.
"""

from __future__ import annotations

import argparse
import math
import re
import sys
from collections.abc import Sequence

from ..options import documented_fields

NEGATIVE = re.compile(r"-\.?\d")  # -1e-3, -.5, -1/2: a value, never a flag (no dufm flag starts with a digit)


def attach_negative_values(words: Sequence[str]) -> list[str]:
    """``--flag -1e-3`` as ``--flag=-1e-3``.

    argparse reads a word that starts with '-' as a flag unless it looks like
    a plain negative number, so ``-1e-3`` or ``-1/2`` after a flag left it
    "expecting one argument"; attached, the value reaches the flag's own
    check, which names the flag and what it accepts.
    """
    out: list[str] = []
    for w in words:
        if out and NEGATIVE.match(w) and out[-1].startswith("-") and "=" not in out[-1] and not NEGATIVE.match(out[-1]):
            out[-1] = f"{out[-1]}={w}"
        else:
            out.append(w)
    return out


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors (exit status 2, no usage block) and negative values in any form."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")

    def parse_known_args(self, args=None, namespace=None):
        return super().parse_known_args(attach_negative_values(sys.argv[1:] if args is None else list(args)), namespace)


def number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None


def integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None


def int_list(text: str):
    parts = [integer(t) for t in text.split(",")]
    return parts[0] if len(parts) == 1 else tuple(parts)


def float_list(text: str):
    parts = [number(t) for t in text.split(",")]
    return parts[0] if len(parts) == 1 else tuple(parts)


# a field's annotation (a string: the library modules use postponed annotations) -> how its flag is parsed
PARSERS = {"int": integer, "float": number, "float | None": number, "str": str, "int | tuple[int, ...]": int_list,
           "float | tuple[float, ...] | None": float_list}


def _shown(value) -> str:
    if isinstance(value, float) and value > 0 and math.log2(value).is_integer() and abs(math.log2(value)) > 4:
        return f"2^{int(math.log2(value))}"
    return f"{value:g}" if isinstance(value, float) else str(value)


def add_fields(group, cls, *, prefix: str = "", defaults: bool = True):
    """One flag per documented field of dataclass ``cls``: ``--{prefix}{name}`` (``_`` as ``-``), dest ``{prefix}{name}``.

    ``defaults=False`` leaves a flag that is not given out of the namespace
    (so :func:`given` tells which were), for flags that override a config.
    """
    for f in documented_fields(cls):
        meta = f.metadata
        text = meta["help"]
        if meta["choices"]:
            text += ": " + " | ".join(meta["choices"])
        if f.default is not None:
            text += f" (default {_shown(f.default)})"
        flags = ["--" + (prefix + name).replace("_", "-") for name in (f.name, *meta.get("old_names", ()))]
        if len(flags) > 1:
            text += f" ({', '.join(flags[1:])}: its old name, accepted for one release)"
        kw = {"help": text, "dest": prefix + f.name, "default": f.default if defaults else argparse.SUPPRESS}
        if f.type == "bool":  # a switch: given means true
            kw["action"] = "store_true"
        else:
            kw["type"] = PARSERS[f.type]
        if meta["metavar"] and f.type != "bool":
            kw["metavar"] = meta["metavar"]
        group.add_argument(*flags, **kw)


def given(args, cls, prefix: str = "") -> dict:
    """The documented fields of ``cls`` present in ``args`` (flags added by :func:`add_fields`), by field name."""
    return {f.name: getattr(args, prefix + f.name) for f in documented_fields(cls) if hasattr(args, prefix + f.name)}


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def build(cls, args, prefix: str = "", **extra):
    """``cls(**given flags, **extra)``; the library's ValueError about a field comes back naming the field's flag."""
    try:
        return cls(**given(args, cls, prefix), **extra)
    except ValueError as e:
        m = re.match(r"([a-z_]+) must ", str(e))
        if m and hasattr(args, prefix + m.group(1)):
            raise ValueError(f"{_flag(prefix + m.group(1))}: {e}") from None
        raise


def explain(message: str, args) -> str:
    """The library's message, with the flag of the parameter it names in front (``--per-class: per_class must ...``).

    "every weight decay must be > 0" (the closed forms, the optimum search) names the decay flag given with a zero.
    """
    m = re.match(r"([a-z_]+) must ", message)
    if m and hasattr(args, m.group(1)):
        return f"{_flag(m.group(1))}: {message}"
    if message.startswith("every weight decay must be > 0"):
        for name in ("feature_decay", "layer_decay", "weight_decay"):
            value = getattr(args, name, None)
            if value is not None and min(value if isinstance(value, (list, tuple)) else [value]) <= 0:
                return f"{_flag(name)}: {message}"
    return message
