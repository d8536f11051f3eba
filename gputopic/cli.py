"""The ``gputopic`` command line.

::

    gputopic fit corpus.jsonl --out model/ --assignments topics.csv   # fit, save, print the topics
    gputopic topics model/ --top 20 --format json   # the topics of a saved model (table, csv, json)
    gputopic transform model/ new.csv --out t.csv   # assign topics to new documents
    gputopic report model/ --out report.html        # an HTML page of the topics and figures
    gputopic demo                                   # fit the bundled 20 Newsgroups sample

One error boundary (:func:`main`): every :class:`~gputopic.exceptions.GPUTopicError` and every
``OSError`` (a file that cannot be read or written) is printed as one line,
``gputopic: error: <message>``, on stderr with exit status 2; ``--debug`` adds the traceback.
Output paths are checked before any work starts. Other exceptions are bugs and keep their
traceback.

The command owns the ``gputopic`` logger while it runs: warnings are printed as
``gputopic: warning: ...`` with the library's parameter names replaced by the command's flags
(``min_topic_size`` -> ``--min-topic-size``), stage timings only with ``--verbose``, and the
stage records drive the progress bar (on by default when stderr is a terminal, off with
``--quiet``).
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Sequence

import numpy as np

from .device import to_numpy
from .exceptions import GPUTopicError, InputError
from .io import OUTPUT_SUFFIXES, SUPPORTED_SUFFIXES

__all__ = ["main", "build_parser", "EXIT_ERROR"]

#: exit status of an error in the input, the options or a file (and of argparse's usage errors)
EXIT_ERROR = 2
#: exit status after Ctrl-C (128 + SIGINT, as a shell reports it)
EXIT_INTERRUPTED = 130
#: exit status when the reader of stdout went away (``gputopic topics m | head``): 128 + SIGPIPE,
#: what a shell reports for a command that the broken pipe stopped
EXIT_BROKEN_PIPE = 141

_FORMATS = ", ".join(SUPPORTED_SUFFIXES)
_OUT_FORMATS = ", ".join(OUTPUT_SUFFIXES)
_EXIT_CODES = """exit status:
  0    success
  1    an unexpected error (a bug): Python prints the traceback
  2    bad input, options or files: one line on stderr, "gputopic: error: ..."
       (--debug also prints the traceback); output paths are checked before any work starts
  130  interrupted (Ctrl-C)
  141  stdout was closed early, e.g. piped into head (nothing more is printed)
"""
_EPILOG = f"""input formats (by suffix): {_FORMATS}.
  .txt holds one document per line; the other formats read the documents from the column
  'text' (or --text-column NAME). Blank documents (empty or whitespace-only lines or cells,
  null cells) are left out of the fit with a notice; they get topic -1 in --assignments
  and transform output, so those files keep one row per input row.

output: folders in output paths are created as needed. A progress bar is shown while
  stderr is a terminal (--quiet turns it and the notices off); --verbose logs each stage.

examples:
  gputopic demo --device cpu
  gputopic fit corpus.jsonl.gz --out model/ --min-topic-size 15 --assignments topics.csv
  gputopic topics model/ --top 20 --format json
  gputopic fit 'shards/*.parquet' --out model/ --scheduler tcp://10.0.0.1:8786
  gputopic transform model/ new_docs.csv --out assignments.csv --id-column doc_id
  gputopic report model/ --out report.html

{_EXIT_CODES}"""


# ---------------------------------------------------------------- argument parsing


def _int_at_least(low: int, what: str):
    """An argparse type: an integer >= ``low``, with a message naming the rule."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"expected {what}, got {value}")
        return value

    return parse


_positive_int = _int_at_least(1, "a positive integer")
_non_negative_int = _int_at_least(0, "an integer >= 0")
_nr_topics_int = _int_at_least(2, "'auto' or an integer >= 2")


def _nr_topics(text: str):
    return "auto" if text == "auto" else _nr_topics_int(text)


def _names(text: str) -> list[str]:
    """'a;b' -> ['a', 'b']: names separated by semicolons, none empty."""
    names = [n.strip() for n in text.split(";")]
    if not all(names):
        raise argparse.ArgumentTypeError(f"expected names separated by ';' (none empty), got {text!r}")
    return names


def _word_lists(text: str) -> list[list[str]]:
    """'a,b;c' -> [['a', 'b'], ['c']]: topics separated by ';', their words by ','."""
    topics = [[w.strip() for w in t.split(",")] for t in text.split(";")]
    if not all(t and all(t) for t in topics):
        raise argparse.ArgumentTypeError(f"expected words separated by ',' and topics by ';' (none empty), "
                                         f"got {text!r}")
    return topics


def _add_input_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--text-column", metavar="C",
                   help="column holding the documents in .jsonl/.csv/.parquet input (default: text)")
    p.add_argument("--limit", type=_positive_int, metavar="N",
                   help="use only the first N rows of the input")


