"""No patient field reaches a log: engines hide statement parameters, tracebacks keep frames but not messages."""

from __future__ import annotations

import io
import logging

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from app import logs
from app.db import make_engine

DATE_OF_BIRTH = "1937-06-14"
CONDITION = "Alzheimer's disease"


def test_a_failed_statement_does_not_quote_its_row(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE sheet (member TEXT UNIQUE, dob TEXT)"))
        conn.execute(text("INSERT INTO sheet VALUES ('M-1', :dob)"), {"dob": DATE_OF_BIRTH})
    with pytest.raises(IntegrityError) as caught, engine.begin() as conn:
        conn.execute(text("INSERT INTO sheet VALUES ('M-1', :dob)"), {"dob": CONDITION})
    assert "UNIQUE" in str(caught.value)
    assert CONDITION not in str(caught.value) and "hidden" in str(caught.value)


def test_a_logged_exception_shows_where_but_not_what(app):
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger = logging.getLogger("tests.redaction")
    logger.addHandler(handler)
    try:
        try:
            try:
                {"dob": DATE_OF_BIRTH}["diagnosis: " + CONDITION]
            except KeyError as inner:
                raise ValueError(f"sheet of {DATE_OF_BIRTH} failed") from inner
        except ValueError:
            logger.exception("saving a sheet failed")
    finally:
        logger.removeHandler(handler)
    out = stream.getvalue()
    assert "saving a sheet failed" in out and "builtins.ValueError" in out and "builtins.KeyError" in out
    assert "test_logs.py" in out  # the frames are kept: where it failed is still known
    assert DATE_OF_BIRTH not in out and CONDITION not in out, out


def test_the_cli_line_for_an_unexpected_error_names_the_type_only():
    line = logs.one_line(KeyError(f"no sheet for {DATE_OF_BIRTH}"))
    assert "KeyError" in line and DATE_OF_BIRTH not in line
