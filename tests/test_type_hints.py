"""Public functions of krotos carry type hints (issue 17, developer habits).

Read from the source with ``ast`` (nothing is imported): every module-level
function and every public method of a public class whose name does not start
with ``_`` annotates each parameter (``self``/``cls`` aside) and its return.
Every ``.py`` file under ``krotos/`` is checked, found by walking the folder.
"""

import ast

import pytest

from conftest import REPO

#: Every module of the library, relative to the repository: a new module is
#: checked from the moment it exists.
MODULES = sorted(path.relative_to(REPO).as_posix() for path in (REPO / "krotos").rglob("*.py"))


def _public_functions(tree):
    """``(qualified name, node, is_method)`` of the public functions of a module.

    Module-level functions (also under a module-level ``if``/``try``) and the
    methods of public classes, nested classes included; functions defined
    inside functions are private to them and not counted.
    """
    def walk(body, prefix, in_class):
        for node in body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                if not node.name.startswith("_"):
                    yield f"{prefix}{node.name}", node, in_class
            elif isinstance(node, ast.ClassDef):
                if not node.name.startswith("_"):
                    yield from walk(node.body, f"{prefix}{node.name}.", True)
            elif isinstance(node, (ast.If, ast.Try)):
                for block in (node.body, node.orelse, getattr(node, "finalbody", []),
                              *[handler.body for handler in getattr(node, "handlers", [])]):
                    yield from walk(block, prefix, in_class)
    yield from walk(tree.body, "", False)


def _is_static(node):
    return any(isinstance(d, ast.Name) and d.id == "staticmethod" for d in node.decorator_list)


def missing_annotations(source, filename="<source>"):
    """``["name: what is missing", ...]`` for the public functions of ``source``."""
    problems = []
    for name, node, is_method in _public_functions(ast.parse(source, filename)):
        args = node.args
        positional = [*args.posonlyargs, *args.args]
        if is_method and not _is_static(node) and positional:
            positional = positional[1:]  # self or cls
        params = [*positional, *args.kwonlyargs]
        params += [a for a in (args.vararg, args.kwarg) if a is not None]
        unannotated = [a.arg for a in params if a.annotation is None]
        if unannotated:
            problems.append(f"{name}: parameter(s) {', '.join(unannotated)}")
        if node.returns is None:
            problems.append(f"{name}: return")
    return problems


@pytest.mark.parametrize("module", MODULES)
def test_public_functions_are_annotated(module):
    path = REPO / module
    problems = missing_annotations(path.read_text(), str(path))
    assert not problems, f"{module}: public functions without type hints:\n  " + "\n  ".join(problems)


def test_the_checker_sees_what_is_missing():
    source = '''
def f(a, b: int, *args, c: str = "", **kwargs) -> None: ...
def g(x: int): ...
def _private(y): ...
def h(x: int) -> int:
    def inner(z): ...
    return x
class Public:
    def method(self, x) -> None: ...
    @staticmethod
    def static(x: int): ...
    @classmethod
    def build(cls) -> "Public": ...
    def _helper(self, y): ...
    class Inner:
        def deep(self) -> None: ...
        def deeper(self, q: int): ...
class _Private:
    def method(self, x): ...
if True:
    def conditional(a): ...
'''
    assert missing_annotations(source) == [
        "f: parameter(s) a, args, kwargs",
        "g: return",
        "Public.method: parameter(s) x",
        "Public.static: return",
        "Public.Inner.deeper: return",
        "conditional: parameter(s) a",
        "conditional: return",
    ]


def test_the_walk_finds_the_library():
    # An empty walk (a moved folder) would parametrize nothing and pass silently.
    assert "krotos/__init__.py" in MODULES and "krotos/model/train.py" in MODULES
