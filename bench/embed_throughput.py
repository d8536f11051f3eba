"""Embedding throughput and padding (issue 16 item 4): padded vs packed batches, fp16 vs bf16.

    python bench/embed_throughput.py --device cuda --model .gpu/model --n 60000 --check-n 10000 \\
        --out /tmp/out/embed_throughput.json                     # GPU (gpu_check.sh scale)
    python bench/embed_throughput.py --device cpu --n 0 --time-n 0 --check-n 1000 \\
        --out bench/results/embed_packed_cpu.json                # CPU: padding and equality only

Documents: the 20 Newsgroups posts (``bench/corpus.py``), resampled to ``--n`` (0: the
posts as stored). For each mode (``padded``: the loop's length-sorted token-budget batches;
``packed``: :mod:`gputopic.packed`, no padding) and each dtype (CUDA: ``--dtypes``; the CPU
runs fp32), the embedding loop (``Embedder.encode``, tokenising included) embeds
``--time-n`` documents after a warm-up on 2,000: docs/s, the padding share of its batches
(``Embedder.last_stats``) and the achieved TFLOP/s, counted from the real tokens: per token
and layer 2 x (4 H^2 + 2 H I) for the linear layers, per document and layer 4 H L^2 for
attention (L its tokens), against the card's dense fp16/bf16 peak where the card is known.
Quality: cosine of each mode's vectors to an fp32 reference (the model's own
``SentenceTransformer.encode`` in fp32, weights cast up from the copy given) on the first
``--check-n`` documents, min and mean. The padding share of other batchings of the same
token lengths (fixed 32 documents in input order; sentence-transformers' length-sorted 32)
is computed from the lengths alone. ``--compile`` adds a packed run with ``torch.compile``.
On the CPU the timings of a loaded machine are not speed figures. JSON with provenance.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

#: dense fp16 / bf16 tensor-core peaks (TFLOP/s, no sparsity), NVIDIA data sheets
PEAK_TFLOPS = {"H100 80GB HBM3": 989.4, "H100 SXM": 989.4, "H100 PCIe": 756.0, "H100 NVL": 835.0,
               "H200": 989.4, "A100": 312.0, "L4": 121.0}


def minilm_flops(lengths: np.ndarray, cfg) -> float:
    """Forward FLOPs of a BERT encoder on documents of ``lengths`` tokens, no padding."""
    h, i, layers = cfg.hidden_size, cfg.intermediate_size, cfg.num_hidden_layers
    tokens = float(lengths.sum())
    linear = 2.0 * (4 * h * h + 2 * h * i) * tokens
    attention = 4.0 * h * float((lengths.astype(np.float64) ** 2).sum())
    return layers * (linear + attention)


def padding_share(lengths: np.ndarray, order: np.ndarray, size: int) -> float:
    """Padding share of fixed-size batches of ``size`` documents taken in ``order``."""
    slots = sum(len(b) * int(lengths[b].max()) for b in np.array_split(order, -(-len(order) // size)))
    return 1 - float(lengths.sum()) / slots


def budget_padding_share(lengths: np.ndarray, chars: np.ndarray, budget_docs: int, max_len: int,
                         chunk: int, token_order: bool = True) -> float:
    """Padding share of the embedding loop's padded batches (``FastTokenizer.batches``):
    documents longest first by characters, in chunks of ``chunk``, each put in token order
    and cut into batches of rows x longest row <= budget_docs x max_len tokens
    (``token_order=False``: left in character order, as before 2026-12-06)."""
    lengths = np.maximum(lengths[np.argsort(-chars, kind="stable")], 1)
    budget, slots = budget_docs * max_len, 0
    for c in range(0, lengths.size, chunk):
        part = np.sort(lengths[c:c + chunk])[::-1] if token_order else lengths[c:c + chunk]
        s = 0
        while s < part.size:
            longest = np.maximum.accumulate(part[s:])
            fits = np.arange(1, longest.size + 1) * longest <= budget
            e = s + max(1, int(np.argmin(fits)) if not fits.all() else longest.size)
            slots += (e - s) * int(longest[e - s - 1])
            s = e
    return 1 - float(lengths.sum()) / slots


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--model", default=None, help="model folder (default: the bundled all-MiniLM-L6-v2)")
    ap.add_argument("--source", default="20newsgroups")
    ap.add_argument("--n", type=int, default=60_000, help="documents (0: the corpus as stored)")
    ap.add_argument("--time-n", type=int, default=None, help="documents timed per run (default --n; 0: no timing)")
    ap.add_argument("--check-n", type=int, default=10_000, help="documents compared to the fp32 reference")
    ap.add_argument("--dtypes", default="float16,bfloat16", help="CUDA weight dtypes")
    ap.add_argument("--modes", default="padded,packed")
    ap.add_argument("--batch-size", type=int, default=None, help="token budget in documents of max_seq_length")
    ap.add_argument("--compile", action="store_true", help="also a packed run under torch.compile (CUDA)")
    ap.add_argument("--budget-s", type=float, default=80.0, help="runs that would start after this are skipped")
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)

    import torch
    from sentence_transformers import SentenceTransformer

    import corpus
    from gputopic.device import get_backend, to_numpy
    from gputopic.embed import FAST_CHUNK_DOCS, default_model_path, load_embedder
    from gputopic.tokenizer import fast_tokenizer

    t0 = time.perf_counter()
    cuda = args.device == "cuda"
    backend = get_backend(args.device)
    docs, labels = corpus.load(args.source, min_words=0)
    if args.n:
        docs = corpus.resample(docs, labels, args.n)[0]
    time_n = len(docs) if args.time_n is None else min(args.time_n, len(docs))
    check = docs[:args.check_n]
    path = args.model or default_model_path()

    def sync():
        if cuda:
            torch.cuda.synchronize()

    ref_model = SentenceTransformer(path, device=args.device, model_kwargs={"dtype": torch.float32})
    cfg = ref_model[0].auto_model.config
    fast = fast_tokenizer(ref_model, docs[:64])
    lengths = fast.pack([d[:16 * ref_model.max_seq_length] for d in docs])[1] if fast else None
    out = {"bench": "embed_throughput", "device": args.device, "args": vars(args), "n_docs": len(docs),
           "card": torch.cuda.get_device_name() if cuda else None, "runs": []}
    if lengths is not None:
        order = np.argsort(-lengths, kind="stable")
        out["tokens"] = int(lengths.sum())
        out["mean_tokens"] = round(float(lengths.mean()), 1)
        out["flops_per_doc_g"] = round(minilm_flops(lengths, cfg) / len(docs) / 1e9, 4)
        out["padding_share_fixed32_input_order"] = round(padding_share(lengths, np.arange(len(docs)), 32), 4)
        out["padding_share_fixed32_length_sorted"] = round(padding_share(lengths, order, 32), 4)
        chars = np.array([len(d) for d in docs])
        for bs in sorted({32, 2048, args.batch_size or 32}):
            for tok, name in ((True, ""), (False, "_char_order")):
                out[f"padding_share_token_budget_{bs}{name}"] = round(
                    budget_padding_share(lengths, chars, bs, ref_model.max_seq_length, FAST_CHUNK_DOCS, tok), 4)
    peak = next((v for k, v in PEAK_TFLOPS.items() if out["card"] and k in out["card"]), None)
    out["card_peak_tflops_dense_16bit"] = peak
    t = time.perf_counter()
    ref = ref_model.encode(check, batch_size=256 if cuda else 32, convert_to_numpy=True)
    sync()
    out["reference_s"] = round(time.perf_counter() - t, 2)
    del ref_model
    if cuda:
        torch.cuda.empty_cache()

    plan = [(m, d, False) for d in (args.dtypes.split(",") if cuda else ["float32"]) for m in args.modes.split(",")]
    if args.compile:
        plan.append(("packed", plan[0][1], True))
    for mode, dtype, compiled in plan:
        row = {"mode": mode, "dtype": dtype, "compile": compiled}
        if time.perf_counter() - t0 > args.budget_s:
            row["skipped"] = "time budget"
            out["runs"].append(row)
            continue
        emb = load_embedder(path, args.device)

        def encode(texts):  # the device loop; on the CPU called directly (encode() would use ST's)
            if cuda:
                return to_numpy(emb.encode(texts, backend, args.batch_size))
            return emb._encode_device(list(texts), args.batch_size or 32, False).numpy()

        emb.set_fast_path(packed=mode == "packed", compile=compiled,
                          dtype=dtype if dtype != "float32" else None)
        try:
            got = encode(check)
            cos = (got * ref).sum(1) / (np.linalg.norm(got, axis=1) * np.linalg.norm(ref, axis=1))
            row.update(cos_min=round(float(cos.min()), 6), cos_mean=round(float(cos.mean()), 6),
                       check_padding_share=round(emb.last_stats["padding"], 4), packed_ran=emb.last_stats["packed"])
            if time_n:
                encode(docs[:2000])  # warm-up (kernels, compile)
                sync()
                if cuda:
                    torch.cuda.reset_peak_memory_stats()
                t = time.perf_counter()
                encode(docs[:time_n])
                sync()
                s = time.perf_counter() - t
                st = emb.last_stats
                flops = minilm_flops(lengths[:time_n], cfg) if lengths is not None else None
                row.update(seconds=round(s, 3), docs_per_s=round(time_n / s), padding_share=round(st["padding"], 4),
                           batches=st["batches"], tokens=st["tokens"], slots=st["slots"],
                           achieved_tflops=round(flops / s / 1e12, 2) if flops else None,
                           torch_peak_gib=round(torch.cuda.max_memory_allocated() / 2**30, 2) if cuda else None)
                if flops and peak:
                    row["share_of_peak"] = round(flops / s / 1e12 / peak, 4)
        except Exception as exc:  # noqa: BLE001 - one failing variant (e.g. compile) must not end the run
            row["error"] = f"{type(exc).__name__}: {exc}"[:400]
        print(row, file=sys.stderr, flush=True)
        out["runs"].append(row)
        del emb
        if cuda:
            torch.cuda.empty_cache()
    out["total_s"] = round(time.perf_counter() - t0, 1)
    from corpus import emit

    return emit(out, args.out, indent=1)


if __name__ == "__main__":
    raise SystemExit(main())
