"""Try per-user candidates against hashed secrets on all cores, within a time budget (A9-T2.2).

crypt(3) hashes go to a pool of worker processes (one per core, ``spawn`` start method: the
probe may run in a thread, and forking a threaded process is unsafe), each calling libxcrypt's
``crypt_rn`` through agent/vpn/xcrypt.py. Processes, not threads: yescrypt allocates 16 MiB per
call and threads of one process contend on the address space (2 threads measured *slower*
than 1), and each worker gets its own RLIMIT_CPU account. Work goes out in chunks of about
0.2 s: the first ``HEAD`` candidates of every account, then tier 1 of every account before tier 2
of any. At the end of the budget a running chunk stops after its current hash and hands in what
it tried; what was not tried is reported honestly ("not checked: budget"). A worker whose parent
is gone (killed at a timeout) ends itself.

Unsalted hashes (strongSwan NTLM = MD4 of UTF-16LE, sha256/sha1 hex, htpasswd {SHA}) are
computed in-process: one hash per candidate, a set lookup.

Progress can be kept between runs (:class:`ProgressCache`): per hash, keyed by a SHA-256 of
the stored string, the candidate ranges already tried and a match's family, never a password.
Results and progress carry indexes and families only; nothing here logs a candidate or a hash.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import (
    FIRST_COMPLETED,
    BrokenExecutor,
    Executor,
    Future,
    ProcessPoolExecutor,
    ThreadPoolExecutor,
    wait,
)
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.vpn.candidates import Candidate
from agent.vpn.stores import Secret
from agent.vpn.xcrypt import XCrypt, XCryptUnavailable

__all__ = ["HashJob", "HashOutcome", "ProgressCache", "audit_hashes", "md4", "nt_hash", "rate_guess"]

Progress = Callable[[int, int, int], None]  # (candidates tried, candidates total, matches)
_UNSALTED = {"nt", "sha256-hex", "sha1-hex", "sha1-b64"}
#: How long to wait, after the budget, for running chunks to hand in their last hash (a bcrypt
#: of cost 14 takes about 1.5 s; anything slower is dropped and tried again next time).
_LATE_SECONDS = 5.0
# Verifications per second of one core (bench/vpn_hashaudit.py on the 2-core development VM).
_RATES = {
    "md5-crypt": 10000.0,
    "sha256-crypt": 850.0,
    "sha512-crypt": 1000.0,
    "yescrypt": 60.0,
    "gost-yescrypt": 50.0,
    "scrypt": 50.0,
    "des-crypt": 100000.0,
    "bsdi-crypt": 5000.0,
}


@dataclass
class HashJob:
    key: int
    stored: Secret
    scheme: str
    candidates: Sequence[Candidate]
    priority: int = 0  # lower first (locked accounts get 1)


@dataclass
class HashOutcome:
    tried: int = 0
    total: int = 0
    family: str = ""  # the family of the candidate that matched, '' if none
    note: str = ""

    @property
    def complete(self) -> bool:
        return bool(self.family) or (self.total > 0 and self.tried >= self.total)


def rate_guess(stored: str, scheme: str) -> float:
    """Verifications per second one core manages (for chunk sizes), from the lab figures."""
    if scheme == "bcrypt":
        try:
            cost = int(stored.split("$")[2])
        except (IndexError, ValueError):
            cost = 10
        return max(0.05, 20.0 * 2.0 ** (10 - cost))
    rate = _RATES.get(scheme, 20.0)
    if scheme in {"sha256-crypt", "sha512-crypt"} and "$rounds=" in stored:
        try:
            rounds = int(stored.split("$rounds=")[1].split("$")[0])
            rate = rate * 5000 / max(1000, rounds)
        except (IndexError, ValueError):
            pass
    return rate


# --- unsalted hashes -------------------------------------------------------------------------


def md4(data: bytes) -> bytes:
    """MD4 (RFC 1320). OpenSSL 3 disables it in hashlib; NT hashes need it."""

    def rol(x: int, n: int) -> int:
        return ((x << n) | (x >> (32 - n))) & 0xFFFFFFFF

    message = data + b"\x80" + b"\x00" * ((55 - len(data)) % 64) + (len(data) * 8).to_bytes(8, "little")
    a, b, c, d = 0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476
    for offset in range(0, len(message), 64):
        x = [int.from_bytes(message[offset + i : offset + i + 4], "little") for i in range(0, 64, 4)]
        aa, bb, cc, dd = a, b, c, d
        for i in range(16):
            k, s = i, (3, 7, 11, 19)[i % 4]
            f = (b & c) | (~b & d)
            a, b, c, d = d, rol((a + f + x[k]) & 0xFFFFFFFF, s), b, c
        for i in range(16):
            k, s = (i % 4) * 4 + i // 4, (3, 5, 9, 13)[i % 4]
            g = (b & c) | (b & d) | (c & d)
            a, b, c, d = d, rol((a + g + x[k] + 0x5A827999) & 0xFFFFFFFF, s), b, c
        order = (0, 8, 4, 12, 2, 10, 6, 14, 1, 9, 5, 13, 3, 11, 7, 15)
        for i in range(16):
            k, s = order[i], (3, 9, 11, 15)[i % 4]
            h = b ^ c ^ d
            a, b, c, d = d, rol((a + h + x[k] + 0x6ED9EBA1) & 0xFFFFFFFF, s), b, c
        a, b, c, d = (
            (a + aa) & 0xFFFFFFFF,
            (b + bb) & 0xFFFFFFFF,
            (c + cc) & 0xFFFFFFFF,
            (d + dd) & 0xFFFFFFFF,
        )
    return b"".join(v.to_bytes(4, "little") for v in (a, b, c, d))


def nt_hash(password: str) -> str:
    """The NT hash (MD4 of UTF-16LE) in lower-case hex, as strongSwan's NTLM secrets hold it."""
    return md4(password.encode("utf-16-le", errors="surrogatepass")).hex()


