"""Where the log lines of a ``verbose=True`` model's calls go: the "gputopic" logger, shown
on stderr while the call runs unless logging was configured."""

from __future__ import annotations

import logging
from contextlib import contextmanager

logger = logging.getLogger("gputopic")


@contextmanager
def logging_for(verbose: bool):
    """While a call of a ``verbose=True`` model runs, its stage log lines reach the user:
    the "gputopic" logger logs at INFO, through a stderr handler of its own unless logging
    was configured (a handler on it or on the root logger)."""
    if not verbose:
        yield
        return
    handler = None
    if not logger.hasHandlers():
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s - gputopic - %(message)s"))
        logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.setLevel(level)
        if handler is not None:
            logger.removeHandler(handler)
