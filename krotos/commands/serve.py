"""``krotos serve``: the HTTP API of the musical-compatibility service."""

from __future__ import annotations

import argparse

from krotos.commands import CommandError


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the command's arguments on ``subparsers``."""
    from krotos.commands.worker import add_service_arguments

    p = subparsers.add_parser(
        "serve", help="run the web API (Flask); jobs go to `krotos worker`",
        description="Serve the HTTP API with Werkzeug's threaded server. For production, "
                    "run the app factory under a WSGI server instead, e.g. gunicorn "
                    "'krotos.service.app:create_app()'. Settings: [service] in luigi.cfg, "
                    "KROTOS_* variables, flags.")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (8000)")
    p.add_argument("--api-token", help="require 'Authorization: Bearer TOKEN' "
                                       "(better: $KROTOS_API_TOKEN)")
    add_service_arguments(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the command with the parsed ``args``; the exit status."""
    from werkzeug.serving import run_simple

    from krotos.commands.worker import service_config
    from krotos.service.app import JsonErrorRequestHandler, create_app

    config = service_config(args)
    app = create_app(config)
    print(f"krotos serve: http://{args.host}:{args.port}/ (the page) and /v1 (the API); "
          f"queue {config.queue!r}; token {'required' if config.api_token else 'not required'}",
          flush=True)
    try:
        run_simple(args.host, args.port, app, threaded=True, use_reloader=False,
                   request_handler=JsonErrorRequestHandler)
    except OSError as exc:
        raise CommandError(f"cannot listen on {args.host}:{args.port}: {exc}") from None
    return 0
