"""Exact k-nearest neighbours by tiled matrix products and a per-tile top-k.

Cosine distances come from one GEMM of L2-normalised rows (fp16 inputs with fp32
accumulation on CUDA, fp32 on the CPU); Euclidean distances from the expansion
``|q|^2 + |x|^2 - 2 q.x`` in fp32. The query rows are processed in tiles sized so that
one tile of the distance matrix stays within ``memory_budget`` bytes.

Top-k strategies
----------------
How each tile's top-k is taken is chosen by :data:`TOPK_STRATEGY` (or the ``strategy``
argument of :func:`knn`). All are exact: the same neighbours as a brute-force search up
to tied distances (on CUDA, ``"full"``, ``"chunked"`` and ``"blockmax"`` rank cosine
neighbours by the fp16-rounded product, the ``"fp16*"`` ones by fp32 similarities).

``"full"``
    The original code: the product tile is converted to fp32 (cosine) or turned into an
    fp32 squared-distance tile (euclidean), and ``torch.topk`` runs over whole rows.
``"chunked"``
    Two-stage top-k: each row is cut into chunks of :data:`CHUNK` columns, the top-k of
    every chunk is taken (many short slices), then the top-k of the survivors.
``"blockmax"``
    Group maxima: the columns are split into groups of :data:`BLOCK`; the k groups with
    the largest maxima (found recursively the same way) hold the top-k. Costs about one
    read of the tile plus a max-reduction instead of a radix select over whole rows.
``"fp16"``, ``"fp16_chunked"``, ``"fp16_blockmax"``
    Cosine: the selection above runs directly on the fp16 product (never converted to
    fp32) and keeps ``k + FP16_MARGIN`` candidates, whose similarities are recomputed in
    fp32 from the normalised fp32 rows; the final top-k is taken from those. A row is
    redone in fp32 when its last fp16 candidate plus a proven bound on the fp16 error
    (:func:`_fp16_error_bound`) could still reach the k-th refined similarity (rare), so
    the result is exact for the fp32 similarities. On the CPU the fp16 product is
    emulated (half-rounded inputs, fp32 accumulation, half-rounded output).
    Euclidean has no fp16 product (cancellation): ``"fp16"`` means whole-row
    ``torch.topk`` on the one-``addmm`` score ``|x|^2 - 2 q.x`` (which ranks like the
    squared distance, ``|q|^2`` being constant along a row), and the other two are
    ``"chunked"`` and ``"blockmax"``, which use that score for euclidean too.
``"auto"``
    :data:`AUTO` for the device type and metric.

``"chunked"`` and ``"blockmax"`` (and their fp16 forms) may carry their chunk / group
size, e.g. ``"blockmax:32"``.
"""

from __future__ import annotations

import contextlib
import os

import torch

METRICS = ("cosine", "euclidean")
STRATEGIES = ("auto", "full", "chunked", "blockmax", "fp16", "fp16_chunked", "fp16_blockmax")

#: module-level default strategy (see the module docstring); the environment variable
#: GPUTOPIC_KNN_TOPK sets it at import. The attribute ``gputopic.native.knn`` is the
#: function (the package re-exports it), so set this one as
#: ``sys.modules["gputopic.native.knn"].TOPK_STRATEGY``.
TOPK_STRATEGY = os.environ.get("GPUTOPIC_KNN_TOPK", "auto")
#: what "auto" means, per device type and metric: the fastest strategy bench/knn_bench.py
#: measured (on an H100 and on the CPU; the figures are in bench/RESULTS.md), each with
#: neighbour sets checked against a float64 reference.
AUTO = {
    ("cuda", "cosine"): "fp16_blockmax",
    ("cuda", "euclidean"): "blockmax:32",
    ("cpu", "cosine"): "full",
    ("cpu", "euclidean"): "blockmax",
}
#: columns per chunk of "chunked"
CHUNK = 4096
#: columns per group of "blockmax"
BLOCK = 16
#: extra fp16 candidates kept per row before the fp32 refinement
FP16_MARGIN = 16
#: at most this many elements per tile in the new strategies (32-bit index math in the
#: top-k / reduction kernels); "full" keeps its original tiles
MAX_TILE_ELEMENTS = 2**31 - 1


