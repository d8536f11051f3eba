"""A saved model folder is untrusted input: every tampering is refused with ModelFileError.

One small model is fitted and saved once; each case rewrites a copy of its files the way an
attacker who can write into the folder would (recomputing the checksum and the tensor file
name, so the checks past the checksum are reached), then loads it in a thread with a
timeout, and checks: a ModelFileError with a one-line message naming the problem, no hang,
and no file under the test's folder touched (the symlink targets live beside the model).
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import stat
import threading

import numpy as np
import pytest

from gputopic import GPUTopic
from gputopic import persist
from gputopic.exceptions import ModelFileError

from helpers import TOY_DOCS, HashingEncoder, fast_model

TIMEOUT_S = 20


@pytest.fixture(scope="module")
def original(tmp_path_factory):
    from safetensors.numpy import load_file

    model = fast_model().fit(TOY_DOCS)
    path = tmp_path_factory.mktemp("original") / "m"
    model.save(path)
    config = json.loads((path / "gputopic.json").read_text())
    tensors = load_file(str(path / config["tensors"]["file"]))
    return model, config, tensors


def write_model(folder, config, tensors, keep_name=False):
    """Write a model folder as save() would, checksum and file name recomputed."""
    from safetensors.numpy import save

    folder.mkdir(parents=True, exist_ok=True)
    blob = save(tensors)
    digest = hashlib.sha256(blob).hexdigest()
    config = copy.deepcopy(config)
    if not keep_name and isinstance(config.get("tensors"), dict):
        config["tensors"] = {"file": f"gputopic-{digest[:16]}.safetensors", "sha256": digest}
    (folder / f"gputopic-{digest[:16]}.safetensors").write_bytes(blob)
    (folder / "gputopic.json").write_text(json.dumps(config))
    return folder


def snapshot(root):
    """Every path under ``root`` (links not followed) with its size, mtime and mode."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            st = os.lstat(p)
            out[p] = (st.st_size, st.st_mtime_ns, st.st_mode)
    return out


