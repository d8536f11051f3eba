"""Save and load fitted models as JSON + safetensors: no pickle, so loading runs no code.

A saved model is a folder with two files:

* ``gputopic.json``: format version, library versions, parameters, the embedding model's
  identity, every topic (id, size, label, words and scores, representative documents),
  the vocabulary, and the name and SHA-256 of the tensor file;
* ``gputopic-<first 16 hex digits of its SHA-256>.safetensors``: topic embeddings, the
  c-TF-IDF matrix (CSR arrays) and its idf, the training documents' topics and
  probabilities. (Format 1 called it ``gputopic.safetensors``; both load.)

A loaded model answers the getters and ``transform`` (by cosine similarity to the topic
embeddings: UMAP and HDBSCAN are not saved).

**Loading treats the folder as untrusted input** (docs/security.md). :func:`read_saved`
reads both files as regular files only (no symlinks, FIFOs or devices), each under a size
cap, with one bounded read; checks the JSON's nesting depth before parsing it; validates
every field against the format's schema (types, ranges, unknown keys refused); checks
the tensor file's name and SHA-256; and cross-checks every tensor (dtype, shape, finite
values, the CSR structure and its index ranges) against the topic table before any SciPy
object is built. Every failure is a :class:`ModelFileError` naming the field.

**Saving is atomic.** The tensor file's name carries its checksum, so a new save never
overwrites the tensors the current ``gputopic.json`` points to: the new tensors are written
to a temporary file and renamed to their own name, then the new JSON is written to a
temporary file and renamed over ``gputopic.json`` (the one commit point), then the old
tensor file is removed. A crash at any point leaves the old model or the new one loadable;
a failed save removes its temporary files, and the next save removes those of a killed one.
Temporary files are created exclusively (``O_EXCL``, ``O_NOFOLLOW``) with mode 0666 less
the process umask, like the final files. Concurrent saves into one folder are serialised
with an advisory lock on the folder (POSIX).
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import math
import os
import re
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .device import host_sparse, optional_import, to_numpy, versions
from .exceptions import ModelFileError, ModelSaveError
from .state import FittedState

logger = logging.getLogger("gputopic")

FORMAT = "gputopic-model"
FORMAT_VERSION = 2
CONFIG = "gputopic.json"
TENSORS = "gputopic.safetensors"  # format 1's tensor file name
# Size caps for load (and save, so that it never writes what load refuses). JSON: the
# vocabulary and each topic's representative documents (whole documents) make it large; 1 GiB
# of JSON parses into several GiB of Python objects, beyond any model this library fits.
# Tensors: read into memory at once; 16 GiB holds e.g. probabilities for 4M documents x
# 1,000 topics. Raise these module attributes to load larger models you trust.
MAX_JSON_BYTES = 1 << 30
MAX_TENSOR_BYTES = 16 << 30
MAX_JSON_DEPTH = 16  # the format nests 6 deep; depth is checked before the JSON is parsed

_JSON_SPECIAL = np.zeros(256, dtype=bool)
_JSON_SPECIAL[[0x22, 0x5C, 0x5B, 0x5D, 0x7B, 0x7D]] = True
_JSON_STEP = np.zeros(256, dtype=np.int64)
_JSON_STEP[[0x5B, 0x7B]], _JSON_STEP[[0x5D, 0x7D]] = 1, -1
_TENSOR_NAME = re.compile(r"gputopic-[0-9a-f]{16}\.safetensors")
_TMP_PREFIX = ".gputopic-save-"
_TMP_NAME = re.compile(r"\.gputopic-save-[0-9a-f]{16}\.tmp|gputopic\.(json|safetensors)\.tmp")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_SLOT_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_INT_MAX = 2**62
_DIR_FD = os.open in os.supports_dir_fd and os.rename in os.supports_dir_fd  # os.replace is renameat too
_DEVICES = ("auto", "cpu", "cuda")
_EMBEDDING_BACKENDS = ("auto", "torch", "onnx-int8")
_PLAIN_PARAMS = ("top_n_words", "min_topic_size", "nr_topics", "calculate_probabilities", "device",
                 "batch_size", "random_state", "verbose", "embedding_backend", "seed_topic_list",
                 "zeroshot_topic_list", "zeroshot_min_similarity")
_SLOTS = ("umap_model", "hdbscan_model", "vectorizer_model", "ctfidf_model", "representation_model")
_EMBEDDING_KINDS = ("name", "default", "none", "object")
# tensor name -> (dtype, required)
_TENSOR_SPEC = {
    "topic_embeddings": (np.float32, True), "c_tf_idf.data": (np.float64, True),
    "c_tf_idf.indices": (np.int64, True), "c_tf_idf.indptr": (np.int64, True),
    "c_tf_idf.shape": (np.int64, True), "topics": (np.int64, True),
    "probabilities": (np.float32, False), "ctfidf.idf": (np.float64, False),
}
_HINT = "the file is damaged or was altered; save the model again from the fitted model"


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file's bytes, read in blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# =================================================================== the validated model


@dataclass(frozen=True)
class SavedModel:
    """Everything a saved model holds, validated: plain Python and NumPy values (and the
    c-TF-IDF as a SciPy CSR matrix). Topic-keyed dicts hold every topic of ``sizes``."""

    params: dict  # constructor arguments restored from the file
    unsaved_slots: tuple  # sub-model slots that held custom objects (described, not stored)
    embedding_kind: str  # "name" | "default" | "none" | "object"
    embedding_id: str | None
    n_features: int
    vocabulary: list
    sizes: dict
    labels: dict
    custom_labels: list | None
    zeroshot: dict
    words: dict
    aspects: dict
    representative_docs: dict
    topic_embeddings: np.ndarray
    c_tf_idf: Any
    topics: np.ndarray
    probabilities: np.ndarray | None
    idf: np.ndarray | None


def _bad(source: Any, detail: str) -> ModelFileError:
    return ModelFileError(f"{source}: {detail}; {_HINT}.")


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, (bool, int, float)):
        return f"{type(value).__name__} {value!r:.40}"
    if isinstance(value, str):
        return f"string {value!r:.40}"
    return {dict: "an object", list: "a list"}.get(type(value), type(value).__name__)


# ------------------------------------------------------------- typed JSON fields


class _Check:
    """Typed reads of a parsed JSON value; every error names the file and the field."""

    def __init__(self, source: Any):
        self.source = source

    def fail(self, where: str, want: str, value: Any) -> ModelFileError:
        return _bad(self.source, f"{where} must be {want}, got {_kind(value)}")

    def obj(self, value: Any, where: str, required: tuple, optional: tuple = ()) -> dict:
        if not isinstance(value, dict):
            raise self.fail(where, "an object", value)
        missing = [k for k in required if k not in value]
        if missing:
            raise _bad(self.source, f"{where} lacks the field {missing[0]!r}")
        unknown = sorted(k for k in value if k not in required and k not in optional)
        if unknown:
            raise _bad(self.source, f"{where} holds the unknown field {unknown[0]!r:.60}, which gputopic never writes")
        return value

    def list(self, value: Any, where: str, min_len: int = 0) -> list:
        if not isinstance(value, list) or len(value) < min_len:
            raise self.fail(where, "a list" + (f" of at least {min_len} items" if min_len else ""), value)
        return value

    def int(self, value: Any, where: str, low: int, high: int = _INT_MAX) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise self.fail(where, f"an integer in [{low}, {high}]", value)
        return value

    def num(self, value: Any, where: str, low: float = -math.inf, high: float = math.inf) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                or not low <= value <= high:
            rng = "a finite number" if math.isinf(low) else f"a number in [{low}, {high}]"
            raise self.fail(where, rng, value)
        return float(value)

    def bool(self, value: Any, where: str) -> bool:
        if not isinstance(value, bool):
            raise self.fail(where, "true or false", value)
        return value

    def str(self, value: Any, where: str, non_empty: bool = False) -> str:
        if not isinstance(value, str) or (non_empty and not value.strip()) or "\x00" in value:
            raise self.fail(where, "a non-empty string" if non_empty else "a string", value)
        return value

    def strs(self, value: Any, where: str, min_len: int = 0, non_empty: bool = False) -> list:
        items = self.list(value, where, min_len)
        for i, s in enumerate(items):
            self.str(s, f"{where}[{i}]", non_empty)
        return list(items)

    def words(self, value: Any, where: str) -> list:
        out = []
        for i, pair in enumerate(self.list(value, where)):
            if not isinstance(pair, list) or len(pair) != 2:
                raise self.fail(f"{where}[{i}]", "a [word, score] pair", pair)
            out.append((self.str(pair[0], f"{where}[{i}][0]"), self.num(pair[1], f"{where}[{i}][1]")))
        return out


def _check_param(c: _Check, name: str, value: Any) -> Any:
    """A plain parameter's value as the constructor takes it (the format's types and ranges)."""
    where = f"params.{name}"
    if name in ("top_n_words", "min_topic_size"):
        return c.int(value, where, 1 if name == "top_n_words" else 2)
    if name in ("batch_size", "random_state"):
        return None if value is None else c.int(value, where, 1 if name == "batch_size" else 0)
    if name == "nr_topics":
        return value if value is None or value == "auto" else c.int(value, where + " (or null or 'auto')", 1)
    if name in ("calculate_probabilities", "verbose"):
        return c.bool(value, where)
    if name == "device":
        if not isinstance(value, str) or value.lower() not in _DEVICES:
            raise c.fail(where, f"one of {list(_DEVICES)}", value)
        return value
    if name == "embedding_backend":
        if value not in _EMBEDDING_BACKENDS:
            raise c.fail(where, f"one of {list(_EMBEDDING_BACKENDS)}", value)
        return value
    if name == "zeroshot_min_similarity":
        return c.num(value, where, -1.0, 1.0)
    if name == "seed_topic_list":
        if value is None:
            return None
        return [c.strs(t, f"{where}[{i}]", 1, non_empty=True) for i, t in enumerate(c.list(value, where, 1))]
    if name == "zeroshot_topic_list":
        if value is None:
            return None
        names = c.strs(value, where, 1, non_empty=True)
        if len(set(names)) != len(names):
            raise _bad(c.source, f"{where} names a topic more than once")
        return names
    raise AssertionError(name)  # pragma: no cover - _PLAIN_PARAMS and this function agree


def _check_params(c: _Check, raw: Any) -> tuple[dict, tuple]:
    """Constructor arguments from ``params``: only the names save() writes, each type-checked.
    A key save() never writes (``client``, ``embedding_cache_dir``, ...) is refused: loading
    must not point the model at a Dask cluster or make it write embeddings anywhere."""
    c.obj(raw, "params", (), _PLAIN_PARAMS + _SLOTS)
    kwargs, unsaved = {}, []
    for name, value in raw.items():
        if isinstance(value, dict):  # an object, described by its class name, not stored
            c.obj(value, f"params.{name}", ("object",))
            c.str(value["object"], f"params.{name}.object", non_empty=True)
            if name in _SLOTS:
                unsaved.append(name)
            else:
                logger.warning("%s: params.%s was a %s, which is not saved: the loaded model uses the default.",
                               c.source, name, value["object"])
        elif name in _SLOTS:
            if value is not None and not (isinstance(value, str) and _SLOT_NAME.fullmatch(value)):
                raise c.fail(f"params.{name}", "null, a backend name or {\"object\": class name}", value)
            kwargs[name] = value
        else:
            kwargs[name] = _check_param(c, name, value)
    return kwargs, tuple(k for k in _SLOTS if k in unsaved)


def _check_config(config: Any, source: Any) -> dict:
    """The parsed JSON, checked against the format's schema, as plain values."""
    c = _Check(source)
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise ModelFileError(f"{source} is not a gputopic model file (format field missing or wrong).")
    version = config.get("format_version")
    if isinstance(version, int) and not isinstance(version, bool) and version > FORMAT_VERSION:
        raise ModelFileError(f"{source} has format version {version!r}; this gputopic reads up to {FORMAT_VERSION}. "
                             "Upgrade gputopic to load it.")
    c.int(version, "format_version", 1, FORMAT_VERSION)
    c.obj(config, "the file", ("format", "format_version", "versions", "params", "embedding_model", "n_features_in",
                               "vocabulary", "topics", "tensors"), ("sizes",))
    for k, v in c.obj(config["versions"], "versions", (), tuple(config["versions"]) if isinstance(
            config["versions"], dict) else ()).items():
        c.str(v, f"versions.{k:.40}")
    params, unsaved = _check_params(c, config["params"])
    emb = c.obj(config["embedding_model"], "embedding_model", ("kind", "id"))
    if emb["kind"] not in _EMBEDDING_KINDS:
        raise c.fail("embedding_model.kind", f"one of {list(_EMBEDDING_KINDS)}", emb["kind"])
    if emb["kind"] == "name" or emb["id"] is not None:
        c.str(emb["id"], "embedding_model.id", non_empty=emb["kind"] == "name")
    n_features = c.int(config["n_features_in"], "n_features_in", 1, 1 << 20)
    vocab = c.strs(config["vocabulary"], "vocabulary")
    if len(set(vocab)) != len(vocab):
        raise _bad(source, "vocabulary lists a term more than once")
    tensors = c.obj(config["tensors"], "tensors", ("file", "sha256"))
    digest = c.str(tensors["sha256"], "tensors.sha256")
    if not _SHA256.fullmatch(digest):
        raise c.fail("tensors.sha256", "64 lowercase hex digits", digest)
    expected = TENSORS if version == 1 else f"gputopic-{digest[:16]}.safetensors"
    if tensors["file"] != expected:  # never a path: no "../x", no absolute name, no other file
        raise c.fail("tensors.file", f"{expected!r} (the name save() gives it)", tensors["file"])
    sizes_mode = config.get("sizes", "batches")  # format 1: sizes may count every partial_fit batch
    if sizes_mode not in ("documents", "batches") or (version > 1 and "sizes" not in config):
        raise c.fail("sizes", "'documents' or 'batches'", sizes_mode)

    table = c.list(config["topics"], "topics", 1)
    out = dict(params=params, unsaved_slots=unsaved, embedding_kind=emb["kind"], embedding_id=emb["id"],
               n_features=n_features, vocabulary=vocab, tensor_file=expected, sha256=digest, sizes_mode=sizes_mode,
               sizes={}, labels={}, custom={}, zeroshot={}, words={}, aspects={}, representative_docs={})
    aspect_names = None
    previous = -2
    n_names = len(params.get("zeroshot_topic_list") or [])
    for i, entry in enumerate(table):
        w = f"topics[{i}]"
        c.obj(entry, w, ("topic", "size", "label", "words", "representative_docs"),
              ("custom_label", "zeroshot", "aspects"))
        t = c.int(entry["topic"], f"{w}.topic", -1, 2**31 - 1)
        if t <= previous:
            raise _bad(source, f"{w}.topic is {t} after topic {previous}: topic ids must be unique and increasing")
        previous = t
        out["sizes"][t] = c.int(entry["size"], f"{w}.size", 0)
        out["labels"][t] = c.str(entry["label"], f"{w}.label")
        out["words"][t] = c.words(entry["words"], f"{w}.words")
        out["representative_docs"][t] = c.strs(entry["representative_docs"], f"{w}.representative_docs")
        if "custom_label" in entry:
            out["custom"][t] = c.str(entry["custom_label"], f"{w}.custom_label")
        if "zeroshot" in entry:
            if n_names == 0:
                raise _bad(source, f"{w}.zeroshot is set but params.zeroshot_topic_list is empty")
            out["zeroshot"][t] = c.int(entry["zeroshot"], f"{w}.zeroshot", 0, n_names - 1)
        aspects = c.obj(entry.get("aspects", {}), f"{w}.aspects", (),
                        tuple(entry["aspects"]) if isinstance(entry.get("aspects"), dict) else ())
        names = sorted(aspects)
        if aspect_names is not None and names != aspect_names:
            raise _bad(source, f"{w}.aspects names {names!r:.80} but topics[0] names {aspect_names!r:.80}")
        aspect_names = names
        for a in names:
            out["aspects"].setdefault(a, {})[t] = c.words(aspects[a], f"{w}.aspects.{a:.40}")
    if out["custom"] and len(out["custom"]) != len(table):
        raise _bad(source, "custom_label is set on some topics but not all")
    return out