def _fp16_error_bound(d: int) -> float:
    """Upper bound of |fp16 GEMM value - fp32 dot| for two unit vectors of dimension d.

    Inputs rounded to fp16: componentwise relative error 2^-11 (absolute 2^-25 in the
    subnormal range), so ``|q16 - q| <= delta = 2^-11 + sqrt(d) 2^-25`` and
    ``|q16.x16 - q.x| <= 2 delta + delta^2``; fp32 accumulation of d exact fp16 products
    adds at most ``d 2^-23 (1 + delta)^2`` (allowing truncating accumulators); rounding
    the output to fp16 (|value| < 2) adds at most 2^-11; the fp32 recomputation of the
    reference value adds at most ``d 2^-23``. A 25 % safety factor covers the normalised
    rows' norms differing from 1 by a few fp32 ulps.
    """
    delta = 2.0**-11 + (d**0.5) * 2.0**-25
    b = 2 * delta + delta * delta + d * 2.0**-23 * (1 + delta) ** 2 + 2.0**-11 + d * 2.0**-23
    return 1.25 * b


@contextlib.contextmanager
def _fp32_accumulation():
    """No fp16 split-K reductions in fp16 GEMMs inside (the fp16 error bound assumes fp32
    accumulation). TF32 settings are left alone: the code under this bound uses no fp32
    GEMM (the refinement multiplies and sums, the fp32 redo runs in float64)."""
    m = torch.backends.cuda.matmul
    saved = m.allow_fp16_reduced_precision_reduction
    m.allow_fp16_reduced_precision_reduction = False
    try:
        yield
    finally:
        m.allow_fp16_reduced_precision_reduction = saved


def _parse_strategy(strategy: str | None, device: torch.device, metric: str) -> tuple[str, str, int]:
    """``(name, selector, size)``: the strategy name, its selection (``"topk"``,
    ``"chunked"`` or ``"blockmax"``) and chunk / group size."""
    s = TOPK_STRATEGY if strategy is None else strategy
    name, _, size = str(s).partition(":")
    if name not in STRATEGIES:
        raise ValueError(f"strategy must be one of {STRATEGIES} (optionally ':<size>'), got {s!r}")
    if name == "auto":
        name, _, size2 = AUTO.get((device.type, metric), "full").partition(":")
        size = size or size2
    selector = {"full": "topk", "fp16": "topk"}.get(name, name.removeprefix("fp16_"))
    c = int(size) if size else (CHUNK if selector == "chunked" else BLOCK)
    if c < 1:
        raise ValueError(f"chunk / group size must be positive, got {c}")
    return name, selector, c


def _tile_bytes(name: str, selector: str, prod_bytes: int) -> int:
    """Bytes per element of one tile row: the product plus the selection's scratch."""
    if name == "full":
        return 12  # an fp32 block plus top-k scratch: ~3 blocks
    return 2 * prod_bytes if selector == "topk" else prod_bytes + 1


