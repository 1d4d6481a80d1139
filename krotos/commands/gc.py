"""``krotos gc``: list, and with ``--delete`` remove, outputs the current configuration does not reach."""

from __future__ import annotations

import argparse

from krotos.commands import CommandError

# The ends of the DAG; a default gc keeps everything any of them needs.
DEFAULT_TARGETS = ("Replicates", "Report", "EvaluateRecommendation", "EvaluateTags",
                   "EvaluateCF", "FinetuneLatents")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the command's arguments on ``subparsers``."""
    parser = subparsers.add_parser(
        "gc", help="remove outputs under data_root that the current luigi.cfg does not reach",
        description="List the folders under data_root whose signature no target task reaches "
                    "with the current luigi.cfg (run from the folder holding it, or set "
                    "LUIGI_CONFIG_PATH), and the space they take; --delete removes them. "
                    "Outputs of the current configuration, and folders still being written, "
                    "are never removed. Do not --delete while a run with ANOTHER configuration "
                    "uses the same data_root: its outputs are stale from here.")
    parser.add_argument("--task", action="append", metavar="TASK",
                        help="target task whose dependencies are kept (repeatable; default: "
                             + ", ".join(DEFAULT_TARGETS) + ", those that exist)")
    parser.add_argument("--data-root", metavar="DIR",
                        help="data root to clean (default: [krotos] data_root of luigi.cfg)")
    parser.add_argument("--delete", action="store_true", help="remove the folders listed")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the command with the parsed ``args``; the exit status."""
    import luigi.configuration

    from krotos import gc

    if args.data_root:
        luigi.configuration.get_config().set("krotos", "data_root", args.data_root)
    targets, data_root = _targets(args.task)
    reachable = gc.reachable_signatures(targets, data_root)
    if not reachable:
        raise CommandError("no output is reachable from " + ", ".join(t.task_id for t in targets)
                           + "; refusing to treat everything as stale")
    stale = gc.stale_entries(data_root, reachable)
    kept = [e for e in gc.scan(data_root) if e not in stale]
    for entry in stale:
        print(f"{_size(entry.size):>10}  {entry.kind:<6}  {entry.path}")
    total = sum(e.size for e in stale)
    print(f"{len(stale)} stale folder(s), {_size(total)}; kept {len(kept)} reachable or "
          f"in-use folder(s), {_size(sum(e.size for e in kept))}, under {data_root}")
    if args.delete:
        freed = gc.remove_entries(stale)
        print(f"freed {_size(freed)}")
    elif stale:
        print("nothing removed: run `krotos gc --delete` (with the same options) to free it")
    return 0


def _targets(names):
    """Instantiate the target tasks with the current configuration."""
    import importlib
    import pkgutil

    import luigi
    from luigi.task_register import Register, TaskClassNotFoundException

    import pipeline

    # Every stage module, so that every task family can be named.
    for info in pkgutil.iter_modules(pipeline.__path__):
        importlib.import_module(f"pipeline.{info.name}")
    Register.clear_instance_cache()
    explicit = bool(names)
    targets = []
    for name in names or DEFAULT_TARGETS:
        try:
            cls = Register.get_task_cls(name)
        except TaskClassNotFoundException:
            if explicit:
                raise CommandError(f"no task named {name!r}") from None
            continue
        try:
            targets.append(cls())
        except luigi.parameter.MissingParameterException as exc:
            raise CommandError(f"{name} needs parameters: {exc}") from None
    if not targets:
        raise CommandError("none of the default targets exists; name one with --task")
    from pipeline.config import krotos
    return targets, krotos().data_root


def _size(n):
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"
