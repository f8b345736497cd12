#!/usr/bin/env python3
"""Benchmark: the VPN hash audit (issue 6 "Benchmarks", A9-T2.2). Prints JSON.

1. **Candidate checks per second per hash scheme**, through the agent's hash-audit path
   (``agent.vpn.hashaudit.audit_hashes``: spawn worker pool, one process per core, chunks,
   budget) versus the limit: raw libxcrypt ``crypt_rn`` through ctypes in a tight loop in one
   process per core, on the same hashes and the same candidates. Hashes are made by the real
   tools with their default cost (``mkpasswd -m sha512crypt/sha256crypt/md5crypt/yescrypt/
   bcrypt``, i.e. libxcrypt's ``crypt_gensalt`` defaults: sha-crypt 5000 rounds, yescrypt
   ``$y$j9T$`` (cost 5), bcrypt cost 5; ``bcrypt-10`` is cost 10 as PHP and others make it),
   else ``openssl passwd -6/-5/-1``, else libxcrypt itself. Target: agent/raw >= 0.90.
   Both sides run at nice +5 (the agent's workers renice themselves; ``--raw-nice``).
   A profile explains a gap: worker pool start-up, per-call overhead of ``XCrypt.verify``,
   chunk size, the unaccounted tail at the deadline, the parent's CPU.
2. **Time to audit --accounts accounts** with the default budget (60 s) and candidate limit
   (800): a root with ocserv (``ocpasswd`` store made by the real ``ocpasswd``, sha256-crypt)
   and an OpenVPN server with the PAM plugin (``/etc/shadow``: yescrypt from ``mkpasswd``,
   sha512-crypt and legacy md5-crypt from ``openssl passwd``, a few locked), most passwords
   strong and random, about 6 % weak ones planted from the account's own candidate list
   (tiers 1/2/3 about 60/30/10 %). The real ``watchpost-agent vpn-audit --root DIR --json``
   runs on it; reported: elapsed, checked/partial/not_checked, weak found against planted
   (and that no strong account is flagged, no planted one completed without a match), and
   the time a complete audit would need at the measured rates.

Progress goes to stderr; the result (one JSON document) to stdout.

    python bench/vpn_hashaudit.py --quick            # ~2 min: 2 s per rate, 100 accounts, 20 s budget
    python bench/vpn_hashaudit.py                    # 5 s per rate, 1,000 accounts, 60 s budget
    python bench/vpn_hashaudit.py --skip-audit --seconds 20 --schemes yescrypt,sha512-crypt
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import hmac
import json
import math
import multiprocessing
import os
import platform
import random
import resource
import shutil
import string
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # spawn children inherit the parent's sys.path

AGENT = Path(sys.executable).parent / "watchpost-agent"
CRYPT_DATA_SIZE = 32768
# scheme -> (mkpasswd method, mkpasswd extra args, openssl passwd flag)
SCHEMES: dict[str, tuple[str, list[str], str]] = {
    "sha512-crypt": ("sha512crypt", [], "-6"),
    "sha256-crypt": ("sha256crypt", [], "-5"),
    "md5-crypt": ("md5crypt", [], "-1"),
    "yescrypt": ("yescrypt", [], ""),
    "bcrypt": ("bcrypt", [], ""),
    "bcrypt-10": ("bcrypt", ["-R", "10"], ""),
}
GENSALT_PREFIX = {
    "sha512-crypt": (b"$6$", 0),
    "sha256-crypt": (b"$5$", 0),
    "md5-crypt": (b"$1$", 0),
    "yescrypt": (b"$y$", 0),
    "bcrypt": (b"$2b$", 0),
    "bcrypt-10": (b"$2b$", 10),
}
TARGET = 0.90


def progress(message: str) -> None:
    print(f"[vpn-hashaudit-bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def machine() -> dict[str, Any]:
    cpu = ""
    memory_kb = 0
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        memory_kb = int(Path("/proc/meminfo").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(memory_kb / 1024**2, 1),
        "python": platform.python_version(),
        "system": f"{platform.system()} {platform.release()}",
        "libxcrypt": _library(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def _library() -> str:
    return ctypes.util.find_library("crypt") or "libcrypt.so.1"


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


# --- making hashes ------------------------------------------------------------------------------


def _gensalt_hash(scheme: str, password: str) -> str:
    """libxcrypt's own crypt_gensalt_rn (default cost) + crypt_rn: the fallback without the tools."""
    lib = ctypes.CDLL(_library())
    gensalt = lib.crypt_gensalt_rn
    gensalt.argtypes = [
        ctypes.c_char_p,
        ctypes.c_ulong,
        ctypes.c_char_p,
        ctypes.c_int,
        ctypes.c_char_p,
        ctypes.c_int,
    ]
    gensalt.restype = ctypes.c_char_p
    prefix, count = GENSALT_PREFIX[scheme]
    out = ctypes.create_string_buffer(256)
    setting = gensalt(prefix, count, None, 0, out, 256)
    if not setting:
        raise RuntimeError(f"crypt_gensalt_rn failed for {scheme}")
    crypt_rn = lib.crypt_rn
    crypt_rn.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_void_p, ctypes.c_int]
    crypt_rn.restype = ctypes.c_char_p
    data = ctypes.create_string_buffer(CRYPT_DATA_SIZE)
    result = crypt_rn(password.encode(), setting, data, CRYPT_DATA_SIZE)
    if not result or result.startswith(b"*"):
        raise RuntimeError(f"crypt_rn failed for {scheme}")
    return bytes(result).decode("ascii")


