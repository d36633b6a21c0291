"""An address index over an extract: search by street, house number and city; reverse to the nearest."""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections import defaultdict

import numpy as np

from places.geocoding import Place
from places.osm import Address
from places.roads import Projection

STREET_MATCH_MIN = 0.8  # difflib ratio for a misspelt street ("Mannerheimintie" as "Manerheimintie")
REVERSE_LIMIT_M = 100.0


def fold(text: str) -> str:
    """Return text without case, diacritics or punctuation, spaces collapsed ("Töölönkatu 5 A" → "toolonkatu 5 a")."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(re.sub(r"[^\w]+", " ", plain).split())


def _number_key(housenumber: str) -> str:
    """Return a house number folded and without spaces ("5 A" and "5a" are one)."""
    return fold(housenumber).replace(" ", "")


def label(address: Address) -> str:
    """Return an address in words, as a Finnish letter writes it: "Kaivokatu 1, 00100 Helsinki"."""
    town = " ".join(p for p in (address.postcode, address.city) if p)
    head = f"{address.street} {address.housenumber}"
    return ", ".join(p for p in (address.name, head, town) if p)


class AddressIndex:
    """Forward and reverse geocoding over the addresses of one extract."""

    def __init__(self, addresses: list[Address], projection: Projection) -> None:
        self.addresses = addresses
        self.projection = projection
        self._by_street: dict[str, list[Address]] = defaultdict(list)
        for address in addresses:
            self._by_street[fold(address.street)].append(address)
        self._cities = {fold(a.city) for a in addresses if a.city}
        self._x, self._y = projection.xy(np.array([a.lat for a in addresses]), np.array([a.lon for a in addresses]))

    def search(self, query: str, *, limit: int = 5) -> list[Place]:
        """Return the addresses matching "street number[, city]", best first."""
        words = fold(query).split()
        numbers = {_number_key(w) for w in words if w[0].isdigit() and len(w) < 5}
        # "5 a": a letter alone after a number belongs to it.
        numbers |= {_number_key(a + b) for a, b in zip(words, words[1:]) if a[0].isdigit() and len(b) == 1}
        text = [w for w in words if not w[0].isdigit() and len(w) > 1]
        cities = {w for w in text if w in self._cities}
        scored: list[tuple[float, str, Address]] = []
        for score, street in self._streets(text):
            for address in self._by_street[street]:
                if cities and fold(address.city) not in cities:
                    continue
                key = _number_key(address.housenumber)
                if numbers and key not in numbers:
                    if not any(key.rstrip("abcdefghijklmnopqrstuvwxyz") == n for n in numbers):
                        continue
                    score_here = score - 0.1  # "5" asked, "5 B" found
                else:
                    score_here = score
                scored.append((score_here, key, address))
        # Best match first; the plain address before the shops and offices that share it.
        scored.sort(key=lambda s: (-s[0], _natural(s[1]), bool(s[2].name)))
        seen, out = set(), []
        for _, _, address in scored:
            place = Place(label(address), round(address.lat, 7), round(address.lon, 7))
            if place.label not in seen:
                seen.add(place.label)
                out.append(place)
            if len(out) == limit:
                break
        return out

    def _streets(self, text: list[str]) -> list[tuple[float, str]]:
        """Return the known streets named in the words, with how well (1.0: exactly), best first."""
        joined = " ".join(text)
        found = []
        for street in self._by_street:
            if not street:
                continue
            if f" {street} " in f" {joined} ":
                found.append((1.0, street))
                continue
            n = len(street.split())
            grams = [" ".join(text[i:i + n]) for i in range(len(text) - n + 1)]
            ratio = max((difflib.SequenceMatcher(None, street, g).ratio() for g in grams), default=0.0)
            if ratio >= STREET_MATCH_MIN:
                found.append((ratio, street))
        exact = [f for f in found if f[0] == 1.0]
        return exact or sorted(found, reverse=True)  # a street named exactly hides its look-alikes

    def reverse(self, lat: float, lon: float) -> Place | None:
        """Return the nearest address within 100 m of a position, or None."""
        if not self.addresses:
            return None
        px, py = self.projection.xy(lat, lon)
        dist = np.hypot(self._x - px, self._y - py)
        i = int(np.argmin(dist))
        if dist[i] > REVERSE_LIMIT_M:
            return None
        address = self.addresses[i]
        return Place(label(address), round(address.lat, 7), round(address.lon, 7))


def _natural(housenumber: str) -> tuple[int, str]:
    """Return a sort key putting house number 2 before 10."""
    digits = re.match(r"\d*", housenumber).group()
    return (int(digits) if digits else 0, housenumber)
