"""Benchmark corpora: the labeled files of ../shared/data, or N synthetic documents of
realistic length resampled from them.

A synthetic document of label L takes a sentence count drawn from the real documents of
L and that many sentences drawn from all sentences of L, so vocabulary, length and topic
structure follow the source while 1M documents exist without any download.

    python bench/corpus.py --source 20newsgroups --n 1000000 --out /tmp/20ng_1m.jsonl.gz
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import time
from pathlib import Path

import numpy as np

DATA_DIR = Path(os.environ.get("GPUTOPIC_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")


def _rows(name: str, min_words: int, limit: int | None):
    """The rows of a corpus in DATA_DIR (``name`` = file stem) or a .jsonl(.gz) path whose
    text has at least ``min_words`` words, at most ``limit`` of them."""
    path = Path(name)
    if not path.exists():
        path = DATA_DIR / f"{name}.jsonl.gz"
    opener = gzip.open if path.suffix == ".gz" else open
    n = 0
    with opener(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            if len(row["text"].split()) >= min_words:
                yield row
                n += 1
                if limit is not None and n >= limit:
                    break


def load(name: str, min_words: int = 5, limit: int | None = None) -> tuple[list[str], list[str]]:
    """Texts and labels of a corpus in DATA_DIR (``name`` = file stem) or a .jsonl(.gz) path."""
    rows = list(_rows(name, min_words, limit))
    return [r["text"] for r in rows], [str(r.get("label", "")) for r in rows]


def load_field(name: str, field: str, min_words: int = 5, limit: int | None = None) -> list:
    """One extra field (e.g. ``date``) of the documents :func:`load` returns, in the same order."""
    return [r.get(field) for r in _rows(name, min_words, limit)]


def resample(docs: list[str], labels: list[str], n: int, seed: int = 0) -> tuple[list[str], list[str]]:
    """``n`` synthetic documents whose labels, lengths and sentences follow ``docs``."""
    rng = np.random.default_rng(seed)
    names = sorted(set(labels))
    pools, lengths = {}, {}
    for name in names:
        members = [d for d, l in zip(docs, labels) if l == name]
        split = [[s.strip() for s in _SENTENCE.split(d) if s.strip()] for d in members]
        pools[name] = np.array([s for doc in split for s in doc], dtype=object)
        lengths[name] = np.array([max(1, len(doc)) for doc in split])
    counts = np.bincount(np.searchsorted(names, labels), minlength=len(names))
    picked = rng.choice(len(names), size=n, p=counts / counts.sum())
    out_docs: list[str] = [""] * n
    out_labels = [names[i] for i in picked]
    for li, name in enumerate(names):
        rows = np.flatnonzero(picked == li)
        if rows.size == 0:
            continue
        k = rng.choice(lengths[name], size=rows.size)
        sent = rng.integers(0, len(pools[name]), size=int(k.sum()))
        bounds = np.concatenate([[0], np.cumsum(k)])
        pool = pools[name]
        for j, r in enumerate(rows.tolist()):
            out_docs[r] = " ".join(pool[sent[bounds[j]:bounds[j + 1]]])
    return out_docs, out_labels


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--source", default="20newsgroups", help="corpus stem in ../shared/data or a .jsonl(.gz) path")
    ap.add_argument("--n", type=int, required=True, help="number of documents to make")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", required=True, help="output .jsonl.gz")
    args = ap.parse_args()
    t = time.perf_counter()
    docs, labels = resample(*load(args.source), args.n, args.seed)
    with gzip.open(args.out, "wt", encoding="utf-8") as fh:
        for d, l in zip(docs, labels):
            fh.write(json.dumps({"text": d, "label": l}) + "\n")
    words = np.mean([len(d.split()) for d in docs[:10000]])
    print(f"{args.n} documents, mean {words:.0f} words, in {time.perf_counter() - t:.1f} s -> {args.out}")


if __name__ == "__main__":
    main()


def emit(result: dict, out: str | None) -> int:
    """Print a bench's result as JSON and write it to ``out`` when given; exit status 0."""
    text = json.dumps(result, indent=1)
    if out:
        Path(out).write_text(text + "\n")
    print(text)
    return 0
