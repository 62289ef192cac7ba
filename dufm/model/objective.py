"""Forward pass, losses and regularisation of the deep UFM (pure, jittable).

Parameters are a :class:`~dufm.Params` pytree ``(H, W, b)``. Columns
of H_1 are ordered by class (class 0's n_0 samples first), so the labels are
Y = blockdiag(1_{n_0}^T, ..., 1_{n_{K-1}}^T) (K x N). With label sets
(``labels_per_sample`` M >= 2) the columns are n samples per set S, the sets in
the order of :func:`dufm.model.problem.label_sets` (by size, then
lexicographically: the K single-label blocks first, as above), and Y is the
indicator matrix, Y_{k,i} = [k in S_i].

    H_{l+1} = W_l sigma(H_l),  sigma(H_1) := H_1,  Z = W_L sigma(H_L) (+ b 1^T)

with sigma the identity or ReLU, never applied to H_1 or to the logits Z.

    CE   : (1/N) sum_i -log p_i[y_i],  p_i = softmax(z_i)
    LS   : (1/N) sum_i -t_i . log p_i,  t_i = (1 - alpha) e_{y_i} + alpha/K  (label smoothing)
    focal: (1/N) sum_i -(1 - p_i[y_i])^gamma log p_i[y_i]                (Lin et al. 2017)
    MSE  : (1/(2N)) ||Z - Y||_F^2
    PAL  : (1/N) sum_i sum_{k in S_i} -log p_i[k]                       (pick-all-label; Li et al. 2023)
    BCE  : (1/N) sum_i sum_k softplus(-z_ik) [k in S_i] + softplus(z_ik) [k not in S_i]   (one-vs-all)
    regularisation: (lambda_H/2)||H_1||^2 + sum_l (lambda_W_l/2)||W_l||^2 (+ (lambda_b/2)||b||^2)

(Súkeník et al. 2023; Garrod & Keating 2025; docs/conventions.md.)

Called from plain Python, these functions run in float64 whatever the
process's JAX setting (:func:`dufm.runtime.float64`). Inside your own
``jax.jit`` / ``jax.grad`` of a float64 problem, turn on JAX's 64-bit mode
yourself: a float64 problem meeting float32 arrays raises a ValueError
rather than computing in float32.
"""

from __future__ import annotations

from dataclasses import replace

import jax
import jax.numpy as jnp
import numpy as np

from ..options import check_choice
from ..runtime import float64, require_float64
from .problem import Architecture, Decays, Params, label_sets

SPECTRA = ("none", "output", "layers")  # whose singular values a solve records: nothing, Z, or every matrix analyse reports


def class_index(arch: Architecture) -> np.ndarray:
    """Class of each sample, shape (N,), columns ordered by class; for label sets (M >= 2) a ValueError: a sample has
    no one class (:func:`labels` holds its set)."""
    if arch.multi_label:
        raise ValueError("labels_per_sample must be 1 for one class per sample; label sets are the rows of labels(arch)")
    return np.repeat(np.arange(arch.classes), arch.counts)


def labels(arch: Architecture) -> np.ndarray:
    """Labels Y, shape (K, N), in the architecture's dtype: one-hot, or with label sets (M >= 2) the indicator
    Y_{k,i} = [k in S_i], n columns per set in the order of :func:`~dufm.model.problem.label_sets`."""
    if not arch.multi_label:
        return np.eye(arch.classes, dtype=arch.dtype)[:, class_index(arch)]
    return np.repeat(set_indicators(arch.classes, arch.labels_per_sample, arch.dtype), arch.counts[0], axis=1)


def set_indicators(classes: int, labels_per_sample: int, dtype="float64") -> np.ndarray:
    """[k in S] for every label set S of :func:`~dufm.model.problem.label_sets`, shape (K, number of sets): one column
    per set, the identity for M = 1."""
    sets = label_sets(classes, labels_per_sample)
    Y = np.zeros((classes, len(sets)), dtype)
    for j, s in enumerate(sets):
        Y[list(s), j] = 1
    return Y


def single_labels(arch: Architecture) -> np.ndarray:
    """One-hot labels (K, sum n_k) of the samples with one label: the first sum n_k columns (all of them for M = 1)."""
    return np.eye(arch.classes, dtype=arch.dtype)[:, np.repeat(np.arange(arch.classes), arch.counts)]


def activate(x, arch: Architecture):
    return jax.nn.relu(x) if arch.activation == "relu" else x


