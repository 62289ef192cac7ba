"""The deep unconstrained features model as a problem statement, and its parameters.

A :class:`Problem` fixes everything that defines the objective
(docs/conventions.md):

* ``classes`` K, ``per_class`` n (or per-class counts n_k), N = sum n_k;
* ``labels_per_sample`` M (default 1, one label per sample): with M >= 2 the
  samples carry label sets, Li et al. 2023's balanced multi-label setting
  (arXiv 2310.15903): every subset S of {0, ..., K-1} with 1 <= |S| <= M
  labels ``per_class`` n samples, so N = n sum_{m=1..M} C(K, m), in the
  order of :func:`label_sets` (by size, then lexicographically); the loss is
  then ``"pal"`` or ``"bce"`` (docs/multilabel.md);
* ``width``: d for every layer, or per-layer widths (d_1, ..., d_L) where
  H_1 is d_1 x N, W_l is d_{l+1} x d_l (l < L) and W_L is K x d_L;
* ``depth`` L = number of weight matrices (L = 1 is the classical UFM);
* ``loss`` ``"ce"`` | ``"mse"`` | ``"ls"`` (CE against the label-smoothed
  targets (1 - alpha) e_y + alpha/K, ``smoothing`` alpha in [0, 1)) |
  ``"focal"`` (-(1 - p_y)^gamma log p_y, ``focal_gamma`` gamma >= 0; Lin et
  al. 2017) | ``"pal"`` (pick-all-label, sum_{k in S} -log p_k; Li et al.
  2023) | ``"bce"`` (one-vs-all binary cross-entropy against the indicator
  of S); ``activation`` ``"linear"`` | ``"relu"`` (applied after
  W_1 ... W_{L-1} only);
* weight decays: one ``weight_decay`` lambda for everything, or
  ``feature_decay`` lambda_H and ``layer_decay`` lambda_W (one value or one per
  layer); lambda_H is not divided by N; each lambda >= 0. With every lambda 0
  the problem is *unregularised* (Garrod, Keating & Thrampoulidis 2026, arXiv
  2605.23087; :attr:`Problem.unregularised`); with any factor's lambda 0 the
  CE objective has no minimiser (:attr:`Problem.finite_optimum`);
* ``bias``: ``"none"`` (default) | ``"free"`` | ``"regularised"`` (a last-layer
  bias b in R^K with penalty (bias_decay/2)||b||^2);
* ``dtype``: ``"float64"`` (default) | ``"float32"``.

The defaults are the Garrod & Keating (2025) Fig 1 problem: ``Problem()`` is
K = 10, n = 5, d = 70, L = 2, linear CE, lambda = 2^-10 for every factor.

The problem splits into a hashable :class:`Architecture` (shapes and choices,
the static part a compiled program is specialised on) and :class:`Decays`
(the lambdas, passed as arrays so that many lambdas share one compiled
program). :class:`Params` is the point the objective is evaluated at.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Sequence

import numpy as np

from ..options import check_choice, check_fraction, check_int, check_number, option

LOSSES = ("ce", "mse", "ls", "focal", "pal", "bce")
# the losses of softmax(z): unchanged by adding a constant to a sample's logits (pick-all-label is a sum of CE terms;
# BCE reads each logit against 0, so it is not one)
SOFTMAX_LOSSES = ("ce", "ls", "focal", "pal")
MULTI_LABEL_LOSSES = ("pal", "bce")  # the losses of a label set; the only ones with labels_per_sample > 1
ACTIVATIONS = ("linear", "relu")
BIASES = ("none", "free", "regularised")
DTYPES = ("float64", "float32")
MAX_SIZE = 10**7
MAX_DEPTH = 1000


def _one_or_each(name: str, value, count: int, check, unit: str, per: str) -> tuple:
    """One value for all ``count`` entries, or one per entry; each passed through ``check(name, v)``."""
    if isinstance(value, (list, tuple, np.ndarray)):
        values = tuple(check(name, v) for v in value)
        if len(values) != count:
            raise ValueError(f"{name} must be one {unit} or {count} {unit}s (one per {per}), got {len(values)}")
        return values
    return (check(name, value),) * count


def label_sets(classes: int, labels_per_sample: int) -> tuple[tuple[int, ...], ...]:
    """Every label set S of {0, ..., K-1} with 1 <= |S| <= M, in the order of the samples: by size, then
    lexicographically (``itertools.combinations``). M = 1 gives the classes (0,), (1,), ..., (K-1,)."""
    return tuple(s for m in range(1, labels_per_sample + 1) for s in itertools.combinations(range(classes), m))


def label_set_count(classes: int, labels_per_sample: int, cap: int | None = None) -> int:
    """sum_{m=1..M} C(K, m), the number of label sets; summed only until it exceeds ``cap`` (a huge K and M would
    otherwise build numbers of thousands of digits just to be refused)."""
    total = 0
    for m in range(1, labels_per_sample + 1):
        total += math.comb(classes, m)
        if cap is not None and total > cap:
            break
    return total


def _decay(name: str, value) -> float:
    return check_number(name, value, allow_zero=True)


def finite_optimum(loss: str, factor_decays, smoothing: float = 0.0) -> bool:
    """Whether the objective attains its infimum, from the decays of the factors (lambda_H, lambda_W_1..lambda_W_L).

    Every factor penalised: the objective is coercive in the factors, so a
    minimiser exists. A factor with decay 0 can grow by c while the others
    shrink by c^(-1/(number of others)) (Z unchanged, linear or ReLU: the model
    is positively homogeneous in each factor), so the penalty tends to 0:
    for CE the infimum is then 0 and not attained (every logit margin would have
    to be infinite); for MSE with some but not all decays 0 the infimum is 0
    (Z = Y) and needs the penalised factors at 0, so it is not attained either;
    for MSE with every decay 0 it is attained (Z = Y; loss 0; a free or
    regularised bias takes b = 0), by many factorisations. The bias decay does
    not change the answer.

    Focal loss is CE's case: -(1 - p_y)^gamma log p_y > 0 tends to 0 only as
    every margin grows without bound. So are the multi-label losses:
    pick-all-label's infimum sum_S |S| log |S| (per sample) needs infinite gaps
    between a sample's labels and the other classes, BCE's infimum 0 needs
    every logit at +-infinity. Label smoothing with alpha > 0 is MSE's:
    the per-sample loss logsumexp(z) - t.z with every target t_j >= alpha/K > 0
    is coercive in the logits modulo a constant per sample, minimal where
    softmax(z) = t (the entropy of t), at finite logits (a margin of
    log(1 + K(1 - alpha)/alpha)); so with every decay 0 it is attained, and with
    some but not all 0 the infimum needs the penalised factors at 0 (Z = 0,
    which is not where softmax(z) = t) and is not attained. alpha = 0 is CE.
    """
    d = np.asarray(factor_decays, np.float64)
    finite_logits = loss == "mse" or (loss == "ls" and smoothing > 0)
    return bool(np.all(d > 0) or (finite_logits and np.all(d == 0)))


class Decays(NamedTuple):
    """Weight decays as arrays: ``H`` lambda_H (scalar), ``W`` (lambda_W_1, ..., lambda_W_L) shape (L,), ``b`` lambda_b.

    A batch of B problems carries a leading axis B on every field
    (:meth:`stack`, :meth:`broadcast`), checked by :meth:`check_batch`.
    """

    H: np.ndarray
    W: np.ndarray
    b: np.ndarray

    @classmethod
    def stack(cls, decays: Sequence["Decays"]) -> "Decays":
        """One batched Decays from per-run ones (leading axis = runs)."""
        return cls(*(np.stack(field) for field in zip(*decays)))

    def broadcast(self, size: int) -> "Decays":
        """``size`` copies of these (unbatched) decays along a new leading axis."""
        return Decays(*(np.broadcast_to(a, (size,) + np.shape(a)).copy() for a in self))

    def check_batch(self, size: int, depth: int, bias: str) -> "Decays":
        """These decays, validated as a batch of ``size`` runs of depth ``depth``; raises ValueError naming the field."""
        want = {"H": (size,), "W": (size, depth), "b": (size,)}
        for name, a in zip(self._fields, self):
            if np.shape(a) != want[name]:
                raise ValueError(f"decays.{name} must have shape {want[name]} (one row per run), got {np.shape(a)}")
            if not np.all(np.isfinite(a)) or np.any(np.asarray(a) < 0):
                raise ValueError(f"decays.{name} must be finite and >= 0")
        if bias != "regularised" and np.any(np.asarray(self.b) != 0):
            raise ValueError("decays.b must be 0 unless bias is 'regularised'")
        return self


class Params(NamedTuple):
    """The factors of a deep UFM, a pytree: free features, weights, optional bias.

    ``H`` is H_1 (d_1, N), columns ordered by class; ``W`` is (W_1, ..., W_L)
    with W_l (d_{l+1}, d_l) for l < L and W_L (K, d_L); ``b`` is the last-layer
    bias (K,), or None without one. Leaves are numpy or JAX arrays; a batch
    of points carries a leading axis on every leaf. Flattened (for Hessians),
    the order is H_1, W_1, ..., W_L, b.
    """

    H: Any
    W: tuple
    b: Any = None

    @property
    def depth(self) -> int:
        return len(self.W)

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Named host arrays ``H``, ``W1`` ... ``WL`` (and ``b``), the names the results store uses."""
        out = {"H": np.asarray(self.H)}
        out.update({f"W{l}": np.asarray(w) for l, w in enumerate(self.W, start=1)})
        if self.b is not None:
            out["b"] = np.asarray(self.b)
        return out

    @classmethod
    def from_arrays(cls, arrays, source: str = "arrays") -> "Params":
        """The parameters stored under :meth:`to_arrays`'s names (``W1``, ``W2``, ... up to the first missing)."""
        if "H" not in arrays or "W1" not in arrays:
            raise ValueError(f"{source} must hold the parameter arrays H and W1 (a finished, not diverged run)")
        W, l = [], 1
        while f"W{l}" in arrays:
            W.append(np.asarray(arrays[f"W{l}"]))
            l += 1
        return cls(np.asarray(arrays["H"]), tuple(W), np.asarray(arrays["b"]) if "b" in arrays else None)

    @classmethod
    def stack(cls, params: Sequence["Params"]) -> "Params":
        """One batched Params (leading axis = points) from points of equal shapes."""
        first = params[0]
        W = tuple(np.stack([p.W[l] for p in params]) for l in range(first.depth))
        b = None if first.b is None else np.stack([p.b for p in params])
        return cls(np.stack([p.H for p in params]), W, b)

    def member(self, i: int) -> "Params":
        """Point ``i`` of a batched Params, as host arrays."""
        return Params(np.asarray(self.H[i]), tuple(np.asarray(w[i]) for w in self.W),
                      None if self.b is None else np.asarray(self.b[i]))


