"""The long work of a data-subject request (a search, an access export) runs in a thread of
the server, one job per request at a time. Its state lives in the request's row
(``store/subject_requests.py``: progress, heartbeat, cancel flag), so any server instance
can show it or cancel it, and a job left "running" by a server that died is seen as
interrupted after a minute without a heartbeat and may be started again.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from vigil.named_thread import NamedThread
from vigil.security import audit
from vigil.store import subject_requests as store
from vigil.store.db import Database

log = logging.getLogger(__name__)

_threads: dict[int, threading.Thread] = {}
_lock = threading.Lock()


def run_job(db: Database, request_id: int, kind: str, work: Callable[[], None]) -> None:
    """Run ``work`` (which ends the job itself with ``store.finish_job``) in a thread; a
    failure it did not handle ends the job as failed with the error, never silently."""

    def guarded() -> None:
        try:
            work()
        except Exception as exc:  # the job's record must say why it stopped
            log.exception("data-subject request %s: %s failed", request_id, kind)
            error = f"{type(exc).__name__}: {exc}"
            try:
                row = store.get_request(db, request_id)
                store.finish_job(db, request_id, state="failed", detail=row.job_detail, error=error)
                audit.record(
                    db,
                    action=f"privacy.request.{kind}",
                    outcome=audit.Outcome.FAILURE,
                    target=f"subject_request:{request_id}",
                    details={"error": error},
                )
            except Exception:
                log.exception("data-subject request %s: cannot record the failure", request_id)
        finally:
            with _lock:
                _threads.pop(request_id, None)

    thread = NamedThread(target=guarded, name=f"subject-request-{request_id}-{kind}")
    thread.daemon = True  # a server that stops leaves the job interrupted, resumable
    with _lock:
        _threads[request_id] = thread
    thread.start()


def wait(request_id: int, timeout: float | None = None) -> bool:
    """Wait for the request's job in this process to end; True when none is running."""
    with _lock:
        thread = _threads.get(request_id)
    if thread is None:
        return True
    thread.join(timeout)
    return not thread.is_alive()