# -------------------------------------------------------------- tensors vs table


def _check_tensors(tensors: dict, cfg: dict, source: Any) -> dict:
    """The tensors, checked against the topic table: names, dtypes, shapes, finite values,
    the CSR structure and every index range (before SciPy ever sees them)."""
    unknown = sorted(set(tensors) - set(_TENSOR_SPEC))
    missing = [k for k, (_, req) in _TENSOR_SPEC.items() if req and k not in tensors]
    if unknown or missing:
        what = f"holds the unknown tensor {unknown[0]!r:.60}" if unknown else f"lacks the tensor {missing[0]!r}"
        raise _bad(source, what)
    for name, arr in tensors.items():
        if not isinstance(arr, np.ndarray) or arr.dtype != _TENSOR_SPEC[name][0]:
            raise _bad(source, f"tensor {name} must be {np.dtype(_TENSOR_SPEC[name][0])}, got "
                               f"{getattr(arr, 'dtype', type(arr).__name__)}")
        if arr.dtype.kind == "f" and not np.isfinite(arr).all():
            raise _bad(source, f"tensor {name} holds NaN or infinite values")
    ids = np.fromiter(cfg["sizes"], dtype=np.int64, count=len(cfg["sizes"]))
    n_topics, n_terms = len(ids), len(cfg["vocabulary"])

    def shape(name: str, want: tuple, why: str = "") -> np.ndarray:
        arr = tensors[name]
        if arr.shape != want:
            why = why or (f"the file's {n_topics} topics, {n_terms} terms and {cfg['n_features']} embedding "
                          "dimensions")
            raise _bad(source, f"tensor {name} has shape {arr.shape}, but {why} make {want}")
        return arr

    emb = shape("topic_embeddings", (n_topics, cfg["n_features"]))
    if tuple(shape("c_tf_idf.shape", (2,)).tolist()) != (n_topics, n_terms):
        raise _bad(source, f"the c-TF-IDF shape {tuple(tensors['c_tf_idf.shape'].tolist())} does not match the "
                           f"{n_topics} topics and {n_terms} terms of the file")
    indptr = shape("c_tf_idf.indptr", (n_topics + 1,))
    data = tensors["c_tf_idf.data"]
    if data.ndim != 1:
        raise _bad(source, f"tensor c_tf_idf.data must be one-dimensional, got shape {data.shape}")
    nnz = data.shape[0]
    indices = shape("c_tf_idf.indices", (nnz,), f"the c-TF-IDF's {nnz} stored values")
    if indptr[0] != 0 or indptr[-1] != nnz or (np.diff(indptr) < 0).any():
        raise _bad(source, f"the c-TF-IDF indptr must rise from 0 to the {nnz} stored values")
    if nnz and (indices.min() < 0 or indices.max() >= n_terms):
        raise _bad(source, f"the c-TF-IDF holds column indices outside [0, {n_terms})")
    if nnz > 1:  # canonical CSR: columns strictly increase within each row
        step_ok = np.diff(indices) > 0
        starts = indptr[1:-1]
        step_ok[starts[(starts > 0) & (starts < nnz)] - 1] = True
        if not step_ok.all():
            raise _bad(source, "the c-TF-IDF's column indices are not sorted and unique within each row")

    topics = tensors["topics"]
    if topics.ndim != 1:
        raise _bad(source, f"tensor topics must be one topic id per document, got shape {topics.shape}")
    pos = np.searchsorted(ids, topics)
    if ((pos >= n_topics) | (ids[np.minimum(pos, n_topics - 1)] != topics)).any():
        stray = sorted(set(topics.tolist()) - set(ids.tolist()))
        raise _bad(source, f"tensor topics holds topic ids missing from the topic table, e.g. {stray[:3]}")
    counts = np.bincount(pos, minlength=n_topics)
    sizes = np.fromiter(cfg["sizes"].values(), dtype=np.int64, count=n_topics)
    if cfg["sizes_mode"] == "documents" and (counts != sizes).any():
        k = int(np.flatnonzero(counts != sizes)[0])
        raise _bad(source, f"topic {int(ids[k])} has size {int(sizes[k])} but {int(counts[k])} of the "
                           f"{topics.shape[0]} documents")
    if cfg["sizes_mode"] == "batches" and (counts > sizes).any():
        k = int(np.flatnonzero(counts > sizes)[0])
        raise _bad(source, f"topic {int(ids[k])} has size {int(sizes[k])} but {int(counts[k])} documents")

    probs = tensors.get("probabilities")
    if probs is not None:
        real = int((ids >= 0).sum())
        if probs.shape not in ((topics.shape[0],), (topics.shape[0], real)):
            raise _bad(source, f"tensor probabilities has shape {probs.shape}; the file's {topics.shape[0]} "
                               f"documents and {real} topics make ({topics.shape[0]},) or {(topics.shape[0], real)}")
    idf = tensors.get("ctfidf.idf")
    if idf is not None:
        shape("ctfidf.idf", (n_terms,))
    return dict(topic_embeddings=emb, data=data, indices=indices, indptr=indptr, shape=(n_topics, n_terms),
                topics=topics, probabilities=probs, idf=idf)


