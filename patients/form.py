"""The patient sheet as an HTML form: flat form fields to the API's body and back, errors per field.

The form is validated by the API's own models (``PatientCreate``): this module only turns
flat, typed-in strings into the body those models take, and their errors into messages
placed at the form field they concern. No rule about a patient lives here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from pydantic import ValidationError
from werkzeug.datastructures import MultiDict

from patients.schemas import PatientCreate

# Repeating groups: their fields in form order, and the most rows the model accepts.
GROUPS = {
    "contacts": ("name", "phone", "relation", "role"),
    "medications": ("name", "dose", "times", "every_hours", "last_dose_at"),
    "equipment": ("name", "oxygen_flow_lpm"),
}
MAX_ROWS = {name: PatientCreate.model_fields[name].metadata[0].max_length for name in GROUPS}
TEXT_FIELDS = ("name", "date_of_birth", "member_id", "language", "home_address", "stairs_count",
               "infection_control", "escort_notes", "dispatcher_notes", "coordinator")
CHOICE_FIELDS = ("mobility", "assistance")
LINE_LISTS = ("conditions", "allergies")  # one item a line
COGNITIVE = ("orientation", "wandering_risk", "fall_risk", "guidance")
CHECKBOXES = ("interpreter_needed", "advance_directive-dnr")
HOME = ("home-lat", "home-lon")  # hidden fields the address search fills with the chosen place
HOME_FIELD = "home-search"  # where errors about the home's position are shown: the search box
# The page's sections in order; a group's name stands for its rows.
PAGE_ORDER = ("name", "date_of_birth", "member_id", "language", "interpreter_needed", "home_address", HOME_FIELD,
              "coordinator",
              "mobility", "assistance", "stairs_count", "equipment", "conditions", "allergies", "infection_control",
              "medications", "cognitive-orientation", "cognitive-wandering_risk", "cognitive-fall_risk",
              "cognitive-guidance", "advance_directive-dnr", "advance_directive-document_location", "contacts",
              "escort_notes", "dispatcher_notes")

# Labels as the form shows them: errors start with them.
LABELS = {
    "name": "Name", "date_of_birth": "Date of birth", "member_id": "Member ID", "language": "Language",
    "interpreter_needed": "Interpreter needed", "home_address": "Home address",
    HOME_FIELD: "Home on the map", "mobility": "Mobility",
    "assistance": "Assistance", "stairs_count": "Stairs at home", "conditions": "Conditions",
    "allergies": "Allergies", "infection_control": "Infection control",
    "cognitive-orientation": "Orientation", "cognitive-wandering_risk": "Wandering risk",
    "cognitive-fall_risk": "Fall risk", "cognitive-guidance": "How to help",
    "advance_directive-dnr": "Do not resuscitate (DNR)", "advance_directive-document_location": "Where the signed DNR form is",
    "escort_notes": "Notes for the escort", "dispatcher_notes": "Notes for dispatch only", "coordinator": "Care coordinator",
    "contacts-name": "name", "contacts-phone": "phone", "contacts-relation": "relation", "contacts-role": "role",
    "medications-name": "name", "medications-dose": "dose", "medications-times": "times of day",
    "medications-every_hours": "every (hours)", "medications-last_dose_at": "last dose",
    "equipment-name": "name", "equipment-oxygen_flow_lpm": "oxygen flow (l/min)",
}
GROUP_LABELS = {"contacts": "Contact", "medications": "Medication", "equipment": "Equipment"}

# The models' own messages from whole-object checks, said in the form's words and placed at a field.
OBJECT_ERRORS = {
    ("medications", "give times of day or every_hours"):
        ("times", "needs times of day, or every (hours) with the last dose"),
    ("medications", "every_hours needs last_dose_at to count from"):
        ("last_dose_at", "needs the last dose to count every (hours) from"),
    ("advance_directive", "a DNR needs document_location (where the signed form travels)"):
        ("document_location", "needs where the signed DNR form travels"),
}
OBJECT_LABELS = {"cognitive": "Cognition", "advance_directive": "Advance directive"}
# pydantic's messages that name Python types, in plain words.
PLAIN = {
    "missing": "is required", "string_too_short": "is required",
    "date_from_datetime_parsing": "must be a real date written as year-month-day, e.g. 1938-04-02",
    "date_parsing": "must be a real date written as year-month-day, e.g. 1938-04-02",
    "date_from_datetime_inexact": "must be a date without a time", "date_type": "must be a date",
    "datetime_parsing": "must be a date and time", "datetime_from_date_parsing": "must be a date and time",
    "int_parsing": "must be a whole number", "int_from_float": "must be a whole number",
    "float_parsing": "must be a number", "literal_error": "must be one of the choices",
    "string_too_long": "must be at most {max_length} characters",
    "greater_than_equal": "must be at least {ge}", "less_than_equal": "must be at most {le}",
    "greater_than": "must be more than {gt}", "too_long": "may have at most {max_length} entries",
}


@dataclass
class SheetForm:
    """What the form page shows: the typed-in values, the rows of each group, the errors by field id."""

    values: dict[str, str] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    focus: str | None = None  # the field to focus after "Add another"

    def summary(self) -> list[tuple[str, str]]:
        """Return (field id, message) in the page's order, for the error summary."""
        order = {name: i for i, name in enumerate(page_order(self.rows))}
        return sorted(self.errors.items(), key=lambda item: order.get(item[0], len(order)))


