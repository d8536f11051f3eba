"""The documentation: the mkdocs site builds offline and strict (every page in the nav, no
broken link, the API reference generated from the docstrings), and the README stays short
and points at what exists."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_the_site_builds_offline_and_strict(tmp_path):
    pytest.importorskip("mkdocs", reason="the dev extra installs mkdocs")
    pytest.importorskip("mkdocstrings", reason="the dev extra installs mkdocstrings[python]")
    # a copy, so the build writes nothing into the checkout
    for name in ("mkdocs.yml", "docs", "gputopic"):
        src = ROOT / name
        (shutil.copytree if src.is_dir() else shutil.copy)(src, tmp_path / name)
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", "site"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=600,
                          env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "NO_PROXY": "*",
                               "HTTP_PROXY": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9"})
    assert proc.returncode == 0, proc.stderr[-4000:]
    api = (tmp_path / "site" / "api" / "index.html").read_text()
    # the reference holds the estimator's methods and their docstrings, not just headings
    for name in ("fit_transform", "get_topic_info", "reduce_topics", "load_demo", "npmi_coherence", "InputError"):
        assert name in api, name
    pages = [p.relative_to(tmp_path / "docs") for p in (tmp_path / "docs").rglob("*.md")]
    nav = (tmp_path / "mkdocs.yml").read_text()
    assert all(str(p) in nav for p in pages), "a page is missing from mkdocs.yml's nav"


def test_the_readme_is_short_and_its_links_exist():
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= 200
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
        if not target.startswith(("http://", "https://")):
            assert (ROOT / target).exists(), target
    # the demo block is pasted by `make readme` (bench/readme_demo.py), not typed
    assert text.count("<!-- demo:start -->") == 1 and text.count("<!-- demo:end -->") == 1
    assert "Pasted by `make readme`" in text and "NMI vs newsgroups:" in text
