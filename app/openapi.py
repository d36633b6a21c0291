"""The OpenAPI 3.1 document of the HTTP API, built from the url_map and the request models the views validate with.

``OPERATIONS`` is the one table that says, for every (endpoint, method) of the JSON API and
the device endpoints, which pydantic model (or which other body) the view reads, how it is
authenticated and which statuses it answers. The document takes its paths, methods and
summaries from ``app.url_map`` and the views' docstrings, and its request schemas from the
models' own ``model_json_schema``: what is served is what validates. tests/app/test_openapi.py
fails when a rule under /api/v1 (or /osmand, /owntracks) has no entry here, or an entry no rule.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from flask import Blueprint, Flask, current_app, jsonify
from pydantic import BaseModel

from app.admin import PasswordReset
from app.db import MAX_ROW_ID
from dispatch.schemas import (
    AlertResolve,
    FlagCreate,
    FlagPatch,
    RouteCompute,
    StandingOrderCreate,
    StandingOrderSkip,
    StatusChange,
    TripCreate,
    TripDuplicate,
    TripPatch,
    ZoneCreate,
    ZonePatch,
)
from dispatch.line_schemas import DoseIn, MessageIn, MessagesRead
from dispatch.report_schemas import PlaceDecline, PlaceReportIn
from dispatch.alerts import KINDS as ALERT_KINDS
from dispatch.escalation import LEVELS as ESCALATION_LEVELS
from dispatch.trips import STATUSES
from patients.schemas import PatientCreate, SheetFields
from tracking.protocols import MAX_POSITIONS
from tracking.protocols import _Location as OsmAndLocation
from tracking.protocols import _OwnTracksLocation as OwnTracksLocation
from tracking.schemas import MAX_BATCH, FixIn

bp = Blueprint("openapi", __name__)

REF = "#/components/schemas/{model}"
# Who may call: a user's API token or their browser session (changes then need X-CSRFToken),
# a device token as a bearer (/api/v1/fixes), the device token as OsmAnd's ``id``, or HTTP Basic
# with the device label and token (OwnTracks).
USER = [{"apiToken": []}, {"session": []}]
DEVICE = [{"deviceToken": []}]
OSMAND = [{"osmandId": []}]
OWNTRACKS = [{"deviceBasic": []}]
PUBLIC: list = []

ERRORS = {
    400: ("BadRequest", "the request is malformed or invalid; the message names the field"),
    401: ("Unauthorized", "no valid credential"),
    403: ("Forbidden", "the user's role may not do this"),
    404: ("NotFound", "no such object"),
    409: ("Conflict", "the object's state does not allow this (e.g. a status transition)"),
    413: ("TooLarge", "the body, or the batch in it, is larger than allowed; nothing was stored"),
    429: ("TooManyRequests", "too many attempts from this address; wait and try again"),
    503: ("Unavailable", "a service this needs (the geocoder) is down, slow or not configured; the message says "
                         "which (place the pin by hand meanwhile)"),
}


@dataclass(frozen=True)
class Operation:
    """What one view takes and answers: the request model or body, its security, its statuses."""

    tag: str
    responses: dict[int, str | dict]  # status -> a component schema name, "" (no body), or a schema
    security: list = field(default_factory=lambda: USER)
    model: type[BaseModel] | None = None  # a JSON object body validated by this model
    body: dict[str, dict] | None = None  # media type -> schema, for bodies that are not one model
    body_required: bool = True
    query: tuple[dict, ...] = ()
    path: dict[str, dict] = field(default_factory=dict)  # path parameter -> schema, beyond its converter's


def _id_query(name: str, description: str) -> dict:
    """Return an optional integer query parameter naming a row."""
    return {"name": name, "in": "query", "required": False, "description": description,
            "schema": {"type": "integer", "minimum": 1, "maximum": MAX_ROW_ID}}


def _str_query(name: str, description: str, **schema: Any) -> dict:
    """Return an optional string query parameter."""
    return {"name": name, "in": "query", "required": False, "description": description,
            "schema": {"type": "string", **schema}}


_OSMAND_QUERY = (
    _str_query("deviceid", "the device token, when `id` is not given"),
    _str_query("app", "whose units the query is in: `traccar` (the default: speed in knots), `osmand` (the OsmAnd"
               " app: speed m/s, `hdop` is its accuracy in metres) or `gpslogger` (speed m/s; also its names spd,"
               " acc, dir, alt, batt, time)", enum=["traccar", "osmand", "gpslogger"]),
    _str_query("lat", "latitude, degrees"),
    _str_query("lon", "longitude, degrees"),
    _str_query("location", "`lat,lon`, when lat and lon are not given"),
    _str_query("timestamp", "epoch seconds, epoch milliseconds or ISO-8601 (UTC when no zone); now if absent"),
    _str_query("speed", "knots (m/s with app=osmand or app=gpslogger)"),
    _str_query("bearing", "degrees"),
    _str_query("heading", "degrees, when bearing is not given"),
    _str_query("altitude", "metres"),
    _str_query("accuracy", "metres"),
    _str_query("hacc", "metres, when accuracy is not given"),
    _str_query("hdop", "horizontal dilution of precision (accuracy = 5 m × hdop when no accuracy); with app=osmand,"
               " the accuracy in metres"),
    _str_query("batt", "battery percent"),
    _str_query("valid", "anything but true/1 means the receiver has no fix: nothing is stored"),
    _str_query("alarm", "`sos` raises a panic"),
    _str_query("mock", "`true` (or 1): the phone marks the position as a mock location; stored and shown as such"),
)

_OSMAND_FORM = {
    "type": "object",
    "properties": {"id": {"type": "string"}, **{p["name"]: {"type": "string"} for p in _OSMAND_QUERY}},
}

_TRIP_FILTERS = (
    _str_query("from", "the first local calendar day, YYYY-MM-DD (years 2000 to 2200)"),
    _str_query("to", "the last local calendar day, YYYY-MM-DD, inclusive"),
    _id_query("patient_id", "only this patient's trips"),
    _str_query("escort", "only this escort's trips (user name)"),
    {"name": "status", "in": "query", "required": False, "schema": {"enum": list(STATUSES)}},
    _str_query("had_alerts", "1: only trips with alerts; 0: only trips without",
               enum=["1", "0", "true", "false", "yes", "no"]),
)
_OBJECT = {"type": "object"}
_ARRAY = {"type": "array"}

OPERATIONS: dict[tuple[str, str], Operation] = {
    ("auth.session_info", "get"): Operation(
        "session", {200: {"type": "object", "required": ["user", "role", "idle_logout_s"],
                          "properties": {"user": {"type": "string"}, "role": {"type": "string"},
                                         "idle_logout_s": {"type": ["number", "null"],
                                                           "description": "a browser session without a "
                                                                          "request this long ends; null: never"}}},
                    401: ""}),
    ("dispatch_api.create_trip", "post"): Operation("trips", {201: "TripCreated", 400: "", 401: "", 403: "", 503: ""},
                                                    model=TripCreate),
    ("dispatch_api.get_trip", "get"): Operation("trips", {200: "TripDetail", 401: "", 403: "", 404: ""}),
    ("dispatch_api.change_status", "post"): Operation(
        "trips", {200: "Trip", 400: "", 401: "", 403: "", 404: "", 409: ""}, model=StatusChange),
    ("dispatch_api.put_route", "put"): Operation(
        "trips", {200: "TripRouted", 400: "", 401: "", 403: "", 404: ""},
        body={"application/json": {"$ref": REF.format(model="GeoJsonLineString")},
              "application/gpx+xml": {"type": "string"},
              "multipart/form-data": {"type": "object", "required": ["file"],
                                      "properties": {"file": {"type": "string", "format": "binary"}}}}),
    ("dispatch_api.compute_route", "post"): Operation(
        "trips", {200: "TripRouted", 400: "", 401: "", 403: "", 404: "", 409: "",
                  503: "TripRoutingFailed"},
        model=RouteCompute),
    ("dispatch_api.list_alerts", "get"): Operation(
        "alerts", {200: {"type": "array", "items": {"$ref": REF.format(model="Alert")}}, 400: "", 401: "", 403: ""},
        query=(_id_query("trip_id", "only this trip's alerts"),
               _str_query("open", "`1` or `true`: only alerts not resolved"),
               _str_query("unseen", "`1` or `true`: alerts not resolved, and those that cleared themselves "
                                    "and no dispatcher has acknowledged yet (what the live map lists)"))),
    ("dispatch_api.ack_alert", "post"): Operation("alerts", {200: "Alert", 401: "", 403: "", 404: "", 409: ""}),
    ("dispatch_api.resolve_alert", "post"): Operation(
        "alerts", {200: "Alert", 400: "", 401: "", 403: "", 404: "", 409: ""}, model=AlertResolve),
    ("dispatch_api.queued_panic", "post"): Operation(
        "alerts", {200: {"type": "object", "required": ["ok"], "properties": {"ok": {"const": True}}}, 400: "", 403: ""},
        security=PUBLIC,
        body={"application/json": {
            "type": "object", "required": ["voucher"],
            "description": "a panic a shared tablet queued; raised as the panic of the escort the voucher names",
            "properties": {"voucher": {"type": "string", "description": "panic_voucher of that escort's page"},
                           "ts": {"type": "string", "format": "date-time"},
                           "lat": {"type": "number", "minimum": -90, "maximum": 90},
                           "lon": {"type": "number", "minimum": -180, "maximum": 180}}}}),
    ("dispatch_api.create_zone", "post"): Operation("hazard zones", {201: "HazardZone", 400: "", 401: "", 403: ""},
                                                    model=ZoneCreate),
    ("dispatch_api.list_zones", "get"): Operation(
        "hazard zones", {200: {"type": "array", "items": {"$ref": REF.format(model="HazardZone")}}, 401: "", 403: ""}),
    ("dispatch_api.patch_zone", "patch"): Operation("hazard zones", {200: "HazardZone", 400: "", 401: "", 403: "", 404: ""},
                                                    model=ZonePatch),
    ("dispatch_api.retire_zone", "delete"): Operation("hazard zones", {204: "", 401: "", 403: "", 404: ""}),
    ("dispatch_api.create_flag", "post"): Operation("flagged places", {201: _OBJECT, 400: "", 401: "", 403: "", 503: ""},
                                                    model=FlagCreate),
    ("dispatch_api.list_flags", "get"): Operation("flagged places", {200: _ARRAY, 401: "", 403: ""}),
    ("dispatch_api.patch_flag", "patch"): Operation(
        "flagged places", {200: _OBJECT, 400: "", 401: "", 403: "", 404: "", 503: ""}, model=FlagPatch),
    ("dispatch_api.retire_flag", "delete"): Operation("flagged places", {204: "", 401: "", 403: "", 404: ""}),
    ("logs_api.list_trips_api", "get"): Operation(
        "trip logs", {200: {"type": "object", "required": ["trips", "next"],
                            "properties": {"trips": _ARRAY, "next": {"type": ["string", "null"]}}},
                      400: "", 401: "", 403: ""},
        query=(*_TRIP_FILTERS, _str_query("after", "the `next` cursor of the page before"),
               {"name": "limit", "in": "query", "required": False, "schema": {"type": "integer", "minimum": 1}})),
    ("logs_api.period_figures_api", "get"): Operation("trip logs", {200: _OBJECT, 400: "", 401: "", 403: ""},
                                                      query=_TRIP_FILTERS),
    ("logs_api.trips_csv", "get"): Operation("trip logs", {200: "text/csv", 400: "", 401: "", 403: ""},
                                             query=_TRIP_FILTERS),
    ("logs_api.timeline_api", "get"): Operation(
        "trip logs", {200: {"type": "object", "required": ["trip_id", "timeline"],
                            "properties": {"trip_id": {"type": "integer"}, "timeline": _ARRAY}}, 401: "", 403: "", 404: ""}),
    ("logs_api.replay_api", "get"): Operation("trip logs", {200: _OBJECT, 401: "", 403: "", 404: ""}),
    ("logs_api.trip_figures_api", "get"): Operation("trip logs", {200: _OBJECT, 401: "", 403: "", 404: ""}),
    ("logs_api.track_export", "get"): Operation(
        "trip logs", {200: "application/gpx+xml,text/csv,application/geo+json", 401: "", 403: "", 404: ""},
        path={"fmt": {"enum": ["gpx", "csv", "geojson"]}}),
    ("logs_api.add_note", "post"): Operation(
        "trip logs", {201: _OBJECT, 400: "", 401: "", 403: "", 404: ""},
        body={"application/json": {"type": "object", "required": ["text"],
                                   "properties": {"text": {"type": "string", "minLength": 1}}}}),
    ("admin_api.audit_api", "get"): Operation(
        "audit", {200: {"type": "object", "required": ["events", "next_before_id"],
                        "properties": {"events": _ARRAY, "next_before_id": {"type": ["integer", "null"]}}},
                  400: "", 401: "", 403: ""},
        query=(_id_query("patient_id", "only lines about this patient"), _str_query("user", "user name"),
               _str_query("action", "e.g. patient_read, export, login"), _str_query("object_type", "e.g. patient, trip"),
               _str_query("since", "ISO-8601, inclusive"), _str_query("until", "ISO-8601, exclusive"),
               _id_query("before_id", "the next_before_id of the page before"),
               {"name": "limit", "in": "query", "required": False,
                "schema": {"type": "integer", "minimum": 1, "maximum": 1000}})),
    ("admin_api.list_users_api", "get"): Operation(
        "offboarding", {200: {"type": "array", "items": {"$ref": REF.format(model="UserState")}}, 400: "", 401: "",
                        403: ""}),
    ("admin_api.disable_user_api", "post"): Operation(
        "offboarding", {200: _OBJECT, 400: "", 401: "", 403: "", 404: "", 409: ""}),
    ("admin_api.enable_user_api", "post"): Operation(
        "offboarding", {200: _OBJECT, 400: "", 401: "", 403: "", 404: "", 409: ""}),
    ("admin_api.reset_password_api", "post"): Operation(
        "offboarding", {200: _OBJECT, 400: "", 401: "", 403: "", 404: ""}, model=PasswordReset),
    ("admin_api.list_tokens_api", "get"): Operation(
        "offboarding", {200: {"type": "array", "items": {"$ref": REF.format(model="ApiTokenState")}}, 400: "", 401: "",
                        403: "", 404: ""},
        query=(_str_query("user", "only this user's tokens (user name)"),)),
    ("admin_api.revoke_token_api", "post"): Operation(
        "offboarding", {200: _OBJECT, 400: "", 401: "", 403: "", 404: "", 409: ""}),
    ("admin_api.list_devices_api", "get"): Operation(
        "offboarding", {200: {"type": "array", "items": {"$ref": REF.format(model="DeviceState")}}, 400: "", 401: "",
                        403: ""}),
    ("admin_api.revoke_device_api", "post"): Operation(
        "offboarding", {200: _OBJECT, 400: "", 401: "", 403: "", 404: "", 409: ""}),
    ("patients_api.create_patient", "post"): Operation("patients", {201: "Patient", 400: "", 401: "", 403: "", 503: ""},
                                                       model=PatientCreate),
    ("patients_api.list_patients", "get"): Operation(
        "patients", {200: {"type": "array", "items": {"$ref": REF.format(model="Patient")}}, 400: "", 401: "",
                     403: ""},
        query=(_str_query("q", "part of a name or member ID"),)),
    ("patients_api.get_patient", "get"): Operation("patients", {200: "Patient", 401: "", 403: "", 404: ""}),
    ("patients_api.update_patient", "patch"): Operation(
        "patients", {200: "Patient", 400: "", 401: "", 403: "", 404: "", 503: ""}, model=SheetFields),
    ("tracking.post_fixes", "post"): Operation(
        "devices", {200: "FixAcks", 400: "", 401: "", 413: ""}, security=DEVICE,
        body={"application/json": {"type": "array", "items": {"$ref": REF.format(model="FixIn")},
                                    "maxItems": MAX_BATCH,
                                    "description": f"more than {MAX_BATCH} fixes are refused whole (413)"}}),
    ("tracking.osmand", "get"): Operation("devices", {200: "", 400: ""}, security=OSMAND, query=_OSMAND_QUERY),
    ("tracking.osmand", "post"): Operation(
        "devices", {200: "", 400: ""}, security=OSMAND, body_required=False,
        body={"application/x-www-form-urlencoded": _OSMAND_FORM,
              "application/json": {"$ref": REF.format(model="OsmAndJson")}}),
    ("tracking.owntracks", "post"): Operation(
        "devices", {200: {"type": "array", "maxItems": 0}, 400: "", 401: ""}, security=OWNTRACKS,
        body={"application/json": {"oneOf": [{"$ref": REF.format(model="OwnTracksMessage")},
                                             {"type": "array", "maxItems": MAX_POSITIONS,
                                              "items": {"$ref": REF.format(model="OwnTracksMessage")}}]}}),
    ("places_api.geocode", "get"): Operation(
        "places", {200: {"type": "array", "items": {"$ref": REF.format(model="PlaceCandidate")}}, 400: "", 401: "",
                   403: "", 503: ""},
        query=({"name": "q", "in": "query", "required": True, "description": "the address, e.g. Kaivokatu 1, Helsinki",
                "schema": {"type": "string", "minLength": 1, "maxLength": 300}},)),
    ("places_api.reverse", "get"): Operation(
        "places", {200: {"type": "object", "required": ["label", "found"], "properties": {"label": {
            "type": "string", "description": "the nearest address; the coordinates when none is known"},
            "found": {"type": "boolean", "description": "false when no address is known there"}}},
                   400: "", 401: "", 403: "", 503: ""},
        query=({"name": "lat", "in": "query", "required": True, "schema": {"type": "number", "minimum": -90, "maximum": 90}},
               {"name": "lon", "in": "query", "required": True,
                "schema": {"type": "number", "minimum": -180, "maximum": 180}})),
    ("line_api.list_messages", "get"): Operation("line", {200: _ARRAY, 401: "", 403: "", 404: ""}),
    ("line_api.post_message", "post"): Operation("line", {201: _OBJECT, 400: "", 401: "", 403: "", 404: "", 409: ""},
                                                 model=MessageIn),
    ("line_api.read_messages", "post"): Operation("line", {200: _ARRAY, 400: "", 401: "", 403: "", 404: ""},
                                                  model=MessagesRead),
    ("line_api.list_doses", "get"): Operation("line", {200: _OBJECT, 401: "", 403: "", 404: ""}),
    ("line_api.record_dose", "post"): Operation("line", {201: _OBJECT, 400: "", 401: "", 403: "", 404: ""},
                                                model=DoseIn),
    ("openapi.openapi_json", "get"): Operation("service", {200: {"type": "object"}}, security=PUBLIC),
    ("healthz", "get"): Operation("service", {200: "Health", 503: "Health"}, security=PUBLIC),
    ("metrics", "get"): Operation("service", {200: "text/plain", 401: "", 403: ""}, security=PUBLIC),
}

_ISO = {"type": "string", "format": "date-time"}
_ISO_OR_NULL = {"type": ["string", "null"], "format": "date-time"}
_ID = {"type": "integer", "minimum": 1}
_ID_OR_NULL = {"type": ["integer", "null"], "minimum": 1}
_PLACE = {"type": "object", "required": ["lat", "lon", "radius_m"],
          "properties": {"lat": {"type": "number", "minimum": -90, "maximum": 90},
                         "lon": {"type": "number", "minimum": -180, "maximum": 180},
                         "radius_m": {"type": "number"},
                         "address": {"type": ["string", "null"], "maxLength": 300,
                                     "description": "the place in words, when it was found by address"}}}
_FIX_OUT = {"type": ["object", "null"], "required": ["device_id", "seq", "lat", "lon", "ts"],
            "properties": {"device_id": _ID, "trip_id": _ID_OR_NULL, "seq": {"type": ["integer", "null"]},
                           "lat": {"type": ["number", "null"], "minimum": -90, "maximum": 90},
                           "lon": {"type": ["number", "null"], "minimum": -180, "maximum": 180},
                           "ts": _ISO_OR_NULL}}
_TRIP = {"type": "object", "required": ["id", "status", "patient_id", "pickup", "dropoff", "scheduled_pickup_at"],
         "properties": {"id": _ID, "status": {"enum": list(STATUSES)}, "patient_id": _ID,
                        "escort": {"type": ["string", "null"]}, "device_id": _ID_OR_NULL,
                        "pickup": _PLACE, "dropoff": _PLACE,
                        "route": {"type": "array", "description": "[[lat, lon], …]"},
                        "route_source": {"type": ["string", "null"],
                                         "description": "`router:<engine>` (computed), `upload`, or null (none)"},
                        "route_distance_m": {"type": ["number", "null"]},
                        "route_duration_s": {"type": ["number", "null"],
                                             "description": "the router's driving time; null for uploaded routes"},
                        "allowed_stops": {"type": "array", "items": _PLACE}, "settings": {"type": "object"},
                        "scheduled_pickup_at": _ISO, "appointment_at": _ISO_OR_NULL,
                        "started_at": _ISO_OR_NULL, "ended_at": _ISO_OR_NULL, "last_fix": _FIX_OUT,
                        "eta_at": {**_ISO_OR_NULL, "description": "live ETA at the leg's end while under way"},
                        "left_m": {"type": ["number", "null"], "description": "metres left on the leg"},
                        "eta_to": {"enum": ["pickup", "dropoff", None], "description": "which end the ETA is for"},
                        "eta_source": {"enum": ["road", "straight line", None],
                                       "description": "`road`: along the routed pickup leg or the planned route; "
                                                      "`straight line`: no road route at hand"}}}
# The answers' shapes; the views build them as dicts (dispatch.present, alerts.public, zones.public).
RESPONSE_SCHEMAS: dict[str, dict] = {
    "Error": {"type": "object", "required": ["error"], "properties": {
        "error": {"type": "string"},
        "candidates": {"type": "array", "items": {"$ref": REF.format(model="PlaceCandidate")},
                       "description": "an address that matches several places: what it could mean, best first"}}},
    "Trip": _TRIP,
    "TripCreated": {"allOf": [{"$ref": REF.format(model="Trip")},
                              {"type": "object", "required": ["warnings"],
                               "properties": {"warnings": {"type": "array"},
                                              "routing": {"$ref": REF.format(model="Routing")}}}]},
    "TripRouted": {"allOf": [{"$ref": REF.format(model="Trip")},
                             {"type": "object", "required": ["routing"],
                              "properties": {"routing": {"$ref": REF.format(model="Routing")}}}]},
    "TripRoutingFailed": {"type": "object", "required": ["error", "routing"],
                          "properties": {"error": {"type": "string"},
                                         "routing": {"$ref": REF.format(model="Routing")}}},
    "Routing": {"type": "object", "required": ["computed", "router"],
                "description": "what the router did for a trip created without a route, or asked again",
                "properties": {"computed": {"type": "boolean"}, "router": {"type": "string"},
                               "reason": {"enum": ["no_road_route", "router_unavailable"]},
                               "distance_m": {"type": "number"}, "duration_s": {"type": "number"},
                               "error": {"type": "string", "description": "why there is no route"}}},
    "TripDetail": {"allOf": [{"$ref": REF.format(model="Trip")},
                             {"type": "object", "required": ["alerts", "allowed_next"],
                              "properties": {"alerts": {"type": "array", "items": {"$ref": REF.format(model="Alert")}},
                                             "allowed_next": {"type": "array", "items": {"enum": list(STATUSES)}},
                                             "doses_before_eta": {
                                                 "type": "array", "description": "doses due from now to the live "
                                                                                 "drop-off ETA",
                                                 "items": {"type": "object", "properties": {
                                                     "medication": {"type": "string"}, "dose": {"type": "string"},
                                                     "due_at": _ISO}}}}}]},
    "TripRouted": {"allOf": [{"$ref": REF.format(model="Trip")},
                             {"type": "object", "required": ["route_note"],
                              "properties": {"route_note": {"type": ["string", "null"],
                                                            "description": "what a GPX file gave, e.g. 'joined 3 "
                                                                           "tracks, 296 points'"}}}]},
    "Alert": {"type": "object", "required": ["id", "trip_id", "kind", "state", "raised_at"],
              "properties": {"id": _ID, "trip_id": _ID_OR_NULL, "device_id": _ID_OR_NULL, "kind": {"enum": list(ALERT_KINDS)},
                             "state": {"enum": ["open", "acknowledged", "resolved"]}, "raised_at": _ISO,
                             "acknowledged_at": _ISO_OR_NULL, "resolved_at": _ISO_OR_NULL,
                             "updated_at": {**_ISO, "description": "moves with every change of the alert"},
                             "category": {"type": ["string", "null"]}, "note": {"type": ["string", "null"]},
                             "detail": {"type": "object"},
                             "cleared": {"type": "boolean", "description": "resolved by its cause going away"},
                             "cleared_at": _ISO_OR_NULL,
                             "place": {"type": ["string", "null"],
                                       "description": "where, in words (reverse geocoded after the alert is raised; "
                                                      "coordinates when no address is known; null until then)"},
                             "escalation_level": {"type": "integer", "minimum": 0, "maximum": max(ESCALATION_LEVELS),
                                                  "description": "the last escalation step an unacknowledged alert "
                                                                 "reached; 0: not escalated"},
                             "escalated_at": {**_ISO_OR_NULL, "description": "when that step was taken"},
                             "escalated_to": {"enum": [*ESCALATION_LEVELS.values(), None],
                                              "description": "whom that step reached, by role; null: not escalated"}}},
    "PlaceCandidate": {"type": "object", "required": ["label", "lat", "lon"],
                       "properties": {"label": {"type": "string"},
                                      "lat": {"type": "number", "minimum": -90, "maximum": 90},
                                      "lon": {"type": "number", "minimum": -180, "maximum": 180}}},
    "HazardZone": {"type": "object", "required": ["id", "name", "polygon", "active"],
                   "properties": {"id": _ID, "name": {"type": "string"}, "reason": {"type": ["string", "null"]},
                                  "polygon": {"type": "array", "description": "the outer ring as [[lat, lon], …]"},
                                  "active": {"type": "boolean"}, "expires_at": _ISO_OR_NULL}},
    "Patient": {"type": "object", "required": ["id", "name"], "properties": {"id": _ID, "name": {"type": "string"}}},
    "FixAcks": {"type": "object", "required": ["accepted", "rejected"],
                "properties": {"accepted": {"type": "array", "items": {"type": "integer"}},
                               "rejected": {"type": "array", "items": {
                                   "type": "object", "required": ["seq", "error"],
                                   "properties": {"seq": {"type": ["integer", "null"]},
                                                  "error": {"type": "string"}}}}}},
    "UserState": {"type": "object", "required": ["id", "username", "role", "active", "open_sessions"],
                  "properties": {"id": _ID, "username": {"type": "string"}, "role": {"type": "string"},
                                 "active": {"type": "boolean"}, "locked_until": _ISO_OR_NULL,
                                 "open_sessions": {"type": "integer", "minimum": 0}, "last_seen_at": _ISO_OR_NULL,
                                 "last_login_at": _ISO_OR_NULL, "email": {"type": ["string", "null"]},
                                 "created_at": _ISO}},
    "ApiTokenState": {"type": "object", "required": ["id", "user", "created_at"],
                      "description": "an API token without its secret",
                      "properties": {"id": _ID, "user": {"type": "string"}, "created_at": _ISO,
                                     "last_used_at": _ISO_OR_NULL, "expires_at": _ISO_OR_NULL,
                                     "revoked_at": _ISO_OR_NULL}},
    "DeviceState": {"type": "object", "required": ["id", "label", "has_token", "created_at"],
                    "properties": {"id": _ID, "label": {"type": "string"}, "escort": {"type": ["string", "null"]},
                                   "has_token": {"type": "boolean"}, "created_at": _ISO,
                                   "last_seen_at": _ISO_OR_NULL, "revoked_at": _ISO_OR_NULL,
                                   "last_fix_at": _ISO_OR_NULL,
                                   "battery_pct": {"type": ["number", "null"],
                                                   "description": "of the latest fix that reported one"}}},
    "Health": {"type": "object", "required": ["status", "database"],
               "properties": {"status": {"type": "string"}, "database": {"type": "string"}}},
}
# Bodies that are not a single pydantic model of ours, described next to the models that read them.
BODY_SCHEMAS: dict[str, dict] = {
    "GeoJsonLineString": {
        "type": "object", "required": ["type", "coordinates"],
        "description": "a GeoJSON LineString, or a Feature holding one; coordinates are [lon, lat]",
        "properties": {"type": {"enum": ["LineString", "Feature"]},
                       "coordinates": {"type": "array", "items": {"type": "array", "minItems": 2,
                                                                  "items": {"type": "number"}}},
                       "geometry": {"type": "object"}}},
    "OsmAndJson": {
        "type": "object", "required": ["device_id", "location"],
        "description": "Traccar Client 9+: speed in m/s, battery level 0 to 1",
        "properties": {"device_id": {"type": "string", "description": "the device token"},
                       "location": {"oneOf": [{"$ref": REF.format(model="OsmAndLocation")},
                                              {"type": "array", "maxItems": MAX_POSITIONS,
                                               "items": {"$ref": REF.format(model="OsmAndLocation")}}]}}},
    "OwnTracksMessage": {
        "type": "object", "required": ["_type"],
        "description": "an OwnTracks message; only `location` (OwnTracksLocation) carries a position, "
                       "other types are accepted and ignored, `encrypted` is refused",
        "properties": {"_type": {"type": "string"}},
        "if": {"properties": {"_type": {"const": "location"}}},
        "then": {"$ref": REF.format(model="OwnTracksLocation")}},
}


def _path(rule: str) -> tuple[str, list[dict]]:
    """Turn a werkzeug rule into an OpenAPI path and its path parameters."""
    params = []

    def repl(match: re.Match) -> str:
        converter, name = match.group(1) or "string", match.group(2)
        schema = ({"type": "integer", "minimum": 0, "maximum": MAX_ROW_ID} if converter == "int"
                  else {"type": "string"})
        params.append({"name": name, "in": "path", "required": True, "schema": schema})
        return "{" + name + "}"

    return re.sub(r"<(?:(\w+):)?(\w+)>", repl, rule), params


def _add_model(schemas: dict[str, dict], model: type[BaseModel], name: str | None = None) -> dict:
    """Put a model's JSON schema (and its nested models) in the components; return its $ref."""
    name = name or model.__name__
    schema = model.model_json_schema(ref_template=REF)
    for sub_name, sub in schema.pop("$defs", {}).items():
        if schemas.setdefault(sub_name, sub) != sub:
            raise ValueError(f"two different request models are both called {sub_name}")
    schemas[name] = schema
    return {"$ref": REF.format(model=name)}


