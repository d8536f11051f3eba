"""UMAP written in torch: the same estimator on a CUDA GPU and on the CPU.

What is implemented (umap-learn's parameter names, defaults and semantics):

* the fuzzy simplicial set: per-point ``rho`` (distance to the nearest non-identical
  neighbour, interpolated by ``local_connectivity``) and ``sigma`` (bisection so that the
  memberships of a point sum to ``log2(k)``), membership weights, fuzzy union /
  intersection mix of the graph and its transpose (``set_op_mix_ratio``);
* the curve ``1 / (1 + a d^(2b))`` fitted to ``min_dist`` / ``spread`` by least squares;
* initialisation ``"spectral"`` (eigenvectors of the normalised graph Laplacian via
  ``scipy.sparse.linalg.eigsh`` on the host), ``"pca"``, ``"random"`` or an array, scaled
  to ``[0, 10]`` with a little noise;
* the SGD layout: edges sampled with ``epochs_per_sample = max(w) / w``, attraction on both
  ends, ``negative_sample_rate`` random negatives per sampled edge, gradients clipped at 4,
  learning rate decaying linearly to 0;
* ``transform``: kNN of new points into the training data, memberships with
  ``local_connectivity - 1``, initialisation at the membership-weighted mean of the
  neighbours' embeddings, then ``n_epochs // 3`` epochs (100 / 30 when ``n_epochs`` is
  None) at a quarter of the learning rate with the training embedding held fixed.

Where it differs from umap-learn:

* metrics: only ``"euclidean"`` and ``"cosine"``; the kNN graph (``knn=``) is exact
  (:func:`gputopic.native.knn.knn`) with ``"exact"``; the inverted file of
  :mod:`gputopic.native.ann` (its sampled recall logged and kept in ``knn_recall_``) with
  ``"approx"``; with ``"auto"`` (default) exact below :data:`gputopic.native.neighbors.AUTO_MIN`
  points, NN-descent as umap-learn for CPU fits of more than
  :data:`~gputopic.native.knn.CPU_EXACT_MAX` points, else the inverted file unless its
  sampled recall is below 0.95 (then exact, logged). ``knn_method_`` says which ran;
* ``n_epochs=None``: 500 epochs up to 10,000 points, above that 200 (umap-learn's
  rule) on CUDA and :data:`CPU_EPOCHS_LARGE` (100) for the CPU's numba SGD (its quality
  measured in bench/RESULTS.md; :func:`default_epochs`);
* on the CPU the fit's SGD is :mod:`gputopic.native._umap_sgd_cpu`: umap-learn's
  one-edge-at-a-time updates in numba on every thread (points split into per-thread
  blocks, other blocks read from a snapshot refreshed 32 times per epoch), reproducible
  for a seed and thread count (umap-learn with ``random_state`` runs on one thread); fits
  of at most :data:`CPU_SGD_ONE_THREAD_MAX` points run it on one thread, in umap-learn's
  sequential order (the same layout whatever numba's thread count);
  ``GPUTOPIC_UMAP_CPU_SGD=grouped`` runs the torch SGD below instead;
* on CUDA (and for ``transform``) the SGD is vectorised: the edges are split once into random groups (about 0.4 due
  edges per point in each, :func:`_n_batches`), and in every epoch each group's due edges
  compute their gradients from the current positions and are summed with ``index_add_``
  before the next group's (umap-learn applies them one edge at a time; summing a whole
  epoch at once overshoots and gives coarser clusters); negatives are exactly
  ``negative_sample_rate`` per sampled edge (umap-learn: that many on average). On CUDA with
  Triton each (epoch, group) step is one fused kernel (:mod:`._triton_sgd`: the same
  gradients, applied with atomic adds as soon as computed; ``GPUTOPIC_TRITON_SGD=0`` keeps
  the torch path, which is also the fallback if the kernel fails). The results are of the
  same quality, not identical to umap-learn's. A fixed ``random_state`` is reproducible
  on the CPU for a given machine and thread count; on CUDA it is not bitwise
  reproducible (atomic adds);
* spectral initialisation is used up to ``SPECTRAL_MAX_N`` points and on a connected
  graph; a larger or disconnected graph, or an eigensolver failure, falls back to the PCA
  initialisation (logged), where umap-learn lays out components separately;
* supervised and semi-supervised fits take categorical labels only (umap-learn's
  default ``target_metric``; ``target_weight`` as there); no densMAP, no
  ``inverse_transform``, no ``update``; ``n_neighbors >= n_samples`` is an error rather
  than a warning.

Inputs may be NumPy arrays, torch tensors (CPU or CUDA) or CuPy arrays; the embedding is
returned in the input's kind (and, for torch, on the input's device).
"""

from __future__ import annotations

import logging
import math
import os
import time
from typing import Any

import numpy as np
import scipy.sparse
import torch

from .._params import ParamsMixin
from ..device import array_kind, as_tensor, output_like
from ..exceptions import DeviceError, InputError, NotFittedError
from . import _umap_sgd_cpu as _sgd_cpu
from .neighbors import check_mode, self_knn
from .knn import CPU_EXACT_MAX, METRICS, knn as _knn, nndescent

