"""No function of the library takes more than 12 parameters (issue 17).

A stage's settings travel as one parameter object (``krotos.model.params``,
``krotos.audio.extract.ExtractParams``, ...), not as a long list of keyword
arguments passed through every layer. ``self``/``cls`` do not count;
``*args`` and ``**kwargs`` count as one each.
"""

import ast

from conftest import REPO

MAX_PARAMETERS = 12


def _count(args):
    names = [a.arg for a in args.posonlyargs + args.args]
    if names and names[0] in ("self", "cls"):
        names = names[1:]
    return (len(names) + len(args.kwonlyargs) + (args.vararg is not None)
            + (args.kwarg is not None))


def _long_signatures(root):
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                n = _count(node.args)
                if n > MAX_PARAMETERS:
                    name = getattr(node, "name", "<lambda>")
                    yield f"{path.relative_to(REPO)}:{node.lineno} {name}: {n} parameters"


def test_the_counter_counts_what_a_caller_passes():
    tree = ast.parse("class A:\n def f(self, a, /, b, *c, d, **e): pass\n"
                     "def g(cls, a): pass\n")
    functions = {n.name: n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}
    assert _count(functions["f"].args) == 5 and _count(functions["g"].args) == 1


def test_no_library_function_takes_more_than_twelve_parameters():
    long = list(_long_signatures(REPO / "krotos"))
    assert not long, (f"functions of krotos/ with more than {MAX_PARAMETERS} parameters "
                      f"(pass a parameter object instead):\n" + "\n".join(long))
