"""Tell gifts a live worker is sending from gifts a crashed worker left in ``sending``.

Recovery must ask the vendor only about gifts whose worker has died: a gift that another worker
is still sending would otherwise be put back to ``ready`` while its order is in flight.

- On PostgreSQL, a worker holds a session-level advisory lock on every gift it claims, on a
  connection it keeps open until each claimed gift is recorded. PostgreSQL drops the locks when
  that connection ends, including when the process is killed, so recovery touches only the gifts
  whose lock it can take.
- SQLite has no advisory locks, so sending runs on one SQLite warehouse are serialised by an
  exclusive ``flock`` on a file next to the database (``run_lock``). The operating system drops
  it when the process dies, so every gift in ``sending`` at the start of a run was left by a run
  that has ended.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import IO

from sqlalchemy import Connection, Engine, bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import DBAPIError
from sqlalchemy.types import Text

from gifting import ledger
from gifting.errors import RetriableError

logger = logging.getLogger(__name__)

# First key of every gift lease. It keeps these advisory locks apart from other applications'
# locks on the same database unless one picks the same key. The second key is hashtext(gift id).
LEASE_KEY_SPACE = 0x67696674  # "gift" in ASCII
DEFAULT_RUN_LOCK_WAIT_S = 60.0
_POLL_S = 0.1

_TAKE_MANY = text(
    "SELECT gift_id FROM unnest(:gift_ids) AS gift_id "
    "WHERE pg_try_advisory_lock(:space, hashtext(gift_id))"
).bindparams(bindparam("gift_ids", type_=ARRAY(Text)))
_RELEASE_MANY = text(
    "SELECT pg_advisory_unlock(:space, hashtext(gift_id)) FROM unnest(:gift_ids) AS gift_id"
).bindparams(bindparam("gift_ids", type_=ARRAY(Text)))


class DispatchBusy(RetriableError):
    """Another sending run has the SQLite warehouse's lock, so this run must wait for it to end."""


class ClaimLease:
    """The gifts one worker has claimed and may still be sending.

    Use it as a context manager around claiming, sending and recording. On SQLite every method
    is a no-op that grants every request, because ``run_lock`` already keeps other runs out.

    Args:
        engine: The warehouse.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._connection: Connection | None = None
        if engine.dialect.name == "postgresql":
            self._connection = engine.connect()

    def __enter__(self) -> ClaimLease:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def claim(self, *, as_of: datetime, limit: int, actor: str) -> list[str]:
        """Move up to ``limit`` due ready gifts to ``sending``, leased to this worker."""
        if self._connection is None:
            with self.engine.begin() as connection:
                return ledger.claim_ready(connection, as_of=as_of, limit=limit, actor=actor)
        # The locks are taken in the claim transaction, so no other worker can see a claimed
        # gift in sending before its lease exists.
        with self._connection.begin():
            ledger.relax_durability(self._connection)
            return ledger.claim_ready(
                self._connection, as_of=as_of, limit=limit, actor=actor, lock=self._take_many
            )

    def take(self, gift_id: str) -> bool:
        """Lease one gift; False when another live worker holds it."""
        if self._connection is None:
            return True
        with self._connection.begin():
            return bool(self._take_many([gift_id]))

    def release(self, gift_ids: list[str]) -> None:
        """End the lease on gifts whose outcome is recorded or that went back to ready."""
        if self._connection is None or not gift_ids:
            return
        with self._connection.begin():
            self._connection.execute(
                _RELEASE_MANY, {"gift_ids": gift_ids, "space": LEASE_KEY_SPACE}
            )

    def close(self) -> None:
        """Release every lease and return the connection to the pool."""
        connection, self._connection = self._connection, None
        if connection is None:
            return
        try:
            with connection.begin():
                connection.execute(text("SELECT pg_advisory_unlock_all()"))
        except DBAPIError:
            # A pooled connection must never keep a lease: drop it, which ends the session.
            logger.warning("could not release gift leases; closing their connection instead")
            connection.invalidate()
        connection.close()

    def _take_many(self, gift_ids: list[str]) -> list[str]:
        assert self._connection is not None
        taken = set(
            self._connection.scalars(
                _TAKE_MANY, {"gift_ids": gift_ids, "space": LEASE_KEY_SPACE}
            ).all()
        )
        return [gift_id for gift_id in gift_ids if gift_id in taken]


@contextmanager
def run_lock(
    engine: Engine,
    *,
    wait_s: float = DEFAULT_RUN_LOCK_WAIT_S,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[None]:
    """Hold the warehouse's sending lock for one run; only SQLite files need one.

    A second run waits up to ``wait_s`` seconds for the first to finish, then raises
    ``DispatchBusy``.
    """
    database = engine.url.database if engine.dialect.name == "sqlite" else None
    if not database or database == ":memory:":
        yield
        return
    lock_path = Path(f"{database}.dispatch.lock")
    with lock_path.open("a") as handle:
        _acquire(handle, lock_path, wait_s, sleep)
        try:
            yield
        finally:
            _unlock(handle)


def _acquire(
    handle: IO[str], lock_path: Path, wait_s: float, sleep: Callable[[float], None]
) -> None:
    import fcntl  # POSIX only, like the process work pool that runs the flows

    deadline = time.monotonic() + wait_s
    waiting = False
    while True:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if not waiting:
                logger.info(
                    "waiting up to %g s for another sending run to release %s", wait_s, lock_path
                )
                waiting = True
            if time.monotonic() >= deadline:
                raise DispatchBusy(
                    f"another dispatch or resend run has been using the SQLite warehouse for "
                    f"more than {wait_s:g} s (it holds {lock_path}). SQLite allows one sending "
                    "run at a time: wait for that run to finish and start this one again, or "
                    "move the warehouse to PostgreSQL (GIFTING_DATABASE_URL) to run dispatch "
                    "workers in parallel."
                ) from None
            sleep(_POLL_S)


def _unlock(handle: IO[str]) -> None:
    import fcntl

    fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
