"""Weak-password verdicts on the host: policy, Chinese patterns, candidates, libxcrypt (A9-T2.2)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.vpn.candidates import candidates
from agent.vpn.hashaudit import HashJob, ProgressCache, audit_hashes, md4, nt_hash
from agent.vpn.passwords import PasswordData, PasswordPolicy, UserContext, judge
from agent.vpn.pinyin import name_forms, name_parts
from agent.vpn.stores import Secret
from agent.vpn.xcrypt import XCrypt, XCryptUnavailable, hash_scheme

DATA = PasswordData.load()


def _judge(password: str, account: str = "x", full_name: str = "") -> set[str]:
    return judge(password, UserContext(account, full_name, 2026), DATA)


def test_the_lists_are_found_in_policies() -> None:
    assert DATA.source.endswith("policies/passwords")
    assert {"123456", "5201314", "7758521", "Admin@123", "woaini1314"} <= set(DATA.common)
    assert "tjj" in DATA.units and "zhang" in DATA.pinyin.surname_pinyin


@pytest.mark.parametrize(
    ("account", "password", "expected"),
    [
        ("bob", "123456", {"common_list", "too_short", "pattern_digits"}),
        ("alice", "Alice@2024", {"user_name", "pattern_date"}),
        ("zhangwei", "zhangwei123", {"user_name", "name_pinyin", "few_char_classes"}),
        ("zhangwei", "zw123456", {"name_pinyin"}),
        ("zhangwei", "Zw@2023", {"name_pinyin", "too_short"}),
        ("u1", "ZhangWei@0815", {"name_pinyin"}),
        ("x", "liuyang1990", {"name_pinyin", "pattern_date"}),
        ("x", "5201314", {"pattern_love_number", "common_list"}),
        ("x", "woaini1314", {"pattern_love_number", "common_list"}),
        ("x", "Admin@123", {"pattern_role_word", "common_list"}),
        ("x", "Sangfor@2021", {"pattern_role_word"}),
        ("x", "P@ssw0rd", {"pattern_role_word"}),
        ("x", "Tjj@2024", {"pattern_unit_year"}),
        ("x", "1qaz2wsx", {"pattern_keyboard"}),
        ("x", "19850815", {"pattern_date", "pattern_digits"}),
        ("x", "888888", {"pattern_digits"}),
        ("x", "", {"empty_password"}),
    ],
)
def test_weak_passwords_get_their_categories(account: str, password: str, expected: set[str]) -> None:
    full_name = "张伟" if account == "u1" else ""
    assert expected <= _judge(password, account, full_name)


@pytest.mark.parametrize(
    "password",
    ["S3cure!Passphrase-long", "kT9#vLq2@xWm", "Vq8#nT2!rLx9", "correct-horse-battery-staple", "Mz7$kQ2pWn"],
)
def test_strong_passwords_pass(password: str) -> None:
    assert _judge(password, "alice") == set()


def test_policy_is_configurable() -> None:
    lax = PasswordPolicy(min_length=4, min_classes=1, use_zxcvbn=False)
    assert judge("Kq9vTx", UserContext("x"), DATA, lax) == set()
    assert "too_short" in judge("Kq9vTx", UserContext("x"), DATA)


def test_pinyin_from_a_chinese_name_or_from_the_account() -> None:
    parts = name_parts("u1", "欧阳娜娜", DATA.pinyin)
    assert parts is not None and parts.surname == "ouyang"
    assert "ouyangnana" in name_forms(parts)
    assert name_parts("wei.zhang", "", DATA.pinyin) is not None
    assert name_parts("alice", "", DATA.pinyin) is None  # not "a li ce"


@settings(max_examples=25, deadline=None)
@given(
    st.sampled_from(["zhangwei", "alice", "root", "wang.xiaoming", "vpn01", "li_na", "u1"]),
    st.sampled_from(["", "张伟", "李娜", "欧阳娜娜"]),
)
def test_every_candidate_is_judged_weak(account: str, full_name: str) -> None:
    """The generator and the judge agree: a hash cracked by a candidate is a weak password."""
    user = UserContext(account, full_name, 2026)
    for candidate in candidates(user, DATA, limit=400):
        assert judge(candidate.text, user, DATA), candidate.family


def test_candidates_are_unique_and_ordered_by_tier() -> None:
    listed = candidates(UserContext("zhangwei", "", 2026), DATA)
    assert len({c.text for c in listed}) == len(listed) <= 800
    assert [c.tier for c in listed] == sorted(c.tier for c in listed)
    assert {"zhangwei123", "zw123456", "Zhangwei@2026", "5201314", "Admin@123"} <= {c.text for c in listed}


def test_md4_and_nt_hash_vectors() -> None:
    assert md4(b"").hex() == "31d6cfe0d16ae931b73c59d7e0c089c0"  # RFC 1320
    assert md4(b"abc").hex() == "a448017aaf21d8525fc10ae87aa6729d"
    assert nt_hash("Password") == "a4f49c406510bdcab6824ee7c30fd852"


def _xcrypt() -> XCrypt:
    try:
        return XCrypt()
    except XCryptUnavailable as exc:
        pytest.skip(f"libxcrypt not on this host: {exc}")


def _openssl(flag: str, password: str) -> str:
    if not shutil.which("openssl"):
        pytest.skip("openssl not installed")
    return subprocess.run(
        ["openssl", "passwd", flag, password], capture_output=True, text=True, check=True
    ).stdout.strip()


def test_crypt_rn_verifies_openssl_hashes_of_each_scheme() -> None:
    crypt = _xcrypt()
    for flag, scheme in (("-6", "sha512-crypt"), ("-5", "sha256-crypt"), ("-1", "md5-crypt")):
        stored = _openssl(flag, "Alice@2024")
        assert hash_scheme(stored) == scheme
        assert crypt.verify("Alice@2024", stored) and not crypt.verify("alice@2024", stored)
    assert crypt.crypt("x", "not a setting") is None
    assert crypt.checksalt(_openssl("-1", "x")) == "legacy"


def _jobs() -> list[HashJob]:
    users = [("zhangwei", "zhangwei123"), ("bob", "Qv7#Lm2!xT9p")]
    return [
        HashJob(i, Secret(_openssl("-6", pw)), "sha512-crypt", candidates(UserContext(u, "", 2026), DATA, 60))
        for i, (u, pw) in enumerate(users)
    ]


def test_hash_audit_finds_the_weak_one_and_clears_the_strong_one() -> None:
    _xcrypt()
    outcomes, stats = audit_hashes(_jobs(), budget_seconds=120, workers=2)
    assert outcomes[0].family == "user_name"
    assert outcomes[1].family == "" and outcomes[1].complete and outcomes[1].tried == 60
    assert stats["workers"] == 2 and stats["tried"] >= 60


def test_no_budget_means_not_checked_said_so(tmp_path: Path) -> None:
    _xcrypt()
    outcomes, _ = audit_hashes(_jobs(), budget_seconds=0)
    assert all(o.note == "not checked: budget" and o.tried == 0 for o in outcomes.values())


def test_progress_is_kept_and_resumed_without_any_secret(tmp_path: Path) -> None:
    _xcrypt()
    jobs = _jobs()
    path = tmp_path / "progress.json"
    audit_hashes(jobs, budget_seconds=120, workers=1, cache=ProgressCache.open(path))
    saved = path.read_text()
    assert "zhangwei123" not in saved and jobs[0].stored.reveal() not in saved
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    again, stats = audit_hashes(jobs, budget_seconds=120, workers=1, cache=ProgressCache.open(path))
    assert again[0].family == "user_name" and again[1].complete
    assert stats["tried"] == 0  # nothing tried twice


def test_unsalted_hashes_are_checked_in_process() -> None:
    user = UserContext("bob", "", 2026)
    job = HashJob(0, Secret(nt_hash("bob123")), "nt", candidates(user, DATA, 100))
    outcomes, _ = audit_hashes([job], budget_seconds=0)
    assert outcomes[0].family == "user_name"


def test_every_account_gets_its_first_candidates_before_anyone_gets_more() -> None:
    """Slow schemes are not starved by fast ones (bench/vpn_hashaudit.py: without this no
    yescrypt account of 484 got a single candidate in a 60 s budget)."""
    from agent.vpn.hashaudit import HEAD, _chunks, _State

    user = UserContext("zhangwei", "", 2026)
    fast = [
        HashJob(i, Secret("$1$abcdefgh$" + "x" * 22), "md5-crypt", candidates(user, DATA, 200))
        for i in range(3)
    ]
    slow = [
        HashJob(3 + i, Secret("$y$j9T$" + "x" * 22 + "$" + "y" * 43), "yescrypt", candidates(user, DATA, 200))
        for i in range(3)
    ]
    states = [_State(job, []) for job in (*slow, *fast)]
    order = list(_chunks(states, chunk_seconds=0.2))
    first_beyond_head = next(n for n, (_i, _b, end) in enumerate(order) if end > HEAD)
    heads = {index for index, begin, _end in order[:first_beyond_head] if begin == 0}
    assert heads == set(range(len(states))), "every account's head comes before any tail"
    assert order[0][0] >= len(slow), "cheap schemes first within a pass"
    covered = {(i, n) for i, begin, end in order for n in range(begin, end)}
    assert covered == {(i, n) for i, s in enumerate(states) for n in range(len(s.job.candidates))}
    assert len(covered) == sum(end - begin for _i, begin, end in order), "no candidate twice"


def test_workers_end_when_the_audit_process_is_killed(tmp_path: Path) -> None:
    """The service kills its child at a timeout (SIGKILL); the hash workers must not live on.
    (An idle worker also sees its queue close; a busy one is ended by its parent-watch thread.)"""
    import signal
    import sys
    import time

    import psutil

    _xcrypt()
    stored = _openssl("-6", "Qv7#Lm2!xT9p-strong")
    script = tmp_path / "long_audit.py"
    script.write_text(
        "from agent.vpn.candidates import candidates\n"
        "from agent.vpn.hashaudit import HashJob, audit_hashes\n"
        "from agent.vpn.passwords import PasswordData, UserContext\n"
        "from agent.vpn.stores import Secret\n"
        "data = PasswordData.load()\n"
        f"jobs = [HashJob(i, Secret({stored!r}), 'sha512-crypt', candidates(UserContext(f'u{{i}}', '', 2026), data, 800))"
        " for i in range(50)]\n"
        "audit_hashes(jobs, budget_seconds=600, workers=2)\n",
        encoding="utf-8",
    )
    proc = subprocess.Popen([sys.executable, str(script)], cwd=Path(__file__).resolve().parents[2])
    try:
        parent = psutil.Process(proc.pid)
        deadline = time.monotonic() + 60
        workers: list[psutil.Process] = []
        while time.monotonic() < deadline:
            workers = [
                c for c in parent.children(recursive=True) if "resource_tracker" not in " ".join(c.cmdline())
            ]
            if len(workers) >= 2:
                break
            time.sleep(0.2)
        assert len(workers) >= 2, "the pool started its workers"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        _gone, alive = psutil.wait_procs(workers, timeout=15)
        assert not alive, f"{len(alive)} hash workers outlived their parent"
    finally:
        if proc.poll() is None:
            proc.kill()
