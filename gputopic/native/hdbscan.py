"""HDBSCAN whose heavy part (kNN, core distances, minimum spanning tree) runs in torch.

What is implemented
-------------------
:class:`HDBSCAN` follows the parameters, defaults and semantics of the ``hdbscan``
library (``min_cluster_size``, ``min_samples``, ``metric``, ``cluster_selection_method``
"eom"/"leaf", ``cluster_selection_epsilon``, ``allow_single_cluster``,
``prediction_data``) and :meth:`HDBSCAN.approximate_predict` mirrors
``hdbscan.approximate_predict``.

1. Core distances as hdbscan computes them: for the tree, the distance to the
   ``min_samples + 1``-th nearest neighbour with the point itself counted as the first
   (hdbscan's Boruvka and Prim code query ``k = min_samples + 1``), and for the
   prediction data the ``min_samples``-th one (as hdbscan's ``PredictionData``), from the
   exact tiled kNN of
   :func:`gputopic.native.knn.knn`. The neighbour distances are then recomputed from
   coordinate differences (no ``|a|^2+|b|^2-2ab`` cancellation).
2. Exact minimum spanning tree of the mutual reachability graph
   ``max(core_a, core_b, d(a, b))`` by Boruvka rounds on the device. In each round every
   point's cheapest edge to another component is taken from the symmetric kNN graph
   (``scatter_reduce``); a pair that is not a kNN edge weighs at least
   ``max(d_k(a), d_k(b))`` (``d_k``: distance to the last graph neighbour), so where that
   bound is not above a component's candidate edge, the component's points that could
   still beat it are searched exactly against all other points by tiled brute-force
   distances (on CUDA with Triton: a fused kernel, :mod:`._triton_mrd`, that keeps a running
   minimum instead of writing distance tiles). The chosen edges of all components are
   merged with a small host union-find (sorted by weight), which keeps the tree exact with
   tied weights too.
   ``knn="approx"`` (and ``"auto"`` from :data:`gputopic.native.neighbors.AUTO_MIN` points) on
   euclidean data of at most 8 dimensions replaces both brute-force searches by the k-d
   tree of :mod:`gputopic.native.ann`: exact neighbours (so the same core distances), and
   a joining-edge search that compares only the point / leaf pairs whose boxes are nearer
   than the point's threshold and whose leaf holds another component (the same tree, up to
   ties); a component with no kNN edge leaving it first gets a finite bound from one
   member's exact nearest foreign point. Other data: the inverted file (approximate;
   ``"auto"`` refuses it below recall 0.95). ``knn_method_`` says which ran.
3. Single-linkage tree, condensed tree, stabilities, EOM / leaf selection with
   ``allow_single_cluster`` and ``cluster_selection_epsilon``, labels and probabilities on
   the host with numba (pure-Python loops when numba is missing: correct but slow).

Differences from hdbscan
------------------------
* Cluster numbering may differ (clusters are numbered in the order of their condensed
  tree ids, which are assigned top-down but not in hdbscan's breadth-first order); with
  tied edge weights a different (equally minimal) spanning tree can be chosen.
* Only ``metric="euclidean"`` and ``"cosine"`` (``1 - cos``); no ``max_cluster_size``,
  ``cluster_selection_epsilon_max``, ``alpha``, outlier scores, exemplars or soft
  clustering. ``match_reference_implementation`` is not offered.
* Distances are float32 (hdbscan uses float64), so near-ties can resolve differently.
* With ``cluster_selection_epsilon`` hdbscan's epsilon search can, depending on set
  iteration order, keep a cluster together with one of its ancestors; here a selected
  cluster below another selected cluster is always dropped.
* ``probabilities_`` and ``approximate_predict`` strengths follow hdbscan's definitions
  (lambda of the point, capped at, and divided by, the largest lambda among the direct
  children of its selected cluster).
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

import numpy as np

import torch

from .._params import ParamsMixin
from ..device import array_kind, as_tensor, output_like
from ..exceptions import InputError, NotFittedError
from .ann import KD_LEAF_SIZE, kd_applicable, kd_leaves, knn_kdtree
from .neighbors import AUTO_MIN, KD_MAX_DIM, check_mode, self_knn
from .knn import knn

logger = logging.getLogger("gputopic")

try:  # numba is optional: the host tree code falls back to plain Python loops
    from numba import njit
except ImportError:  # pragma: no cover - exercised only without numba
    def njit(*args, **kwargs):
        if args and callable(args[0]):
            return args[0]
        return lambda f: f

__all__ = ["HDBSCAN"]

_METRICS = ("euclidean", "cosine")
_METHODS = ("eom", "leaf")
_DEVICES = ("auto", "cpu", "cuda")
_GRAPH_K = 16  # kNN graph size used by the Boruvka rounds (at least min_samples)
_DBL_MAX = np.finfo(np.double).max

CONDENSED_TREE_DTYPE = np.dtype(
    [("parent", np.intp), ("child", np.intp), ("lambda_val", np.float64), ("child_size", np.intp)]
)


# ----------------------------------------------------------------------------- input/output


def _as_tensor(X: Any) -> torch.Tensor:
    t = as_tensor(X)
    if array_kind(X) == "numpy":
        t = t.float()
    if t.ndim != 2:
        raise InputError(f"X must be 2-D (n_samples, n_features), got shape {tuple(t.shape)}")
    if not (t.is_floating_point() or t.dtype in (torch.int32, torch.int64)):
        raise InputError(f"X must be numeric, got dtype {t.dtype}")
    return t


# ----------------------------------------------------------------------------- distances


def _prep(X: torch.Tensor, metric: str):
    """Prepared float32 data and the shift applied to it (queries get the same one)."""
    X = X.float()
    if metric == "cosine":
        return torch.nn.functional.normalize(X, dim=1), None
    shift = X.mean(0, keepdim=True)  # centring reduces the GEMM cancellation error
    return X - shift, shift


def _pair_dist(Xp: torch.Tensor, a: torch.Tensor, b: torch.Tensor, metric: str) -> torch.Tensor:
    """Distances between rows ``a`` and ``b`` of the prepared data, from differences."""
    if metric == "cosine":
        return (1.0 - (Xp[a] * Xp[b]).sum(-1)).clamp_(min=0.0)
    return (Xp[a] - Xp[b]).norm(dim=-1)


def _refine_knn(Xp, Qp, idx, metric, chunk=1 << 18):
    """Recompute kNN distances from coordinates and re-sort each row."""
    d_out = torch.empty(idx.shape, dtype=torch.float32, device=idx.device)
    i_out = torch.empty_like(idx)
    for s in range(0, idx.shape[0], chunk):
        ii = idx[s : s + chunk]
        q = Qp[s : s + chunk, None, :]
        r = Xp[ii]
        if metric == "cosine":
            d = (1.0 - (q * r).sum(-1)).clamp_(min=0.0)
        else:
            d = (q - r).norm(dim=-1)
        d, order = d.sort(dim=1, stable=True)
        d_out[s : s + chunk] = d
        i_out[s : s + chunk] = ii.gather(1, order)
    return d_out, i_out


_TRITON_STATE = {"failed": False}  # set once the Triton kernel failed (then: torch path)


def _triton_wanted(Xp: torch.Tensor) -> bool:
    """Whether to try the fused Triton kernel for these data: CUDA tensors, unless
    ``GPUTOPIC_TRITON_MST=0`` is set (bench/gpu_check.sh compares the two paths' trees and
    times on a card; bench/RESULTS.md has the figures)."""
    return Xp.is_cuda and os.environ.get("GPUTOPIC_TRITON_MST", "1") != "0"


def _brute_best_torch(Xp, core, comp, lb, q_idx, q_thresh, metric, budget):
    """Torch path of :func:`_brute_best` (tiled, materialised query x reference tiles).

    Distances are accumulated coordinate by coordinate from 0 (the order the Triton kernel
    uses), so both paths give bit-identical weights."""
    dev = Xp.device
    order = torch.argsort(q_thresh, stable=True)
    q_idx, q_thresh = q_idx[order], q_thresh[order]
    m = q_idx.shape[0]
    best_w = torch.full((m,), float("inf"), device=dev)
    best_t = torch.full((m,), -1, dtype=torch.int64, device=dev)
    start = 0
    while start < m:
        thr = q_thresh[min(m - 1, start + 1023)]  # a first guess of this tile's threshold
        ref = (lb < thr).nonzero().squeeze(1)
        stop = start + max(1, min(m - start, budget // max(1, 16 * ref.shape[0])))
        t_max = q_thresh[stop - 1]
        if t_max > thr:  # the tile's threshold is larger: widen the references, shrink the tile
            ref = (lb < t_max).nonzero().squeeze(1)
            stop = min(stop, start + max(1, budget // max(1, 16 * ref.shape[0])))
        qi = q_idx[start:stop]
        if ref.numel():
            Q, R = Xp[qi], Xp[ref]
            d = torch.zeros((qi.shape[0], ref.shape[0]), device=dev)
            for k in range(Xp.shape[1]):
                if metric == "cosine":
                    d.add_(Q[:, k, None] * R[None, :, k])
                else:
                    t = Q[:, k, None] - R[None, :, k]
                    d.add_(t.mul_(t))
                    del t
            if metric == "cosine":
                d.neg_().add_(1.0).clamp_(min=0.0)  # 1 - dot, as the kernel
            else:
                d.sqrt_()
            d = torch.maximum(d, core[qi][:, None], out=d)
            d = torch.maximum(d, core[ref][None, :], out=d)
            # another component, and lb below this query's own threshold (the tile's
            # reference set is a superset), so the result does not depend on the tiling
            bad = comp[qi][:, None] == comp[ref][None, :]
            bad |= lb[ref][None, :] >= q_thresh[start:stop, None]
            d.masked_fill_(bad, float("inf"))
            del bad
            j = torch.argmin(d, 1)  # first minimum: the smallest reference index (ref is sorted)
            w = d.gather(1, j[:, None]).squeeze(1)
            best_w[start:stop] = w
            best_t[start:stop] = torch.where(torch.isfinite(w), ref[j], -1)
            del d
        start = stop
    inv = torch.empty_like(order)
    inv[order] = torch.arange(m, device=dev)
    return best_w[inv], best_t[inv]


def _brute_best(Xp, core, comp, lb, q_idx, q_thresh, metric, budget):
    """Exact cheapest mutual-reachability edge from each query point to another component.

    A pair that is not a kNN edge weighs at least ``lb`` of both ends, so only references
    with ``lb < threshold`` (the query's own threshold) can give a non-kNN edge lighter than
    it; the others are skipped. Ties go to the smallest reference index. Returns (weights,
    targets) for ``q_idx`` (inf and -1 where no reference qualifies).

    On CUDA with Triton available (and up to 16 dimensions) a fused kernel
    (:mod:`._triton_mrd`) computes the same thing without materialising distance tiles; if
    it fails to compile or launch, a warning is logged once and the torch path is used.
    """
    if not _TRITON_STATE["failed"] and _triton_wanted(Xp):
        try:
            from . import _triton_mrd
        except Exception:  # triton missing or broken: torch path, silently
            _TRITON_STATE["failed"] = True
        else:
            if _triton_mrd.supported(Xp):
                try:
                    return _triton_mrd.brute_best(Xp, core, comp, lb, q_idx, q_thresh, metric)
                except Exception as exc:  # compile/launch failure: fall back, warn once
                    _TRITON_STATE["failed"] = True
                    logger.warning("HDBSCAN: Triton brute-force kernel unavailable (%s: %s); "
                                   "using the torch path", type(exc).__name__, exc)
    return _brute_best_torch(Xp, core, comp, lb, q_idx, q_thresh, metric, budget)


def _tree_upper_bound(Xp, core, comp, need, thresh, n_comp):
    """A finite upper bound of each component's cheapest outgoing edge where the kNN graph
    gave none: the exact nearest point of another component to one member (the first
    point needing a search), as a mutual reachability weight."""
    dev = Xp.device
    inf_c = torch.isinf(thresh)
    if not bool(inf_c.any()):
        return thresh
    cq = comp[need[inf_c]]
    rep = torch.full((n_comp,), Xp.shape[0], dtype=torch.int64, device=dev)
    rep.scatter_reduce_(0, cq, need[inf_c], "amin")
    reps = rep[rep < Xp.shape[0]]
    ub = torch.full((n_comp,), float("inf"), device=dev)
    for s in range(0, reps.shape[0], 256):
        r = reps[s : s + 256]
        d = torch.cdist(Xp[r], Xp)  # (<=256, n): one row per disconnected component
        d = torch.maximum(torch.maximum(d, core[r][:, None]), core[None, :])
        d.masked_fill_(comp[r][:, None] == comp[None, :], float("inf"))
        ub[comp[r]] = d.amin(1)
    # a little slack: the final comparison is strict and cdist rounds differently
    return torch.where(inf_c, ub[comp[need]] * (1 + 1e-5) + 1e-12, thresh)


def _brute_best_tree(Xp, core, comp, lb, q_idx, q_thresh, leaves, boxes):
    """:func:`_brute_best` with the k-d tree leaves of :mod:`.ann`: only (point, leaf) pairs
    whose box is nearer than the point's threshold, and whose leaf is not entirely of the
    point's component nor entirely at ``lb >= threshold``, are compared."""
    from .ann import leaf_pairs, point_box_pairs

    n = Xp.shape[0]
    dev = Xp.device
    members = leaves.members
    L = leaves.n_leaves
    levels = L.bit_length() - 1
    thr = torch.full((n + 1,), -1.0, device=dev)
    thr[q_idx] = q_thresh
    thr_leaf = thr[members].amax(1)
    bound2 = torch.where(thr_leaf > 0, thr_leaf * thr_leaf, -1.0)
    # per node of every level: component range and smallest lb (for pruning)
    big = torch.iinfo(torch.int64).max
    ce = torch.cat([comp, comp.new_full((1,), -1)])
    cmin = torch.where(members < n, ce[members], big).amin(1)
    cmax = ce[members].amax(1)
    le = torch.cat([lb, lb.new_full((1,), float("inf"))])
    lmin = le[members].amin(1)
    cmins, cmaxs, lmins = [cmin], [cmax], [lmin]
    for _ in range(levels):
        cmins.append(torch.minimum(cmins[-1][0::2], cmins[-1][1::2]))
        cmaxs.append(torch.maximum(cmaxs[-1][0::2], cmaxs[-1][1::2]))
        lmins.append(torch.minimum(lmins[-1][0::2], lmins[-1][1::2]))
    cmins, cmaxs, lmins = cmins[::-1], cmaxs[::-1], lmins[::-1]
    tmax = [thr_leaf]
    for _ in range(levels):
        tmax.append(torch.maximum(tmax[-1][0::2], tmax[-1][1::2]))
    tmax = tmax[::-1]

    def ok(lev, a, b):
        same = (cmins[lev][a] == cmaxs[lev][a]) & (cmins[lev][b] == cmaxs[lev][b]) & (cmins[lev][a] == cmins[lev][b])
        return ~same & (lmins[lev][b] < tmax[lev][a])

    a, b = leaf_pairs(leaves, boxes, bound2, pair_ok=ok)
    best_w = torch.full((n,), float("inf"), device=dev)
    best_t = torch.full((n,), n, dtype=torch.int64, device=dev)
    got_q, got_w, got_t = [], [], []
    step = 1 << 16
    for s in range(0, a.shape[0], step):
        qi, bl = point_box_pairs(Xp, leaves, a[s : s + step], b[s : s + step], torch.where(thr[:n] > 0, thr[:n] ** 2, -1.0))
        if qi.numel() == 0:
            continue
        refs = members[bl]  # (K, P)
        rv = refs < n
        rr = torch.where(rv, refs, 0)
        d = (Xp[qi][:, None, :] - Xp[rr]).norm(dim=-1)
        w = torch.maximum(torch.maximum(d, core[qi][:, None]), core[rr])
        bad = ~rv | (comp[rr] == comp[qi][:, None]) | (lb[rr] >= thr[qi][:, None])
        w.masked_fill_(bad, float("inf"))
        wm = w.amin(1)
        keep = torch.isfinite(wm)
        # ties: the smallest target index (as the brute-force path)
        tj = torch.where(w == wm[:, None], rr, n).amin(1)
        got_q.append(qi[keep])
        got_w.append(wm[keep])
        got_t.append(tj[keep])
    if got_q:
        gq, gw, gt = torch.cat(got_q), torch.cat(got_w), torch.cat(got_t)
        best_w.scatter_reduce_(0, gq, gw, "amin")
        # ties: the smallest target index among the minima
        hit = gw == best_w[gq]
        best_t.scatter_reduce_(0, gq[hit], gt[hit], "amin")
    w_q = best_w[q_idx]
    t_q = best_t[q_idx]
    ok_t = torch.isfinite(w_q) & (t_q < n)
    return torch.where(ok_t, w_q, float("inf")), torch.where(ok_t, t_q, -1)


@njit(cache=True)
def _uf_find(parent, x):
    root = x
    while parent[root] != root:
        root = parent[root]
    while parent[x] != root:
        nxt = parent[x]
        parent[x] = root
        x = nxt
    return root


@njit(cache=True)
def _merge_components(ca, cb, n_comp):
    """Union-find over component ids for edges (already sorted by weight).

    Returns (accepted edge mask, new compact component id per old component, count)."""
    parent = np.arange(n_comp)
    keep = np.zeros(ca.shape[0], dtype=np.bool_)
    for i in range(ca.shape[0]):
        ra = _uf_find(parent, ca[i])
        rb = _uf_find(parent, cb[i])
        if ra != rb:
            parent[ra] = rb
            keep[i] = True
    new = np.full(n_comp, -1, dtype=np.int64)
    mapping = np.empty(n_comp, dtype=np.int64)
    count = 0
    for c in range(n_comp):
        r = _uf_find(parent, c)
        if new[r] < 0:
            new[r] = count
            count += 1
        mapping[c] = new[r]
    return keep, mapping, count


def _mst(Xp, core, nd, ni, metric, budget, verbose=False, leaves=None):
    """Exact MST of the mutual reachability graph: (a, b, w) host arrays of n-1 edges.

    With ``leaves`` (k-d tree leaves of ``Xp``, :func:`.ann.kd_leaves`) the exact search
    for edges outside the kNN graph compares only point / leaf pairs that the boxes cannot
    rule out (:func:`_brute_best_tree`); a component without any kNN edge leaving it first
    gets an upper bound from one member's exact nearest foreign point."""
    n = Xp.shape[0]
    dev = Xp.device
    kg = ni.shape[1]
    if n == 1:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float64)
    ar = torch.arange(n, device=dev)
    src = ar.repeat_interleave(kg - 1)
    dst = ni[:, 1:].reshape(-1)
    w = torch.maximum(nd[:, 1:].reshape(-1), torch.maximum(core[src], core[dst]))
    src, dst = torch.cat([src, dst]), torch.cat([dst, src])
    w = torch.cat([w, w])
    # a pair that is not a kNN-graph edge weighs at least max(lb_a, lb_b)
    lb = torch.maximum(nd[:, -1], core) if kg < n else torch.full((n,), float("inf"), device=dev)
    comp = ar.clone()
    n_comp = n
    out_a, out_b = [], []
    if leaves is not None:
        from .ann import tree_levels

        boxes = tree_levels(leaves)
    rnd = 0
    while n_comp > 1:
        rnd += 1
        cross = comp[src] != comp[dst]
        src, dst, w = src[cross], dst[cross], w[cross]
        bw = torch.full((n,), float("inf"), device=dev).scatter_reduce_(0, src, w, "amin")
        bt = torch.full((n,), -1, dtype=torch.int64, device=dev)
        hit = w == bw[src]
        bt[src[hit]] = dst[hit]
        wc = torch.full((n_comp,), float("inf"), device=dev).scatter_reduce_(0, comp, bw, "amin")
        need = (lb < wc[comp]).nonzero().squeeze(1)
        n_bf = int(need.numel())
        if n_bf and leaves is not None:
            thr = _tree_upper_bound(Xp, core, comp, need, wc[comp[need]], n_comp)
            bfw, bft = _brute_best_tree(Xp, core, comp, lb, need, thr, leaves, boxes)
        elif n_bf:
            bfw, bft = _brute_best(Xp, core, comp, lb, need, wc[comp[need]], metric, budget)
        if n_bf:
            better = bfw < bw[need]
            upd = need[better]
            bw[upd] = bfw[better]
            bt[upd] = bft[better]
            wc = torch.full((n_comp,), float("inf"), device=dev).scatter_reduce_(0, comp, bw, "amin")
        ok = torch.isfinite(bw) & (bw == wc[comp])
        rep = torch.full((n_comp,), n, dtype=torch.int64, device=dev)
        rep.scatter_reduce_(0, comp[ok], ar[ok], "amin")
        if bool((rep >= n).any()):  # pragma: no cover - cannot happen with >1 component
            raise RuntimeError("HDBSCAN: a component found no outgoing edge")
        ea, eb = rep, bt[rep]
        ew = wc
        order = torch.argsort(ew, stable=True)
        ea, eb, ew = ea[order], eb[order], ew[order]
        ca, cb = comp[ea], comp[eb]
        keep, mapping, n_new = _merge_components(ca.cpu().numpy(), cb.cpu().numpy(), n_comp)
        keep_t = torch.from_numpy(keep).to(dev)
        out_a.append(ea[keep_t])
        out_b.append(eb[keep_t])
        comp = torch.from_numpy(mapping).to(dev)[comp]
        if verbose:
            logger.info("HDBSCAN Boruvka round %d: %d -> %d components (%d points brute-forced)",
                        rnd, n_comp, n_new, n_bf)
        n_comp = n_new
    a = torch.cat(out_a)
    b = torch.cat(out_b)
    # final weights from coordinate differences (exact up to float32)
    wt = torch.maximum(_pair_dist(Xp, a, b, metric), torch.maximum(core[a], core[b]))
    return a.cpu().numpy(), b.cpu().numpy(), wt.double().cpu().numpy()


