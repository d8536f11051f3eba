"""Exact k-nearest neighbours by tiled matrix products and a per-tile top-k.

Cosine distances come from one GEMM of L2-normalised rows (fp16 inputs with fp32
accumulation on CUDA, fp32 on the CPU); Euclidean distances from the expansion
``|q|^2 + |x|^2 - 2 q.x`` in fp32. The query rows are processed in tiles sized so that
one tile of the distance matrix stays within ``memory_budget`` bytes.
"""

from __future__ import annotations


import torch

METRICS = ("cosine", "euclidean")


def _tile_rows(n_ref: int, memory_budget: int) -> int:
    # a tile holds an fp32 (rows x n_ref) block plus top-k scratch: budget ~ 3 blocks
    return max(1, min(65536, memory_budget // max(1, 12 * n_ref)))


def default_memory_budget(device: torch.device) -> int:
    """Bytes one tile of the distance matrix may use: a quarter of the free GPU memory
    (at most 16 GiB; wide tiles keep the GEMMs large), or 256 MiB on the CPU."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(max(1 << 28, min(free // 4, 16 << 30)))
    return 1 << 28


def knn(
    X: torch.Tensor,
    k: int,
    metric: str = "cosine",
    *,
    queries: torch.Tensor | None = None,
    memory_budget: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact kNN of ``queries`` (default: ``X`` itself) among the rows of ``X``.

    Returns ``(distances, indices)``, each of shape ``(n_queries, k)``, sorted by
    increasing distance: float32 distances and int64 indices, on ``X``'s device. When
    the queries are ``X`` itself every point is its own first neighbour (distance 0),
    as in umap-learn and hdbscan.
    """
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
    n = X.shape[0]
    if not 1 <= k <= n:
        raise ValueError(f"k must be between 1 and the number of points ({n}), got {k}")
    device = X.device
    on_gpu = device.type == "cuda"
    if memory_budget is None:
        memory_budget = default_memory_budget(device)
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

    m = Qn.shape[0]
    rows = _tile_rows(n, memory_budget)
    out_d = torch.empty((m, k), dtype=torch.float32, device=device)
    out_i = torch.empty((m, k), dtype=torch.int64, device=device)
    for start in range(0, m, rows):
        stop = min(m, start + rows)
        q = Qn[start:stop]
        prod = (q @ Xn.T).float()
        if metric == "cosine":
            vals, idx = torch.topk(prod, k, dim=1, largest=True, sorted=True)
            dist = (1.0 - vals).clamp_(min=0.0)
        else:
            q_sq = (q * q).sum(1, keepdim=True)
            d2 = (q_sq + x_sq[None, :] - 2.0 * prod).clamp_(min=0.0)
            vals, idx = torch.topk(d2, k, dim=1, largest=False, sorted=True)
            dist = vals.sqrt_()
        if self_query:
            # rounding can put a duplicate ahead of the point itself: make self the first neighbour
            ids = torch.arange(start, stop, device=device)
            has_self = (idx == ids[:, None]).any(1)
            pos = torch.where(idx == ids[:, None], torch.arange(k, device=device), k).min(1).values
            move = has_self & (pos > 0)
            if bool(move.any()):
                r = move.nonzero().squeeze(1)
                for i in r.tolist():  # rare: only exact duplicates reach here
                    p = int(pos[i])
                    idx[i, 1 : p + 1] = idx[i, :p].clone()
                    dist[i, 1 : p + 1] = dist[i, :p].clone()
                    idx[i, 0] = start + i
            dist[:, 0] = torch.where(idx[:, 0] == ids, torch.zeros_like(dist[:, 0]), dist[:, 0])
        out_d[start:stop] = dist
        out_i[start:stop] = idx
    return out_d, out_i
