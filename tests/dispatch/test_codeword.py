"""The code phrase, with no app: found whatever its case, spacing and punctuation, as whole words only."""

from __future__ import annotations

import pytest

from dispatch import codeword
from dispatch.line import QUICK_REPLIES


@pytest.fixture(scope="module")
def stored():
    return codeword.stored_form("Blue Heron", QUICK_REPLIES)


@pytest.mark.parametrize("text", ["blue heron", "We passed the BLUE   HERON.", "blue\nheron!", "blueheron now",
                                  "the Blue-Heron pub"])
def test_the_phrase_is_found_whatever_its_case_and_spacing(stored, text):
    assert codeword.contains(stored, text)


@pytest.mark.parametrize("text", ["blue herons", "a true blue heronry", "heron blue", "blue", "", "bluer heron"])
def test_only_whole_words_spelling_the_phrase_count(stored, text):
    assert not codeword.contains(stored, text)


def test_the_stored_form_keeps_no_phrase_in_clear(stored):
    assert "heron" not in stored.lower() and stored.startswith("9:")


@pytest.mark.parametrize("phrase, word", [("abc", "6 to 60"), ("x" * 61, "6 to 60"), (None, "text"),
                                          ("Need assistance", "quick reply"), ("patient not", "quick reply")])
def test_unusable_phrases_are_refused(phrase, word):
    with pytest.raises(codeword.CodePhraseError, match=word):
        codeword.check_new(phrase, QUICK_REPLIES)


def test_no_phrase_set_finds_nothing():
    assert not codeword.contains(None, "blue heron") and not codeword.contains("junk", "blue heron")