def _add_assignment_options(p: argparse.ArgumentParser, out_flag: str) -> None:
    p.add_argument("--id-column", metavar="C",
                   help=f"copy this input column (.jsonl/.csv/.parquet) into {out_flag} beside the row number")


def _add_run_options(p: argparse.ArgumentParser, progress: bool = True) -> None:
    """--verbose/--quiet (commands that compute) and --debug (every command)."""
    if progress:
        g = p.add_mutually_exclusive_group()
        g.add_argument("--verbose", "-v", action="store_true", help="log each stage and its time")
        g.add_argument("--quiet", "-q", action="store_true",
                       help="no progress bar and no notices on stderr (warnings and errors still show)")
    # SUPPRESS: `gputopic --debug fit ...` is not reset by the subcommand's default
    p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                   help="print the traceback of an error")


def _add_model_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("model options")
    g.add_argument("--min-topic-size", type=_positive_int, default=10, metavar="N",
                   help="smallest number of documents a topic may have (default: 10)")
    g.add_argument("--top-n-words", type=_positive_int, default=10, metavar="N",
                   help="number of words kept per topic (default: 10)")
    g.add_argument("--nr-topics", type=_nr_topics, metavar="N|auto",
                   help="merge similar topics until N remain, counting the outliers (-1), or 'auto' "
                        "(default: keep the topics HDBSCAN finds)")
    g.add_argument("--random-state", type=_non_negative_int, metavar="N",
                   help="seed for UMAP, for reproducible topics (default: not seeded, faster)")
    _add_embedding_options(g)


def _add_embedding_options(g) -> None:
    g.add_argument("--embedding-model", metavar="NAME_OR_PATH",
                   help="sentence-transformers model name or local folder (default: the bundled "
                        "all-MiniLM-L6-v2, which needs no download)")
    g.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                   help="where to compute: 'auto' uses a CUDA GPU when one is visible (default: auto)")
    g.add_argument("--batch-size", type=_positive_int, metavar="N",
                   help="embedding batch size (default: chosen for the device)")
    g.add_argument("--embedding-cache", metavar="DIR",
                   help="folder caching document embeddings, so refitting the same documents "
                        "skips the embedding step")


