"""The demo's cast and three trips on real London streets (typed as coordinates, (lat, lon))."""

from __future__ import annotations

from tracking.simulator import Detour, Scenario, Stop

DEMO_PASSWORD = "demo-pass"  # demo only: `escort demo` seeds these accounts on a local database

USERS = [
    {"username": "dispatch", "role": "dispatcher"},
    {"username": "alice", "role": "escort"},
    {"username": "bob", "role": "escort"},
    {"username": "carol", "role": "escort"},
    {"username": "coord", "role": "coordinator"},
    {"username": "admin", "role": "admin"},
]

PATIENTS = [
    {"name": "Margaret Ellis", "date_of_birth": "1937-06-14", "member_id": "DEMO-1001", "language": "English",
     "mobility": "wheelchair", "assistance": "door_through_door", "stairs_count": 3,
     "conditions": ["Alzheimer's disease"], "allergies": ["penicillin"],
     "cognitive": {"orientation": "Knows her name; not the day or the place", "wandering_risk": "high",
                   "fall_risk": "medium",
                   "guidance": "Introduce yourself each time she looks unsure. Keep her hand on the rail; "
                               "never leave her alone at the clinic door."},
     "contacts": [{"name": "Tom Ellis", "phone": "+44 20 7946 0101", "relation": "son", "role": "emergency"},
                  {"name": "Dr Amara Okafor", "phone": "+44 20 7946 0201", "role": "physician"}],
     "medications": [{"name": "Donepezil", "dose": "10 mg", "times": ["08:00"]}],
     "escort_notes": "Likes to talk about her garden; it calms her.",
     "dispatcher_notes": "Son holds lasting power of attorney; call him, not the neighbour."},
    {"name": "Harold Jenkins", "date_of_birth": "1944-02-03", "member_id": "DEMO-1002", "language": "English",
     "mobility": "ambulatory", "assistance": "door_to_door",
     "equipment": [{"name": "oxygen", "oxygen_flow_lpm": 2}], "conditions": ["COPD"],
     "infection_control": "none known",
     "cognitive": {"orientation": "Fully oriented", "fall_risk": "high",
                   "guidance": "Walks slowly and short of breath: stop when he asks, check the oxygen flow."},
     "advance_directive": {"dnr": True, "document_location": "in the blue folder in his bag"},
     "contacts": [{"name": "Rita Jenkins", "phone": "+44 20 7946 0102", "relation": "wife", "role": "emergency"}],
     "medications": [{"name": "Salbutamol inhaler", "dose": "2 puffs", "times": ["09:00", "13:00", "17:00"]}]},
    {"name": "Priya Shah", "date_of_birth": "1952-11-30", "member_id": "DEMO-1003", "language": "Gujarati",
     "interpreter_needed": True, "mobility": "ambulatory", "assistance": "curb_to_curb",
     "conditions": ["severe anxiety"],
     "cognitive": {"orientation": "Fully oriented", "wandering_risk": "low", "fall_risk": "low",
                   "guidance": "Crowds and sirens frighten her: tell her what happens next, before it happens."},
     "contacts": [{"name": "Anil Shah", "phone": "+44 20 7946 0103", "relation": "brother", "role": "emergency"}]},
]

# Brixton Road north to Oval, Kennington Park Road and Kennington Road, Westminster Bridge
# Road to St Thomas' Hospital.
BRIXTON_TO_ST_THOMAS = (
    (51.4627, -0.1145), (51.4650, -0.1141), (51.4675, -0.1137), (51.4700, -0.1132), (51.4725, -0.1130),
    (51.4750, -0.1129), (51.4775, -0.1128), (51.4800, -0.1127), (51.4819, -0.1127), (51.4832, -0.1113),
    (51.4845, -0.1100), (51.4858, -0.1101), (51.4869, -0.1103), (51.4890, -0.1106), (51.4910, -0.1108),
    (51.4930, -0.1111), (51.4950, -0.1113), (51.4970, -0.1116), (51.4988, -0.1118), (51.4987, -0.1135),
    (51.4986, -0.1150), (51.4985, -0.1165), (51.4985, -0.1178),
)
# Chalk Farm Road and Camden High Street, Hampstead Road to University College Hospital.
CAMDEN_TO_UCH = (
    (51.5440, -0.1500), (51.5428, -0.1483), (51.5416, -0.1466), (51.5404, -0.1449), (51.5392, -0.1426),
    (51.5380, -0.1418), (51.5368, -0.1410), (51.5355, -0.1400), (51.5343, -0.1387), (51.5330, -0.1383),
    (51.5316, -0.1378), (51.5303, -0.1374), (51.5290, -0.1370), (51.5278, -0.1368), (51.5266, -0.1366),
    (51.5256, -0.1365), (51.5251, -0.1361), (51.5246, -0.1357),
)
# Holloway Road from Highbury Corner, Upper Street to Angel, City Road to Moorfields Eye Hospital.
HIGHBURY_TO_MOORFIELDS = (
    (51.5463, -0.1036), (51.5450, -0.1040), (51.5436, -0.1044), (51.5422, -0.1048), (51.5408, -0.1051),
    (51.5394, -0.1053), (51.5380, -0.1055), (51.5365, -0.1057), (51.5350, -0.1058), (51.5336, -0.1058),
    (51.5322, -0.1058), (51.5316, -0.1042), (51.5310, -0.1025), (51.5305, -0.1008), (51.5300, -0.1000),
    (51.5295, -0.0980), (51.5290, -0.0960), (51.5285, -0.0940), (51.5281, -0.0920), (51.5278, -0.0903),
    (51.5275, -0.0887),
)


def _place(point: tuple[float, float], radius_m: float = 60.0) -> dict:
    """Return a geofence dict at a route end."""
    return {"lat": point[0], "lon": point[1], "radius_m": radius_m}


TRIPS = [
    {   # an ordinary drive with a red light on Kennington Road
        "patient_index": 0, "escort": "alice",
        "pickup": _place(BRIXTON_TO_ST_THOMAS[0]), "dropoff": _place(BRIXTON_TO_ST_THOMAS[-1]),
        "route": BRIXTON_TO_ST_THOMAS, "settings": {"stop_after_s": 90},
        "scenario": Scenario(route=BRIXTON_TO_ST_THOMAS, speed_mps=9.0, traffic_lights=(Stop(2600.0, 45.0),)),
    },
    {   # leaves the route about 40 s in, ~350 m to the side for about two minutes
        "patient_index": 1, "escort": "bob",
        "pickup": _place(CAMDEN_TO_UCH[0]), "dropoff": _place(CAMDEN_TO_UCH[-1]),
        "route": CAMDEN_TO_UCH, "settings": {"stop_after_s": 90},
        "scenario": Scenario(route=CAMDEN_TO_UCH, speed_mps=9.0, detour=Detour(350.0, 1100.0, 350.0)),
    },
    {   # stops unexpectedly about 20 s in, for four minutes, away from pickup and drop-off
        "patient_index": 2, "escort": "carol",
        "pickup": _place(HIGHBURY_TO_MOORFIELDS[0]), "dropoff": _place(HIGHBURY_TO_MOORFIELDS[-1]),
        "route": HIGHBURY_TO_MOORFIELDS, "settings": {"stop_after_s": 90},
        "scenario": Scenario(route=HIGHBURY_TO_MOORFIELDS, speed_mps=9.0, stops=(Stop(200.0, 240.0),)),
    },
]
