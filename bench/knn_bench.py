"""Times the exact-kNN top-k strategies of gputopic.native.knn and checks they agree.

For each dimension in ``dims`` (384: random unit vectors, cosine; 5: random normal,
euclidean, as HDBSCAN on the UMAP embedding) ``n_queries`` query rows (the first rows of
the data, so each finds itself) are searched among ``n`` rows with every strategy.
Reported per strategy: seconds (``torch.cuda.synchronize`` around), the projection to a
full ``n x n`` self-kNN, peak device memory, fp16 rows redone in fp32, agreement of the
indices with ``"full"`` (same position, and same set) and the set agreement with an
independent reference on the first ``n_ref`` queries (cosine: float64 GEMM; euclidean:
fp32 from coordinate differences). A strategy written ``name@bytes`` runs with that
``memory_budget`` (HDBSCAN passes 1 GiB on CUDA); ``name!big`` lifts the
MAX_TILE_ELEMENTS cap (wider tiles). The time budget is shared between the
dimensions; strategies not reached are listed as skipped.

    python bench/knn_bench.py                                   # CUDA, 1M x 100k queries
    python bench/knn_bench.py --device cpu --n 20000 --n-queries 2000
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import gputopic.native.knn  # noqa: E402,F401  (the package attribute is the function)

K = sys.modules["gputopic.native.knn"]

HDBSCAN_BUDGET = 1 << 30

STRATEGIES_COSINE = [
    "full", "auto", "fp16_blockmax", "fp16_blockmax:32", "fp16_blockmax:64", "blockmax", "blockmax:32",
    "fp16", "fp16_chunked", "fp16_chunked:1024", "chunked", "chunked:1024", "chunked:16384", "fp16_blockmax:8", "fp16_blockmax!big", "blockmax!big",
]
STRATEGIES_EUCLIDEAN = [
    "full", "auto", "blockmax", "blockmax:32", "blockmax:64", "blockmax:8", "fp16", "chunked",
    "chunked:1024", "chunked:16384", f"full@{HDBSCAN_BUDGET}", f"blockmax@{HDBSCAN_BUDGET}",
    f"blockmax:32@{HDBSCAN_BUDGET}", "blockmax!big",
]


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _data(n: int, d: int, metric: str, device: torch.device, seed: int) -> torch.Tensor:
    g = torch.Generator(device=device).manual_seed(seed)
    X = torch.randn(n, d, generator=g, device=device)
    return torch.nn.functional.normalize(X, dim=1) if metric == "cosine" else X


def _reference(X: torch.Tensor, Q: torch.Tensor, k: int, metric: str) -> torch.Tensor:
    """Independent exact indices: cosine by float64 GEMMs, euclidean from differences."""
    out = []
    if metric == "cosine":
        Xn = torch.nn.functional.normalize(X.double(), dim=1)
        Qn = torch.nn.functional.normalize(Q.double(), dim=1)
        step = max(1, (1 << 29) // (8 * X.shape[0]))
        for s in range(0, Q.shape[0], step):
            out.append(torch.topk(Qn[s : s + step] @ Xn.T, k, dim=1).indices)
    else:
        step = max(1, (1 << 29) // (4 * X.shape[0] * X.shape[1]))
        for s in range(0, Q.shape[0], step):
            d2 = ((Q[s : s + step, None, :] - X[None, :, :]) ** 2).sum(-1)
            out.append(torch.topk(d2, k, dim=1, largest=False).indices)
    return torch.cat(out)


def _set_agreement(a: torch.Tensor, b: torch.Tensor) -> float:
    """Mean fraction of b's neighbours (per row) that a also returns."""
    a = torch.sort(a, 1).values
    hits = torch.zeros(b.shape[0], device=a.device)
    for j in range(b.shape[1]):
        pos = torch.searchsorted(a, b[:, j : j + 1].contiguous()).clamp_(max=a.shape[1] - 1)
        hits += (a.gather(1, pos) == b[:, j : j + 1]).squeeze(1).float()
    return float((hits / b.shape[1]).mean())


def _call(X, Q, k, metric, spec):
    """``spec``: a strategy, optionally ``@<memory_budget bytes>`` and/or ``!big`` (no
    MAX_TILE_ELEMENTS cap on the tiles)."""
    spec, big, _ = spec.partition("!big")
    name, _, budget = spec.partition("@")
    saved = K.MAX_TILE_ELEMENTS
    if big:
        K.MAX_TILE_ELEMENTS = 1 << 62
    try:
        return K.knn(X, k, metric, queries=Q, strategy=name, memory_budget=int(budget) if budget else None)
    finally:
        K.MAX_TILE_ELEMENTS = saved