def _responses(statuses: dict[int, str | dict]) -> dict:
    """Return an operation's responses: its own bodies and the shared error responses."""
    out: dict[str, Any] = {}
    for status, body in statuses.items():
        if status in ERRORS:
            out[str(status)] = {"$ref": f"#/components/responses/{ERRORS[status][0]}"}
        elif body == "":
            out[str(status)] = {"description": "no body"}
        elif isinstance(body, str) and "/" in body:  # media types of a file, comma-separated
            out[str(status)] = {"description": "a file", "content": {
                media: {"schema": {"type": "object" if media.endswith("json") else "string"}}
                for media in body.split(",")}}
        else:
            schema = {"$ref": REF.format(model=body)} if isinstance(body, str) else body
            out[str(status)] = {"description": "OK", "content": {"application/json": {"schema": schema}}}
    return out


# Re-planning, the board and standing orders (issue #14).
OPERATIONS.update({
    ("plan_api.patch_trip", "patch"): Operation(
        "trips", {200: "Trip", 400: "", 401: "", 403: "", 404: "", 409: ""}, model=TripPatch),
    ("plan_api.duplicate", "post"): Operation(
        "trips", {201: "Trip", 400: "", 401: "", 403: "", 404: ""}, model=TripDuplicate, body_required=False),
    ("plan_api.escorts", "get"): Operation(
        "trips", {200: _ARRAY, 400: "", 401: "", 403: ""},
        query=(_str_query("start", "when the trip starts, ISO-8601 with a zone (required)"),
               _str_query("end", "when it ends; 90 minutes after start by default"),
               _id_query("except_trip", "a trip whose own escort counts as free (editing it)"))),
    ("plan_api.create_standing_order", "post"): Operation(
        "standing orders", {201: _OBJECT, 400: "", 401: "", 403: ""}, model=StandingOrderCreate),
    ("plan_api.list_standing_orders", "get"): Operation(
        "standing orders", {200: _ARRAY, 400: "", 401: "", 403: ""},
        query=(_str_query("active", "0: the ended orders too", enum=["1", "0", "true", "false"]),)),
    ("plan_api.get_standing_order", "get"): Operation("standing orders", {200: _OBJECT, 401: "", 403: "", 404: ""}),
    ("plan_api.end_standing_order", "delete"): Operation(
        "standing orders", {200: _OBJECT, 401: "", 403: "", 404: "", 409: ""}),
    ("plan_api.skip_standing_date", "post"): Operation(
        "standing orders", {200: _OBJECT, 400: "", 401: "", 403: "", 404: "", 409: ""}, model=StandingOrderSkip),
})