@dataclass(frozen=True)
class Architecture:
    """The static (hashable) part of a problem: shapes and modelling choices."""

    counts: tuple[int, ...]
    widths: tuple[int, ...]
    loss: str
    activation: str
    bias: str
    dtype: str
    smoothing: float = 0.0  # alpha of loss "ls"; part of the static key: the targets are constants of the program
    focal_gamma: float = 0.0  # gamma of loss "focal"
    labels_per_sample: int = 1  # M: the label sets and so N are shapes of the program

    @property
    def classes(self) -> int:
        return len(self.counts)

    @property
    def depth(self) -> int:
        return len(self.widths)

    @property
    def samples(self) -> int:
        """N: sum n_k, or n sum_{m=1..M} C(K, m) with M = labels_per_sample >= 2 (n samples per label set)."""
        if self.labels_per_sample == 1:
            return sum(self.counts)
        return self.counts[0] * label_set_count(self.classes, self.labels_per_sample)

    @property
    def single_label_samples(self) -> int:
        """The samples with one label, the first sum n_k columns (all N with one label per sample)."""
        return sum(self.counts)

    @property
    def multi_label(self) -> bool:
        return self.labels_per_sample > 1

    @property
    def balanced(self) -> bool:
        return len(set(self.counts)) == 1

    @property
    def has_bias(self) -> bool:
        return self.bias != "none"

    @property
    def parameter_count(self) -> int:
        """d_1 N + sum_l d_{l+1} d_l (d_{L+1} = K), plus K for a bias."""
        d = list(self.widths) + [self.classes]
        return d[0] * self.samples + sum(d[l + 1] * d[l] for l in range(self.depth)) + (self.classes if self.has_bias else 0)


