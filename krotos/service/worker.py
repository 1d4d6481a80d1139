"""The rq worker that embeds audio, with the models loaded once per process.

rq's default worker forks a child per job; TensorFlow does not survive a fork
of a process that has used it, and reloading the models per job would cost
more than the job. So ``krotos worker`` runs rq's ``SimpleWorker`` (jobs in
the worker process itself), loads the models before taking the first job,
and registers what it loaded in its rq worker record, where ``/healthz``
reads it. Run several workers (processes or machines) for parallelism; a job
that raises is marked failed and the worker goes on with the next one.
"""

import json

from rq import Queue, SimpleWorker, Worker

MODEL_FIELD = "krotos_model"


class KrotosWorker(SimpleWorker):
    """A SimpleWorker that records its loaded model in its rq worker hash."""

    model_info = None

    def register_birth(self, *args, **kwargs):
        super().register_birth(*args, **kwargs)
        if self.model_info is not None:
            # The worker hash expires with the worker's heartbeat: a dead
            # worker's model disappears from /healthz with it.
            self.connection.hset(self.key, MODEL_FIELD, json.dumps(self.model_info))


def run_worker(config, embedder, *, burst=False, name=None, logging_level="INFO"):
    """Serve jobs of ``config.queue`` until stopped (or the queue is empty, with ``burst``)."""
    from krotos.service import jobs, store

    conn = store.connect(config.redis_url)
    conn.ping()
    jobs.init(config, embedder, conn)
    worker = KrotosWorker([Queue(config.queue, connection=conn)], connection=conn, name=name)
    worker.model_info = embedder.describe()
    return worker.work(burst=burst, logging_level=logging_level, with_scheduler=False)


def live_models(conn, queue_name):
    """``[{"name", "state", "model"}]`` of the live workers of a queue."""
    out = []
    for worker in Worker.all(queue=Queue(queue_name, connection=conn)):
        raw = conn.hget(worker.key, MODEL_FIELD)
        state = worker.get_state()
        out.append({"name": worker.name, "state": getattr(state, "value", state),
                    "model": json.loads(raw) if raw else None})
    return out
