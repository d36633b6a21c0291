"""What every JSON endpoint shares: body parsing with pydantic, and JSON errors."""

from __future__ import annotations

from typing import Any, TypeVar

from flask import abort, current_app, jsonify, request
from flask.json.provider import DefaultJSONProvider
from pydantic import BaseModel, ValidationError
from werkzeug.exceptions import HTTPException
from werkzeug.routing import IntegerConverter
from werkzeug.routing import ValidationError as RouteValidationError

from app.db import MAX_ROW_ID

M = TypeVar("M", bound=BaseModel)


class RowIdConverter(IntegerConverter):
    """``<int:…>`` in a URL: a number no row id can be (too large for the column) becomes 0, which names no row.

    The view then answers its own 404. Refusing the match instead (ValidationError) makes
    werkzeug answer 405 when another method's rule has the same path, which is wrong: the
    method is allowed, the row does not exist.
    """

    def __init__(self, map, *args, **kwargs) -> None:
        kwargs.setdefault("max", MAX_ROW_ID)
        super().__init__(map, *args, **kwargs)

    def to_python(self, value: str) -> int:
        """Return the id, or 0 (no row) when it cannot be one."""
        try:
            return super().to_python(value)
        except (RouteValidationError, ValueError):
            return 0


def id_arg(name: str) -> int | None:
    """Return a query parameter that names a row by id, None when absent; ApiError when not one."""
    raw = request.args.get(name)
    if not raw:
        return None
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 10) or not 0 < int(raw) <= MAX_ROW_ID:
        raise ApiError(f"{name} must be a whole number from 1 to {MAX_ROW_ID}")
    return int(raw)


class ApiError(Exception):
    """An error answered as ``{"error": message, **extra}`` with a 4xx (or 503) status."""

    def __init__(self, message: str, status: int = 400, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.extra = extra  # more for the caller to act on, e.g. an ambiguous address's candidates


NUL_REFUSED = "text must not contain NUL characters (\\u0000): no database column can hold them"


def has_nul(value: Any) -> bool:
    """Say whether decoded JSON holds a NUL character in any string, key or value (iteratively: no depth limit)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def json_payload() -> Any:
    """Return the request's JSON body, or raise ApiError when it is not JSON or holds a NUL character."""
    data = request.get_json(silent=True, force=True)
    if data is None:
        raise ApiError("the body must be JSON")
    if has_nul(data):  # PostgreSQL refuses NUL in text (a 500 there, a stored oddity in SQLite)
        raise ApiError(NUL_REFUSED)
    return data


class JsonProvider(DefaultJSONProvider):
    """Flask's JSON, where a body nested too deeply to parse is invalid JSON, not a RecursionError (a 500)."""

    def loads(self, s, **kwargs):
        """Parse JSON; nesting deeper than Python's recursion limit raises ValueError like any bad JSON."""
        try:
            return super().loads(s, **kwargs)
        except RecursionError:
            raise ValueError("JSON nested too deeply") from None


def parse(model: type[M], data: Any | None = None) -> M:
    """Validate the body (or ``data``) against a pydantic model; errors name the fields."""
    if data is None:
        data = json_payload()
    if not isinstance(data, dict):
        raise ApiError("the body must be a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ApiError(describe(exc)) from None


def describe(exc: ValidationError) -> str:
    """Turn pydantic's errors into one line: ``field: problem; …``."""
    parts = []
    for err in exc.errors(include_url=False, include_input=False)[:5]:
        where = ".".join(str(p) for p in err["loc"]) or "body"
        parts.append(f"{where}: {err['msg'].removeprefix('Value error, ')}")
    return "; ".join(parts)


def register_error_handlers(app) -> None:
    """Answer API errors as JSON, and never show a traceback for bad input."""
    app.json = JsonProvider(app)

    @app.before_request
    def _refuse_nul():
        """Refuse a NUL character in the query string or a form, as json_payload does in a body."""
        # A tracker's body is read by its view, after the device is known (form values included).
        reads_body = request.method not in ("GET", "HEAD") and not request.path.startswith(("/osmand", "/owntracks"))
        sources = (request.args, request.form) if reads_body else (request.args,)
        for values in sources:
            for key, value in values.items(multi=True):
                # a multipart part without a name has the key None
                if "\x00" in (key or "") or "\x00" in (value or ""):
                    abort(400, description=NUL_REFUSED)

    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError):
        return jsonify(error=exc.message, **exc.extra), exc.status

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        if request.path.startswith(("/api/", "/osmand", "/owntracks", "/healthz")):
            return jsonify(error=exc.description or exc.name), exc.code
        if exc.code in ERROR_PAGES:
            return error_page(exc.code)
        return exc


# The app's own pages for the errors people meet: (title, what to do), in plain words.
ERROR_PAGES = {
    403: ("Not allowed", "Your account may not open this page. If you need it for your work, ask an administrator."),
    404: ("Page not found", "There is no page at this address. It may have been moved, or the link may be mistyped."),
    500: ("Something went wrong", "The server could not answer this request. Nothing you did caused it: try again "
                                  "in a minute, and if it keeps happening, call the duty administrator."),
}


def error_page(code: int):
    """Return the app's own page for an HTTP error (it reads nothing from the database: that may be the fault)."""
    title, message = ERROR_PAGES[code]
    # Straight from the Jinja environment: render_template's context processors load the
    # logged-in user (Flask-Login), a database read that fails when the database is the fault.
    page = current_app.jinja_env.get_template("errors/error.html")
    return page.render(code=code, title=title, message=message), code
