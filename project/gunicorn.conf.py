"""gunicorn settings of the demo site: prometheus_client's multiprocess mode, as its docs say.

PROMETHEUS_MULTIPROC_DIR must name an empty directory before the server starts (scripts/run.sh
makes one); each worker writes its metrics there and /security/metrics merges them.
"""

from prometheus_client import multiprocess


def child_exit(server, worker) -> None:
    multiprocess.mark_process_dead(worker.pid)