def _para(text: str) -> str:
    """A paragraph wrapped to the terminal (the help uses a raw formatter to keep the epilogs' layout)."""
    import shutil
    import textwrap

    return textwrap.fill(text, width=max(40, min(100, shutil.get_terminal_size().columns - 2)))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gputopic",
        description="Topic modelling of text documents (BERTopic-style: embed, UMAP, HDBSCAN, "
                    "c-TF-IDF), on a GPU when one is available.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    parser.add_argument("--debug", action="store_true", help="print the traceback of an error")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    raw = argparse.RawDescriptionHelpFormatter

    # fit
    p = sub.add_parser(
        "fit", help="fit a topic model on a corpus file and save it", formatter_class=raw,
        description=_para("Fit a topic model on the documents of INPUT, save it to --out and print "
                          "the topics (Topic, Count, Name). Topic -1 collects the outlier documents. "
                          "Blank documents (empty or whitespace-only, or null cells) are left out of the "
                          "fit with a notice."),
        epilog=f"input formats (by suffix): {_FORMATS}.\n\n"
               + _para(f"--assignments FILE ({_OUT_FORMATS}) has one row per input row: document (the 0-based "
                       "row number in INPUT; for .txt the line number - 1), the --id-column if given, topic "
                       "and probability, from the fit itself. Blank documents get topic -1 and an empty "
                       "probability.") + "\n\n" + _EXIT_CODES,
    )
    p.add_argument("input", metavar="INPUT", help=f"corpus file ({_FORMATS})")
    p.add_argument("--out", required=True, metavar="DIR", help="folder to save the fitted model to")
    p.add_argument("--assignments", metavar="FILE",
                   help=f"also write each input row's topic and probability from the fit ({_OUT_FORMATS}): "
                        "one row per input row")
    _add_assignment_options(p, "--assignments")
    _add_input_options(p)
    _add_model_options(p)
    g = p.add_argument_group("steering the topics (in-process fits; --representation also sharded)")
    g.add_argument("--label-column", metavar="C",
                   help="column of class labels (.jsonl/.csv/.parquet): UMAP fits semi-supervised; rows "
                        "without a label (empty or null) are unknown")
    g.add_argument("--seed-topics", type=_word_lists, metavar="'w1,w2;w3,w4'",
                   help="seed topics for guided topic modelling: topics separated by ';', their words by ','")
    g.add_argument("--zeroshot-topics", type=_names, metavar="'name 1;name 2'",
                   help="zero-shot topic names separated by ';': documents similar enough to a name join it")
    g.add_argument("--zeroshot-min-similarity", type=float, default=0.7, metavar="F",
                   help="cosine similarity a document needs to join a zero-shot topic (default: 0.7)")
    g.add_argument("--representation", choices=("keybert", "mmr"),
                   help="re-rank the topic words: 'keybert' (KeyBERTInspired) or 'mmr' (maximal marginal "
                        "relevance, diversity 0.3) (default: c-TF-IDF order)")
    g = p.add_argument_group("dask (shard the corpus over several processes or GPUs)")
    g = g.add_mutually_exclusive_group()
    g.add_argument("--cluster", choices=("local", "local-cuda"),
                   help="start a local Dask cluster: 'local' (CPU worker processes) or 'local-cuda' "
                        "(one worker per GPU, needs gputopic[dask-cuda])")
    g.add_argument("--scheduler", metavar="ADDRESS",
                   help="use a running Dask scheduler, e.g. tcp://10.0.0.1:8786; a .parquet INPUT "
                        "may then be a glob read by the workers")
    _add_run_options(p)
    p.set_defaults(func=_cmd_fit)

    # topics
    p = sub.add_parser(
        "topics", help="print the topics of a saved model", formatter_class=raw,
        description=_para("Print the topics of a model saved by 'gputopic fit'. The outlier topic -1 is "
                          "listed first when there is one. --format table prints Topic, Count, Name; csv "
                          "prints the columns topic, count, name, words (words separated by ';'); json "
                          "prints a list of objects {topic, count, name, words}."),
        epilog=_EXIT_CODES,
    )
    p.add_argument("model", metavar="DIR", help="folder of a saved model")
    p.add_argument("--top", type=_positive_int, metavar="N",
                   help="show only the N largest topics (plus the outlier topic -1)")
    p.add_argument("--format", choices=("table", "csv", "json"), default="table",
                   help="output format (default: table)")
    _add_run_options(p, progress=False)
    p.set_defaults(func=_cmd_topics)

    # transform
    p = sub.add_parser(
        "transform", help="assign the topics of a saved model to new documents", formatter_class=raw,
        description=_para("Load a model saved by 'gputopic fit', assign a topic to each document of "
                          "INPUT and write one row per input row (document, the --id-column if given, "
                          "topic, probability) to --out. 'document' is the 0-based row number in INPUT "
                          "(for .txt the line number - 1); blank documents get topic -1 and an empty "
                          "probability."),
        epilog=f"input formats (by suffix): {_FORMATS}.\noutput formats (by suffix): {_OUT_FORMATS}.\n\n"
               + _EXIT_CODES,
    )
    p.add_argument("model", metavar="DIR", help="folder of a saved model")
    p.add_argument("input", metavar="INPUT", help=f"corpus file ({_FORMATS})")
    p.add_argument("--out", required=True, metavar="FILE", help=f"file to write ({_OUT_FORMATS})")
    _add_assignment_options(p, "--out")
    _add_input_options(p)
    g = p.add_argument_group("model options (default: as saved with the model)")
    g.add_argument("--embedding-model", metavar="NAME_OR_PATH",
                   help="embedding model to use instead of the one saved with the model "
                        "(must be the model it was fitted with, e.g. when moved to another folder)")
    g.add_argument("--device", choices=("auto", "cpu", "cuda"),
                   help="where to compute, e.g. 'cpu' for a model fitted with --device cuda")
    g.add_argument("--batch-size", type=_positive_int, metavar="N", help="embedding batch size")
    g.add_argument("--embedding-cache", metavar="DIR", help="folder caching document embeddings")
    _add_run_options(p)
    p.set_defaults(func=_cmd_transform)

    # report
    p = sub.add_parser(
        "report", help="write an HTML page of a saved model's topics and figures", formatter_class=raw,
        description=_para("Write an HTML page describing a model saved by 'gputopic fit': a summary, "
                          "the topic table and interactive figures (intertopic map, word bar charts, "
                          "hierarchy, similarity matrix). Needs plotly (pip install 'gputopic[plot]')."),
        epilog=_EXIT_CODES,
    )
    p.add_argument("model", metavar="DIR", help="folder of a saved model")
    p.add_argument("--out", required=True, metavar="FILE", help="HTML file to write")
    p.add_argument("--title", default="gputopic report", help="the page's title")
    p.add_argument("--top-n-topics", type=_positive_int, default=50, metavar="N",
                   help="figures of many topics show the N largest (default 50)")
    p.add_argument("--cdn", action="store_true",
                   help="link plotly.js from its CDN instead of putting it in the page (about 4.9 MB; "
                        "the page then needs internet access to draw)")
    _add_run_options(p, progress=False)
    p.set_defaults(func=_cmd_report)

    # demo
    p = sub.add_parser(
        "demo", help="fit the bundled 20 Newsgroups sample and score it against its labels",
        formatter_class=raw,
        description=_para("Fit a topic model on the bundled sample of 20 Newsgroups (2,000 documents, "
                          "100 from each of 20 newsgroups), print the topics and the normalized mutual "
                          "information (NMI) between topics and newsgroups (outliers counted as one "
                          "cluster). Needs no download. UMAP is seeded (--random-state 1 unless given) "
                          "so the demo prints the same topics every time."),
        epilog=_EXIT_CODES,
    )
    _add_model_options(p)
    p.add_argument("--out", metavar="DIR", help="also save the fitted model to DIR")
    _add_run_options(p)
    # seed 1: 21 topics, NMI 0.54 on the CPU; seed 0 is one of the seeds that fall into
    # HDBSCAN's two-giant-topics case on this sample (README, "Few giant topics")
    p.set_defaults(func=_cmd_demo, random_state=1)
    return parser


