"""Logs that never carry what an exception was holding: tracebacks keep their frames, not their messages.

An exception's message can quote the data it failed on: a pydantic error its input, a database
error its row, a KeyError its key. Those may be a patient's date of birth or diagnosis, and logs
are read by more people, kept longer and copied further than the database. So every log record
this process writes shows an exception as its type and where it was raised, never its message.
The one-line errors of the CLI follow the same rule (``one_line``).
"""

from __future__ import annotations

import logging
import os
import traceback
from types import TracebackType

# Set to 1 to see exception messages in the logs while debugging on your own machine.
DEBUG_ENV = "ESCORT_LOG_EXCEPTION_MESSAGES"

_installed = False


def redacted_traceback(exc_type: type[BaseException], exc: BaseException | None,
                       tb: TracebackType | None) -> str:
    """Return a traceback with every frame but, for each exception in the chain, only its type."""
    lines: list[str] = []
    seen: set[int] = set()

    def walk(e: BaseException | None, e_type: type[BaseException], e_tb: TracebackType | None) -> None:
        if e is not None:
            seen.add(id(e))
            cause = e.__cause__ or (None if e.__suppress_context__ else e.__context__)
            if cause is not None and id(cause) not in seen:
                walk(cause, type(cause), cause.__traceback__)
                lines.append("\nThe above exception led to the following one:\n\n")
        lines.append("Traceback (most recent call last):\n")
        lines.extend(traceback.format_tb(e_tb))
        lines.append(f"{e_type.__module__}.{e_type.__qualname__}: (message withheld from the log)\n")

    walk(exc, exc_type, tb)
    return "".join(lines).rstrip("\n")


def one_line(exc: BaseException) -> str:
    """Return an unexpected error as one line that names its type and no data."""
    return f"{type(exc).__module__}.{type(exc).__qualname__} (details withheld: they may hold patient data)"


def install() -> None:
    """Make every log record of this process format exceptions without their messages (idempotent)."""
    global _installed
    if _installed or os.environ.get(DEBUG_ENV) == "1":
        return
    _installed = True
    make_record = logging.getLogRecordFactory()

    def factory(*args, **kwargs) -> logging.LogRecord:
        record = make_record(*args, **kwargs)
        if record.exc_info and record.exc_info[0] is not None:
            # Formatters use exc_text when it is set, and only compute it from exc_info otherwise.
            record.exc_text = redacted_traceback(*record.exc_info)
        return record

    logging.setLogRecordFactory(factory)
