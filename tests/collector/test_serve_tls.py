"""`watchpost-collector serve` speaking HTTPS itself (issue 8): a half or unreadable TLS
configuration is refused at once with a clear message, before the database is touched.
The working path (HTTPS with a private CA, an agent enrolling through it) is
tests/deploy/test_install_agent_vm.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from collector.cli import main


@pytest.fixture(autouse=True)
def _no_database(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # a database that does not exist: the checks must come before it would be opened
    monkeypatch.setenv("WATCHPOST_DATABASE_URL", f"sqlite:///{tmp_path / 'absent' / 'db.sqlite3'}")
    monkeypatch.delenv("WATCHPOST_TLS_CERTFILE", raising=False)
    monkeypatch.delenv("WATCHPOST_TLS_KEYFILE", raising=False)


def test_a_certificate_without_its_key_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cert = tmp_path / "chain.pem"
    cert.write_text("-----BEGIN CERTIFICATE-----\n")
    assert main(["serve", "--tls-cert", str(cert)]) == 2
    assert "needs both --tls-cert and --tls-key" in capsys.readouterr().err


def test_a_key_from_the_environment_alone_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("WATCHPOST_TLS_KEYFILE", str(tmp_path / "key.pem"))
    assert main(["serve"]) == 2
    assert "needs both" in capsys.readouterr().err


def test_an_unreadable_file_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    key = tmp_path / "key.pem"
    key.write_text("k")
    missing = tmp_path / "missing.pem"
    assert main(["serve", "--tls-cert", str(missing), "--tls-key", str(key)]) == 2
    assert f"cannot read {missing}" in capsys.readouterr().err