def _tile_rows(n_ref: int, memory_budget: int, bytes_per_elem: int = 12, max_elements: int | None = None) -> int:
    # rows of a (rows x n_ref) tile whose elements cost bytes_per_elem each (_tile_bytes)
    rows = memory_budget // max(1, bytes_per_elem * n_ref)
    if max_elements is not None:
        rows = min(rows, max_elements // max(1, n_ref))
    return max(1, min(65536, rows))


def default_memory_budget(device: torch.device) -> int:
    """Bytes one tile of the distance matrix may use: a quarter of the free GPU memory
    (at most 16 GiB; wide tiles keep the GEMMs large), or 256 MiB on the CPU."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(max(1 << 28, min(free // 4, 16 << 30)))
    return 1 << 28


def _topk_chunked(s: torch.Tensor, k: int, largest: bool, chunk: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact row-wise top-k of ``s`` (rows x n), sorted, in two stages."""
    rows, n = s.shape
    nch = n // chunk
    if k >= chunk or nch < 2:
        return torch.topk(s, k, dim=1, largest=largest, sorted=True)
    main = nch * chunk
    v, i = torch.topk(s[:, :main].unflatten(1, (nch, chunk)), k, dim=2, largest=largest, sorted=False)
    i += torch.arange(0, main, chunk, device=s.device)[:, None]
    v, i = v.flatten(1), i.flatten(1)
    if main < n:
        kt = min(k, n - main)
        vt, it = torch.topk(s[:, main:], kt, dim=1, largest=largest, sorted=False)
        v = torch.cat([v, vt], 1)
        i = torch.cat([i, it + main], 1)
    v2, j = torch.topk(v, k, dim=1, largest=largest, sorted=True)
    return v2, i.gather(1, j)


def _topk_blockmax(s: torch.Tensor, k: int, largest: bool, g: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact row-wise top-k of ``s`` (rows x n), sorted, from group maxima.

    The first ``g * L`` columns (``L = n // g``) form L groups of g columns strided by L
    (column ``c`` is in group ``c % L``; a max over the middle axis of a ``(rows, g, L)``
    view reads memory contiguously). The k groups with the largest maxima (found the same
    way, recursively) are gathered with the ``n - g L`` tail columns and the top-k is taken
    among those. Exact up to ties: an element outside them is at most its group's maximum,
    which is at most each of the k selected maxima, themselves candidates.
    """
    rows, n = s.shape
    L = n // g
    if g < 2 or L < 2 * k:
        return torch.topk(s, k, dim=1, largest=largest, sorted=True)
    main = g * L
    view = s[:, :main].unflatten(1, (g, L))
    gm = view.amax(1) if largest else view.amin(1)
    _, G = _topk_blockmax(gm, k, largest, g)
    del gm
    cols = (G[:, :, None] + torch.arange(0, main, L, device=s.device)).flatten(1)
    if main < n:
        tail = torch.arange(main, n, device=s.device).expand(rows, n - main)
        cols = torch.cat([cols, tail], 1)
    v, j = torch.topk(s.gather(1, cols), k, dim=1, largest=largest, sorted=True)
    return v, cols.gather(1, j)


def _select(s: torch.Tensor, k: int, largest: bool, selector: str, chunk: int):
    if selector == "chunked":
        return _topk_chunked(s, k, largest, chunk)
    if selector == "blockmax":
        return _topk_blockmax(s, k, largest, chunk)
    return torch.topk(s, k, dim=1, largest=largest, sorted=True)


def _refine_cos(qf: torch.Tensor, Xf: torch.Tensor, cand: torch.Tensor, budget: int) -> torch.Tensor:
    """fp32 similarities of the query rows ``qf`` to their candidates (elementwise
    products and sums: never TF32)."""
    rows, kc = cand.shape
    d = Xf.shape[1]
    out = torch.empty((rows, kc), dtype=torch.float32, device=qf.device)
    step = max(1, budget // max(1, 8 * kc * d))
    for s in range(0, rows, step):
        e = min(rows, s + step)
        out[s:e] = (Xf[cand[s:e]] * qf[s:e, None, :]).sum(-1)
    return out


def _exact_cos_topk(q: torch.Tensor, Xf: torch.Tensor, k: int, budget: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-k similarities of the (few) rows ``q`` in float64, by column blocks of ``Xf``
    (float64 GEMMs: no TF32, whatever the global settings)."""
    n = Xf.shape[0]
    qd = q.double()
    cols = max(k, min(budget // max(1, 24 * q.shape[0]), budget // max(1, 16 * Xf.shape[1])))
    best_v = best_i = None
    for c in range(0, n, cols):
        blk = qd @ Xf[c : c + cols].double().T
        v, i = torch.topk(blk, min(k, blk.shape[1]), dim=1, largest=True, sorted=True)
        i += c
        if best_v is not None:
            v, j = torch.topk(torch.cat([best_v, v], 1), min(k, best_v.shape[1] + v.shape[1]), dim=1, sorted=True)
            i = torch.cat([best_i, i], 1).gather(1, j)
        best_v, best_i = v, i
    return best_v.float(), best_i


def fix_self(dist: torch.Tensor, idx: torch.Tensor, start: int, stop: int, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Self-query: rounding can put duplicates ahead of the point itself, or (with more
    than k duplicates) leave it out; make self the first neighbour at distance 0 (a tie
    with those duplicates, so the result stays exact)."""
    device = idx.device
    ids = torch.arange(start, stop, device=device)
    is_self = idx == ids[:, None]
    has_self = is_self.any(1)
    pos = torch.where(is_self, torch.arange(k, device=device), k).min(1).values
    # prepend self, then drop its old column (or the last one when it was not there)
    ext_i = torch.cat([ids[:, None], idx], 1)
    ext_d = torch.cat([torch.zeros_like(dist[:, :1]), dist], 1)
    drop = torch.where(has_self, pos + 1, k)
    dropped = (torch.arange(k + 1, device=device)[None, :] == drop[:, None]).to(torch.uint8)
    order = torch.argsort(dropped, dim=1, stable=True)[:, :k]  # the kept columns, in order
    return ext_d.gather(1, order), ext_i.gather(1, order)


def _over_tiles(m: int, k: int, rows: int, device: torch.device, self_query: bool, tile):
    """Run ``tile(start, stop) -> (dist, idx)`` (sorted, ``k`` columns) over row tiles of
    the ``m`` queries into one output; self-queries get the point itself first."""
    out_d = torch.empty((m, k), dtype=torch.float32, device=device)
    out_i = torch.empty((m, k), dtype=torch.int64, device=device)
    for start in range(0, m, rows):
        stop = min(m, start + rows)
        dist, idx = tile(start, stop)
        if self_query:
            dist, idx = fix_self(dist, idx, start, stop, k)
        out_d[start:stop] = dist
        out_i[start:stop] = idx
    return out_d, out_i


def knn(
    X: torch.Tensor,
    k: int,
    metric: str = "cosine",
    *,
    queries: torch.Tensor | None = None,
    memory_budget: int | None = None,
    strategy: str | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact kNN of ``queries`` (default: ``X`` itself) among the rows of ``X``.

    Returns ``(distances, indices)``, each of shape ``(n_queries, k)``, sorted by
    increasing distance: float32 distances and int64 indices, on ``X``'s device. When
    the queries are ``X`` itself every point is its own first neighbour (distance 0),
    as in umap-learn and hdbscan. ``strategy`` (default :data:`TOPK_STRATEGY`) picks how
    each tile's top-k is taken; see the module docstring.
    """
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
    n = X.shape[0]
    if not 1 <= k <= n:
        raise ValueError(f"k must be between 1 and the number of points ({n}), got {k}")
    device = X.device
    name, selector, size = _parse_strategy(strategy, device, metric)
    if memory_budget is None:
        memory_budget = default_memory_budget(device)
    if name == "full":
        return _knn_full(X, k, metric, queries, memory_budget)
    if metric == "euclidean":
        return _knn_euclidean(X, k, queries, memory_budget, name, selector, size)
    if not name.startswith("fp16"):
        return _knn_cosine(X, k, queries, memory_budget, name, selector, size)
    return _knn_cosine_fp16(X, k, queries, memory_budget, name, selector, size)


def _knn_full(X, k, metric, queries, memory_budget):
    """The original strategy: fp32 tile, ``torch.topk`` over whole rows."""
    n = X.shape[0]
    device = X.device
    on_gpu = device.type == "cuda"
    self_query = queries is None
    Q = X if self_query else queries.to(device)

    gemm_dtype = torch.float16 if (on_gpu and metric == "cosine") else torch.float32
    Xf = X.float()
    if metric == "cosine":
        Xn = torch.nn.functional.normalize(Xf, dim=1).to(gemm_dtype)
        Qn = Xn if self_query else torch.nn.functional.normalize(Q.float(), dim=1).to(gemm_dtype)
    else:
        Xn, Qn = Xf, (Xf if self_query else Q.float())
        x_sq = (Xn * Xn).sum(1)

    rows = _tile_rows(n, memory_budget, 12)

    def tile(start, stop):
        q = Qn[start:stop]
        prod = (q @ Xn.T).float()
        if metric == "cosine":
            vals, idx = torch.topk(prod, k, dim=1, largest=True, sorted=True)
            return (1.0 - vals).clamp_(min=0.0), idx
        q_sq = (q * q).sum(1, keepdim=True)
        d2 = (q_sq + x_sq[None, :] - 2.0 * prod).clamp_(min=0.0)
        vals, idx = torch.topk(d2, k, dim=1, largest=False, sorted=True)
        return vals.sqrt_(), idx

    return _over_tiles(Qn.shape[0], k, rows, device, self_query, tile)


def _knn_euclidean(X, k, queries, memory_budget, name, selector, size):
    """Euclidean: rank by ``|x|^2 - 2 q.x`` (one ``addmm`` per tile; ``|q|^2`` is
    constant along a row), then ``d = sqrt(|q|^2 + score)``."""
    n = X.shape[0]
    device = X.device
    self_query = queries is None
    Xf = X.float()
    Qf = Xf if self_query else queries.to(device).float()
    x_sq = (Xf * Xf).sum(1)
    XT = Xf.T
    rows = _tile_rows(n, memory_budget, _tile_bytes(name, selector, 4), MAX_TILE_ELEMENTS)

    def tile(start, stop):
        q = Qf[start:stop]
        score = torch.addmm(x_sq[None, :], q, XT, beta=1.0, alpha=-2.0)
        vals, idx = _select(score, k, False, selector, size)
        del score
        return (vals + (q * q).sum(1, keepdim=True)).clamp_(min=0.0).sqrt_(), idx

    return _over_tiles(Qf.shape[0], k, rows, device, self_query, tile)


def _knn_cosine(X, k, queries, memory_budget, name, selector, size):
    """Cosine, selection directly on the product tile (fp16 on CUDA, as ``"full"``
    ranks, without the fp32 copy; fp32 on the CPU)."""
    n = X.shape[0]
    device = X.device
    self_query = queries is None
    gemm_dtype = torch.float16 if device.type == "cuda" else torch.float32
    Xn = torch.nn.functional.normalize(X.float(), dim=1).to(gemm_dtype)
    Qn = Xn if self_query else torch.nn.functional.normalize(queries.to(device).float(), dim=1).to(gemm_dtype)
    rows = _tile_rows(n, memory_budget, _tile_bytes(name, selector, Xn.element_size()), MAX_TILE_ELEMENTS)

    def tile(start, stop):
        prod = Qn[start:stop] @ Xn.T
        vals, idx = _select(prod, k, True, selector, size)
        del prod
        return (1.0 - vals.float()).clamp_(min=0.0), idx

    return _over_tiles(Qn.shape[0], k, rows, device, self_query, tile)


def _knn_cosine_fp16(X, k, queries, memory_budget, name, selector, size):
    """Cosine: fp16 candidates (k + FP16_MARGIN per row) refined in fp32, with a proven
    check and an fp32 redo of the rows where the check fails."""
    n, d = X.shape
    device = X.device
    on_gpu = device.type == "cuda"
    self_query = queries is None
    Xf = torch.nn.functional.normalize(X.float(), dim=1)
    Qf = Xf if self_query else torch.nn.functional.normalize(queries.to(device).float(), dim=1)
    if on_gpu:
        Xh = Xf.half()
        Qh = Xh if self_query else Qf.half()
    else:  # emulate: half-rounded inputs, fp32 accumulation, half-rounded output
        Xh = Xf.half().float()
        Qh = Xh if self_query else Qf.half().float()
    kc = min(n, k + max(0, int(FP16_MARGIN)))
    bound = _fp16_error_bound(d)
    # the CPU emulation holds an fp32 and an fp16 copy of the product
    rows = _tile_rows(n, memory_budget, _tile_bytes(name, selector, 2 if on_gpu else 6), MAX_TILE_ELEMENTS)
    n_redo = 0

    def tile(start, stop):
        nonlocal n_redo
        prod = Qh[start:stop] @ Xh.T
        if not on_gpu:
            prod = prod.half()
        v16, cand = _select(prod, kc, True, selector, size)
        del prod
        qf = Qf[start:stop]
        sims = _refine_cos(qf, Xf, cand, memory_budget)
        vals, j = torch.topk(sims, k, dim=1, largest=True, sorted=True)
        idx = cand.gather(1, j)
        if kc < n:
            # a non-candidate's fp32 similarity is at most v16[:, -1] + bound
            redo = (v16[:, -1].float() + bound >= vals[:, -1]).nonzero().squeeze(1)
            if redo.numel():
                n_redo += redo.numel()
                vr, ir = _exact_cos_topk(qf[redo], Xf, k, memory_budget)
                vals[redo] = vr
                idx[redo] = ir
        return (1.0 - vals).clamp_(min=0.0), idx

    with _fp32_accumulation() if on_gpu else contextlib.nullcontext():
        out = _over_tiles(Qf.shape[0], k, rows, device, self_query, tile)
    knn.last_fp16_redo = n_redo
    return out


knn.last_fp16_redo = 0  # rows redone in fp32 by the last "fp16*" call


#: on the CPU, self-kNN of more points than this uses NN-descent (:func:`nndescent`), as
#: umap-learn does: the exact search costs O(n^2 d). On 20 Newsgroups (18,331 x 384, 2
#: idle cores) exact 2.8 s, NN-descent 0.66 s warm with recall 0.974, and the topics of
#: seeds 0-4 as good (NMI 0.433 either way, NPMI 0.232 vs 0.242, seed-to-seed sd ~0.01;
#: bench/RESULTS.md, "The CPU race, fair").
CPU_EXACT_MAX = 10_000


def nndescent(X: torch.Tensor, k: int, metric: str, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Approximate self-kNN of ``X`` by NN-descent on the CPU (what umap-learn runs, through
    pynndescent, above 4,096 points), with the kernels of :mod:`._nndescent_cpu`: compiled
    once and cached on disk, parallel, and the same graph for a seed on any thread count.

    Same output convention as :func:`knn` (every point its own first neighbour).
    """
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
    from ..device import optional_import
    from . import _nndescent_cpu

    if not _nndescent_cpu.available():
        optional_import("numba", "NN-descent kNN for large CPU UMAP fits (installed with umap-learn)")
    n = X.shape[0]
    if not 1 <= k <= n:
        raise ValueError(f"k must be between 1 and the number of points ({n}), got {k}")
    dist, idx = _nndescent_cpu.nn_descent(X.detach().cpu().float().numpy(), k, metric, int(seed))
    dist, idx = fix_self(torch.from_numpy(dist), torch.from_numpy(idx), 0, n, k)
    return dist.to(X.device), idx.to(X.device)
