"""What the ``gputopic`` command prints while it runs: a :class:`Session` owns the
``gputopic`` logger for the command (warnings as ``gputopic: warning: ...`` with the
library's parameter names replaced by the command's flags, :func:`cli_words`; stage timings
with ``--verbose``), and the progress bar that the library's stage records drive."""

from __future__ import annotations

import argparse
import logging
import re
import sys
import threading
import time
from typing import Sequence

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
STAGES = {"setup": "loading models", "embed": "embedding", "reduce": "reducing (UMAP)",
           "cluster": "clustering (HDBSCAN)", "count": "counting words", "ctfidf": "weighting words",
           "represent": "describing topics"}


def _stage_of(record: logging.LogRecord) -> str | None:
    args = record.args if isinstance(record.args, tuple) else ()
    if record.levelno == logging.INFO and args and isinstance(args[0], str) and args[0] in STAGES \
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
        self.bar = tqdm(total=len(self.stages), desc=STAGES[self.stages[0]], file=sys.stderr, leave=False,
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
            self.bar.set_description_str(STAGES[self.stages[i]], refresh=False)
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


class Session:
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

    def __enter__(self) -> "Session":
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