def _build(cfg: dict, ten: dict) -> SavedModel:
    """The validated model (the only place a SciPy matrix is built from file contents)."""
    scipy_sparse = optional_import("scipy.sparse")
    c_tf_idf = scipy_sparse.csr_matrix((ten["data"], ten["indices"], ten["indptr"]), shape=ten["shape"])
    ids = list(cfg["sizes"])
    return SavedModel(
        params=cfg["params"], unsaved_slots=cfg["unsaved_slots"], embedding_kind=cfg["embedding_kind"],
        embedding_id=cfg["embedding_id"], n_features=cfg["n_features"], vocabulary=cfg["vocabulary"],
        sizes=cfg["sizes"], labels=cfg["labels"], custom_labels=[cfg["custom"][t] for t in ids] if cfg["custom"]
        else None, zeroshot=cfg["zeroshot"], words=cfg["words"], aspects=cfg["aspects"],
        representative_docs=cfg["representative_docs"], topic_embeddings=ten["topic_embeddings"],
        c_tf_idf=c_tf_idf, topics=ten["topics"], probabilities=ten["probabilities"], idf=ten["idf"],
    )


# =================================================================== reading files


def _max_depth(raw: bytes, chunk: int = 1 << 20) -> int:
    """Deepest bracket nesting of JSON text, brackets inside strings skipped, in linear time
    and bounded memory (NumPy over 1 MiB chunks). Exact for valid JSON: a quote is escaped
    when an odd run of backslashes precedes it; garbage gives some number and then fails to
    parse."""
    data = np.frombuffer(raw, dtype=np.uint8)
    run = quotes = depth = deepest = 0  # backslashes before the chunk, quote parity, nesting
    for start in range(0, data.size, chunk):
        b = data[start:start + chunk]
        special = np.flatnonzero(_JSON_SPECIAL[b])  # quotes, backslashes and brackets only
        if special.size == 0:
            run = 0
            continue
        s = b[special]
        # backslashes right before each special byte: a streak of backslashes at consecutive positions
        extends = np.zeros(s.size, dtype=bool)
        extends[1:] = (s[:-1] == 0x5C) & (special[:-1] + 1 == special[1:])
        k = np.arange(s.size)
        streak = k - np.maximum.accumulate(np.where(extends, -1, k))
        before = np.where(k - streak == 0, streak + (run if special[0] == 0 else 0), streak)
        q = (s == 0x22) & (before % 2 == 0)
        toggles = np.cumsum(q)
        inside = (quotes + toggles - q) % 2 == 1
        step = np.where(inside, 0, _JSON_STEP[s])
        levels = depth + np.cumsum(step)
        deepest = max(deepest, int(levels.max()))
        depth, quotes = int(levels[-1]), (quotes + int(toggles[-1])) % 2
        tail = b.size - 1 - special[-1]
        run = (int(streak[-1]) + 1 + (run if special[0] == 0 and streak[-1] == s.size - 1 else 0)
               if s[-1] == 0x5C and tail == 0 else 0)
    return deepest