def _unsalted(scheme: str, candidate: str) -> str:
    raw = candidate.encode("utf-8", errors="surrogateescape")
    if scheme == "nt":
        return nt_hash(candidate)
    if scheme == "sha256-hex":
        return hashlib.sha256(raw).hexdigest()
    if scheme == "sha1-hex":
        return hashlib.sha1(raw, usedforsecurity=False).hexdigest()
    return "{SHA}" + base64.b64encode(hashlib.sha1(raw, usedforsecurity=False).digest()).decode()


def _check_unsalted(job: HashJob) -> HashOutcome:
    stored = job.stored.reveal()
    target = stored.lower() if job.scheme != "sha1-b64" else stored
    for index, candidate in enumerate(job.candidates):
        if hmac.compare_digest(_unsalted(job.scheme, candidate.text), target):
            return HashOutcome(index + 1, len(job.candidates), candidate.family)
    return HashOutcome(len(job.candidates), len(job.candidates))


# --- the worker side ---------------------------------------------------------------------------

_WORKER: XCrypt | None = None


def _init_worker(library: str) -> None:
    global _WORKER
    try:
        os.nice(5)  # a production VPN server: stay behind its daemons
    except OSError:
        pass
    _WORKER = XCrypt(library)
    _exit_with_parent(os.getppid())


def _exit_with_parent(parent: int) -> None:
    """End this worker when the process that started it is gone (killed at its timeout, or
    SIGTERM to ``vpn-audit``): a worker blocked on the pool's queue would otherwise stay behind."""

    def watch() -> None:
        while True:
            time.sleep(1.0)
            if os.getppid() != parent:
                os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _try_chunk(
    job: int, start: int, stored: str, texts: list[str], deadline: float = float("inf")
) -> tuple[int, int, int, int]:
    """(job, start, tried, index of the match or -1); stops after the hash that crosses
    ``deadline`` (``time.time()``), so no work is thrown away at the end of the budget.
    Never raises: a failure tries nothing."""
    try:
        crypt = _WORKER or XCrypt()
        for offset, text in enumerate(texts):
            if crypt.verify(text, stored):
                return job, start, offset + 1, start + offset
            if time.time() >= deadline:
                return job, start, offset + 1, -1
        return job, start, len(texts), -1
    except Exception:  # noqa: BLE001 - report "nothing tried", never the arguments
        return job, start, 0, -1


# --- progress kept between runs ----------------------------------------------------------------


