"""Start Luigi's central scheduler (``luigid``) with a working SQLite task history.

``python -m krotos.scheduler`` takes exactly ``luigid``'s options (``--port``,
``--address``, ``--state-path``, ``--logdir``, ``--background``, ``--pidfile``)
and runs ``luigid``. The one difference: Luigi 3.8's task history
(``[scheduler] record_task_history = true`` with ``[task_history]
db_connection = sqlite:///...``) cannot start with SQLAlchemy 2, which krotos
requires: its schema check runs raw SQL strings, which SQLAlchemy 2 refuses
(spotify/luigi#3227, still open). Here that check is replaced by one written
for SQLAlchemy 2 before ``luigid`` starts; everything else is Luigi's own.
Without task history the plain ``luigid`` command works just as well.

Run it from the repository root (or with ``LUIGI_CONFIG_PATH``) so that it
reads luigi.cfg: the scheduler, not the workers, enforces ``[resources]``.
"""

from __future__ import annotations

import logging
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import sqlalchemy.engine

logger = logging.getLogger("luigi.server")


def upgrade_schema(engine: sqlalchemy.engine.Engine) -> None:
    """SQLAlchemy-2 version of Luigi's task-history schema check.

    Adds the ``tasks.task_id`` column that old history databases lack, as
    Luigi's own check does; the column-type migrations it also attempts
    concern other database engines or cannot be done in SQLite.

    Parameters
    ----------
    engine : sqlalchemy.engine.Engine
        The task-history database.
    """
    import sqlalchemy

    columns = [c["name"] for c in sqlalchemy.inspect(engine).get_columns("tasks")]
    if "task_id" not in columns:
        logger.warning("Upgrading the task history schema: adding tasks.task_id")
        with engine.begin() as conn:
            conn.execute(sqlalchemy.text("ALTER TABLE tasks ADD COLUMN task_id VARCHAR(200)"))
            conn.execute(sqlalchemy.text("CREATE INDEX ix_task_id ON tasks (task_id)"))


def install_history_fix() -> None:
    """Make ``luigi.db_task_history`` start under SQLAlchemy 2 (no-op under 1.x)."""
    import sqlalchemy
    import luigi.db_task_history

    if int(sqlalchemy.__version__.split(".")[0]) >= 2:
        luigi.db_task_history._upgrade_schema = upgrade_schema


def main(argv: list[str] | None = None) -> None:
    """Run ``luigid`` with :func:`install_history_fix` applied.

    Parameters
    ----------
    argv : list of str, optional
        ``luigid`` options; default ``sys.argv[1:]``.
    """
    from luigi.cmdline import luigid

    install_history_fix()
    luigid(sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    main()