def _parse_json(raw: bytes, source: Any) -> Any:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ModelFileError(f"{source} is not valid JSON (corrupted or truncated): {exc}") from exc
    if _max_depth(raw) > MAX_JSON_DEPTH:
        raise _bad(source, f"the JSON nests deeper than {MAX_JSON_DEPTH} levels (the format needs 6)")

    def constant(name: str):
        raise ValueError(f"{name} is not a number in JSON")

    try:
        return json.loads(text, parse_constant=constant)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, NaN/Infinity, over-long integers
        raise ModelFileError(f"{source} is not valid JSON (corrupted or truncated): {exc}") from exc


def _open_folder(folder: Path) -> int | None:
    """A descriptor of the folder, so every file is opened relative to the same folder (None
    where the OS has no ``dir_fd`` support: plain paths are used then)."""
    if not _DIR_FD:
        return None
    return os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0))


def _read_file(dfd: int | None, folder: Path, name: str, limit: int, what: str) -> bytes:
    """A regular file's bytes, at most ``limit``: symlinks, FIFOs, devices and folders are
    refused without blocking (``O_NOFOLLOW | O_NONBLOCK``, then ``fstat``)."""
    path = folder / name
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    if dfd is None and os.path.islink(path):  # no O_NOFOLLOW (Windows)
        raise ModelFileError(f"{path} is a symbolic link: a saved model holds regular files only.")
    try:
        fd = os.open(name, flags, dir_fd=dfd) if dfd is not None else os.open(path, flags | getattr(os, "O_BINARY", 0))
    except FileNotFoundError as exc:
        raise ModelFileError(f"{path} is missing: {folder} is not a saved gputopic model (or {what} "
                             "is missing: the saved model is incomplete).") from exc
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.EMLINK):
            raise ModelFileError(f"{path} is a symbolic link: a saved model holds regular files only.") from exc
        raise ModelFileError(f"{path} could not be opened: {exc.strerror}.") from exc
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ModelFileError(f"{path} is not a regular file (a FIFO, device or folder?): a saved model holds "
                                 "regular files only.")
        if st.st_size > limit:
            raise ModelFileError(f"{path} is {st.st_size} bytes, over the {limit}-byte limit for {what} "
                                 f"(gputopic.persist.MAX_{'JSON' if name == CONFIG else 'TENSOR'}_BYTES; raise it "
                                 "only for a model you trust).")
        try:  # one read (no copy) up to 1 GiB; larger files are read in 1 GiB parts joined once
            chunks, got = [], 0
            while got < st.st_size:
                chunk = os.read(fd, min(st.st_size - got, 1 << 30))
                if not chunk:
                    break
                chunks.append(chunk)
                got += len(chunk)
            data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        except MemoryError as exc:
            raise ModelFileError(f"{path} ({st.st_size} bytes) does not fit in memory.") from exc
        if got != st.st_size or os.read(fd, 1):
            raise ModelFileError(f"{path} changed size while it was read: load it again when nothing writes to it.")
        return data
    except OSError as exc:
        raise ModelFileError(f"{path} could not be read: {exc.strerror}.") from exc
    finally:
        os.close(fd)


