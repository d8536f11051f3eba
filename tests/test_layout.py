"""The package's layout rules (issue 17), checked on the source with ``ast``:

* no import cycle between gputopic's modules (imports inside functions count too);
* no module imports another module's private names (``from .x import _name``) or reaches
  into them (``x._name``); private submodules of a package (``native/_umap_sgd_cpu.py``) are
  that package's own business;
* only the modules that must run torch / CuPy / cuDF import them: ``device.py`` (the one
  place that knows the array library), ``native/`` (the torch / Triton kernels), and the
  embedding stage (``embed.py``, ``tokenizer.py``, ``onnx_int8.py``, ``packed.py``: sentence-transformers
  models are torch models), and ``bertopic_format.py`` (BERTopic's ``.bin`` files are torch
  archives, read with ``torch.load(weights_only=True)``);
* no module over 650 lines but the two native algorithm files.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "gputopic"
ARRAY_LIBRARIES = {"cupy", "cupyx", "torch", "cudf"}
MAY_IMPORT_ARRAY_LIBRARIES = {"gputopic.device", "gputopic.embed", "gputopic.tokenizer", "gputopic.onnx_int8",
                              "gputopic.packed", "gputopic.bertopic_format"}
LONG_ALLOWED = {"gputopic.native.hdbscan", "gputopic.native.umap"}
MAX_LINES = 650


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PKG.rglob("*.py")):
        parts = path.relative_to(PKG.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


MODULES = _modules()


def _resolve(module: str, is_package: bool, level: int, target: str | None) -> str:
    base = module.split(".")
    if not is_package:
        base = base[:-1]
    if level > 1:
        base = base[: len(base) - (level - 1)]
    return ".".join(base + ([target] if target else []))


def _imports(name: str, path: Path):
    """``(imported module, [names], line)`` for every import statement of a module."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    is_package = path.name == "__init__.py"
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            mod = _resolve(name, is_package, node.level, node.module) if node.level else (node.module or "")
            yield mod, [a.name for a in node.names], node.lineno
        elif isinstance(node, ast.Import):
            for a in node.names:
                yield a.name, [], node.lineno


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for name, path in MODULES.items():
        for mod, names, _ in _imports(name, path):
            if mod in MODULES and mod != name:
                graph[name].add(mod)
            for n in names:  # `from . import plotting` imports the submodule
                sub = f"{mod}.{n}"
                if sub in MODULES and sub != name:
                    graph[name].add(sub)
    # a package's __init__ runs on importing any of its submodules: that edge is not a cycle
    return graph


def test_no_import_cycles():
    graph = _graph()
    cycles = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for nxt in sorted(graph[m]):
            if nxt == "gputopic" or (m.startswith(nxt + ".") and nxt in MODULES):
                continue  # a package's own __init__
            if state.get(nxt) == 1:
                cycles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_no_private_names_across_modules():
    bad = []
    for name, path in MODULES.items():
        aliases = {}
        for mod, names, line in _imports(name, path):
            if not mod.startswith("gputopic") or mod == name:
                continue
            for n in names:
                if n.startswith("_") and not n.startswith("__") and f"{mod}.{n}" not in MODULES:
                    bad.append(f"{path.name}:{line} imports {n} from {mod}")
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level:
                base = _resolve(name, path.name == "__init__.py", node.level, node.module)
                for a in node.names:
                    if f"{base}.{a.name}" in MODULES:
                        aliases[a.asname or a.name] = f"{base}.{a.name}"
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases
                    and node.attr.startswith("_") and not node.attr.startswith("__")):
                bad.append(f"{path.name}:{node.lineno} uses {node.value.id}.{node.attr}")
    assert not bad, "\n".join(bad)


def _array_library_uses(name: str, path: Path) -> list[str]:
    found = [f"{path.name}:{line} imports {mod}" for mod, _, line in _imports(name, path)
             if mod.split(".")[0] in ARRAY_LIBRARIES]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        # device.optional_import("torch") / try_import("cupy") are imports too
        if (isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", "")) in
                ("optional_import", "try_import", "import_module") and node.args
                and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)
                and node.args[0].value.split(".")[0] in ARRAY_LIBRARIES):
            found.append(f"{path.name}:{node.lineno} imports {node.args[0].value}")
    return found


def test_array_libraries_only_where_they_must_be():
    bad = [use for name, path in MODULES.items()
           if name not in MAY_IMPORT_ARRAY_LIBRARIES and not name.startswith("gputopic.native")
           for use in _array_library_uses(name, path)]
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("name", sorted(MODULES))
def test_modules_stay_small_and_say_what_they_own(name):
    path = MODULES[name]
    source = path.read_text(encoding="utf-8")
    if name not in LONG_ALLOWED:
        assert source.count("\n") <= MAX_LINES, f"{path} has {source.count(chr(10))} lines (at most {MAX_LINES})"
    assert ast.get_docstring(ast.parse(source)), f"{path} has no module docstring saying what it owns"


def test_the_checks_see_a_cycle_and_a_private_import(tmp_path, monkeypatch):
    """The walkers above find what they look for (so a green run means something)."""
    pkg = tmp_path / "gputopic"
    pkg.mkdir()
    (pkg / "__init__.py").write_text('"""pkg"""\n')
    (pkg / "a.py").write_text('"""a"""\nfrom .b import _hidden\n')
    (pkg / "b.py").write_text('"""b"""\ndef f():\n    from . import a\n_hidden = 1\n')
    monkeypatch.setattr(__import__(__name__), "PKG", pkg, raising=False)
    mods = {n: p for n, p in ((f"gputopic.{p.stem}" if p.stem != "__init__" else "gputopic", p)
                              for p in pkg.glob("*.py"))}
    monkeypatch.setattr(__import__(__name__), "MODULES", mods, raising=False)
    with pytest.raises(AssertionError, match="import cycles: gputopic.a -> gputopic.b -> gputopic.a"):
        test_no_import_cycles()
    with pytest.raises(AssertionError, match="imports _hidden from gputopic.b"):
        test_no_private_names_across_modules()