def page_order(rows: dict[str, int]) -> list[str]:
    """Return every field id in the order the page shows them."""
    out = []
    for name in PAGE_ORDER:
        if name in GROUPS:
            out.extend(f"{name}-{i}-{f}" for i in range(rows.get(name, 0)) for f in GROUPS[name])
        else:
            out.append(name)
    return out


def read_form(form: MultiDict) -> SheetForm:
    """Return the submitted form as typed, with the row counts it asked for."""
    values: dict[str, str] = {}
    for name in (*TEXT_FIELDS, *CHOICE_FIELDS, *LINE_LISTS):
        values[name] = form.get(name, "")
    for name in COGNITIVE:
        values[f"cognitive-{name}"] = form.get(f"cognitive-{name}", "")
    values["advance_directive-document_location"] = form.get("advance_directive-document_location", "")
    for name in CHECKBOXES:
        values[name] = "on" if form.get(name) else ""
    for name in HOME:
        values[name] = form.get(name, "").strip()
    rows = {}
    for group, fields in GROUPS.items():
        rows[group] = _row_count(form.get(f"{group}-rows", ""), group)
        for i in range(rows[group]):
            for name in fields:
                values[f"{group}-{i}-{name}"] = form.get(f"{group}-{i}-{name}", "")
    return SheetForm(values=values, rows=rows)


def _row_count(raw: str, group: str) -> int:
    """Return a row count from the form, kept between 1 and what the model accepts."""
    count = int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 4 else 1
    return max(1, min(count, MAX_ROWS[group]))


def add_row(form: SheetForm, group: str) -> SheetForm:
    """Give ``group`` one more (empty) row, and focus its first field."""
    if group in GROUPS and form.rows[group] < MAX_ROWS[group]:
        i = form.rows[group]
        form.rows[group] = i + 1
        for name in GROUPS[group]:
            form.values[f"{group}-{i}-{name}"] = ""
        form.focus = f"{group}-{i}-{GROUPS[group][0]}"
    return form


def validate(form: SheetForm, *, tz: str) -> PatientCreate | None:
    """Return the validated body of the whole sheet, or None with ``form.errors`` filled in."""
    data, places = _body(form, tz)
    try:
        return PatientCreate.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors(include_url=False, include_input=False):
            field_id, message = _place(err, places)
            form.errors.setdefault(field_id, message)
        return None