def read_saved(path: Any) -> SavedModel:
    """Read and validate a saved model folder; raise :class:`ModelFileError` on anything
    that a model written by :func:`save_model` would not hold."""
    safetensors_numpy = optional_import("safetensors.numpy", "loading models")
    folder = Path(path)
    if not folder.is_dir():
        raise ModelFileError(f"{folder} is not a folder saved by GPUTopic.save(): no such directory.")
    try:
        dfd = _open_folder(folder)
    except OSError as exc:
        raise ModelFileError(f"{folder} could not be opened: {exc.strerror}.") from exc
    try:
        for attempt in (0, 1):  # a save that commits between our two reads: read its new JSON once more
            raw = _read_file(dfd, folder, CONFIG, MAX_JSON_BYTES, "the model's JSON")
            cfg = _check_config(_parse_json(raw, folder / CONFIG), folder / CONFIG)
            tensor_path = folder / cfg["tensor_file"]
            try:
                blob = _read_file(dfd, folder, cfg["tensor_file"], MAX_TENSOR_BYTES, "the tensor file")
                break
            except ModelFileError:
                try:
                    changed = _read_file(dfd, folder, CONFIG, MAX_JSON_BYTES, "the model's JSON") != raw
                except ModelFileError:
                    changed = False
                if attempt or not changed:
                    raise
    finally:
        if dfd is not None:
            os.close(dfd)
    if hashlib.sha256(blob).hexdigest() != cfg["sha256"]:
        raise ModelFileError(f"{tensor_path} does not match the checksum in {CONFIG}: the file is corrupted or "
                             "truncated, or belongs to another save. Save the model again.")
    try:
        tensors = safetensors_numpy.load(blob)
    except Exception as exc:  # noqa: BLE001 - any parse failure means a bad file
        raise _bad(tensor_path, f"not a readable safetensors file ({exc})") from exc
    return _build(cfg, _check_tensors(tensors, cfg, tensor_path))


