"""gputopic.bertopic_compat against BERTopic itself (skipped when BERTopic is not installed):
BERTopic's representation models run through gputopic's protocol, and BERTopic save folders
read and written both ways."""

from __future__ import annotations

import json
import re
import shutil

import numpy as np
import pytest

bertopic = pytest.importorskip("bertopic")

from bertopic._bertopic import BERTopic  # noqa: E402  (the class itself, whatever bertopic.BERTopic is)
from bertopic.dimensionality import BaseDimensionalityReduction  # noqa: E402
from bertopic.representation import BaseRepresentation, KeyBERTInspired, MaximalMarginalRelevance  # noqa: E402
from bertopic.representation._utils import truncate_document  # noqa: E402
from sklearn.cluster import KMeans  # noqa: E402

from gputopic import represent  # noqa: E402
from gputopic.bertopic_compat import BERTopicRepresentation, is_bertopic_representation, wrap  # noqa: E402
from gputopic.bertopic_format import read_bertopic_folder, write_bertopic_folder  # noqa: E402
from gputopic.exceptions import InputError, ModelFileError  # noqa: E402

from helpers import TOY_DOCS, HashingEncoder, fast_model  # noqa: E402

THEMES = ("cat", "market", "football")


# ------------------------------------------------------------------ a fake LLM representation
class FakeLLM(BaseRepresentation):
    """BERTopic's LLM representations in miniature: representative documents from the topic
    model, truncated with BERTopic's truncate_document, a label from ``generate`` (the "LLM")."""

    def __init__(self, generate, nr_docs=4, diversity=None, doc_length=None, tokenizer=None):
        self.generate = generate
        self.nr_docs = nr_docs
        self.diversity = diversity
        self.doc_length = doc_length
        self.tokenizer = tokenizer
        self.prompts_ = []

    def extract_topics(self, topic_model, documents, c_tf_idf, topics):
        mapping, _, _, _ = topic_model._extract_representative_docs(c_tf_idf, documents, topics, 500,
                                                                    self.nr_docs, self.diversity)
        out = {}
        for topic, docs in mapping.items():
            docs = [truncate_document(topic_model, self.doc_length, self.tokenizer, d) for d in docs]
            self.prompts_.append((topic, docs, [w for w, _ in topics[topic]]))
            out[topic] = [(self.generate(docs), 1)]
        return out


THEME_WORDS = {"cat": {"cat", "kitten", "mat", "purred"}, "market": {"market", "stocks", "shares", "investors"},
               "football": {"football", "team", "goal", "match", "fans"}}


def theme_of(docs):
    words = " ".join(docs).split()
    return max(THEMES, key=lambda theme: sum(w in THEME_WORDS[theme] for w in words))


def test_fake_llm_labels_every_topic_from_its_own_documents():
    llm = FakeLLM(theme_of, nr_docs=3, doc_length=4, tokenizer="vectorizer")
    model = fast_model(representation_model=wrap(llm)).fit(TOY_DOCS)
    labels = {t: w[0][0] for t, w in model.get_topics().items()}
    assert sorted(labels.values()) == sorted(THEMES)  # one topic per theme, each labelled by its own docs
    for topic, docs, words in llm.prompts_:
        assert 0 < len(docs) <= 3
        assert all(len(d.split()) <= 4 for d in docs)  # truncate_document(tokenizer="vectorizer") ran
        assert words[0]  # the topic's c-TF-IDF words came along
        # each is the first 4 tokens (CountVectorizer's token pattern) of a document of that topic
        members = {" ".join(re.findall(r"(?u)\b\w\w+\b", d)[:4]) for d, t in zip(TOY_DOCS, model.topics_)
                   if t == topic}
        assert set(docs) <= members


