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
import os
import re
import secrets
import stat
from pathlib import Path
from typing import Any

import numpy as np

from ._params import param_value
from ._validation import check_bool
from .defaults import ENGLISH, LANGUAGES, is_untouched_default
from .device import host_sparse, optional_import, to_numpy, versions
from .exceptions import InputError, ModelFileError, ModelSaveError
from .persist_schema import (FORMAT, FORMAT_VERSION, HINT, PLAIN_PARAMS, SLOTS, TENSORS, SavedModel, bad,
                             build_saved, check_config, check_tensors)
from .mapper import identity_rows
from .state import FittedState

logger = logging.getLogger("gputopic")

CONFIG = "gputopic.json"
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
_DIR_FD = os.open in os.supports_dir_fd and os.rename in os.supports_dir_fd  # os.replace is renameat too


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file's bytes, read in blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


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
        raise bad(source, f"the JSON nests deeper than {MAX_JSON_DEPTH} levels (the format needs 6)")

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
            cfg = check_config(_parse_json(raw, folder / CONFIG), folder / CONFIG)
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
        raise bad(tensor_path, f"not a readable safetensors file ({exc})") from exc
    return build_saved(cfg, check_tensors(tensors, cfg, tensor_path))


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
        "params": {name: _describe(None if is_untouched_default(model, name) else param_value(model, name))
                   for name in PLAIN_PARAMS + SLOTS},
        "embedding_model": embedding,
        "n_features_in": int(state.n_features_in),
        "vocabulary": list(state.vocabulary),
        # partial_fit's sizes count every batch, its topics_ only the last one
        "topic_mapper": [list(r) for r in state.topic_mapper],
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


def save(model: Any, state: FittedState, path: Any, serialization: str, save_embedding_model: Any,
         save_ctfidf: Any, format: str) -> None:
    """``GPUTopic.save``: its arguments checked, then :func:`save_model` or :func:`save_bertopic`."""
    if serialization not in ("safetensors", "pytorch"):
        raise InputError(f"serialization must be 'safetensors' or 'pytorch'; got {serialization!r}. gputopic "
                         "never writes pickles: loading one can run any code.")
    if format not in ("gputopic", "bertopic"):
        raise InputError(f"format must be 'gputopic' or 'bertopic' (a folder BERTopic.load reads); got {format!r}.")
    check_bool("save_ctfidf", save_ctfidf)
    if not isinstance(save_embedding_model, (bool, str)):
        raise InputError("save_embedding_model must be True, False or a model name / folder (str), got "
                         f"{type(save_embedding_model).__name__}.")
    name = save_embedding_model if isinstance(save_embedding_model, str) else None
    if format == "bertopic":
        if name is None and save_embedding_model and isinstance(model.embedding_model, str):
            name = model.embedding_model
        save_bertopic(model, state, path, serialization, name)
        return
    save_model(model, state, path, embedding_name=name, record_embedding_model=save_embedding_model is not False)


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
        check_tensors(tensors, check_config(_parse_json(raw, source), source), source)
    except ModelFileError as exc:
        raise ModelFileError(str(exc).replace(HINT, "set a valid value (or fit again) before saving")) from exc
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
        topic_mapper=saved.topic_mapper or identity_rows(saved.sizes),
    )
    return kwargs, state


def _sizes_are_counts(topics: np.ndarray, sizes: dict) -> bool:
    """Whether the saved sizes count the saved topics (not so after partial_fit's batches)."""
    counts = dict(zip(*np.unique(topics, return_counts=True))) if topics.size else {}
    return all(int(counts.get(t, 0)) == int(c) for t, c in sizes.items())


# ====================================================================== BERTopic's folders


def is_bertopic_folder(path: Any) -> bool:
    """A folder BERTopic saved (config.json + topics.json), not one of gputopic's."""
    folder = Path(path)
    return (folder / "topics.json").is_file() and (folder / "config.json").is_file() and not (folder / CONFIG).exists()


# BERTopic's constructor parameters that mean the same here
_BERTOPIC_SAME = ("top_n_words", "min_topic_size", "nr_topics", "calculate_probabilities", "seed_topic_list",
                  "zeroshot_topic_list", "zeroshot_min_similarity", "verbose", "low_memory")


