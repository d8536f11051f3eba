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


PACKAGES = ("gputopic", "numpy", "scipy", "scikit-learn", "pandas", "pyarrow", "torch", "triton", "numba",
            "umap-learn", "hdbscan", "pynndescent", "sentence-transformers", "transformers", "tokenizers",
            "onnxruntime", "cupy-cuda12x", "cupy-cuda13x", "cuml-cu12", "cuml-cu13", "cudf-cu12", "cudf-cu13",
            "dask", "distributed", "dask-cuda", "bertopic", "plotly")


def _git(*args: str) -> str | None:
    import subprocess

    try:
        out = subprocess.run(["git", *args], cwd=Path(__file__).resolve().parent, capture_output=True,
                             text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def _cpu_model() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or None


def _gpus() -> list[str]:
    """Names and memory of the visible NVIDIA GPUs (nvidia-smi), without importing torch."""
    import shutil
    import subprocess

    if shutil.which("nvidia-smi") is None:
        return []
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=name,memory.total,driver_version",
                              "--format=csv,noheader"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return []
    return [line.strip() for line in out.stdout.splitlines() if line.strip()] if out.returncode == 0 else []


def _threads() -> dict:
    """Thread counts that decide a CPU timing: cores this process may use, the thread
    variables, and the pools of the libraries already imported (none is imported here)."""
    import sys

    out = {"cpu_count": os.cpu_count(),
           "affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None}
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS"):
        if os.environ.get(var):
            out[var] = os.environ[var]
    if "torch" in sys.modules:
        out["torch"] = sys.modules["torch"].get_num_threads()
    if "numba" in sys.modules:
        out["numba"] = sys.modules["numba"].get_num_threads()
    try:
        from threadpoolctl import threadpool_info

        out["blas_openmp"] = [{k: p.get(k) for k in ("internal_api", "num_threads")} for p in threadpool_info()]
    except ImportError:
        pass
    return out


def provenance() -> dict:
    """Where a bench result comes from: the git commit (and whether the tree had uncommitted
    changes), the command, the versions of the packages that matter, Python, the CPU and GPU
    models and the thread counts, and the UTC time."""
    import platform
    import sys
    from datetime import datetime, timezone
    from importlib import metadata

    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    if "gputopic" in sys.modules:  # the code that ran, which may not be the installed copy
        versions["gputopic"] = getattr(sys.modules["gputopic"], "__version__", versions.get("gputopic"))
        versions["gputopic_path"] = str(Path(sys.modules["gputopic"].__file__).parent)
    status = _git("status", "--porcelain", "--untracked-files=no")
    return {
        "commit": _git("rev-parse", "HEAD"),
        "dirty": None if status is None else bool(status),
        "command": " ".join([Path(sys.argv[0]).name if sys.argv else "python", *sys.argv[1:]]),
        "utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": versions,
        "cpu": _cpu_model(),
        "gpus": _gpus(),
        "threads": _threads(),
        # other jobs on the machine: a load above the core count slows every timing
        "load_average": [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None,
    }


def emit(result: dict, out: str | os.PathLike | None, *, indent: int = 1) -> int:
    """Print a bench's result as JSON and write it to ``out`` when given, with its
    :func:`provenance` under ``"provenance"`` (kept when the result has one); exit status 0.
    Every bench script writes its JSON through here."""
    result = {**result, "provenance": result.get("provenance") or provenance()}
    text = json.dumps(result, indent=indent, default=str)
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(text + "\n")
    print(text)
    return 0


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
