"""The deep unconstrained features model as a problem statement.

A :class:`Problem` fixes everything that defines the objective (DESIGN.md,
"Conventions"):

* ``classes`` K, ``per_class`` n (or per-class counts n_k), N = sum n_k;
* ``width``: d for every layer, or per-layer widths (d_1, ..., d_L) where
  H_1 is d_1 x N, W_l is d_{l+1} x d_l (l < L) and W_L is K x d_L;
* ``depth`` L = number of weight matrices (L = 1 is the classical UFM);
* ``loss`` ``"ce"`` | ``"mse"``, ``activation`` ``"linear"`` | ``"relu"``
  (applied after W_1 ... W_{L-1} only);
* weight decays: one ``weight_decay`` lambda for everything, or
  ``feature_decay`` lambda_H and ``layer_decay`` lambda_W (one value or one per
  layer); lambda_H is not divided by N;
* ``bias``: ``"none"`` (default) | ``"free"`` | ``"regularised"`` (a last-layer
  bias b in R^K with penalty (bias_decay/2)||b||^2);
* ``dtype``: ``"float64"`` (default) | ``"float32"``.

The problem splits into a hashable :class:`Architecture` (shapes and choices,
the static part a compiled program is specialised on) and :class:`Decays`
(the lambdas, passed as arrays so that many lambdas share one compiled
program).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import NamedTuple, Sequence

import numpy as np

LOSSES = ("ce", "mse")
ACTIVATIONS = ("linear", "relu")
BIASES = ("none", "free", "regularised")
DTYPES = ("float64", "float32")
MAX_SIZE = 10**7
MAX_DEPTH = 1000


def _check_int(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _check_decay(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    value = float(value)
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return value


def _check_choice(name: str, value, allowed: Sequence[str]) -> str:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(allowed)}; got {value!r}")
    return value


class Decays(NamedTuple):
    """Weight decays as arrays: ``H`` scalar lambda_H, ``W`` shape (L,), ``b`` scalar."""

    H: np.ndarray
    W: np.ndarray
    b: np.ndarray


@dataclass(frozen=True)
class Architecture:
    """The static (hashable) part of a problem: shapes and modelling choices."""

    counts: tuple[int, ...]
    widths: tuple[int, ...]
    loss: str
    activation: str
    bias: str
    dtype: str

    @property
    def classes(self) -> int:
        return len(self.counts)

    @property
    def depth(self) -> int:
        return len(self.widths)

    @property
    def samples(self) -> int:
        return sum(self.counts)

    @property
    def balanced(self) -> bool:
        return len(set(self.counts)) == 1

    @property
    def has_bias(self) -> bool:
        return self.bias != "none"


@dataclass(frozen=True)
class Problem:
    """A deep UFM; see the module docstring for every field. Validated on construction."""

    classes: int
    per_class: int | tuple[int, ...]
    width: int | tuple[int, ...]
    depth: int
    loss: str = "ce"
    activation: str = "linear"
    weight_decay: float | None = None
    feature_decay: float | None = None
    layer_decay: float | tuple[float, ...] | None = None
    bias: str = "none"
    bias_decay: float = 0.0
    dtype: str = "float64"
    # resolved values, filled in by __post_init__
    counts: tuple[int, ...] = field(init=False)
    widths: tuple[int, ...] = field(init=False)
    lambda_H: float = field(init=False)
    lambda_W: tuple[float, ...] = field(init=False)

    def __post_init__(self):
        K = _check_int("classes", self.classes, 2)
        L = _check_int("depth", self.depth, 1)
        if L > MAX_DEPTH:
            raise ValueError(f"depth must be an integer <= {MAX_DEPTH}, got {L}")
        if K > MAX_SIZE:
            raise ValueError(f"classes must be an integer <= {MAX_SIZE}, got {K}")
        if isinstance(self.per_class, (list, tuple, np.ndarray)):
            counts = tuple(_check_int("per_class", c, 1) for c in self.per_class)
            if len(counts) != K:
                raise ValueError(f"per_class must be one count or {K} counts (one per class), got {len(counts)}")
        else:
            counts = (_check_int("per_class", self.per_class, 1),) * K
        if isinstance(self.width, (list, tuple, np.ndarray)):
            widths = tuple(_check_int("width", w, 1) for w in self.width)
            if len(widths) != L:
                raise ValueError(f"width must be one width or {L} widths (one per layer), got {len(widths)}")
        else:
            widths = (_check_int("width", self.width, 1),) * L
        _check_choice("loss", self.loss, LOSSES)
        _check_choice("activation", self.activation, ACTIVATIONS)
        _check_choice("bias", self.bias, BIASES)
        _check_choice("dtype", self.dtype, DTYPES)

        wd = None if self.weight_decay is None else _check_decay("weight_decay", self.weight_decay)
        if self.feature_decay is not None:
            lam_H = _check_decay("feature_decay", self.feature_decay)
        elif wd is not None:
            lam_H = wd
        else:
            raise ValueError("weight_decay (or feature_decay and layer_decay) must be given: a finite number >= 0")
        if self.layer_decay is not None:
            if isinstance(self.layer_decay, (list, tuple, np.ndarray)):
                lam_W = tuple(_check_decay("layer_decay", v) for v in self.layer_decay)
                if len(lam_W) != L:
                    raise ValueError(f"layer_decay must be one value or {L} values (one per layer), got {len(lam_W)}")
            else:
                lam_W = (_check_decay("layer_decay", self.layer_decay),) * L
        elif wd is not None:
            lam_W = (wd,) * L
        else:
            raise ValueError("weight_decay (or feature_decay and layer_decay) must be given: a finite number >= 0")
        _check_decay("bias_decay", self.bias_decay)
        if self.bias != "regularised" and self.bias_decay != 0:
            raise ValueError("bias_decay must be 0 unless bias is 'regularised'")

        big = max(counts + widths)
        if big > MAX_SIZE:
            raise ValueError(f"per_class and width must each be <= {MAX_SIZE}, got {big}")
        object.__setattr__(self, "counts", counts)
        object.__setattr__(self, "widths", widths)
        object.__setattr__(self, "lambda_H", lam_H)
        object.__setattr__(self, "lambda_W", lam_W)
        if self.parameter_count > 2**31:
            raise ValueError(f"the problem has {self.parameter_count} parameters; at most 2^31 are supported")

    @property
    def architecture(self) -> Architecture:
        return Architecture(self.counts, self.widths, self.loss, self.activation, self.bias, self.dtype)

    @property
    def decays(self) -> Decays:
        dt = np.dtype(self.dtype)
        return Decays(np.asarray(self.lambda_H, dt), np.asarray(self.lambda_W, dt), np.asarray(float(self.bias_decay), dt))

    @property
    def samples(self) -> int:
        return sum(self.counts)

    @property
    def parameter_count(self) -> int:
        d = self.widths
        n = d[0] * self.samples
        for l in range(self.depth - 1):
            n += d[l + 1] * d[l]
        n += self.classes * d[-1]
        return n + (self.classes if self.bias != "none" else 0)

    def to_dict(self) -> dict:
        """Plain JSON-able description (resolved counts, widths and lambdas)."""
        return {
            "classes": self.classes,
            "per_class": list(self.counts),
            "width": list(self.widths),
            "depth": self.depth,
            "loss": self.loss,
            "activation": self.activation,
            "lambda_H": self.lambda_H,
            "lambda_W": list(self.lambda_W),
            "bias": self.bias,
            "bias_decay": float(self.bias_decay),
            "dtype": self.dtype,
            "parameters": self.parameter_count,
        }

    @classmethod
    def from_dict(cls, d: dict) -> "Problem":
        """The problem described by :meth:`to_dict` (as stored with every sweep record)."""
        try:
            return cls(
                classes=d["classes"], per_class=tuple(d["per_class"]), width=tuple(d["width"]), depth=d["depth"],
                loss=d["loss"], activation=d["activation"], feature_decay=d["lambda_H"], layer_decay=tuple(d["lambda_W"]),
                bias=d.get("bias", "none"), bias_decay=d.get("bias_decay", 0.0), dtype=d.get("dtype", "float64"),
            )
        except (KeyError, TypeError) as e:
            raise ValueError(f"problem description is missing or has a malformed field: {e}") from None
