"""The release artefacts: ``python -m build`` gives a wheel and an sdist that install into a
clean virtual environment and run there; the version is the same everywhere.

The build runs without network (``--no-isolation``: the backend, setuptools, comes from the
test's environment, the ``dev`` extra). Each artefact goes into a new venv that sees the
test's environment behind its own packages and is installed with ``--no-deps --no-index``,
so the dependencies come from the test's environment (already installed, no download)
while gputopic itself is the artefact's copy, which the test checks (from a folder outside
the checkout). The wheel's venv runs the full ``gputopic demo`` (about a minute on 2 idle
cores, most of it embedding); the sdist's venv builds the sdist into a wheel and imports
the bundled corpus from it.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

import gputopic

ROOT = Path(__file__).resolve().parents[1]
VERSION = re.search(r'^version = "([^"]+)"', (ROOT / "pyproject.toml").read_text(), re.M).group(1)


def test_the_version_is_the_same_everywhere():
    assert gputopic.__version__ == VERSION
    changelog = (ROOT / "CHANGELOG.md").read_text()
    assert re.search(rf"^## \[{re.escape(VERSION)}\]", changelog, re.M), "CHANGELOG.md has no section for " + VERSION
    assert "MIT License" in (ROOT / "LICENSE").read_text()


@pytest.fixture(scope="module")
def dist(tmp_path_factory):
    pytest.importorskip("build", reason="the dev extra installs build")
    out = tmp_path_factory.mktemp("dist")
    proc = subprocess.run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(ROOT)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    wheel = out / f"gputopic-{VERSION}-py3-none-any.whl"
    sdist = out / f"gputopic-{VERSION}.tar.gz"
    assert wheel.exists() and sdist.exists(), sorted(p.name for p in out.iterdir())
    return wheel, sdist


def _venv(path: Path) -> Path:
    """A new venv without pip (nor the old setuptools that comes with it) that sees this
    environment's packages after its own: a ``.pth`` file lists this environment's
    site-packages. (``--system-site-packages`` would show the base interpreter's instead.)
    Paths listed in a ``.pth`` file are not scanned for ``.pth`` files, so an editable
    gputopic of this environment stays invisible there."""
    import site
    import sysconfig

    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True, timeout=300)
    python = path / "bin" / "python"
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                             capture_output=True, text=True, check=True).stdout.strip()
    ours = dict.fromkeys([*site.getsitepackages(), sysconfig.get_path("purelib"), sysconfig.get_path("platlib")])
    Path(purelib, "_outer_site.pth").write_text("\n".join(ours) + "\n")
    return python


def _install(python: Path, artefact: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps",
                           "--no-index", "--no-build-isolation", str(artefact)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]


def _run(python: Path, code: str, cwd: Path) -> str:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run([str(python), "-c", code], cwd=cwd, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def test_the_artefacts_hold_the_package_its_data_and_licence(dist):
    wheel, sdist = dist
    names = zipfile.ZipFile(wheel).namelist()
    assert "gputopic/data/demo_20newsgroups.jsonl.gz" in names and "gputopic/datasets.py" in names
    assert "gputopic/native/umap.py" in names
    assert any(n.endswith(".dist-info/licenses/LICENSE") or n.endswith(".dist-info/LICENSE") for n in names)
    assert not any(n.startswith(("tests/", "bench/", "docs/")) for n in names)
    with tarfile.open(sdist) as tar:
        members = {m.name.split("/", 1)[1] for m in tar.getmembers() if "/" in m.name}
    assert {"LICENSE", "README.md", "pyproject.toml", "gputopic/data/demo_20newsgroups.jsonl.gz"} <= members


@pytest.mark.slow
def test_the_wheel_installs_into_a_clean_venv_and_runs_the_demo(dist, tmp_path):
    python = _venv(tmp_path / "venv")
    _install(python, dist[0])
    where = _run(python, "import gputopic; print(gputopic.__file__, gputopic.__version__)", tmp_path)
    assert where.startswith(str(tmp_path / "venv")) and where.split()[1] == VERSION, where
    env = {**{k: v for k, v in os.environ.items() if k != "PYTHONPATH"}, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run([str(tmp_path / "venv" / "bin" / "gputopic"), "demo", "--device", "cpu"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=900, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    nmi = re.search(r"NMI vs newsgroups: ([0-9.]+)\s+topics: (\d+)", proc.stdout)
    assert nmi, proc.stdout[-2000:]
    # the demo's NMI across UMAP seeds 0-9 and thread counts sits well above this bar
    # (0.1 would mean the topics have nothing to do with the newsgroups)
    assert float(nmi.group(1)) > 0.3 and int(nmi.group(2)) >= 2


def test_the_sdist_builds_and_installs_into_a_clean_venv(dist, tmp_path):
    python = _venv(tmp_path / "venv")
    _install(python, dist[1])
    out = _run(python, "import gputopic; from gputopic.datasets import load_demo; d = load_demo(); "
                       "print(gputopic.__file__, gputopic.__version__, len(d.docs), len(set(d.labels)))", tmp_path)
    path, version, n_docs, n_labels = out.split()
    assert path.startswith(str(tmp_path / "venv")) and version == VERSION and (n_docs, n_labels) == ("2000", "20")