def make_hash(scheme: str, password: str, prefer: str = "mkpasswd") -> tuple[str, str]:
    """(hash, tool) with the real tools' default cost: mkpasswd, openssl passwd, else libxcrypt."""
    method, extra, openssl_flag = SCHEMES[scheme]
    order = ["openssl", "mkpasswd"] if prefer == "openssl" else ["mkpasswd", "openssl"]
    for tool in order:
        if tool == "mkpasswd" and shutil.which("mkpasswd"):
            argv = ["mkpasswd", "-s", "-m", method, *extra]
        elif tool == "openssl" and openssl_flag and shutil.which("openssl"):
            argv = ["openssl", "passwd", openssl_flag, "-stdin"]
        else:
            continue
        result = subprocess.run(argv, input=password + "\n", capture_output=True, text=True, timeout=60)
        value = result.stdout.strip()
        if result.returncode == 0 and value.startswith("$"):
            return value, " ".join(argv[:-1] if argv[-1] == "-stdin" else argv)
    return _gensalt_hash(scheme, password), "libxcrypt crypt_gensalt_rn"


def strong_password(rng: random.Random) -> str:
    alphabet = string.ascii_letters + string.digits + "#%&*+-=?@^_~!."
    while True:
        value = "".join(rng.choice(alphabet) for _ in range(rng.randint(13, 18)))
        if any(c.isdigit() for c in value) and any(c in "#%&*+-=?@^_~!." for c in value):
            return value


# --- 1. raw libxcrypt on all cores ---------------------------------------------------------------


def _raw_worker(
    library: str,
    pairs: list[tuple[str, str]],
    offset: int,
    seconds: float,
    nice: int,
    ready: Any,
    go: Any,
    results: Any,
) -> None:
    """One core: crypt_rn + compare in a tight loop over (stored, candidate) pairs for ``seconds``."""
    if nice:
        try:
            os.nice(nice)
        except OSError:
            pass
    lib = ctypes.CDLL(library)
    crypt_rn = lib.crypt_rn
    crypt_rn.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_void_p, ctypes.c_int]
    crypt_rn.restype = ctypes.c_char_p
    data = ctypes.create_string_buffer(CRYPT_DATA_SIZE)
    encoded = [(text.encode("utf-8"), stored.encode("ascii")) for stored, text in pairs]
    size = len(encoded)
    index = offset % size
    count = matches = 0
    ready.put(os.getpid())
    go.wait()
    clock = time.perf_counter
    started = clock()
    cpu_started = time.process_time()
    deadline = started + seconds
    while True:
        phrase, setting = encoded[index]
        out = crypt_rn(phrase, setting, data, CRYPT_DATA_SIZE)
        if out is not None and hmac.compare_digest(out, setting):
            matches += 1
        count += 1
        index += 1
        if index == size:
            index = 0
        if clock() >= deadline:
            break
    results.put((count, clock() - started, matches, time.process_time() - cpu_started))


