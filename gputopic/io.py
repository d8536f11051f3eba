"""Reading corpora from files and writing per-document topic assignments.

:func:`read_corpus` reads one file into a :class:`Corpus`; the format follows the suffix:

=================  ==========================================================================
``.txt``           one document per line (UTF-8); a blank line is a blank document
``.jsonl``         JSON Lines, one object per line; blank lines are skipped
``.jsonl.gz``      the same, gzip-compressed
``.csv``           comma-separated with a header row
``.parquet``       Apache Parquet (read with pyarrow, a gputopic dependency)
=================  ==========================================================================

For the tabular formats the documents come from ``text_column`` (``"text"`` by default) and,
optionally, labels from ``label_column``. Every row is kept, so document ``i`` is row ``i`` of
the file (line ``i + 1`` of a ``.txt`` file) and the output of :func:`write_topics` lines up
with the input. Blank documents are kept as ``""`` whatever the format: an empty or
whitespace-only line or cell, and a null cell (an empty CSV cell, which pandas reads as NaN,
JSON ``null``, a Parquet null). :meth:`Corpus.non_blank` picks the others; the ``gputopic``
command fits on those and gives the blank ones topic -1.

:func:`demo_corpus` returns the bundled 2,000-document 20 Newsgroups sample
(see ``gputopic/data/README.md``).
"""

from __future__ import annotations

import gzip
import json
import math
import os
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Iterator, Sequence

from .exceptions import InputError

__all__ = ["Corpus", "read_corpus", "write_topics", "output_suffix", "demo_corpus", "SUPPORTED_SUFFIXES",
           "OUTPUT_SUFFIXES"]

SUPPORTED_SUFFIXES = (".txt", ".jsonl", ".jsonl.gz", ".csv", ".parquet")
OUTPUT_SUFFIXES = (".csv", ".jsonl", ".parquet")
DEMO_FILE = "demo_20newsgroups.jsonl.gz"


@dataclass
class Corpus:
    """Documents read from a file.

    Attributes:
        docs: the documents, in file order; blank ones (empty lines or cells, null cells) are ``""``.
        labels: the values of ``label_column`` (same length as ``docs``), or ``None``.
        frame: every column of a tabular file as a pandas DataFrame (row ``i`` is ``docs[i]``),
            or ``None`` for ``.txt`` files.
        path: the file that was read.
    """

    docs: list[str]
    labels: list | None = None
    frame: Any = field(default=None, repr=False)
    path: Path | None = None

    def __len__(self) -> int:
        return len(self.docs)

    def non_blank(self) -> tuple[list[str], Any]:
        """The documents holding more than whitespace, and their row numbers (a NumPy array)."""
        import numpy as np

        rows = np.fromiter((i for i, d in enumerate(self.docs) if d.strip()), dtype=np.int64)
        return [self.docs[i] for i in rows], rows


# ---------------------------------------------------------------- helpers


def _suffix(path: Path) -> str | None:
    name = path.name.lower()
    for suffix in sorted(SUPPORTED_SUFFIXES, key=len, reverse=True):  # ".jsonl.gz" before ".gz"
        if name.endswith(suffix):
            return suffix
    return None


def _check_limit(limit: Any) -> int | None:
    if limit is None:
        return None
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise InputError(f"limit must be a positive integer or None, got {limit!r}.")
    return limit


def _open_text(path: Path, gz: bool):
    if gz:
        return gzip.open(path, "rt", encoding="utf-8")
    return open(path, encoding="utf-8")


def _iter_lines(path: Path, gz: bool) -> Iterator[tuple[int, str]]:
    """(1-based line number, line without its newline), with clear errors for bad encodings."""
    try:
        with _open_text(path, gz) as fh:
            for number, line in enumerate(fh, start=1):
                yield number, line.rstrip("\r\n")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{path} is not valid UTF-8 ({exc.reason} at byte {exc.start}). "
            "Re-encode the file as UTF-8, e.g. iconv -f latin1 -t utf-8."
        ) from exc
    except (gzip.BadGzipFile, EOFError) as exc:
        raise InputError(
            f"{path} is not a valid gzip file ({exc}). Recompress it with gzip, "
            "or drop the .gz suffix if it is plain text."
        ) from exc


def _read_txt(path: Path, limit: int | None) -> list[str]:
    docs = []
    for _, line in _iter_lines(path, gz=False):
        docs.append(line)  # blank lines too: document i stays line i + 1
        if limit is not None and len(docs) >= limit:
            break
    return docs


def _read_jsonl(path: Path, gz: bool, limit: int | None):
    pd = _pandas()
    rows = []
    for number, line in _iter_lines(path, gz):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(
                f"{path}, line {number}: not valid JSON ({exc.msg}). Each line of a .jsonl file "
                'must be one JSON object, e.g. {"text": "..."}.'
            ) from exc
        if not isinstance(row, dict):
            raise InputError(
                f"{path}, line {number}: expected a JSON object, got {type(row).__name__}. "
                'Each line of a .jsonl file must be one object, e.g. {"text": "..."}.'
            )
        rows.append(row)
        if limit is not None and len(rows) >= limit:
            break
    return pd.DataFrame.from_records(rows) if rows else pd.DataFrame()