def run(device="cuda", n=1_000_000, dims=(384, 5), n_queries=100_000, k=16, seconds_budget=60,
        strategies=None, n_ref=1000, seed=0) -> dict:
    """Time each strategy; see the module docstring. ``strategies``: a list used for every
    dimension, or a dict ``{dim: list}``; default: the lists above."""
    t_start = time.perf_counter()
    device = torch.device(device)
    n_queries = min(n_queries, n)
    res: dict = {
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "n": n, "n_queries": n_queries, "k": k, "seconds_budget": seconds_budget,
        "auto_table": {f"{a}/{b}": v for (a, b), v in K.AUTO.items()},
        "CHUNK": K.CHUNK, "BLOCK": K.BLOCK, "FP16_MARGIN": K.FP16_MARGIN,
        "MAX_TILE_ELEMENTS": K.MAX_TILE_ELEMENTS,
        "dims": {},
    }
    deadline = t_start + seconds_budget
    dims = list(dims)
    for di, d in enumerate(dims):
        metric = "cosine" if d > 16 else "euclidean"
        if isinstance(strategies, dict):
            specs = list(strategies.get(d, []))
        elif strategies is not None:
            specs = list(strategies)
        else:
            specs = STRATEGIES_COSINE if metric == "cosine" else STRATEGIES_EUCLIDEAN
        if "full" in specs:  # the reference goes first
            specs = ["full"] + [s for s in specs if s != "full"]
        # this dimension's share of the remaining time
        dim_deadline = time.perf_counter() + (deadline - time.perf_counter()) / (len(dims) - di)
        entry: dict = {"metric": metric, "auto": K._parse_strategy("auto", device, metric)[0],
                       "strategies": {}, "skipped": []}
        res["dims"][str(d)] = entry
        try:
            X = _data(n, d, metric, device, seed + d)
            Q = X[:n_queries]
            # warm-up: every strategy once on a small input
            t0 = time.perf_counter()
            Xs = X[: min(n, 20000)]
            for spec in specs:
                _call(Xs, Xs[: min(1000, len(Xs))], min(k, len(Xs)), metric, spec)
            _sync(device)
            entry["warmup_s"] = round(time.perf_counter() - t0, 3)
            t0 = time.perf_counter()
            ref = _reference(X, Q[:n_ref], k, metric)
            _sync(device)
            entry["reference_s"] = round(time.perf_counter() - t0, 3)
        except Exception as e:  # pragma: no cover - recorded, the rest goes on
            entry["error"] = repr(e)
            continue
        full_idx = None
        for spec in specs:
            if time.perf_counter() >= dim_deadline:
                entry["skipped"].append(spec)
                continue
            r: dict = {}
            try:
                if device.type == "cuda":
                    torch.cuda.empty_cache()
                    torch.cuda.reset_peak_memory_stats(device)
                _sync(device)
                t0 = time.perf_counter()
                dist, idx = _call(X, Q, k, metric, spec)
                _sync(device)
                dt = time.perf_counter() - t0
                r["seconds"] = round(dt, 4)
                r["projected_self_knn_s"] = round(dt * n / n_queries, 2)
                if device.type == "cuda":
                    r["peak_mem_gib"] = round(torch.cuda.max_memory_allocated(device) / 2**30, 2)
                if spec.startswith("fp16") and metric == "cosine":
                    r["fp16_rows_redone"] = int(K.knn.last_fp16_redo)
                if full_idx is None and spec == "full":
                    full_idx = idx
                if full_idx is not None:
                    r["same_index_as_full"] = round(float((idx == full_idx).float().mean()), 6)
                    r["same_set_as_full"] = round(_set_agreement(idx, full_idx), 6)
                r["same_set_as_reference"] = round(_set_agreement(idx[:n_ref], ref), 6)
                r["self_first"] = round(float((idx[:, 0] == torch.arange(n_queries, device=idx.device)).float().mean()), 6)
                del dist, idx
            except Exception as e:  # pragma: no cover - recorded, the rest goes on
                r["error"] = repr(e)[:500]
            entry["strategies"][spec] = r
        ok = {s: v for s, v in entry["strategies"].items()
              if "seconds" in v and v.get("same_set_as_full", 1.0) >= 0.999 and "@" not in s}
        if ok:
            entry["fastest"] = min(ok, key=lambda s: ok[s]["seconds"])
            entry["fastest_s"] = ok[entry["fastest"]]["seconds"]
            if "full" in ok:
                entry["speedup_vs_full"] = round(ok["full"]["seconds"] / max(1e-9, entry["fastest_s"]), 2)
        del X, Q
    res["elapsed_s"] = round(time.perf_counter() - t_start, 2)
    return res


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--dims", default="384,5")
    ap.add_argument("--n-queries", type=int, default=100_000)
    ap.add_argument("-k", type=int, default=16)
    ap.add_argument("--seconds-budget", type=float, default=60)
    ap.add_argument("--strategies", default=None, help="comma-separated; default: per-metric lists")
    ap.add_argument("--n-ref", type=int, default=1000)
    ap.add_argument("--out", default=None, help="also write the JSON here")
    a = ap.parse_args(argv)
    res = run(device=a.device, n=a.n, dims=tuple(int(x) for x in a.dims.split(",")), n_queries=a.n_queries,
              k=a.k, seconds_budget=a.seconds_budget,
              strategies=a.strategies.split(",") if a.strategies else None, n_ref=a.n_ref)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from corpus import emit

    emit(res, a.out)


if __name__ == "__main__":
    main()
