"""The rq worker that embeds audio, with the models loaded once per process.

rq's default worker forks a child per job; TensorFlow does not survive a fork
of a process that has used it, and reloading the models per job would cost
more than the job. So ``krotos worker`` runs rq's ``SimpleWorker`` (jobs in
the worker process itself) and loads the models before taking the first job.
Run several workers (processes or machines) for parallelism.

**Heartbeats.** A thread beats every ``worker_heartbeat`` seconds, also while
a job runs (a SimpleWorker's main thread is busy with it):

* it writes ``krotos:worker:<queue>:<name>`` (what the worker loaded) with a
  TTL of three beats. ``/healthz`` lists these keys: a killed worker leaves
  within three beats, and a worker that outlives a Redis restart is back at
  its next beat (rq's own worker records are neither);
* while a job runs, it renews the job's entry in rq's started-job registry
  for three beats (rq's ``maintain_heartbeats``). When the worker dies, the
  entry lapses; rq's abandoned-job handling (``StartedJobRegistry.cleanup``,
  run by every live worker's maintenance every three beats, and by the API
  when it reports a started job) then requeues the job if it has retries
  left (rq's ``Retry``, ``job_retries``) or fails it; the API reports that
  failure as ``worker_lost``.
"""

from __future__ import annotations

import json
import os
import socket
import threading
from typing import TYPE_CHECKING, Any

from rq import Queue, SimpleWorker
from rq.worker import WorkerStatus

from krotos.service import store

if TYPE_CHECKING:
    import redis
    from rq.job import Job

    from krotos.inference import Embedder
    from krotos.service.config import ServiceConfig


class KrotosWorker(SimpleWorker):
    """A SimpleWorker that beats while it works (see the module docstring)."""

    model_info = None
    beat_seconds = 5

    def get_heartbeat_ttl(self, job: Job, working_time: float = 0.0) -> int:
        return 3 * int(self.beat_seconds)

    def execute_job(self, job: Job, queue: Queue) -> None:
        execution = self.prepare_execution(job)
        self._current = (job, execution)
        try:
            self.perform_job(job, queue, execution)
        finally:
            self._current = None
        self.set_state(WorkerStatus.IDLE)

    def beat(self) -> None:
        """One heartbeat: presence key, and the running job's registry entry."""
        ttl = 3 * int(self.beat_seconds)
        info = dict(self.model_info or {}, worker=self.name, pid=os.getpid(),
                    host=socket.gethostname())
        for queue in self.queues:
            self.connection.set(store.worker_key(queue.name, self.name), json.dumps(info),
                                ex=ttl)
        current = getattr(self, "_current", None)
        if current is not None:
            self.maintain_heartbeats(*current)

    def _beat_forever(self, stop):
        import redis

        while not stop.wait(float(self.beat_seconds)):
            try:
                self.beat()
            except redis.exceptions.RedisError:
                continue  # Redis away: the next beat re-registers the worker

    def work(self, *args: Any, **kwargs: Any) -> bool:
        stop = threading.Event()
        try:
            self.beat()
        except Exception:  # noqa: BLE001 (Redis unreachable: rq's own loop says so)
            pass
        thread = threading.Thread(target=self._beat_forever, args=(stop,), daemon=True,
                                  name="krotos-heartbeat")
        thread.start()
        try:
            return super().work(*args, **kwargs)
        finally:
            stop.set()
            for queue in self.queues:
                try:
                    self.connection.delete(store.worker_key(queue.name, self.name))
                except Exception:  # noqa: BLE001 (leaving anyway; the key expires)
                    pass


def run_worker(config: ServiceConfig, embedder: Embedder, *, burst: bool = False,
               name: str | None = None, logging_level: str = "INFO") -> bool:
    """Serve jobs of ``config.queue`` until stopped (or the queue is empty, with ``burst``)."""
    from krotos.service import jobs

    conn = store.connect(config.redis_url)
    conn.ping()
    jobs.init(config, embedder, conn)
    worker = KrotosWorker([Queue(config.queue, connection=conn)], connection=conn, name=name,
                          maintenance_interval=config.heartbeat_ttl)
    worker.model_info = embedder.describe()
    worker.beat_seconds = int(config.worker_heartbeat)
    return worker.work(burst=burst, logging_level=logging_level, with_scheduler=False)


def live_models(conn: redis.Redis, queue_name: str) -> list[dict]:
    """``[{"worker", "model_id", ...}]`` of the workers of a queue that beat lately."""
    out = []
    for key in sorted(conn.scan_iter(match=store.worker_key(queue_name, "*"), count=100)):
        raw = conn.get(key)
        if raw:
            out.append(json.loads(raw))
    return out