def _version() -> str:
    import gputopic  # already imported: this module lives in the package

    return getattr(gputopic, "__version__", "(unknown version)")


# ---------------------------------------------------------------- messages and logging

#: library parameters that have a flag of the same meaning; a warning or error that suggests
#: the parameter is shown to command-line users with the flag
_PARAM_FLAGS = {
    "min_topic_size": "--min-topic-size", "top_n_words": "--top-n-words", "nr_topics": "--nr-topics",
    "random_state": "--random-state", "embedding_model": "--embedding-model", "batch_size": "--batch-size",
    "embedding_cache_dir": "--embedding-cache", "seed_topic_list": "--seed-topics",
    "zeroshot_topic_list": "--zeroshot-topics", "zeroshot_min_similarity": "--zeroshot-min-similarity",
    "representation_model": "--representation",
}
_PARAM_RE = re.compile(r"(?<![\w.-])(" + "|".join(sorted(_PARAM_FLAGS, key=len, reverse=True))
                       + r")\b(=(?=\S))?")


def cli_words(message: str) -> str:
    """``message`` with the library's parameter names replaced by the command's flags:
    ``"a larger min_topic_size"`` -> ``"a larger --min-topic-size"``, ``"min_topic_size=5"`` ->
    ``"--min-topic-size 5"``. Names inside parentheses (``UMAP(random_state=0)``, Python code
    with no flag) are kept."""
    out, last, depth = [], 0, 0
    for m in _PARAM_RE.finditer(message):
        depth += message.count("(", last, m.start()) - message.count(")", last, m.start())
        out.append(message[last:m.start()])
        out.append(m.group(0) if depth > 0 else _PARAM_FLAGS[m.group(1)] + (" " if m.group(2) else ""))
        last = m.end()
    out.append(message[last:])
    return "".join(out)


class _FlagWords(logging.Filter):
    """Rewrites a record's message with :func:`cli_words` (formatted once, args dropped)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "gputopic_stage"):
            record.gputopic_stage = _stage_of(record)  # read before the args are dropped
            try:
                record.msg, record.args = cli_words(record.getMessage()), None
            except Exception:  # noqa: BLE001 - a record that cannot be formatted: the handler reports it
                pass
        return True


#: the fit's stages in the order the library logs them ("<stage>: <seconds> s" records), and
#: what the progress bar says while the next one runs
_STAGES = {"setup": "loading models", "embed": "embedding", "reduce": "reducing (UMAP)",
           "cluster": "clustering (HDBSCAN)", "count": "counting words", "ctfidf": "weighting words",
           "represent": "describing topics"}


def _stage_of(record: logging.LogRecord) -> str | None:
    args = record.args if isinstance(record.args, tuple) else ()
    if record.levelno == logging.INFO and args and isinstance(args[0], str) and args[0] in _STAGES \
            and str(record.msg).startswith("%s"):
        return args[0]
    return None


class _StageBar:
    """A progress bar over the fit's stages, advanced by the library's stage records; the
    embedding stage shows its own per-document bar below it (``GPUTopic(verbose=True)``).
    A thread refreshes it every second so the elapsed time moves during a long stage."""

    def __init__(self, stages: Sequence[str]):
        from tqdm import tqdm

        self.stages = list(stages)
        self.bar = tqdm(total=len(self.stages), desc=_STAGES[self.stages[0]], file=sys.stderr, leave=False,
                        bar_format="{desc} (stage {n_fmt}/{total_fmt}, {elapsed})", dynamic_ncols=True)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._tick, name="gputopic-progress", daemon=True)
        self._thread.start()

    def _tick(self) -> None:
        while not self._stop.wait(1.0):
            self.bar.refresh()

    def done(self, stage: str) -> None:
        if stage not in self.stages:
            return
        i = self.stages.index(stage) + 1
        if i < len(self.stages):
            self.bar.set_description_str(_STAGES[self.stages[i]], refresh=False)
        self.bar.update(i - self.bar.n)
        self.bar.refresh()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.bar.close()


class _Console(logging.Handler):
    """The command's handler of the ``gputopic`` logger: warnings (and, with --verbose, info
    records) on stderr as ``gputopic: ...`` lines written around the progress bars; stage
    records advance the stage bar."""

    def __init__(self, verbose: bool):
        super().__init__(logging.DEBUG)
        self.verbose = verbose
        self.stage_bar: _StageBar | None = None
        self.addFilter(_FlagWords())

    def emit(self, record: logging.LogRecord) -> None:
        try:
            stage = getattr(record, "gputopic_stage", None) or _stage_of(record)
            if stage is not None and self.stage_bar is not None:
                self.stage_bar.done(stage)
            if record.levelno >= logging.WARNING:
                line = f"gputopic: {record.levelname.lower()}: {record.getMessage()}"
            elif self.verbose and record.levelno >= logging.INFO:
                line = f"{time.strftime('%H:%M:%S')} gputopic: {record.getMessage()}"
            else:
                return
            _write_err(line)
        except Exception:  # noqa: BLE001 - logging must never break the command
            self.handleError(record)


def _write_err(line: str) -> None:
    """A line on stderr that does not tear a progress bar."""
    from tqdm import tqdm

    tqdm.write(line, file=sys.stderr)


class _Session:
    """What one command run sets up and takes down: the ``gputopic`` logger's output (the
    command's handler only, restored afterwards) and whether progress bars and notices show."""

    def __init__(self, args: argparse.Namespace):
        self.verbose = bool(getattr(args, "verbose", False))
        self.quiet = bool(getattr(args, "quiet", False))
        self.progress = not self.quiet and _stderr_is_tty()
        self.console = _Console(self.verbose)
        self._logger = logging.getLogger("gputopic")
        self._saved = None
        self._flags = _FlagWords()

    def __enter__(self) -> "_Session":
        lg = self._logger
        self._saved = (list(lg.handlers), lg.level, lg.propagate)
        lg.handlers = [self.console]
        lg.propagate = False
        lg.setLevel(logging.INFO)  # stage records reach the handler (printed with --verbose only)
        lg.addFilter(self._flags)  # also for a handler the library may add during the run
        return self

    def __exit__(self, *exc) -> None:
        self.stop_stages()
        lg = self._logger
        lg.removeFilter(self._flags)
        lg.handlers, level, lg.propagate = self._saved
        lg.setLevel(level)

    def note(self, message: str) -> None:
        """An informational line on stderr (not with --quiet)."""
        if not self.quiet:
            _write_err(message)

    def start_stages(self, stages: Sequence[str]) -> None:
        if self.progress:
            self.console.stage_bar = _StageBar(stages)

    def stop_stages(self) -> None:
        if self.console.stage_bar is not None:
            self.console.stage_bar.close()
            self.console.stage_bar = None