# ----------------------------------------------------------------------------- host trees


@njit(cache=True)
def _single_linkage(a, b, w, n):
    """scipy-style linkage (left, right, distance, size) of MST edges sorted by weight."""
    parent = np.arange(2 * n - 1)
    size = np.ones(2 * n - 1, dtype=np.int64)
    left = np.empty(n - 1, dtype=np.int64)
    right = np.empty(n - 1, dtype=np.int64)
    for i in range(n - 1):
        ra = _uf_find(parent, a[i])
        rb = _uf_find(parent, b[i])
        left[i] = ra
        right[i] = rb
        node = n + i
        parent[ra] = node
        parent[rb] = node
        size[node] = size[ra] + size[rb]
    return left, right, size


@njit(cache=True)
def _condense(left, right, dist, size, n, mcs):
    """Condensed tree rows (parent, child, lambda, child_size); root cluster id is n."""
    n_nodes = 2 * n - 1
    clus = np.full(n_nodes, -1, dtype=np.int64)
    fclus = np.full(n_nodes, -1, dtype=np.int64)
    flam = np.zeros(n_nodes, dtype=np.float64)
    cap = n + 2 * (n // max(mcs, 1)) + 4
    p_out = np.empty(cap, dtype=np.int64)
    c_out = np.empty(cap, dtype=np.int64)
    l_out = np.empty(cap, dtype=np.float64)
    s_out = np.empty(cap, dtype=np.int64)
    k = 0
    nxt = n + 1
    if n == 1:
        p_out[0] = n
        c_out[0] = 0
        l_out[0] = np.inf
        s_out[0] = 1
        return p_out[:1], c_out[:1], l_out[:1], s_out[:1]
    clus[n_nodes - 1] = n
    for i in range(n - 2, -1, -1):
        node = n + i
        l = left[i]
        r = right[i]
        if fclus[node] >= 0:
            fclus[l] = fclus[node]
            flam[l] = flam[node]
            fclus[r] = fclus[node]
            flam[r] = flam[node]
            continue
        c = clus[node]
        lam = 1.0 / dist[i] if dist[i] > 0.0 else np.inf
        ls = size[l]
        rs = size[r]
        if ls >= mcs and rs >= mcs:
            clus[l] = nxt
            p_out[k] = c
            c_out[k] = nxt
            l_out[k] = lam
            s_out[k] = ls
            k += 1
            nxt += 1
            clus[r] = nxt
            p_out[k] = c
            c_out[k] = nxt
            l_out[k] = lam
            s_out[k] = rs
            k += 1
            nxt += 1
        else:
            if ls < mcs:
                fclus[l] = c
                flam[l] = lam
            else:
                clus[l] = c
            if rs < mcs:
                fclus[r] = c
                flam[r] = lam
            else:
                clus[r] = c
    for j in range(n):
        p_out[k] = fclus[j]
        c_out[k] = j
        l_out[k] = flam[j]
        s_out[k] = 1
        k += 1
    return p_out[:k], c_out[:k], l_out[:k], s_out[:k]


@njit(cache=True)
def _select(parent, child, lam, csize, n, m, eom, allow_single, eps):
    """Stabilities and the selected clusters (bool over cluster ids n..n+m-1)."""
    birth = np.zeros(m, dtype=np.float64)
    cpar = np.full(m, -1, dtype=np.int64)
    n_children = np.zeros(m, dtype=np.int64)
    deaths = np.zeros(m, dtype=np.float64)
    for r in range(parent.shape[0]):
        p = parent[r] - n
        if lam[r] > deaths[p]:
            deaths[p] = lam[r]
        if csize[r] > 1:
            c = child[r] - n
            birth[c] = lam[r]
            cpar[c] = p
            n_children[p] += 1
    stab = np.zeros(m, dtype=np.float64)
    for r in range(parent.shape[0]):
        p = parent[r] - n
        stab[p] += (lam[r] - birth[p]) * csize[r]
    sel = np.zeros(m, dtype=np.bool_)
    if eom:
        keep = np.zeros(m, dtype=np.bool_)
        child_sum = np.zeros(m, dtype=np.float64)
        lo = 0 if allow_single else 1
        for c in range(m - 1, lo - 1, -1):
            sub = child_sum[c]
            if sub > stab[c]:
                stab[c] = sub
            else:
                keep[c] = True
            if c > 0:
                child_sum[cpar[c]] += stab[c]
        # a kept node is selected unless an ancestor is kept (ids grow downwards)
        anc = np.zeros(m, dtype=np.bool_)
        for c in range(m):
            if c > 0:
                anc[c] = anc[cpar[c]] or keep[cpar[c]]
            sel[c] = keep[c] and not anc[c]
        if eps != 0.0 and m > 1:
            only_root = sel[0]
            for c in range(1, m):
                if sel[c]:
                    only_root = False
            if only_root:
                if not allow_single:
                    sel[0] = False
            else:
                sel = _epsilon_search(sel, birth, cpar, m, eps, allow_single)
    else:
        for c in range(1, m):
            if n_children[c] == 0:
                sel[c] = True
        if eps != 0.0 and m > 1:
            sel = _epsilon_search(sel, birth, cpar, m, eps, allow_single)
    return sel, stab, deaths, birth, cpar


@njit(cache=True)
def _epsilon_search(leaves, birth, cpar, m, eps, allow_single):
    sel = np.zeros(m, dtype=np.bool_)
    for c in range(m):
        if not leaves[c]:
            continue
        if c == 0 or 1.0 / birth[c] >= eps:
            sel[c] = True
            continue
        node = c
        while True:
            p = cpar[node]
            if p == 0:
                sel[0 if allow_single else node] = True
                break
            if 1.0 / birth[p] > eps:
                sel[p] = True
                break
            node = p
    anc = np.zeros(m, dtype=np.bool_)
    for c in range(1, m):
        anc[c] = anc[cpar[c]] or sel[cpar[c]]
    for c in range(1, m):
        if anc[c]:
            sel[c] = False
    return sel


@njit(cache=True)
def _label(parent, child, lam, csize, n, m, sel, cpar, deaths, allow_single, eps):
    """Labels, probabilities, per-cluster label map and max-lambda map (for prediction)."""
    cmap = np.full(m, -1, dtype=np.int64)
    k = 0
    for c in range(m):
        if sel[c]:
            cmap[c] = k
            k += 1
    # label / max lambda of every cluster through its selected ancestor
    clab = np.full(m, -1, dtype=np.int64)
    cdeath = np.zeros(m, dtype=np.float64)
    for c in range(m):
        if sel[c]:
            clab[c] = cmap[c]
            cdeath[c] = deaths[c]
        elif c > 0:
            clab[c] = clab[cpar[c]]
            cdeath[c] = cdeath[cpar[c]]
    labels = np.full(n, -1, dtype=np.int64)
    probs = np.zeros(n, dtype=np.float64)
    plam = np.zeros(n, dtype=np.float64)
    ppar = np.zeros(n, dtype=np.int64)
    for r in range(parent.shape[0]):
        if csize[r] != 1 or child[r] >= n:
            continue
        j = child[r]
        p = parent[r] - n
        plam[j] = lam[r]
        ppar[j] = p
        lab = clab[p]
        if lab < 0:
            continue
        if sel[0]:
            # the root is selected only with allow_single_cluster: hdbscan keeps the points
            # whose lambda reaches 1/epsilon, or the largest lambda among the root's children
            if eps != 0.0:
                if lam[r] < 1.0 / eps:
                    continue
            elif lam[r] < deaths[0]:
                continue
        labels[j] = lab
        d = cdeath[p]
        if d == 0.0 or not np.isfinite(lam[r]):
            probs[j] = 1.0
        else:
            probs[j] = min(lam[r], d) / d
    return labels, probs, clab, cdeath, plam, ppar, k


@njit(cache=True)
def _predict(nn, lam_new, plam, ppar, birth, cpar, clab, cdeath):
    q = nn.shape[0]
    labels = np.full(q, -1, dtype=np.int64)
    probs = np.zeros(q, dtype=np.float64)
    for i in range(q):
        j = nn[i]
        c = ppar[j]
        lm = lam_new[i]
        if plam[j] > lm:
            while c > 0 and birth[c] >= lm:
                c = cpar[c]
        lab = clab[c]
        if lab >= 0:
            labels[i] = lab
            d = cdeath[c]
            probs[i] = min(d, lm) / d if d > 0.0 else 1.0
    return labels, probs


# ----------------------------------------------------------------------------- estimator


class HDBSCAN(ParamsMixin):
    """HDBSCAN clustering with hdbscan's parameters; kNN and MST in torch (CPU or CUDA).

    Fitted attributes: ``labels_`` (-1 is noise), ``probabilities_`` (same kind as the
    input: NumPy, torch on the input's device, or CuPy), ``n_clusters_``,
    ``condensed_tree_`` (NumPy structured array with fields parent, child, lambda_val,
    child_size; the root cluster is ``n_samples``), ``cluster_persistence_`` (stability of
    each selected cluster, NumPy) and ``core_distances_`` (NumPy).
    """

    _gputopic_device_arrays = True  # takes CuPy / CUDA torch input as is (see gputopic.reduce)

    def __init__(
        self,
        min_cluster_size=5,
        min_samples=None,
        metric="euclidean",
        cluster_selection_method="eom",
        cluster_selection_epsilon=0.0,
        allow_single_cluster=False,
        prediction_data=False,
        device="auto",
        verbose=False,
        knn="auto",
    ):
        self.min_cluster_size = min_cluster_size
        self.min_samples = min_samples
        self.metric = metric
        self.cluster_selection_method = cluster_selection_method
        self.cluster_selection_epsilon = cluster_selection_epsilon
        self.allow_single_cluster = allow_single_cluster
        self.prediction_data = prediction_data
        self.device = device
        self.verbose = verbose
        self.knn = knn

    def _validate(self):
        mcs = self.min_cluster_size
        if isinstance(mcs, bool) or not isinstance(mcs, (int, np.integer)) or mcs < 2:
            raise InputError(f"min_cluster_size must be an integer >= 2, got {mcs!r}")
        ms = self.min_samples
        if ms is not None and (isinstance(ms, bool) or not isinstance(ms, (int, np.integer)) or ms < 1):
            raise InputError(f"min_samples must be None or an integer >= 1, got {ms!r}")
        if self.metric not in _METRICS:
            raise InputError(f"metric must be one of {_METRICS}, got {self.metric!r}")
        if self.cluster_selection_method not in _METHODS:
            raise InputError(
                f"cluster_selection_method must be one of {_METHODS}, got {self.cluster_selection_method!r}"
            )
        eps = self.cluster_selection_epsilon
        if not isinstance(eps, (int, float, np.floating, np.integer)) or eps < 0:
            raise InputError(f"cluster_selection_epsilon must be a float >= 0, got {eps!r}")
        if self.device not in _DEVICES:
            raise InputError(f"device must be one of {_DEVICES}, got {self.device!r}")
        check_mode(self.knn)
        return int(mcs), int(ms) if ms is not None else int(mcs)

    def _compute_device(self, X: torch.Tensor) -> torch.device:
        if self.device == "cpu":
            return torch.device("cpu")
        if self.device == "cuda":
            if not torch.cuda.is_available():
                raise InputError("device='cuda' was requested but torch sees no CUDA GPU")
            return X.device if X.is_cuda else torch.device("cuda")
        if X.is_cuda:
            return X.device
        return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")

    def fit(self, X, y=None):
        mcs, ms = self._validate()
        out = output_like(X, keep_torch=True)  # torch in, torch out (on its device); CuPy in, CuPy out
        Xt = _as_tensor(X)
        n = Xt.shape[0]
        if n < 1:
            raise InputError("X has no rows")
        if not bool(torch.isfinite(Xt).all()):
            raise InputError("X contains NaN or infinity")
        dev = self._compute_device(Xt)
        t0 = time.perf_counter()
        Xp, shift = _prep(Xt.to(dev), self.metric)
        budget = (1 << 30) if dev.type == "cuda" else (1 << 27)
        # hdbscan's tree uses the (min_samples + 1)-th neighbour, self included (min_samples
        # clamped to n - 1); its prediction data uses the min_samples-th one
        ms_tree = max(1, min(n - 1, ms))
        ms_eff = min(ms, n)
        kg = min(n, max(ms_tree + 1, _GRAPH_K))
        leaves = None
        mode = self.knn
        if mode == "auto" and n < AUTO_MIN.get(dev.type, AUTO_MIN["cuda"]):
            mode = "exact"
        if mode != "exact" and self.metric == "euclidean" and Xp.shape[1] <= KD_MAX_DIM \
                and kd_applicable(n, kg):
            # k-d tree: exact neighbours, and boxes that bound the MST's joining-edge search
            leaves = kd_leaves(Xp, KD_LEAF_SIZE)
            _, ni = knn_kdtree(Xp, kg, leaves=leaves, memory_budget=budget)
            self.knn_method_ = "kdtree"
        elif mode != "exact":
            _, ni, info = self_knn(Xp, kg, self.metric, mode, who="HDBSCAN")
            self.knn_method_ = info["method"]
        else:
            _, ni = knn(Xp, kg, self.metric, memory_budget=budget)
            self.knn_method_ = "exact"
        nd, ni = _refine_knn(Xp, Xp, ni, self.metric)
        core = nd[:, min(ms_tree, kg - 1)].contiguous()
        pred_core = nd[:, ms_eff - 1].contiguous()
        t1 = time.perf_counter()
        a, b, w = _mst(Xp, core, nd, ni, self.metric, budget, self.verbose, leaves=leaves)
        t2 = time.perf_counter()
        order = np.argsort(w, kind="stable")
        self._mst_ = (a[order], b[order], w[order])
        self._fit_tree(n, mcs)
        t3 = time.perf_counter()
        if self.verbose:
            logger.info("HDBSCAN on %d points (%s): kNN %.2fs, MST %.2fs, tree %.2fs; %d clusters",
                        n, dev, t1 - t0, t2 - t1, t3 - t2, self.n_clusters_)
        self.core_distances_ = core.cpu().numpy()
        self._min_samples_eff = ms_eff
        if self.prediction_data:
            self._X_fit = Xp
            self._core_t = pred_core
            self._shift = shift
        else:
            self._X_fit = None
            self._core_t = None
        self.labels_ = out.array(self._labels_np)
        self.probabilities_ = out.array(self._probs_np)
        self.n_features_in_ = Xt.shape[1]
        return self

    def _fit_tree(self, n, mcs):
        a, b, w = self._mst_
        if n == 1:
            left = right = np.zeros(0, np.int64)
            size = np.ones(1, np.int64)
        else:
            left, right, size = _single_linkage(a.astype(np.int64), b.astype(np.int64), w, n)
        self.single_linkage_tree_ = (left, right, w, size[n:] if n > 1 else size[:0])
        p, c, lam, cs = _condense(left, right, w, size, n, mcs)
        tree = np.empty(p.shape[0], dtype=CONDENSED_TREE_DTYPE)
        tree["parent"], tree["child"], tree["lambda_val"], tree["child_size"] = p, c, lam, cs
        self.condensed_tree_ = tree
        m = int(c[cs > 1].max() - n + 1) if np.any(cs > 1) else 1
        eps = float(self.cluster_selection_epsilon)
        allow = bool(self.allow_single_cluster)
        sel, stab, deaths, birth, cpar = _select(
            p, c, lam, cs, n, m, self.cluster_selection_method == "eom", allow, eps
        )
        labels, probs, clab, cdeath, plam, ppar, k = _label(
            p, c, lam, cs, n, m, sel, cpar, deaths, allow, eps
        )
        self._labels_np = labels
        self._probs_np = probs
        self.n_clusters_ = int(k)
        self.cluster_persistence_ = stab[sel]
        self._selected = np.nonzero(sel)[0] + n
        self._pred = (plam, ppar, birth, cpar, clab, cdeath)

    def fit_predict(self, X, y=None):
        return self.fit(X).labels_

    def approximate_predict(self, points):
        """Labels and membership strengths of new points, as ``hdbscan.approximate_predict``.

        Each point is attached to its nearest training neighbour under mutual reachability
        (among its ``2 * min_samples`` nearest neighbours; its own core distance is the
        distance to its ``min_samples + 1``-th neighbour, as in hdbscan) at lambda
        ``1 / distance``, and labelled with the selected cluster holding that place of the
        condensed tree, or -1.
        """
        if not hasattr(self, "labels_"):
            raise NotFittedError("This HDBSCAN instance is not fitted yet: call fit first")
        if not self.prediction_data or self._X_fit is None:
            raise InputError(
                "approximate_predict needs prediction data: set prediction_data=True before fit"
            )
        out = output_like(points, keep_torch=True)
        Pt = _as_tensor(points)
        if Pt.shape[1] != self.n_features_in_:
            raise InputError(f"points have {Pt.shape[1]} features, the model was fit on {self.n_features_in_}")
        Xp = self._X_fit
        n = Xp.shape[0]
        if Pt.shape[0] == 0:
            return out.array(np.zeros(0, np.int64)), out.array(np.zeros(0, np.float64))
        ms = self._min_samples_eff
        k = min(n, 2 * ms)
        if self.metric == "cosine":
            Qp = torch.nn.functional.normalize(Pt.to(Xp.device).float(), dim=1)
        else:
            # the same shift as the training data
            Qp = Pt.to(Xp.device).float() - self._shift
        budget = (1 << 30) if Xp.device.type == "cuda" else (1 << 27)
        _, ni = knn(Xp, k, self.metric, queries=Qp, memory_budget=budget)
        nd, ni = _refine_knn(Xp, Qp, ni, self.metric)
        pcore = nd[:, min(ms, k - 1)]
        mr = torch.maximum(torch.maximum(self._core_t[ni], pcore[:, None]), nd)
        j = mr.argmin(1)
        nn = ni.gather(1, j[:, None]).squeeze(1).cpu().numpy()
        mrv = mr.gather(1, j[:, None]).squeeze(1).double().cpu().numpy()
        with np.errstate(divide="ignore"):
            lam = np.where(mrv > 0.0, 1.0 / np.where(mrv > 0, mrv, 1.0), _DBL_MAX)
        labels, probs = _predict(nn, lam, *self._pred)
        return out.array(labels), out.array(probs)

