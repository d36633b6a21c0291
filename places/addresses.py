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
COUNTRY_WORDS = frozenset({"finland", "suomi", "fi"})


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
        self._x, self._y = projection.xy(np.array([a.lat for a in addresses]), np.array([a.lon for a in addresses]))

    def search(self, query: str, *, limit: int = 5) -> list[Place]:
        """Return the addresses matching "street number[, city]", best first."""
        words = fold(query).split()
        numbers = _house_numbers(words)
        text = [w for w in words if not w[0].isdigit() and len(w) > 1]
        scored: list[tuple[float, str, Address]] = []
        for score, street, used in self._streets(text):
            rest = [w for w in text if w not in used and w not in COUNTRY_WORDS]
            for address in self._by_street[street]:
                # Words beyond the street must be its city or its name: "Kaivokatu 1, Turku" is not in Helsinki.
                if not all(w in fold(f"{address.city} {address.name}").split() for w in rest):
                    continue
                key = _number_key(address.housenumber)
                if numbers and key not in numbers and not numbers & _range(address.housenumber):
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

    def _streets(self, text: list[str]) -> list[tuple[float, str, set[str]]]:
        """Return the known streets named in the words: (how well, 1.0 exactly; street; the words used)."""
        found = []
        for street in self._by_street:
            if not street:
                continue
            n = len(street.split())
            grams = [text[i:i + n] for i in range(len(text) - n + 1)]
            if street.split() in grams:
                found.append((1.0, street, set(street.split())))
                continue
            ratio, gram = max(((difflib.SequenceMatcher(None, street, " ".join(g)).ratio(), g) for g in grams),
                              default=(0.0, []))
            if ratio >= STREET_MATCH_MIN:
                found.append((ratio, street, set(gram)))
        exact = [f for f in found if f[0] == 1.0]
        # A street named exactly hides its look-alikes.
        return exact or sorted(found, key=lambda f: -f[0])

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


def _house_numbers(words: list[str]) -> set[str]:
    """Return the house numbers in folded words: "5", "5a", and "5 a" (a letter alone after a number is its own)."""
    found = set()
    for i, word in enumerate(words):
        if word[0].isdigit() and len(word) < 5:  # five digits are a postcode
            letter = words[i + 1] if i + 1 < len(words) and len(words[i + 1]) == 1 else ""
            found.add(_number_key(word + letter))
    return found


def _range(housenumber: str) -> set[str]:
    """Return the numbers a range like "19-21" covers (a building on a corner), else nothing."""
    match = re.fullmatch(r"\s*(\d+)\s*[-–]\s*(\d+)\s*", housenumber)
    if not match or int(match[2]) - int(match[1]) > 20:
        return set()
    return {str(n) for n in range(int(match[1]), int(match[2]) + 1)}


def _natural(housenumber: str) -> tuple[int, str]:
    """Return a sort key putting house number 2 before 10."""
    digits = re.match(r"\d*", housenumber).group()
    return (int(digits) if digits else 0, housenumber)