@dataclass
class ProgressCache:
    """Per hash (SHA-256 of the stored string + of its candidate list): tried ranges, match family."""

    path: Path | None = None
    entries: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def open(cls, path: Path | None) -> ProgressCache:
        cache = cls(path)
        if path is not None:
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
                if isinstance(data, dict) and isinstance(data.get("entries"), dict):
                    cache.entries = data["entries"]
            except (OSError, ValueError):
                pass
        return cache

    @staticmethod
    def key(job: HashJob) -> str:
        listing = hashlib.sha256(
            "\x00".join(c.text for c in job.candidates).encode("utf-8", "surrogateescape")
        )
        stored = hashlib.sha256(job.stored.reveal().encode("utf-8", "surrogateescape")).hexdigest()
        return stored + ":" + listing.hexdigest()[:16]

    def done(self, job: HashJob) -> list[tuple[int, int]]:
        entry = self.entries.get(self.key(job), {})
        return [
            (int(a), int(b)) for a, b in entry.get("done", []) if isinstance(a, int) and isinstance(b, int)
        ]

    def family(self, job: HashJob) -> str:
        return str(self.entries.get(self.key(job), {}).get("family", ""))

    def record(self, job: HashJob, ranges: list[tuple[int, int]], family: str) -> None:
        self.entries[self.key(job)] = {"done": [list(r) for r in _merge(ranges)], "family": family}

    def save(self, keep: set[str]) -> None:
        if self.path is None:
            return
        data = {"version": 1, "entries": {k: v for k, v in self.entries.items() if k in keep}}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(".tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(data, handle)
            os.replace(tmp, self.path)
        except OSError:
            pass


def _merge(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(ranges):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def _covered(ranges: list[tuple[int, int]]) -> int:
    return sum(end - start for start, end in _merge(ranges))


# --- the scheduler -----------------------------------------------------------------------------


@dataclass
class _State:
    job: HashJob
    done: list[tuple[int, int]]
    family: str = ""


#: The first candidates of every account are tried before the rest of anyone's tier 1, so that
#: slow schemes (yescrypt, Debian 12's default, ~60 checks/s per core) are not left untouched by
#: a budget the fast ones would use up (bench/vpn_hashaudit.py showed 0 of 484 yescrypt accounts
#: reached in 60 s without it).
HEAD = 16


def _runs(positions: list[int]) -> Iterator[tuple[int, int]]:
    """Contiguous [start, stop) runs of sorted positions."""
    start = prev = -2
    for p in positions:
        if p != prev + 1:
            if start >= 0:
                yield start, prev + 1
            start = p
        prev = p
    if start >= 0:
        yield start, prev + 1


def _chunks(states: list[_State], chunk_seconds: float) -> Iterator[tuple[int, int, int]]:
    """(state index, start, end): the first ``HEAD`` candidates of every job, then the rest of
    tier 1 of every job, then tier 2, then tier 3; cheap schemes first within a pass; done
    ranges skipped."""
    order = sorted(
        range(len(states)),
        key=lambda i: (
            states[i].job.priority,
            -rate_guess(states[i].job.stored.reveal(), states[i].job.scheme),
        ),
    )
    passes: list[Callable[[int, Candidate], bool]] = [
        lambda i, _c: i < HEAD,
        lambda i, c: i >= HEAD and c.tier == 1,
        lambda i, c: i >= HEAD and c.tier == 2,
        lambda i, c: i >= HEAD and c.tier not in (1, 2),
    ]
    for wanted in passes:
        for index in order:
            state = states[index]
            texts = state.job.candidates
            size = max(1, int(rate_guess(state.job.stored.reveal(), state.job.scheme) * chunk_seconds))
            for start, stop in _runs([i for i, c in enumerate(texts) if wanted(i, c)]):
                for begin in range(start, stop, size):
                    end = min(begin + size, stop)
                    if not any(a <= begin and end <= b for a, b in _merge(state.done)):
                        yield index, begin, end


def audit_hashes(
    jobs: Sequence[HashJob],
    budget_seconds: float,
    *,
    workers: int | None = None,
    progress: Progress | None = None,
    cache: ProgressCache | None = None,
    chunk_seconds: float = 0.2,
) -> tuple[dict[int, HashOutcome], dict[str, Any]]:
    """Outcome per job key, and figures (workers, elapsed, candidates tried, library)."""
    cache = cache or ProgressCache()
    outcomes: dict[int, HashOutcome] = {}
    stats: dict[str, Any] = {"workers": 0, "elapsed": 0.0, "tried": 0, "library": ""}
    started = time.monotonic()
    crypt_states: list[_State] = []
    try:
        xcrypt: XCrypt | None = XCrypt()
        stats["library"] = xcrypt.name if xcrypt else ""
    except XCryptUnavailable:
        xcrypt = None
    for job in jobs:
        total = len(job.candidates)
        if job.scheme in _UNSALTED:
            outcomes[job.key] = _check_unsalted(job)
            stats["tried"] += outcomes[job.key].tried
        elif xcrypt is None:
            outcomes[job.key] = HashOutcome(0, total, note="not checked: libxcrypt not found")
        elif not xcrypt.supports(job.stored.reveal()):
            outcomes[job.key] = HashOutcome(0, total, note=f"not checked: scheme {job.scheme} not supported")
        else:
            state = _State(job, cache.done(job), cache.family(job))
            crypt_states.append(state)
    pending = [s for s in crypt_states if not s.family and _covered(s.done) < len(s.job.candidates)]
    total_candidates = sum(len(s.job.candidates) for s in crypt_states)
    if pending and budget_seconds > 0 and xcrypt is not None:
        count = max(1, workers or os.cpu_count() or 1)
        stats["workers"] = count
        _run_pool(
            pending,
            xcrypt.name,
            count,
            started + budget_seconds,
            chunk_seconds,
            progress,
            total_candidates,
            stats,
        )
    for state in crypt_states:
        total = len(state.job.candidates)
        tried = _covered(state.done)
        outcome = HashOutcome(tried, total, state.family)
        if not outcome.complete:
            outcome.note = "not checked: budget" if tried == 0 else f"partial: budget ({tried}/{total})"
        outcomes[state.job.key] = outcome
        cache.record(state.job, state.done, state.family)
    cache.save({cache.key(s.job) for s in crypt_states})
    stats["elapsed"] = round(time.monotonic() - started, 1)
    return outcomes, stats


def _run_pool(
    states: list[_State],
    library: str,
    count: int,
    deadline: float,
    chunk_seconds: float,
    progress: Progress | None,
    total: int,
    stats: dict[str, Any],
) -> None:
    """Feed chunks to ``count`` worker processes until the work or the budget runs out.

    At most two chunks per worker are in flight, so chunks of a cracked account are skipped and
    the pool stops within about one chunk time of the deadline (running chunks finish, queued
    ones are cancelled). A pool that cannot start (no importable ``__main__`` for ``spawn``)
    falls back to threads in this process."""
    try:
        pool: Executor = ProcessPoolExecutor(
            count,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker,
            initargs=(library,),
        )
    except (OSError, ValueError):
        pool = ThreadPoolExecutor(count)
    work = _chunks(states, chunk_seconds)
    wall_deadline = time.time() + (deadline - time.monotonic())
    running: dict[Future[tuple[int, int, int, int]], int] = {}
    matches = 0
    done_total = sum(_covered(s.done) for s in states)
    exhausted = False
    try:
        while True:
            while not exhausted and len(running) < count * 2:
                item = next(work, None)
                if item is None:
                    exhausted = True
                    break
                index, begin, end = item
                if states[index].family:
                    continue
                texts = [c.text for c in states[index].job.candidates[begin:end]]
                stored = states[index].job.stored.reveal()
                try:
                    future = pool.submit(_try_chunk, index, begin, stored, texts, wall_deadline)
                except BrokenExecutor:
                    pool = _fallback(pool, count, stats)
                    future = pool.submit(_try_chunk, index, begin, stored, texts, wall_deadline)
                running[future] = index
            remaining = deadline - time.monotonic()
            if not running or remaining <= 0:
                break
            finished, _pending = wait(running, timeout=min(remaining, 1.0), return_when=FIRST_COMPLETED)
            for future in finished:
                del running[future]
                try:
                    result = future.result()
                except BrokenExecutor:
                    pool = _fallback(pool, count, stats)
                    exhausted = False
                    work = _chunks(states, chunk_seconds)  # redo what was lost (done ranges are skipped)
                    running.clear()
                    break
                done_total, matches = _take(states, result, stats, done_total, matches)
                if progress is not None:
                    progress(done_total, total, matches)
        # The budget is over: chunks already running stop after their next hash; keep what they
        # did (queued ones never started and are cancelled).
        for future in running:
            future.cancel()
        finished, _pending = wait(running, timeout=_LATE_SECONDS)
        for future in finished:
            if future.cancelled():
                continue
            try:
                result = future.result()
            except BrokenExecutor:
                continue
            done_total, matches = _take(states, result, stats, done_total, matches)
        if progress is not None and finished:
            progress(done_total, total, matches)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)  # running chunks end after one more hash


def _take(
    states: list[_State],
    result: tuple[int, int, int, int],
    stats: dict[str, Any],
    done_total: int,
    matches: int,
) -> tuple[int, int]:
    """Record one chunk's result; returns the new (candidates done, matches)."""
    index, begin, tried, found = result
    state = states[index]
    if tried:
        state.done.append((begin, begin + tried))
        stats["tried"] += tried
        done_total += tried
    if found >= 0 and not state.family:
        state.family = state.job.candidates[found].family
        matches += 1
    return done_total, matches


def _fallback(pool: Executor, count: int, stats: dict[str, Any]) -> Executor:
    pool.shutdown(wait=False, cancel_futures=True)
    stats["mode"] = "threads (worker processes could not start)"
    _init_worker_in_process()
    return ThreadPoolExecutor(count)


def _init_worker_in_process() -> None:
    global _WORKER
    if _WORKER is None:
        _WORKER = XCrypt()
