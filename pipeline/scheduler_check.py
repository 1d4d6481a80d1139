"""A clear message, at once, when the central scheduler named on the command line is down.

Left alone, ``luigi --module pipeline FinetuneLatents`` against a ``luigid``
that is not running retries the connection (``[core] rpc-retry-attempts``
times, ``rpc-retry-wait`` seconds apart: a minute by default) and then dies
with a traceback. Luigi offers no hook for this, so :func:`install` wraps the
one place where Luigi creates its remote-scheduler client: before the first
call the scheduler's port is probed, and if nothing listens there the run
stops with a message saying how to start ``luigid`` or use
``--local-scheduler``. A scheduler that is up is used exactly as before;
connection trouble later in a run is still handled by Luigi's own retries.

Importing this module changes nothing: ``pipeline/__init__.py`` calls
:func:`install` when the process is the ``luigi`` command.
"""

import socket
import sys
import time
from urllib.parse import urlsplit

PROBE_ATTEMPTS = 3  # a luigid started a moment ago may not listen yet
PROBE_WAIT = 1.0    # seconds between attempts
PROBE_TIMEOUT = 5.0


class SchedulerUnreachable(SystemExit):
    """The central scheduler does not answer; ``str()`` is the message for the user.

    A ``SystemExit``, so that the ``luigi`` command ends with the message and an
    exit status instead of a traceback.
    """

    def __init__(self, message, status=1):
        super().__init__(status)
        self.message = message

    def __str__(self):
        return self.message


def unreachable_reason(url, attempts=PROBE_ATTEMPTS, wait=PROBE_WAIT, timeout=PROBE_TIMEOUT):
    """Why nothing answers at the scheduler ``url``, or None when something listens.

    Parameters
    ----------
    url : str
        The scheduler URL as Luigi builds it, e.g. ``http://localhost:8082/``.
    attempts, wait, timeout : int, float, float
        Connection attempts, seconds between them, seconds per attempt.

    Returns
    -------
    str or None
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None  # unix sockets and the like: leave them to Luigi
    port = parts.port or (443 if parts.scheme == "https" else 80)
    reason = None
    for attempt in range(attempts):
        if attempt:
            time.sleep(wait)
        try:
            with socket.create_connection((parts.hostname, port), timeout=timeout):
                return None
        except OSError as exc:
            reason = exc.strerror or str(exc)
    return reason


def message(url, reason):
    """The text shown when the scheduler at ``url`` cannot be reached."""
    parts = urlsplit(url)
    port = parts.port or 8082
    return (
        f"Cannot reach the Luigi central scheduler at {url} ({reason}).\n"
        f"Start it first, in another terminal, from the krotos folder (so that it reads luigi.cfg):\n"
        f"    mkdir -p luigid/log\n"
        f"    python -m krotos.scheduler --port {port} --state-path luigid/state.pickle "
        f"--logdir luigid/log\n"
        f"(plain `luigid` with the same options works too, without task history), "
        f"or point --scheduler-host/--scheduler-port at the machine where it runs,\n"
        f"or run without a central scheduler by adding --local-scheduler to the luigi command.")


def running_luigi_command():
    """Whether this process is the ``luigi`` command (``luigi`` or ``python -m luigi``).

    Both enter through :mod:`luigi.cmdline`, which nothing else krotos runs
    imports (``python -m krotos.scheduler`` does, but never builds tasks).
    """
    return "luigi.cmdline" in sys.modules


def install():
    """Probe the central scheduler when Luigi creates its client (idempotent).

    Wraps ``luigi.interface._WorkerSchedulerFactory.create_remote_scheduler``,
    which ``luigi`` and ``luigi.build`` both call, only with a remote
    scheduler, just before the first request. Does nothing if a future Luigi
    lacks that method.
    """
    import luigi.interface

    factory = getattr(luigi.interface, "_WorkerSchedulerFactory", None)
    original = getattr(factory, "create_remote_scheduler", None)
    if original is None or getattr(original, "_krotos_checked", False):
        return

    def create_remote_scheduler(self, url):
        reason = unreachable_reason(url)
        if reason is not None:
            text = message(url, reason)
            print(text, file=sys.stderr)
            raise SchedulerUnreachable(text, status=_exit_status())
        return original(self, url)

    create_remote_scheduler._krotos_checked = True
    factory.create_remote_scheduler = create_remote_scheduler


def _exit_status():
    # luigi.cfg's [retcode] value for an uncaught error, as Luigi itself would
    # end with after its retries (never 0: the run did not happen).
    try:
        import luigi.retcodes
        return luigi.retcodes.retcode().unhandled_exception or 1
    except Exception:  # noqa: BLE001 - the message matters more than the number
        return 1
