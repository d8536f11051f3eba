"""Save and load fitted models as JSON + safetensors: no pickle, so loading runs no code.

A saved model is a folder with two files:

* ``gputopic.json``: format version, library versions, parameters, the embedding model's
  identity, every topic (id, size, label, words and scores, representative documents),
  the vocabulary, and the SHA-256 of the tensor file;
* ``gputopic.safetensors``: topic embeddings, the c-TF-IDF matrix (CSR arrays) and its
  idf, the training documents' topics and probabilities.

A loaded model answers the getters and ``transform`` (by cosine similarity to the topic
embeddings: UMAP and HDBSCAN are not saved). Anything missing, corrupted, truncated or
written by a newer format is refused with :class:`ModelFileError`.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from .device import host_sparse, optional_import, to_numpy, versions
from .exceptions import ModelFileError
from .state import FittedState

FORMAT = "gputopic-model"
FORMAT_VERSION = 1
CONFIG = "gputopic.json"
TENSORS = "gputopic.safetensors"
_PLAIN_PARAMS = ("top_n_words", "min_topic_size", "nr_topics", "calculate_probabilities", "device",
                 "batch_size", "random_state", "verbose", "embedding_backend", "seed_topic_list",
                 "zeroshot_topic_list", "zeroshot_min_similarity")
_SLOTS = ("umap_model", "hdbscan_model", "vectorizer_model", "ctfidf_model", "representation_model")


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file's bytes, read in blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _describe(value: Any) -> Any:
    """A JSON value for a parameter: kept as is when plain, described when an object."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):  # seed words, zero-shot names: plain values all the way down
        items = [_describe(v) for v in value]
        if not any(isinstance(i, dict) for i in items):
            return items
    return {"object": f"{type(value).__module__}.{type(value).__qualname__}"}


def save_model(model: Any, state: FittedState, path: Any, embedding_name: str | None = None,
               record_embedding_model: bool = True) -> None:
    """Write ``path``/gputopic.json and gputopic.safetensors. ``embedding_name``: the model
    name or folder that :func:`load_model` should load (instead of the fitted one's);
    ``record_embedding_model=False`` stores none, so loading needs ``embedding_model=``."""
    safetensors_numpy = optional_import("safetensors.numpy", "saving models")
    folder = Path(path)
    if folder.exists() and not folder.is_dir():
        raise ModelFileError(f"{folder} exists and is not a folder: choose another path for save().")
    folder.mkdir(parents=True, exist_ok=True)

    c_host = host_sparse(state.c_tf_idf)
    tensors = {
        "topic_embeddings": np.ascontiguousarray(to_numpy(model.topic_embeddings_), dtype=np.float32),
        "c_tf_idf.data": np.ascontiguousarray(c_host.data, dtype=np.float64),
        "c_tf_idf.indices": np.ascontiguousarray(c_host.indices, dtype=np.int64),
        "c_tf_idf.indptr": np.ascontiguousarray(c_host.indptr, dtype=np.int64),
        "c_tf_idf.shape": np.asarray(c_host.shape, dtype=np.int64),
        "topics": np.ascontiguousarray(to_numpy(model.topics_), dtype=np.int64),
    }
    if model.probabilities_ is not None:
        tensors["probabilities"] = np.ascontiguousarray(to_numpy(model.probabilities_), dtype=np.float32)
    idf = getattr(getattr(model, "ctfidf_model_", None), "idf_", None)
    if idf is not None:  # lets a loaded model weight new text like the topics (outliers, distributions)
        tensors["ctfidf.idf"] = np.ascontiguousarray(to_numpy(idf), dtype=np.float64)
    tmp = folder / (TENSORS + ".tmp")
    safetensors_numpy.save_file(tensors, str(tmp))
    digest = file_sha256(tmp)

    emb = model.embedding_model
    if embedding_name is not None:
        embedding = {"kind": "name", "id": os.fspath(embedding_name)}
    elif not record_embedding_model:
        embedding = {"kind": "none", "id": model.embedding_model_id_}
    elif emb is None:
        embedding = {"kind": "default", "id": model.embedding_model_id_}
    elif isinstance(emb, (str, os.PathLike)):
        embedding = {"kind": "name", "id": os.fspath(emb)}
    else:
        embedding = {"kind": "object", "id": model.embedding_model_id_}
    custom = dict(zip(sorted(model.topic_sizes_), model.custom_labels_ or []))
    config = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "versions": versions(),
        "params": {name: _describe(getattr(model, name)) for name in _PLAIN_PARAMS + _SLOTS},
        "embedding_model": embedding,
        "n_features_in": model.n_features_in_,
        "vocabulary": list(model.vocabulary_),
        "topics": [
            {
                "topic": t,
                "size": model.topic_sizes_[t],
                "label": model.topic_labels_[t],
                **({"custom_label": custom[t]} if custom else {}),
                **({"zeroshot": state.zeroshot_topics[t]} if t in state.zeroshot_topics else {}),
                "words": [[w, s] for w, s in model.topic_representations_[t]],
                **({"aspects": {a: [[w, s] for w, s in words[t]] for a, words in model.topic_aspects_.items()}}
                   if model.topic_aspects_ else {}),
                "representative_docs": model.representative_docs_.get(t, []),
            }
            for t in sorted(model.topic_sizes_)
        ],
        "tensors": {"file": TENSORS, "sha256": digest},
    }
    tmp_json = folder / (CONFIG + ".tmp")
    tmp_json.write_text(json.dumps(config, ensure_ascii=False, indent=1), encoding="utf-8")
    os.replace(tmp, folder / TENSORS)
    os.replace(tmp_json, folder / CONFIG)


