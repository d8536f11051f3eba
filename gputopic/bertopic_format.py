"""BERTopic's save folders, read and written without pickle.

:func:`read_bertopic_folder` reads a folder written by BERTopic 0.17.4's
``save(path, serialization="safetensors" | "pytorch")`` into plain values and arrays, and
:func:`write_bertopic_folder` writes such values into a folder ``BERTopic.load`` reads. No pickle:
``.bin`` files are torch zip archives loaded with ``torch.load(weights_only=True)``. The files
(from BERTopic's ``_save_utils``):

* ``config.json``: BERTopic's constructor parameters (``top_n_words``, ``min_topic_size``,
  ``n_gram_range``, ``nr_topics``, ``calculate_probabilities``, ``zeroshot_*``,
  ``seed_topic_list``, ``language``, ``low_memory``, ``verbose``) and ``embedding_model`` (the
  model's name, or null);
* ``topics.json``: ``topic_representations`` (``{"<id>": [[word, score], ...]}``), ``topics``
  (per training document), ``topic_sizes``, ``topic_mapper`` (a list of per-step mapping
  columns), ``topic_labels``, ``custom_labels``, ``_outliers``, and ``topic_aspects``;
* ``topic_embeddings.safetensors`` / ``.bin``: tensor ``topic_embeddings`` (topic rows in
  sorted-id order, the outlier row first);
* ``ctfidf.safetensors`` / ``.bin`` (optional): tensors ``indptr``, ``indices``, ``data``,
  ``shape`` (the c-TF-IDF matrix as CSR) and ``diag`` (the IDF weights);
* ``ctfidf_config.json`` (optional, with ``ctfidf``): the ClassTfidfTransformer's
  ``ctfidf_model`` parameters and the CountVectorizer's ``vectorizer_model`` parameters and
  ``vocab`` (``{word: column}``).

BERTopic writes no representative documents into these folders, so none are read or written.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from .exceptions import InputError, MissingDependencyError, ModelFileError

__all__ = ["read_bertopic_folder", "write_bertopic_folder"]

# ===================================================================== save folders

CONFIG = "config.json"
TOPICS = "topics.json"
EMBEDDINGS = ("topic_embeddings.safetensors", "topic_embeddings.bin")
CTFIDF = ("ctfidf.safetensors", "ctfidf.bin")
CTFIDF_CONFIG = "ctfidf_config.json"

# BERTopic 0.17.4's constructor parameters that a save folder's config.json holds, with its defaults
BERTOPIC_PARAMS = {
    "language": "english", "top_n_words": 10, "n_gram_range": (1, 1), "min_topic_size": 10, "nr_topics": None,
    "low_memory": False, "calculate_probabilities": False, "seed_topic_list": None, "zeroshot_topic_list": None,
    "zeroshot_min_similarity": 0.7, "verbose": False,
}


def _fail(path, what: str):
    raise ModelFileError(f"{path}: {what}")


def _read_json(path: Path):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        _fail(path.parent, f"no {path.name}; a BERTopic save folder (save(..., serialization='safetensors' or "
                           "'pytorch')) holds config.json, topics.json and topic_embeddings.safetensors or .bin.")
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        _fail(path, f"not valid JSON ({e}); the file is corrupt or truncated.")


def _read_tensors(folder: Path, names: tuple[str, str], required: bool) -> tuple[dict | None, str | None]:
    """``({name: array}, serialization)`` from ``names[0]`` (safetensors) or ``names[1]`` (torch
    zip archive, read with ``weights_only=True``), safetensors first as BERTopic does."""
    safe, torch_file = folder / names[0], folder / names[1]
    if safe.is_file():
        from safetensors import SafetensorError
        import safetensors.numpy

        try:
            return dict(safetensors.numpy.load_file(str(safe))), "safetensors"
        except (SafetensorError, OSError, ValueError) as e:
            _fail(safe, f"not a readable safetensors file ({e}); the file is corrupt or truncated.")
    if torch_file.is_file():
        import zipfile

        if not zipfile.is_zipfile(torch_file):
            _fail(torch_file, "not a torch zip archive (an older pickle-based .bin is refused: loading it could run "
                              "code); load and re-save it with BERTopic using serialization='safetensors'.")
        try:
            import torch
        except ImportError:
            raise MissingDependencyError(f"{torch_file} is a PyTorch file: install torch to read it, or re-save the "
                                         "model with serialization='safetensors'.") from None
        try:
            loaded = torch.load(str(torch_file), map_location="cpu", weights_only=True)
        except Exception as e:  # torch raises UnpicklingError, RuntimeError, ... for bad archives
            _fail(torch_file, f"not a readable weights-only torch archive ({type(e).__name__}: "
                              f"{str(e).splitlines()[0][:200]}).")
        if not isinstance(loaded, dict) or not all(isinstance(v, torch.Tensor) for v in loaded.values()):
            _fail(torch_file, "does not hold a {name: tensor} dict as BERTopic writes.")
        return {k: v.numpy() for k, v in loaded.items()}, "pytorch"
    if required:
        _fail(folder, f"no {names[0]} or {names[1]}; a BERTopic save folder holds its topic embeddings in one.")
    return None, None


def _int_keys(mapping, path: Path, what: str) -> dict:
    if not isinstance(mapping, dict):
        _fail(path, f"{what} is not a JSON object.")
    try:
        return {int(k): v for k, v in mapping.items()}
    except (TypeError, ValueError):
        _fail(path, f"{what} has keys that are not topic ids (integers): {list(mapping)[:5]}.")


def _words(pairs, path: Path, topic: int) -> list[tuple[str, float]]:
    ok = isinstance(pairs, list) and all(isinstance(p, (list, tuple)) and len(p) == 2 and isinstance(p[0], str)
                                         and isinstance(p[1], (int, float)) for p in pairs)
    if not ok:
        _fail(path, f"topic {topic}'s representation is not a list of [word, score] pairs.")
    return [(w, float(s)) for w, s in pairs]


def read_bertopic_folder(path) -> dict:
    """The contents of a folder BERTopic 0.17.4 saved with ``serialization="safetensors"`` or
    ``"pytorch"``, validated, as plain values and arrays:

    ``serialization`` ("safetensors" | "pytorch"), ``params`` (BERTopic's constructor parameters
    from config.json, its defaults filled in, ``n_gram_range`` a tuple), ``embedding_model`` (the
    name saved, or None), ``topic_ids`` (sorted int64), ``topics`` (int64, one per training
    document), ``topic_sizes``, ``topic_words`` (``{topic: [(word, score), ...]}``),
    ``topic_labels``, ``custom_labels`` (list or None), ``topic_aspects``
    (``{aspect: {topic: value}}``), ``topic_mapper`` (list of int rows: BERTopic's
    ``TopicMapper.mappings_``), ``outliers`` (bool), ``topic_embeddings`` (float32, one row per
    topic id in sorted order), and, when the folder has c-TF-IDF files (else None):
    ``c_tf_idf`` (SciPy CSR, rows as ``topic_ids``), ``vocabulary`` (column words), ``idf``
    (float64), ``vectorizer_params``, ``ctfidf_params``.

    Raises :class:`ModelFileError` naming the file and the problem for anything missing,
    corrupt or inconsistent; ``.bin`` files are read without unpickling code.
    """
    folder = Path(path)
    if not folder.is_dir():
        raise ModelFileError(f"{folder} is not a folder; a BERTopic save folder is written by "
                             "save(path, serialization='safetensors' or 'pytorch') (pickle files are not read).")
    config = _read_json(folder / CONFIG)
    if not isinstance(config, dict):
        _fail(folder / CONFIG, "is not a JSON object.")
    embedding_model = config.get("embedding_model")
    if embedding_model is not None and not isinstance(embedding_model, str):
        _fail(folder / CONFIG, f"embedding_model is {type(embedding_model).__name__}, not a model name.")
    params = dict(BERTOPIC_PARAMS)
    params.update({k: v for k, v in config.items() if k in BERTOPIC_PARAMS})
    ngram = params["n_gram_range"]
    if not (isinstance(ngram, (list, tuple)) and len(ngram) == 2 and all(isinstance(n, int) for n in ngram)):
        _fail(folder / CONFIG, f"n_gram_range is {ngram!r}, not a pair of integers.")
    params["n_gram_range"] = tuple(ngram)

    tpath = folder / TOPICS
    t = _read_json(tpath)
    if not isinstance(t, dict):
        _fail(tpath, "is not a JSON object.")
    for key in ("topic_representations", "topics", "topic_sizes"):
        if key not in t:
            _fail(tpath, f"has no {key!r} entry; the file is not from BERTopic's save or is truncated.")
    reps = _int_keys(t["topic_representations"], tpath, "topic_representations")
    topic_ids = np.array(sorted(reps), dtype=np.int64)
    words = {k: _words(reps[k], tpath, k) for k in topic_ids.tolist()}
    docs = t["topics"]
    if not isinstance(docs, list) or not all(isinstance(d, int) and not isinstance(d, bool) for d in docs):
        _fail(tpath, "'topics' is not a list of integer topic ids.")
    unknown = sorted(set(docs) - set(reps))
    if unknown:
        _fail(tpath, f"'topics' holds ids {unknown[:5]} that have no topic representation.")
    sizes = _int_keys(t["topic_sizes"], tpath, "topic_sizes")
    if not all(isinstance(v, int) and v >= 0 for v in sizes.values()) or set(sizes) - set(reps):
        _fail(tpath, "'topic_sizes' must map topic ids that have representations to counts >= 0.")
    labels = _int_keys(t.get("topic_labels") or {}, tpath, "topic_labels")
    labels = {k: labels.get(k, f"{k}_" + "_".join(w for w, _ in words[k][:4])) for k in topic_ids.tolist()}
    custom = t.get("custom_labels")
    if custom is not None and not (isinstance(custom, list) and all(isinstance(c, str) for c in custom)):
        _fail(tpath, "'custom_labels' is not a list of strings.")
    aspects_raw = t.get("topic_aspects") or {}
    if not isinstance(aspects_raw, dict):
        _fail(tpath, "'topic_aspects' is not a JSON object.")
    aspects = {str(a): _int_keys(v, tpath, f"topic_aspects[{a!r}]") for a, v in aspects_raw.items()
               if a != "Visual_Aspect"}
    mapper = t.get("topic_mapper")
    if mapper is None:
        mapper = [[k, k] for k in topic_ids.tolist()]
    if not (isinstance(mapper, list) and all(isinstance(r, list) and r and all(isinstance(x, int) for x in r)
                                             for r in mapper)):
        _fail(tpath, "'topic_mapper' is not a list of rows of integer topic ids.")
    outliers = bool(t.get("_outliers", int(-1 in sizes)))

    tensors, serialization = _read_tensors(folder, EMBEDDINGS, required=True)
    emb = tensors.get("topic_embeddings")
    if emb is None or emb.ndim != 2 or not np.issubdtype(emb.dtype, np.floating):
        _fail(folder / (EMBEDDINGS[0] if serialization == "safetensors" else EMBEDDINGS[1]),
              "has no 2-D float tensor 'topic_embeddings'.")
    if emb.shape[0] != len(topic_ids):
        _fail(folder, f"topic_embeddings has {emb.shape[0]} rows for {len(topic_ids)} topics in topics.json.")
    if not np.isfinite(emb).all():
        _fail(folder, "topic_embeddings holds NaN or infinite values.")

    out = {
        "serialization": serialization, "params": params, "embedding_model": embedding_model,
        "topic_ids": topic_ids, "topics": np.asarray(docs, dtype=np.int64),
        "topic_sizes": {k: int(v) for k, v in sorted(sizes.items())}, "topic_words": words,
        "topic_labels": labels, "custom_labels": custom, "topic_aspects": aspects, "topic_mapper": mapper,
        "outliers": outliers, "topic_embeddings": np.ascontiguousarray(emb, dtype=np.float32),
        "c_tf_idf": None, "vocabulary": None, "idf": None, "vectorizer_params": None, "ctfidf_params": None,
    }
    ctf, _ = _read_tensors(folder, CTFIDF, required=False)
    if ctf is not None:
        out.update(_read_ctfidf(folder, ctf, len(topic_ids)))
    return out


def _read_ctfidf(folder: Path, ctf: dict, n_topics: int) -> dict:
    from scipy import sparse

    missing = [k for k in ("indptr", "indices", "data", "shape", "diag") if k not in ctf]
    if missing:
        _fail(folder, f"the c-TF-IDF file lacks tensors {missing}.")
    shape = tuple(int(s) for s in np.asarray(ctf["shape"]).ravel())
    indptr, indices, data = (np.asarray(ctf[k]).ravel() for k in ("indptr", "indices", "data"))
    ok = (len(shape) == 2 and indptr.shape[0] == shape[0] + 1 and indptr[0] == 0 and np.all(np.diff(indptr) >= 0)
          and indptr[-1] == indices.shape[0] == data.shape[0]
          and (indices.size == 0 or (indices.min() >= 0 and indices.max() < shape[1])))
    if not ok:
        _fail(folder, f"the c-TF-IDF CSR arrays are inconsistent (shape {shape}, {indptr.shape[0]} indptr, "
                      f"{indices.shape[0]} indices, {data.shape[0]} values).")
    if shape[0] != n_topics:
        _fail(folder, f"the c-TF-IDF matrix has {shape[0]} rows for {n_topics} topics in topics.json.")
    if not np.isfinite(data).all():
        _fail(folder, "the c-TF-IDF matrix holds NaN or infinite values.")
    idf = np.asarray(ctf["diag"], dtype=np.float64).ravel()
    if idf.shape[0] != shape[1]:
        _fail(folder, f"the IDF vector has {idf.shape[0]} entries for {shape[1]} c-TF-IDF columns.")
    cpath = folder / CTFIDF_CONFIG
    cfg = _read_json(cpath)
    vec = cfg.get("vectorizer_model") if isinstance(cfg, dict) else None
    if not isinstance(vec, dict) or not isinstance(vec.get("vocab"), dict) or not isinstance(vec.get("params"), dict):
        _fail(cpath, "has no vectorizer_model with 'params' and 'vocab' objects.")
    vocab = vec["vocab"]
    cols = sorted(vocab.values()) if all(isinstance(c, int) for c in vocab.values()) else None
    if cols != list(range(shape[1])):
        _fail(cpath, f"the vocabulary's columns are not 0..{shape[1] - 1} once each (it has {len(vocab)} words "
                     f"for {shape[1]} c-TF-IDF columns).")
    words = [""] * shape[1]
    for w, c in vocab.items():
        words[c] = w
    params = dict(vec["params"])
    if isinstance(params.get("ngram_range"), list):
        params["ngram_range"] = tuple(params["ngram_range"])
    ctfidf_params = cfg.get("ctfidf_model") or {}
    if not isinstance(ctfidf_params, dict):
        _fail(cpath, "'ctfidf_model' is not a JSON object.")
    M = sparse.csr_matrix((data.astype(np.float64), indices.astype(np.int32), indptr.astype(np.int64)), shape=shape)
    return {"c_tf_idf": M, "vocabulary": words, "idf": idf, "vectorizer_params": params,
            "ctfidf_params": {"bm25_weighting": bool(ctfidf_params.get("bm25_weighting", False)),
                              "reduce_frequent_words": bool(ctfidf_params.get("reduce_frequent_words", False))}}


def _json_safe(value):
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, np.ndarray):
        return _json_safe(value.tolist())
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    return value


def write_bertopic_folder(path, values: Mapping[str, Any], serialization: str = "safetensors") -> None:
    """Write ``values`` (the keys :func:`read_bertopic_folder` returns) into folder ``path`` so
    that BERTopic 0.17.4's ``BERTopic.load(path)`` reads it.

    Required: ``topic_words``, ``topics``, ``topic_embeddings`` (rows in sorted topic-id order).
    Optional, defaulted: ``topic_sizes`` (counted from ``topics``), ``topic_labels`` (BERTopic's
    ``<id>_<w1>_<w2>_<w3>_<w4>``), ``custom_labels``, ``topic_aspects``, ``topic_mapper`` (identity),
    ``params`` (BERTopic's defaults for what is not given; keys BERTopic's constructor does not
    take are refused), ``embedding_model`` (a name ``BERTopic.load`` passes to
    SentenceTransformer, or None). With ``c_tf_idf`` (rows as the topic ids), ``vocabulary`` and
    ``idf`` are required, ``vectorizer_params`` (a CountVectorizer's JSON-able parameters) and
    ``ctfidf_params`` are optional, and the c-TF-IDF files are written. Everything is checked
    before the folder is touched (:class:`InputError`).
    """
    if serialization not in ("safetensors", "pytorch"):
        raise InputError(f"serialization must be 'safetensors' or 'pytorch', got {serialization!r}.")
    for key in ("topic_words", "topics", "topic_embeddings"):
        if values.get(key) is None:
            raise InputError(f"write_bertopic_folder needs values[{key!r}].")
    words = {int(k): [(str(w), float(s)) for w, s in v] for k, v in values["topic_words"].items()}
    ids = sorted(words)
    topics = [int(t) for t in np.asarray(values["topics"]).ravel().tolist()]
    if set(topics) - set(ids):
        raise InputError(f"topics holds ids {sorted(set(topics) - set(ids))[:5]} that have no topic_words.")
    emb = np.asarray(values["topic_embeddings"], dtype=np.float32)
    if emb.ndim != 2 or emb.shape[0] != len(ids):
        raise InputError(f"topic_embeddings must have one row per topic ({len(ids)}), got shape {emb.shape}.")
    sizes = values.get("topic_sizes")
    if sizes is None:
        ts, cs = np.unique(np.asarray(topics, dtype=np.int64), return_counts=True)
        sizes = dict(zip(ts.tolist(), cs.tolist()))
    sizes = {int(k): int(v) for k, v in sizes.items()}
    labels = values.get("topic_labels") or {}
    labels = {k: str(labels.get(k, f"{k}_" + "_".join(w for w, _ in words[k][:4]))) for k in ids}
    params = dict(BERTOPIC_PARAMS)
    extra = sorted(set(values.get("params") or {}) - set(BERTOPIC_PARAMS))
    if extra:
        raise InputError(f"params {extra} are not BERTopic 0.17.4 constructor parameters; leave them out.")
    params.update(values.get("params") or {})
    embedding_model = values.get("embedding_model")
    if embedding_model is not None and not isinstance(embedding_model, str):
        raise InputError("embedding_model must be a model name (str) or None.")
    # BERTopic writes the key only for a named model (its load passes a null one on twice)
    config = _json_safe(dict(params, **({"embedding_model": embedding_model} if embedding_model else {})))
    topics_json = _json_safe({
        "topic_representations": {k: [[w, s] for w, s in words[k]] for k in ids},
        "topics": topics,
        "topic_sizes": sizes,
        "topic_mapper": values.get("topic_mapper") or [[k, k] for k in ids],
        "topic_labels": labels,
        "custom_labels": values.get("custom_labels"),
        "_outliers": int(-1 in sizes),
        "topic_aspects": values.get("topic_aspects") or {},
    })
    tensors = {"topic_embeddings": np.ascontiguousarray(emb)}
    ctf = ctf_config = None
    if values.get("c_tf_idf") is not None:
        ctf, ctf_config = _ctfidf_for_writing(values, len(ids))

    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True)
    _save_tensors(folder / EMBEDDINGS[serialization == "pytorch"], tensors, serialization)
    (folder / TOPICS).write_text(json.dumps(topics_json, indent=2), encoding="utf-8")
    (folder / CONFIG).write_text(json.dumps(config, indent=2), encoding="utf-8")
    if ctf is not None:
        _save_tensors(folder / CTFIDF[serialization == "pytorch"], ctf, serialization)
        (folder / CTFIDF_CONFIG).write_text(json.dumps(ctf_config, indent=2), encoding="utf-8")


def _ctfidf_for_writing(values, n_topics: int):
    from scipy import sparse

    M = values["c_tf_idf"]
    M = sparse.csr_matrix(M.get() if hasattr(M, "get") else M)
    vocab = values.get("vocabulary")
    idf = values.get("idf")
    if vocab is None or idf is None:
        raise InputError("writing a c-TF-IDF matrix needs values['vocabulary'] (its column words) and "
                         "values['idf'] (its IDF weights).")
    vocab = [str(w) for w in vocab]
    idf = np.asarray(idf, dtype=np.float64).ravel()
    if M.shape[0] != n_topics or M.shape[1] != len(vocab) or idf.shape[0] != len(vocab) or len(set(vocab)) != len(vocab):
        raise InputError(f"c_tf_idf {M.shape} must have one row per topic ({n_topics}) and one column per distinct "
                         f"vocabulary word ({len(vocab)}), and idf one weight per word ({idf.shape[0]}).")
    vec = dict(values.get("vectorizer_params") or {})
    vec.setdefault("ngram_range", tuple((values.get("params") or {}).get("n_gram_range", (1, 1))))
    for key in ("tokenizer", "preprocessor", "dtype"):
        vec.pop(key, None)
    if not isinstance(vec.get("analyzer", "word"), str):
        vec.pop("analyzer")
    try:
        json.dumps(_json_safe(vec))
    except TypeError as e:
        raise InputError(f"vectorizer_params must be JSON-able CountVectorizer parameters ({e}).") from None
    cp = values.get("ctfidf_params") or {}
    config = {
        "ctfidf_model": {"bm25_weighting": bool(cp.get("bm25_weighting", False)),
                         "reduce_frequent_words": bool(cp.get("reduce_frequent_words", False))},
        "vectorizer_model": {"params": _json_safe(vec), "vocab": {w: i for i, w in enumerate(vocab)}},
    }
    M.sort_indices()
    tensors = {"indptr": M.indptr.astype(np.int32), "indices": M.indices.astype(np.int32),
               "data": M.data.astype(np.float64), "shape": np.array(M.shape, dtype=np.int64), "diag": idf}
    return tensors, config


def _save_tensors(path: Path, tensors: dict, serialization: str) -> None:
    if serialization == "safetensors":
        import safetensors.numpy

        safetensors.numpy.save_file({k: np.ascontiguousarray(v) for k, v in tensors.items()}, str(path))
        return
    try:
        import torch
    except ImportError:
        raise MissingDependencyError("serialization='pytorch' needs torch: install it, or use "
                                     "serialization='safetensors'.") from None
    torch.save({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in tensors.items()}, str(path))
