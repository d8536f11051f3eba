"""Saving over a model is atomic: interrupted at any step, the folder holds the old model
or the new one, loadable, and a failed save leaves no temporary file.

Two ways in: a failure injected into the k-th file-system call of a save (for every k),
and a saving subprocess killed with SIGKILL at chosen calls (no cleanup code can run then;
the next save removes what it left).
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sklearn.cluster import KMeans

from gputopic import GPUTopic
from gputopic.exceptions import ModelFileError, ModelSaveError

from helpers import TOY_DOCS, HashingEncoder, fast_model

TEMP = re.compile(r"\.gputopic-save-[0-9a-f]{16}\.tmp|gputopic\.(json|safetensors)\.tmp")
OPS = ("open", "write", "fsync", "replace", "unlink", "listdir", "mkdir")
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """An old model, a new one with other tensors (4 topics) and one with the old tensors
    but another JSON (custom labels): each saved once as a template folder."""
    base = tmp_path_factory.mktemp("templates")
    old = fast_model().fit(TOY_DOCS)
    new = fast_model(hdbscan_model=KMeans(n_clusters=4, n_init=3, random_state=0)).fit(TOY_DOCS)
    relabelled = fast_model().fit(TOY_DOCS)
    relabelled.set_topic_labels(["cats", "markets", "football"])
    for name, m in (("old", old), ("new", new), ("relabelled", relabelled)):
        m.save(base / name)
    return {"old": old, "new": new, "relabelled": relabelled}, base


def signature(model):
    return model.get_topics(), model.custom_labels_


def files(folder):
    return sorted(p.name for p in folder.iterdir())


def tensor_name(folder):
    return json.loads((folder / "gputopic.json").read_text())["tensors"]["file"]


def fresh_copy(base, name, dst):
    shutil.copytree(base / name, dst)
    return dst


class Inject:
    """Make the k-th call (from 1) to any of ``OPS`` in ``os`` made by gputopic.persist (or by
    pathlib for it: ``Path.mkdir``) raise an OSError; other callers (importlib.metadata's
    directory scans) are left alone."""

    def __init__(self, monkeypatch, k):
        self.k, self.calls, self.hit = k, 0, None
        for op in OPS:
            monkeypatch.setattr(os, op, self._wrap(op, getattr(os, op)))

    def _wrap(self, op, real):
        def call(*args, **kwargs):
            if sys._getframe(1).f_globals.get("__name__") not in ("gputopic.persist", "pathlib"):
                return real(*args, **kwargs)
            self.calls += 1
            if self.calls == self.k:
                self.hit = op
                raise OSError(5, f"injected failure in os.{op}")
            return real(*args, **kwargs)
        return call


@pytest.mark.parametrize("new_name,dir_fd", [("new", True), ("relabelled", True), ("new", False)],
                         ids=["new tensors", "same tensors", "new tensors, paths (no dir_fd)"])
def test_a_failure_at_any_step_leaves_the_old_or_the_new_model(models, tmp_path, caplog, monkeypatch, new_name,
                                                               dir_fd):
    """``dir_fd=False``: the plain-path code used where the OS lacks ``openat`` (Windows)."""
    from gputopic import persist

    monkeypatch.setattr(persist, "_DIR_FD", persist._DIR_FD and dir_fd)
    fitted, base = models
    new = GPUTopic.load(base / new_name)  # the same state as fitted[new_name], as save sees it
    old_sig, new_sig = signature(fitted["old"]), signature(fitted[new_name])
    assert old_sig != new_sig
    old_tensor, new_tensor = tensor_name(base / "old"), tensor_name(base / new_name)
    assert (old_tensor == new_tensor) == (new_name == "relabelled")
    outcomes = []
    for k in range(1, 100):
        folder = fresh_copy(base, "old", tmp_path / f"k{k}")
        caplog.clear()
        with pytest.MonkeyPatch.context() as mp:
            inject = Inject(mp, k)
            try:
                new.save(folder)
                raised = None
            except ModelSaveError as exc:  # a ModelFileError and an OSError
                raised = exc
        assert not [f for f in files(folder) if TEMP.fullmatch(f)], (k, inject.hit, files(folder))
        loaded = signature(GPUTopic.load(folder))
        if inject.hit is None:  # no call left to fail: the save went through
            assert raised is None and loaded == new_sig and files(folder) == sorted(["gputopic.json", new_tensor])
            break
        outcomes.append((inject.hit, raised is None))
        if raised is not None:  # failed before its commit: the old model, untouched
            assert "injected failure" in str(raised) and "Could not save the model to" in str(raised)
            assert loaded == old_sig and files(folder) == sorted(["gputopic.json", old_tensor]), (k, inject.hit)
        else:  # failed after the commit (removing the old tensors): the new model, the old file left and said so
            assert loaded == new_sig, (k, inject.hit)
            left = set(files(folder)) - {"gputopic.json", new_tensor}
            assert left <= {old_tensor} and bool(left) == ("could not remove the old file" in caplog.text)
            new.save(folder)  # the next save removes it
            assert files(folder) == sorted(["gputopic.json", new_tensor])
    else:
        pytest.fail("the save never completed")
    # every kind of step was interrupted at least once, before and after the commit (syncing the folder;
    # with new tensors also removing the old tensor file)
    assert {"open", "write", "fsync", "replace", "listdir", "mkdir"} <= {op for op, _ in outcomes}
    assert (("fsync", True) in outcomes) == dir_fd and (("unlink", True) in outcomes) == (new_name == "new")


KILL_SCRIPT = """
import os, signal, sys
from gputopic import GPUTopic
src, dst, op, k = sys.argv[1:]
model = GPUTopic.load(src)
real, calls = getattr(os, op), [0]
def killer(*args, **kwargs):
    calls[0] += 1
    if calls[0] == int(k):
        os.kill(os.getpid(), signal.SIGKILL)
    return real(*args, **kwargs)
