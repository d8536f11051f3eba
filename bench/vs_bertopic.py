"""gputopic vs BERTopic 0.17.4 on the same corpus, the same embeddings and the same
UMAP / HDBSCAN parameters, in the same run (alternating), each fit in a fresh process.

Reports per model: fit time after embedding, stage times (gputopic), NMI and ARI against
the labels (outliers counted as one cluster), topic count, outlier fraction, peak RSS.

    python bench/vs_bertopic.py --corpus 20newsgroups --embeddings emb.npy --seeds 42,0 --out vs.json

Embeddings: a .npy aligned with the corpus's non-empty documents (in file order), or
computed once with the bundled model and cached under bench/.cache.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import corpus  # noqa: E402

WORKER = r"""
import json, resource, sys, time, warnings
warnings.filterwarnings("ignore")
import numpy as np
sys.path.insert(0, {bench!r})
import corpus
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score
which, seed = {which!r}, {seed!r}
docs, labels = corpus.load({corpus!r}, min_words=1)
emb = np.load({emb!r}).astype(np.float32)
t0 = time.perf_counter()
if which == "bertopic":
    from bertopic import BERTopic
    from umap import UMAP
    from hdbscan import HDBSCAN
    from sklearn.feature_extraction.text import CountVectorizer
    t = time.perf_counter()
    model = BERTopic(
        umap_model=UMAP(n_neighbors=15, n_components=5, min_dist=0.0, metric="cosine", low_memory=False, random_state=seed),
        hdbscan_model=HDBSCAN(min_cluster_size=10, metric="euclidean", cluster_selection_method="eom", prediction_data=True),
        vectorizer_model=CountVectorizer(stop_words="english"),
    )
    topics, _ = model.fit_transform(docs, embeddings=emb)
    stages = {{}}
else:
    from gputopic import GPUTopic
    t = time.perf_counter()
    model = GPUTopic(device="cpu", random_state=seed)
    topics, _ = model.fit_transform(docs, embeddings=emb)
    stages = {{k: round(v, 2) for k, v in model.timings_.items()}}
fit_s = time.perf_counter() - t
topics = np.asarray(topics)
print(json.dumps(dict(model=which, seed=seed, fit_s=round(fit_s, 2), stages=stages,
    nmi=round(float(normalized_mutual_info_score(labels, topics)), 4),
    ari=round(float(adjusted_rand_score(labels, topics)), 4),
    topics=int(len(set(topics.tolist())) - (1 if -1 in topics else 0)),
    outliers=round(float((topics == -1).mean()), 4),
    peak_rss_mib=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", default="20newsgroups")
    ap.add_argument("--embeddings", required=True, help=".npy of the corpus's documents with >= 1 word")
    ap.add_argument("--seeds", default="42", help="comma-separated UMAP seeds; 'none' for unseeded runs")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    docs, labels = corpus.load(args.corpus, min_words=1)
    emb = np.load(args.embeddings)
    if emb.shape[0] != len(docs):
        sys.exit(f"{args.embeddings} has {emb.shape[0]} rows, the corpus has {len(docs)} non-empty documents")
    rows = []
    for seed_text in args.seeds.split(","):
        seed = None if seed_text.strip().lower() == "none" else int(seed_text)
        for which in ("bertopic", "gputopic"):
            code = WORKER.format(bench=str(HERE), which=which, seed=seed, corpus=args.corpus, emb=args.embeddings)
            t = time.perf_counter()
            proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
            if proc.returncode != 0:
                sys.exit(f"{which} failed:\n{proc.stderr[-3000:]}")
            row = json.loads(proc.stdout.strip().splitlines()[-1])
            row["process_s"] = round(time.perf_counter() - t, 1)
            rows.append(row)
            print(json.dumps(row), flush=True)
    print("\n| model | seed | fit s | NMI | ARI | topics | outliers | peak RSS MiB |\n|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['model']} | {r['seed']} | {r['fit_s']} | {r['nmi']} | {r['ari']} | {r['topics']} | {r['outliers']} | {r['peak_rss_mib']} |")
    if args.out:
        Path(args.out).write_text(json.dumps({"corpus": args.corpus, "n_docs": len(docs), "runs": rows}, indent=1))


if __name__ == "__main__":
    main()