def _stderr_is_tty() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):  # replaced or closed stream
        return False


# ---------------------------------------------------------------- output paths


def _nearest_existing(path: Path) -> Path:
    p = path
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def _check_creatable(folder: Path, what: str) -> None:
    """``folder`` exists as a writable folder, or can be created (its nearest existing
    ancestor is a writable folder)."""
    base = _nearest_existing(folder.absolute())
    if not base.is_dir():
        raise InputError(f"{what}: {base} is a file, not a folder. Choose another path.")
    if not os.access(base, os.W_OK | os.X_OK):
        raise InputError(f"{what}: the folder {base} is not writable. Choose another path or fix its permissions.")


def _check_output_file(path: str, flag: str, inputs: Sequence[str] = (), example: str = "out.csv",
                       table: bool = True) -> Path:
    """An output file that can be written, checked before any work: not a folder, a name
    whose suffix gives the format (``table``: a file of :func:`~gputopic.io.write_topics`),
    not one of the inputs, and in a folder that exists and is writable or can be created."""
    from .io import output_suffix

    out = Path(path)
    if out.is_dir():
        raise InputError(f"{flag} {path} is a folder; give a file name, e.g. {out / example}.")
    if table:
        output_suffix(out)
    for src in inputs:
        if out.exists() and Path(src).exists() and os.path.samefile(out, src):
            raise InputError(f"{flag} {path} is the input file; choose another name, so the input is kept.")
    if out.exists() and not os.access(out, os.W_OK):
        raise InputError(f"{flag} {path} exists and is not writable. Choose another path or fix its permissions.")
    _check_creatable(out.parent, f"{flag} {path}")
    return out


def _check_output_folder(path: str, flag: str) -> None:
    out = Path(path)
    if out.exists() and not out.is_dir():
        raise InputError(f"{flag} {path} exists and is not a folder. Choose another path.")
    _check_creatable(out, f"{flag} {path}")


# ---------------------------------------------------------------- helpers


def _estimator_class():
    from .model import GPUTopic

    return GPUTopic


def _make_model(args: argparse.Namespace, session: _Session):
    from .represent import KeyBERTInspired, MaximalMarginalRelevance

    GPUTopic = _estimator_class()
    representation = {None: None, "keybert": KeyBERTInspired(),
                      "mmr": MaximalMarginalRelevance(diversity=0.3)}[getattr(args, "representation", None)]
    return GPUTopic(
        embedding_model=args.embedding_model,
        top_n_words=args.top_n_words,
        min_topic_size=args.min_topic_size,
        nr_topics=args.nr_topics,
        device=args.device,
        batch_size=args.batch_size,
        random_state=args.random_state,
        # the library's per-document embedding bar shows with verbose=True; its stage records
        # go to the command's handler (_Session), which prints them with --verbose only
        verbose=session.progress or session.verbose,
        embedding_cache_dir=args.embedding_cache,
        representation_model=representation,
        seed_topic_list=getattr(args, "seed_topics", None),
        zeroshot_topic_list=getattr(args, "zeroshot_topics", None),
        zeroshot_min_similarity=getattr(args, "zeroshot_min_similarity", 0.7),
    )


