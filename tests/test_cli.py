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

from gputopic import cli, cli_console
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
    assignments = tmp_path / "assignments.csv"
    rc = cli.main(["fit", str(src), "--out", str(out), "--min-topic-size", "5", "--assignments", str(assignments),
                   "--id-column", "doc_id", "--device", "cpu", "--random-state", "0", "--embedding-cache", str(CACHE)])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    table = captured.out.strip().splitlines()
    assert table[0].split() == ["Topic", "Count", "Name"]
    assert len(table) >= 3  # at least two topics found in 300 documents of 20 newsgroups
    saved = real_model.load(out)
    fitted = pd.read_csv(assignments)
    assert fitted["doc_id"].tolist() == docs["doc_id"].tolist()
    assert fitted["topic"].tolist() == np.asarray(saved.topics_).tolist()  # the fit's own topics

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


# ---------------------------------------------------------------- fast real fits (PCA + KMeans)


@pytest.fixture
def fast(monkeypatch):
    """The real GPUTopic with a hashing encoder, PCA and KMeans (tests/helpers.py): a fit takes
    well under a second. ``fast.made`` holds the models the command built."""
    from helpers import fast_model

    made = []

    def factory(**params):
        keep = {k: v for k, v in params.items() if k in ("top_n_words", "random_state", "verbose")}
        model = fast_model(**keep)
        made.append(model)
        return model

    factory.made = made
    from gputopic import GPUTopic

    factory.load = GPUTopic.load
    monkeypatch.setattr(cli, "_estimator_class", lambda: factory)
    return factory


def _toy_frame():
    """The 60 toy documents with blanks of every kind among them, and an id column."""
    from helpers import TOY_DOCS

    texts = list(TOY_DOCS)
    texts[2], texts[9], texts[31], texts[47] = "", None, "  \t ", None
    return pd.DataFrame({"text": texts, "doc_id": [f"d{i:03d}" for i in range(len(texts))]})


def _write(frame, path):
    if path.suffix == ".csv":
        frame.to_csv(path, index=False)  # "" and None both become an empty cell, read back as NaN
    elif path.suffix == ".jsonl":
        frame.to_json(path, orient="records", lines=True)
    else:
        frame.to_parquet(path, index=False)
    return path


def _read(path):
    return {".csv": pd.read_csv, ".parquet": pd.read_parquet,
            ".jsonl": lambda p: pd.read_json(p, lines=True)}[Path(path).suffix](path)


BLANK_ROWS = [2, 9, 31, 47]


@pytest.mark.parametrize("src,dst", [(".csv", ".csv"), (".jsonl", ".parquet"), (".parquet", ".jsonl")])
def test_assignments_hold_one_row_per_input_row_from_the_fit(fast, tmp_path, capsys, src, dst):
    """--assignments: every input row once, in order, with the fit's own topics_ and
    probabilities_ (no second transform); blank rows (empty, null, whitespace) get topic -1 and
    a null probability; --id-column is copied. CSV, whose empty cells pandas reads as NaN,
    behaves as JSONL and Parquet (issue 18 D10)."""
    if ".parquet" in (src, dst):
        pytest.importorskip("pyarrow")
    frame = _toy_frame()
    path = _write(frame, tmp_path / f"docs{src}")
    out = tmp_path / f"topics{dst}"
    rc = cli.main(["fit", str(path), "--out", str(tmp_path / "m"), "--min-topic-size", "2",
                   "--assignments", str(out), "--id-column", "doc_id"])
    err = capsys.readouterr().err
    assert rc == 0, err
    assert "left out 4 of 60 documents that are blank" in err and "topic -1 in --assignments" in err
    model = fast.made[-1]
    table = _read(out)
    assert list(table.columns) == ["document", "doc_id", "topic", "probability"]
    assert len(table) == len(frame)
    assert table["document"].tolist() == list(range(len(frame)))
    assert table["doc_id"].tolist() == frame["doc_id"].tolist()
    kept = [i for i in range(len(frame)) if i not in BLANK_ROWS]
    assert table["topic"].to_numpy()[kept].tolist() == np.asarray(model.topics_).tolist()
    assert (table["topic"].to_numpy()[BLANK_ROWS] == -1).all()
    assert table["probability"].isna().to_numpy()[BLANK_ROWS].all()
    if model.probabilities_ is not None:
        np.testing.assert_allclose(table["probability"].to_numpy(dtype=float)[kept], np.asarray(model.probabilities_))
    else:
        assert table["probability"].isna().all()