def test_chains_and_aspects_run_in_order():
    seen = []

    def generate(docs):
        seen.append(docs)
        return theme_of(docs)

    model = fast_model(representation_model=wrap({
        "Main": KeyBERTInspired(top_n_words=5),
        "LLM": [KeyBERTInspired(), FakeLLM(generate)],
        "MMR": MaximalMarginalRelevance(diversity=0.5, top_n_words=4),
    })).fit(TOY_DOCS)
    full = model.get_topics(full=True)
    assert sorted(w[0][0] for w in full["LLM"].values()) == sorted(THEMES)
    assert all(1 <= len(w) <= 5 for w in full["Main"].values())
    assert all(len(w) == 4 for w in full["MMR"].values())
    assert len(seen) == 3


def _toy_inputs():
    emb = HashingEncoder().encode(TOY_DOCS)
    topics = np.repeat([0, 1, 2], 20)
    topic_words = {0: [("cat", 0.9), ("mat", 0.5), ("kitten", 0.4), ("purred", 0.3), ("the", 0.1)],
                   1: [("market", 0.9), ("stocks", 0.6), ("shares", 0.5), ("fell", 0.2)],
                   2: [("football", 0.8), ("team", 0.7), ("goal", 0.6), ("match", 0.5), ("won", 0.2)]}
    rep = {t: [d for d, k in zip(TOY_DOCS, topics) if k == t][:5] for t in range(3)}
    return emb, topics, topic_words, rep


def test_wrapped_keybert_equals_gputopics_keybert():
    # the same algorithm on the same inputs: candidate words, topic vector = mean of the
    # representative documents' embeddings, words ranked by cosine to it
    _, _, topic_words, rep = _toy_inputs()
    enc = HashingEncoder(dim=256)
    ours, _ = represent.apply_representation(represent.KeyBERTInspired(top_n_words=3, nr_repr_docs=5),
                                             topic_words, enc.encode, {"representative_docs": rep}, 3)
    theirs, _ = represent.apply_representation(wrap(KeyBERTInspired(top_n_words=3, nr_repr_docs=5)),
                                               topic_words, enc.encode, {"representative_docs": rep}, 3)
    for t in ours:  # the same words with the same scores (compared as a mapping: equal scores may swap)
        assert dict(theirs[t]).keys() == dict(ours[t]).keys()
        np.testing.assert_allclose([dict(theirs[t])[w] for w, _ in ours[t]], [s for _, s in ours[t]], rtol=1e-5)
        assert [s for _, s in theirs[t]] == sorted((s for _, s in theirs[t]), reverse=True)


class RowReader(BaseRepresentation):
    """Reads what PartOfSpeech reads: ``c_tf_idf_[topic + _outliers]`` and the vocabulary."""

    def extract_topics(self, topic_model, documents, c_tf_idf, topics):
        words = topic_model.vectorizer_model.get_feature_names_out()
        out = {}
        for t in topics:
            row = topic_model.c_tf_idf_[t + topic_model._outliers].toarray().ravel()
            out[t] = [(words[int(np.argmax(row))], float(row.max())), ("", 0)]
            # the c_tf_idf argument's rows follow sorted(topics)
            arg = c_tf_idf[sorted(topics).index(t)].toarray().ravel()
            assert np.array_equal(arg, row)
            assert set(documents.loc[documents.Topic == t, "Document"]) <= set(self.docs[t])
        return out


def test_full_inputs_give_bertopics_row_layout():
    from scipy import sparse

    vocab = ["alpha", "beta", "gamma", "delta"]
    ids = [2, -1, 0, 1]  # the host's row order, outliers included
    M = sparse.csr_matrix(np.array([[0, 0, 5, 1], [1, 0, 0, 0], [0, 3, 0, 0], [0, 0, 0, 4]], dtype=float))
    docs = ["d0", "d1", "d2", "d3", "d4"]
    doc_topics = [0, 1, 2, -1, 2]
    model = RowReader()
    model.docs = {t: [d for d, k in zip(docs, doc_topics) if k == t] for t in (-1, 0, 1, 2)}
    words = {t: [("x", 1.0)] for t in (-1, 0, 1, 2)}
    rep = {t: model.docs[t][:1] for t in words}
    out = BERTopicRepresentation(model).represent(words, embed=None, representative_docs=rep, documents=docs,
                                                  document_topics=doc_topics, c_tf_idf=M, topic_ids=ids,
                                                  vocabulary=vocab)
    assert out == {2: [("gamma", 5.0)], -1: [("alpha", 1.0)], 0: [("beta", 3.0)], 1: [("delta", 4.0)]}