logger = logging.getLogger("gputopic")

__all__ = ["UMAP", "find_ab_params", "fuzzy_simplicial_set"]

INITS = ("spectral", "pca", "random")
CPU_SGD = ("sequential", "grouped")
SPECTRAL_MAX_N = 50_000
_SMOOTH_K_TOLERANCE = 1e-5
_MIN_K_DIST_SCALE = 1e-3
_BISECT_ITERS = 64
_MAX_BATCHES = 64
_DUE_PER_HEAD_PER_BATCH = 0.4


# --------------------------------------------------------------------------- curve params
def find_ab_params(spread: float, min_dist: float) -> tuple[float, float]:
    """Least-squares fit of ``1 / (1 + a x^(2b))`` to UMAP's target membership curve.

    The target is 1 below ``min_dist`` and ``exp(-(x - min_dist) / spread)`` above it,
    sampled at 300 points on ``[0, 3 * spread]``.
    """
    from scipy.optimize import curve_fit

    x = np.linspace(0.0, 3.0 * spread, 300)
    target = np.where(x < min_dist, 1.0, np.exp(-(x - min_dist) / spread))

    def curve(x, a, b):
        return 1.0 / (1.0 + a * np.power(x, 2.0 * b))

    (a, b), _ = curve_fit(curve, x, target, p0=(1.0, 1.0), maxfev=10000)
    return float(a), float(b)


# --------------------------------------------------------------------------- fuzzy graph
def _smooth_knn_dist(d: torch.Tensor, k_eff: int, local_connectivity: float):
    """Per-row ``(sigma, rho)`` for kNN distances ``d`` ([n, k], ascending), vectorised.

    The bisection sums over columns 1..k-1 (column 0 is the point itself in ``fit``), as
    umap-learn does; rows stop moving once within tolerance of the target.
    """
    d = d.double()
    n, k = d.shape
    target = math.log2(k_eff)
    pos = d > 0
    n_pos = pos.sum(1)
    first = k - n_pos  # distances are sorted, so the positive ones are a suffix
    index = int(math.floor(local_connectivity))
    interp = local_connectivity - index
    rho = torch.zeros(n, dtype=d.dtype, device=d.device)
    has = n_pos >= local_connectivity
    if index > 0:
        lo_col = (first + index - 1).clamp(max=k - 1)
        hi_col = (first + index).clamp(max=k - 1)
        d_lo = d.gather(1, lo_col[:, None]).squeeze(1)
        d_hi = d.gather(1, hi_col[:, None]).squeeze(1)
        r = d_lo + (interp * (d_hi - d_lo) if interp > _SMOOTH_K_TOLERANCE else 0.0)
    else:
        r = interp * d.gather(1, first.clamp(max=k - 1)[:, None]).squeeze(1)
    rho = torch.where(has, r, rho)
    # fewer positive distances than local_connectivity: rho = the largest one
    rho = torch.where(~has & (n_pos > 0), d[:, -1], rho)

    dd = (d[:, 1:] - rho[:, None])
    lo = torch.zeros(n, dtype=d.dtype, device=d.device)
    hi = torch.full((n,), math.inf, dtype=d.dtype, device=d.device)
    mid = torch.ones(n, dtype=d.dtype, device=d.device)
    done = torch.zeros(n, dtype=torch.bool, device=d.device)
    pos_dd = dd > 0
    for _ in range(_BISECT_ITERS):
        psum = torch.where(pos_dd, torch.exp(-dd / mid[:, None]), 1.0).sum(1)
        done = done | ((psum - target).abs() < _SMOOTH_K_TOLERANCE)
        too_big = psum > target
        new_hi = torch.where(too_big, mid, hi)
        new_lo = torch.where(too_big, lo, mid)
        new_mid = torch.where(torch.isinf(new_hi), mid * 2.0, (new_lo + new_hi) / 2.0)
        hi = torch.where(done, hi, new_hi)
        lo = torch.where(done, lo, new_lo)
        mid = torch.where(done, mid, new_mid)
    sigma = mid
    mean_row = d.mean(1)
    floor = torch.where(rho > 0, _MIN_K_DIST_SCALE * mean_row, _MIN_K_DIST_SCALE * d.mean())
    sigma = torch.maximum(sigma, floor)
    return sigma, rho


def _memberships(d: torch.Tensor, sigma: torch.Tensor, rho: torch.Tensor) -> torch.Tensor:
    dd = d.double() - rho[:, None]
    return torch.where(dd > 0, torch.exp(-dd / sigma[:, None]), 1.0).float()


