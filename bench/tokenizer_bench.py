"""Tokenising speed of the embedding loop's CPU side, each variant against the model's own
``preprocess`` in the same run, with a check that every variant gives the same token ids.

    python bench/tokenizer_bench.py --n 20000 --rounds 3 --out tokenizer.json

Variants (all tokenise the same documents, cut to ``tokenizer_char_cap`` characters, in
chunks of FAST_CHUNK_DOCS on ``--threads`` threads, alternating round by round):
  preprocess   SentenceTransformer.preprocess (transformers' Python wrapper): the peer
  rust         FastTokenizer: the Rust tokenizer called directly, encode_batch with offsets,
               whole texts (gputopic until 2026-11-26)
  rust-cut     encode_batch_fast on a whitespace cut of 6 characters per token
               (until 2026-11-27)
  rust-ascii   + plain ASCII texts lowercased in Python and tokenised without the
               normaliser (same day)
  wordpiece    those ASCII texts tokenised by gputopic.wordpiece (numba) instead of the
               Rust tokenizer (the current default)
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import corpus  # noqa: E402


def variants(model, sample: list[str]) -> dict:
    """name -> function(texts) returning (flat ids, lengths) for the variants above
    (``preprocess`` gives the ids of its padded features, packed the same way)."""
    from gputopic.tokenizer import FastTokenizer, fast_tokenizer

    def preprocess(texts):
        feats = model.preprocess(texts)
        mask = feats["attention_mask"].numpy().astype(bool)
        return feats["input_ids"].numpy()[mask], mask.sum(1)

    out = {"preprocess": preprocess}
    fast = fast_tokenizer(model, sample)
    if fast is None:
        return out
    rust = FastTokenizer(fast.tokenizer, fast.pad_id, fast.type_id, fast.keys, fast.extras)
    rust._encode = fast.tokenizer.encode_batch
    cut = FastTokenizer(fast.tokenizer, fast.pad_id, fast.type_id, fast.keys, fast.extras,
                        max_len=fast.max_len, cut=fast.cut)
    out.update({"rust": rust.pack, "rust-cut": cut.pack})
    if fast.ascii_tokenizer is not None:
        ascii_rust = FastTokenizer(fast.tokenizer, fast.pad_id, fast.type_id, fast.keys, fast.extras,
                                   max_len=fast.max_len, cut=fast.cut, ascii_tokenizer=fast.ascii_tokenizer,
                                   ascii_lower=fast.ascii_lower)
        out["rust-ascii"] = ascii_rust.pack
    if fast.wordpiece is not None:
        out["wordpiece"] = fast.pack
    return out


def measure(fns: dict, texts: list[str], threads: int, chunk: int, rounds: int) -> dict:
    """docs/s of each variant (best of ``rounds``, alternating), and whether its ids equal the
    first variant's."""
    chunks = [texts[s:s + chunk] for s in range(0, len(texts), chunk)]
    times = {name: [] for name in fns}
    packed = {}
    for _ in range(rounds):
        for name, fn in fns.items():
            t = time.perf_counter()
            with ThreadPoolExecutor(threads) as pool:
                parts = list(pool.map(fn, chunks))
            times[name].append(time.perf_counter() - t)
            packed[name] = parts
    first = next(iter(fns))
    same = {name: all(np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
                      for a, b in zip(packed[name], packed[first])) for name in fns}
    return {name: {"docs_s": round(len(texts) / min(ts)), "same_ids_as_" + first: same[name]}
            for name, ts in times.items()}


def rates_by_version(model, texts: list[str], chunk: int) -> dict:
    """bench/gpu_bench.py's figures: docs/s of "old" (``rust``), "prev" (``rust-cut``),
    "ascii" (``rust-ascii``) and "fast" (the current tokenizer) from one thread, the current
    one also from 2 and 4 threads at once, and whether each gives the ids of "old"."""
    fns = variants(model, texts[:64])
    if "rust" not in fns:
        return {"fast_tokenizer": False}
    names = {"rust": "old", "rust-cut": "prev", "rust-ascii": "ascii", "wordpiece": "fast"}
    one = measure({k: fns[k] for k in names if k in fns}, texts, 1, chunk, rounds=1)
    res = {"fast_tokenizer": True, "fast_ascii_path": "rust-ascii" in fns, "fast_wordpiece": "wordpiece" in fns}
    for name, key in names.items():
        if name in one:
            res[f"tokenize_{key}_docs_s"] = one[name]["docs_s"]
            res[f"tokenize_{key}_same_ids"] = one[name]["same_ids_as_rust"]
    current = fns.get("wordpiece") or fns.get("rust-ascii") or fns["rust-cut"]
    for threads in (2, 4):
        got = measure({"fast": current}, texts, threads, chunk, rounds=1)
        res[f"tokenize_fast_{threads}threads_docs_s"] = got["fast"]["docs_s"]
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--source", default="20newsgroups")
    ap.add_argument("--n", type=int, default=20000, help="resampled documents (corpus.resample)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=None, help="default: FAST_TOKENIZER_THREADS")
    ap.add_argument("--model", default=None, help="default: the bundled all-MiniLM-L6-v2")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()

    import gputopic.embed as embed_mod

    docs, labels = corpus.load(args.source)
    docs, _ = corpus.resample(docs, labels, args.n, seed=0)
    model = embed_mod.load_embedder(args.model, "cpu").model
    cap = embed_mod.tokenizer_char_cap(model)
    texts = [d[:cap] for d in docs]
    threads = args.threads or embed_mod.FAST_TOKENIZER_THREADS
    fns = variants(model, texts[:64])
    res = {"n": len(texts), "source": args.source, "threads": threads, "chunk": embed_mod.FAST_CHUNK_DOCS,
           "rounds": args.rounds, "cpu_count": os.cpu_count(), "machine": platform.processor() or platform.machine(),
           "ascii_share": round(float(np.mean([t.isascii() for t in texts])), 4),
           "variants": measure(fns, texts, threads, embed_mod.FAST_CHUNK_DOCS, args.rounds)}
    peer = res["variants"]["preprocess"]["docs_s"]
    for v in res["variants"].values():
        v["vs_preprocess"] = round(v["docs_s"] / peer, 2)
    corpus.emit(res, args.out)


if __name__ == "__main__":
    main()