def test_topics_without_documents_keep_their_words():
    _, _, topic_words, rep = _toy_inputs()
    rep[1] = []
    out = BERTopicRepresentation(FakeLLM(theme_of)).represent(topic_words, embed=None, representative_docs=rep)
    assert out[1] == topic_words[1]
    assert out[0] == [("cat", 1.0)] and out[2] == [("football", 1.0)]


def test_wrap_and_detection_leave_other_models_alone():
    ours = represent.MaximalMarginalRelevance()
    assert not is_bertopic_representation(ours) and wrap(ours) is ours and wrap(None) is None
    assert is_bertopic_representation(KeyBERTInspired())
    assert is_bertopic_representation([ours, KeyBERTInspired()])
    assert is_bertopic_representation({"Main": ours, "A": [KeyBERTInspired()]})
    wrapped = wrap({"Main": ours, "A": [KeyBERTInspired(), ours]})
    assert wrapped["Main"] is ours and isinstance(wrapped["A"][0], BERTopicRepresentation) and wrapped["A"][1] is ours
    represent.check_representation(wrapped)  # passes gputopic's own check
    k = wrap(KeyBERTInspired(nr_repr_docs=7, nr_candidate_words=50))
    assert (k.nr_repr_docs, k.nr_candidate_words) == (7, 50)
    assert wrap(FakeLLM(theme_of, nr_docs=3, diversity=0.2)).nr_repr_docs == 12


def test_a_model_returning_no_dict_is_refused():
    class Bad(BaseRepresentation):
        def extract_topics(self, topic_model, documents, c_tf_idf, topics):
            return ["label"]

    _, _, topic_words, rep = _toy_inputs()
    with pytest.raises(InputError, match="returned list, not a"):
        wrap(Bad()).represent(topic_words, embed=None, representative_docs=rep)


def test_embeddings_asked_without_an_embedding_model_are_refused():
    _, _, topic_words, rep = _toy_inputs()
    with pytest.raises(InputError, match="no embedding model"):
        wrap(KeyBERTInspired()).represent(topic_words, embed=None, representative_docs=rep)


# ------------------------------------------------------------------ save folders
class _WithOutliers:
    """A cluster model whose first document of each cluster is an outlier (-1)."""

    def fit(self, X, y=None):
        labels = KMeans(3, n_init=3, random_state=0).fit(X).labels_
        for c in range(3):
            labels[np.flatnonzero(labels == c)[0]] = -1
        self.labels_ = labels
        return self

    def predict(self, X):
        return np.zeros(len(X), dtype=int)


@pytest.fixture(scope="module", params=["kmeans", "outliers"])
def fitted(request):
    emb = HashingEncoder().encode(TOY_DOCS)
    cluster = KMeans(3, n_init=3, random_state=0) if request.param == "kmeans" else _WithOutliers()
    model = BERTopic(umap_model=BaseDimensionalityReduction(), hdbscan_model=cluster, min_topic_size=2,
                     top_n_words=7, n_gram_range=(1, 2))
    model.fit(TOY_DOCS, emb)
    model.set_topic_labels({0: "felines"})
    return model


