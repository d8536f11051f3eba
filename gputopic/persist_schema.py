"""What a saved model may hold: the schema :func:`gputopic.persist.read_saved` checks a model
folder against (and ``save`` checks before it writes, so it never leaves a folder that load
refuses).

Every JSON field is typed and ranged (unknown keys refused, parameters restricted to the ones
``save`` writes), every tensor's dtype, shape and values checked, the CSR structure of the
c-TF-IDF validated before SciPy sees it, and the tensors cross-checked against the topic
table. Failures are :class:`ModelFileError` naming the file and field.
"""

from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from .device import optional_import
from .defaults import ENGLISH, LANGUAGES
from .exceptions import ModelFileError

logger = logging.getLogger("gputopic")

FORMAT = "gputopic-model"

FORMAT_VERSION = 2

TENSORS = "gputopic.safetensors"  # format 1's tensor file name

_DEVICES = ("auto", "cpu", "cuda")

_EMBEDDING_BACKENDS = ("auto", "torch", "onnx-int8")

_EMBEDDING_KINDS = ("name", "default", "none", "object")

HINT = "the file is damaged or was altered; save the model again from the fitted model"

_INT_MAX = 2**62

PLAIN_PARAMS = ("top_n_words", "min_topic_size", "nr_topics", "calculate_probabilities", "device",
                 "batch_size", "random_state", "verbose", "embedding_backend", "seed_topic_list",
                 "zeroshot_topic_list", "zeroshot_min_similarity", "n_gram_range", "language", "low_memory")

_SHA256 = re.compile(r"[0-9a-f]{64}")

SLOTS = ("umap_model", "hdbscan_model", "vectorizer_model", "ctfidf_model", "representation_model")

_SLOT_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")

# tensor name -> (dtype, required)
_TENSOR_SPEC = {
    "topic_embeddings": (np.float32, True), "c_tf_idf.data": (np.float64, True),
    "c_tf_idf.indices": (np.int64, True), "c_tf_idf.indptr": (np.int64, True),
    "c_tf_idf.shape": (np.int64, True), "topics": (np.int64, True),
    "probabilities": (np.float32, False), "ctfidf.idf": (np.float64, False),
}


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
    topic_mapper: tuple = ()


def bad(source: Any, detail: str) -> ModelFileError:
    return ModelFileError(f"{source}: {detail}; {HINT}.")


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
        return bad(self.source, f"{where} must be {want}, got {_kind(value)}")

    def obj(self, value: Any, where: str, required: tuple, optional: tuple = ()) -> dict:
        if not isinstance(value, dict):
            raise self.fail(where, "an object", value)
        missing = [k for k in required if k not in value]
        if missing:
            raise bad(self.source, f"{where} lacks the field {missing[0]!r}")
        unknown = sorted(k for k in value if k not in required and k not in optional)
        if unknown:
            raise bad(self.source, f"{where} holds the unknown field {unknown[0]!r:.60}, which gputopic never writes")
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
    if name == "n_gram_range":
        pair = c.list(value, where, 2)
        low, high = (c.int(v, f"{where}[{i}]", 1, 1 << 10) for i, v in enumerate(pair))
        if len(pair) != 2 or low > high:
            raise c.fail(where, "[low, high] with low <= high", value)
        return (low, high)
    if name == "language":
        if not isinstance(value, str) or value.lower() not in LANGUAGES + ENGLISH:
            raise c.fail(where, "'english', 'multilingual' or a language of BERTopic's list", value)
        return value
    if name in ("calculate_probabilities", "verbose", "low_memory"):
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
            raise bad(c.source, f"{where} names a topic more than once")
        return names
    raise AssertionError(name)  # pragma: no cover - PLAIN_PARAMS and this function agree


