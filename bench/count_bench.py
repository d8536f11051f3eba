"""Term counting: scikit-learn (one process) vs the joblib chunk path vs the Arrow path.

    python bench/count_bench.py --n 50000 [--jobs 0] [--repeat 1] [--out bench/results/count_50k.json]
    python bench/count_bench.py --source health_news_tweets --n 0 --pattern default   # the whole corpus

All three count ``N`` documents resampled from 20 Newsgroups (``bench/corpus.py``; ``--n 0``:
every document of ``--source`` as stored, none dropped) with ``CountVectorizer(stop_words="english")``
(``--pattern sklearn``, its own token pattern) or gputopic's default vectorizer (``--pattern
default``) after ``clean``, and must give the same matrix and vocabulary (checked, reported as
``equal``). Times are the best of ``--repeat`` runs and include cleaning. ``--jobs`` 0 uses every
core this process may run on. Each case also reports the growth of the process's peak RSS
while it ran (``peak_rss_growth_mib``: VmHWM after the case minus the RSS before it, the peak
reset through ``/proc/self/clear_refs`` first; Linux only, else null). Prints and writes JSON.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))


def _status_mib(key: str) -> float | None:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def _reset_peak() -> float | None:
    """Reset the process's peak RSS (VmHWM) to its current RSS; that RSS in MiB (None: not Linux)."""
    import gc

    gc.collect()
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        return None
    return _status_mib("VmRSS")


def _best(fn, repeat: int):
    best, out, growth = float("inf"), None, None
    for _ in range(repeat):
        out = None
        before = _reset_peak()
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
        peak = _status_mib("VmHWM")
        if before is not None and peak is not None:
            growth = max(growth or 0.0, peak - before)
    return best, out, growth


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=50_000)
    ap.add_argument("--source", default="20newsgroups")
    ap.add_argument("--jobs", type=int, default=0, help="workers for the parallel and Arrow paths (0: all cores)")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--pattern", choices=("sklearn", "default"), default="sklearn",
                    help="token pattern: scikit-learn's own, or gputopic's default vectorizer's")
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)

    import numpy as np
    import pyarrow
    import sklearn

    import corpus
    from gputopic import vectorize as vz

    docs = corpus.load(args.source, min_words=0)[0] if args.n == 0 else \
        corpus.resample(*corpus.load(args.source), args.n)[0]
    args.n = len(docs)
    pattern = {"sklearn": vz.SKLEARN_TOKEN_PATTERN, "default": vz.DEFAULT_TOKEN_PATTERN}[args.pattern]

    def CountVectorizer(**kw):  # noqa: N802 - the vectorizer under test, with --pattern's tokens
        from sklearn.feature_extraction.text import CountVectorizer as CV

        return CV(token_pattern=pattern, **kw)
    jobs = vz._jobs(args.jobs or None)
    n_words = sum(len(d.split()) for d in docs)

    runs = {}

    def sklearn_one():
        vec = CountVectorizer(stop_words="english")
        return vec, vec.fit_transform(vz.clean(docs)).tocsr()

    def parallel():
        vec = CountVectorizer(stop_words="english")
        return vec, vz._parallel_fit_transform(vec, docs, jobs)

    def arrow(j):
        def run():
            vec = CountVectorizer(stop_words="english")
            assert vz._arrow_ok(vec, docs)
            return vec, vz._arrow_fit_transform(vec, docs, j)
        return run

    cases = {"sklearn_1proc": sklearn_one, f"parallel_joblib_{jobs}proc": parallel, "arrow_1thread": arrow(1)}
    if jobs > 1:
        cases[f"arrow_{jobs}threads"] = arrow(jobs)
    ref_vec, ref = None, None
    for name, fn in cases.items():
        seconds, (vec, X), growth = _best(fn, args.repeat)
        if ref is None:
            ref_vec, ref = vec, X
        equal = (X.shape == ref.shape and X.dtype == ref.dtype and (X != ref).nnz == 0
                 and vec.vocabulary_ == ref_vec.vocabulary_)
        runs[name] = {"seconds": round(seconds, 3), "docs_per_s": round(args.n / seconds),
                      "speedup_vs_sklearn": None, "equal_to_sklearn": bool(equal),
                      "peak_rss_growth_mib": None if growth is None else round(growth)}
        print(f"{name}: {seconds:.2f} s, equal={equal}, peak RSS +{growth} MiB", file=sys.stderr, flush=True)
        del vec, X
    base = runs["sklearn_1proc"]["seconds"]
    for r in runs.values():
        r["speedup_vs_sklearn"] = round(base / r["seconds"], 2)

    import resource

    result = {
        "bench": "count", "source": args.source, "pattern": args.pattern, "n_docs": args.n, "words_per_doc": round(n_words / args.n, 1),
        "n_terms": int(ref.shape[1]), "nnz": int(ref.nnz), "jobs": jobs, "repeat": args.repeat,
        "runs": runs, "all_equal": all(r["equal_to_sklearn"] for r in runs.values()),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "machine": {"cpus": os.cpu_count(), "usable_cpus": len(os.sched_getaffinity(0)),
                    "platform": platform.platform(), "python": platform.python_version()},
        "versions": {"numpy": np.__version__, "pyarrow": pyarrow.__version__, "sklearn": sklearn.__version__},
    }
    from corpus import emit

    emit(result, args.out, indent=2)
    return result


if __name__ == "__main__":
    main()