def _read_config(folder: Path) -> dict:
    path = folder / CONFIG
    if not folder.is_dir():
        raise ModelFileError(f"{folder} is not a folder saved by GPUTopic.save(): no such directory.")
    if not path.exists():
        raise ModelFileError(f"{path} is missing: {folder} is not a saved gputopic model (or is incomplete).")
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelFileError(f"{path} is not valid JSON (corrupted or truncated): {exc}") from exc
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise ModelFileError(f"{path} is not a gputopic model file (format field missing or wrong).")
    version = config.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ModelFileError(
            f"{path} has format version {version!r}; this gputopic reads up to {FORMAT_VERSION}. "
            "Upgrade gputopic to load it."
        )
    return config


def load_model(path: Any, embedding_model: Any = None) -> tuple[dict, FittedState]:
    """The estimator parameters and the fitted state saved in ``path``."""
    safetensors_numpy = optional_import("safetensors.numpy", "loading models")
    folder = Path(path)
    config = _read_config(folder)
    try:
        tensor_path = folder / config["tensors"]["file"]
        expected = config["tensors"]["sha256"]
        topics_cfg = config["topics"]
        vocab = config["vocabulary"]
        params = config["params"]
        emb_info = config["embedding_model"]
        n_features = int(config["n_features_in"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelFileError(f"{folder / CONFIG} lacks a required field ({exc}): the file is damaged.") from exc
    if tensor_path.name != TENSORS or not tensor_path.exists():
        raise ModelFileError(f"{folder / TENSORS} is missing: the saved model is incomplete.")
    if file_sha256(tensor_path) != expected:
        raise ModelFileError(
            f"{tensor_path} does not match the checksum in {CONFIG}: the file is corrupted or "
            "truncated, or belongs to another save. Save the model again."
        )
    try:
        tensors = safetensors_numpy.load_file(str(tensor_path))
        shape = tuple(int(v) for v in tensors["c_tf_idf.shape"])
        scipy_sparse = optional_import("scipy.sparse")
        c_tf_idf = scipy_sparse.csr_matrix(
            (tensors["c_tf_idf.data"], tensors["c_tf_idf.indices"], tensors["c_tf_idf.indptr"]), shape=shape
        )
        topic_embeddings = tensors["topic_embeddings"]
        topics = tensors["topics"]
    except Exception as exc:  # noqa: BLE001 - any parse failure means a bad file
        raise ModelFileError(f"{tensor_path} could not be read: {exc}") from exc
    if topic_embeddings.shape != (len(topics_cfg), n_features) or shape != (len(topics_cfg), len(vocab)):
        raise ModelFileError(
            f"{folder}: the tensors (topic embeddings {topic_embeddings.shape}, c-TF-IDF {shape}) do not "
            f"match the {len(topics_cfg)} topics and {len(vocab)} terms in {CONFIG}: the files are inconsistent."
        )
    idf = tensors.get("ctfidf.idf")  # optional: older files lack it
    if idf is not None and idf.shape != (len(vocab),):
        raise ModelFileError(f"{folder}: the idf has shape {idf.shape} for {len(vocab)} terms in {CONFIG}: the "
                             "files are inconsistent.")

    kwargs = {k: v for k, v in params.items() if not isinstance(v, dict)}
    if embedding_model is not None:
        kwargs["embedding_model"] = embedding_model
    elif emb_info.get("kind") == "name":
        kwargs["embedding_model"] = emb_info["id"]
    names = sorted({a for t in topics_cfg for a in t.get("aspects", {})})
    custom = [t.get("custom_label") for t in sorted(topics_cfg, key=lambda t: int(t["topic"]))]
    state = FittedState(
        topics=topics, probabilities=tensors.get("probabilities"),
        topic_sizes={int(t["topic"]): int(t["size"]) for t in topics_cfg},
        representations={int(t["topic"]): [(str(w), float(s)) for w, s in t["words"]] for t in topics_cfg},
        labels={int(t["topic"]): str(t["label"]) for t in topics_cfg},
        aspects={a: {int(t["topic"]): [(str(w), float(s)) for w, s in t["aspects"][a]] for t in topics_cfg}
                 for a in names},
        zeroshot_topics={int(t["topic"]): int(t["zeroshot"]) for t in topics_cfg if "zeroshot" in t},
        custom_labels=[str(c) for c in custom] if custom and None not in custom else None,
        representative_docs={int(t["topic"]): list(t["representative_docs"]) for t in topics_cfg},
        topic_embeddings=topic_embeddings, c_tf_idf=c_tf_idf, vocabulary=list(vocab), n_features_in=n_features,
        embedding_model_id=emb_info.get("id"),
        needs_embedding_model=emb_info.get("kind") in ("object", "none") and embedding_model is None,
        # custom sub-models are described in the file, not stored: topic operations ask for them
        unsaved_slots=tuple(k for k in _SLOTS if isinstance(params.get(k), dict)),
        saved_idf=idf,
    )
    return kwargs, state