def load_bertopic(path: Any, embedding_model: Any = None) -> tuple[dict, FittedState]:
    """The parameters and fitted state of a folder BERTopic 0.17 saved with
    ``serialization="safetensors"`` or ``"pytorch"`` (no pickle is read; see
    :mod:`gputopic.bertopic_format`). Without the c-TF-IDF files (BERTopic's
    ``save_ctfidf=False``), the c-TF-IDF rows are the topic words' scores."""
    from .bertopic_format import read_bertopic_folder

    v = read_bertopic_folder(path)
    ids = [int(t) for t in v["topic_ids"]]
    words = {int(t): [(str(w), float(s)) for w, s in v["topic_words"][t]] for t in ids}
    if v.get("c_tf_idf") is not None:
        c_tf_idf, vocabulary, idf = v["c_tf_idf"].tocsr(), list(v["vocabulary"]), v["idf"]
    else:
        import scipy.sparse as sps

        vocabulary = sorted({w for t in ids for w, _ in words[t]})
        column = {w: j for j, w in enumerate(vocabulary)}
        rows = [(i, column[w], s) for i, t in enumerate(ids) for w, s in words[t]]
        c_tf_idf = sps.csr_matrix(([s for _, _, s in rows], ([i for i, _, _ in rows], [j for _, j, _ in rows])),
                                  shape=(len(ids), len(vocabulary)))
        idf = None
    aspects = {a: {int(t): [(str(w), float(s)) for w, s in pairs] for t, pairs in topics.items()}
               for a, topics in (v.get("topic_aspects") or {}).items()
               if sorted(int(t) for t in topics) == ids
               and all(isinstance(p, (list, tuple)) and len(p) == 2 for pairs in topics.values() for p in pairs)}
    topics = np.asarray(v["topics"], dtype=np.int64)
    sizes = {int(t): int(v["topic_sizes"].get(t, 0)) for t in ids}
    name = v.get("embedding_model")
    params = {k: v["params"][k] for k in _BERTOPIC_SAME if k in v["params"]}
    if isinstance(v["params"].get("language"), str) and v["params"]["language"].lower() in LANGUAGES + ENGLISH:
        params["language"] = v["params"]["language"]
    if v["params"].get("n_gram_range") is not None:
        params["n_gram_range"] = tuple(v["params"]["n_gram_range"])
    mapper = tuple(tuple(r) for r in v["topic_mapper"])
    if len({len(r) for r in mapper}) != 1 or len(mapper[0]) < 2 or {r[-1] for r in mapper} - set(ids):
        mapper = identity_rows(ids)  # rows BERTopic's online models pad with None, or inconsistent ones
    if embedding_model is not None:
        params["embedding_model"] = embedding_model
    elif name:
        params["embedding_model"] = name
    state = FittedState(
        topics=topics, probabilities=None, topic_sizes=sizes, representations=words,
        labels={t: str(v["topic_labels"].get(t, "")) for t in ids}, aspects=aspects,
        custom_labels=list(v["custom_labels"]) if v.get("custom_labels") else None, representative_docs={},
        topic_embeddings=np.asarray(v["topic_embeddings"], dtype=np.float32), c_tf_idf=c_tf_idf,
        vocabulary=vocabulary, n_features_in=int(np.shape(v["topic_embeddings"])[1]), embedding_model_id=name,
        saved_idf=None if idf is None else np.asarray(idf, dtype=np.float64),
        needs_embedding_model=not name and embedding_model is None,
        sizes_are_counts=_sizes_are_counts(topics, sizes), topic_mapper=mapper,
    )
    return params, state


def save_bertopic(model: Any, state: FittedState, path: Any, serialization: str, embedding_name: Any) -> None:
    """Write ``state`` as a folder BERTopic 0.17 loads with ``BERTopic.load(path)``."""
    from .bertopic_format import write_bertopic_folder

    idf = getattr(state.ctfidf_model, "idf_", None)
    idf = state.saved_idf if idf is None else idf
    params = {k: getattr(model, k) for k in _BERTOPIC_SAME + ("n_gram_range", "language")}
    values = {
        "topic_words": state.representations, "topics": state.topics, "topic_sizes": state.topic_sizes,
        "topic_embeddings": np.asarray(to_numpy(state.topic_embeddings), dtype=np.float32),
        "topic_labels": state.labels, "custom_labels": state.custom_labels, "topic_aspects": state.aspects,
        "params": params, "embedding_model": embedding_name,
        "topic_mapper": [list(r) for r in state.topic_mapper],
    }
    if idf is not None:
        values.update(c_tf_idf=host_sparse(state.c_tf_idf), vocabulary=list(state.vocabulary),
                      idf=np.asarray(to_numpy(idf), dtype=np.float64))
    write_bertopic_folder(path, values, serialization=serialization)