def raw_rate(pairs: list[tuple[str, str]], seconds: float, workers: int, nice: int) -> dict[str, Any]:
    context = multiprocessing.get_context("spawn")
    ready, results, go = context.Queue(), context.Queue(), context.Event()
    step = max(1, len(pairs) // workers)
    processes = [
        context.Process(
            target=_raw_worker,
            args=(_library(), pairs, k * step, seconds, nice, ready, go, results),
            daemon=True,
        )
        for k in range(workers)
    ]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    for process in processes:
        process.start()
    for _ in processes:
        ready.get(timeout=120)
    go.set()
    figures = [results.get(timeout=seconds + 120) for _ in processes]
    for process in processes:
        process.join(timeout=30)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    rate = sum(f[0] / f[1] for f in figures if f[1] > 0)
    return {
        "rate": round(rate, 1),
        "checks": sum(f[0] for f in figures),
        "per_worker": [round(f[0] / f[1], 1) for f in figures if f[1] > 0],
        "loop_cpu_seconds": round(sum(f[3] for f in figures), 2),
        "children_cpu_seconds": round(
            (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime), 2
        ),
        "load_average_after": _load(),
    }


# --- 1. the agent's path -------------------------------------------------------------------------


def agent_rate(
    hashes: list[str], scheme: str, texts: list[str], seconds: float, workers: int
) -> dict[str, Any]:
    """audit_hashes() on the same hashes and candidates with a budget of ``seconds``."""
    from agent.vpn.candidates import Candidate
    from agent.vpn.hashaudit import HashJob, audit_hashes, rate_guess
    from agent.vpn.stores import Secret

    candidates = [Candidate(text, "bench", 1) for text in texts]
    jobs = [
        HashJob(key, Secret(stored), scheme.replace("-10", ""), candidates)
        for key, stored in enumerate(hashes)
    ]
    marks: list[tuple[float, int]] = []

    def seen(done: int, _total: int, _matches: int) -> None:
        marks.append((time.perf_counter(), done))

    self_before = resource.getrusage(resource.RUSAGE_SELF)
    child_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    outcomes, stats = audit_hashes(jobs, seconds, workers=workers, progress=seen)
    wall = time.perf_counter() - started
    self_after = resource.getrusage(resource.RUSAGE_SELF)
    child_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    tried = int(stats["tried"])
    figures: dict[str, Any] = {
        "rate": round(tried / wall, 1) if wall > 0 else 0.0,
        "checks": tried,
        "wall_seconds": round(wall, 3),
        "matches": sum(bool(o.family) for o in outcomes.values()),
        "mode": stats.get("mode", "processes"),
        "chunk_candidates": max(1, int(rate_guess(hashes[0], scheme.replace("-10", "")) * 0.2)),
        "parent_cpu_seconds": round(
            (self_after.ru_utime + self_after.ru_stime) - (self_before.ru_utime + self_before.ru_stime), 2
        ),
        "children_cpu_seconds": round(
            (child_after.ru_utime + child_after.ru_stime) - (child_before.ru_utime + child_before.ru_stime), 2
        ),
        "load_average_after": _load(),
    }
    if len(marks) >= 2:
        (t_first, d_first), (t_last, d_last) = marks[0], marks[-1]
        figures["first_result_seconds"] = round(t_first - started, 3)
        figures["last_result_seconds"] = round(t_last - started, 3)
        figures["tail_seconds"] = round(wall - (t_last - started), 3)
        figures["chunks_counted"] = len(marks)
        if t_last > t_first:
            figures["steady_rate"] = round((d_last - d_first) / (t_last - t_first), 1)
    return figures


def pool_start(workers: int) -> float:
    """Seconds until ``workers`` spawn workers of the agent's pool have answered one empty chunk."""
    from concurrent.futures import ProcessPoolExecutor, wait

    from agent.vpn import hashaudit

    started = time.perf_counter()
    pool = ProcessPoolExecutor(
        workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=hashaudit._init_worker,
        initargs=(_library(),),
    )
    try:
        futures = [pool.submit(time.sleep, 0.05) for _ in range(workers)]
        wait(futures)
        return round(time.perf_counter() - started - 0.05, 3)
    finally:
        pool.shutdown(wait=True)


def call_overhead(stored: str, calls: int) -> dict[str, float]:
    """One process: microseconds per check, raw ctypes crypt_rn vs XCrypt.verify (the agent's call),
    interleaved call by call so that other load on the machine hits both alike."""
    from agent.vpn.xcrypt import XCrypt

    lib = ctypes.CDLL(_library())
    crypt_rn = lib.crypt_rn
    crypt_rn.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_void_p, ctypes.c_int]
    crypt_rn.restype = ctypes.c_char_p
    data = ctypes.create_string_buffer(CRYPT_DATA_SIZE)
    setting = stored.encode()
    xcrypt = XCrypt(_library())
    clock = time.perf_counter
    raw = verify = 0.0
    for i in range(calls):
        for first in (True, False) if i % 2 else (False, True):  # alternate the order: no bias
            t0 = clock()
            if first:
                out = crypt_rn(f"cand{i}".encode(), setting, data, CRYPT_DATA_SIZE)
                if out is not None:
                    hmac.compare_digest(out, setting)
                raw += clock() - t0
            else:
                xcrypt.verify(f"cand{i}", stored)
                verify += clock() - t0
    # The Python around the C call alone (crypt_rn replaced by a stub): load hardly moves it.
    stub_calls = 200000

    def stub(phrase: bytes, setting_: bytes, _data: object, _size: int) -> bytes:
        return setting_

    started = clock()
    for i in range(stub_calls):
        out = stub(f"cand{i}".encode(), setting, data, CRYPT_DATA_SIZE)
        hmac.compare_digest(out, setting)
    raw_python = clock() - started
    xcrypt._crypt_rn = stub  # type: ignore[assignment]
    started = clock()
    for i in range(stub_calls):
        xcrypt.verify(f"cand{i}", stored)
    verify_python = clock() - started
    return {
        "python_overhead_us": round((verify_python - raw_python) / stub_calls * 1e6, 3),
        "calls": calls,
        "raw_us": round(raw / calls * 1e6, 2),
        "verify_us": round(verify / calls * 1e6, 2),
        "overhead_us": round((verify - raw) / calls * 1e6, 2),
        "overhead_share": round((verify - raw) / raw, 4) if raw else 0.0,
    }