def _label_codes(values: list) -> np.ndarray:
    """Class labels from a column: integer codes in order of first appearance, -1 where a
    row has none (null or empty)."""
    codes, seen = np.full(len(values), -1, dtype=np.int64), {}
    for i, v in enumerate(values):
        if v is None or (isinstance(v, float) and v != v) or (isinstance(v, str) and not v.strip()):
            continue
        codes[i] = seen.setdefault(v, len(seen))
    return codes


def _topic_frame(model, top: int | None = None):
    """The topic table of ``model`` (pandas), outliers first, then the ``top`` largest topics."""
    import pandas as pd

    info = model.get_topic_info()
    if hasattr(info, "to_pandas"):  # cuDF
        info = info.to_pandas()
    if top is not None:
        outliers = info[info["Topic"] == -1]
        rest = info[info["Topic"] != -1].sort_values("Count", ascending=False, kind="stable")
        info = pd.concat([outliers, rest.head(top)])
    return info


def _topic_table(model, top: int | None = None) -> str:
    table = _topic_frame(model, top)[["Topic", "Count", "Name"]]
    if len(table) == 0:
        return "(no topics)"
    return table.to_string(index=False, max_colwidth=80)


def _topic_records(model, top: int | None = None) -> list[dict]:
    info = _topic_frame(model, top)
    names = info["CustomName"] if "CustomName" in info.columns else info["Name"]
    words = info["Representation"] if "Representation" in info.columns else [[] for _ in range(len(info))]
    return [{"topic": int(t), "count": int(c), "name": str(n), "words": [str(w) for w in ws]}
            for t, c, n, ws in zip(info["Topic"], info["Count"], names, words)]


def _n_topics(model) -> int:
    return int((_topic_frame(model)["Topic"] != -1).sum())


def _blank_notice(n_blank: int, n_rows: int, assignments: bool) -> str:
    where = "they get topic -1 in --assignments" if assignments else "they get no topic"
    return (f"left out {n_blank} of {n_rows} documents that are blank (empty, whitespace-only or null): "
            f"{where}")


def _spread(n_rows: int, kept_rows: np.ndarray, topics, probs) -> tuple[np.ndarray, np.ndarray | None]:
    """Topics (-1) and probabilities (NaN) for all ``n_rows`` input rows from those of the
    ``kept_rows`` that were fitted or transformed."""
    full_topics = np.full(n_rows, -1, dtype=np.int64)
    full_topics[kept_rows] = to_numpy(topics).reshape(-1)
    if probs is None:
        return full_topics, None
    probs = np.asarray(to_numpy(probs), dtype=np.float64)
    full_probs = np.full((n_rows,) + probs.shape[1:], np.nan)
    full_probs[kept_rows] = probs
    return full_topics, full_probs


def _id_values(corpus, id_column: str | None, flag: str) -> list | None:
    if id_column is None:
        return None
    if corpus.frame is None:
        raise InputError(f"--id-column {id_column}: {corpus.path} is a .txt file and has no columns; the "
                         f"row number in {flag} identifies each line (document = line number - 1).")
    if id_column not in corpus.frame.columns:
        raise InputError(f"--id-column {id_column}: {corpus.path} has no such column; its columns are "
                         f"{[str(c) for c in corpus.frame.columns]}.")
    return corpus.frame[id_column].tolist()


# ---------------------------------------------------------------- commands