@float64
def forward(params: Params, arch: Architecture):
    """Return ``(Z, H)``: logits Z (K, N) and the pre-activations [H_1, ..., H_L]."""
    require_float64(params, arch.dtype)
    H = [params.H]
    for W in params.W[:-1]:
        x = H[-1] if len(H) == 1 else activate(H[-1], arch)
        H.append(W @ x)
    x = H[-1] if len(H) == 1 else activate(H[-1], arch)
    Z = params.W[-1] @ x
    if arch.has_bias:
        Z = Z + params.b[:, None]
    return Z, H


def post_activation(H, arch: Architecture):
    """sigma(H_l) for every layer; sigma(H_1) = H_1."""
    return [H[0]] + [activate(h, arch) for h in H[1:]]


def named_matrices(Z, H, W, arch: Architecture, which: str = "layers") -> dict:
    """The matrices whose spectra dufm reports, by name, in one order (:func:`dufm.analyse`, the solver's record).

    ``which``: ``output`` is Z alone (K x N, the logits without bias);
    ``layers`` is Z, then H_1 (d_1 x N), H_2, sigma_H2 (ReLU only), ...,
    H_L, sigma_HL, then W_1 (d_2 x d_1) ... W_L (K x d_L); ``none`` nothing.
    ``Z`` and ``H`` are :func:`forward`'s outputs, ``W`` the weights.
    """
    check_choice("spectra", which, SPECTRA)
    if which == "none":
        return {}
    mats = {"Z": Z}
    if which == "layers":
        post = post_activation(H, arch)
        for l, h in enumerate(H, start=1):
            mats[f"H{l}"] = h
            if arch.activation == "relu" and l > 1:
                mats[f"sigma_H{l}"] = post[l - 1]
        for l, w in enumerate(W, start=1):
            mats[f"W{l}"] = w
    return mats


def spectrum_matrices(params: Params, arch: Architecture, which: str) -> dict:
    """:func:`named_matrices` of ``params`` (jittable); Z without the bias, as the analysis takes it."""
    Z, H = forward(params, replace(arch, bias="none"))
    return named_matrices(Z, H, params.W, arch, which)


def spectrum_sizes(arch: Architecture, which: str) -> dict[str, int]:
    """Name -> the number of singular values (min of the matrix's shape) of each matrix :func:`spectrum_matrices` gives."""
    check_choice("spectra", which, SPECTRA)
    if which == "none":
        return {}
    K, N, d = arch.classes, arch.samples, arch.widths
    sizes = {"Z": min(K, N)}
    if which == "layers":
        for l in range(1, arch.depth + 1):
            sizes[f"H{l}"] = min(d[l - 1], N)
            if arch.activation == "relu" and l > 1:
                sizes[f"sigma_H{l}"] = min(d[l - 1], N)
        rows = list(d[1:]) + [K]
        sizes.update({f"W{l}": min(rows[l - 1], d[l - 1]) for l in range(1, arch.depth + 1)})
    return sizes


@float64
def data_loss(Z, arch: Architecture):
    """The data term g(Z) of ``arch.loss`` (module docstring): a mean over the samples, from log-sum-exps (stable)."""
    if arch.loss == "mse":
        return 0.5 * jnp.sum((Z - labels(arch)) ** 2) / arch.samples
    if arch.loss == "pal":
        return pick_all_label_loss(Z, labels(arch))
    if arch.loss == "bce":
        return binary_cross_entropy(Z, labels(arch))
    return softmax_loss(Z, class_index(arch), arch.loss, arch.smoothing, arch.focal_gamma)


def pick_all_label_loss(Z, Y, weights=None):
    """(1/N) sum_i sum_{k in S_i} -log softmax(z_i)_k (Li et al. 2023's pick-all-label loss) of logits Z (K, N) and label
    indicators Y (K, N; a host array, the problem's labels).

    The log-probabilities of the (label, sample) pairs are gathered in row-major order of Y; with one label per
    sample and columns ordered by class that is the order of the samples, so the sum is CE's, bit for bit.
    ``weights`` (N,): sum_i w_i (...) instead of the mean (the label-set means of :mod:`dufm.theory.reduced`).
    """
    if weights is not None:  # sum_i w_i (...) for the label-set means of the reduced problem
        return -jnp.sum(weights * jnp.sum(np.asarray(Y) * jax.nn.log_softmax(Z, axis=0), axis=0))
    rows, cols = np.nonzero(np.asarray(Y))
    return -jnp.sum(jax.nn.log_softmax(Z, axis=0)[rows, cols]) / Z.shape[1]


