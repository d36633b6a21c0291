"""The ``escort`` command: clear one-line errors and non-zero exits on bad input."""

from __future__ import annotations

from datetime import timedelta

import pytest
from click.testing import CliRunner
from sqlmodel import Session, create_engine, select

from app.cli import main
from app.db import utcnow
from app.models import User
from dispatch import codeword


@pytest.fixture
def cli(tmp_path, monkeypatch):
    """Return a runner bound to a fresh SQLite database."""
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("ESCORT_INSTANCE_PATH", str(tmp_path))
    runner = CliRunner()
    assert runner.invoke(main, ["db", "upgrade"]).exit_code == 0
    runner.url = url
    return runner


def test_users_tokens_and_devices(cli):
    ok = cli.invoke(main, ["users", "create", "dana", "--role", "dispatcher", "--password-stdin"],
                    input="a-long-password\n")
    assert ok.exit_code == 0, ok.output
    token = cli.invoke(main, ["tokens", "create", "dana"])
    assert token.exit_code == 0 and token.output.strip().startswith("esk_")
    cli.invoke(main, ["users", "create", "eli", "--role", "escort"], input="")
    dev = cli.invoke(main, ["devices", "create", "eli-phone", "--escort", "eli"])
    assert dev.exit_code == 0 and dev.stdout.strip().startswith("esd_")
    pins = cli.invoke(main, ["users", "set-pins", "eli"], input="1234\n9876\n")
    assert pins.exit_code == 0, pins.output
    from app.models import User

    with Session(create_engine(cli.url)) as s:
        eli = s.exec(select(User).where(User.username == "eli")).one()
        assert eli.safe_pin_hash and eli.duress_pin_hash and "1234" not in eli.safe_pin_hash


@pytest.mark.parametrize("args,stdin,word", [
    (["users", "create", "x", "--role", "pilot"], "", "unknown role"),
    (["users", "create", "x", "--role", "dispatcher", "--password-stdin"], "short\n", "at least 8"),
    (["tokens", "create", "ghost"], "", "no user named"),
    (["devices", "create", "d1", "--escort", "ghost"], "", "no user named"),
    (["users", "set-pins", "ghost"], "1234\n5678\n", "no user named"),
    (["users", "set-pins", "ghost"], "1234\n1234\n", "must differ"),
    (["users", "set-pins", "ghost"], "12\n5678\n", "4 to 8 digits"),
])
def test_bad_input_is_one_clear_line_and_exit_1(cli, args, stdin, word):
    result = cli.invoke(main, args, input=stdin)
    assert result.exit_code == 1
    assert word in result.output and len(result.output.strip().splitlines()) == 1, result.output


def test_duplicate_device_and_user(cli):
    cli.invoke(main, ["devices", "create", "d1"])
    again = cli.invoke(main, ["devices", "create", "d1"])
    assert again.exit_code == 1 and "already exists" in again.output
    cli.invoke(main, ["users", "create", "z", "--role", "escort"])
    assert "already exists" in cli.invoke(main, ["users", "create", "z", "--role", "escort"]).output


def test_unreachable_database_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg://nobody@127.0.0.1:1/none")
    result = CliRunner().invoke(main, ["tokens", "create", "x"])
    assert result.exit_code == 1 and "database unreachable" in result.output


def test_serve_refuses_without_secret(monkeypatch, tmp_path):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'x.db'}")
    result = CliRunner().invoke(main, ["serve"])
    assert result.exit_code == 1 and "SECRET_KEY" in result.output


def test_purge_deletes_old_fixes_only(cli):
    from app.models import User  # noqa: F401  (tables registered)
    from tracking.models import Device, Fix

    engine = create_engine(cli.url)
    now = utcnow()
    with Session(engine) as s:
        dev = Device(label="d", created_at=now)
        s.add(dev)
        s.flush()
        for i, age_days in enumerate((40, 35, 1)):
            at = now - timedelta(days=age_days)
            s.add(Fix(device_id=dev.id, seq=i, ts=at, received_at=at, lat=1, lon=1))
        s.commit()
    result = cli.invoke(main, ["purge", "--older-than", "30"])
    assert result.exit_code == 0 and "deleted 2 fixes" in result.output
    assert "purge: 2/2" in result.output
    with Session(engine) as s:
        assert [f.seq for f in s.exec(select(Fix)).all()] == [2]
    assert cli.invoke(main, ["purge", "--older-than", "0"]).exit_code == 2