# Responders' live links for one alert (issue #16); /live/<token> itself is a page, not the API.
OPERATIONS.update({
    ("live_api.create_link", "post"): Operation(
        "alerts", {201: _OBJECT, 401: "", 403: "", 404: "", 409: ""}, body_required=False),
    ("live_api.list_links", "get"): Operation("alerts", {200: _ARRAY, 401: "", 403: "", 404: ""}),
    ("live_api.revoke_link", "post"): Operation(
        "alerts", {200: _OBJECT, 401: "", 403: "", 404: "", 409: ""}, body_required=False),
})


# Places escorts report from the tablet, reviewed by dispatch (issue #16).
OPERATIONS.update({
    ("place_reports_api.report_place", "post"): Operation(
        "flagged places", {201: _OBJECT, 400: "", 401: "", 403: "", 404: "", 409: ""}, model=PlaceReportIn),
    ("place_reports_api.list_reports", "get"): Operation(
        "flagged places", {200: _ARRAY, 400: "", 401: "", 403: ""},
        query=(_str_query("status", "reported (the default), published, declined or all",
                          enum=["reported", "published", "declined", "all"]),)),
    ("place_reports_api.my_reports", "get"): Operation("flagged places", {200: _ARRAY, 401: "", 403: ""}),
    ("place_reports_api.publish_place", "post"): Operation(
        "flagged places", {200: _OBJECT, 401: "", 403: "", 404: "", 409: ""}),
    ("place_reports_api.decline_place", "post"): Operation(
        "flagged places", {200: _OBJECT, 400: "", 401: "", 403: "", 404: "", 409: ""}, model=PlaceDecline),
})