@pytest.mark.parametrize("serialization", ["safetensors", "pytorch"])
def test_reader_gives_bertopics_fitted_values(fitted, serialization, tmp_path):
    fitted.save(tmp_path / "m", serialization=serialization, save_ctfidf=True,
                save_embedding_model="sentence-transformers/all-MiniLM-L6-v2")
    v = read_bertopic_folder(tmp_path / "m")
    assert v["serialization"] == serialization
    assert v["embedding_model"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert v["params"]["top_n_words"] == 7 and v["params"]["n_gram_range"] == (1, 2)
    assert v["topic_ids"].tolist() == sorted(fitted.topic_representations_)
    assert v["topics"].tolist() == list(fitted.topics_)
    assert v["topic_sizes"] == dict(sorted(fitted.topic_sizes_.items()))
    assert v["topic_words"] == {k: [(w, float(s)) for w, s in ws] for k, ws in fitted.topic_representations_.items()}
    assert v["topic_labels"] == fitted.topic_labels_
    assert v["custom_labels"] == fitted.custom_labels_
    assert v["outliers"] == bool(fitted._outliers)
    np.testing.assert_array_equal(v["topic_embeddings"], np.asarray(fitted.topic_embeddings_, dtype=np.float32))
    assert (v["c_tf_idf"] != fitted.c_tf_idf_).nnz == 0 and v["c_tf_idf"].shape == fitted.c_tf_idf_.shape
    assert v["vocabulary"] == list(fitted.vectorizer_model.get_feature_names_out())
    np.testing.assert_array_equal(v["idf"], fitted.ctfidf_model._idf_diag.diagonal())
    assert v["vectorizer_params"]["ngram_range"] == (1, 2)
    assert v["topic_mapper"] == np.asarray(fitted.topic_mapper_.mappings_, dtype=int).tolist()


@pytest.mark.parametrize("serialization", ["safetensors", "pytorch"])
def test_written_folder_loads_in_bertopic_as_the_original(fitted, serialization, tmp_path):
    fitted.save(tmp_path / "orig", serialization="safetensors", save_ctfidf=True)
    write_bertopic_folder(tmp_path / "ours", read_bertopic_folder(tmp_path / "orig"), serialization=serialization)
    original, ours = BERTopic.load(str(tmp_path / "orig")), BERTopic.load(str(tmp_path / "ours"))
    assert ours.get_topic_info().equals(original.get_topic_info())
    assert ours.get_topic_info()["Name"].tolist() == fitted.get_topic_info()["Name"].tolist()
    assert ours.topics_ == list(fitted.topics_)
    np.testing.assert_array_equal(ours.topic_embeddings_, original.topic_embeddings_)
    assert (ours.c_tf_idf_ != fitted.c_tf_idf_).nnz == 0
    assert ours.vectorizer_model.vocabulary_ == fitted.vectorizer_model.vocabulary_
    np.testing.assert_array_equal(ours.ctfidf_model._idf_diag.diagonal(), fitted.ctfidf_model._idf_diag.diagonal())
    # the loaded model works: BERTopic recomputes topic words from the c-TF-IDF it read
    assert ours.get_topic(0) == original.get_topic(0)


def test_plain_values_are_enough_for_bertopic(tmp_path):
    words = {-1: [("noise", 0.1)], 0: [("cat", 0.9), ("mat", 0.4)], 1: [("stocks", 0.8)]}
    emb = np.eye(3, 8, dtype=np.float32)
    write_bertopic_folder(tmp_path / "m", {"topic_words": words, "topics": [0, 0, 1, -1, 1, 0],
                                           "topic_embeddings": emb, "params": {"top_n_words": 2}})
    loaded = BERTopic.load(str(tmp_path / "m"))
    info = loaded.get_topic_info()
    assert info["Topic"].tolist() == [-1, 0, 1] and info["Count"].tolist() == [1, 3, 2]
    assert info["Name"].tolist() == ["-1_noise", "0_cat_mat", "1_stocks"]
    assert loaded.top_n_words == 2 and loaded._outliers == 1
    back = read_bertopic_folder(tmp_path / "m")
    assert back["topic_words"] == words and back["c_tf_idf"] is None


# every malformed folder: (what is done to a good safetensors folder, message expected)
def _rm(name):
    return lambda p: (p / name).unlink()


def _edit_json(name, fn):
    def go(p):
        data = json.loads((p / name).read_text())
        fn(data)
        (p / name).write_text(json.dumps(data))
    return go


def _retensor(name, fn):
    def go(p):
        import safetensors.numpy

        t = dict(safetensors.numpy.load_file(str(p / name)))
        fn(t)
        safetensors.numpy.save_file(t, str(p / name))
    return go


def _pickle_bin(p):
    import torch

    (p / "topic_embeddings.safetensors").unlink()
    torch.save({"topic_embeddings": torch.zeros(3, 64)}, str(p / "topic_embeddings.bin"),
               _use_new_zipfile_serialization=False)


class Payload:  # an object a weights-only load refuses
    pass


def _object_bin(p):
    import torch

    (p / "topic_embeddings.safetensors").unlink()
    torch.save({"topic_embeddings": Payload()}, str(p / "topic_embeddings.bin"))


MALFORMED = {
    "no config": (_rm("config.json"), "no config.json"),
    "no topics": (_rm("topics.json"), "no topics.json"),
    "no embeddings": (_rm("topic_embeddings.safetensors"), "no topic_embeddings.safetensors or topic_embeddings.bin"),
    "truncated topics": (lambda p: (p / "topics.json").write_text((p / "topics.json").read_text()[:50]),
                         "not valid JSON"),
    "truncated tensors": (lambda p: (p / "topic_embeddings.safetensors").write_bytes(
        (p / "topic_embeddings.safetensors").read_bytes()[:40]), "not a readable safetensors file"),
    "pickle bin": (_pickle_bin, "pickle-based .bin is refused"),
    "object in bin": (_object_bin, "not a readable weights-only torch archive"),
    "rows vs topics": (_retensor("topic_embeddings.safetensors",
                                 lambda t: t.update(topic_embeddings=t["topic_embeddings"][:-1])),
                       r"topic_embeddings has \d+ rows for \d+ topics"),
    "nan embeddings": (_retensor("topic_embeddings.safetensors",
                                 lambda t: t["topic_embeddings"].__setitem__((0, 0), np.nan)), "NaN"),
    "unknown topic": (_edit_json("topics.json", lambda d: d["topics"].__setitem__(0, 9)),
                      r"ids \[9\] that have no topic representation"),
    "bad key": (_edit_json("topics.json", lambda d: d["topic_representations"].update(x=[])),
                "keys that are not topic ids"),
    "bad words": (_edit_json("topics.json", lambda d: d["topic_representations"].update({"0": ["cat"]})),
                  "not a list of \\[word, score\\] pairs"),
    "missing entry": (_edit_json("topics.json", lambda d: d.pop("topic_sizes")), "no 'topic_sizes' entry"),
    "bad ngram": (_edit_json("config.json", lambda d: d.update(n_gram_range=[1])), "n_gram_range"),
    "csr": (_retensor("ctfidf.safetensors", lambda t: t.update(indices=t["indices"] + 1000)),
            "CSR arrays are inconsistent"),
    "idf length": (_retensor("ctfidf.safetensors", lambda t: t.update(diag=t["diag"][:-1])), "IDF vector has"),
    "vocab": (_edit_json("ctfidf_config.json", lambda d: d["vectorizer_model"]["vocab"].popitem()),
              "vocabulary's columns are not"),
    "no ctfidf config": (_rm("ctfidf_config.json"), "no ctfidf_config.json"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_folders_raise_model_file_error(fitted, case, tmp_path_factory):
    base = tmp_path_factory.mktemp("good")
    fitted.save(base / "m", serialization="safetensors", save_ctfidf=True)
    folder = tmp_path_factory.mktemp("bad") / "m"
    shutil.copytree(base / "m", folder)
    damage, message = MALFORMED[case]
    damage(folder)
    with pytest.raises(ModelFileError, match=message):
        read_bertopic_folder(folder)


def test_not_a_folder(tmp_path):
    (tmp_path / "model.pickle").write_bytes(b"\x80\x04")
    with pytest.raises(ModelFileError, match="is not a folder"):
        read_bertopic_folder(tmp_path / "model.pickle")


@pytest.mark.parametrize("change, message", [
    (lambda v: v.pop("topic_embeddings"), "needs values\\['topic_embeddings'\\]"),
    (lambda v: v.update(topic_embeddings=v["topic_embeddings"][:-1]), "one row per topic"),
    (lambda v: v.update(params={"umap_model": 1}), "not BERTopic 0.17.4 constructor parameters"),
    (lambda v: v.update(topics=[7]), "no topic_words"),
    (lambda v: v.update(vocabulary=None), "needs values\\['vocabulary'\\]"),
    (lambda v: v.update(idf=v["idf"][:-1]), "one weight per word"),
    (lambda v: v.update(embedding_model=object()), "model name"),
])
def test_writer_refuses_bad_values_and_writes_nothing(fitted, change, message, tmp_path):
    fitted.save(tmp_path / "orig", serialization="safetensors", save_ctfidf=True)
    values = read_bertopic_folder(tmp_path / "orig")
    change(values)
    with pytest.raises(InputError, match=message):
        write_bertopic_folder(tmp_path / "out", values)
    assert not (tmp_path / "out").exists()


def test_writer_refuses_an_unknown_serialization(tmp_path):
    with pytest.raises(InputError, match="serialization must be"):
        write_bertopic_folder(tmp_path / "out", {}, serialization="pickle")


# ------------------------------------------------- GPUTopic.load / save(format="bertopic")


@pytest.mark.parametrize("serialization", ["safetensors", "pytorch"])
@pytest.mark.parametrize("save_ctfidf", [True, False])
def test_gputopic_loads_a_bertopic_folder(fitted, serialization, save_ctfidf, tmp_path):
    from gputopic import GPUTopic

    fitted.save(tmp_path / "m", serialization=serialization, save_ctfidf=save_ctfidf)
    loaded = GPUTopic.load(tmp_path / "m", embedding_model=HashingEncoder())
    assert list(loaded.topics_) == list(fitted.topics_) and loaded.topic_sizes_ == dict(fitted.topic_sizes_)
    assert loaded.get_topic(0) == [(w, pytest.approx(s)) for w, s in fitted.get_topic(0)]
    assert loaded.custom_labels_ == fitted.custom_labels_ and loaded.top_n_words == 7
    np.testing.assert_allclose(loaded.topic_embeddings_, np.asarray(fitted.topic_embeddings_), rtol=1e-6)
    emb = HashingEncoder().encode(TOY_DOCS[:6])
    topics, _ = loaded.transform(TOY_DOCS[:6], embeddings=emb)  # by the topic embeddings
    assert set(topics.tolist()) <= set(loaded.topic_sizes_)


@pytest.mark.parametrize("serialization", ["safetensors", "pytorch"])
def test_bertopic_loads_what_gputopic_saves(serialization, tmp_path):
    from helpers import fast_model

    model = fast_model().fit(TOY_DOCS)
    model.set_topic_labels({1: "sports"})
    model.save(tmp_path / "m", format="bertopic", serialization=serialization)
    theirs = BERTopic.load(tmp_path / "m")
    ours = model.get_topic_info()
    info = theirs.get_topic_info()
    assert info.Topic.tolist() == ours.Topic.tolist() and info.Count.tolist() == ours.Count.tolist()
    assert info.Name.tolist() == ours.Name.tolist() and list(theirs.custom_labels_) == model.custom_labels_
    assert [tuple(p) for p in theirs.get_topic(0)] == [(w, pytest.approx(s)) for w, s in model.get_topic(0)]
    np.testing.assert_allclose(np.asarray(theirs.topic_embeddings_), model.topic_embeddings_, rtol=1e-6)


def test_save_format_is_checked(tmp_path):
    from helpers import fast_model

    with pytest.raises(InputError, match="format must be 'gputopic' or 'bertopic'"):
        fast_model().fit(TOY_DOCS).save(tmp_path / "m", format="pickle")
