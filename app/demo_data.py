"""The demo's cast and three trips between typed addresses in central Helsinki."""

from __future__ import annotations

from tracking.simulator import Detour, Stop

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

# The three trips are typed addresses in central Helsinki, the OpenStreetMap extract the embedded
# places engine ships with (ODbL): `escort demo` geocodes them with the embedded address index
# and drives the routes the embedded router computes. Each scenario names what happens on the way.
TRIPS = [
    {   # an ordinary drive, Hakaniemi to the Design District, with a red light on the way
        "patient_index": 0, "escort": "alice",
        "pickup": "Siltasaarenkatu 12, Helsinki", "dropoff": "Iso Roobertinkatu 9, Helsinki",
        "settings": {"stop_after_s": 90},
        "scenario": {"speed_mps": 9.0, "traffic_lights": (Stop(1500.0, 45.0),)},
    },
    {   # leaves the route about 40 s in, ~350 m to the side for about two minutes
        "patient_index": 1, "escort": "bob",
        "pickup": "Paasivuorenkatu 5, Helsinki", "dropoff": "Bulevardi 15, Helsinki",
        "settings": {"stop_after_s": 90},
        "scenario": {"speed_mps": 9.0, "detour": Detour(350.0, 1100.0, 350.0)},
    },
    {   # stops unexpectedly about 20 s in, for four minutes, away from pickup and drop-off
        "patient_index": 2, "escort": "carol",
        "pickup": "Unioninkatu 5, Helsinki", "dropoff": "Paasivuorenkatu 3, Helsinki",
        "settings": {"stop_after_s": 90},
        "scenario": {"speed_mps": 9.0, "stops": (Stop(200.0, 240.0),)},
    },
]