# ====================================================================== saving


def _describe(value: Any) -> Any:
    """A JSON value for a parameter: kept as is when plain, described when an object."""
    if isinstance(value, np.generic) and value.dtype.kind in "biuf":
        value = value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):  # seed words, zero-shot names: plain values all the way down
        items = [_describe(v) for v in value]
        if not any(isinstance(i, dict) for i in items):
            return items
    return {"object": f"{type(value).__module__}.{type(value).__qualname__}"}


def _tensors_of(state: FittedState) -> dict:
    c_host = host_sparse(state.c_tf_idf)
    if not c_host.has_canonical_format:  # load requires sorted, unique columns per row
        c_host = c_host.copy()
        c_host.sum_duplicates()
    tensors = {
        "topic_embeddings": np.ascontiguousarray(to_numpy(state.topic_embeddings), dtype=np.float32),
        "c_tf_idf.data": np.ascontiguousarray(c_host.data, dtype=np.float64),
        "c_tf_idf.indices": np.ascontiguousarray(c_host.indices, dtype=np.int64),
        "c_tf_idf.indptr": np.ascontiguousarray(c_host.indptr, dtype=np.int64),
        "c_tf_idf.shape": np.asarray(c_host.shape, dtype=np.int64),
        "topics": np.ascontiguousarray(state.topics, dtype=np.int64),
    }
    if state.probabilities is not None:
        tensors["probabilities"] = np.ascontiguousarray(to_numpy(state.probabilities), dtype=np.float32)
    idf = getattr(state.ctfidf_model, "idf_", None)
    if idf is None:  # a loaded or merged model keeps the saved idf
        idf = state.saved_idf
    if idf is not None:  # lets a loaded model weight new text like the topics (outliers, distributions)
        tensors["ctfidf.idf"] = np.ascontiguousarray(to_numpy(idf), dtype=np.float64)
    return tensors