def _cmd_fit(args: argparse.Namespace, session: _Session) -> int:
    from .io import read_corpus

    sharded = bool(args.cluster or args.scheduler)
    if sharded:
        steering = [o for o, v in (("--label-column", args.label_column), ("--seed-topics", args.seed_topics),
                                   ("--zeroshot-topics", args.zeroshot_topics)) if v is not None]
        if steering:
            raise InputError(f"{', '.join(steering)} need an in-process fit: leave out --cluster / --scheduler.")
    if args.id_column is not None and args.assignments is None:
        raise InputError("--id-column names the column copied into --assignments: add --assignments FILE.")
    # every output is checked before the fit, so a bad path does not cost a fit
    _check_output_folder(args.out, "--out")
    if args.embedding_cache is not None:
        _check_output_folder(args.embedding_cache, "--embedding-cache")
    if args.assignments is not None:
        _check_output_file(args.assignments, "--assignments", inputs=[args.input])
        if Path(args.assignments).absolute() in (Path(args.out).absolute() / n for n in
                                                  ("gputopic.json", "gputopic.safetensors")):
            raise InputError(f"--assignments {args.assignments} would overwrite a file of the saved model.")
    if sharded and args.input.lower().endswith(".parquet"):
        return _cmd_fit_dask_parquet(args, session)

    corpus = read_corpus(args.input, text_column=args.text_column, label_column=args.label_column,
                         limit=args.limit)
    ids = _id_values(corpus, args.id_column, "--assignments")
    docs, rows = corpus.non_blank()
    if len(rows) < len(corpus):
        session.note(_blank_notice(len(corpus) - len(rows), len(corpus), args.assignments is not None))
    _check_enough_docs(len(docs), args.min_topic_size)
    y = None if corpus.labels is None else _label_codes([corpus.labels[i] for i in rows])
    model = _make_model(args, session)
    if sharded:
        from .distributed import open_client

        with open_client(cluster=args.cluster, scheduler=args.scheduler) as client:
            seconds = _fit(model, session, docs, client=client)
        how = " (dask)"
    else:
        seconds, how = _fit(model, session, docs, y=y), ""
    return _save_and_report(model, args, session, seconds, how, len(corpus), rows, ids)


def _fit(model, session: _Session, docs, y=None, client=None) -> float:
    """Fit ``model`` with the stage bar running; the seconds it took."""
    start = time.perf_counter()
    stages = list(_STAGES)
    if client is not None:
        model.set_params(client=client)
        stages = stages[1:]  # the sharded fit logs no setup stage
    session.start_stages(stages)
    try:
        if y is None:
            model.fit(docs)
        else:
            model.fit(docs, y=y)
    finally:
        session.stop_stages()
        if client is not None:
            model.set_params(client=None)
    return time.perf_counter() - start


def _save_and_report(model, args: argparse.Namespace, session: _Session, seconds: float, how: str,
                     n_rows: int, rows: np.ndarray, ids: list | None) -> int:
    """Save a fitted model to --out, write --assignments (the fit's own topics_ and
    probabilities_, spread over all input rows), print the topic table, note what was done."""
    from .io import write_topics

    model.save(args.out)
    wrote = ""
    if args.assignments is not None:
        topics, probs = _spread(n_rows, rows, model.topics_, model.probabilities_)
        write_topics(args.assignments, topics, probs, ids=ids, id_column=args.id_column or "id")
        wrote = f"; assignments written to {args.assignments}"
    print(_topic_table(model))
    session.note(f"fitted {_n_topics(model)} topics on {len(rows)} documents in {seconds:.1f} s"
                 f"{how}; model saved to {args.out}{wrote}")
    return 0


def _blank_mask(part):
    """Per row of a pandas partition of documents: False where it is blank (null, or a string
    of whitespace), True otherwise (other values stay, for the library to refuse by name)."""
    import pandas as pd

    def has_text(d) -> bool:
        if isinstance(d, str):
            return bool(d.strip())
        return not (d is None or (np.ndim(d) == 0 and bool(pd.isna(d))))  # None, NaN, pd.NA

    return part.map(has_text).astype(bool)


def _cmd_fit_dask_parquet(args: argparse.Namespace, session: _Session) -> int:
    """A .parquet INPUT (a glob) read by the Dask workers; blank documents are dropped there,
    and their rows kept track of on the client (one byte a row) for --assignments."""
    from .distributed import open_client, read_documents

    with open_client(cluster=args.cluster, scheduler=args.scheduler) as client:
        series = read_documents(args.input, text_column=args.text_column, limit=args.limit)
        keep = series.map_partitions(_blank_mask, meta=(series.name, bool))
        mask = np.asarray(client.compute(keep).result(), dtype=bool)
        ids = None
        if args.id_column is not None:
            id_series = read_documents(args.input, text_column=args.id_column, limit=args.limit)
            ids = list(client.compute(id_series).result())
            if len(ids) != len(mask):  # pragma: no cover - both columns come from the same files
                raise InputError(f"--id-column {args.id_column} has {len(ids)} values for {len(mask)} documents.")
        rows = np.flatnonzero(mask)
        if len(rows) < len(mask):
            session.note(_blank_notice(len(mask) - len(rows), len(mask), args.assignments is not None))
            series = series[keep]
        _check_enough_docs(len(rows), args.min_topic_size)
        model = _make_model(args, session)
        seconds = _fit(model, session, series, client=client)
    return _save_and_report(model, args, session, seconds, " (dask)", len(mask), rows, ids)


def _cmd_topics(args: argparse.Namespace, session: _Session) -> int:
    model = _estimator_class().load(args.model)
    if args.format == "table":
        print(_topic_table(model, top=args.top))
    elif args.format == "json":
        import json

        print(json.dumps(_topic_records(model, top=args.top), ensure_ascii=False, indent=1))
    else:
        import pandas as pd

        records = _topic_records(model, top=args.top)
        frame = pd.DataFrame(records, columns=["topic", "count", "name", "words"])
        frame["words"] = [";".join(r["words"]) for r in records]
        sys.stdout.write(frame.to_csv(index=False))
    return 0