def test_csv_with_empty_cells_fits_like_jsonl(fast, tmp_path, capsys):
    frame = _toy_frame()
    results = []
    for suffix in (".csv", ".jsonl"):
        path = _write(frame, tmp_path / f"docs{suffix}")
        out = tmp_path / f"a{suffix}.csv"
        assert cli.main(["fit", str(path), "--out", str(tmp_path / f"m{suffix}"), "--min-topic-size", "2",
                         "--assignments", str(out)]) == 0, capsys.readouterr().err
        results.append(pd.read_csv(out))
    pd.testing.assert_frame_equal(results[0], results[1])


def test_txt_assignments_number_the_lines(fast, tmp_path, capsys):
    """In a .txt file a blank line is a blank document: document i is line i + 1."""
    from helpers import TOY_DOCS

    lines = list(TOY_DOCS[:30]) + [""] + list(TOY_DOCS[30:])
    path = tmp_path / "docs.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "a.csv"
    assert cli.main(["fit", str(path), "--out", str(tmp_path / "m"), "--min-topic-size", "2",
                     "--assignments", str(out)]) == 0
    table = pd.read_csv(out)
    assert len(table) == 61 and table["topic"][30] == -1
    assert table["topic"].drop(index=30).tolist() == np.asarray(fast.made[-1].topics_).tolist()
    assert cli.main(["fit", str(path), "--out", str(tmp_path / "m"), "--assignments", str(out),
                     "--id-column", "x"]) == 2
    assert "is a .txt file and has no columns" in capsys.readouterr().err


@pytest.mark.parametrize("source", ["parquet glob", "csv"])
def test_assignments_after_a_sharded_fit(fast, tmp_path, capsys, source):
    """The Dask paths: a parquet glob read by the workers (blank and null rows dropped there),
    or a file read here and sent to the workers; --assignments still one row per input row,
    equal to the sharded fit's topics_."""
    pytest.importorskip("dask.dataframe")
    distributed = pytest.importorskip("distributed")
    pytest.importorskip("pyarrow")
    frame = _toy_frame()
    if source == "csv":
        src = _write(frame, tmp_path / "docs.csv")
    else:
        _write(frame.iloc[:25], tmp_path / "part0.parquet")
        _write(frame.iloc[25:], tmp_path / "part1.parquet")
        src = tmp_path / "part*.parquet"
    out = tmp_path / "a.csv"
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster:
        rc = cli.main(["fit", str(src), "--out", str(tmp_path / "m"), "--min-topic-size",
                       "2", "--scheduler", cluster.scheduler_address, "--assignments", str(out),
                       "--id-column", "doc_id"])
    err = capsys.readouterr().err
    assert rc == 0, err
    assert "left out 4 of 60 documents that are blank" in err and "(dask)" in err
    table = pd.read_csv(out)
    assert table["doc_id"].tolist() == frame["doc_id"].tolist()
    kept = [i for i in range(len(frame)) if i not in BLANK_ROWS]
    assert table["topic"].to_numpy()[kept].tolist() == np.asarray(fast.made[-1].topics_).tolist()
    assert (table["topic"].to_numpy()[BLANK_ROWS] == -1).all()
    assert fast.made[-1].client is None  # the client is not kept in the saved model


# ---------------------------------------------------------------- topics --format


def test_topics_formats(fake, small_jsonl, tmp_path, capsys):
    assert cli.main(["fit", str(small_jsonl), "--out", str(tmp_path / "m")]) == 0
    capsys.readouterr()
    assert cli.main(["topics", str(tmp_path / "m"), "--format", "json"]) == 0
    records = json.loads(capsys.readouterr().out)
    assert {r["topic"] for r in records} == {-1, 0, 1}
    assert all(set(r) == {"topic", "count", "name", "words"} for r in records)
    assert sum(r["count"] for r in records) == 60 and records[0]["words"] == ["w"]
    assert cli.main(["topics", str(tmp_path / "m"), "--format", "csv", "--top", "1"]) == 0
    frame = pd.read_csv(__import__("io").StringIO(capsys.readouterr().out))
    assert list(frame.columns) == ["topic", "count", "name", "words"] and len(frame) == 2
    assert frame["topic"].iloc[0] == -1