setattr(os, op, killer)
model.save(dst)
print("saved")
"""

# (os call, its k-th call, whether the commit happened before the kill)
KILL_POINTS = [
    ("write", 1, False),  # writing the new tensors' temporary file
    ("replace", 1, False),  # tensors written, before their rename
    ("replace", 2, False),  # new tensors and JSON temporary file in place, before the commit
    ("unlink", 1, True),  # committed, before the old tensor file is removed
]


@pytest.mark.parametrize("op,k,committed", KILL_POINTS, ids=[f"{op}{k}" for op, k, _ in KILL_POINTS])
def test_a_killed_save_leaves_a_loadable_model(models, tmp_path, op, k, committed):
    fitted, base = models
    folder = fresh_copy(base, "old", tmp_path / "m")
    run = subprocess.run([sys.executable, "-c", KILL_SCRIPT, str(base / "new"), str(folder), op, str(k)],
                         cwd=ROOT, capture_output=True, text=True, timeout=120,
                         env=dict(os.environ, HF_HUB_OFFLINE="1"))
    assert run.returncode == -signal.SIGKILL, run.stderr[-2000:]
    loaded = GPUTopic.load(folder)
    assert signature(loaded) == signature(fitted["new" if committed else "old"])
    # SIGKILL runs no cleanup: only the save's own files may be left, and the next save removes them
    known = {"gputopic.json", tensor_name(base / "old"), tensor_name(base / "new")}
    assert all(f in known or TEMP.fullmatch(f) for f in files(folder)), files(folder)
    GPUTopic.load(base / "new").save(folder)
    assert files(folder) == sorted(["gputopic.json", tensor_name(base / "new")])
    assert signature(GPUTopic.load(folder)) == signature(fitted["new"])


# ------------------------------------------------------------------- save safety


def test_planted_links_cannot_redirect_a_save(models, tmp_path):
    """Links at the old fixed temporary names and at gputopic.json itself are replaced or
    removed, never written through."""
    fitted, base = models
    folder = fresh_copy(base, "old", tmp_path / "m")
    victims = {name: tmp_path / f"victim-{name}" for name in ("gputopic.json.tmp", "gputopic.safetensors.tmp")}
    for name, victim in victims.items():
        victim.write_text("precious")
        os.symlink(victim, folder / name)
    outside = tmp_path / "outside.json"
    shutil.copy(folder / "gputopic.json", outside)
    before = outside.read_bytes()
    (folder / "gputopic.json").unlink()
    os.symlink(outside, folder / "gputopic.json")
    fitted["new"].save(folder)
    assert all(v.read_text() == "precious" for v in victims.values())
    assert outside.read_bytes() == before
    assert not (folder / "gputopic.json").is_symlink()
    assert files(folder) == sorted(["gputopic.json", tensor_name(base / "new")])
    assert signature(GPUTopic.load(folder)) == signature(fitted["new"])


def test_save_errors_are_model_file_errors(models, tmp_path):
    fitted, _ = models
    (tmp_path / "file").write_text("x")
    with pytest.raises(ModelFileError, match="exists and is not a folder"):
        fitted["old"].save(tmp_path / "file")
    with pytest.raises(ModelSaveError, match=r"Could not save the model to .*file/sub: Not a directory"):
        fitted["old"].save(tmp_path / "file" / "sub")
    assert issubclass(ModelSaveError, ModelFileError) and issubclass(ModelSaveError, OSError)
    if os.geteuid() != 0:  # root writes anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        with pytest.raises(ModelSaveError, match="Permission denied"):
            fitted["old"].save(locked / "m")


def test_concurrent_saves_into_one_folder_leave_one_model(models, tmp_path):
    fitted, base = models
    folder = tmp_path / "m"
    errors = []

    def save(model):
        try:
            for _ in range(5):
                model.save(folder)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=save, args=(fitted[n],)) for n in ("old", "new")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors and len(files(folder)) == 2
    assert signature(GPUTopic.load(folder)) in (signature(fitted["old"]), signature(fitted["new"]))


def test_a_reader_during_saves_always_gets_a_whole_model(models, tmp_path):
    """Loads racing with saves see the old or the new model (a load whose tensors were just
    replaced reads the new JSON once more), never a mix and never an error."""
    fitted, base = models
    folder = fresh_copy(base, "old", tmp_path / "m")
    sigs = (signature(fitted["old"]), signature(fitted["new"]))
    stop, seen, errors = threading.Event(), set(), []

    def writer():
        while not stop.is_set():
            for n in ("new", "old"):
                fitted[n].save(folder)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        deadline, loads = time.monotonic() + 20, 0
        while (loads < 40 or len(seen) < 2) and time.monotonic() < deadline:
            loads += 1
            try:
                sig = signature(GPUTopic.load(folder))
                assert sig in sigs
                seen.add(sigs.index(sig))
            except ModelFileError as exc:
                errors.append(exc)
    finally:
        stop.set()
        thread.join(60)
    # a load can still lose the race twice in a row (its tensors replaced between both reads): then it says
    # the tensor file is missing, never anything else
    assert all("is missing" in str(e) for e in errors), errors
    assert seen == {0, 1} and len(errors) <= loads // 4, (seen, loads, errors)
