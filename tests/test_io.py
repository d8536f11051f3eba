"""Corpus readers and the topic-assignment writer of gputopic.io."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pandas as pd
import pytest

from gputopic.exceptions import InputError
from gputopic.io import Corpus, demo_corpus, read_corpus, write_topics

DOCS = ["the first document", "zweites Dokument, mit Ümlaut", "3", "a line with, a comma"]
LABELS = ["a", "b", "a", "c"]


def _rows():
    return [{"text": t, "label": lab, "id": i} for i, (t, lab) in enumerate(zip(DOCS, LABELS))]


def _write_jsonl(path, rows, gz=False):
    opener = gzip.open if gz else open
    with opener(path, "wt", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    return path


# ---------------------------------------------------------------- round trips


def test_txt_round_trip_keeps_blank_lines_as_blank_documents(tmp_path):
    path = tmp_path / "docs.txt"
    path.write_text("\n".join([DOCS[0], "", "   ", *DOCS[1:]]) + "\n", encoding="utf-8")
    corpus = read_corpus(path)
    assert isinstance(corpus, Corpus)
    assert corpus.docs == [DOCS[0], "", "   ", *DOCS[1:]]  # document i is line i + 1
    assert corpus.labels is None and corpus.frame is None
    assert corpus.path == path
    assert read_corpus(path, limit=2).docs == [DOCS[0], ""]
    docs, rows = corpus.non_blank()
    assert docs == DOCS and rows.tolist() == [0, 3, 4, 5]


@pytest.mark.parametrize("name,gz", [("docs.jsonl", False), ("docs.jsonl.gz", True)])
def test_jsonl_round_trip(tmp_path, name, gz):
    path = _write_jsonl(tmp_path / name, _rows(), gz=gz)
    corpus = read_corpus(path, label_column="label")
    assert corpus.docs == DOCS
    assert corpus.labels == LABELS
    assert list(corpus.frame.columns) == ["text", "label", "id"]
    assert corpus.frame["id"].tolist() == [0, 1, 2, 3]
    assert read_corpus(path, limit=3).docs == DOCS[:3]


def test_jsonl_other_text_column(tmp_path):
    path = _write_jsonl(tmp_path / "docs.jsonl", [{"body": t} for t in DOCS])
    assert read_corpus(path, text_column="body").docs == DOCS


def test_csv_round_trip_keeps_numeric_looking_text_as_text(tmp_path):
    path = tmp_path / "docs.csv"
    pd.DataFrame(_rows()).to_csv(path, index=False)
    corpus = read_corpus(path, label_column="label")
    assert corpus.docs == DOCS  # "3" stays the string "3"
    assert corpus.labels == LABELS
    assert read_corpus(path, limit=2).docs == DOCS[:2]

    digits = tmp_path / "digits.csv"
    pd.DataFrame({"text": ["1", "2"]}).to_csv(digits, index=False)
    assert read_corpus(digits).docs == ["1", "2"]


def test_parquet_round_trip(tmp_path):
    pytest.importorskip("pyarrow")
    path = tmp_path / "docs.parquet"
    pd.DataFrame(_rows()).to_parquet(path, index=False)
    corpus = read_corpus(path, label_column="label")
    assert corpus.docs == DOCS
    assert corpus.labels == LABELS
    assert read_corpus(path, limit=1).docs == DOCS[:1]


def test_suffix_is_case_insensitive(tmp_path):
    path = _write_jsonl(tmp_path / "DOCS.JSONL", _rows())
    assert read_corpus(path).docs == DOCS


# ---------------------------------------------------------------- bad input, one error each


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match=r"does not exist"):
        read_corpus(tmp_path / "absent.jsonl")


def test_unknown_suffix(tmp_path):
    path = tmp_path / "docs.xlsx"
    path.write_text("x")
    with pytest.raises(InputError, match=r"supported suffixes are \.txt, \.jsonl"):
        read_corpus(path)


def test_directory_instead_of_file(tmp_path):
    path = tmp_path / "folder.csv"
    path.mkdir()
    with pytest.raises(InputError, match=r"is a directory"):
        read_corpus(path)


def test_empty_txt(tmp_path):
    path = tmp_path / "empty.txt"
    path.write_text("\n \n\n")
    with pytest.raises(InputError, match=r"contains no documents"):
        read_corpus(path)


def test_empty_jsonl(tmp_path):
    path = tmp_path / "empty.jsonl"
    path.write_text("")
    with pytest.raises(InputError, match=r"contains no documents"):
        read_corpus(path)


def test_empty_csv(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_text("")
    with pytest.raises(InputError, match=r"contains no documents"):
        read_corpus(path)


def test_header_only_csv(tmp_path):
    path = tmp_path / "header.csv"
    path.write_text("text,label\n")
    with pytest.raises(InputError, match=r"contains no documents"):
        read_corpus(path)


def test_no_text_column_lists_columns(tmp_path):
    path = _write_jsonl(tmp_path / "docs.jsonl", [{"body": "x", "label": "y"}])
    with pytest.raises(InputError, match=r"no 'text' column; its columns are \['body', 'label'\].*--text-column"):
        read_corpus(path)


def test_missing_text_column(tmp_path):
    path = tmp_path / "docs.csv"
    pd.DataFrame(_rows()).to_csv(path, index=False)
    with pytest.raises(InputError, match=r"no column 'body'; its columns are \['text', 'label', 'id'\]"):
        read_corpus(path, text_column="body")


def test_missing_label_column(tmp_path):
    path = _write_jsonl(tmp_path / "docs.jsonl", _rows())
    with pytest.raises(InputError, match=r"no label column 'topic'"):
        read_corpus(path, label_column="topic")


def test_non_string_documents(tmp_path):
    path = _write_jsonl(tmp_path / "docs.jsonl", [{"text": "ok"}, {"text": 42}, {"text": "fine"}])
    with pytest.raises(InputError, match=r"1 value\(s\) are not strings \(rows 1; row 1 is a int"):
        read_corpus(path)


def _blank_rows_as(fmt, tmp_path):
    """The same six rows (two with text, an empty cell, a null, a whitespace-only cell, text)
    written as ``fmt``; CSV writes both the empty string and the null as an empty cell."""
    texts = ["first text", "", None, "  \t", "second text", "third"]
    frame = pd.DataFrame({"text": texts, "id": [10, 11, 12, 13, 14, 15]})
    path = tmp_path / f"blanks.{fmt}"
    if fmt == "csv":
        frame.to_csv(path, index=False)
    elif fmt == "jsonl":
        _write_jsonl(path, frame.to_dict("records"))
    else:
        pytest.importorskip("pyarrow")
        frame.to_parquet(path, index=False)
    return path


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_empty_and_null_cells_are_blank_documents_in_every_format(tmp_path, fmt):
    """An empty CSV cell (read by pandas as NaN), JSON null, a Parquet null and "" all read
    as the blank document "", so the three formats give the same corpus."""
    corpus = read_corpus(_blank_rows_as(fmt, tmp_path))
    assert corpus.docs == ["first text", "", "", "  \t", "second text", "third"]
    docs, rows = corpus.non_blank()
    assert docs == ["first text", "second text", "third"] and rows.tolist() == [0, 4, 5]
    assert corpus.frame["id"].tolist() == [10, 11, 12, 13, 14, 15]


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_a_column_without_any_text_is_refused(tmp_path, fmt):
    frame = pd.DataFrame({"text": [None, "", " "], "body": ["a", "b", "c"]})
    path = tmp_path / f"nothing.{fmt}"
    if fmt == "csv":
        frame.to_csv(path, index=False)
    elif fmt == "jsonl":
        _write_jsonl(path, frame.to_dict("records"))
    else:
        pytest.importorskip("pyarrow")
        frame.to_parquet(path, index=False)
    with pytest.raises(InputError, match=r"contains no documents: all 3 values of column 'text' are empty or "
                                         r"null.*--text-column"):
        read_corpus(path)


def test_invalid_json_line(tmp_path):
    path = tmp_path / "docs.jsonl"
    path.write_text('{"text": "ok"}\n{"text": oops}\n')
    with pytest.raises(InputError, match=r"line 2: not valid JSON"):
        read_corpus(path)


def test_json_line_not_an_object(tmp_path):
    path = tmp_path / "docs.jsonl"
    path.write_text('["a list"]\n')
    with pytest.raises(InputError, match=r"line 1: expected a JSON object, got list"):
        read_corpus(path)


def test_not_utf8(tmp_path):
    path = tmp_path / "latin1.txt"
    path.write_bytes("caf\xe9 au lait\n".encode("latin-1"))
    with pytest.raises(InputError, match=r"not valid UTF-8"):
        read_corpus(path)


def test_not_gzip(tmp_path):
    path = tmp_path / "plain.jsonl.gz"
    path.write_text('{"text": "not compressed"}\n')
    with pytest.raises(InputError, match=r"not a valid gzip file"):
        read_corpus(path)


def test_corrupt_parquet(tmp_path):
    pytest.importorskip("pyarrow")
    path = tmp_path / "bad.parquet"
    path.write_bytes(b"not parquet at all")
    with pytest.raises(InputError, match=r"not a readable Parquet file"):
        read_corpus(path)


def test_columns_given_for_txt(tmp_path):
    path = tmp_path / "docs.txt"
    path.write_text("a\n")
    with pytest.raises(InputError, match=r"\.txt file .* has no columns"):
        read_corpus(path, text_column="text")


@pytest.mark.parametrize("limit", [0, -1, 2.5, True])
def test_bad_limit(tmp_path, limit):
    path = tmp_path / "docs.txt"
    path.write_text("a\n")
    with pytest.raises(InputError, match=r"limit must be a positive integer"):
        read_corpus(path, limit=limit)


# ---------------------------------------------------------------- write_topics


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_write_topics_round_trip(tmp_path, suffix):
    if suffix == ".parquet":
        pytest.importorskip("pyarrow")
    topics = np.array([0, -1, 2])
    probs = np.array([0.9, 0.0, 0.5])
    path = write_topics(tmp_path / "sub" / f"out{suffix}", topics, probs)
    frame = {".csv": pd.read_csv, ".parquet": pd.read_parquet,
             ".jsonl": lambda p: pd.read_json(p, lines=True)}[suffix](path)
    assert list(frame.columns) == ["document", "topic", "probability"]
    assert frame["document"].tolist() == [0, 1, 2]
    assert frame["topic"].tolist() == [0, -1, 2]
    np.testing.assert_allclose(frame["probability"], probs)


def test_write_topics_probability_matrix_and_none(tmp_path):
    matrix = np.array([[0.7, 0.2], [0.1, 0.3]])
    frame = pd.read_csv(write_topics(tmp_path / "m.csv", [0, 1], matrix))
    np.testing.assert_allclose(frame["probability"], [0.7, 0.3])
    frame = pd.read_csv(write_topics(tmp_path / "n.csv", [0, 1], None))
    assert frame["probability"].isna().all()


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_write_topics_ids_and_missing_probabilities(tmp_path, suffix):
    """ids are copied as given; a NaN probability (a blank document) is written as null, and a
    row of NaN in a probability matrix too (without numpy's all-NaN warning)."""
    if suffix == ".parquet":
        pytest.importorskip("pyarrow")
    probs = np.array([[0.2, 0.7], [np.nan, np.nan], [0.4, 0.1]])
    with __import__("warnings").catch_warnings():
        __import__("warnings").simplefilter("error")
        path = write_topics(tmp_path / f"out{suffix}", [1, -1, 0], probs, ids=["a", "b", "c"], id_column="key")
    frame = {".csv": pd.read_csv, ".parquet": pd.read_parquet,
             ".jsonl": lambda p: pd.read_json(p, lines=True)}[suffix](path)
    assert list(frame.columns) == ["document", "key", "topic", "probability"]
    assert frame["key"].tolist() == ["a", "b", "c"]
    assert frame["probability"].isna().tolist() == [False, True, False]
    np.testing.assert_allclose(frame["probability"].to_numpy(dtype=float)[[0, 2]], [0.7, 0.4])
    if suffix == ".csv":
        assert path.read_text().splitlines()[2] == "1,b,-1,"  # an empty cell
    if suffix == ".jsonl":
        assert '"probability":null' in path.read_text().splitlines()[1]
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_write_topics_id_column_clash_and_length(tmp_path):
    with pytest.raises(InputError, match=r"may not be named 'topic'"):
        write_topics(tmp_path / "o.csv", [0, 1], ids=[1, 2], id_column="topic")
    with pytest.raises(InputError, match=r"ids has 1 values but there are 2 topics"):
        write_topics(tmp_path / "o.csv", [0, 1], ids=[1])
    assert not (tmp_path / "o.csv").exists()


def test_write_topics_unknown_suffix(tmp_path):
    with pytest.raises(InputError, match=r"output format .* \.csv, \.jsonl, \.parquet"):
        write_topics(tmp_path / "out.xlsx", [0], [1.0])


def test_write_topics_length_mismatch(tmp_path):
    with pytest.raises(InputError, match=r"probs has shape \(3,\) but there are 2 topics"):
        write_topics(tmp_path / "out.csv", [0, 1], [0.1, 0.2, 0.3])


# ---------------------------------------------------------------- bundled demo sample


def test_demo_corpus():
    corpus = demo_corpus()
    assert len(corpus.docs) == 2000
    assert len(set(corpus.labels)) == 20
    assert pd.Series(corpus.labels).value_counts().eq(100).all()
    assert all(len(d.split()) >= 20 for d in corpus.docs)
    assert list(corpus.frame.columns) == ["text", "label", "doc_id"]
    assert corpus.frame["doc_id"].is_unique
    # shuffled: the first 100 documents already span most newsgroups
    assert len(set(corpus.labels[:100])) >= 15