def binary_cross_entropy(Z, Y, weights=None):
    """(1/N) sum_i sum_k -[y_ki log sigmoid(z_ki) + (1 - y_ki) log(1 - sigmoid(z_ki))], one-vs-all, of logits Z (K, N) and
    label indicators Y (K, N; 0 or 1).

    -log sigmoid(z) = softplus(-z) and -log(1 - sigmoid(z)) = softplus(z), each term taken in the branch its label
    picks: exact at any margin, where softplus(z) - y z (the same value) would lose a small term to cancellation
    against a large z. ``weights`` (N,): sum_i w_i (...) instead of the mean.
    """
    terms = jnp.where(np.asarray(Y) > 0, jax.nn.softplus(-Z), jax.nn.softplus(Z))
    return jnp.sum(terms) / Z.shape[1] if weights is None else jnp.sum(weights * jnp.sum(terms, axis=0))


def softmax_loss(Z, y, loss: str, smoothing: float = 0.0, focal_gamma: float = 0.0, weights=None):
    """sum_i w_i l(z_i, y_i) for a loss of softmax(z) (``'ce'``, ``'ls'``, ``'focal'``; module docstring).

    Z: logits (K, N); y: the class of each column (N,); ``weights`` (N,), or
    None for the mean over the columns (w_i = 1/N, summed before dividing, as
    :func:`data_loss` always has). The reduced class-mean problem
    (:mod:`dufm.theory.reduced`) passes its class means with w = n_k / N.
    """
    N = Z.shape[1]

    def total(x):
        return jnp.sum(x) / N if weights is None else jnp.sum(weights * x)

    if loss == "focal" and focal_gamma > 0:
        nlp, log_rest = own_and_rest(Z, y)
        return total(jnp.exp(focal_gamma * log_rest) * nlp)
    logp = jax.nn.log_softmax(Z, axis=0)
    own = logp[y, np.arange(N)]
    if loss == "ls" and smoothing > 0:
        # -t.log p = -(1 - alpha) log p_y - (alpha/K) sum_j log p_j
        a = smoothing
        if weights is None:
            return -((1 - a) * jnp.sum(own) + a / Z.shape[0] * jnp.sum(logp)) / N
        return -jnp.sum(weights * ((1 - a) * own + a / Z.shape[0] * jnp.sum(logp, axis=0)))
    # CE, and alpha = 0 or gamma = 0, which are CE: the same program, so they agree with it bit for bit
    return -total(own)


def own_and_rest(Z, y):
    """(-log p_y, log(1 - p_y)) per sample (N,) from the logits (K, N), both to full relative precision.

    With r = log sum_{j != y} e^(z_j - z_y) = log((1 - p_y)/p_y), -log p_y =
    softplus(r) and log(1 - p_y) = -softplus(-r). Not log_softmax and
    log1p(-p_y): at a margin of about 37 p_y rounds to 1 in float64, so
    log p_y = z_y - logsumexp(z) rounds to 0 (the focal loss to 0, though it is
    about e^(-(gamma + 1) margin) > 0) and log1p(-p_y) to -inf, whose
    derivative gives nan.
    """
    own = Z[y, np.arange(Z.shape[1])]
    others = jnp.where(np.arange(Z.shape[0])[:, None] == y[None, :], -jnp.inf, Z)
    r = jax.nn.logsumexp(others, axis=0) - own
    return jax.nn.softplus(r), -jax.nn.softplus(-r)


@float64
def regulariser(params: Params, decays: Decays):
    """(lambda_H/2)||H_1||_F^2 + sum_l (lambda_W_l/2)||W_l||_F^2 (+ (lambda_b/2)||b||^2)."""
    r = 0.5 * decays.H * jnp.sum(params.H**2)
    for l, W in enumerate(params.W):
        r = r + 0.5 * decays.W[l] * jnp.sum(W**2)
    if params.b is not None:
        r = r + 0.5 * decays.b * jnp.sum(params.b**2)
    return r


@float64
def objective(params: Params, decays: Decays, arch: Architecture):
    """The deep UFM objective: data_loss(forward(params)) + regulariser(params)."""
    Z, _ = forward(params, arch)
    return data_loss(Z, arch) + regulariser(params, decays)


@float64
def gradient_norm(grads):
    """Euclidean norm of the whole gradient pytree."""
    return jnp.sqrt(sum(jnp.sum(g**2) for g in jax.tree_util.tree_leaves(grads)))


def shapes(arch: Architecture) -> Params:
    """Shapes and dtypes of the parameters, as a Params of ``jax.ShapeDtypeStruct`` leaves."""
    d, dt = arch.widths, jnp.dtype(arch.dtype)
    W = tuple(jax.ShapeDtypeStruct((d[l + 1], d[l]), dt) for l in range(arch.depth - 1))
    W += (jax.ShapeDtypeStruct((arch.classes, d[-1]), dt),)
    b = jax.ShapeDtypeStruct((arch.classes,), dt) if arch.has_bias else None
    return Params(jax.ShapeDtypeStruct((d[0], arch.samples), dt), W, b)