def load_refused(folder, match, root):
    """Load in a thread with a timeout; return the ModelFileError, checking its message and
    that nothing under ``root`` changed."""
    before = snapshot(root)
    result = {}

    def run():
        try:
            GPUTopic.load(folder, embedding_model=HashingEncoder())
            result["ok"] = True
        except BaseException as exc:  # noqa: BLE001 - the test inspects the type
            result["exc"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(TIMEOUT_S)
    assert not thread.is_alive(), f"load hung on {folder} (> {TIMEOUT_S} s)"
    assert snapshot(root) == before, "load changed files"
    exc = result.get("exc")
    assert exc is not None, "the tampered model loaded"
    assert isinstance(exc, ModelFileError), f"{type(exc).__name__}: {exc}"
    message = str(exc)
    assert "\n" not in message and len(message) < 1000, message
    assert __import__("re").search(match, message), message
    return exc


# ------------------------------------------------------------------ JSON fields


def _set(path, value):
    """A mutation setting ``config[path...] = value`` (a key of None deletes the last key)."""
    def mutate(c, t):
        *head, last = path
        d = c
        for k in head:
            d = d[k]
        if value is _DELETE:
            del d[last]
        else:
            d[last] = value
    return mutate


_DELETE = object()
DAMAGED = "the file is damaged or was altered"

JSON_CASES = [
    # top level
    ("format missing", _set(["format"], _DELETE), "not a gputopic model file"),
    ("format other", _set(["format"], "bertopic"), "not a gputopic model file"),
    ("version string", _set(["format_version"], "2"), r"format_version must be an integer in \[1, 2\], got string"),
    ("version bool", _set(["format_version"], True), "format_version must be an integer"),
    ("version zero", _set(["format_version"], 0), "format_version must be an integer"),
    ("version float", _set(["format_version"], 2.0), "format_version must be an integer"),
    ("version newer", _set(["format_version"], 3), "format version 3; this gputopic reads up to 2. Upgrade"),
    *[(f"{k} missing", _set([k], _DELETE), f"the file lacks the field '{k}'")
      for k in ("versions", "params", "embedding_model", "n_features_in", "vocabulary", "topics", "tensors")],
    ("sizes missing", _set(["sizes"], _DELETE), "sizes must be 'documents' or 'batches'"),
    ("sizes other", _set(["sizes"], "all"), "sizes must be 'documents' or 'batches'"),
    ("unknown top-level field", _set(["pickle"], "x"), "holds the unknown field 'pickle'"),
    ("versions list", _set(["versions"], ["numpy"]), "versions must be an object, got a list"),
    ("versions value", _set(["versions", "numpy"], 2), "versions.numpy must be a string, got int"),
    # params: only what save writes, each typed
    ("params list", _set(["params"], []), "params must be an object"),
    ("params client", _set(["params", "client"], "tcp://evil:8786"), "unknown field 'client'"),
    ("params cache dir", _set(["params", "embedding_cache_dir"], "/tmp/x"), "unknown field 'embedding_cache_dir'"),
    ("params unknown", _set(["params", "foo"], 1), "unknown field 'foo'"),
    ("top_n_words string", _set(["params", "top_n_words"], "10"), r"params.top_n_words must be an integer"),
    ("top_n_words zero", _set(["params", "top_n_words"], 0), r"params.top_n_words must be an integer in \[1,"),
    ("top_n_words bool", _set(["params", "top_n_words"], True), r"params.top_n_words must be an integer"),
    ("min_topic_size 1", _set(["params", "min_topic_size"], 1), r"params.min_topic_size must be an integer in \[2,"),
    ("nr_topics word", _set(["params", "nr_topics"], "all"), r"params.nr_topics \(or null or 'auto'\) must be"),
    ("nr_topics zero", _set(["params", "nr_topics"], 0), r"params.nr_topics"),
    ("calculate_probabilities int", _set(["params", "calculate_probabilities"], 1),
     "params.calculate_probabilities must be true or false, got int"),
    ("verbose string", _set(["params", "verbose"], "yes"), "params.verbose must be true or false"),
    ("device unknown", _set(["params", "device"], "tpu"), r"params.device must be one of \['auto', 'cpu', 'cuda'\]"),
    ("device int", _set(["params", "device"], 3), "params.device must be one of"),
    ("batch_size zero", _set(["params", "batch_size"], 0), "params.batch_size must be an integer"),
    ("random_state negative", _set(["params", "random_state"], -1), "params.random_state must be an integer"),
    ("random_state float", _set(["params", "random_state"], 1.5), "params.random_state must be an integer"),
    ("random_state huge", _set(["params", "random_state"], 10**30), "params.random_state must be an integer"),
    ("embedding_backend unknown", _set(["params", "embedding_backend"], "onnx"), "params.embedding_backend must be"),
    ("seed list empty", _set(["params", "seed_topic_list"], []), r"params.seed_topic_list must be a list of at least"),
    ("seed topic empty", _set(["params", "seed_topic_list"], [[]]), r"params.seed_topic_list\[0\] must be a list"),
    ("seed word int", _set(["params", "seed_topic_list"], [["a", 3]]), r"seed_topic_list\[0\]\[1\] must be a non-empty"),
    ("seed string", _set(["params", "seed_topic_list"], "abc"), "params.seed_topic_list must be a list"),
    ("zeroshot dup", _set(["params", "zeroshot_topic_list"], ["a", "a"]), "names a topic more than once"),
    ("zeroshot blank", _set(["params", "zeroshot_topic_list"], [" "]), r"zeroshot_topic_list\[0\] must be a non-empty"),
    ("zeroshot sim range", _set(["params", "zeroshot_min_similarity"], 2), r"must be a number in \[-1.0, 1.0\]"),
    ("zeroshot sim string", _set(["params", "zeroshot_min_similarity"], "0.7"), "zeroshot_min_similarity must be"),
    ("slot int", _set(["params", "umap_model"], 3), "params.umap_model must be null, a backend name"),
    ("slot path", _set(["params", "hdbscan_model"], "../../x"), "params.hdbscan_model must be null, a backend name"),
    ("slot list", _set(["params", "representation_model"], ["a"]), "params.representation_model must be null"),
    ("slot descriptor key", _set(["params", "umap_model"], {"obj": "x"}), "params.umap_model lacks the field 'object'"),
    ("slot descriptor extra", _set(["params", "umap_model"], {"object": "x", "code": "y"}), "unknown field 'code'"),
    ("slot descriptor type", _set(["params", "umap_model"], {"object": 3}), "params.umap_model.object must be"),
    # embedding model
    ("embedding kind", _set(["embedding_model", "kind"], "pickle"), "embedding_model.kind must be one of"),
    ("embedding id int", _set(["embedding_model", "id"], 3), "embedding_model.id must be a string"),
    ("embedding name empty", _set(["embedding_model"], {"kind": "name", "id": ""}), "embedding_model.id must be a non"),
    ("embedding id missing", _set(["embedding_model"], {"kind": "default"}), "embedding_model lacks the field 'id'"),
    ("embedding id nul", _set(["embedding_model"], {"kind": "name", "id": "a\x00b"}), "embedding_model.id must be"),
    # dimensions and vocabulary
    ("n_features zero", _set(["n_features_in"], 0), r"n_features_in must be an integer in \[1, 1048576\]"),
    ("n_features string", _set(["n_features_in"], "64"), "n_features_in must be an integer"),
    ("n_features huge", _set(["n_features_in"], 10**30), "n_features_in must be an integer"),
    ("n_features other", _set(["n_features_in"], 63), r"tensor topic_embeddings has shape \(3, 64\), but .* make \(3, 63\)"),
    ("vocabulary string", _set(["vocabulary"], "abc"), "vocabulary must be a list"),
    ("vocabulary int", lambda c, t: c["vocabulary"].__setitem__(0, 1), r"vocabulary\[0\] must be a string, got int"),
    ("vocabulary duplicate", lambda c, t: c["vocabulary"].__setitem__(1, c["vocabulary"][0]),
     "vocabulary lists a term more than once"),
    ("vocabulary short", lambda c, t: c["vocabulary"].pop(), r"the c-TF-IDF shape \(3, \d+\) does not match"),
    # the topic table
    ("topics empty", _set(["topics"], []), "topics must be a list of at least 1 items"),
    ("topics object", _set(["topics"], {}), "topics must be a list"),
    ("topic not object", _set(["topics", 0], 5), r"topics\[0\] must be an object, got int"),
    *[(f"topic {k} missing", _set(["topics", 1, k], _DELETE), rf"topics\[1\] lacks the field '{k}'")
      for k in ("topic", "size", "label", "words", "representative_docs")],
    ("topic unknown field", _set(["topics", 0, "eval"], "x"), r"topics\[0\] holds the unknown field 'eval'"),
    ("topic id string", _set(["topics", 0, "topic"], "0"), r"topics\[0\].topic must be an integer in \[-1,"),
    ("topic id -2", _set(["topics", 0, "topic"], -2), r"topics\[0\].topic must be an integer in \[-1,"),
    ("topic id huge", _set(["topics", 0, "topic"], 2**40), r"topics\[0\].topic must be an integer"),
    ("topic id duplicate", _set(["topics", 1, "topic"], 0), r"topics\[1\].topic is 0 after topic 0: topic ids must be"),
    ("topic ids unsorted", _set(["topics", 0, "topic"], 5), r"topics\[1\].topic is 1 after topic 5"),
    ("topic id renamed", _set(["topics", 2, "topic"], 7), r"tensor topics holds topic ids missing from the topic table"),
    ("size negative", _set(["topics", 0, "size"], -1), r"topics\[0\].size must be an integer in \[0,"),
    ("size string", _set(["topics", 0, "size"], "20"), r"topics\[0\].size must be an integer"),
    ("size off by one", _set(["topics", 0, "size"], 21), "topic 0 has size 21 but 20 of the 60 documents"),
    ("sizes batches smaller", lambda c, t: (c.__setitem__("sizes", "batches"), c["topics"][1].__setitem__("size", 3)),
     "topic 1 has size 3 but 20 documents"),
    ("label int", _set(["topics", 0, "label"], 5), r"topics\[0\].label must be a string"),
    ("words string", _set(["topics", 0, "words"], "cat"), r"topics\[0\].words must be a list"),
    ("words single", _set(["topics", 0, "words"], [["cat"]]), r"topics\[0\].words\[0\] must be a \[word, score\] pair"),
    ("word score string", _set(["topics", 0, "words"], [["cat", "x"]]), r"words\[0\]\[1\] must be a finite number"),
    ("word not string", _set(["topics", 0, "words"], [[1, 0.5]]), r"words\[0\]\[0\] must be a string"),
    ("word score bool", _set(["topics", 0, "words"], [["cat", True]]), r"words\[0\]\[1\] must be a finite number"),
    ("representative int", _set(["topics", 0, "representative_docs"], [1]),
     r"topics\[0\].representative_docs\[0\] must be a string"),
    ("custom label on one", _set(["topics", 0, "custom_label"], "Cats"), "custom_label is set on some topics but not all"),
    ("custom label int", lambda c, t: [e.__setitem__("custom_label", 1) for e in c["topics"]],
     r"topics\[0\].custom_label must be a string"),
    ("zeroshot without names", _set(["topics", 0, "zeroshot"], 0), "zeroshot is set but params.zeroshot_topic_list is"),
    ("zeroshot out of range", lambda c, t: (c["params"].__setitem__("zeroshot_topic_list", ["cats"]),
                                            c["topics"][0].__setitem__("zeroshot", 1)),
     r"topics\[0\].zeroshot must be an integer in \[0, 0\]"),
    ("aspects not object", _set(["topics", 0, "aspects"], ["x"]), r"topics\[0\].aspects must be an object"),
    ("aspects on one topic", _set(["topics", 1, "aspects"], {"KeyBERT": [["cat", 0.5]]}),
     r"topics\[1\].aspects names \['KeyBERT'\] but topics\[0\] names \[\]"),
    ("aspect words", lambda c, t: [e.__setitem__("aspects", {"A": "x"}) for e in c["topics"]],
     r"topics\[0\].aspects.A must be a list"),
    # the tensor file's name and checksum
    ("tensor name parent", lambda c, t: c["tensors"].__setitem__("file", "../x.safetensors"),
     r"tensors.file must be 'gputopic-[0-9a-f]{16}.safetensors' \(the name save\(\) gives it\), got string '../x"),
    ("tensor name absolute", lambda c, t: c["tensors"].__setitem__("file", "/etc/passwd"), "tensors.file must be"),
    ("tensor name format 1", lambda c, t: c["tensors"].__setitem__("file", "gputopic.safetensors"), "tensors.file must"),
    ("tensor name list", lambda c, t: c["tensors"].__setitem__("file", ["a"]), "tensors.file must be"),
    ("sha256 short", lambda c, t: c["tensors"].__setitem__("sha256", "abc"), "tensors.sha256 must be 64 lowercase hex"),
    ("sha256 upper", lambda c, t: c["tensors"].__setitem__("sha256", c["tensors"]["sha256"].upper()),
     "tensors.sha256 must be 64 lowercase hex"),
    ("sha256 other", lambda c, t: c["tensors"].__setitem__("sha256", "0" * 64), r"tensors.file must be 'gputopic-0{16}"),
    ("tensors extra key", lambda c, t: c["tensors"].__setitem__("path", "/x"), "tensors holds the unknown field 'path'"),
]


@pytest.mark.parametrize("mutate,match", [c[1:] for c in JSON_CASES], ids=[c[0] for c in JSON_CASES])
def test_tampered_json_field_is_refused(original, tmp_path, mutate, match):
    _, config, tensors = original
    folder = tmp_path / "m"
    write_model(folder, config, tensors)
    c = json.loads((folder / "gputopic.json").read_text())
    mutate(c, tensors)
    (folder / "gputopic.json").write_text(json.dumps(c))
    load_refused(folder, match, tmp_path)


def _deep(n):
    return b'{"format": "gputopic-model", "x": ' + b"[" * n + b"]" * n + b"}"


RAW_CASES = [
    ("empty file", lambda raw: b"", "not valid JSON"),
    ("truncated", lambda raw: raw[: len(raw) // 2], "not valid JSON"),
    ("not utf-8", lambda raw: b"\xff\xfe" + raw, "not valid JSON"),
    ("null", lambda raw: b"null", "not a gputopic model file"),
    ("a list", lambda raw: b"[1, 2]", "not a gputopic model file"),
    ("NaN literal", lambda raw: raw.replace(b'"n_features_in": 64', b'"n_features_in": NaN'), "NaN is not a number"),
    ("Infinity score", lambda raw: raw.replace(b'"size": 20', b'"size": Infinity', 1), "Infinity is not a number"),
    ("1e400 score", lambda raw: raw.replace(b'"words": [["', b'"words": [["x", 1e400], ["', 1),
     r"words\[0\]\[1\] must be a finite number, got float inf"),
    ("huge integer", lambda raw: raw.replace(b'"size": 20', b'"size": ' + b"9" * 5000, 1), "not valid JSON"),
    ("nested 20", lambda raw: _deep(20), "the JSON nests deeper than 16 levels"),
    ("nested 100000", lambda raw: _deep(100_000), "the JSON nests deeper than 16 levels"),
    ("nested in a field", lambda raw: raw.replace(b'"representative_docs": [', b'"representative_docs": ' + b"[" * 50_000
                                                  + b"]" * 49_999 + b", ", 1), "nests deeper than 16"),
    ("brackets in strings", lambda raw: raw.replace(b'"label": "', b'"label": "' + b"[{" * 5000, 1), None),
]


@pytest.mark.parametrize("mutate,match", [c[1:] for c in RAW_CASES], ids=[c[0] for c in RAW_CASES])
def test_damaged_json_text_is_refused(original, tmp_path, mutate, match):
    _, config, tensors = original
    folder = write_model(tmp_path / "m", config, tensors)
    raw = json.dumps(config | {"tensors": json.loads((folder / "gputopic.json").read_text())["tensors"]}).encode()
    (folder / "gputopic.json").write_bytes(mutate(raw))
    if match is None:  # control: brackets inside strings are text, not nesting
        model = GPUTopic.load(folder, embedding_model=HashingEncoder())
        assert model.topic_labels_[0].startswith("[{[{")
        return
    load_refused(folder, match, tmp_path)


# ----------------------------------------------------------------------- tensors


def _t(name, fn):
    def mutate(c, t):
        t[name] = fn(t[name], c)
    return mutate


def _drop(name):
    def mutate(c, t):
        del t[name]
    return mutate


def _add(name, fn):
    def mutate(c, t):
        t[name] = fn(t, c)
    return mutate


def _indices(fn):
    """Change the c-TF-IDF column indices of row 0 (which holds several values)."""
    def mutate(c, t):
        ind = t["c_tf_idf.indices"].copy()
        fn(ind, t["c_tf_idf.indptr"], len(c["vocabulary"]))
        t["c_tf_idf.indices"] = ind
    return mutate


def _set_at(arr, i, v):
    arr = arr.copy()
    arr[i] = v
    return arr


TENSOR_CASES = [
    *[(f"{k} missing", _drop(k), f"lacks the tensor '{k}'")
      for k in ("topic_embeddings", "c_tf_idf.data", "c_tf_idf.indices", "c_tf_idf.indptr", "c_tf_idf.shape", "topics")],
    ("unknown tensor", _add("payload", lambda t, c: np.zeros(3)), "holds the unknown tensor 'payload'"),
    # dtypes
    ("embeddings float64", _t("topic_embeddings", lambda a, c: a.astype(np.float64)),
     "tensor topic_embeddings must be float32, got float64"),
    ("data float32", _t("c_tf_idf.data", lambda a, c: a.astype(np.float32)), "tensor c_tf_idf.data must be float64"),
    ("indices int32", _t("c_tf_idf.indices", lambda a, c: a.astype(np.int32)), "tensor c_tf_idf.indices must be int64"),
    ("indptr uint64", _t("c_tf_idf.indptr", lambda a, c: a.astype(np.uint64)), "tensor c_tf_idf.indptr must be int64"),
    ("shape float", _t("c_tf_idf.shape", lambda a, c: a.astype(np.float64)), "tensor c_tf_idf.shape must be int64"),
    ("topics float", _t("topics", lambda a, c: a.astype(np.float64)), "tensor topics must be int64"),
    ("topics bool", _t("topics", lambda a, c: a.astype(bool)), "tensor topics must be int64, got bool"),
    ("idf float32", _add("ctfidf.idf", lambda t, c: t["ctfidf.idf"].astype(np.float32)), "tensor ctfidf.idf must be"),
    ("probabilities float64", _add("probabilities", lambda t, c: np.full(60, 0.5)), "probabilities must be float32"),
    # shapes against the table
    ("embeddings one row short", _t("topic_embeddings", lambda a, c: a[:-1].copy()),
     r"tensor topic_embeddings has shape \(2, 64\), but the file's 3 topics"),
    ("embeddings one column short", _t("topic_embeddings", lambda a, c: a[:, :-1].copy()), "topic_embeddings has shape"),
    ("embeddings flat", _t("topic_embeddings", lambda a, c: a.ravel().copy()), "topic_embeddings has shape"),
    ("c-TF-IDF shape other", _t("c_tf_idf.shape", lambda a, c: a + 1), "the c-TF-IDF shape .* does not match"),
    ("c-TF-IDF shape 2-D", _t("c_tf_idf.shape", lambda a, c: a.reshape(1, 2).copy()), r"c_tf_idf.shape has shape \(1, 2\)"),
    ("indptr long", _t("c_tf_idf.indptr", lambda a, c: np.append(a, a[-1])), r"tensor c_tf_idf.indptr has shape \(5,\)"),
    ("data 2-D", _t("c_tf_idf.data", lambda a, c: a.reshape(1, -1).copy()), "c_tf_idf.data must be one-dimensional"),
    ("data short", _t("c_tf_idf.data", lambda a, c: a[:-1].copy()),
     r"tensor c_tf_idf.indices has shape \((\d+),\), but the c-TF-IDF's \d+ stored values make"),
    ("indices short", _t("c_tf_idf.indices", lambda a, c: a[:-1].copy()), r"tensor c_tf_idf.indices has shape"),
    ("data and indices short", lambda c, t: [t.__setitem__(k, t[k][:-1].copy()) for k in ("c_tf_idf.data",
                                                                                         "c_tf_idf.indices")],
     "c-TF-IDF indptr must rise from 0 to the"),
    ("topics 2-D", _t("topics", lambda a, c: a.reshape(-1, 1).copy()), "tensor topics must be one topic id per document"),
    ("topics unknown id", _t("topics", lambda a, c: _set_at(a, 0, 99)), r"topic ids missing from the topic table, e\.g\. \[99\]"),
    ("topics negative id", _t("topics", lambda a, c: _set_at(a, 0, -1)), r"missing from the topic table, e\.g\. \[-1\]"),
    ("topics one short", _t("topics", lambda a, c: a[1:].copy()), r"topic \d has size 20 but 19 of the 59 documents"),
    ("idf short", _add("ctfidf.idf", lambda t, c: t["ctfidf.idf"][:-1].copy()), r"tensor ctfidf.idf has shape"),
    ("probabilities short", _add("probabilities", lambda t, c: np.full(59, 0.5, np.float32)),
     r"tensor probabilities has shape \(59,\); the file's 60 documents and 3 topics make \(60,\) or \(60, 3\)"),
    ("probabilities wide", _add("probabilities", lambda t, c: np.full((60, 4), 0.2, np.float32)),
     r"tensor probabilities has shape \(60, 4\)"),
    ("probabilities 3-D", _add("probabilities", lambda t, c: np.full((60, 3, 1), 0.2, np.float32)),
     r"tensor probabilities has shape \(60, 3, 1\)"),
    # the CSR structure (out-of-range indices crashed SciPy before)
    ("indptr not from 0", _t("c_tf_idf.indptr", lambda a, c: _set_at(a, 0, 1)), "indptr must rise from 0"),
    ("indptr past nnz", _t("c_tf_idf.indptr", lambda a, c: _set_at(a, -1, a[-1] + 5)), "indptr must rise from 0"),
    ("indptr falls", _t("c_tf_idf.indptr", lambda a, c: _set_at(a, 1, a[2] + 1)), "indptr must rise from 0"),
    ("indptr negative", _t("c_tf_idf.indptr", lambda a, c: _set_at(a, 1, -3)), "indptr must rise from 0"),
    ("index past vocabulary", _indices(lambda ind, ptr, v: ind.__setitem__(0, v)), r"column indices outside \[0, \d+\)"),
    ("index huge", _indices(lambda ind, ptr, v: ind.__setitem__(0, 2**40)), "column indices outside"),
    ("index negative", _indices(lambda ind, ptr, v: ind.__setitem__(1, -1)), "column indices outside"),
    ("indices unsorted", _indices(lambda ind, ptr, v: ind.__setitem__(slice(0, 2), ind[1::-1].copy())),
     "column indices are not sorted and unique within each row"),
    ("indices duplicate", _indices(lambda ind, ptr, v: ind.__setitem__(1, ind[0])), "not sorted and unique"),
    # values
    ("embeddings NaN", _t("topic_embeddings", lambda a, c: _set_at(a, (0, 0), np.nan)),
     "tensor topic_embeddings holds NaN or infinite values"),
    ("embeddings inf", _t("topic_embeddings", lambda a, c: _set_at(a, (1, 2), np.inf)), "topic_embeddings holds NaN"),
    ("data NaN", _t("c_tf_idf.data", lambda a, c: _set_at(a, 0, np.nan)), "tensor c_tf_idf.data holds NaN"),
    ("data -inf", _t("c_tf_idf.data", lambda a, c: _set_at(a, 0, -np.inf)), "tensor c_tf_idf.data holds NaN"),
    ("idf NaN", _add("ctfidf.idf", lambda t, c: _set_at(t["ctfidf.idf"], 0, np.nan)), "tensor ctfidf.idf holds NaN"),
    ("probabilities NaN", _add("probabilities", lambda t, c: _set_at(np.full((60, 3), 0.3, np.float32), (5, 1), np.nan)),
     "tensor probabilities holds NaN"),
]


@pytest.mark.parametrize("mutate,match", [c[1:] for c in TENSOR_CASES], ids=[c[0] for c in TENSOR_CASES])
def test_tampered_tensor_is_refused(original, tmp_path, mutate, match):
    _, config, tensors = original
    c, t = copy.deepcopy(config), {k: v.copy() for k, v in tensors.items()}
    mutate(c, t)
    folder = write_model(tmp_path / "m", c, t)
    load_refused(folder, match, tmp_path)


@pytest.mark.parametrize("shape", [(60,), (60, 3)])
def test_valid_probabilities_load(original, tmp_path, shape):
    """Controls for the cases above: well-formed extra probabilities load."""
    _, config, tensors = original
    probs = np.random.default_rng(0).random(shape).astype(np.float32)
    folder = write_model(tmp_path / "m", config, dict(tensors, probabilities=probs))
    np.testing.assert_array_equal(GPUTopic.load(folder).probabilities_, probs)


def test_not_a_safetensors_file(original, tmp_path):
    _, config, tensors = original
    folder = write_model(tmp_path / "m", config, tensors)
    c = json.loads((folder / "gputopic.json").read_text())
    (folder / c["tensors"]["file"]).unlink()
    for blob in (b"\x00" * 64, b"\xff" * 8 + b"{}", (10**6).to_bytes(8, "little") + b'{"a": 1}'):
        digest = hashlib.sha256(blob).hexdigest()
        name = f"gputopic-{digest[:16]}.safetensors"
        (folder / name).write_bytes(blob)
        c["tensors"] = {"file": name, "sha256": digest}
        (folder / "gputopic.json").write_text(json.dumps(c))
        load_refused(folder, "not a readable safetensors file", tmp_path)
        (folder / name).unlink()


def test_safetensors_header_lying_about_offsets(original, tmp_path):
    _, config, tensors = original
    from safetensors.numpy import save

    blob = bytearray(save(tensors))
    n = int.from_bytes(blob[:8], "little")
    header = json.loads(blob[8: 8 + n])
    name = next(k for k in header if k != "__metadata__")
    begin, end = header[name]["data_offsets"]
    header[name]["data_offsets"] = [begin, end + 10**9]  # past the end of the file
    text = json.dumps(header).encode()
    text += b" " * (n - len(text)) if len(text) <= n else b""
    blob = len(text).to_bytes(8, "little") + text + bytes(blob[8 + n:])
    digest = hashlib.sha256(blob).hexdigest()
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / f"gputopic-{digest[:16]}.safetensors").write_bytes(blob)
    c = dict(config, tensors={"file": f"gputopic-{digest[:16]}.safetensors", "sha256": digest})
    (folder / "gputopic.json").write_text(json.dumps(c))
    load_refused(folder, "not a readable safetensors file", tmp_path)


# ------------------------------------------------------ links, special files, sizes


@pytest.fixture
def folder(original, tmp_path):
    _, config, tensors = original
    path = write_model(tmp_path / "m", config, tensors)
    return path, path / json.loads((path / "gputopic.json").read_text())["tensors"]["file"]


def _replace_with_link(path, target):
    path.unlink()
    os.symlink(target, path)


def test_json_symlink_leading_out_is_refused(folder, tmp_path):
    path, _ = folder
    outside = tmp_path / "outside.json"
    outside.write_bytes((path / "gputopic.json").read_bytes())
    _replace_with_link(path / "gputopic.json", outside)
    load_refused(path, "gputopic.json is a symbolic link: a saved model holds regular files only", tmp_path)


def test_json_symlink_inside_is_refused(folder, tmp_path):
    path, _ = folder
    (path / "real.json").write_bytes((path / "gputopic.json").read_bytes())
    _replace_with_link(path / "gputopic.json", "real.json")
    load_refused(path, "is a symbolic link", tmp_path)


def test_tensor_symlink_leading_out_is_refused(folder, tmp_path):
    path, tensor = folder
    outside = tmp_path / "outside.safetensors"
    outside.write_bytes(tensor.read_bytes())
    _replace_with_link(tensor, outside)
    load_refused(path, r"gputopic-[0-9a-f]{16}.safetensors is a symbolic link", tmp_path)


def test_tensor_symlink_inside_is_refused(folder, tmp_path):
    path, tensor = folder
    (path / "copy").write_bytes(tensor.read_bytes())
    _replace_with_link(tensor, "copy")
    load_refused(path, "is a symbolic link", tmp_path)


@pytest.mark.parametrize("which", ["json", "tensors"])
def test_dev_zero_symlink_is_refused_without_hanging(folder, tmp_path, which):
    path, tensor = folder
    _replace_with_link(path / "gputopic.json" if which == "json" else tensor, "/dev/zero")
    load_refused(path, "is a symbolic link", tmp_path)


@pytest.mark.parametrize("which", ["json", "tensors"])
def test_fifo_is_refused_without_hanging(folder, tmp_path, which):
    path, tensor = folder
    target = path / "gputopic.json" if which == "json" else tensor
    target.unlink()
    os.mkfifo(target)
    load_refused(path, "is not a regular file", tmp_path)


def test_character_device_is_refused(folder, tmp_path):
    path, tensor = folder
    tensor.unlink()
    try:
        os.mknod(tensor, stat.S_IFCHR | 0o666, os.makedev(1, 5))  # /dev/zero's numbers
    except (PermissionError, OSError):
        pytest.skip("cannot make a device node here (needs CAP_MKNOD)")
    load_refused(path, "is not a regular file", tmp_path)


@pytest.mark.parametrize("which", ["json", "tensors"])
def test_folder_in_place_of_a_file_is_refused(folder, tmp_path, which):
    path, tensor = folder
    target = path / "gputopic.json" if which == "json" else tensor
    target.unlink()
    target.mkdir()
    load_refused(path, "is not a regular file", tmp_path)


@pytest.mark.parametrize("which", ["json", "tensors"])
def test_sparse_file_over_the_cap_is_refused_at_once(folder, tmp_path, which):
    """A file bigger than the cap is refused from its size, before any byte is read (a sparse
    file: no disk used)."""
    path, tensor = folder
    target = path / "gputopic.json" if which == "json" else tensor
    cap = persist.MAX_JSON_BYTES if which == "json" else persist.MAX_TENSOR_BYTES
    probe = tmp_path / "probe"
    probe.write_bytes(b"")
    os.truncate(probe, 64 << 20)
    if probe.stat().st_blocks * 512 > 1 << 20:  # the file system wrote the zeros: no sparse files here
        pytest.skip("this file system has no sparse files")
    probe.unlink()
    try:
        os.truncate(target, cap + 1)
    except OSError:
        pytest.skip("this file system cannot hold a sparse file that large")
    load_refused(path, rf"is {cap + 1} bytes, over the {cap}-byte limit", tmp_path)


def test_caps_are_module_settings(folder, tmp_path, monkeypatch):
    path, tensor = folder
    monkeypatch.setattr(persist, "MAX_TENSOR_BYTES", tensor.stat().st_size - 1)
    load_refused(path, "over the .*-byte limit for the tensor file .*MAX_TENSOR_BYTES", tmp_path)
    monkeypatch.setattr(persist, "MAX_JSON_BYTES", 100)
    load_refused(path, "over the 100-byte limit for the model's JSON", tmp_path)


def test_stray_files_are_ignored_and_never_read(folder, tmp_path):
    """Files the JSON does not name (even a FIFO or a link to /dev/zero) are not opened."""
    path, _ = folder
    os.mkfifo(path / "gputopic-0000000000000000.safetensors")
    os.symlink("/dev/zero", path / "other.json")
    before = snapshot(tmp_path)
    model = GPUTopic.load(path, embedding_model=HashingEncoder())
    assert len(model.topic_sizes_) == 3 and snapshot(tmp_path) == before


def test_missing_and_wrong_folder(tmp_path):
    load_refused(tmp_path / "nothing", "no such directory", tmp_path)
    (tmp_path / "file").write_text("x")
    load_refused(tmp_path / "file", "no such directory", tmp_path)
    (tmp_path / "empty").mkdir()
    load_refused(tmp_path / "empty", "gputopic.json is missing", tmp_path)


def test_untampered_copy_loads(original, tmp_path):
    """The control: the writer above makes a loadable model when nothing is changed."""
    model, config, tensors = original
    loaded = GPUTopic.load(write_model(tmp_path / "m", config, tensors), embedding_model=HashingEncoder())
    assert loaded.get_topics() == model.get_topics()


# ----------------------------------------------- every field, enumerated from a real file


def _paths(value, path=()):
    """Every position in the saved JSON (first item only of each list)."""
    yield path
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, path + (k,))
    elif isinstance(value, list) and value:
        yield from _paths(value[0], path + (0,))


def _edit(config, path, value):
    c = copy.deepcopy(config)
    d = c
    for k in path[:-1]:
        d = d[k]
    if value is _DELETE:
        del d[path[-1]]
    else:
        d[path[-1]] = value
    return c


def test_every_field_is_checked(original, tmp_path):
    """For each position of a real saved JSON: an object of the wrong shape in its place, or
    a list nested 40 deep, is refused; deleting a key is refused unless the key is optional
    (a parameter then takes its default)."""
    model, config, tensors = original
    base = write_model(tmp_path / "base", config, tensors)
    config = json.loads((base / "gputopic.json").read_text())
    defaults = GPUTopic().get_params(deep=False)
    deep = [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]
    paths = [p for p in _paths(config) if p]
    assert len(paths) > 40
    for i, path in enumerate(paths):
        where = ".".join(map(str, path))
        for j, value in enumerate(({"x": 1}, deep)):
            folder = tmp_path / f"c{i}-{j}"
            write_model(folder, config, tensors)
            (folder / "gputopic.json").write_text(json.dumps(_edit(config, path, value)))
            try:
                load_refused(folder, ".", tmp_path)
            except AssertionError as exc:
                raise AssertionError(f"{where} = {str(value)[:20]}: {exc}") from None
        if isinstance(path[-1], str):
            folder = tmp_path / f"d{i}"
            write_model(folder, config, tensors)
            (folder / "gputopic.json").write_text(json.dumps(_edit(config, path, _DELETE)))
            if path[0] == "versions" and len(path) == 2:  # library versions: informative, any subset
                GPUTopic.load(folder)
            elif path[0] == "params" and len(path) == 2:
                loaded = GPUTopic.load(folder, embedding_model=HashingEncoder())
                assert loaded.get_params(deep=False)[path[1]] == defaults[path[1]] or path[1] in (
                    "umap_model", "hdbscan_model"), where
            else:
                try:
                    load_refused(folder, "lacks|not a gputopic model|must be", tmp_path)
                except AssertionError as exc:
                    raise AssertionError(f"deleting {where}: {exc}") from None