def _config_of(model: Any, state: FittedState, tensors: dict, embedding_name: str | None,
               record_embedding_model: bool) -> dict:
    emb = model.embedding_model
    if embedding_name is not None:
        embedding = {"kind": "name", "id": os.fspath(embedding_name)}
    elif not record_embedding_model:
        embedding = {"kind": "none", "id": model.embedding_model_id_}
    elif emb is None and state.needs_embedding_model:  # loaded without its custom model
        embedding = {"kind": "object", "id": model.embedding_model_id_}
    elif emb is None:
        embedding = {"kind": "default", "id": model.embedding_model_id_}
    elif isinstance(emb, (str, os.PathLike)):
        embedding = {"kind": "name", "id": os.fspath(emb)}
    else:
        embedding = {"kind": "object", "id": model.embedding_model_id_}
    ids = state.ids
    custom = dict(zip(ids, state.custom_labels or []))
    topics = tensors["topics"]
    counts = dict(zip(*np.unique(topics, return_counts=True))) if topics.size else {}
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "versions": versions(),
        "params": {name: _describe(getattr(model, name)) for name in _PLAIN_PARAMS + _SLOTS},
        "embedding_model": embedding,
        "n_features_in": int(state.n_features_in),
        "vocabulary": list(state.vocabulary),
        # partial_fit's sizes count every batch, its topics_ only the last one
        "sizes": "documents" if all(state.topic_sizes[t] == counts.get(t, 0) for t in ids) else "batches",
        "topics": [
            {
                "topic": int(t),
                "size": int(state.topic_sizes[t]),
                "label": state.labels[t],
                **({"custom_label": custom[t]} if custom else {}),
                **({"zeroshot": state.zeroshot_topics[t]} if t in state.zeroshot_topics else {}),
                "words": [[w, float(s)] for w, s in state.representations[t]],
                **({"aspects": {a: [[w, float(s)] for w, s in words[t]] for a, words in state.aspects.items()}}
                   if state.aspects else {}),
                "representative_docs": list(state.representative_docs.get(t, [])),
            }
            for t in ids
        ],
    }


def save_model(model: Any, state: FittedState, path: Any, embedding_name: str | None = None,
               record_embedding_model: bool = True) -> None:
    """Write ``path``/gputopic.json and its tensor file, atomically (see the module's doc).
    ``embedding_name``: the model name or folder that :func:`load_model` should load
    (instead of the fitted one's); ``record_embedding_model=False`` stores none, so loading
    needs ``embedding_model=``. What is written is validated as load validates it first, so
    a save never leaves a model that load refuses."""
    safetensors_numpy = optional_import("safetensors.numpy", "saving models")
    folder = Path(path)
    if folder.exists() and not folder.is_dir():
        raise ModelSaveError(f"{folder} exists and is not a folder: choose another path for save().")
    tensors = _tensors_of(state)
    config = _config_of(model, state, tensors, embedding_name, record_embedding_model)
    blob = safetensors_numpy.save(tensors)
    digest = hashlib.sha256(blob).hexdigest()
    tensor_file = f"gputopic-{digest[:16]}.safetensors"
    config["tensors"] = {"file": tensor_file, "sha256": digest}
    try:
        raw = json.dumps(config, ensure_ascii=False, indent=1, allow_nan=False).encode("utf-8")
    except (TypeError, ValueError) as exc:
        raise ModelFileError(f"The model's state cannot be written as JSON ({exc}): it holds a value that is not "
                             "plain text or a finite number.") from exc
    for size, limit, what in ((len(raw), MAX_JSON_BYTES, "JSON"), (len(blob), MAX_TENSOR_BYTES, "TENSOR")):
        if size > limit:
            raise ModelFileError(f"The model's {what.lower()} file would be {size} bytes, over load's limit of {limit} "
                                 f"(gputopic.persist.MAX_{what}_BYTES); raise it to save and load this model.")
    source = f"The model to save to {folder}"
    try:  # what load would refuse is not written
        _check_tensors(tensors, _check_config(_parse_json(raw, source), source), source)
    except ModelFileError as exc:
        raise ModelFileError(str(exc).replace(_HINT, "set a valid value (or fit again) before saving")) from exc
    try:
        folder.mkdir(parents=True, exist_ok=True)
        _write_atomically(folder, tensor_file, blob, raw)
    except OSError as exc:
        where = exc.filename or folder
        raise ModelSaveError(f"Could not save the model to {folder}: {exc.strerror or exc} ({where}). Choose a "
                             "folder you can write to.") from exc