def _cmd_report(args: argparse.Namespace, session: _Session) -> int:
    from .plotting import report

    out = _check_output_file(args.out, "--out", example="report.html", table=False)
    model = _estimator_class().load(args.model)
    out.parent.mkdir(parents=True, exist_ok=True)
    report(model, args.out, title=args.title, top_n_topics=args.top_n_topics,
           include_plotlyjs="cdn" if args.cdn else True)
    session.note(f"wrote {args.out} ({_n_topics(model)} topics)")
    return 0


def _cmd_transform(args: argparse.Namespace, session: _Session) -> int:
    from .io import read_corpus, write_topics

    _check_output_file(args.out, "--out", inputs=[args.input])  # fail before the expensive part
    if args.embedding_cache is not None:
        _check_output_folder(args.embedding_cache, "--embedding-cache")
    corpus = read_corpus(args.input, text_column=args.text_column, limit=args.limit)
    ids = _id_values(corpus, args.id_column, "--out")
    model = _estimator_class().load(args.model, embedding_model=args.embedding_model)
    overrides = {"device": args.device, "batch_size": args.batch_size,
                 "embedding_cache_dir": args.embedding_cache}
    overrides = {k: v for k, v in overrides.items() if v is not None}
    if session.progress or session.verbose:
        overrides["verbose"] = True
    if overrides:
        model.set_params(**overrides)
    start = time.perf_counter()
    docs, rows = corpus.non_blank()
    if len(rows) < len(corpus):
        n_blank = len(corpus) - len(rows)
        session.note(f"{n_blank} of {len(corpus)} documents are blank (empty, whitespace-only or null): "
                     f"they get topic -1 in {args.out}")
    topics, probs = model.transform(docs) if docs else (np.zeros(0, dtype=np.int64), None)
    topics, probs = _spread(len(corpus), rows, topics, probs)
    seconds = time.perf_counter() - start
    write_topics(args.out, topics, probs, ids=ids, id_column=args.id_column or "id")
    session.note(f"assigned topics to {len(corpus)} documents in {seconds:.1f} s; wrote {args.out}")
    return 0


def _cmd_demo(args: argparse.Namespace, session: _Session) -> int:
    from .io import demo_corpus

    if args.out:
        _check_output_folder(args.out, "--out")
    if args.embedding_cache is not None:
        _check_output_folder(args.embedding_cache, "--embedding-cache")
    corpus = demo_corpus()
    model = _make_model(args, session)
    session.note(f"fitting {len(corpus)} documents from 20 Newsgroups ({len(set(corpus.labels))} "
                 f"newsgroups) on device={args.device} ...")
    seconds = _fit(model, session, corpus.docs)
    if args.out:
        model.save(args.out)
    print(_topic_table(model))
    from sklearn.metrics import normalized_mutual_info_score

    topics = to_numpy(model.topics_).reshape(-1)
    nmi = normalized_mutual_info_score(corpus.labels, topics)
    outliers = float((topics == -1).mean())
    print(f"\nNMI vs newsgroups: {nmi:.3f}   topics: {_n_topics(model)}   "
          f"outliers: {outliers:.1%}   time: {seconds:.1f} s")
    if args.out:
        session.note(f"model saved to {args.out}")
    return 0


def _check_enough_docs(n_docs: int, min_topic_size: int) -> None:
    if n_docs < 2 * min_topic_size:
        raise InputError(
            f"Only {n_docs} documents for --min-topic-size {min_topic_size}: a topic model needs "
            f"at least {2 * min_topic_size} (two topics' worth). Add documents or lower "
            "--min-topic-size."
        )


# ---------------------------------------------------------------- entry point


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _os_error_message(exc: OSError) -> str:
    what = exc.strerror or _one_line(str(exc)) or type(exc).__name__
    names = [str(f) for f in (exc.filename, exc.filename2) if f is not None]
    return f"{what}: {' -> '.join(names)}" if names else what


def _silence_stdout() -> None:
    """After a broken pipe: point stdout at /dev/null so the interpreter's final flush does
    not report the same broken pipe again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # no real file descriptor (e.g. captured)
        pass


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``gputopic`` command with ``argv`` (default ``sys.argv[1:]``); return the exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a usage error (argparse printed it)
        return exc.code if isinstance(exc.code, int) else EXIT_ERROR
    debug = bool(getattr(args, "debug", False))
    try:
        with _Session(args) as session:
            code = args.func(args, session)
            sys.stdout.flush()  # a broken pipe shows here, inside the boundary
            return code
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_BROKEN_PIPE
    except (GPUTopicError, OSError) as exc:
        if debug:
            traceback.print_exc(file=sys.stderr)
        if isinstance(exc, GPUTopicError):
            message = cli_words(_one_line(str(exc)) or type(exc).__name__)
        else:
            message = _os_error_message(exc)
        print(f"gputopic: error: {message}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("gputopic: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