def _read_csv(path: Path, limit: int | None, text_column: str):
    pd = _pandas()
    try:
        # the text column is read as text even when every value looks like a number
        return pd.read_csv(path, nrows=limit, encoding="utf-8", dtype={text_column: str})
    except pd.errors.EmptyDataError:
        return pd.DataFrame()
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{path} is not valid UTF-8 ({exc.reason}). Re-encode the file as UTF-8."
        ) from exc
    except pd.errors.ParserError as exc:
        raise InputError(f"{path} is not a readable CSV file: {exc}") from exc


def _read_parquet(path: Path, limit: int | None):
    from .device import optional_import

    pq = optional_import("pyarrow.parquet", "reading .parquet files")
    try:
        table = pq.read_table(path)
    except Exception as exc:  # noqa: BLE001 - pyarrow raises ArrowInvalid, OSError, ...
        raise InputError(f"{path} is not a readable Parquet file: {exc}") from exc
    if limit is not None:
        table = table.slice(0, limit)
    return table.to_pandas()


def _pandas():
    import pandas

    return pandas


def _is_missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float):
        return math.isnan(value)
    return value is _pandas().NA


def _text_values(frame, column: str, path: Path) -> list[str]:
    """The column's values as documents: null cells become blank documents ``""`` (so an
    empty CSV cell, which pandas reads as NaN, is the same blank document as ``""`` in JSONL);
    any other value that is not a string is refused."""
    values = ["" if _is_missing(v) else v for v in frame[column].tolist()]
    bad = [i for i, v in enumerate(values) if not isinstance(v, str)]
    if bad:
        first = bad[0]
        value = values[first]
        rows = ", ".join(str(i) for i in bad[:5]) + (" ..." if len(bad) > 5 else "")
        raise InputError(
            f"{path}: column {column!r} must hold text, but {len(bad)} value(s) are not strings "
            f"(rows {rows}; row {first} is a {type(value).__name__} ({value!r:.40})). Fix those rows, "
            "or pick the right column with --text-column / text_column=."
        )
    if not any(v.strip() for v in values):
        raise InputError(
            f"{path} contains no documents: all {len(values)} values of column {column!r} are empty or "
            "null. Pick the column holding the documents with --text-column / text_column=."
        )
    return values


# ---------------------------------------------------------------- public API


def read_corpus(path: str | os.PathLike, text_column: str | None = None,
                label_column: str | None = None, limit: int | None = None) -> Corpus:
    """Read documents (and optionally labels) from a ``.txt``, ``.jsonl``, ``.jsonl.gz``,
    ``.csv`` or ``.parquet`` file.

    Args:
        path: the file; its suffix picks the format.
        text_column: the column holding the documents (tabular formats). Default ``"text"``.
        label_column: a column of labels to return in :attr:`Corpus.labels`, or ``None``.
        limit: read at most this many documents (the first ones in the file).

    Raises:
        InputError: the file is missing, empty or unreadable, its suffix is not supported, a
            column is missing, or a document is not a string.
        MissingDependencyError: ``.parquet`` without pyarrow installed.
    """
    path = Path(path)
    limit = _check_limit(limit)
    suffix = _suffix(path)
    if suffix is None:
        raise InputError(
            f"Cannot tell the format of {path}: supported suffixes are "
            f"{', '.join(SUPPORTED_SUFFIXES)}. Rename the file or convert it to one of them."
        )
    if not path.exists():
        raise InputError(f"Input file {path} does not exist. Check the path.")
    if path.is_dir():
        raise InputError(f"Input {path} is a directory; pass a file ({', '.join(SUPPORTED_SUFFIXES)}).")

    if suffix == ".txt":
        if text_column is not None or label_column is not None:
            raise InputError(
                f"{path} is a .txt file (one document per line) and has no columns; drop "
                "text_column/label_column (--text-column/--label-column), or use .jsonl/.csv/.parquet."
            )
        docs = _read_txt(path, limit)
        if not any(d.strip() for d in docs):
            raise InputError(f"{path} contains no documents (the file is empty or only blank lines).")
        return Corpus(docs=docs, labels=None, frame=None, path=path)

    if suffix in (".jsonl", ".jsonl.gz"):
        frame = _read_jsonl(path, gz=suffix == ".jsonl.gz", limit=limit)
    elif suffix == ".csv":
        frame = _read_csv(path, limit, text_column or "text")
    else:
        frame = _read_parquet(path, limit)

    if len(frame) == 0:
        raise InputError(f"{path} contains no documents (no rows).")
    columns = [str(c) for c in frame.columns]
    if text_column is None:
        if "text" not in columns:
            raise InputError(
                f"{path} has no 'text' column; its columns are {columns}. Say which column holds "
                "the documents with --text-column NAME (text_column= in Python)."
            )
        text_column = "text"
    elif text_column not in columns:
        raise InputError(
            f"{path} has no column {text_column!r}; its columns are {columns}. "
            "Pass one of them as --text-column (text_column=)."
        )
    if label_column is not None and label_column not in columns:
        raise InputError(
            f"{path} has no label column {label_column!r}; its columns are {columns}. "
            "Pass one of them as --label-column (label_column=), or leave it out."
        )
    docs = _text_values(frame, text_column, path)
    labels = frame[label_column].tolist() if label_column is not None else None
    return Corpus(docs=docs, labels=labels, frame=frame.reset_index(drop=True), path=path)