def _write_atomically(folder: Path, tensor_file: str, blob: bytes, raw: bytes) -> None:
    """Tensors to their own (checksum-named) file, then the JSON over ``gputopic.json`` (the
    commit), then the old tensor files are removed; under the folder's lock."""
    dfd = _open_folder(folder)
    at = (lambda name: name) if dfd is not None else (lambda name: folder / name)
    kw = {"dir_fd": dfd} if dfd is not None else {}
    rkw = {"src_dir_fd": dfd, "dst_dir_fd": dfd} if dfd is not None else {}
    try:
        if dfd is not None:
            try:
                import fcntl

                fcntl.flock(dfd, fcntl.LOCK_EX)  # released when dfd is closed
            except (ImportError, OSError):
                pass  # no advisory locks here: concurrent saves into one folder are the caller's to avoid
        listing = os.listdir(dfd if dfd is not None else folder)
        for name in listing:  # temporary files of a save that was killed
            if _TMP_NAME.fullmatch(name):
                _unlink_quietly(at(name), kw)
        new_tensor_file = tensor_file not in listing
        temps: list[str] = []
        try:
            temps.append(_write_new(at, kw, blob))
            os.replace(at(temps[-1]), at(tensor_file), **rkw)
            temps.pop()
            temps.append(_write_new(at, kw, raw))
            os.replace(at(temps[-1]), at(CONFIG), **rkw)  # the commit
            temps.pop()
        except BaseException:
            for name in temps:
                _unlink_quietly(at(name), kw)
            if new_tensor_file and not _committed(dfd, folder, raw):
                _unlink_quietly(at(tensor_file), kw)
            raise
        if dfd is not None:
            try:
                os.fsync(dfd)
            except OSError:
                pass  # some file systems cannot sync a folder; the renames are still atomic
        for name in listing:  # tensors of earlier saves, now that nothing points to them
            if name != tensor_file and (name == TENSORS or _TENSOR_NAME.fullmatch(name)):
                _unlink_quietly(at(name), kw, warn=True)
    finally:
        if dfd is not None:
            os.close(dfd)


def _write_new(at, kw: dict, data: bytes) -> str:
    """A new temporary file holding ``data`` (exclusive creation: a planted file or symlink at
    its name makes this fail instead of redirecting the write), synced to disk."""
    name = f"{_TMP_PREFIX}{secrets.token_hex(8)}.tmp"
    flags = (os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
             | getattr(os, "O_BINARY", 0))
    fd = os.open(at(name), flags, 0o666, **kw)  # 0666 less the umask, like any file the user creates
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view[: 1 << 30]):]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        _unlink_quietly(at(name), kw)
        raise
    os.close(fd)
    return name


def _committed(dfd: int | None, folder: Path, raw: bytes) -> bool:
    """Whether ``gputopic.json`` already holds ``raw`` (an interruption right after the commit)."""
    try:
        return _read_file(dfd, folder, CONFIG, MAX_JSON_BYTES, "the model's JSON") == raw
    except ModelFileError:
        return False


def _unlink_quietly(name: Any, kw: dict, warn: bool = False) -> None:
    try:
        os.unlink(name, **kw)
    except FileNotFoundError:
        pass
    except OSError as exc:
        if warn:
            logger.warning("Saved the model, but could not remove the old file %s (%s): remove it by hand.",
                           name, exc.strerror)


# ====================================================================== loading


def load_model(path: Any, embedding_model: Any = None) -> tuple[dict, FittedState]:
    """The estimator parameters and the fitted state saved in a folder written by :func:`save_model`."""
    saved = read_saved(path)
    kwargs = dict(saved.params)
    if embedding_model is not None:
        kwargs["embedding_model"] = embedding_model
    elif saved.embedding_kind == "name":
        kwargs["embedding_model"] = saved.embedding_id
    state = FittedState(
        topics=saved.topics, probabilities=saved.probabilities, topic_sizes=dict(saved.sizes),
        representations=dict(saved.words), labels=dict(saved.labels),
        aspects={a: dict(words) for a, words in saved.aspects.items()}, zeroshot_topics=dict(saved.zeroshot),
        custom_labels=None if saved.custom_labels is None else list(saved.custom_labels),
        representative_docs=dict(saved.representative_docs), topic_embeddings=saved.topic_embeddings,
        c_tf_idf=saved.c_tf_idf, vocabulary=list(saved.vocabulary), n_features_in=saved.n_features,
        embedding_model_id=saved.embedding_id, sizes_are_counts=_sizes_are_counts(saved.topics, saved.sizes),
        needs_embedding_model=saved.embedding_kind in ("object", "none") and embedding_model is None,
        # custom sub-models are described in the file, not stored: topic operations ask for them
        unsaved_slots=saved.unsaved_slots, saved_idf=saved.idf,
    )
    return kwargs, state


def _sizes_are_counts(topics: np.ndarray, sizes: dict) -> bool:
    """Whether the saved sizes count the saved topics (not so after partial_fit's batches)."""
    counts = dict(zip(*np.unique(topics, return_counts=True))) if topics.size else {}
    return all(int(counts.get(t, 0)) == int(c) for t, c in sizes.items())