def _blank(row: dict) -> bool:
    """Say whether a row of a group was left empty (a role alone does not make a contact)."""
    return not any(v.strip() for k, v in row.items() if k != "role")


def _body(form: SheetForm, tz: str) -> tuple[dict, dict[str, list[int]]]:
    """Return the API body the form stands for, and for each group the form row of each item."""
    v = form.values

    def text(name: str) -> str | None:
        return v.get(name, "").strip() or None

    data: dict = {name: text(name) for name in TEXT_FIELDS}
    data["name"] = data["name"] or ""  # missing: the model says it is required
    data.update({name: v.get(name, "") for name in CHOICE_FIELDS})  # none chosen: the model says so
    data["interpreter_needed"] = bool(v.get("interpreter_needed"))
    for name in LINE_LISTS:
        data[name] = [line.strip() for line in v.get(name, "").splitlines() if line.strip()]
    cognitive = {name: text(f"cognitive-{name}") for name in COGNITIVE}
    data["cognitive"] = cognitive if any(cognitive.values()) else None
    dnr, where = bool(v.get("advance_directive-dnr")), text("advance_directive-document_location")
    data["advance_directive"] = {"dnr": dnr, "document_location": where} if dnr or where else None
    lat, lon = (v.get(name, "").strip() for name in HOME)
    data["home"] = {"lat": lat or None, "lon": lon or None} if lat or lon else None
    places: dict[str, list[int]] = {}
    for group, fields in GROUPS.items():
        items, places[group] = [], []
        for i in range(form.rows.get(group, 0)):
            row = {name: v.get(f"{group}-{i}-{name}", "") for name in fields}
            if not _blank(row):
                items.append(_item(group, row, tz))
                places[group].append(i)
        data[group] = items
    return data, places


def _item(group: str, row: dict, tz: str) -> dict:
    """Return one item of a group as the API takes it: blanks left out, times split, local time zoned."""
    item = {k: val.strip() for k, val in row.items() if val.strip()}
    if group == "medications":
        if "times" in item:
            item["times"] = [t for t in re.split(r"[\s,;]+", item["times"]) if t]
        if "last_dose_at" in item:
            item["last_dose_at"] = local_to_utc(item["last_dose_at"], tz)
    return item


def local_to_utc(raw: str, tz: str) -> str:
    """Return a local date and time (as a datetime-local field sends it) in UTC ISO-8601; bad input as is."""
    try:
        at = datetime.fromisoformat(raw)
    except ValueError:
        return raw  # the model refuses it, with its message
    if at.tzinfo is None:
        at = at.replace(tzinfo=ZoneInfo(tz))
    try:
        return at.astimezone(timezone.utc).isoformat()
    except OverflowError:
        return raw


def utc_to_local(iso: str | None, tz: str) -> str:
    """Return a stored UTC time as a datetime-local field's value in ``tz``."""
    if not iso:
        return ""
    return datetime.fromisoformat(iso).astimezone(ZoneInfo(tz)).strftime("%Y-%m-%dT%H:%M")