def _check_params(c: _Check, raw: Any) -> tuple[dict, tuple]:
    """Constructor arguments from ``params``: only the names save() writes, each type-checked.
    A key save() never writes (``client``, ``embedding_cache_dir``, ...) is refused: loading
    must not point the model at a Dask cluster or make it write embeddings anywhere."""
    c.obj(raw, "params", (), PLAIN_PARAMS + SLOTS)
    kwargs, unsaved = {}, []
    for name, value in raw.items():
        if isinstance(value, dict):  # an object, described by its class name, not stored
            c.obj(value, f"params.{name}", ("object",))
            c.str(value["object"], f"params.{name}.object", non_empty=True)
            if name in SLOTS:
                unsaved.append(name)
            else:
                logger.warning("%s: params.%s was a %s, which is not saved: the loaded model uses the default.",
                               c.source, name, value["object"])
        elif name in SLOTS:
            if value is not None and not (isinstance(value, str) and _SLOT_NAME.fullmatch(value)):
                raise c.fail(f"params.{name}", "null, a backend name or {\"object\": class name}", value)
            kwargs[name] = value
        else:
            kwargs[name] = _check_param(c, name, value)
    return kwargs, tuple(k for k in SLOTS if k in unsaved)


def _check_mapper(c: _Check, raw: Any) -> tuple:
    """The rows of ``topic_mapper`` (format 1 files have none: one row per topic then):
    integer ids >= -1, rows of one length >= 2 (that they end in topics of the table is
    checked with the tensors)."""
    rows = c.list(raw, "topic_mapper")
    out = tuple(tuple(c.int(v, f"topic_mapper[{i}][{j}]", -1, 2**31 - 1) for j, v in enumerate(c.list(r, f"topic_mapper[{i}]", 2)))
                for i, r in enumerate(rows))
    if len({len(r) for r in out}) > 1:
        raise bad(c.source, "topic_mapper rows differ in length")
    return out


def check_config(config: Any, source: Any) -> dict:
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
                               "vocabulary", "topics", "tensors"), ("sizes", "topic_mapper"))
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
        raise bad(source, "vocabulary lists a term more than once")
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
            raise bad(source, f"{w}.topic is {t} after topic {previous}: topic ids must be unique and increasing")
        previous = t
        out["sizes"][t] = c.int(entry["size"], f"{w}.size", 0)
        out["labels"][t] = c.str(entry["label"], f"{w}.label")
        out["words"][t] = c.words(entry["words"], f"{w}.words")
        out["representative_docs"][t] = c.strs(entry["representative_docs"], f"{w}.representative_docs")
        if "custom_label" in entry:
            out["custom"][t] = c.str(entry["custom_label"], f"{w}.custom_label")
        if "zeroshot" in entry:
            if n_names == 0:
                raise bad(source, f"{w}.zeroshot is set but params.zeroshot_topic_list is empty")
            out["zeroshot"][t] = c.int(entry["zeroshot"], f"{w}.zeroshot", 0, n_names - 1)
        aspects = c.obj(entry.get("aspects", {}), f"{w}.aspects", (),
                        tuple(entry["aspects"]) if isinstance(entry.get("aspects"), dict) else ())
        names = sorted(aspects)
        if aspect_names is not None and names != aspect_names:
            raise bad(source, f"{w}.aspects names {names!r:.80} but topics[0] names {aspect_names!r:.80}")
        aspect_names = names
        for a in names:
            out["aspects"].setdefault(a, {})[t] = c.words(aspects[a], f"{w}.aspects.{a:.40}")
    if out["custom"] and len(out["custom"]) != len(table):
        raise bad(source, "custom_label is set on some topics but not all")
    if version > 1 and "topic_mapper" not in config:
        raise bad(source, "the file lacks the field 'topic_mapper'")
    out["topic_mapper"] = _check_mapper(c, config.get("topic_mapper", []))
    return out


# -------------------------------------------------------------- tensors vs table