def demo_corpus() -> Corpus:
    """The bundled sample of 20 Newsgroups: 2,000 documents, 100 from each of 20 newsgroups,
    with the newsgroup names as :attr:`Corpus.labels` (see ``gputopic/data/README.md``)."""
    resource = resources.files("gputopic") / "data" / DEMO_FILE
    if not resource.is_file():
        raise InputError(
            f"The bundled demo sample gputopic/data/{DEMO_FILE} is missing from this installation. "
            "Reinstall gputopic, or rebuild it with: python bench/make_demo_sample.py"
        )
    with resources.as_file(resource) as path:
        return read_corpus(path, label_column="label")


def write_topics(path: str | os.PathLike, topics: Sequence[int], probs: Any = None, *,
                 ids: Sequence | None = None, id_column: str = "id") -> Path:
    """Write one row per document -- ``document`` (its 0-based row number), ``id_column``
    (when ``ids`` are given), ``topic``, ``probability`` -- to a ``.csv``, ``.jsonl`` or
    ``.parquet`` file chosen by the suffix of ``path``.

    ``probs`` is what ``transform`` returned (or a fit's ``probabilities_``): ``None``, one
    probability per document, or a documents x topics matrix, whose row maximum is written
    (as BERTopic's ``get_document_info`` does). A missing probability (``None`` or NaN, e.g.
    for a blank document) is written as null: an empty CSV cell, JSON ``null``, a Parquet
    null. NumPy, CuPy and torch arrays are accepted. ``ids`` (e.g. an id column of the input)
    are copied as given. Parent folders are created; the file is written to a temporary name
    beside it and renamed, so a failed write leaves no partial file. Returns the path written.
    """
    import numpy as np

    from .device import to_numpy

    path = Path(path)
    suffix = output_suffix(path)
    topics_arr = to_numpy(topics).reshape(-1).astype(np.int64)
    n = len(topics_arr)
    if probs is None:
        prob_arr = np.full(n, np.nan)
    else:
        prob_arr = np.asarray(to_numpy(probs), dtype=np.float64)
        if prob_arr.ndim == 2:
            if prob_arr.shape[1]:
                # a row of NaN (a blank document) stays NaN, without numpy's all-NaN warning
                filled = np.isnan(prob_arr).all(axis=1)
                prob_arr = np.where(filled, np.nan, np.nanmax(np.where(filled[:, None], 0.0, prob_arr), axis=1))
            else:
                prob_arr = np.full(n, np.nan)
        if prob_arr.ndim != 1 or len(prob_arr) != n:
            raise InputError(
                f"probs has shape {prob_arr.shape} but there are {n} topics; pass one probability "
                "per document or a documents x topics matrix."
            )
    pd = _pandas()
    columns = {"document": np.arange(n, dtype=np.int64)}
    if ids is not None:
        ids = list(ids)
        if len(ids) != n:
            raise InputError(f"ids has {len(ids)} values but there are {n} topics; pass one id per document.")
        if id_column in ("document", "topic", "probability"):
            raise InputError(f"The id column may not be named {id_column!r}: that name is taken by an output "
                             "column (document, topic, probability). Rename it.")
        columns[id_column] = ids
    columns["topic"] = topics_arr
    columns["probability"] = pd.array(np.where(np.isnan(prob_arr), None, prob_arr).tolist(), dtype="Float64")
    frame = pd.DataFrame(columns)
    if suffix == ".parquet":
        from .device import optional_import

        optional_import("pyarrow", "writing .parquet files")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        if suffix == ".csv":
            frame.to_csv(tmp, index=False)
        elif suffix == ".jsonl":
            frame.to_json(tmp, orient="records", lines=True, force_ascii=False)
        else:
            frame.to_parquet(tmp, index=False)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def output_suffix(path: str | os.PathLike) -> str:
    """The format of an output file of :func:`write_topics` (``.csv``, ``.jsonl`` or
    ``.parquet``), from its name; an :class:`InputError` for any other name."""
    name = Path(path).name.lower()
    suffix = next((s for s in OUTPUT_SUFFIXES if name.endswith(s)), None)
    if suffix is None:
        raise InputError(
            f"Cannot tell the output format of {path}: use a name ending in "
            f"{', '.join(OUTPUT_SUFFIXES)}."
        )
    return suffix
