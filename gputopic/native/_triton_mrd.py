"""Fused Triton kernel for HDBSCAN's brute-force Boruvka step (see ``hdbscan._brute_best``).

For every query point ``p`` it finds the cheapest mutual-reachability edge
``max(d(p, r), core[p], core[r])`` to a reference ``r`` of another component with
``lb[r] < thresh[p]``, without ever writing the distance matrix: each program keeps a
block of queries in registers, streams the references in tiles and keeps a running
(minimum weight, smallest reference index) per (query, tile column), reduced at the end.

The arithmetic is the one of the torch path in ``_brute_best`` (same operations in the
same order: a per-coordinate loop accumulated from 0, no fused multiply-add, correctly
rounded square root), so both paths give bit-identical weights and, with ties broken by
the smallest reference index, identical targets.

Importing this module imports triton; ``hdbscan`` only does so for CUDA tensors. The
jitted kernel is built on first use, so ``TRITON_INTERPRET=1`` set before that first use
(tests on the CPU) selects Triton's interpreter.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from ._triton_jit import jit

MAX_DIM = 16  # low-dimensional data only: one unrolled loop over the coordinates
_BLOCK_Q = 64
_BLOCK_R = 64
_NUM_WARPS = 4
_INT32_MAX = 2**31 - 1


def _mrd_min(
    qt_ptr, q_core_ptr, q_comp_ptr, q_thr_ptr, m,
    rt_ptr, r_core_ptr, r_comp_ptr, r_lb_ptr, r_idx_ptr, n_ref,
    nscan_ptr, out_w_ptr, out_i_ptr,
    D: tl.constexpr, EUCLID: tl.constexpr, BQ: tl.constexpr, BR: tl.constexpr,
):
    """One program: BQ queries (columns of ``qt``, D x m) against the first ``nscan[pid]``
    references (columns of ``rt``, D x n_ref, sorted by ``lb``)."""
    BIG: tl.constexpr = 2147483647
    pid = tl.program_id(0)
    offs_q = pid * BQ + tl.arange(0, BQ)
    qmask = offs_q < m
    cq = tl.load(q_core_ptr + offs_q, mask=qmask, other=0.0)
    gq = tl.load(q_comp_ptr + offs_q, mask=qmask, other=-1)
    tq = tl.load(q_thr_ptr + offs_q, mask=qmask, other=float("-inf"))  # padding: nothing passes
    n_scan = tl.load(nscan_ptr + pid)
    best_w = tl.full([BQ, BR], float("inf"), tl.float32)
    best_i = tl.full([BQ, BR], BIG, tl.int32)
    for start in range(0, n_scan, BR):
        offs_r = start + tl.arange(0, BR)
        rmask = offs_r < n_scan
        acc = tl.zeros([BQ, BR], tl.float32)
        for k in tl.static_range(D):
            qk = tl.load(qt_ptr + k * m + offs_q, mask=qmask, other=0.0)
            rk = tl.load(rt_ptr + k * n_ref + offs_r, mask=rmask, other=0.0)
            if EUCLID:
                t = qk[:, None] - rk[None, :]
                t = t * t
            else:
                t = qk[:, None] * rk[None, :]
            acc = acc + t
        if EUCLID:
            d = tl.sqrt_rn(acc)
        else:
            d = tl.maximum(1.0 - acc, 0.0)
        cr = tl.load(r_core_ptr + offs_r, mask=rmask, other=0.0)
        gr = tl.load(r_comp_ptr + offs_r, mask=rmask, other=-1)
        lbr = tl.load(r_lb_ptr + offs_r, mask=rmask, other=float("inf"))
        ir = tl.load(r_idx_ptr + offs_r, mask=rmask, other=BIG)
        w = tl.maximum(tl.maximum(d, cq[:, None]), cr[None, :])
        ok = (gq[:, None] != gr[None, :]) & (lbr[None, :] < tq[:, None]) & rmask[None, :]
        w = tl.where(ok, w, float("inf"))
        irb = ir[None, :] + tl.zeros([BQ, BR], tl.int32)
        upd = ok & ((w < best_w) | ((w == best_w) & (irb < best_i)))
        best_w = tl.where(upd, w, best_w)
        best_i = tl.where(upd, irb, best_i)
    wmin = tl.min(best_w, axis=1)
    imin = tl.min(tl.where(best_w == wmin[:, None], best_i, BIG), axis=1)
    imin = tl.where(wmin < float("inf"), imin, -1)
    tl.store(out_w_ptr + offs_q, wmin, mask=qmask)
    tl.store(out_i_ptr + offs_q, imin, mask=qmask)


def _kernel():
    # sizes change from fit to fit: one compiled kernel for all of them (a compile per size
    # class would make the first fit of each new size slow; bench/RESULTS.md)
    return jit(_mrd_min, ("m", "n_ref"))


def supported(Xp: torch.Tensor) -> bool:
    """Whether the kernel handles these data (dimension, 32-bit offsets)."""
    n, dim = Xp.shape
    return 1 <= dim <= MAX_DIM and n * dim < _INT32_MAX and Xp.dtype == torch.float32


def brute_best(Xp, core, comp, lb, q_idx, q_thresh, metric):
    """Cheapest edge from each ``q_idx`` point to a point ``r`` of another component with
    ``lb[r] < q_thresh``: (weights float32, targets int64, -1 and inf where none)."""
    dev = Xp.device
    n, dim = Xp.shape
    m = q_idx.shape[0]
    best_w = torch.full((m,), float("inf"), dtype=torch.float32, device=dev)
    best_t = torch.full((m,), -1, dtype=torch.int64, device=dev)
    if m == 0 or n == 0:
        return best_w, best_t
    # queries sorted by threshold, references by lb: each block scans a prefix of the refs
    order = torch.argsort(q_thresh, stable=True)
    qi = q_idx[order]
    q_thr = q_thresh[order].float().contiguous()
    lb_s, perm = torch.sort(lb.float(), stable=True)
    n_ref = int(torch.searchsorted(lb_s, q_thr[-1:]).item())  # refs any query can use
    out_w = torch.empty(m, dtype=torch.float32, device=dev)
    out_i = torch.empty(m, dtype=torch.int32, device=dev)
    if n_ref == 0:
        return best_w, best_t
    perm = perm[:n_ref]
    rt = Xp[perm].t().contiguous()
    r_core = core[perm].float().contiguous()
    r_comp = comp[perm].to(torch.int32).contiguous()
    r_lb = lb_s[:n_ref].contiguous()
    r_idx = perm.to(torch.int32).contiguous()
    qt = Xp[qi].t().contiguous()
    q_core = core[qi].float().contiguous()
    q_comp = comp[qi].to(torch.int32).contiguous()
    n_blk = triton.cdiv(m, _BLOCK_Q)
    last = (torch.arange(n_blk, device=dev) * _BLOCK_Q + (_BLOCK_Q - 1)).clamp_(max=m - 1)
    nscan = torch.searchsorted(r_lb, q_thr[last]).to(torch.int32).contiguous()
    _kernel()[(n_blk,)](
        qt, q_core, q_comp, q_thr, m,
        rt, r_core, r_comp, r_lb, r_idx, n_ref,
        nscan, out_w, out_i,
        D=dim, EUCLID=metric == "euclidean", BQ=_BLOCK_Q, BR=_BLOCK_R,
        num_warps=_NUM_WARPS, enable_fp_fusion=False,
    )
    best_w[order] = out_w
    best_t[order] = out_i.long()
    return best_w, best_t
