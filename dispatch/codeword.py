"""The escort's code phrase: stored hashed like the PINs, found in a message whatever its case and spacing."""

from __future__ import annotations

import re

from app.auth import check_secret, hash_secret

# Letters and digits the phrase holds once case, spaces and punctuation are gone.
MIN_CHARS, MAX_CHARS = 6, 60
# A message is looked at word by word: its first words only, each check being a slow hash.
MAX_WORDS_CHECKED = 120
_WORD = re.compile(r"\w+")


class CodePhraseError(ValueError):
    """A code phrase that cannot be used; the message says why."""


def normalise(text: str) -> str:
    """Return the letters and digits of ``text``, case-folded (spaces and punctuation dropped)."""
    return "".join(_WORD.findall(text.casefold())).replace("_", "")


def check_new(phrase, quick_replies: tuple[str, ...] = ()) -> str:
    """Return the phrase as stored before hashing, or raise CodePhraseError."""
    if not isinstance(phrase, str):
        raise CodePhraseError("the code phrase must be text")
    core = normalise(phrase)
    if not MIN_CHARS <= len(core) <= MAX_CHARS:
        raise CodePhraseError(f"the code phrase needs {MIN_CHARS} to {MAX_CHARS} letters or digits")
    if any(core in normalise(reply) for reply in quick_replies):
        raise CodePhraseError("the code phrase must not be part of a quick reply: pick words you would not send by chance")
    return core


def stored_form(phrase, quick_replies: tuple[str, ...] = ()) -> str:
    """Return what the user row keeps of a new code phrase: its length and its scrypt hash."""
    core = check_new(phrase, quick_replies)
    return f"{len(core)}:{hash_secret(core)}"


def candidates(text: str, length: int) -> set[str]:
    """Return the runs of whole words in ``text`` whose letters and digits number exactly ``length``."""
    words = [normalise(w) for w in _WORD.findall(text.casefold())[:MAX_WORDS_CHECKED]]
    words = [w for w in words if w]
    found = set()
    for start in range(len(words)):
        run = ""
        for word in words[start:]:
            run += word
            if len(run) >= length:
                break
        if len(run) == length:
            found.add(run)
    return found


def contains(stored: str | None, text: str) -> bool:
    """Say whether ``text`` holds the code phrase kept as ``stored`` (case, spaces and punctuation aside)."""
    if not stored or ":" not in stored:
        return False
    length, hashed = stored.split(":", 1)
    if not length.isdigit():
        return False
    return any(check_secret(hashed, run) for run in candidates(text, int(length)))