def test_set_contact_for_escalation(cli):
    cli.invoke(main, ["users", "create", "dina", "--role", "dispatcher", "--password-stdin"], input="a-long-password\n")
    cli.invoke(main, ["users", "create", "eli", "--role", "escort"])
    ok = cli.invoke(main, ["users", "set-contact", "eli", "--emergency-name", "Ann", "--emergency-email", "ann@x.org"])
    assert ok.exit_code == 0, ok.output
    assert cli.invoke(main, ["users", "set-contact", "dina", "--email", "dina@dispatch.org"]).exit_code == 0
    bad = cli.invoke(main, ["users", "set-contact", "dina", "--email", "not-an-address"])
    assert bad.exit_code == 1 and "not an e-mail address" in bad.output
    wrong = cli.invoke(main, ["users", "set-contact", "dina", "--emergency-name", "X"])
    assert wrong.exit_code == 1 and "only escorts" in wrong.output
    from app.models import User

    with Session(create_engine(cli.url)) as s:
        eli = s.exec(select(User).where(User.username == "eli")).one()
        assert (eli.emergency_contact_name, eli.emergency_contact_email) == ("Ann", "ann@x.org")


def test_keys_rotate_reseals_every_sheet_and_old_key_can_go(cli, monkeypatch):
    from sqlalchemy import text

    from app import crypto

    old = crypto.generate_key()
    monkeypatch.setenv("ESCORT_DATA_KEYS", old)
    cli.invoke(main, ["db", "upgrade"])
    with Session(create_engine(cli.url)) as s:
        crypto.install(crypto.Keyring([old]))
        from patients.models import Patient

        from app.models import User
        from dispatch.models import Alert

        s.add(Patient(name="Key Test", contacts=[{"name": "Zed", "phone": "+44 1"}], created_at=utcnow()))
        s.add(User(username="esc", role="escort", emergency_contact_email="kin@x.org", created_at=utcnow()))
        s.add(Alert(kind="medication_due", raised_at=utcnow(), updated_at=utcnow(),
                    detail=crypto.seal_fields({"medication": "Zolp", "due_at": "x"}, ("medication",))))
        s.commit()
    new = cli.invoke(main, ["keys", "generate"]).output.strip()
    assert crypto.Keyring([new]).count == 1, "a usable Fernet key"
    monkeypatch.setenv("ESCORT_DATA_KEYS", f"{new},{old}")
    done = cli.invoke(main, ["keys", "rotate"])
    assert done.exit_code == 0 and "re-sealed 1 of 1" in done.output, done.output
    with Session(create_engine(cli.url)) as s:
        sealed = s.execute(text("SELECT contacts FROM patient")).scalar_one()
    assert crypto.Keyring([new]).open(sealed) == [{"name": "Zed", "phone": "+44 1"}]
    assert "1 escorts' emergency contacts and 1 alert" in done.output
    with Session(create_engine(cli.url)) as s:
        email = s.execute(text("SELECT emergency_contact_email FROM \"user\"")).scalar_one()
        [detail] = s.execute(select(Alert.detail)).scalars().all()
    assert crypto.Keyring([new]).open(email) == "kin@x.org"
    assert crypto.Keyring([new]).open(detail["sealed"]) == {"medication": "Zolp"}
    monkeypatch.setenv("ESCORT_DATA_KEYS", "not-a-key")
    bad = cli.invoke(main, ["keys", "rotate"])
    assert bad.exit_code == 1 and "Fernet keys" in bad.output


def test_set_pins_takes_an_optional_code_phrase_on_a_third_line(cli):
    cli.invoke(main, ["users", "create", "cy", "--role", "escort"], input="")
    done = cli.invoke(main, ["users", "set-pins", "cy"], input="1234\n9876\nBlue Heron\n")
    assert done.exit_code == 0 and "code phrase" in done.output, done.output
    with Session(create_engine(cli.url)) as s:
        cy = s.exec(select(User).where(User.username == "cy")).one()
        assert "heron" not in cy.code_phrase_hash.lower() and codeword.contains(cy.code_phrase_hash, "the BLUE heron")
    refused = cli.invoke(main, ["users", "set-pins", "cy"], input="1234\n9876\nNeed assistance\n")
    assert refused.exit_code == 1 and "quick reply" in refused.output
    assert len(refused.output.strip().splitlines()) == 1