def test_topics_json_of_a_real_model(fast, tmp_path, capsys):
    from helpers import TOY_DOCS

    path = _write(pd.DataFrame({"text": TOY_DOCS}), tmp_path / "docs.csv")
    assert cli.main(["fit", str(path), "--out", str(tmp_path / "m"), "--top-n-words", "5"]) == 0
    capsys.readouterr()
    assert cli.main(["topics", str(tmp_path / "m"), "--format", "json"]) == 0
    records = json.loads(capsys.readouterr().out)
    model = fast.made[-1]
    assert [r["topic"] for r in records] == sorted(model.topic_sizes_)
    assert [r["count"] for r in records] == [model.topic_sizes_[t] for t in sorted(model.topic_sizes_)]
    assert all(len(r["words"]) == 5 and r["name"].startswith(f"{r['topic']}_") for r in records)


# ---------------------------------------------------------------- progress and messages


def test_progress_bar_only_on_a_terminal(fast, tmp_path, capsys, monkeypatch):
    from helpers import TOY_DOCS

    path = _write(pd.DataFrame({"text": TOY_DOCS}), tmp_path / "docs.csv")
    args = ["fit", str(path), "--out", str(tmp_path / "m"), "--min-topic-size", "2"]
    assert cli.main(args) == 0  # stderr captured: not a terminal
    err = capsys.readouterr().err
    assert "stage" not in err and "\r" not in err
    assert fast.made[-1].verbose is False

    monkeypatch.setattr(cli_console, "_stderr_is_tty", lambda: True)
    assert cli.main(args) == 0
    err = capsys.readouterr().err
    # the stage bar followed the library's stage records up to the last one
    assert "loading models (stage 0/7" in err and "describing topics (stage 6/7" in err
    assert fast.made[-1].verbose is True  # the library's own per-document embedding bar

    assert cli.main(args + ["--quiet"]) == 0
    captured = capsys.readouterr()
    assert captured.err == "" and "Topic" in captured.out
    assert fast.made[-1].verbose is False


def test_verbose_logs_stages_and_leaves_the_logger_as_it_was(fast, tmp_path, capsys):
    import logging

    from helpers import TOY_DOCS

    lg = logging.getLogger("gputopic")
    before = (list(lg.handlers), lg.level, lg.propagate, list(lg.filters))
    path = _write(pd.DataFrame({"text": TOY_DOCS}), tmp_path / "docs.csv")
    assert cli.main(["fit", str(path), "--out", str(tmp_path / "m"), "--min-topic-size", "2", "--verbose"]) == 0
    err = capsys.readouterr().err
    assert all(f"gputopic: {stage}: " in err for stage in ("embed", "reduce", "cluster", "represent"))
    assert (list(lg.handlers), lg.level, lg.propagate, list(lg.filters)) == before


def test_warnings_name_the_flags(fast, tmp_path, capsys):
    """The library's warning about one dominant topic suggests min_topic_size / random_state;
    the command says --min-topic-size / --random-state (Python code in parentheses is kept)."""
    from helpers import TOY_DOCS

    docs = list(TOY_DOCS[:20]) * 3 + list(TOY_DOCS[20:])  # the cat topic holds 60 of 100
    path = _write(pd.DataFrame({"text": docs}), tmp_path / "docs.csv")
    assert cli.main(["fit", str(path), "--out", str(tmp_path / "m")]) == 0
    err = capsys.readouterr().err
    line = next(x for x in err.splitlines() if x.startswith("gputopic: warning: Topic 0 holds 60%"))
    assert "another --random-state, a larger --min-topic-size" in line
    assert "min_topic_size" not in line and "random_state" not in line


@pytest.mark.parametrize("message,expected", [
    ("Try a larger min_topic_size.", "Try a larger --min-topic-size."),
    ("min_topic_size=301 is larger than the 300 documents", "--min-topic-size 301 is larger than the 300 documents"),
    ("or umap_model=UMAP(random_state=0, n_neighbors=5)", "or umap_model=UMAP(random_state=0, n_neighbors=5)"),
    ("use nr_topics or top_n_words; --min-topic-size stays",
     "use --nr-topics or --top-n-words; --min-topic-size stays"),
    ("self.random_state and my_min_topic_size stay", "self.random_state and my_min_topic_size stay"),
])
def test_cli_words(message, expected):
    assert cli.cli_words(message) == expected


# ---------------------------------------------------------------- the error boundary (issue 18 D9)


def _one_error_line(err: str, *needles: str) -> None:
    assert "Traceback" not in err
    assert err.startswith("gputopic: error: ") and err.count("\n") == 1, err
    for needle in needles:
        assert needle in err, err


@pytest.fixture
def corpus_csv(tmp_path):
    from helpers import TOY_DOCS

    return _write(pd.DataFrame({"text": TOY_DOCS}), tmp_path / "docs.csv")


