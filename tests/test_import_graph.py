"""The layers hold (issue 17): ``pipeline`` -> ``krotos`` -> libraries, no circles.

The import graph of ``pipeline/`` and ``krotos/`` is read from the source with
``ast`` (nothing is imported), counting every import: at module level and
inside functions alike, since a deferred import is still a dependency. Two
rules:

* no cycle among the modules of ``pipeline/``, nor among those of ``krotos/``;
* only the command layer (``krotos/cli.py``, ``krotos/cli_common.py``,
  ``krotos/commands/``) imports ``pipeline``: the library, the service
  included, receives the model folder and settings as arguments.

And importing ``pipeline`` patches Luigi only under the ``luigi`` command,
which gives no other hook (see ``pipeline/__init__.py``).
"""

import ast
import os
import subprocess
import sys

import pytest

from conftest import REPO

PACKAGES = ("pipeline", "krotos")
COMMAND_LAYER = ("krotos.cli", "krotos.cli_common", "krotos.commands")


def _module_name(path):
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules():
    """``{module name: (path, is_package)}`` of every ``.py`` file in the packages."""
    found = {}
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            found[_module_name(path)] = (path, path.name == "__init__.py")
    return found


def _resolve(module, is_package, node):
    """The absolute module name a ``from ... import`` statement starts from."""
    if not node.level:
        return node.module
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[:len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _imports(module, path, is_package, known):
    """Modules of ``known`` that ``module`` imports, anywhere in its source."""
    targets = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(module, is_package, node)
            for alias in node.names:
                # ``from a import b``: the submodule a.b if there is one, else a.
                sub = f"{base}.{alias.name}"
                targets.add(sub if sub in known else base)
    # ``import a.b.c`` names a.b.c; keep the longest known prefix of each name.
    edges = set()
    for name in targets:
        parts = name.split(".")
        for n in range(len(parts), 0, -1):
            candidate = ".".join(parts[:n])
            if candidate in known:
                edges.add(candidate)
                break
    edges.discard(module)
    return edges


def import_graph():
    """``{module: set of modules it imports}`` over ``pipeline/`` and ``krotos/``."""
    modules = _modules()
    return {name: _imports(name, path, is_package, modules)
            for name, (path, is_package) in modules.items()}


def _cycles(graph):
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def _package(module):
    return module.split(".")[0]


def _in_command_layer(module):
    return any(module == layer or module.startswith(layer + ".") for layer in COMMAND_LAYER)


def test_the_graph_sees_every_module_and_deferred_imports():
    graph = import_graph()
    assert {"pipeline", "pipeline.base", "krotos", "krotos.cli", "krotos.locate"} <= set(graph)
    # krotos.cli_common imports krotos.locate inside a function only.
    assert "krotos.locate" in graph["krotos.cli_common"]


@pytest.mark.parametrize("package", PACKAGES)
def test_no_import_cycle(package):
    graph = import_graph()
    inside = {m: {t for t in targets if _package(t) == package}
              for m, targets in graph.items() if _package(m) == package}
    cycles = _cycles(inside)
    assert not cycles, f"import cycles among {package}/ modules:\n" + "\n".join(
        " <-> ".join(c) for c in cycles)


def test_only_the_command_layer_imports_pipeline():
    upward = sorted(f"{module} imports {', '.join(sorted(t for t in targets if _package(t) == 'pipeline'))}"
                    for module, targets in import_graph().items()
                    if _package(module) == "krotos" and not _in_command_layer(module)
                    and any(_package(t) == "pipeline" for t in targets))
    assert not upward, ("the library imports the pipeline layer (pass the model folder or "
                        "settings in from krotos/commands instead):\n" + "\n".join(upward))


_PATCHED = ("import luigi.interface as i; "
            "print(getattr(i._WorkerSchedulerFactory.create_remote_scheduler, '_krotos_checked', False))")


@pytest.mark.parametrize("first, patched", [("", "False"), ("import luigi.cmdline; ", "True")])
def test_importing_pipeline_patches_luigi_only_under_the_luigi_command(first, patched):
    env = dict(os.environ, PYTHONPATH=str(REPO))
    done = subprocess.run([sys.executable, "-c", f"{first}import pipeline; {_PATCHED}"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == patched
