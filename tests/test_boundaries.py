"""The project's package boundaries, read from the source: the engine imports none of the layers
around it, and no first-party modules import each other in a cycle."""

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("hogwild_core", "analysis", "demo", "evaluation", "benchmarks", "experiments")
TOP_MODULES = ("model_catalog", "machine", "app")


def first_party_modules() -> dict[str, Path]:
    modules = {name: ROOT / f"{name}.py" for name in TOP_MODULES}
    for package in PACKAGES:
        for path in sorted((ROOT / package).glob("*.py")):
            modules[package if path.stem == "__init__" else f"{package}.{path.stem}"] = path
    return modules


def module_level_imports(name: str, path: Path, known: set[str]) -> set[str]:
    """First-party modules `name` imports when it is imported (not inside functions)."""
    package = name if path.stem == "__init__" else name.rpartition(".")[0]
    found = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.dump(node.test):
            continue
        targets = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            # `from pkg import sub` imports the submodule; `from pkg import name` runs pkg itself
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base
                       for alias in node.names]
        found |= {t for t in targets if t in known and t != name}
    return found


def test_first_party_modules_import_each_other_without_a_cycle():
    modules = first_party_modules()
    graph = {name: module_level_imports(name, path, set(modules)) for name, path in modules.items()}
    state: dict[str, str] = {}

    def visit(node: str, trail: list[str]):
        state[node] = "open"
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                raise AssertionError("import cycle: " + " -> ".join(trail[trail.index(nxt):] + [node, nxt]))
            if nxt not in state:
                visit(nxt, trail + [node])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [])


def test_the_engine_imports_none_of_the_layers_around_it():
    code = ("import sys; import hogwild_core.engine, hogwild_core.loading, hogwild_core.runner; "
            "print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))")
    loaded = set(subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                                check=True).stdout.split())
    assert "hogwild_core" in loaded and "torch" in loaded
    assert loaded.isdisjoint({"gradio", "plotly", "pandas", "analysis", "demo", "evaluation", "benchmarks",
                              "experiments", "machine"}), loaded


def test_the_text_analysis_and_the_catalog_need_no_torch():
    code = ("import sys; import analysis.answers, analysis.metrics, model_catalog, machine; "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