def _place(err: dict, places: dict[str, list[int]]) -> tuple[str, str]:
    """Return the form field an error of the model belongs to, and its message in the form's words."""
    loc = list(err["loc"])
    message = _plain(err)
    if loc and loc[0] in GROUPS and len(loc) >= 2 and isinstance(loc[1], int):
        group, row = loc[0], places[loc[0]][loc[1]]
        name = loc[2] if len(loc) > 2 else None
        label = f"{GROUP_LABELS[group]} {row + 1}"
        if name is None:  # a check of the whole item: said of the item, placed at the field it asks for
            name, message = OBJECT_ERRORS.get((group, message), (GROUPS[group][0], message))
        else:
            label = f"{label} {LABELS.get(f'{group}-{name}', name)}"
        return f"{group}-{row}-{name}", _sentence(label, message)
    if loc and loc[0] in ("cognitive", "advance_directive"):
        name = loc[1] if len(loc) > 1 and isinstance(loc[1], str) else None
        if name is not None:
            return f"{loc[0]}-{name}", _sentence(LABELS.get(f"{loc[0]}-{name}", name), message)
        first = "dnr" if loc[0] == "advance_directive" else "orientation"
        name, message = OBJECT_ERRORS.get((loc[0], message), (first, message))
        return f"{loc[0]}-{name}", _sentence(OBJECT_LABELS[loc[0]], message)
    if loc and loc[0] == "home":
        return HOME_FIELD, _sentence(LABELS[HOME_FIELD], "must be a place chosen from the search results")
    name = str(loc[0]) if loc else "name"
    if name in LINE_LISTS and len(loc) > 1 and isinstance(loc[1], int):
        message = f"line {loc[1] + 1} {message}"
    return name, _sentence(LABELS.get(name, name), message)


def sheet_error(form: SheetForm, message: str) -> None:
    """Place a refusal of ``patients.sheet.apply`` (it names its field first, or a coordinator) on the form."""
    first = message.split(" ", 1)[0]
    field_id = "coordinator" if "coordinator" in message else first if first in LABELS else "name"
    form.errors[field_id] = message


def _plain(err: dict) -> str:
    """Return the model's message for one error, in plain words where pydantic names types."""
    template = PLAIN.get(err["type"])
    if template:
        ctx = {k: int(n) if isinstance(n, float) and n.is_integer() else n for k, n in (err.get("ctx") or {}).items()}
        try:
            return template.format(**ctx)
        except (KeyError, IndexError):
            pass
    return err["msg"].removeprefix("Value error, ")


def _sentence(label: str, message: str) -> str:
    """Join a field's label and its problem into one sentence."""
    label = label[0].upper() + label[1:]
    if message.startswith(("must", "is ", "needs", "may ", "line ")):
        return f"{label} {message}"
    return f"{label}: {message}"


def from_sheet(shown: dict, *, tz: str) -> SheetForm:
    """Return the form for a stored sheet (``sheet.shown`` in the full view); an empty group gets one empty row."""
    values: dict[str, str] = {}
    for name in (*TEXT_FIELDS, *CHOICE_FIELDS):
        value = shown.get(name)
        values[name] = "" if value is None else str(value)
    for name in LINE_LISTS:
        values[name] = "\n".join(shown.get(name) or [])
    cognitive = shown.get("cognitive") or {}
    for name in COGNITIVE:
        values[f"cognitive-{name}"] = cognitive.get(name) or ""
    directive = shown.get("advance_directive") or {}
    values["advance_directive-document_location"] = directive.get("document_location") or ""
    values["interpreter_needed"] = "on" if shown.get("interpreter_needed") else ""
    values["advance_directive-dnr"] = "on" if directive.get("dnr") else ""
    home = shown.get("home") or {}
    values["home-lat"], values["home-lon"] = (str(home.get(k, "")) for k in ("lat", "lon"))
    rows = {}
    for group, fields in GROUPS.items():
        items = shown.get(group) or []
        rows[group] = max(len(items), 1)  # "Add another" adds a row; an empty group starts with one
        for i in range(rows[group]):
            item = items[i] if i < len(items) else {}
            for name in fields:
                values[f"{group}-{i}-{name}"] = _shown_value(name, item.get(name), tz)
    return SheetForm(values=values, rows=rows)


def _shown_value(name: str, value, tz: str) -> str:
    """Return one stored value of a group's item as the form shows it."""
    if value is None:
        return ""
    if name == "times":
        return ", ".join(value)
    if name == "last_dose_at":
        return utc_to_local(value, tz)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def empty_form() -> SheetForm:
    """Return the form for a new patient: one empty row per group."""
    form = from_sheet({}, tz="UTC")
    form.values["mobility"], form.values["assistance"] = "ambulatory", "door_to_door"
    return form