def _output_cases(tmp_path, corpus_csv):
    (tmp_path / "file").write_text("x")
    (tmp_path / "folder").mkdir()
    return {
        "--out names a file": (["--out", str(tmp_path / "file")], "exists and is not a folder"),
        "--out below a file": (["--out", str(tmp_path / "file" / "m")], "is a file, not a folder"),
        "--assignments names a folder": (["--out", str(tmp_path / "m"), "--assignments", str(tmp_path / "folder")],
                                         "is a folder; give a file name"),
        "--assignments below a file": (["--out", str(tmp_path / "m"), "--assignments",
                                        str(tmp_path / "file" / "a.csv")], "is a file, not a folder"),
        "--assignments is the input": (["--out", str(tmp_path / "m"), "--assignments", str(corpus_csv)],
                                       "is the input file"),
        "--assignments format": (["--out", str(tmp_path / "m"), "--assignments", str(tmp_path / "a.xlsx")],
                                 "Cannot tell the output format"),
        "--id-column without --assignments": (["--out", str(tmp_path / "m"), "--id-column", "x"],
                                              "add --assignments FILE"),
        "--embedding-cache names a file": (["--out", str(tmp_path / "m"), "--embedding-cache", str(tmp_path / "file")],
                                           "--embedding-cache"),
    }


@pytest.mark.parametrize("case", ["--out names a file", "--out below a file", "--assignments names a folder",
                                  "--assignments below a file", "--assignments is the input",
                                  "--assignments format", "--id-column without --assignments",
                                  "--embedding-cache names a file"])
def test_bad_outputs_are_refused_before_the_fit(fake, tmp_path, corpus_csv, capsys, case):
    options, needle = _output_cases(tmp_path, corpus_csv)[case]
    rc = cli.main(["fit", str(corpus_csv), "--min-topic-size", "2", *options])
    assert rc == 2
    _one_error_line(capsys.readouterr().err, needle)
    assert not fake.instances  # no model was built, let alone fitted
    assert corpus_csv.read_text().startswith("text\n")  # the input is untouched


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root may write into any folder")
def test_unwritable_folder_and_unreadable_input(fake, tmp_path, corpus_csv, capsys):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        assert cli.main(["fit", str(corpus_csv), "--out", str(locked / "m")]) == 2
        _one_error_line(capsys.readouterr().err, "is not writable")
        assert not fake.instances
    finally:
        locked.chmod(0o700)
    corpus_csv.chmod(0)
    try:
        assert cli.main(["fit", str(corpus_csv), "--out", str(tmp_path / "m")]) == 2
        _one_error_line(capsys.readouterr().err, "Permission denied")
    finally:
        corpus_csv.chmod(0o600)


def test_unwritable_folder_is_refused_before_the_fit(fake, tmp_path, corpus_csv, capsys, monkeypatch):
    """The check itself (the test above needs a non-root user): os.access says no."""
    locked = tmp_path / "locked"
    locked.mkdir()
    real_access = os.access
    monkeypatch.setattr(cli.os, "access", lambda p, mode: False if Path(p) == locked else real_access(p, mode))
    for options in (["--out", str(locked / "m")], ["--out", str(tmp_path / "m"), "--assignments",
                                                    str(locked / "new" / "a.csv")]):
        assert cli.main(["fit", str(corpus_csv), *options]) == 2
        _one_error_line(capsys.readouterr().err, f"the folder {locked} is not writable")
    assert not fake.instances


def test_os_errors_become_one_line_and_debug_shows_the_traceback(fake, tmp_path, corpus_csv, capsys, monkeypatch):
    import gputopic.io

    def unreadable(path, **kwargs):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(gputopic.io, "read_corpus", unreadable)
    assert cli.main(["fit", str(corpus_csv), "--out", str(tmp_path / "m")]) == 2
    _one_error_line(capsys.readouterr().err, f"gputopic: error: Permission denied: {corpus_csv}")
    for argv in (["--debug", "fit", str(corpus_csv), "--out", str(tmp_path / "m")],
                 ["fit", str(corpus_csv), "--out", str(tmp_path / "m"), "--debug"]):
        assert cli.main(argv) == 2
        err = capsys.readouterr().err
        assert err.startswith("Traceback") and "PermissionError" in err
        assert err.splitlines()[-1] == f"gputopic: error: Permission denied: {corpus_csv}"