def check_tensors(tensors: dict, cfg: dict, source: Any) -> dict:
    """The tensors, checked against the topic table: names, dtypes, shapes, finite values,
    the CSR structure and every index range (before SciPy ever sees them)."""
    unknown = sorted(set(tensors) - set(_TENSOR_SPEC))
    missing = [k for k, (_, req) in _TENSOR_SPEC.items() if req and k not in tensors]
    if unknown or missing:
        what = f"holds the unknown tensor {unknown[0]!r:.60}" if unknown else f"lacks the tensor {missing[0]!r}"
        raise bad(source, what)
    for name, arr in tensors.items():
        if not isinstance(arr, np.ndarray) or arr.dtype != _TENSOR_SPEC[name][0]:
            raise bad(source, f"tensor {name} must be {np.dtype(_TENSOR_SPEC[name][0])}, got "
                               f"{getattr(arr, 'dtype', type(arr).__name__)}")
        if arr.dtype.kind == "f" and not np.isfinite(arr).all():
            raise bad(source, f"tensor {name} holds NaN or infinite values")
    ids = np.fromiter(cfg["sizes"], dtype=np.int64, count=len(cfg["sizes"]))
    n_topics, n_terms = len(ids), len(cfg["vocabulary"])

    def shape(name: str, want: tuple, why: str = "") -> np.ndarray:
        arr = tensors[name]
        if arr.shape != want:
            why = why or (f"the file's {n_topics} topics, {n_terms} terms and {cfg['n_features']} embedding "
                          "dimensions")
            raise bad(source, f"tensor {name} has shape {arr.shape}, but {why} make {want}")
        return arr

    emb = shape("topic_embeddings", (n_topics, cfg["n_features"]))
    if tuple(shape("c_tf_idf.shape", (2,)).tolist()) != (n_topics, n_terms):
        raise bad(source, f"the c-TF-IDF shape {tuple(tensors['c_tf_idf.shape'].tolist())} does not match the "
                           f"{n_topics} topics and {n_terms} terms of the file")
    indptr = shape("c_tf_idf.indptr", (n_topics + 1,))
    data = tensors["c_tf_idf.data"]
    if data.ndim != 1:
        raise bad(source, f"tensor c_tf_idf.data must be one-dimensional, got shape {data.shape}")
    nnz = data.shape[0]
    indices = shape("c_tf_idf.indices", (nnz,), f"the c-TF-IDF's {nnz} stored values")
    if indptr[0] != 0 or indptr[-1] != nnz or (np.diff(indptr) < 0).any():
        raise bad(source, f"the c-TF-IDF indptr must rise from 0 to the {nnz} stored values")
    if nnz and (indices.min() < 0 or indices.max() >= n_terms):
        raise bad(source, f"the c-TF-IDF holds column indices outside [0, {n_terms})")
    if nnz > 1:  # canonical CSR: columns strictly increase within each row
        step_ok = np.diff(indices) > 0
        starts = indptr[1:-1]
        step_ok[starts[(starts > 0) & (starts < nnz)] - 1] = True
        if not step_ok.all():
            raise bad(source, "the c-TF-IDF's column indices are not sorted and unique within each row")

    topics = tensors["topics"]
    if topics.ndim != 1:
        raise bad(source, f"tensor topics must be one topic id per document, got shape {topics.shape}")
    pos = np.searchsorted(ids, topics)
    if ((pos >= n_topics) | (ids[np.minimum(pos, n_topics - 1)] != topics)).any():
        stray = sorted(set(topics.tolist()) - set(ids.tolist()))
        raise bad(source, f"tensor topics holds topic ids missing from the topic table, e.g. {stray[:3]}")
    counts = np.bincount(pos, minlength=n_topics)
    sizes = np.fromiter(cfg["sizes"].values(), dtype=np.int64, count=n_topics)
    if cfg["sizes_mode"] == "documents" and (counts != sizes).any():
        k = int(np.flatnonzero(counts != sizes)[0])
        raise bad(source, f"topic {int(ids[k])} has size {int(sizes[k])} but {int(counts[k])} of the "
                           f"{topics.shape[0]} documents")
    if cfg["sizes_mode"] == "batches" and (counts > sizes).any():
        k = int(np.flatnonzero(counts > sizes)[0])
        raise bad(source, f"topic {int(ids[k])} has size {int(sizes[k])} but {int(counts[k])} documents")

    if {r[-1] for r in cfg["topic_mapper"]} - set(ids.tolist()):
        raise bad(source, "topic_mapper rows end in topics missing from the topic table")

    probs = tensors.get("probabilities")
    if probs is not None:
        real = int((ids >= 0).sum())
        if probs.shape not in ((topics.shape[0],), (topics.shape[0], real)):
            raise bad(source, f"tensor probabilities has shape {probs.shape}; the file's {topics.shape[0]} "
                               f"documents and {real} topics make ({topics.shape[0]},) or {(topics.shape[0], real)}")
    idf = tensors.get("ctfidf.idf")
    if idf is not None:
        shape("ctfidf.idf", (n_terms,))
    return dict(topic_embeddings=emb, data=data, indices=indices, indptr=indptr, shape=(n_topics, n_terms),
                topics=topics, probabilities=probs, idf=idf)


def build_saved(cfg: dict, ten: dict) -> SavedModel:
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
        topic_mapper=cfg["topic_mapper"],
    )
