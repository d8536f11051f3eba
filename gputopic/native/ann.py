"""Sub-quadratic kNN in torch (one code path for the CPU and CUDA): leaves and leaf pairs.

Both searches cut the points into *leaves* of at most ``leaf_size`` points, give every
leaf a list of *candidate leaves*, and then, leaf by leaf, compare the leaf's points with
all points of its candidates in one batched matrix product (``bmm`` over a chunk of
leaves, padded to the largest leaf). No ``n x n`` matrix and no ``n x (probes * k)``
buffer is formed: a chunk of leaves holds at most ``memory_budget`` bytes of products.

:func:`knn_ivf` (approximate, any dimension; UMAP's 384-D cosine graph)
    Leaves are the lists of an inverted file: k-means on a sample (spherical k-means for
    cosine), every point assigned to its nearest centroid, lists longer than ``leaf_size``
    cut into slabs along the list's principal direction. A leaf's candidates are the
    ``n_probe`` leaves whose centroids are nearest its own centroid (probing per leaf, not
    per point: every product is a dense GEMM of a whole leaf against its candidates).
    Cost ``O(n * n_probe * leaf_size * d)`` for the search plus ``O(n * n_lists * d)``
    per k-means iteration (the lists grow with n, so that term is quadratic with a small
    constant: 5 % of the search at 400k points here). Approximate: recall depends on the
    data; on uniform random points in high dimension it collapses (see
    :func:`sample_recall`, which the estimators use to refuse it).

:func:`knn_kdtree` (exact, low dimension; HDBSCAN's 5-D search)
    Leaves are the leaves of a balanced k-d tree (median splits along the widest
    coordinate, built with two stable sorts per level). A first pass compares each leaf
    with its ``n_first`` nearest leaves (by box distance) and gives every point an upper
    bound of its k-th neighbour distance; the second pass takes every leaf whose bounding
    box is nearer than the largest bound in the leaf. A pair is skipped only when the box
    distance proves it cannot enter the top k, so the result is exact (up to ties).
    Cost ``O(n * c * leaf_size)`` with ``c`` the number of leaves within the k-th
    neighbour radius (grows with the dimension: use it up to ~8-D), plus ``O(L^2)`` box
    distances for ``L = n / leaf_size`` leaves (tiny constant).

Leaves and candidates are exposed (:class:`Leaves`) because HDBSCAN's Boruvka search
(:mod:`.hdbscan`) prunes with the same boxes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .knn import fix_self, knn as exact_knn

METRICS = ("cosine", "euclidean")


# ----------------------------------------------------------------------------- leaves


@dataclass
class Leaves:
    """A partition of ``n`` points into ``L`` leaves.

    ``members``: (L, P) int64 point indices, padded with ``n``; ``sizes``: (L,) int64;
    ``leaf_of``: (n,) leaf of each point; ``lo``/``hi``: (L, d) bounding boxes (k-d
    leaves) or None; ``centers``: (L, d) leaf means.
    """

    members: torch.Tensor
    sizes: torch.Tensor
    leaf_of: torch.Tensor
    centers: torch.Tensor
    lo: torch.Tensor | None = None
    hi: torch.Tensor | None = None

    @property
    def n_leaves(self) -> int:
        return int(self.members.shape[0])


def _pad_groups(order: torch.Tensor, group: torch.Tensor, n_groups: int, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(n_groups, P) padded member matrix from points ``order`` sorted by ``group``."""
    dev = order.device
    sizes = torch.bincount(group, minlength=n_groups)
    starts = torch.cumsum(sizes, 0) - sizes
    P = int(sizes.max()) if n_groups else 0
    members = torch.full((n_groups, max(P, 1)), n, dtype=torch.int64, device=dev)
    pos = torch.arange(order.shape[0], device=dev) - starts[group]
    members[group, pos] = order
    return members, sizes


