"""The agent's command line, run as the real console script."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from wire import Report
from wire.sections import SECTION_MODELS

AGENT = [sys.executable, "-m", "agent.cli"]


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*AGENT, *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
        check=False,
    )


def test_scan_json_prints_a_valid_full_report(tmp_path: Path) -> None:
    result = _run("scan", "--json", env={"WATCHPOST_AGENT_CONFIG": str(tmp_path / "none.toml")})
    assert result.returncode == 0, result.stderr
    report = Report.model_validate_json(result.stdout)
    assert report.kind == "full"
    statuses = {n: s.status for n, s in report.sections.present().items()}
    assert statuses == {n: "skipped" if n == "licensing" else "ok" for n in SECTION_MODELS}


def test_scan_of_one_section(tmp_path: Path) -> None:
    result = _run("scan", "--section", "os", env={"WATCHPOST_AGENT_CONFIG": str(tmp_path / "x.toml")})
    assert set(json.loads(result.stdout)["sections"]) >= {"os"}
    assert Report.model_validate_json(result.stdout).sections.present().keys() == {"os"}


def test_enroll_refuses_plain_http_without_the_flag(tmp_path: Path) -> None:
    result = _run(
        "--config",
        str(tmp_path / "a.toml"),
        "enroll",
        "--server",
        "http://127.0.0.1:9",
        "--secret",
        "wpe_" + "x" * 30,
    )
    assert result.returncode == 2 and "allow_insecure_http" in result.stderr


def test_enroll_reports_an_unreachable_collector_clearly(tmp_path: Path) -> None:
    result = _run(
        "--config",
        str(tmp_path / "a.toml"),
        "enroll",
        "--server",
        "http://127.0.0.1:9",
        "--secret",
        "wpe_" + "x" * 30,
        "--insecure-http",
        "--data-dir",
        str(tmp_path / "d"),
    )
    assert result.returncode == 1 and "enrollment failed" in result.stderr
    assert not (tmp_path / "a.toml").exists()


def test_run_without_config_says_what_to_do(tmp_path: Path) -> None:
    result = _run("--config", str(tmp_path / "missing.toml"), "run", "--once")
    assert result.returncode != 0 and "watchpost-agent enroll" in result.stderr


def test_stdout_that_cannot_encode_a_unit_name_does_not_fail_the_command(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """issue 8 (Windows): a piped stdout uses the ANSI code page; `enroll` printing a Chinese
    unit name on a cp1252 PC must still exit 0 (the enrollment is already saved)."""
    import io

    from agent import cli

    raw, raw_err = io.BytesIO(), io.BytesIO()
    stdout = io.TextIOWrapper(raw, encoding="cp1252")
    stderr = io.TextIOWrapper(raw_err, encoding="cp936")
    monkeypatch.setattr(sys, "stdout", stdout)
    monkeypatch.setattr(sys, "stderr", stderr)

    def fake_scan(_args: object) -> int:
        print("enrolled as pc-01 in 安庆市统计局 (341000-JSZ)")
        print("探针失败", file=sys.stderr)  # a probe child's message, read by the service as UTF-8
        return 0

    monkeypatch.setattr(cli, "cmd_scan", fake_scan)
    assert cli.main(["scan"]) == 0
    stdout.flush()
    stderr.flush()
    assert raw.getvalue() == b"enrolled as pc-01 in \\u5b89\\u5e86\\u5e02\\u7edf\\u8ba1\\u5c40 (341000-JSZ)\n"
    assert raw_err.getvalue().decode("utf-8") == "探针失败\n"