def fuzzy_simplicial_set(
    dist: torch.Tensor,
    idx: torch.Tensor,
    n: int,
    set_op_mix_ratio: float = 1.0,
    local_connectivity: float = 1.0,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Symmetric fuzzy graph of a kNN graph whose first neighbour is the point itself.

    Returns ``(rows, cols, weights, sigma, rho)``: the COO edges (both directions, no
    self loops, sorted by ``row * n + col``) on the kNN tensors' device.
    """
    k = dist.shape[1]
    sigma, rho = _smooth_knn_dist(dist, k, local_connectivity)
    w = _memberships(dist, sigma, rho)
    rows = torch.arange(n, device=idx.device).repeat_interleave(k)
    cols = idx.reshape(-1)
    w = w.reshape(-1)
    keep = (cols != rows) & (w > 0) & (cols >= 0)
    rows, cols, w = rows[keep], cols[keep], w[keep]
    rows, cols, out = _union_with_transpose(rows, cols, w, n, set_op_mix_ratio)
    return rows, cols, out, sigma.float(), rho.float()


def _union_with_transpose(rows: torch.Tensor, cols: torch.Tensor, w: torch.Tensor, n: int,
                          set_op_mix_ratio: float = 1.0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``mix * (A + A^T - A o A^T) + (1 - mix) * (A o A^T)`` of the COO matrix ``A``
    (no duplicate entries): edges in both directions, sorted by ``row * n + col``."""
    # A and A^T in one list keyed by row * n + col; at most two entries share a key
    keys = torch.cat([rows * n + cols, cols * n + rows])
    vals = torch.cat([w, w])
    ukeys, inv = torch.unique(keys, return_inverse=True)
    s = torch.zeros(ukeys.shape[0], dtype=torch.float32, device=w.device).index_add_(0, inv, vals)
    sq = torch.zeros_like(s).index_add_(0, inv, vals * vals)
    cnt = torch.zeros_like(s).index_add_(0, inv, torch.ones_like(vals))
    prod = torch.where(cnt > 1.5, ((s * s - sq) * 0.5).clamp_(min=0.0), 0.0)
    # a key listed twice came from both A and A^T: s = a + b, prod = ab, union = a + b - ab
    union = torch.where(cnt > 1.5, s - prod, s)
    out = set_op_mix_ratio * union + (1.0 - set_op_mix_ratio) * prod
    nz = out > 0
    ukeys, out = ukeys[nz], out[nz]
    return ukeys // n, ukeys % n, out


def categorical_intersection(rows: torch.Tensor, cols: torch.Tensor, w: torch.Tensor, y: torch.Tensor, n: int,
                             far_dist: float = 5.0, unknown_dist: float = 1.0
                             ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """umap-learn's supervised graph for categorical labels ``y`` (-1 = unknown): an edge
    between different labels is weakened by ``exp(-far_dist)``, one with an unknown end
    by ``exp(-unknown_dist)``; then each point's strongest edge is scaled back to 1 and
    the graph made symmetric again by the fuzzy union (umap-learn's
    ``reset_local_connectivity``)."""
    yi, yj = y[rows], y[cols]
    factor = torch.where((yi < 0) | (yj < 0), math.exp(-unknown_dist),
                         torch.where(yi != yj, math.exp(-far_dist), 1.0))
    w = w * factor.to(w.dtype)
    keep = w > 0
    rows, cols, w = rows[keep], cols[keep], w[keep]
    top = torch.zeros(n, dtype=w.dtype, device=w.device).scatter_reduce_(0, rows, w, "amax", include_self=True)
    return _union_with_transpose(rows, cols, w / top[rows], n)


def _target(y: Any, n: int, device: torch.device) -> torch.Tensor:
    """Class labels as an int64 tensor: ``n`` integers, -1 for unknown."""
    t = np.asarray(y.get() if hasattr(y, "get") else (y.cpu().numpy() if isinstance(y, torch.Tensor) else y))
    if t.ndim != 1 or t.shape[0] != n or (t.size and t.dtype.kind not in "iu") or (t.size and t.min() < -1):
        raise InputError(f"y must hold {n} integer class labels (-1 where unknown), one per point; got "
                         f"{t.dtype} values of shape {t.shape}")
    return torch.as_tensor(t.astype(np.int64), device=device)


# --------------------------------------------------------------------------- initialisation
def _scale_init(emb: np.ndarray, rng: np.random.RandomState) -> np.ndarray:
    emb = emb.astype(np.float64)
    m = np.abs(emb).max()
    emb = emb * (10.0 / m) if m > 0 else emb
    emb = emb + rng.normal(scale=1e-4, size=emb.shape)
    lo, hi = emb.min(0), emb.max(0)
    span = np.where(hi - lo > 0, hi - lo, 1.0)
    return (10.0 * (emb - lo) / span).astype(np.float32)


def _pca_init(X: torch.Tensor, dim: int) -> np.ndarray:
    Xc = X.float() - X.float().mean(0, keepdim=True)
    q = min(dim, *Xc.shape)
    if Xc.shape[1] <= 1024:
        # eigenvectors of the small covariance matrix: one GEMM, exact
        _, vecs = torch.linalg.eigh((Xc.T @ Xc).double())
        comps = vecs[:, -q:].flip(1).float()
    else:
        _, _, V = torch.pca_lowrank(Xc, q=q, center=False)
        comps = V[:, :q]
    out = (Xc @ comps).cpu().numpy()
    if out.shape[1] < dim:  # fewer features than components: pad with noise
        out = np.hstack([out, np.random.RandomState(0).normal(scale=1e-4, size=(out.shape[0], dim - out.shape[1]))])
    return out


def _spectral_init(graph: scipy.sparse.csr_matrix, dim: int, rng: np.random.RandomState) -> np.ndarray | None:
    """Eigenvectors 2..dim+1 of the normalised Laplacian, or None when not usable."""
    from scipy.sparse.csgraph import connected_components
    from scipy.sparse.linalg import eigsh

    n = graph.shape[0]
    if n <= dim + 2:
        return None
    n_comp, _ = connected_components(graph, directed=False)
    if n_comp > 1:
        logger.info("UMAP: graph has %d connected components; using the PCA initialisation", n_comp)
        return None
    deg = np.asarray(graph.sum(1)).ravel()
    inv_sqrt = 1.0 / np.sqrt(np.maximum(deg, 1e-12))
    D = scipy.sparse.diags(inv_sqrt)
    # the largest eigenvectors of D^-1/2 A D^-1/2 are the smallest of I - D^-1/2 A D^-1/2
    M = (D @ graph @ D).tocsr().astype(np.float64)
    k = dim + 1
    ncv = min(n - 1, max(2 * k + 1, int(math.sqrt(n))))
    try:
        vals, vecs = eigsh(M, k, which="LA", ncv=ncv, tol=1e-4, v0=np.ones(n), maxiter=n * 5)
    except Exception as exc:  # ArpackNoConvergence, ArpackError, ...
        logger.info("UMAP: spectral initialisation failed (%s); using the PCA initialisation", exc)
        return None
    order = np.argsort(vals)[::-1][1:k]
    return vecs[:, order]


# --------------------------------------------------------------------------- SGD
def _n_batches(epochs_per_sample: torch.Tensor, n_heads: int) -> int:
    """Sub-batches per epoch, so that a head point has ~``_DUE_PER_HEAD_PER_BATCH`` due
    edges in each.

    An epoch samples ``sum(1 / epochs_per_sample)`` edges on average; umap-learn applies
    them one at a time, so a point's later edges see its earlier moves. Summing all of a
    point's moves of an epoch instead (one batch) overshoots: early on, at learning rate
    ~1, one attraction moves a point about its whole distance to the neighbour, and the
    ~7 attractions (plus ~7 as a tail) a point gets per epoch on 20 Newsgroups add up.
    That layout is smoother and HDBSCAN finds fewer, broader clusters. Random groups applied
    one after the other, with ~0.4 due edges per head point in each, bring topic count, NMI
    and NPMI close to umap-learn's (bench/probe_umap_quality.py; bench/RESULTS.md has the
    figures), for more, smaller kernel launches.
    """
    due_per_epoch = float((1.0 / epochs_per_sample).sum())
    s = due_per_epoch / (max(1, n_heads) * _DUE_PER_HEAD_PER_BATCH)
    return max(1, min(_MAX_BATCHES, int(round(s))))


def _optimize_layout(
    head: torch.Tensor,
    tail: torch.Tensor,
    h_idx: torch.Tensor,
    t_idx: torch.Tensor,
    epochs_per_sample: torch.Tensor,
    n_epochs: int,
    a: float,
    b: float,
    gamma: float,
    initial_alpha: float,
    negative_sample_rate: int,
    move_other: bool,
    gen: torch.Generator,
    verbose: bool = False,
    n_batches: int | None = None,
) -> torch.Tensor:
    """UMAP SGD in sub-batches; updates ``head`` (and ``tail`` when it is ``head``) in place.

    The edges are split once into ``n_batches`` random groups (default
    :func:`_n_batches`); in every epoch the due edges of each group compute their
    gradients from the current positions and are applied together with ``index_add_``
    before the next group's are computed.
    """
    device = head.device
    n_tail = tail.shape[0]
    neg = int(negative_sample_rate)
    S = _n_batches(epochs_per_sample, head.shape[0]) if n_batches is None else max(1, int(n_batches))
    if S > 1:
        group = torch.randint(0, S, (h_idx.shape[0],), generator=gen, device=device)
        order = torch.argsort(group, stable=True)
        bounds = [0] + torch.cumsum(torch.bincount(group, minlength=S), 0).tolist()
        h_idx, t_idx, epochs_per_sample = h_idx[order], t_idx[order], epochs_per_sample[order]
    else:
        bounds = [0, h_idx.shape[0]]
    if _triton_sgd_wanted(head):
        done = _triton_sgd(head, tail, h_idx, t_idx, epochs_per_sample, bounds, n_epochs, a, b, gamma,
                           initial_alpha, neg, move_other, gen)
        if done is not None:
            return done
    next_sample = epochs_per_sample.clone()
    for epoch in range(n_epochs):
        alpha = initial_alpha * (1.0 - epoch / float(n_epochs))
        due_all = next_sample <= epoch
        next_sample += torch.where(due_all, epochs_per_sample, 0.0)
        for lo, hi in zip(bounds[:-1], bounds[1:]):
            e = due_all[lo:hi].nonzero().squeeze(1)  # one host sync per group (its edge count)
            if e.numel() == 0:
                continue
            j = h_idx[lo:hi].index_select(0, e)
            k = t_idx[lo:hi].index_select(0, e)
            diff = head.index_select(0, j) - tail.index_select(0, k)
            d2 = (diff * diff).sum(1)
            d2b = d2.pow(b)
            # -2ab d^(2(b-1)) / (1 + a d^(2b)); zero for coincident points
            coef = torch.where(d2 > 0, (-2.0 * a * b) * d2b / (d2.clamp(min=1e-30) * (a * d2b + 1.0)), 0.0)
            g_att = (diff.mul_(coef[:, None])).clamp_(-4.0, 4.0).mul_(alpha)
            if neg > 0:
                jn = j.repeat(neg)
                kn = torch.randint(0, n_tail, (jn.shape[0],), generator=gen, device=device)
                diff_n = head.index_select(0, jn) - tail.index_select(0, kn)
                d2n = (diff_n * diff_n).sum(1)
                # 2 gamma b / ((0.001 + d^2)(1 + a d^(2b))); coincident points (d = 0) get no
                # push, as their direction is undefined (as in umap-learn 0.5)
                coef_n = (2.0 * gamma * b) / ((1e-3 + d2n) * (a * d2n.pow(b) + 1.0))
                g_rep = diff_n.mul_(coef_n[:, None]).clamp_(-4.0, 4.0).mul_(alpha)
                head.index_add_(0, torch.cat([j, jn]), torch.cat([g_att, g_rep]))
            else:
                head.index_add_(0, j, g_att)
            if move_other:
                tail.index_add_(0, k, g_att.neg_())
        if verbose and (epoch % max(1, n_epochs // 10) == 0):
            logger.info("UMAP: epoch %d / %d", epoch, n_epochs)
    return head


#: "failed": set once the Triton SGD kernel failed (then: torch path); "runs": fits it did
_TRITON_SGD_STATE = {"failed": False, "runs": 0}


def _triton_sgd_wanted(head: torch.Tensor) -> bool:
    """Whether to run the SGD epochs as the fused Triton kernel (:mod:`._triton_sgd`): CUDA
    tensors, unless ``GPUTOPIC_TRITON_SGD=0`` is set or the kernel failed before."""
    return head.is_cuda and os.environ.get("GPUTOPIC_TRITON_SGD", "1") != "0" and not _TRITON_SGD_STATE["failed"]


def _triton_sgd(head, tail, h_idx, t_idx, epochs_per_sample, bounds, n_epochs, a, b, gamma, initial_alpha,
                neg, move_other, gen) -> torch.Tensor | None:
    """The SGD epochs through the Triton kernel; None (``head`` unchanged) where it does not
    apply or fails, after a warning logged once: the caller then runs the torch path."""
    try:
        from . import _triton_sgd as kernel
    except Exception:  # triton missing or broken: torch path, silently
        _TRITON_SGD_STATE["failed"] = True
        return None
    if not kernel.supported(head, tail, int(h_idx.shape[0]), neg):
        return None
    seed = int(gen.initial_seed()) % (2**31 - 1)  # gen itself untouched: a fallback runs as if never tried
    start = head.clone()
    try:
        out = kernel.optimize_layout(head, tail, h_idx, t_idx, epochs_per_sample, bounds, n_epochs, a, b,
                                     gamma, initial_alpha, neg, move_other, seed)
        _TRITON_SGD_STATE["runs"] += 1
        return out
    except Exception as exc:  # compile/launch failure: back to where it started, torch path
        head.copy_(start)
        _TRITON_SGD_STATE["failed"] = True
        logger.warning("UMAP: Triton SGD kernel unavailable (%s: %s); using the torch path",
                       type(exc).__name__, exc)
        return None


#: CPU fits of at most this many points (umap-learn's own "small data" bound) run the
#: numba SGD on one thread, in umap-learn's sequential order. With the per-thread blocks,
#: HDBSCAN found only two giant topics on the 2,000-post demo sample at 33 of 160 seeds
#: (0-159); on one thread at 16, with umap-learn at 12. On 6,000 20 Newsgroups posts the
#: blocks gave no such case in 30 seeds, and on 10,000 the one-thread SGD would cost
#: ~4.5 s more (fit 10.8-11.2 s vs 6.1-6.8 s), hence the bound.
CPU_SGD_ONE_THREAD_MAX = 4096


def _cpu_sgd() -> str:
    """The fit's SGD on the CPU: ``"sequential"`` (default; numba, see ``_umap_sgd_cpu``)
    or ``"grouped"`` (the torch code the GPU runs), from ``GPUTOPIC_UMAP_CPU_SGD``."""
    value = os.environ.get("GPUTOPIC_UMAP_CPU_SGD", "sequential").strip().lower()
    if value not in CPU_SGD:
        raise InputError(f"GPUTOPIC_UMAP_CPU_SGD must be one of {CPU_SGD}, got {value!r}")
    if value == "sequential" and not _sgd_cpu.available():
        logger.info("UMAP: numba is not installed; the CPU fit uses the grouped torch SGD")
        return "grouped"
    return value


#: SGD epochs of a CPU fit (numba SGD) of more than 10,000 points when ``n_epochs`` is None.
#: umap-learn runs 200; on 20 Newsgroups (18,331 posts, seeds 0-4) 100 epochs moved the NMI
#: mean by -0.005 and the NPMI mean by +0.014 against 200 (seed-to-seed sd ~0.01), for half
#: the SGD time (bench/RESULTS.md, "The CPU race, fair"); a later probe of the parallel SGD
#: (then 8 snapshot refreshes) gave NMI 0.434 with 200 epochs and 0.433 with 100, seeds 0-9
#: ("Snapshot refreshes").
CPU_EPOCHS_LARGE = 100


def default_epochs(n: int, sequential: bool) -> int:
    """Epochs of a fit of ``n`` points when ``n_epochs`` is None: 500 up to 10,000 points
    (as umap-learn), else 200, or :data:`CPU_EPOCHS_LARGE` for the CPU's numba SGD."""
    if n <= 10000:
        return 500
    return CPU_EPOCHS_LARGE if sequential else 200


def _epochs_per_sample(w: torch.Tensor) -> torch.Tensor:
    return (w.max() / w).float()


# --------------------------------------------------------------------------- estimator
class UMAP(ParamsMixin):
    """Uniform Manifold Approximation and Projection in torch (see the module docstring)."""

    _gputopic_device_arrays = True  # takes CuPy / CUDA torch input as is (see gputopic.reduce)

    def __init__(
        self,
        n_neighbors: int = 15,
        n_components: int = 2,
        metric: str = "euclidean",
        min_dist: float = 0.1,
        spread: float = 1.0,
        n_epochs: int | None = None,
        learning_rate: float = 1.0,
        negative_sample_rate: int = 5,
        repulsion_strength: float = 1.0,
        set_op_mix_ratio: float = 1.0,
        local_connectivity: float = 1.0,
        init: Any = "spectral",
        random_state: int | None = None,
        device: str = "auto",
        verbose: bool = False,
        target_weight: float = 0.5,
        knn: str = "auto",
    ):
        self.n_neighbors = n_neighbors
        self.n_components = n_components
        self.metric = metric
        self.min_dist = min_dist
        self.spread = spread
        self.n_epochs = n_epochs
        self.learning_rate = learning_rate
        self.negative_sample_rate = negative_sample_rate
        self.repulsion_strength = repulsion_strength
        self.set_op_mix_ratio = set_op_mix_ratio
        self.local_connectivity = local_connectivity
        self.init = init
        self.random_state = random_state
        self.device = device
        self.verbose = verbose
        self.target_weight = target_weight
        self.knn = knn

    # ----------------------------------------------------------------- helpers
    def _resolve_device(self, X: Any) -> torch.device:
        if self.device not in ("auto", "cpu", "cuda"):
            raise DeviceError(f"device must be 'auto', 'cpu' or 'cuda', got {self.device!r}")
        kind = array_kind(X)
        x_dev = X.device if kind == "torch" else (torch.device("cuda", X.device.id) if kind == "cupy" else None)
        if self.device == "cpu":
            return torch.device("cpu")
        if x_dev is not None and x_dev.type == "cuda":
            return x_dev
        if self.device == "cuda":
            if not torch.cuda.is_available():
                raise DeviceError("device='cuda' was requested but torch sees no CUDA GPU")
            return torch.device("cuda")
        return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")

    def _validate(self, n: int) -> None:
        def is_int(v):
            return isinstance(v, (int, np.integer)) and not isinstance(v, bool)

        if not is_int(self.n_neighbors) or self.n_neighbors < 2:
            raise InputError(f"n_neighbors must be an integer >= 2, got {self.n_neighbors!r}")
        if self.n_neighbors >= n:
            raise InputError(
                f"n_neighbors must be smaller than the number of samples ({n}), got {self.n_neighbors}"
            )
        if not is_int(self.n_components) or self.n_components < 1:
            raise InputError(f"n_components must be an integer >= 1, got {self.n_components!r}")
        if self.metric not in METRICS:
            raise InputError(f"metric must be one of {METRICS}, got {self.metric!r}")
        if isinstance(self.init, str):
            if self.init not in INITS:
                raise InputError(f"init must be one of {INITS} or an array, got {self.init!r}")
        elif tuple(np.shape(self.init)) != (n, self.n_components):
            raise InputError(f"an init array must have shape ({n}, {self.n_components}), got {np.shape(self.init)}")
        if not self.spread > 0:
            raise InputError(f"spread must be > 0, got {self.spread!r}")
        if not 0 <= self.min_dist <= self.spread:
            raise InputError(f"min_dist must be in [0, spread={self.spread}], got {self.min_dist!r}")
        if self.n_epochs is not None and (not is_int(self.n_epochs) or self.n_epochs < 0):
            raise InputError(f"n_epochs must be None or an integer >= 0, got {self.n_epochs!r}")
        if not self.learning_rate > 0:
            raise InputError(f"learning_rate must be > 0, got {self.learning_rate!r}")
        if not is_int(self.negative_sample_rate) or self.negative_sample_rate < 0:
            raise InputError(f"negative_sample_rate must be an integer >= 0, got {self.negative_sample_rate!r}")
        if not self.repulsion_strength >= 0:
            raise InputError(f"repulsion_strength must be >= 0, got {self.repulsion_strength!r}")
        if not 0 <= self.set_op_mix_ratio <= 1:
            raise InputError(f"set_op_mix_ratio must be in [0, 1], got {self.set_op_mix_ratio!r}")
        if not self.local_connectivity >= 0:
            raise InputError(f"local_connectivity must be >= 0, got {self.local_connectivity!r}")
        if isinstance(self.target_weight, bool) or not isinstance(self.target_weight, (int, float)) \
                or not 0 <= self.target_weight <= 1:
            raise InputError(f"target_weight must be a number in [0, 1], got {self.target_weight!r}")
        check_mode(self.knn)

    def _seeds(self) -> tuple[np.random.RandomState, int]:
        if self.random_state is None:
            seed = int(np.random.randint(0, 2**31 - 1))
        elif isinstance(self.random_state, np.random.RandomState):
            seed = int(self.random_state.randint(0, 2**31 - 1))
        else:
            seed = int(self.random_state)
        return np.random.RandomState(seed), seed

    def _generator(self, device: torch.device, seed: int) -> torch.Generator:
        g = torch.Generator(device=device)
        g.manual_seed(seed)
        return g

    def _check_knn(self, knn: Any, n: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        try:
            d, i = knn
        except (TypeError, ValueError):
            raise InputError("knn must be a pair (distances, indices)") from None
        d = as_tensor(d, device, torch.float32)
        i = as_tensor(i, device, torch.int64)
        if d.ndim != 2 or d.shape != i.shape or d.shape[0] != n:
            raise InputError(f"knn arrays must both have shape ({n}, >= n_neighbors), got {tuple(d.shape)} and {tuple(i.shape)}")
        if d.shape[1] < self.n_neighbors:
            raise InputError(f"knn has {d.shape[1]} neighbours per point, fewer than n_neighbors={self.n_neighbors}")
        return d[:, : self.n_neighbors].contiguous(), i[:, : self.n_neighbors].contiguous()

    # ----------------------------------------------------------------- fit
    def fit(self, X: Any, knn: Any = None, y: Any = None) -> "UMAP":
        """Fit the embedding of ``X``; ``knn=(distances, indices)`` reuses a kNN graph.

        The precomputed graph must list each point as its own first neighbour and have at
        least ``n_neighbors`` columns (the first ``n_neighbors`` are used). ``y``: integer
        class labels, -1 where unknown, make the fit supervised (semi-supervised with
        unknowns) as umap-learn's categorical target does: edges between different classes
        weakened by ``exp(-2.5 / (1 - target_weight))``, those with an unknown end by
        ``exp(-1)``.
        """
        t0 = time.perf_counter()
        kind = array_kind(X)
        if not hasattr(X, "shape"):
            X = np.asarray(X, dtype=np.float32)
            kind = "numpy"
        if len(X.shape) != 2:
            raise InputError("X must be a 2-D array of shape (n_samples, n_features)")
        n = int(X.shape[0])
        self._validate(n)
        device = self._resolve_device(X)
        if y is not None:
            _target(y, n, torch.device("cpu"))  # a bad y fails before the work
        Xt = as_tensor(X, device)
        if not bool(torch.isfinite(Xt).all()):
            raise InputError("X contains NaN or infinite values")
        rng, seed = self._seeds()
        gen = self._generator(device, seed)
        self._input_kind = kind
        self._output = output_like(X, keep_torch=True)  # torch in, torch out (on its device); CuPy in, CuPy out
        self._device = device

        k = int(self.n_neighbors)
        self.knn_recall_ = None
        if knn is not None:
            dist, idx = self._check_knn(knn, n, device)
            self.knn_method_ = "precomputed"
        elif self.knn == "auto" and device.type == "cpu" and n > CPU_EXACT_MAX:
            dist, idx = nndescent(Xt, k, self.metric, seed)
            self.knn_method_ = "nndescent"
        else:
            dist, idx, info = self_knn(Xt, k, self.metric, self.knn, seed=seed, who="UMAP")
            self.knn_method_, self.knn_recall_ = info["method"], info["recall"]
        rows, cols, w, sigma, rho = fuzzy_simplicial_set(
            dist, idx, n, float(self.set_op_mix_ratio), float(self.local_connectivity)
        )
        if y is not None:
            far = 2.5 / (1.0 - float(self.target_weight)) if self.target_weight < 1 else 1e12
            rows, cols, w = categorical_intersection(rows, cols, w, _target(y, n, device), n, far_dist=far)
        self.graph_ = scipy.sparse.csr_matrix(
            (w.cpu().numpy(), (rows.cpu().numpy(), cols.cpu().numpy())), shape=(n, n)
        )
        self._sigmas, self._rhos = sigma, rho
        self._raw_data = Xt
        self._knn_dists, self._knn_indices = dist, idx
        self._a, self._b = find_ab_params(float(self.spread), float(self.min_dist))
        if self.verbose:
            logger.info("UMAP: fuzzy graph with %d edges in %.2fs", w.numel(), time.perf_counter() - t0)

        sequential = _cpu_sgd() == "sequential" and device.type == "cpu"
        n_epochs = self.n_epochs if self.n_epochs is not None else default_epochs(n, sequential)
        self._n_epochs_fit = n_epochs
        # drop edges too weak to be sampled even once
        if n_epochs > 0 and w.numel():
            keep = w >= w.max() / float(n_epochs)
            rows_l, cols_l, w_l = rows[keep], cols[keep], w[keep]
        else:
            rows_l, cols_l, w_l = rows, cols, w

        emb = self._initial_embedding(Xt, rows_l, cols_l, w_l, n, rng, gen, device)
        if self.verbose:
            logger.info("UMAP: initialisation %r done at %.2fs", self.init, time.perf_counter() - t0)
        if n_epochs > 0 and w_l.numel():
            args = (n_epochs, self._a, self._b, float(self.repulsion_strength), float(self.learning_rate),
                    int(self.negative_sample_rate))
            if sequential:
                emb = torch.from_numpy(_sgd_cpu.optimize_layout(
                    emb.numpy(), rows_l.numpy(), cols_l.numpy(), _epochs_per_sample(w_l).numpy(), *args, seed=seed,
                    n_threads=1 if n <= CPU_SGD_ONE_THREAD_MAX else None,
                ))
            else:
                _optimize_layout(emb, emb, rows_l, cols_l, _epochs_per_sample(w_l), *args, True, gen, bool(self.verbose))
        self._embedding_t = emb
        self.embedding_ = self._output.array(emb)
        self.n_features_in_ = int(Xt.shape[1])
        if self.verbose:
            logger.info("UMAP: fit %d points in %.2fs", n, time.perf_counter() - t0)
        return self

    def _initial_embedding(self, Xt, rows, cols, w, n, rng, gen, device) -> torch.Tensor:
        dim = int(self.n_components)
        init = self.init
        if not isinstance(init, str):
            arr = as_tensor(init, torch.device("cpu"), torch.float32).numpy().astype(np.float32)
            return torch.from_numpy(arr.copy()).to(device)
        if init == "random":
            u = torch.rand((n, dim), generator=gen, device=device) * 20.0 - 10.0
            return u.float().contiguous()
        out = None
        if init == "spectral":
            if n <= SPECTRAL_MAX_N:
                g = scipy.sparse.csr_matrix(
                    (w.cpu().numpy().astype(np.float64), (rows.cpu().numpy(), cols.cpu().numpy())), shape=(n, n)
                )
                out = _spectral_init(g, dim, rng)
            else:
                logger.info("UMAP: %d points > %d; using the PCA initialisation instead of spectral", n, SPECTRAL_MAX_N)
        if out is None:
            out = _pca_init(Xt, dim)
        return torch.from_numpy(_scale_init(out, rng)).to(device).contiguous()

    def fit_transform(self, X: Any, knn: Any = None, y: Any = None) -> Any:
        """Fit and return the embedding, as the input's kind (NumPy, torch or CuPy)."""
        return self.fit(X, knn=knn, y=y).embedding_

    # ----------------------------------------------------------------- transform
    def transform(self, X: Any) -> Any:
        """Embed new points into the fitted space (the training embedding stays fixed)."""
        if not hasattr(self, "_embedding_t"):
            raise NotFittedError("This UMAP instance is not fitted yet: call fit first")
        if not hasattr(X, "shape") or len(X.shape) != 2 or X.shape[1] != self.n_features_in_:
            raise InputError(f"X must be 2-D with {self.n_features_in_} features")
        out = output_like(X, keep_torch=True)
        device = self._device
        Q = as_tensor(X, device)
        m = Q.shape[0]
        k = int(self.n_neighbors)
        dist, idx = _knn(self._raw_data, k, self.metric, queries=Q)
        sigma, rho = _smooth_knn_dist(dist, k, max(0.0, float(self.local_connectivity) - 1.0))
        w = _memberships(dist, sigma, rho)  # [m, k]
        train = self._embedding_t
        wn = w / w.sum(1, keepdim=True).clamp(min=1e-12)
        emb = (wn[:, :, None] * train[idx]).sum(1).contiguous()

        if self.n_epochs is None:
            n_epochs = 100 if m <= 10000 else 30
        else:
            n_epochs = int(self.n_epochs // 3)
        rows = torch.arange(m, device=device).repeat_interleave(k)
        cols = idx.reshape(-1)
        wf = w.reshape(-1)
        if n_epochs > 0:
            keep = wf >= wf.max() / float(n_epochs)
            rows, cols, wf = rows[keep], cols[keep], wf[keep]
            rng, seed = self._seeds()
            gen = self._generator(device, seed)
            _optimize_layout(
                emb, train, rows, cols, _epochs_per_sample(wf), n_epochs, self._a, self._b,
                float(self.repulsion_strength), float(self.learning_rate) / 4.0,
                int(self.negative_sample_rate), False, gen, bool(self.verbose),
            )
        return out.array(emb)