def build(app: Flask) -> dict:
    """Return the OpenAPI 3.1 document of every rule that has an entry in OPERATIONS."""
    schemas: dict[str, dict] = {**RESPONSE_SCHEMAS, **BODY_SCHEMAS}
    _add_model(schemas, FixIn)
    _add_model(schemas, OsmAndLocation, "OsmAndLocation")
    _add_model(schemas, OwnTracksLocation, "OwnTracksLocation")
    paths: dict[str, dict] = {}
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            op = OPERATIONS.get((rule.endpoint, method.lower()))
            if op is None:
                continue
            path, params = _path(rule.rule)
            for param in params:
                param["schema"] = op.path.get(param["name"], param["schema"])
            doc = (app.view_functions[rule.endpoint].__doc__ or "").strip()
            entry: dict[str, Any] = {
                "operationId": f"{rule.endpoint.replace('.', '_')}_{method.lower()}",
                "summary": doc.splitlines()[0] if doc else rule.endpoint,
                "tags": [op.tag], "security": op.security,
                "responses": _responses(op.responses),
            }
            if params or op.query:
                entry["parameters"] = params + list(op.query)
            if op.model is not None:
                ref = _add_model(schemas, op.model)
                entry["requestBody"] = {"required": op.body_required, "content": {"application/json": {"schema": ref}}}
            elif op.body is not None:
                entry["requestBody"] = {"required": op.body_required,
                                        "content": {k: {"schema": v} for k, v in op.body.items()}}
            paths.setdefault(path, {})[method.lower()] = entry
    return {
        "openapi": "3.1.0",
        "info": {"title": "Escort Dispatch", "version": "1",
                 "description": "Trips, alerts, hazard zones and patients for dispatchers (JSON); fixes from "
                                "devices (JSON, OsmAnd, OwnTracks). Errors are {\"error\": \"…\"} with a 4xx "
                                "status. A browser session must send X-CSRFToken on changes."},
        "paths": paths,
        "components": {
            "schemas": dict(sorted(schemas.items())),
            "responses": {name: {"description": text, "content": {"application/json": {
                "schema": {"$ref": REF.format(model="Error")}}}} for name, text in ERRORS.values()},
            "securitySchemes": {
                "apiToken": {"type": "http", "scheme": "bearer",
                             "description": "a user's API token (`escort tokens create NAME`)"},
                "session": {"type": "apiKey", "in": "cookie", "name": "session",
                            "description": "the browser's login session; changes need the X-CSRFToken header"},
                "deviceToken": {"type": "http", "scheme": "bearer",
                                "description": "a device token (`escort devices create LABEL`)"},
                "osmandId": {"type": "apiKey", "in": "query", "name": "id",
                             "description": "the device token as OsmAnd's device identifier"},
                "deviceBasic": {"type": "http", "scheme": "basic",
                                "description": "user: the device label; password: the device token"},
            },
        },
    }


@bp.get("/api/openapi.json")
def openapi_json():
    """Serve the OpenAPI document of this API."""
    doc = current_app.extensions.get("openapi")
    if doc is None:
        doc = current_app.extensions["openapi"] = build(current_app)
    return jsonify(doc)
