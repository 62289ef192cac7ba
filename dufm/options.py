"""Documented configuration fields: a dataclass field that carries its help text.

Every configuration dataclass (:class:`~dufm.Problem`,
:class:`~dufm.SolverConfig`, :class:`~dufm.Thresholds`,
:class:`~dufm.critical.RefineConfig`, :class:`~dufm.critical.ClassifyConfig`)
states each default and its meaning once, here, in the field; the command line
builds its flags from these fields (``dufm.cli.flags``). The ``check_*``
functions are the validation those dataclasses share.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Sequence

import numpy as np


def option(default: Any, help: str, *, metavar: str | None = None, choices: Sequence[str] | None = None, flag: bool = True,
           old_names: Sequence[str] = ()):
    """A dataclass field with ``default`` and its ``help`` text (``choices``: the allowed strings).

    ``flag=False`` keeps the field off the command line. ``old_names`` are names the field had, still accepted (as
    flags and by :func:`renamed`) for one release.
    """
    meta = {"help": help, "metavar": metavar, "choices": tuple(choices) if choices else None, "flag": flag,
            "old_names": tuple(old_names)}
    return dataclasses.field(default=default, metadata=meta)


def renamed(cls, table: dict) -> dict:
    """``table`` (field name -> value, for dataclass ``cls``) with every old name of a field replaced by its name."""
    table = dict(table)
    for f in dataclasses.fields(cls):
        for old in f.metadata.get("old_names", ()):
            if old in table:
                if f.name in table:
                    raise ValueError(f"{f.name} and its old name {old} are both given; give {f.name} only")
                table[f.name] = table.pop(old)
    return table


def documented_fields(cls) -> list[dataclasses.Field]:
    """The init fields of dataclass ``cls`` that carry help text for a flag, in declaration order."""
    return [f for f in dataclasses.fields(cls) if f.init and f.metadata.get("flag")]


# validation shared by the configuration dataclasses: a ValueError that names the field


def _is_number(value) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))


def check_int(name: str, value, minimum: int) -> int:
    """``value`` as an int, if it is an integer >= ``minimum``."""
    if not isinstance(value, (int, np.integer)) or isinstance(value, (bool, np.bool_)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def check_number(name: str, value, allow_zero: bool = False) -> float:
    """``value`` as a float, if it is a finite number > 0 (>= 0 with ``allow_zero``)."""
    if not (_is_number(value) and math.isfinite(value) and (value >= 0 if allow_zero else value > 0)):
        raise ValueError(f"{name} must be a finite number {'>= 0' if allow_zero else '> 0'}, got {value!r}")
    return float(value)


def check_fraction(name: str, value, closed_below: bool = False) -> float:
    """``value`` as a float, if it lies in (0, 1) (in [0, 1) with ``closed_below``)."""
    if not (_is_number(value) and (0 <= value if closed_below else 0 < value) and value < 1):
        raise ValueError(f"{name} must be a number in {'[0, 1)' if closed_below else '(0, 1)'}, got {value!r}")
    return float(value)


def check_choice(name: str, value, allowed: Sequence[str]) -> str:
    """``value``, if it is one of ``allowed``."""
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(allowed)}; got {value!r}")
    return value
