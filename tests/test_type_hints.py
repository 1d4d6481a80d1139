"""Public functions of krotos carry type hints (issue 17, developer habits).

Read from the source with ``ast`` (nothing is imported): every module-level
function and every public method of a public class whose name does not start
with ``_`` annotates each parameter (``self``/``cls`` aside) and its return.
The modules are listed one by one: a module joins the list once its public
functions are annotated, until the list covers all of ``krotos/``.
"""

import ast

import pytest

from conftest import REPO

#: Modules whose public functions must be annotated, relative to the repository.
MODULES = [
    "krotos/audio/decode.py",
    "krotos/audio/extract.py",
    "krotos/audio/features.py",
    "krotos/audio/resample.py",
    "krotos/cf/als.py",
    "krotos/cf/confidence.py",
    "krotos/cf/evaluate.py",
    "krotos/cf/metrics.py",
    "krotos/cf/params.py",
    "krotos/cf/playmatrix.py",
    "krotos/cf/tune.py",
    "krotos/cli.py",
    "krotos/cli_common.py",
    "krotos/coldstart/__init__.py",
    "krotos/coldstart/baseline.py",
    "krotos/coldstart/evaluate.py",
    "krotos/coldstart/params.py",
    "krotos/coldstart/stage.py",
    "krotos/coldstart/vectors.py",
    "krotos/commands/__init__.py",
    "krotos/commands/compare_tags.py",
    "krotos/commands/embed.py",
    "krotos/commands/gc.py",
    "krotos/commands/predict.py",
    "krotos/commands/recommend.py",
    "krotos/commands/results.py",
    "krotos/commands/serve.py",
    "krotos/commands/similar.py",
    "krotos/commands/worker.py",
    "krotos/config.py",
    "krotos/demo/__init__.py",
    "krotos/demo/arrange.py",
    "krotos/demo/catalogue.py",
    "krotos/demo/ceiling.py",
    "krotos/demo/checks.py",
    "krotos/demo/instruments.py",
    "krotos/demo/msd_h5.py",
    "krotos/demo/styles.py",
    "krotos/demo/synth.py",
    "krotos/demo/writer.py",
    "krotos/features/__init__.py",
    "krotos/features/echonest.py",
    "krotos/features/echonest_shard.py",
    "krotos/gc.py",
    "krotos/inference.py",
    "krotos/locate.py",
    "krotos/model/augment.py",
    "krotos/model/compare.py",
    "krotos/model/data.py",
    "krotos/model/embed.py",
    "krotos/model/evaluate.py",
    "krotos/model/finetune.py",
    "krotos/model/network.py",
    "krotos/model/params.py",
    "krotos/model/scores.py",
    "krotos/model/tag_baseline.py",
    "krotos/model/train.py",
    "krotos/msd/__init__.py",
    "krotos/msd/compression.py",
    "krotos/msd/errors.py",
    "krotos/msd/hdf5.py",
    "krotos/msd/lastfm.py",
    "krotos/msd/mismatches.py",
    "krotos/msd/sqlite_input.py",
    "krotos/msd/text_lines.py",
    "krotos/msd/track_metadata.py",
    "krotos/msd/triplets.py",
    "krotos/msd/unique_tracks.py",
    "krotos/progress.py",
    "krotos/replicates.py",
    "krotos/report/__init__.py",
    "krotos/report/examples.py",
    "krotos/report/html.py",
    "krotos/report/plots.py",
    "krotos/report/stage.py",
    "krotos/report/summary.py",
    "krotos/scheduler.py",
    "krotos/service/__init__.py",
    "krotos/service/app.py",
    "krotos/service/config.py",
    "krotos/service/fetch.py",
    "krotos/service/jobs.py",
    "krotos/service/store.py",
    "krotos/service/worker.py",
    "krotos/shards/__init__.py",
    "krotos/shards/manifest.py",
    "krotos/shards/reader.py",
    "krotos/shards/sharding.py",
    "krotos/shards/status.py",
    "krotos/shards/writer.py",
    "krotos/signature.py",
    "krotos/sources/__init__.py",
    "krotos/sources/fetch.py",
    "krotos/sources/local.py",
    "krotos/sources/sevendigital.py",
    "krotos/sources/sniff.py",
    "krotos/sources/soundcloud.py",
    "krotos/splits.py",
    "krotos/staging.py",
    "krotos/stats/__init__.py",
    "krotos/stats/bootstrap.py",
    "krotos/tagdb/__init__.py",
    "krotos/tagdb/builder.py",
    "krotos/tagdb/canonical.py",
    "krotos/tagdb/params.py",
    "krotos/tagdb/reader.py",
    "krotos/tagdb/schema.py",
]


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
