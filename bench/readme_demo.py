"""Run ``gputopic demo`` and paste what it prints into README.md, so the README's demo figures
are the demo's own output, never typed.

    make readme                      # or: python bench/readme_demo.py [--check]

The block between ``<!-- demo:start -->`` and ``<!-- demo:end -->`` in README.md is replaced
by the demo's standard output (the topic table and the NMI line) and a line naming the commit,
the CPU and the thread count it ran with (the CPU UMAP repeats exactly for a seed and thread
count, so another machine may print other topics). The run, with its provenance, also goes to
``bench/results/readme_demo.json``. ``--check`` runs the demo and exits 1 when the README's
block differs from what it printed (the timing is left out of the comparison).
``--from-json`` pastes the stored output again (after a change to this script's layout).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from corpus import emit, provenance  # noqa: E402

START, END = "<!-- demo:start -->", "<!-- demo:end -->"
JSON = HERE / "results" / "readme_demo.json"
# the wall-clock part of the demo's last line, which differs from run to run
_TIME = re.compile(r"\s+time: [0-9.]+ s")


def run_demo() -> str:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, "-m", "gputopic", "demo"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=3600)
    if proc.returncode != 0:
        sys.exit(f"gputopic demo failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return proc.stdout.rstrip("\n")


def block(output: str, prov: dict, load: float | None) -> str:
    threads = prov["threads"].get("affinity") or prov["threads"].get("cpu_count")
    commit = (prov["commit"] or "unknown")[:10] + (" + uncommitted changes" if prov["dirty"] else "")
    busy = (f"; other jobs kept the load average at {load:.0f}, so the time says nothing about speed"
            if load is not None and threads and load > threads else "")
    return (f"{START}\n```text\n$ make demo\n{output}\n```\n"
            f"<sub>Pasted by `make readme` ({prov['utc'][:10]}, commit {commit}, {prov['cpu']}, "
            f"{threads} threads{busy}; `bench/results/readme_demo.json`).</sub>\n{END}")


def current_block(readme: str) -> str:
    if START not in readme or END not in readme:
        sys.exit(f"README.md has no {START} ... {END} block")
    return readme[readme.index(START):readme.index(END) + len(END)]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true", help="compare only; exit 1 on a difference")
    ap.add_argument("--from-json", action="store_true",
                    help="paste the output stored in bench/results/readme_demo.json again, without a run")
    args = ap.parse_args()
    readme_path = ROOT / "README.md"
    if args.from_json:
        stored = json.loads(JSON.read_text())
        readme = readme_path.read_text()
        readme_path.write_text(readme.replace(current_block(readme), block(
            "\n".join(stored["stdout"]), stored["provenance"], stored.get("load_average_at_start"))))
        return 0
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    t = time.perf_counter()
    output = run_demo()
    seconds = time.perf_counter() - t
    readme = readme_path.read_text()
    old = current_block(readme)
    if args.check:
        same = _TIME.sub("", output) in _TIME.sub("", old)
        print("README demo block matches the demo" if same else
              f"README demo block differs from the demo's output:\n{output}")
        return 0 if same else 1
    prov = provenance()
    readme_path.write_text(readme.replace(old, block(output, prov, load)))
    emit({"command": "gputopic demo", "wall_s": round(seconds, 1), "stdout": output.splitlines(),
          "load_average_at_start": load, "provenance": prov}, JSON)
    print(f"README.md: demo block rewritten ({len(output.splitlines())} lines)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
