"""The ``gputopic`` command: argument handling and error reporting against a stand-in estimator
(fast), then end to end with the real :class:`gputopic.GPUTopic` on 300 demo documents."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gputopic import cli
from gputopic.exceptions import ModelFileError
from gputopic.io import demo_corpus, read_corpus


# ---------------------------------------------------------------- a stand-in estimator


class FakeTopic:
    """Follows the GPUTopic API the CLI uses; topic = document length parity, no embedding."""

    instances: list["FakeTopic"] = []

    def __init__(self, **params):
        self.params = params
        FakeTopic.instances.append(self)

    def set_params(self, **params):
        self.params.update(params)
        return self

    def fit(self, docs, embeddings=None, y=None):
        self.docs = list(docs)
        self.topics_ = [len(d) % 3 - 1 for d in docs]
        self.probabilities_ = np.linspace(0.1, 0.9, len(docs))
        self.y = y
        return self

    def fit_transform(self, docs, embeddings=None):
        self.fit(docs)
        return np.array(self.topics_), self.probabilities_

    def transform(self, docs, embeddings=None):
        return np.array([len(d) % 3 - 1 for d in docs]), np.full(len(docs), 0.25)

    def get_topic_info(self):
        t = pd.Series(self.topics_).value_counts()
        return pd.DataFrame({"Topic": t.index, "Count": t.values,
                             "Name": [f"{k}_words_of_{k}" for k in t.index],
                             "Representation": [["w"]] * len(t), "Representative_Docs": [[]] * len(t)})

    def save(self, path):
        Path(path).mkdir(parents=True, exist_ok=True)
        (Path(path) / "fake.json").write_text(json.dumps(self.topics_))

    @classmethod
    def load(cls, path, embedding_model=None):
        file = Path(path) / "fake.json"
        if not file.exists():
            raise ModelFileError(f"{path} holds no saved model (fake.json missing).")
        model = cls(embedding_model=embedding_model)
        model.topics_ = json.loads(file.read_text())
        return model


@pytest.fixture
def fake(monkeypatch):
    FakeTopic.instances.clear()
    monkeypatch.setattr(cli, "_estimator_class", lambda: FakeTopic)
    return FakeTopic


@pytest.fixture
def small_jsonl(tmp_path):
    """60 documents of the bundled sample as a .jsonl file."""
    corpus = demo_corpus()
    path = tmp_path / "small.jsonl"
    corpus.frame.head(60).to_json(path, orient="records", lines=True, force_ascii=False)
    return path


def test_fit_topics_transform_with_stand_in(fake, small_jsonl, tmp_path, capsys):
    out = tmp_path / "model"
    rc = cli.main(["fit", str(small_jsonl), "--out", str(out), "--min-topic-size", "5",
                   "--top-n-words", "7", "--device", "cpu", "--random-state", "3",
                   "--batch-size", "16", "--embedding-cache", str(tmp_path / "cache"), "--limit", "50",
                   "--nr-topics", "auto"])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    assert fake.instances[0].params == {
        "embedding_model": None, "top_n_words": 7, "min_topic_size": 5, "nr_topics": "auto", "device": "cpu",
        "batch_size": 16, "random_state": 3, "verbose": False,
        "embedding_cache_dir": str(tmp_path / "cache"), "representation_model": None, "seed_topic_list": None,
        "zeroshot_topic_list": None, "zeroshot_min_similarity": 0.7}
    assert fake.instances[0].y is None
    assert len(fake.instances[0].topics_) == 50
    assert captured.out.split()[:3] == ["Topic", "Count", "Name"]
    assert "model saved to" in captured.err

    assert cli.main(["topics", str(out), "--top", "1"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].split() == ["Topic", "Count", "Name"]
    assert len(lines) == 3 and lines[1].split()[0] == "-1"  # outliers + the largest topic

    result = tmp_path / "assign.csv"
    assert cli.main(["transform", str(out), str(small_jsonl), "--out", str(result),
                     "--device", "cpu", "--batch-size", "8"]) == 0
    assert fake.instances[-1].params == {"embedding_model": None, "device": "cpu", "batch_size": 8}
    frame = pd.read_csv(result)
    assert len(frame) == 60
    assert frame["document"].tolist() == list(range(60))
    assert set(frame["topic"]) <= {-1, 0, 1}


def test_fit_steering_options(fake, tmp_path, capsys):
    from gputopic import KeyBERTInspired

    path = tmp_path / "labelled.csv"
    pd.DataFrame({"text": [f"document number {i} about things" for i in range(12)],
                  "group": ["b", "a", None, "b", "", "a", "c", "b", None, "a", "c", "b"]}).to_csv(path, index=False)
    assert cli.main(["fit", str(path), "--out", str(tmp_path / "m"), "--min-topic-size", "2",
                     "--label-column", "group", "--seed-topics", "space, nasa;hockey",
                     "--zeroshot-topics", "space travel; ice hockey", "--zeroshot-min-similarity", "0.5",
                     "--representation", "keybert"]) == 0, capsys.readouterr().err
    model = fake.instances[0]
    # labels in order of first appearance; missing ones unknown (-1)
    assert model.y.tolist() == [0, 1, -1, 0, -1, 1, 2, 0, -1, 1, 2, 0]
    assert model.params["seed_topic_list"] == [["space", "nasa"], ["hockey"]]
    assert model.params["zeroshot_topic_list"] == ["space travel", "ice hockey"]
    assert model.params["zeroshot_min_similarity"] == 0.5
    assert isinstance(model.params["representation_model"], KeyBERTInspired)
    assert cli.main(["fit", str(path), "--out", str(tmp_path / "x"), "--seed-topics", "a,;b"]) == 2
    assert "expected words separated by ','" in capsys.readouterr().err
    assert cli.main(["fit", str(path), "--out", str(tmp_path / "x"), "--label-column", "group",
                     "--cluster", "local"]) == 2
    assert "--label-column need an in-process fit" in capsys.readouterr().err


def test_demo_with_stand_in(fake, capsys):
    assert cli.main(["demo", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "NMI vs newsgroups:" in out
    assert fake.instances[0].params["min_topic_size"] == 10


def test_missing_input_file_exits_2(fake, tmp_path, capsys):
    rc = cli.main(["fit", str(tmp_path / "absent.jsonl"), "--out", str(tmp_path / "m")])
    captured = capsys.readouterr()
    assert rc == 2
    assert captured.err.startswith("gputopic: error: Input file ")
    assert captured.err.count("\n") == 1
    assert "does not exist" in captured.err and "Traceback" not in captured.err
    assert not fake.instances  # failed before building a model


def test_too_few_documents_exits_2(fake, small_jsonl, tmp_path, capsys):
    rc = cli.main(["fit", str(small_jsonl), "--out", str(tmp_path / "m"), "--limit", "15"])
    assert rc == 2
    assert "gputopic: error: Only 15 documents for --min-topic-size 10" in capsys.readouterr().err


def test_load_error_exits_2(fake, tmp_path, capsys):
    assert cli.main(["topics", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("gputopic: error: ") and err.count("\n") == 1 and "Traceback" not in err


def test_transform_bad_output_suffix_fails_before_loading(fake, small_jsonl, tmp_path, capsys):
    rc = cli.main(["transform", str(tmp_path), str(small_jsonl), "--out", str(tmp_path / "t.xlsx")])
    assert rc == 2
    assert "gputopic: error: Cannot tell the output format" in capsys.readouterr().err


def test_usage_errors_and_help(capsys):
    assert cli.main([]) == 2
    assert cli.main(["fit", "x.txt"]) == 2  # --out is required
    assert "--out" in capsys.readouterr().err
    assert cli.main(["fit", "x.txt", "--out", "m", "--min-topic-size", "0"]) == 2
    assert "positive integer" in capsys.readouterr().err
    assert cli.main(["fit", "x.txt", "--out", "m", "--nr-topics", "1"]) == 2
    assert "expected 'auto' or an integer >= 2, got 1" in capsys.readouterr().err
    assert cli.main(["--help"]) == 0
    assert "gputopic fit corpus.jsonl.gz" in capsys.readouterr().out
    assert cli.main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("gputopic ")


# ---------------------------------------------------------------- end to end, real estimator


@pytest.fixture(scope="module")
def real_model():
    model = pytest.importorskip("gputopic.model")
    if not hasattr(model, "GPUTopic"):
        pytest.skip("gputopic.model.GPUTopic is not written yet")
    return model.GPUTopic


CACHE = Path(__file__).resolve().parent / ".cache" / "cli"  # ignored by git, kept between runs


def test_end_to_end_fit_topics_transform(real_model, tmp_path, capsys):
    # 300 documents cut to their first 40 words: embedding them on CPU takes seconds, not a minute
    docs = demo_corpus().frame.head(300).copy()
    docs["text"] = [" ".join(t.split()[:40]) for t in docs["text"]]
    src = tmp_path / "docs.csv"
    docs.to_csv(src, index=False)
    out = tmp_path / "model"

    start = time.perf_counter()
    rc = cli.main(["fit", str(src), "--out", str(out), "--min-topic-size", "5",
                   "--device", "cpu", "--random-state", "0", "--embedding-cache", str(CACHE)])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    table = captured.out.strip().splitlines()
    assert table[0].split() == ["Topic", "Count", "Name"]
    assert len(table) >= 3  # at least two topics found in 300 documents of 20 newsgroups

    assert cli.main(["topics", str(out), "--top", "2"]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) <= 4

    result = tmp_path / "assign.jsonl"
    new = tmp_path / "new.txt"
    new.write_text("\n".join(d.replace("\n", " ") for d in docs["text"].head(60)) + "\n",
                   encoding="utf-8")
    n_new = len(read_corpus(new, limit=40).docs)
    rc = cli.main(["transform", str(out), str(new), "--out", str(result), "--limit", "40",
                   "--device", "cpu", "--embedding-cache", str(CACHE)])
    assert rc == 0, capsys.readouterr().err
    frame = pd.read_json(result, lines=True)
    assert len(frame) == n_new == 40
    assert list(frame.columns) == ["document", "topic", "probability"]
    assert frame["topic"].min() >= -1
    print(f"end-to-end CLI on 300 docs: {time.perf_counter() - start:.1f} s")


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("GPUTOPIC_RUN_SLOW"),
                    reason="embeds 2,000 documents (minutes on CPU): set GPUTOPIC_RUN_SLOW=1")
def test_demo_end_to_end(real_model, capsys):
    rc = cli.main(["demo", "--embedding-cache", str(CACHE)])  # the demo's own seed
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    nmi = float(captured.out.split("NMI vs newsgroups:")[1].split()[0])
    assert nmi > 0.3


def test_blank_documents_are_left_out_of_fit_and_marked_in_transform(fake, tmp_path, capsys):
    docs = [f"document number {i} with some words" for i in range(40)]
    docs[3], docs[17] = "", "   \t"
    path = tmp_path / "with_blanks.jsonl"
    path.write_text("\n".join(json.dumps({"text": d}) for d in docs) + "\n")
    assert cli.main(["fit", str(path), "--out", str(tmp_path / "m"), "--min-topic-size", "2"]) == 0
    assert "left out 2 of 40 documents that are blank" in capsys.readouterr().err
    assert len(fake.instances[-1].topics_) == 38
    out = tmp_path / "t.csv"
    assert cli.main(["transform", str(tmp_path / "m"), str(path), "--out", str(out)]) == 0
    table = pd.read_csv(out)
    assert len(table) == 40
    assert table.topic[3] == -1 and table.topic[17] == -1 and np.isnan(table.probability[3])
    assert table.probability[0] == 0.25
    assert "2 of 40 documents are blank" in capsys.readouterr().err
