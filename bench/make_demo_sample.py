"""Rebuild the bundled demo sample ``gputopic/data/demo_20newsgroups.jsonl.gz``.

A deterministic, stratified sample of 20 Newsgroups: from the documents with at least
20 words (``len(text.split()) >= 20``), 100 per newsgroup, 2,000 in all, drawn with
``numpy.random.default_rng(0)``; the rows are then shuffled with the same generator so
that any prefix of the file mixes the newsgroups. Each row keeps ``text``, ``label`` and
``doc_id``. The file is gzip with ``mtime=0``, so a rebuild is byte-identical.

Usage (from the repository root)::

    python bench/make_demo_sample.py [--source ../shared/data/20newsgroups.jsonl.gz]
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
from collections import defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SOURCE = ROOT.parent / "shared" / "data" / "20newsgroups.jsonl.gz"
DEFAULT_OUT = ROOT / "gputopic" / "data" / "demo_20newsgroups.jsonl.gz"
PER_LABEL = 100
MIN_WORDS = 20
SEED = 0
FIELDS = ("text", "label", "doc_id")


def sample_rows(source: Path, per_label: int = PER_LABEL, min_words: int = MIN_WORDS,
                seed: int = SEED) -> list[dict]:
    by_label: dict[str, list[dict]] = defaultdict(list)
    with gzip.open(source, "rt", encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            if len(row["text"].split()) >= min_words:
                by_label[row["label"]].append({k: row[k] for k in FIELDS})
    rng = np.random.default_rng(seed)
    rows: list[dict] = []
    for label in sorted(by_label):
        group = by_label[label]
        if len(group) < per_label:
            raise SystemExit(f"label {label!r} has only {len(group)} documents with >= {min_words} words")
        keep = np.sort(rng.choice(len(group), size=per_label, replace=False))
        rows.extend(group[i] for i in keep)
    order = rng.permutation(len(rows))
    return [rows[i] for i in order]


def write_jsonl_gz(rows: list[dict], out: Path) -> bytes:
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, compresslevel=9, mtime=0) as gz:
        for row in rows:
            gz.write((json.dumps(row, ensure_ascii=False) + "\n").encode("utf-8"))
    data = buf.getvalue()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(data)
    return data


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE, help="20newsgroups.jsonl.gz")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    rows = sample_rows(args.source)
    data = write_jsonl_gz(rows, args.out)
    labels = {r["label"] for r in rows}
    print(json.dumps({
        "out": str(args.out), "docs": len(rows), "labels": len(labels), "bytes": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
    }))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
