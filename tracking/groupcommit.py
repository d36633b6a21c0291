"""Group commit: concurrent callers' work gathered for a few milliseconds and run in one transaction.

One fix a message from hundreds of devices: run one at a time, each costs a session, a
dozen statements and a commit. Gathered for a few milliseconds, the fixes of every device
that sent one go through the pipeline in one transaction: one INSERT, one UPDATE of the
devices, one read and one write of the trips' detection states, one commit. Each caller
waits for the commit of its own fixes before it acknowledges them.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import gevent
from gevent import monkey
from sqlalchemy.engine import Engine
from sqlmodel import Session

from app.db import DB_DOWN, session_scope

log = logging.getLogger(__name__)

# The longest a group gathers before it runs: long enough for a hundred devices' fixes,
# short against a 500 ms target. Under gevent a group that has ``MIN_GROUP`` callers runs as
# soon as the event loop is idle; a smaller one (fixes trickling in, a fleet reporting every
# few seconds) waits out the window, so that a transaction, a state write and a wake-up
# serve several fixes rather than one or two. Measured at 1,000 devices every 5 s
# (benchmarks/bench_load.py latency): the CPU a fix falls, the p99 to dispatchers barely moves.
GATHER_S = 0.020
MIN_GROUP = 32


@dataclass(eq=False)
class Pending:
    """One caller's work waiting for the group that carries it: ``work`` in, ``result`` or ``error`` out."""

    work: Any
    result: Any = None
    error: BaseException | None = None
    lead: bool = False
    done: threading.Event = field(default_factory=threading.Event)
    began: float = field(default_factory=time.perf_counter)


# run(session, group): do every caller's work in the session's transaction, setting each
# ``result`` (no commit). publish(group): hand committed results on; must not raise.
Run = Callable[[Session, Sequence[Pending]], None]
Publish = Callable[[Sequence[Pending]], None]


class GroupCommit:
    """Gathers concurrent callers' work for a few milliseconds and commits it in one transaction.

    No thread of its own: the first caller to find no group forming leads one. It gathers
    (see ``_gather``; other callers queue meanwhile), runs the queue in one transaction, wakes
    the callers, and hands the lead to the first caller that queued after it took its group.
    Under gevent the waits are cooperative; under threads they are plain waits. A failed
    group is run again caller by caller, so one bad caller fails alone; a database that is
    away fails every caller at once (the devices send again).
    """

    def __init__(self, engine: Engine, run: Run, publish: Publish, *, window_s: float = 0.010,
                 max_group: int = 500, min_group: int = MIN_GROUP) -> None:
        self.engine, self.run, self.publish = engine, run, publish
        self.window_s, self.max_group, self.min_group = window_s, max_group, min_group
        self._lock = threading.Lock()
        self._queue: list[Pending] = []
        self._leading = False
        self.groups = 0  # how many transactions ran (the tests read it)

    def submit(self, pending: Pending) -> Any:
        """Queue the work, wait until it is committed, and return its result (or raise its error)."""
        with self._lock:
            self._queue.append(pending)
            if not self._leading:
                self._leading = pending.lead = True
        if not pending.lead:
            pending.done.wait()
        if pending.lead:
            self._lead()
        if pending.error is not None:
            raise pending.error
        return pending.result

    def _gather(self) -> None:
        """Let the work that is already arriving join the group, then return.

        Under gevent: until the event loop has nothing else to do (every message read so far
        has been handed in), at most ``window_s``; and while fewer than ``min_group`` callers
        wait, until ``window_s`` has passed (fixes trickling in make bigger groups, at the
        cost of a few milliseconds to each). Under threads: ``window_s``.
        """
        if not gevent_patched():
            time.sleep(self.window_s)
            return
        deadline = time.perf_counter() + self.window_s
        gevent.sleep(0.001)  # what is on the wire now is read in this millisecond
        with gevent.Timeout(self.window_s, False):
            gevent.idle()
        while len(self._queue) < self.min_group:
            left = deadline - time.perf_counter()
            if left <= 0:
                return
            gevent.sleep(min(left, 0.005))

    def _lead(self) -> None:
        """Gather, run one group, pass the lead on."""
        self._gather()
        with self._lock:
            group, self._queue = self._queue[:self.max_group], self._queue[self.max_group:]
        try:
            self._run(group)
        except BaseException as exc:  # e.g. this greenlet was killed: no caller waits forever
            for pending in group:
                pending.error = pending.error or exc
            raise
        finally:
            with self._lock:
                nxt = self._queue[0] if self._queue else None
                self._leading = nxt is not None
                if nxt is not None:
                    nxt.lead = True
            for pending in group:
                if not pending.lead:
                    pending.done.set()
            if nxt is not None:
                nxt.done.set()

    def _run(self, group: list[Pending]) -> None:
        """Commit the group in one transaction; if that fails, give each caller its own."""
        self.groups += 1
        try:
            with session_scope(self.engine) as session:
                self.run(session, group)
        except DB_DOWN as exc:  # every caller answers "send again later"; trying each would only wait again
            for pending in group:
                pending.error = exc
            return
        except Exception:  # noqa: BLE001  (one by one, each caller gets its own result or error)
            if len(group) > 1:
                log.warning("group of %d failed; running them one by one", len(group), exc_info=True)
            self._one_by_one(group)
            return
        self.publish(group)

    def _one_by_one(self, group: list[Pending]) -> None:
        """Run each caller's work in a transaction of its own."""
        for pending in group:
            pending.result = None
            try:
                with session_scope(self.engine) as session:
                    self.run(session, [pending])
            except Exception as exc:  # noqa: BLE001  (handed to the caller, who answers the device)
                pending.error = exc
                continue
            self.publish([pending])


def gevent_patched() -> bool:
    """Say whether this process runs on gevent's monkey-patched threads (the served app does)."""
    return monkey.is_module_patched("threading")


_groups: "weakref.WeakKeyDictionary[Engine, GroupCommit]" = weakref.WeakKeyDictionary()
_groups_lock = threading.Lock()


def group_for(engine: Engine, run: Run, publish: Publish) -> GroupCommit:
    """Return the engine's group committer (one per engine in a process)."""
    with _groups_lock:
        group = _groups.get(engine)
        if group is None:
            # Threads (the tests' mode) gather only what queues while a group runs: no added wait.
            group = _groups[engine] = GroupCommit(engine, run, publish,
                                                  window_s=GATHER_S if gevent_patched() else 0.0)
        return group