def test_library_errors_name_the_flags(fake, small_jsonl, tmp_path, capsys, monkeypatch):
    from gputopic.exceptions import InputError

    def refuse(self, docs, embeddings=None, y=None):
        raise InputError("min_topic_size=30 is larger than\nthe 25 documents: lower min_topic_size.")

    monkeypatch.setattr(FakeTopic, "fit", refuse)
    assert cli.main(["fit", str(small_jsonl), "--out", str(tmp_path / "m")]) == 2
    _one_error_line(capsys.readouterr().err, "gputopic: error: --min-topic-size 30 is larger than the 25 "
                                             "documents: lower --min-topic-size.")
    assert not (tmp_path / "m").exists()


def test_an_error_during_save_is_one_line(fake, small_jsonl, tmp_path, capsys, monkeypatch):
    def full_disk(self, path):
        raise OSError(28, "No space left on device", str(path))

    monkeypatch.setattr(FakeTopic, "save", full_disk)
    assert cli.main(["fit", str(small_jsonl), "--out", str(tmp_path / "m")]) == 2
    _one_error_line(capsys.readouterr().err, "No space left on device")


def test_report_output_paths(fake, tmp_path, capsys):
    (tmp_path / "folder").mkdir()
    (tmp_path / "file").write_text("x")
    assert cli.main(["report", str(tmp_path / "missing-model"), "--out", str(tmp_path / "folder")]) == 2
    _one_error_line(capsys.readouterr().err, "is a folder; give a file name, e.g.", "report.html")
    assert cli.main(["report", str(tmp_path / "missing-model"), "--out", str(tmp_path / "file" / "r.html")]) == 2
    _one_error_line(capsys.readouterr().err, "is a file, not a folder")
    assert cli.main(["report", str(tmp_path / "missing-model"), "--out", str(tmp_path / "new" / "r.html")]) == 2
    _one_error_line(capsys.readouterr().err, "fake.json missing")  # the output path was fine
    assert not (tmp_path / "new").exists()  # nothing created before the model loaded


def test_transform_output_paths(fake, small_jsonl, tmp_path, capsys):
    (tmp_path / "folder").mkdir()
    assert cli.main(["transform", str(tmp_path), str(small_jsonl), "--out", str(tmp_path / "folder")]) == 2
    _one_error_line(capsys.readouterr().err, "is a folder; give a file name")
    copy = tmp_path / "same.jsonl"
    copy.write_bytes(small_jsonl.read_bytes())
    assert cli.main(["transform", str(tmp_path), str(copy), "--out", str(copy)]) == 2
    _one_error_line(capsys.readouterr().err, "is the input file")
    assert not fake.instances


def test_broken_pipe_is_quiet(fake, small_jsonl, tmp_path, capsys, monkeypatch):
    assert cli.main(["fit", str(small_jsonl), "--out", str(tmp_path / "m")]) == 0
    capsys.readouterr()

    class ClosedPipe:
        def write(self, text):
            raise BrokenPipeError(32, "Broken pipe")

        def flush(self):
            raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr("sys.stdout", ClosedPipe())
    assert cli.main(["topics", str(tmp_path / "m")]) == cli.EXIT_BROKEN_PIPE
    assert capsys.readouterr().err == ""


@pytest.mark.skipif(os.name != "posix", reason="SIGPIPE semantics")
def test_topics_into_a_closed_pipe_in_a_real_process(tmp_path):
    """`gputopic topics m | head -1` where head is gone before gputopic writes: no traceback,
    nothing on stderr (not even at the interpreter's exit), status 141."""
    import subprocess
    import sys

    from helpers import TOY_DOCS, fast_model

    fast_model().fit(TOY_DOCS).save(tmp_path / "m")
    env = {**os.environ, "PYTHONPATH": str(Path(cli.__file__).resolve().parents[1])}
    proc = subprocess.Popen([sys.executable, "-m", "gputopic", "topics", str(tmp_path / "m"), "--format", "json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    proc.stdout.close()  # the reader went away before anything was written
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == cli.EXIT_BROKEN_PIPE, err
    assert err == ""


def test_version(capsys):
    import gputopic

    assert cli.main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"gputopic {gputopic.__version__}"


def test_help_documents_exit_codes_and_blank_rows(capsys):
    assert cli.main(["fit", "--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())  # the help is wrapped to the terminal
    assert "exit status:" in out and "gputopic: error:" in out and "--assignments" in out
    assert "Blank documents get topic -1" in out
    assert cli.main(["--help"]) == 0
    assert "141" in capsys.readouterr().out
