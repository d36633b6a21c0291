"""What every JSON endpoint shares: body parsing with pydantic, and JSON errors."""

from __future__ import annotations

from typing import Any, TypeVar

from flask import jsonify, request
from pydantic import BaseModel, ValidationError
from werkzeug.exceptions import HTTPException

M = TypeVar("M", bound=BaseModel)


class ApiError(Exception):
    """An error answered as ``{"error": message}`` with a 4xx status."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def json_payload() -> Any:
    """Return the request's JSON body, or raise ApiError when it is not JSON."""
    data = request.get_json(silent=True, force=True)
    if data is None:
        raise ApiError("the body must be JSON")
    return data


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

    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError):
        return jsonify(error=exc.message), exc.status

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        if request.path.startswith(("/api/", "/osmand", "/owntracks", "/healthz")):
            return jsonify(error=exc.description or exc.name), exc.code
        return exc
