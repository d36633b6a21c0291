"""The OpenAPI document: valid 3.1, complete over the API's rules, built from the request models."""

from __future__ import annotations

import schemathesis

from app.openapi import OPERATIONS, REF
from app.openapi import _path as openapi_path
from dispatch.schemas import TripCreate
from tracking.schemas import FixIn

# Rules the document must cover: the JSON API and the device protocols.
DOCUMENTED_PREFIXES = ("/api/", "/osmand", "/owntracks")


def _rules(app) -> set[tuple[str, str, str]]:
    """Return (path rule, endpoint, method) of every rule the document must describe."""
    return {(rule.rule, rule.endpoint, method.lower())
            for rule in app.url_map.iter_rules() if rule.rule.startswith(DOCUMENTED_PREFIXES)
            for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}}


def test_the_document_is_served_and_is_valid_openapi_3_1(client):
    resp = client.get("/api/openapi.json")
    assert resp.status_code == 200 and resp.mimetype == "application/json"
    doc = resp.json
    assert doc["openapi"] == "3.1.0"
    schema = schemathesis.openapi.from_dict(doc)
    schema.validate()  # raises on a document that breaks the OpenAPI 3.1 meta-schema
    assert sum(1 for _ in schema.get_all_operations()) == len(OPERATIONS)


def test_every_api_rule_has_an_operation_and_every_operation_a_rule(app):
    """A new endpoint without an entry in app.openapi.OPERATIONS fails here, and so does a stale entry."""
    rules = _rules(app)
    undocumented = sorted(f"{method.upper()} {path} ({endpoint})" for path, endpoint, method in rules
                          if (endpoint, method) not in OPERATIONS)
    assert not undocumented, f"add these to app.openapi.OPERATIONS: {undocumented}"
    existing = {(endpoint, method) for _, endpoint, method in rules} | {
        (rule.endpoint, m.lower()) for rule in app.url_map.iter_rules() for m in rule.methods or ()}
    stale = sorted(f"{endpoint} {method}" for endpoint, method in OPERATIONS if (endpoint, method) not in existing)
    assert not stale, f"no rule for these OPERATIONS entries: {stale}"


def test_every_rule_appears_in_the_document_with_its_path_parameters(client, app):
    paths = client.get("/api/openapi.json").json["paths"]
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith(DOCUMENTED_PREFIXES):
            continue
        path, _ = openapi_path(rule.rule)
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}:
            op = paths[path][method.lower()]
            declared = {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}
            assert declared == set(rule.arguments), f"{method} {path}"


def test_request_bodies_are_the_models_own_schemas(client):
    doc = client.get("/api/openapi.json").json
    body = doc["paths"]["/api/v1/trips"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": REF.format(model="TripCreate")}
    own = TripCreate.model_json_schema(ref_template=REF)
    defs = own.pop("$defs")
    assert doc["components"]["schemas"]["TripCreate"] == own
    assert doc["components"]["schemas"]["Place"] == defs["Place"]
    fixes = doc["paths"]["/api/v1/fixes"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert fixes["type"] == "array" and fixes["items"] == {"$ref": REF.format(model="FixIn")}
    assert doc["components"]["schemas"]["FixIn"] == FixIn.model_json_schema(ref_template=REF)


def test_security_schemes_say_how_each_caller_authenticates(client):
    doc = client.get("/api/openapi.json").json
    schemes = doc["components"]["securitySchemes"]
    assert schemes["apiToken"] == {**schemes["apiToken"], "type": "http", "scheme": "bearer"}
    assert schemes["deviceBasic"]["scheme"] == "basic"
    assert schemes["osmandId"] == {**schemes["osmandId"], "type": "apiKey", "in": "query", "name": "id"}
    paths = doc["paths"]
    assert paths["/api/v1/trips"]["post"]["security"] == [{"apiToken": []}, {"session": []}]
    assert paths["/api/v1/fixes"]["post"]["security"] == [{"deviceToken": []}]
    assert paths["/owntracks"]["post"]["security"] == [{"deviceBasic": []}]
    assert paths["/osmand"]["get"]["security"] == [{"osmandId": []}]
    assert paths["/healthz"]["get"]["security"] == []


def test_secured_operations_document_their_error_responses(client):
    doc = client.get("/api/openapi.json").json
    for path, methods in doc["paths"].items():
        for method, op in methods.items():
            if op["security"] and path != "/osmand":
                assert "401" in op["responses"], f"{method} {path}"
            for status, response in op["responses"].items():
                if status.startswith("4"):
                    assert response["$ref"].startswith("#/components/responses/"), f"{method} {path} {status}"
    error = doc["components"]["schemas"]["Error"]
    assert error["required"] == ["error"]


def test_the_documented_errors_are_what_the_api_answers(client, world):
    """Spot checks that the document and the views agree, without the fuzzer."""
    resp = client.get("/api/v1/trips/1")
    assert resp.status_code == 401 and set(resp.json) == {"error"}
    resp = client.get("/api/v1/trips/2147483647", headers=world.bearer("dan"))
    assert resp.status_code == 404 and "error" in resp.json
    resp = client.get("/api/v1/alerts", query_string={"trip_id": "x"}, headers=world.bearer("dan"))
    assert resp.status_code == 400 and "trip_id" in resp.json["error"]