def _leaf_stats(X: torch.Tensor, members: torch.Tensor, sizes: torch.Tensor, boxes: bool):
    """Leaf means, and boxes when asked, chunked over leaves."""
    L, P = members.shape
    n, d = X.shape
    Xe = torch.cat([X, X.new_zeros((1, d))])
    centers = X.new_empty((L, d))
    lo = X.new_empty((L, d)) if boxes else None
    hi = X.new_empty((L, d)) if boxes else None
    step = max(1, (1 << 26) // max(1, P * d))
    for s in range(0, L, step):
        m = members[s : s + step]
        v = Xe[m]
        valid = (m < n)[..., None]
        centers[s : s + step] = v.sum(1) / sizes[s : s + step, None].clamp(min=1)
        if boxes:
            lo[s : s + step] = torch.where(valid, v, float("inf")).amin(1)
            hi[s : s + step] = torch.where(valid, v, float("-inf")).amax(1)
    return centers, lo, hi


def kd_leaves(X: torch.Tensor, leaf_size: int) -> Leaves:
    """Balanced k-d tree leaves of ``X`` (at most ``leaf_size`` points each).

    The nodes of level ``l`` are the position ranges ``floor(pos * 2^l / n)`` of one
    permutation; each level sorts every node's points along the node's widest coordinate
    (a stable sort by value, then a stable sort by node), so halves become children.
    """
    n, d = X.shape
    dev = X.device
    levels = max(0, math.ceil(math.log2(max(1.0, n / max(1, leaf_size)))))
    perm = torch.arange(n, device=dev)
    pos = torch.arange(n, device=dev)
    for lev in range(levels):
        n_nodes = 1 << lev
        node = (pos * n_nodes) // n
        Xp = X[perm]
        mx = torch.full((n_nodes, d), float("-inf"), device=dev, dtype=X.dtype).scatter_reduce_(
            0, node[:, None].expand(n, d), Xp, "amax")
        mn = torch.full((n_nodes, d), float("inf"), device=dev, dtype=X.dtype).scatter_reduce_(
            0, node[:, None].expand(n, d), Xp, "amin")
        dim = (mx - mn).argmax(1)
        val = Xp.gather(1, dim[node][:, None]).squeeze(1)
        o = torch.argsort(val, stable=True)
        o = o[torch.argsort(node[o], stable=True)]
        perm = perm[o]
        del Xp, val, o
    L = 1 << levels
    leaf_pos = (pos * L) // n
    members, sizes = _pad_groups(perm, leaf_pos, L, n)
    leaf_of = torch.empty(n, dtype=torch.int64, device=dev)
    leaf_of[perm] = leaf_pos
    centers, lo, hi = _leaf_stats(X, members, sizes, True)
    return Leaves(members, sizes, leaf_of, centers, lo, hi)


def _nearest_centroid(X: torch.Tensor, C: torch.Tensor, metric: str, budget: int) -> torch.Tensor:
    n = X.shape[0]
    out = torch.empty(n, dtype=torch.int64, device=X.device)
    c_sq = (C * C).sum(1)
    step = max(1, budget // max(1, 4 * C.shape[0]))
    for s in range(0, n, step):
        p = X[s : s + step] @ C.T
        if metric == "cosine":
            out[s : s + step] = p.argmax(1)
        else:
            out[s : s + step] = (c_sq[None, :] - 2 * p).argmin(1)
    return out


def kmeans(X: torch.Tensor, n_clusters: int, metric: str, *, n_iter: int = 10, sample: int = 65536,
           seed: int = 0, budget: int = 1 << 27) -> torch.Tensor:
    """Centroids of (spherical, for cosine) k-means on a random sample of ``X``."""
    n = X.shape[0]
    g = torch.Generator(device="cpu").manual_seed(int(seed))
    m = min(n, max(sample, 8 * n_clusters))
    S = X[torch.randperm(n, generator=g)[:m].to(X.device)]
    C = S[torch.randperm(m, generator=g)[:n_clusters].to(X.device)].clone()
    for _ in range(n_iter):
        a = _nearest_centroid(S, C, metric, budget)
        sums = torch.zeros_like(C).index_add_(0, a, S)
        cnt = torch.bincount(a, minlength=n_clusters)
        empty = cnt == 0
        C = torch.where(empty[:, None], C, sums / cnt.clamp(min=1)[:, None].to(sums.dtype))
        if metric == "cosine":
            C = torch.nn.functional.normalize(C, dim=1)
    return C


def ivf_leaves(X: torch.Tensor, leaf_size: int, metric: str, *, seed: int = 0, n_iter: int = 10,
               budget: int = 1 << 27) -> Leaves:
    """Inverted-file lists of ``X`` (k-means, about ``leaf_size / 2`` points per list),
    lists above ``leaf_size`` cut into equal slabs along their principal direction."""
    n, d = X.shape
    dev = X.device
    n_lists = max(1, min(n, round(2 * n / leaf_size)))
    C = kmeans(X, n_lists, metric, n_iter=n_iter, seed=seed, budget=budget)
    a = _nearest_centroid(X, C, metric, budget)
    cnt = torch.bincount(a, minlength=n_lists)
    # slabs: lists longer than leaf_size are sorted along their first principal direction
    # (three power iterations, all lists at once) and cut into ceil(size / leaf_size) parts
    pieces = (cnt + leaf_size - 1) // leaf_size
    big = pieces > 1
    key = torch.zeros(n, dtype=X.dtype, device=dev)
    if bool(big.any()):
        mean = torch.zeros_like(C).index_add_(0, a, X) / cnt.clamp(min=1)[:, None].to(X.dtype)
        g = torch.Generator(device="cpu").manual_seed(int(seed) + 1)
        v = torch.nn.functional.normalize(torch.randn(n_lists, d, generator=g).to(dev, X.dtype), dim=1)
        for _ in range(3):
            proj = ((X - mean[a]) * v[a]).sum(1)
            v = torch.nn.functional.normalize(
                torch.zeros_like(v).index_add_(0, a, (X - mean[a]) * proj[:, None]), dim=1)
        key = ((X - mean[a]) * v[a]).sum(1)
    order = torch.argsort(key, stable=True)
    order = order[torch.argsort(a[order], stable=True)]
    starts = torch.cumsum(cnt, 0) - cnt
    rank = torch.arange(n, device=dev) - starts[a[order]]  # rank within its list
    sub = (rank * pieces[a[order]]) // cnt[a[order]]
    first = torch.cumsum(pieces, 0) - pieces
    leaf_sorted = first[a[order]] + sub
    L = int(pieces.sum())
    members, sizes = _pad_groups(order, leaf_sorted, L, n)
    leaf_of = torch.empty(n, dtype=torch.int64, device=dev)
    leaf_of[order] = leaf_sorted
    centers, _, _ = _leaf_stats(X, members, sizes, False)
    if metric == "cosine":
        centers = torch.nn.functional.normalize(centers, dim=1)
    return Leaves(members, sizes, leaf_of, centers)


# ----------------------------------------------------------------------------- candidate leaves


def box_dist2(lo_a, hi_a, lo_b, hi_b) -> torch.Tensor:
    """Squared distances between boxes ``a`` (A, d) and ``b`` (B, d): (A, B)."""
    gap = torch.clamp(torch.maximum(lo_b[None] - hi_a[:, None], lo_a[:, None] - hi_b[None]), min=0.0)
    return (gap * gap).sum(-1)


def _nearest_leaves(leaves: Leaves, n_probe: int, metric: str, budget: int) -> torch.Tensor:
    """(L, n_probe) leaves whose centres are nearest each leaf's centre (itself first)."""
    Cn = leaves.centers
    L = Cn.shape[0]
    p = min(n_probe, L)
    out = torch.empty((L, p), dtype=torch.int64, device=Cn.device)
    sq = (Cn * Cn).sum(1)
    step = max(1, budget // max(1, 8 * L))
    for s in range(0, L, step):
        prod = Cn[s : s + step] @ Cn.T
        score = prod if metric == "cosine" else 2 * prod - sq[None, :]
        score[torch.arange(score.shape[0], device=Cn.device), torch.arange(s, s + score.shape[0], device=Cn.device)] = float("inf")
        out[s : s + step] = torch.topk(score, p, dim=1).indices
    return out


# ----------------------------------------------------------------------------- leaf search


def _search_leaves(X, leaves: Leaves, cand: torch.Tensor, k: int, metric: str, budget: int,
                   gemm_dtype=None, best_d=None, best_i=None, diff=False):
    """Top-k (smallest distance) of every point among the points of its leaf's candidate
    leaves (``cand``: (L, c) leaf ids, -1 = none). Merged into ``best_d/best_i`` when
    given. Cosine: ``X`` normalised, distance ``1 - x.y``; euclidean: squared distances
    are ranked and returned (the caller takes the square root); ``diff``: from coordinate
    differences (low dimensions) instead of the one-GEMM expansion."""
    n, d = X.shape
    dev = X.device
    L, P = leaves.members.shape
    gemm_dtype = gemm_dtype or X.dtype
    Xg = torch.cat([X, X.new_zeros((1, d))]).to(gemm_dtype)
    sq = (X.float() * X.float()).sum(1)
    sq = torch.cat([sq, sq.new_zeros(1)])
    if best_d is None:
        best_d = torch.full((n, k), float("inf"), device=dev)
        best_i = torch.full((n, k), -1, dtype=torch.int64, device=dev)
    # candidate points per leaf (padded with n); leaves are taken in order of their number of
    # candidates, in chunks padded to the chunk's widest row and sized by the product tile
    memb_ext = torch.cat([leaves.members, torch.full((1, P), n, dtype=torch.int64, device=dev)])
    width = (cand >= 0).sum(1)
    cand = torch.sort(cand, dim=1, descending=True).values  # valid ids first (-1 last)
    by_w = torch.argsort(width)
    by_w = by_w[width[by_w] > 0]
    w_host = width[by_w].cpu()
    s = 0
    while s < by_w.shape[0]:
        # grow the chunk while it fits: its widest row is its last (sorted by width)
        w_est = int(w_host[min(w_host.shape[0] - 1, s + 63)])
        per_leaf = P * w_est * P * (12 + 4 * d * diff) + w_est * P * d * Xg.element_size()
        e = min(by_w.shape[0], s + max(1, budget // max(1, per_leaf)))
        w = int(w_host[e - 1])
        while e - s > 1 and (e - s) * (P * w * P * (12 + 4 * d * diff) + w * P * d * Xg.element_size()) > budget:
            e = s + max(1, (e - s) // 2)
            w = int(w_host[e - 1])
        sel = by_w[s:e]
        s = e
        q = leaves.members[sel]  # (B, P)
        cl = cand[sel, :w]
        refs = memb_ext[torch.where(cl >= 0, cl, L)].flatten(1)  # (B, c*P)
        if diff:  # squared distances from coordinate differences (no cancellation)
            dist = (Xg[q][:, :, None, :] - Xg[refs][:, None, :, :]).pow_(2).sum(-1)
        else:
            prod = torch.bmm(Xg[q], Xg[refs].transpose(1, 2)).float()  # (B, P, c*P)
            if metric == "cosine":
                dist = prod.neg_().add_(1.0)
            else:
                dist = prod.mul_(-2.0).add_(sq[q][:, :, None]).add_(sq[refs][:, None, :]).clamp_(min=0.0)
            del prod
        dist.masked_fill_((refs == n)[:, None, :], float("inf"))
        kk = min(k, dist.shape[2])
        v, j = torch.topk(dist, kk, dim=2, largest=False, sorted=False)
        del dist
        ids = refs.gather(1, j.flatten(1)).view(j.shape)
        ids = torch.where(torch.isfinite(v), ids, -1)
        valid = q < n
        qv = q[valid]
        v, ids = v[valid], ids[valid]
        # merge with what the point had (a candidate already there is not taken twice)
        md = torch.cat([best_d[qv], v], 1)
        mi = torch.cat([best_i[qv], ids], 1)
        dup = _dup_mask(mi)
        md = md.masked_fill(dup, float("inf"))
        vv, jj = torch.topk(md, k, dim=1, largest=False, sorted=True)
        best_d[qv] = vv
        best_i[qv] = torch.where(torch.isfinite(vv), mi.gather(1, jj), -1)
    return best_d, best_i


def _dup_mask(idx: torch.Tensor) -> torch.Tensor:
    """True where a row repeats an earlier index (-1 never counts as a repeat)."""
    s, o = torch.sort(idx, dim=1, stable=True)
    rep = torch.zeros_like(s, dtype=torch.bool)
    rep[:, 1:] = (s[:, 1:] == s[:, :-1]) & (s[:, 1:] >= 0)
    out = torch.zeros_like(rep)
    out.scatter_(1, o, rep)
    return out


def _finish(X, best_d, best_i, k, metric):
    """Exact fp32 distances of the found neighbours from coordinates, sorted, self first."""
    n = X.shape[0]
    Xf = X.float()
    ok = best_i >= 0
    ii = torch.where(ok, best_i, torch.arange(n, device=X.device)[:, None])
    out_d = torch.empty_like(best_d)
    step = max(1, (1 << 26) // max(1, k * X.shape[1]))
    for s in range(0, n, step):
        q = Xf[s : s + step, None, :]
        r = Xf[ii[s : s + step]]
        if metric == "cosine":
            out_d[s : s + step] = (1.0 - (q * r).sum(-1)).clamp_(min=0.0)
        else:
            out_d[s : s + step] = (q - r).norm(dim=-1)
    out_d = torch.where(ok, out_d, float("inf"))
    out_d, o = torch.sort(out_d, dim=1, stable=True)
    out_i = best_i.gather(1, o)
    return fix_self(out_d, out_i, 0, n, k)


def _check(X, k, metric):
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
    n = X.shape[0]
    if not 1 <= k <= n:
        raise ValueError(f"k must be between 1 and the number of points ({n}), got {k}")


def budget_for(device, memory_budget):
    if memory_budget is not None:
        return int(memory_budget)
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(max(1 << 28, min(free // 4, 8 << 30)))
    return 1 << 27


#: defaults of :func:`knn_ivf`, chosen on 100k resampled 20 Newsgroups MiniLM embeddings
#: on the CPU (bench/RESULTS.md, "Scale"): sampled recall@15 0.918 / 0.944 / 0.957 with
#: 16 / 32 / 48 probed leaves
IVF_LEAF_SIZE = 256
IVF_PROBE = 48
#: leaf-level NN-descent rounds after the inverted-file search, and new leaves per round
IVF_ROUNDS = 2
IVF_NEW_LEAVES = 8


def knn_ivf(X: torch.Tensor, k: int, metric: str = "cosine", *, n_probe: int | None = None,
            leaf_size: int | None = None, seed: int = 0, memory_budget: int | None = None,
            rounds: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Approximate self-kNN of ``X`` by an inverted file with leaf-level probing.

    Same output convention as :func:`gputopic.native.knn.knn` (``(dist, idx)``, (n, k),
    sorted, the point itself first at distance 0). On CUDA the cosine products run in
    fp16 with fp32 accumulation and the returned distances are recomputed in fp32.
    """
    _check(X, k, metric)
    n, d = X.shape
    dev = X.device
    budget = budget_for(dev, memory_budget)
    leaf_size = int(leaf_size or IVF_LEAF_SIZE)
    n_probe = int(n_probe or IVF_PROBE)
    Xf = X.float()
    if metric == "cosine":
        Xf = torch.nn.functional.normalize(Xf, dim=1)
    else:
        Xf = Xf - Xf.mean(0, keepdim=True)
    if n <= 2 * leaf_size:
        return exact_knn(Xf, k, metric, memory_budget=budget)
    leaves = ivf_leaves(Xf, leaf_size, metric, seed=seed, budget=budget)
    cand = _nearest_leaves(leaves, n_probe, metric, budget)
    gd = torch.float16 if (dev.type == "cuda" and metric == "cosine") else torch.float32
    bd, bi = _search_leaves(Xf, leaves, cand, k, metric, budget, gemm_dtype=gd)
    searched = cand
    for _ in range(int(IVF_ROUNDS if rounds is None else rounds)):
        new = _nn_of_nn_leaves(leaves, bi, searched, IVF_NEW_LEAVES, budget)
        bd, bi = _search_leaves(Xf, leaves, new, k, metric, budget, gemm_dtype=gd, best_d=bd, best_i=bi)
        searched = torch.cat([searched, new], 1)
    return _finish(Xf, bd, bi, k, metric)


def _nn_of_nn_leaves(leaves: Leaves, idx: torch.Tensor, searched: torch.Tensor, c: int, budget: int) -> torch.Tensor:
    """Per leaf, the ``c`` leaves not yet searched that hold most neighbours of its points'
    neighbours (a leaf-level NN-descent step: "a neighbour of my neighbour is likely my
    neighbour"), -1 where fewer qualify."""
    L, P = leaves.members.shape
    n, k = idx.shape
    dev = idx.device
    leaf_ext = torch.cat([leaves.leaf_of, leaves.leaf_of.new_full((1,), L)])
    idx_ext = torch.cat([torch.where(idx >= 0, idx, n), idx.new_full((1, k), n)])
    out = torch.full((L, c), -1, dtype=torch.int64, device=dev)
    step = max(1, min(budget // max(1, 8 * (L + 1)), budget // max(1, 8 * P * k * k)))
    for s in range(0, L, step):
        m = leaves.members[s : s + step]  # (B, P)
        nb = idx_ext[m]  # (B, P, k)
        nn2 = idx_ext[nb].flatten(1)  # (B, P*k*k)
        lf = leaf_ext[nn2]
        cnt = torch.zeros((m.shape[0], L + 1), dtype=torch.float32, device=dev)
        cnt.scatter_add_(1, lf, torch.ones_like(lf, dtype=torch.float32))
        cnt[:, L] = 0
        cnt.scatter_(1, torch.where(searched[s : s + step] >= 0, searched[s : s + step], L), 0.0)
        v, j = torch.topk(cnt[:, :L], min(c, L), dim=1)
        out[s : s + step, : j.shape[1]] = torch.where(v > 0, j, -1)
    return out


#: defaults of :func:`knn_kdtree`: leaves of 8-16 points (the fewest points compared per
#: query on 5-D data), first pass over the 2^4 leaves of the query's subtree
KD_LEAF_SIZE = 16
KD_FIRST_LEVELS = 4


def kd_applicable(n: int, k: int, leaf_size: int | None = None) -> bool:
    """Whether :func:`knn_kdtree` searches a tree for ``n`` points (else: the exact GEMM)."""
    return n > max(4 * k, 1 << KD_FIRST_LEVELS) * int(leaf_size or KD_LEAF_SIZE)


def tree_levels(leaves: Leaves) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Bounding boxes of the k-d tree's nodes, level by level (root first): the nodes of
    level ``l`` are the leaves' ancestors ``leaf >> (levels - l)``."""
    L = leaves.n_leaves
    levels = L.bit_length() - 1
    out = [(leaves.lo, leaves.hi)]
    lo, hi = leaves.lo, leaves.hi
    for _ in range(levels):
        lo = torch.minimum(lo[0::2], lo[1::2])
        hi = torch.maximum(hi[0::2], hi[1::2])
        out.append((lo, hi))
    return out[::-1]


def leaf_pairs(leaves: Leaves, boxes: list, bound2: torch.Tensor, *, skip_levels: int = 0,
               pair_ok=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Leaf pairs ``(a, b)`` with ``box_dist2(a, b) < bound2[a]``, found by descending the
    tree from both sides (a node pair is expanded only when its boxes are nearer than the
    largest bound below ``a``), sorted by ``a``. Pairs inside one subtree of
    ``2^skip_levels`` leaves are left out (already searched). ``pair_ok(level, a, b)``
    may prune node pairs further (it must keep every pair with a wanted leaf pair below)."""
    L = leaves.n_leaves
    levels = L.bit_length() - 1
    dev = bound2.device
    bmax = [bound2]
    for _ in range(levels):
        bmax.append(torch.maximum(bmax[-1][0::2], bmax[-1][1::2]))
    bmax = bmax[::-1]
    l0 = min(levels, 5)
    m = 1 << l0
    a = torch.arange(m, device=dev).repeat_interleave(m)
    b = torch.arange(m, device=dev).repeat(m)
    two = torch.tensor([0, 0, 1, 1], device=dev)
    one = torch.tensor([0, 1, 0, 1], device=dev)
    lev = l0
    while True:
        lo, hi = boxes[lev]
        keep = _pair_box_dist2(lo, hi, a, b) < bmax[lev][a]
        if pair_ok is not None:
            keep &= pair_ok(lev, a, b)
        if skip_levels and lev == levels:
            keep &= (a >> skip_levels) != (b >> skip_levels)
        a, b = a[keep], b[keep]
        if lev == levels:
            break
        a = (2 * a[:, None] + two).flatten()
        b = (2 * b[:, None] + one).flatten()
        lev += 1
    o = torch.argsort(a, stable=True)
    return a[o], b[o]


def _pair_box_dist2(lo, hi, a, b, chunk=1 << 22):
    out = torch.empty(a.shape[0], dtype=lo.dtype, device=lo.device)
    for s in range(0, a.shape[0], chunk):
        aa, bb = a[s : s + chunk], b[s : s + chunk]
        gap = torch.clamp(torch.maximum(lo[bb] - hi[aa], lo[aa] - hi[bb]), min=0.0)
        out[s : s + chunk] = (gap * gap).sum(1)
    return out


def knn_kdtree(X: torch.Tensor, k: int, *, leaf_size: int | None = None, memory_budget: int | None = None,
               leaves: Leaves | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact euclidean self-kNN of low-dimensional ``X`` with k-d tree leaves (see the
    module docstring). Same output convention as :func:`gputopic.native.knn.knn`."""
    _check(X, k, "euclidean")
    n, d = X.shape
    dev = X.device
    budget = budget_for(dev, memory_budget)
    leaf_size = int(leaf_size or KD_LEAF_SIZE)
    Xf = X.float()
    if leaves is None:  # centred (less rounding); given leaves were built on X as it is
        Xf = Xf - Xf.mean(0, keepdim=True)
    if not kd_applicable(n, k, leaf_size):
        return exact_knn(Xf, k, "euclidean", memory_budget=budget)
    if leaves is None:
        leaves = kd_leaves(Xf, leaf_size)
    bd, bi = _kd_search(Xf, leaves, k, budget)
    return _finish(Xf, bd, bi, k, "euclidean")


def _kd_search(Xf, leaves, k, budget):
    """Both passes of :func:`knn_kdtree` on prepared data; squared distances."""
    L = leaves.n_leaves
    dev = Xf.device
    levels = L.bit_length() - 1
    # pass 1: the leaves of the query's subtree of 2^g leaves (at least k + 1 points)
    g = min(levels, KD_FIRST_LEVELS)
    while g < levels and (1 << g) * int(leaves.sizes.min()) < k + 1:
        g += 1
    ids = torch.arange(L, device=dev)
    cand1 = ((ids >> g) << g)[:, None] + torch.arange(1 << g, device=dev)[None, :]
    bd, bi = _search_leaves(Xf, leaves, cand1, k, "euclidean", budget, diff=True)
    # pass 2: every leaf outside that subtree whose box is nearer than the leaf's largest
    # bound (tree descent), then per point: the leaves whose box is nearer than its own bound
    bound = torch.cat([bd[:, -1], bd.new_zeros(1)])[leaves.members].amax(1)
    a, b = leaf_pairs(leaves, tree_levels(leaves), bound, skip_levels=g)
    if a.numel():
        bd, bi = point_leaf_topk(Xf, leaves, a, b, bd[:, -1].clone(), k, bd, bi, budget)
    return bd, bi



def point_box_pairs(Xf, leaves: Leaves, a, b, bound2):
    """(point, leaf) pairs from leaf pairs ``(a, b)``: every point ``q`` of leaf ``a``
    with ``dist2(q, box(b)) < bound2[q]``. Returns (points, leaves)."""
    n, d = Xf.shape
    m = leaves.members[a]  # (c, P)
    valid = m < n
    mm = torch.where(valid, m, 0)
    q = Xf[mm]
    gap = torch.clamp(torch.maximum(leaves.lo[b][:, None, :] - q, q - leaves.hi[b][:, None, :]), min=0.0)
    keep = ((gap * gap).sum(-1) < bound2[mm]) & valid
    return m[keep], b[:, None].expand_as(m)[keep]


def _ragged_topk(qi, vals, ids, k):
    """Per distinct ``qi`` (sorted), the k smallest of its rows of ``vals`` (K, P), with
    ``ids``. Points are bucketed by their number of rows (powers of two) so that each
    bucket is padded at most twofold."""
    dev = qi.device
    uq, inv, cnt = torch.unique_consecutive(qi, return_inverse=True, return_counts=True)
    P = vals.shape[1]
    starts = torch.cumsum(cnt, 0) - cnt
    pos = torch.arange(qi.shape[0], device=dev) - starts[inv]
    bucket = torch.ceil(torch.log2(cnt.double())).long()
    out_v = torch.full((uq.shape[0], k), float("inf"), device=dev)
    out_i = torch.full((uq.shape[0], k), -1, dtype=torch.int64, device=dev)
    slot = torch.empty_like(uq)
    for bk in torch.unique(bucket).tolist():
        members = (bucket == bk).nonzero().squeeze(1)
        slot[members] = torch.arange(members.shape[0], device=dev)
        rows = (bucket[inv] == bk).nonzero().squeeze(1)
        w = (1 << bk) * P
        V = torch.full((members.shape[0], w), float("inf"), device=dev)
        I = torch.full((members.shape[0], w), -1, dtype=torch.int64, device=dev)
        r = slot[inv[rows]][:, None].expand(rows.shape[0], P)
        cols = pos[rows][:, None] * P + torch.arange(P, device=dev)
        V[r, cols] = vals[rows]
        I[r, cols] = ids[rows]
        kk = min(k, w)
        v, j = torch.topk(V, kk, dim=1, largest=False, sorted=False)
        out_v[members, :kk] = v
        out_i[members, :kk] = I.gather(1, j)
    return uq, out_v, out_i


def point_leaf_topk(Xf, leaves: Leaves, a, b, bound2, k, best_d, best_i, budget):
    """Merge into ``best_d/best_i`` (squared distances) the points of leaf ``b`` for every
    point of leaf ``a`` whose own bound reaches ``b``'s box, for all leaf pairs ``(a, b)``
    (sorted by ``a``), in chunks of pairs."""
    n, d = Xf.shape
    P = leaves.members.shape[1]
    Xe = torch.cat([Xf, Xf.new_zeros((1, d))])
    step = max(1, budget // max(1, P * P * 64))
    for s in range(0, a.shape[0], step):
        qi, bl = point_box_pairs(Xf, leaves, a[s : s + step], b[s : s + step], bound2)
        if qi.numel() == 0:
            continue
        o = torch.argsort(qi, stable=True)
        qi, bl = qi[o], bl[o]
        refs = leaves.members[bl]  # (K, P)
        d2 = (Xe[qi][:, None, :] - Xe[refs]).pow_(2).sum(-1)
        d2.masked_fill_(refs == n, float("inf"))
        uq, v, ids = _ragged_topk(qi, d2, refs, k)
        del d2, refs
        md = torch.cat([best_d[uq], v], 1)
        mi = torch.cat([best_i[uq], torch.where(torch.isfinite(v), ids, -1)], 1)
        md = md.masked_fill(_dup_mask(mi), float("inf"))
        vv, jj = torch.topk(md, k, dim=1, largest=False, sorted=True)
        best_d[uq] = vv
        best_i[uq] = torch.where(torch.isfinite(vv), mi.gather(1, jj), -1)
    return best_d, best_i

def _ragged_to_padded(r: torch.Tensor, c: torch.Tensor, L: int) -> torch.Tensor:
    """(L, max count) matrix of the ``c`` of each row ``r`` (sorted by r), padded with -1."""
    dev = r.device
    if r.numel() == 0:
        return torch.empty((L, 0), dtype=torch.int64, device=dev)
    cnt = torch.bincount(r, minlength=L)
    starts = torch.cumsum(cnt, 0) - cnt
    w = int(cnt.max())
    out = torch.full((L, w), -1, dtype=torch.int64, device=dev)
    out[r, torch.arange(r.shape[0], device=dev) - starts[r]] = c
    return out