def _per_cpu(figures: dict[str, Any], key: str) -> float:
    cpu = figures[key]
    return round(figures["checks"] / cpu, 1) if cpu > 0 else 0.0


def measure_rates(
    args: argparse.Namespace, rng: random.Random
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Per scheme: --repeats rounds of raw then agent (interleaved, so load from elsewhere hits both
    alike); best of each side. Rates are checks per wall second on all cores; ``per_cpu`` is checks
    per CPU second of the worker processes (start-up and discarded work included), which other load
    on the machine does not move."""
    rows: list[dict[str, Any]] = []
    profile: dict[str, Any] = {}
    workers = args.workers
    progress(f"agent worker pool start-up ({workers} spawn processes)")
    profile["pool_start_seconds"] = [pool_start(workers) for _ in range(3)]
    for scheme in args.schemes:
        hashes_tools = [make_hash(scheme, strong_password(rng)) for _ in range(args.hashes)]
        hashes = [h for h, _t in hashes_tools]
        tool = hashes_tools[0][1]
        setting = hashes[0][: hashes[0].rfind("$") + 1] if not hashes[0].startswith("$2") else hashes[0][:7]
        # Size the candidate list from a short raw probe so neither side runs out.
        probe = raw_rate([(hashes[0], "probe-cand")], 0.3, workers, args.raw_nice)["rate"]
        needed = int(probe * args.seconds * 3.0 / len(hashes)) + 50
        texts = [
            f"{rng.choice(['Wang', 'li', 'zhang', 'Admin', 'vpn'])}{i:07d}{rng.choice('!@#.')}"
            for i in range(needed)
        ]
        pairs = [(stored, text) for stored in hashes for text in texts]
        progress(
            f"{scheme}: {len(hashes)} hashes ({tool}, {setting}...), {needed} candidates each; "
            f"{args.repeats} x (raw {args.seconds} s, agent {args.seconds} s)"
        )
        raws: list[dict[str, Any]] = []
        agents: list[dict[str, Any]] = []
        for round_ in range(args.repeats):
            raws.append(raw_rate(pairs, args.seconds, workers, args.raw_nice))
            agents.append(agent_rate(hashes, scheme, texts, args.seconds, workers))
            progress(
                f"{scheme} round {round_ + 1}: raw {raws[-1]['rate']}/s, agent {agents[-1]['rate']}/s "
                f"(load {agents[-1]['load_average_after'][0]})"
            )
        raw = max(raws, key=lambda f: f["rate"])
        agent = max(agents, key=lambda f: f["rate"])
        raw_cpu = max(_per_cpu(f, "loop_cpu_seconds") for f in raws)
        agent_cpu = max(_per_cpu(f, "children_cpu_seconds") for f in agents)
        ratio = agent["rate"] / raw["rate"] if raw["rate"] else 0.0
        # CPU the agent's workers spent without a counted check: start-up (imports), chunks
        # discarded at the deadline, per-call overhead; projected onto the agent's 60 s budget.
        lost_cpu = min(f["children_cpu_seconds"] - f["checks"] / raw_cpu for f in agents if raw_cpu)
        row = {
            "scheme": scheme,
            "hash_tool": tool,
            "setting": setting,
            "agent_rate": agent["rate"],
            "raw_rate": raw["rate"],
            "ratio": round(ratio, 3),
            "target": TARGET,
            "target_met": ratio >= TARGET,
            "agent_per_cpu": agent_cpu,
            "raw_per_cpu": raw_cpu,
            "cpu_ratio": round(agent_cpu / raw_cpu, 3) if raw_cpu else None,
            "lost_cpu_seconds": round(lost_cpu, 2),
            "projected_ratio_60s": round(1 - lost_cpu / (workers * 60.0), 3),
            "agent": agent,
            "raw": raw,
            "rounds": {
                "agent_rates": [f["rate"] for f in agents],
                "raw_rates": [f["rate"] for f in raws],
                "agent_tail_seconds": [f.get("tail_seconds") for f in agents],
            },
        }
        if scheme in {"md5-crypt", "sha512-crypt", "yescrypt"}:
            calls = {"md5-crypt": 20000, "sha512-crypt": 2000, "yescrypt": 60}[scheme]
            row["per_call"] = call_overhead(hashes[0], calls if not args.quick else calls // 4)
        progress(
            f"{scheme}: agent {agent['rate']}/s vs raw {raw['rate']}/s = {ratio:.1%} "
            f"({'met' if row['target_met'] else 'NOT met'}); per CPU second {agent_cpu} vs {raw_cpu} "
            f"({row['cpu_ratio']}); lost {row['lost_cpu_seconds']} CPU s, projected at 60 s "
            f"{row['projected_ratio_60s']}"
        )
        rows.append(row)
    return rows, profile


# --- 2. the audit of N accounts ------------------------------------------------------------------


def _people(rng: random.Random, count: int, table: Any, taken: set[str]) -> list[tuple[str, str]]:
    """(account, Chinese full name): pinyin accounts as Chinese units name them (zhangwei, wangfang2)."""
    surnames = [(c, p) for c, p in table.surnames.items() if len(c) == 1 and len(p) >= 2][:120]
    given = list(table.given.items())
    out: list[tuple[str, str]] = []
    while len(out) < count:
        s_char, s_py = rng.choice(surnames)
        parts = [rng.choice(given) for _ in range(rng.choice((1, 2, 2)))]
        name = s_char + "".join(c for c, _p in parts)
        style = rng.random()
        if style < 0.7:
            account = s_py + "".join(p for _c, p in parts)
        elif style < 0.85:
            account = "".join(p for _c, p in parts) + "." + s_py
        else:
            account = s_py + "".join(p[0] for _c, p in parts)
        base, n = account, 1
        while account in taken:
            n += 1
            account = f"{base}{n}"
        taken.add(account)
        out.append((account, name))
    return out


def build_root(root: Path, args: argparse.Namespace, rng: random.Random) -> dict[str, Any]:
    """ocserv (ocpasswd) + OpenVPN with PAM (/etc/shadow) under ``root``; returns the plan (no secrets out)."""
    from agent.vpn.candidates import candidates
    from agent.vpn.passwords import PasswordData, UserContext

    data = PasswordData.load()
    year = datetime.now(UTC).year
    total = args.accounts
    n_oc = round(total * 0.15) if shutil.which("ocpasswd") else 0
    n_shadow = total - n_oc
    taken: set[str] = {"root", "daemon", "nobody"}
    people = _people(rng, total, data.pinyin, taken)
    plan: list[dict[str, Any]] = []
    for index, (account, name) in enumerate(people):
        if index < n_shadow:
            draw = rng.random()
            scheme = "yescrypt" if draw < 0.55 else "sha512-crypt" if draw < 0.95 else "md5-crypt"
            store = "shadow"
        else:
            scheme, store = "sha256-crypt", "ocpasswd"
        plan.append(
            {"account": account, "name": name if store == "shadow" else "", "store": store, "scheme": scheme}
        )
    weak_count = max(1, round(total * args.weak_share))
    for item in rng.sample(plan, weak_count):
        context = UserContext(item["account"], item["name"], year, ())
        listing = [c for c in candidates(context, data, args.candidates) if c.text and ":" not in c.text]
        tier = rng.choices((1, 2, 3), weights=(60, 30, 10))[0]
        same_tier = [c for c in listing if c.tier == tier] or [c for c in listing if c.tier == 1]
        choice = rng.choice(same_tier)
        item.update(
            weak=True,
            tier=choice.tier,
            family=choice.family,
            position=listing.index(choice),
            password=choice.text,
        )
    for item in plan:
        item.setdefault("weak", False)
        item.setdefault("password", strong_password(rng))
    for item in rng.sample([p for p in plan if not p["weak"]], max(1, total // 100)):
        item["locked"] = True
    # hashes with the real tools, two at a time (mkpasswd for yescrypt, openssl passwd for sha/md5)
    shadow_items = [p for p in plan if p["store"] == "shadow"]
    tools: dict[str, str] = {}

    def hashed(item: dict[str, Any]) -> str:
        value, tool = make_hash(
            item["scheme"], item["password"], "mkpasswd" if item["scheme"] == "yescrypt" else "openssl"
        )
        tools[item["scheme"]] = tool
        return value

    started = time.perf_counter()
    with ThreadPoolExecutor(os.cpu_count() or 2) as pool:
        values = list(pool.map(hashed, shadow_items))
    lines = ["root:!:20000:0:99999:7:::", "daemon:*:20000:0:99999:7:::", "nobody:*:20000:0:99999:7:::"]
    passwd = [
        "root:x:0:0:root:/root:/bin/bash",
        "daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin",
        "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin",
    ]
    for uid, (item, value) in enumerate(zip(shadow_items, values, strict=True), start=1001):
        lines.append(f"{item['account']}:{'!' if item.get('locked') else ''}{value}:20000:0:99999:7:::")
        passwd.append(f"{item['account']}:x:{uid}:{uid}:{item['name']},,,:/home/{item['account']}:/bin/bash")
    _write(root, "/etc/shadow", "\n".join(lines) + "\n", 0o640)
    _write(root, "/etc/passwd", "\n".join(passwd) + "\n", 0o644)
    _write(
        root,
        "/etc/openvpn/server/server.conf",
        "port 1194\nproto udp\ndev tun\nserver 10.8.0.0 255.255.255.0\nverify-client-cert none\n"
        "username-as-common-name\n"
        "plugin /usr/lib/x86_64-linux-gnu/openvpn/plugins/openvpn-plugin-auth-pam.so openvpn\n",
        0o644,
    )
    oc_items = [p for p in plan if p["store"] == "ocpasswd"]
    if oc_items:
        ocpasswd = root / "etc/ocserv/ocpasswd"
        ocpasswd.parent.mkdir(parents=True, exist_ok=True)
        for item in oc_items:
            subprocess.run(
                ["ocpasswd", "-c", str(ocpasswd), item["account"]],
                input=f"{item['password']}\n{item['password']}\n",
                capture_output=True,
                text=True,
                check=True,
                timeout=60,
            )
            if item.get("locked"):
                subprocess.run(
                    ["ocpasswd", "-c", str(ocpasswd), "-l", item["account"]],
                    capture_output=True,
                    check=True,
                    timeout=60,
                )
        tools["sha256-crypt"] = "ocpasswd"
        _write(
            root,
            "/etc/ocserv/ocserv.conf",
            'auth = "plain[passwd=/etc/ocserv/ocpasswd]"\ntcp-port = 443\n',
            0o644,
        )
    for item in plan:
        item.pop("password")  # the plan keeps no secret
    return {"plan": plan, "tools": tools, "build_seconds": round(time.perf_counter() - started, 1)}


def _write(root: Path, path: str, text: str, mode: int) -> None:
    target = root / path.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
    target.chmod(mode)


def run_audit(root: Path, workdir: Path, args: argparse.Namespace) -> tuple[dict[str, Any], float]:
    """``watchpost-agent vpn-audit --root ROOT --json`` as a real process (no enrolment: no progress file)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WATCHPOST_")}
    env["WATCHPOST_AGENT_CONFIG"] = str(workdir / "absent.toml")
    argv = [str(AGENT), "vpn-audit", "--root", str(root), "--json"]
    argv += ["--budget", str(args.budget), "--candidates", str(args.candidates)]
    if args.workers:
        argv += ["--workers", str(args.workers)]
    started = time.perf_counter()
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    assert process.stderr is not None and process.stdout is not None
    errors = process.stderr

    def relay() -> None:
        last = 0.0
        for line in errors:
            if "hash checks:" in line and time.monotonic() - last < 5:
                continue
            last = time.monotonic() if "hash checks:" in line else last
            progress(line.rstrip())

    relay_thread = threading.Thread(target=relay, daemon=True)
    relay_thread.start()
    out = process.stdout.read()
    code = process.wait(timeout=args.budget + 600)
    elapsed = time.perf_counter() - started
    relay_thread.join(timeout=5)
    if code != 0:
        raise RuntimeError(f"vpn-audit exited {code}")
    return json.loads(out), elapsed


def audit_figures(
    facts: dict[str, Any],
    elapsed: float,
    built: dict[str, Any],
    rates: dict[str, float],
    args: argparse.Namespace,
) -> dict[str, Any]:
    plan = {(p["store"], p["account"]): p for p in built["plan"]}
    seen: dict[tuple[str, str], dict[str, Any]] = {}
    for account in facts["accounts"]:
        seen[(account["store"].rsplit("/", 1)[-1], account["account"])] = account
    planted = {k for k, p in plan.items() if p["weak"]}
    found = {k for k, a in seen.items() if a.get("weak") is True}
    missing_accounts = sorted(set(plan) - set(seen))
    completed_but_missed = sorted(
        k for k in planted if seen.get(k, {}).get("check") == "checked" and k not in found
    )
    by: dict[str, dict[str, int]] = {}
    for key in planted:
        item, account = plan[key], seen.get(key, {})
        for label in (f"scheme:{item['scheme']}", f"tier:{item['tier']}"):
            row = by.setdefault(label, {"planted": 0, "found": 0, "not_reached": 0})
            row["planted"] += 1
            row["found"] += key in found
            row["not_reached"] += account.get("check") in {"partial", "not_checked"}
    remaining: dict[str, int] = {}
    for key, account in seen.items():
        scheme = plan.get(key, {}).get("scheme", account.get("hash_scheme", ""))
        if account.get("weak") is not True and account.get("candidates_total"):
            remaining[scheme] = (
                remaining.get(scheme, 0) + account["candidates_total"] - account["candidates_tried"]
            )
    seconds_left = sum(n / rates[s] for s, n in remaining.items() if rates.get(s))
    unknown = sorted(s for s in remaining if not rates.get(s))
    audit = facts["hash_audit"]
    return {
        "accounts": len(plan),
        "stores": {s: sum(p["store"] == s for p in plan.values()) for s in ("shadow", "ocpasswd")},
        "schemes": {
            s: sum(p["scheme"] == s for p in plan.values())
            for s in sorted({p["scheme"] for p in plan.values()})
        },
        "locked": sum(bool(p.get("locked")) for p in plan.values()),
        "hash_tools": built["tools"],
        "build_seconds": built["build_seconds"],
        "budget_seconds": args.budget,
        "candidate_limit": args.candidates,
        "elapsed_seconds": round(elapsed, 1),
        "hash_audit": audit,
        "checked": audit["checked"],
        "partial": audit["partial"],
        "not_checked": audit["not_checked"],
        "candidates_tried": audit["candidates_tried"],
        "candidates_total": sum(a.get("candidates_total") or 0 for a in seen.values()),
        "accounts_reported": len(seen),
        "accounts_missing_from_report": len(missing_accounts),
        "weak_planted": len(planted),
        "weak_found": len(found & planted),
        "weak_found_equals_planted": found == planted,
        "false_positives": len(found - planted),
        "planted_completed_but_missed": len(completed_but_missed),
        "weak_by": dict(sorted(by.items())),
        "remaining_candidates": remaining,
        "estimated_seconds_to_complete": round(seconds_left, 0) if not unknown else None,
        "estimated_budget_runs_to_complete": math.ceil(seconds_left / args.budget)
        if args.budget and not unknown
        else None,
        "counts": facts["counts"],
    }


# --- main ----------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=5.0, help="seconds per rate measurement (5)")
    parser.add_argument("--accounts", type=int, default=1000, help="accounts in the audited root (1000)")
    parser.add_argument(
        "--budget", type=float, default=60.0, help="hash budget of the audit, s (agent default 60)"
    )
    parser.add_argument(
        "--candidates", type=int, default=800, help="candidates per account (agent default 800)"
    )
    parser.add_argument("--schemes", default=",".join(SCHEMES), help="comma list of " + ", ".join(SCHEMES))
    parser.add_argument("--hashes", type=int, default=4, help="hashes per scheme in the rate test (4)")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved raw/agent rounds per scheme (3)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="processes (one per core)")
    parser.add_argument(
        "--raw-nice", type=int, default=5, help="niceness of the raw workers (5, as the agent's)"
    )
    parser.add_argument(
        "--weak-share", type=float, default=0.06, help="share of planted weak passwords (0.06)"
    )
    parser.add_argument("--seed", type=int, default=6)
    parser.add_argument("--quick", action="store_true", help="2 s per rate, 100 accounts, 20 s budget")
    parser.add_argument("--skip-rates", action="store_true")
    parser.add_argument("--skip-audit", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.seconds, args.accounts, args.budget = (
            min(args.seconds, 2.0),
            min(args.accounts, 100),
            min(args.budget, 20.0),
        )
        args.repeats = min(args.repeats, 2)
    args.schemes = [s.strip() for s in args.schemes.split(",") if s.strip()]
    unknown = [s for s in args.schemes if s not in SCHEMES]
    if unknown:
        parser.error(f"unknown scheme(s): {', '.join(unknown)}")
    rng = random.Random(args.seed)
    result: dict[str, Any] = {
        "benchmark": "vpn_hashaudit",
        "requirement": "A9-T2.2",
        "machine": machine(),
        "settings": {
            "seconds": args.seconds,
            "workers": args.workers,
            "raw_nice": args.raw_nice,
            "agent_worker_nice": 5,
            "hashes_per_scheme": args.hashes,
            "repeats": args.repeats,
            "quick": args.quick,
        },
    }
    rates: dict[str, float] = {}
    if not args.skip_rates:
        rows, profile = measure_rates(args, rng)
        result["rates"] = rows
        result["profile"] = profile
        result["all_targets_met"] = all(r["target_met"] for r in rows)
        rates = {r["scheme"]: r["agent_rate"] for r in rows}
    if not args.skip_audit:
        with tempfile.TemporaryDirectory(prefix="wp-vpnbench-") as tmp:
            root = Path(tmp) / "root"
            progress(f"building a root with {args.accounts} accounts (real mkpasswd/openssl/ocpasswd)")
            built = build_root(root, args, rng)
            progress(
                f"built in {built['build_seconds']} s; running watchpost-agent vpn-audit (budget {args.budget} s)"
            )
            facts, elapsed = run_audit(root, Path(tmp), args)
        audit = audit_figures(facts, elapsed, built, rates, args)
        result["audit"] = audit
        progress(
            f"audit: {elapsed:.1f} s, checked {audit['checked']}, partial {audit['partial']}, not checked "
            f"{audit['not_checked']}; weak found {audit['weak_found']} of {audit['weak_planted']} planted "
            f"({'equal' if audit['weak_found_equals_planted'] else 'NOT equal'}), false positives "
            f"{audit['false_positives']}"
        )
    result["machine"]["load_average_end"] = _load()
    print(json.dumps(result, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