@dataclass(frozen=True)
class Problem:
    """A deep UFM; see the module docstring for every field. Validated on construction."""

    classes: int = option(10, "number of classes K >= 2", metavar="K")
    per_class: int | tuple[int, ...] = option(5, "samples per class n, or n_1,...,n_K", metavar="n")
    labels_per_sample: int = option(
        1, "M >= 1: with M >= 2 every set of 1..M classes labels n samples (multi-label; loss pal or bce; docs/multilabel.md)",
        metavar="M")
    width: int | tuple[int, ...] = option(70, "width d, or d_1,...,d_L", metavar="d")
    depth: int = option(2, "number of weight matrices L >= 1", metavar="L")
    loss: str = option("ce", "data term (ls: label smoothing, focal: focal loss, docs/losses.md; pal: pick-all-label, bce: "
                       "one-vs-all binary cross-entropy, docs/multilabel.md)", choices=LOSSES)
    smoothing: float = option(0.0, "label smoothing alpha in [0, 1) of loss ls: targets (1 - alpha) e_y + alpha/K", metavar="ALPHA")
    focal_gamma: float = option(0.0, "gamma >= 0 of loss focal: -(1 - p_y)^gamma log p_y", metavar="GAMMA")
    activation: str = option("linear", "activation after W_1..W_{L-1}", choices=ACTIVATIONS)
    weight_decay: float | None = option(2.0**-10, "one lambda for H_1 and every W_l", metavar="LAMBDA")
    feature_decay: float | None = option(None, "lambda_H (overrides the weight decay for H_1)", metavar="LAMBDA_H")
    layer_decay: float | tuple[float, ...] | None = option(
        None, "lambda_W, or one per layer (overrides the weight decay for W)", metavar="LAMBDA_W")
    bias: str = option("none", "last-layer bias", choices=BIASES)
    bias_decay: float = option(0.0, "lambda_b of a regularised bias", metavar="LAMBDA_B")
    dtype: str = option("float64", "floating-point type of every array and computation", choices=DTYPES)
    # resolved values, filled in by __post_init__
    counts: tuple[int, ...] = field(init=False)
    widths: tuple[int, ...] = field(init=False)
    lambda_H: float = field(init=False)
    lambda_W: tuple[float, ...] = field(init=False)

    def __post_init__(self):
        K = check_int("classes", self.classes, 2)
        L = check_int("depth", self.depth, 1)
        if L > MAX_DEPTH:
            raise ValueError(f"depth must be an integer <= {MAX_DEPTH}, got {L}")
        if K > MAX_SIZE:
            raise ValueError(f"classes must be an integer <= {MAX_SIZE}, got {K}")
        counts = _one_or_each("per_class", self.per_class, K, lambda n, v: check_int(n, v, 1), "count", "class")
        widths = _one_or_each("width", self.width, L, lambda n, v: check_int(n, v, 1), "width", "layer")
        check_choice("loss", self.loss, LOSSES)
        M = check_int("labels_per_sample", self.labels_per_sample, 1)
        if M > K:
            raise ValueError(f"labels_per_sample must be an integer <= classes ({K}): a label set has at most K classes, got {M}")
        if M > 1:
            if isinstance(self.per_class, (list, tuple, np.ndarray)):
                raise ValueError(f"per_class must be one count n when labels_per_sample > 1 (n samples for every label set: "
                                 f"Li et al.'s balanced setting), got {tuple(self.per_class)!r}")
            if self.loss not in MULTI_LABEL_LOSSES:
                raise ValueError(f"loss must be 'pal' or 'bce' (a loss of a label set) when labels_per_sample > 1, got {self.loss!r}")
        object.__setattr__(self, "smoothing", check_fraction("smoothing", self.smoothing, closed_below=True))
        object.__setattr__(self, "focal_gamma", check_number("focal_gamma", self.focal_gamma, allow_zero=True))
        if self.smoothing != 0 and self.loss != "ls":
            raise ValueError(f"smoothing must be 0 unless loss is 'ls' (label smoothing), got {self.smoothing!r} with loss {self.loss!r}")
        if self.focal_gamma != 0 and self.loss != "focal":
            raise ValueError(f"focal_gamma must be 0 unless loss is 'focal', got {self.focal_gamma!r} with loss {self.loss!r}")
        check_choice("activation", self.activation, ACTIVATIONS)
        check_choice("bias", self.bias, BIASES)
        check_choice("dtype", self.dtype, DTYPES)

        wd = None if self.weight_decay is None else _decay("weight_decay", self.weight_decay)
        missing = "weight_decay (or feature_decay and layer_decay) must be given: a finite number >= 0"
        if self.feature_decay is not None:
            lam_H = _decay("feature_decay", self.feature_decay)
        elif wd is not None:
            lam_H = wd
        else:
            raise ValueError(missing)
        if self.layer_decay is not None:
            lam_W = _one_or_each("layer_decay", self.layer_decay, L, _decay, "value", "layer")
        elif wd is not None:
            lam_W = (wd,) * L
        else:
            raise ValueError(missing)
        _decay("bias_decay", self.bias_decay)
        if self.bias != "regularised" and self.bias_decay != 0:
            raise ValueError("bias_decay must be 0 unless bias is 'regularised'")

        big = max(counts + widths)
        if big > MAX_SIZE:
            raise ValueError(f"per_class and width must each be <= {MAX_SIZE}, got {big}")
        if M > 1 and counts[0] * label_set_count(K, M, MAX_SIZE) > MAX_SIZE:
            raise ValueError(f"labels_per_sample must give at most {MAX_SIZE} samples (n x the number of label sets, "
                             f"sum_m C(K, m)); K = {K}, M = {M} and n = {counts[0]} give more")
        object.__setattr__(self, "counts", counts)
        object.__setattr__(self, "widths", widths)
        object.__setattr__(self, "lambda_H", lam_H)
        object.__setattr__(self, "lambda_W", lam_W)
        if self.parameter_count > 2**31:
            raise ValueError(f"the problem has {self.parameter_count} parameters; at most 2^31 are supported")

    @property
    def architecture(self) -> Architecture:
        return Architecture(self.counts, self.widths, self.loss, self.activation, self.bias, self.dtype, self.smoothing,
                            self.focal_gamma, self.labels_per_sample)

    @property
    def decays(self) -> Decays:
        dt = np.dtype(self.dtype)
        return Decays(np.asarray(self.lambda_H, dt), np.asarray(self.lambda_W, dt), np.asarray(float(self.bias_decay), dt))

    @property
    def samples(self) -> int:
        return self.architecture.samples

    @property
    def multi_label(self) -> bool:
        """Samples carry label sets (labels_per_sample >= 2)."""
        return self.labels_per_sample > 1

    def require_single_label(self, what: str) -> None:
        """ValueError naming ``labels_per_sample`` (or ``loss``) unless ``what`` (a construction for one label per
        sample and a loss dufm has closed forms of) can serve this problem."""
        if self.multi_label:
            raise ValueError(f"labels_per_sample must be 1 for {what}: dufm's constructions have one label per sample "
                             f"(multi-label problems: dufm solve and dufm sweep; docs/multilabel.md), got {self.labels_per_sample}")
        if self.loss in MULTI_LABEL_LOSSES:
            same = "; with one label per sample pal is ce: use --loss ce" if self.loss == "pal" else ""
            raise ValueError(f"loss must be one of ce, mse, ls, focal for {what}, got {self.loss!r} (a multi-label loss, "
                             f"docs/multilabel.md{same})")

    @property
    def unregularised(self) -> bool:
        """Every decay is 0: lambda_H, every lambda_W and lambda_b (the model of Garrod, Keating & Thrampoulidis 2026)."""
        return self.lambda_H == 0 and all(v == 0 for v in self.lambda_W) and self.bias_decay == 0

    @property
    def penalised(self) -> bool:
        """Every factor (H_1, W_1 ... W_L) has a decay > 0: the closed forms apply and the end point has a scale of its own."""
        return self.lambda_H > 0 and all(v > 0 for v in self.lambda_W)

    @property
    def finite_optimum(self) -> bool:
        """Whether the objective attains its infimum (:func:`finite_optimum`): every factor penalised, or MSE or LS (alpha > 0)
        unregularised."""
        return finite_optimum(self.loss, (self.lambda_H, *self.lambda_W), self.smoothing)

    @property
    def parameter_count(self) -> int:
        return self.architecture.parameter_count

    def to_dict(self) -> dict:
        """Plain JSON-able description (resolved counts, widths and lambdas).

        ``smoothing`` and ``focal_gamma`` appear only with the loss that uses
        them, ``labels_per_sample`` only when it is > 1: a run key hashes this
        dict, so a CE or MSE problem keeps the key it had before those fields
        existed.
        """
        d = {
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
        if self.loss == "ls":
            d["smoothing"] = self.smoothing
        if self.loss == "focal":
            d["focal_gamma"] = self.focal_gamma
        if self.multi_label:
            d["labels_per_sample"] = self.labels_per_sample
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "Problem":
        """The problem described by :meth:`to_dict` (as stored with every sweep record)."""
        try:
            M = d.get("labels_per_sample", 1)
            return cls(
                classes=d["classes"], per_class=d["per_class"][0] if M != 1 else tuple(d["per_class"]), width=tuple(d["width"]), depth=d["depth"],
                loss=d["loss"], activation=d["activation"], feature_decay=d["lambda_H"], layer_decay=tuple(d["lambda_W"]),
                bias=d.get("bias", "none"), bias_decay=d.get("bias_decay", 0.0), dtype=d.get("dtype", "float64"),
                smoothing=d.get("smoothing", 0.0), focal_gamma=d.get("focal_gamma", 0.0), labels_per_sample=M,
            )
        except (KeyError, TypeError) as e:
            raise ValueError(f"problem description is missing or has a malformed field: {e}") from None
