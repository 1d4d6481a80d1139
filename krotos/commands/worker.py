"""``krotos worker``: the rq worker of the web service, model loaded once."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from krotos.commands import CommandError

if TYPE_CHECKING:
    from krotos.service.config import ServiceConfig


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the command's arguments on ``subparsers``."""
    p = subparsers.add_parser(
        "worker", help="run a worker of the web service (rq, Redis)",
        description="Load the models once, then take embedding and compatibility jobs from "
                    "the Redis queue until stopped (Ctrl-C / SIGTERM finishes the current "
                    "job first). Settings: [service] in luigi.cfg, KROTOS_* variables, flags.")
    add_service_arguments(p)
    p.add_argument("--burst", action="store_true", help="stop when the queue is empty")
    p.add_argument("--name", help="worker name (default: rq's)")
    p.add_argument("--threads", type=int, default=0, metavar="N",
                   help="TensorFlow threads (default 0: all cores)")
    p.add_argument("--log-level", default="INFO", help="rq's logging level (INFO)")
    p.set_defaults(func=run)


def add_service_arguments(p: argparse.ArgumentParser) -> None:
    """Flags shared by ``serve`` and ``worker`` (each overrides [service] in luigi.cfg)."""
    p.add_argument("--redis-url", help="Redis URL (redis://127.0.0.1:6379/0)")
    p.add_argument("--queue", help="rq queue name (krotos)")
    p.add_argument("--model", metavar="DIR",
                   help="a FinetuneModel output folder (default: the current configuration's)")
    p.add_argument("--allow", action="append", metavar="HOST|IP|CIDR",
                   help="let audio/stream URLs reach this non-public host (repeatable)")
    p.add_argument("--max-upload-bytes", type=int, help="largest upload or download")
    p.add_argument("--soundcloud-api-url", help="SoundCloud API base URL")
    p.add_argument("--soundcloud-token-url", help="SoundCloud OAuth token endpoint")
    p.add_argument("--soundcloud-client-id",
                   help="SoundCloud client id (the secret: $KROTOS_SOUNDCLOUD_CLIENT_SECRET "
                        "or [service] soundcloud_client_secret, never a flag)")


def service_config(args: argparse.Namespace) -> ServiceConfig:
    """The :class:`ServiceConfig` of luigi.cfg, the environment and the flags."""
    from krotos.service.config import ServiceConfig

    overrides = {"redis_url": args.redis_url, "queue": args.queue, "model": args.model,
                 "allow": tuple(args.allow) if args.allow else None,
                 "max_upload_bytes": args.max_upload_bytes,
                 "soundcloud_api_url": args.soundcloud_api_url,
                 "soundcloud_token_url": args.soundcloud_token_url,
                 "soundcloud_client_id": args.soundcloud_client_id}
    for key in ("api_token",):
        if getattr(args, key, None) is not None:
            overrides[key] = getattr(args, key)
    try:
        return ServiceConfig.load(overrides)
    except ValueError as exc:
        raise CommandError(str(exc)) from None


def run(args: argparse.Namespace) -> int:
    """Run the command with the parsed ``args``; the exit status."""
    import redis

    from krotos.cli_common import load_embedder, model_files
    from krotos.service.jobs import decode_limits
    from krotos.service.worker import run_worker

    config = service_config(args)
    args.model = config.model or None
    embedder = load_embedder(args, model_files(args), limits=decode_limits(config))
    print(f"krotos worker: model {embedder.model_id} loaded from "
          f"{args.model or 'the current configuration'}; queue {config.queue!r} at "
          f"{config.redis_url}", flush=True)
    try:
        run_worker(config, embedder, burst=args.burst, name=args.name,
                   logging_level=args.log_level)
    except redis.exceptions.ConnectionError as exc:
        raise CommandError(f"Redis unreachable at {config.redis_url}: {exc}") from None
    return 0
