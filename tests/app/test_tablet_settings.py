"""The tablet's phone numbers: ESCORT_DISPATCH_PHONE and ESCORT_EMERGENCY_NUMBER, checked and shown as tel: links."""

from __future__ import annotations

from dataclasses import replace

import pytest

from app.config import Config, ConfigError
from tests.factories import login


def test_the_emergency_number_is_112_unless_set_and_empty_hides_it():
    assert Config.from_env({}).emergency_number == "112"
    assert Config.from_env({"ESCORT_EMERGENCY_NUMBER": "911"}).emergency_number == "911"
    assert Config.from_env({"ESCORT_EMERGENCY_NUMBER": " "}).emergency_number is None
    assert Config.from_env({"ESCORT_DISPATCH_PHONE": "+44 (20) 7946-0999"}).dispatch_phone == "+44 (20) 7946-0999"


@pytest.mark.parametrize("name", ["ESCORT_EMERGENCY_NUMBER", "ESCORT_DISPATCH_PHONE"])
@pytest.mark.parametrize("bad", ["call 112", "112;rm", "javascript:alert(1)", "+", "1" * 40])
def test_a_number_a_phone_cannot_dial_is_refused_with_its_name(name, bad):
    with pytest.raises(ConfigError, match=name):
        Config.from_env({name: bad})


def _page(app, **numbers) -> str:
    """Return eve's tablet page with these numbers configured."""
    ext = app.extensions["escort"]
    ext.config = replace(ext.config, **numbers)
    return login(app.test_client(), "eve").get("/escort").get_data(as_text=True)


def test_the_tablet_links_the_numbers_it_has_and_hides_the_rest(app, world):
    both = _page(app, dispatch_phone="+44 20 7946 0999", emergency_number="112")
    assert 'href="tel:+442079460999">Call dispatch</a>' in both
    assert 'href="tel:112">Emergency 112</a>' in both
    neither = _page(app, dispatch_phone=None, emergency_number=None)
    assert "Call dispatch" not in neither and "tel:" not in neither
    assert 'id="panic"' in neither, "SOS stays whatever numbers are set"
