#!/usr/bin/env python3
"""Benchmark: the asset register at city scale, on SQLite and PostgreSQL. Prints JSON.

For each database (SQLite in a temporary directory; a PostgreSQL server this benchmark
starts itself, as the tests do), a real `watchpost-collector serve` on 127.0.0.1 gets a
simulated fleet (bench/_fleet.py: --hosts PCs over the city's units, hundreds of titles
each from a shared long-tail catalogue). Each host is enrolled through the HTTP API with
its unit's enrollment secret (made with `watchpost-collector enroll-secret create`), then:

- full reports ingested per second (every host's first report, --clients concurrent senders);
- delta reports per second (the software section changed: one upgrade, one install);
- p50/p95 latency of the software search (GET /api/v1/hosts?software=X&version_below=Y),
  of a host list API page with filters and sort, of the host list page "/", and of the
  register export GET /api/v1/exports/hosts.csv when the collector has it;
- on PostgreSQL, EXPLAIN ANALYZE of the software search and of the host count, so a slow
  query shows where the time goes.

Progress goes to stderr; the result (one JSON document) to stdout.

    python bench/register.py --quick               # 300 hosts, both databases
    python bench/register.py --hosts 10000 --databases postgresql
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from _collector import BIN, running_collector  # noqa: E402
from _fleet import UNIT_WEIGHTS, Fleet, SimHost  # noqa: E402

from agent.report import report_dict  # noqa: E402

EXPORT_PATH = "/api/v1/exports/hosts.csv"


def progress(message: str) -> None:
    print(f"[register-bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


def latency(samples: list[float]) -> dict[str, float]:
    return {
        "p50_ms": round(statistics.median(samples) * 1000, 1),
        "p95_ms": round(percentile(samples, 0.95) * 1000, 1),
        "runs": len(samples),
    }


def machine() -> dict[str, Any]:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        memory_kb = int(Path("/proc/meminfo").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        memory_kb = 0
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(memory_kb / 1024**2, 1),
        "python": platform.python_version(),
        "system": f"{platform.system()} {platform.release()}",
    }


@contextmanager
def database(kind: str, workdir: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """A database URL for the collector, and facts about the server."""
    if kind == "sqlite":
        yield f"sqlite:///{workdir}/register.sqlite3", {"journal_mode": "wal", "synchronous": "normal"}
        return
    from sqlalchemy import text

    from collector.db.engine import make_engine
    from tests.support.postgres import start_postgres

    server = start_postgres()
    try:
        engine = make_engine(server.admin_url, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(text('CREATE DATABASE "register_bench"'))
            version = conn.execute(text("SHOW server_version")).scalar()
        engine.dispose()
        yield (
            server.url("register_bench"),
            {
                "server_version": version,
                "settings": "tests' throwaway server: fsync=off, synchronous_commit=off, "
                "shared_buffers default (128MB)",
            },
        )
    finally:
        server.stop()


def cli(database_url: str, *args: str) -> str:
    env = {**os.environ, "WATCHPOST_DATABASE_URL": database_url}
    return subprocess.run(
        [str(BIN / "watchpost-collector"), *args],
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout.strip()


def timed_pool(
    clients: int, work: Callable[[int], float], count: int, label: str
) -> tuple[float, list[float]]:
    """Run ``work(i)`` for i < count on ``clients`` threads; wall seconds and per-call seconds."""
    done = 0
    latencies: list[float] = []
    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        for seconds in pool.map(work, range(count)):
            latencies.append(seconds)
            done += 1
            if done % 1000 == 0:
                rate = done / (time.perf_counter() - started)
                progress(f"{label}: {done}/{count} ({rate:.0f}/s)")
    return time.perf_counter() - started, latencies


def measure(
    client: httpx.Client, path: str, runs: int, **kwargs: Any
) -> tuple[dict[str, Any], httpx.Response]:
    samples: list[float] = []
    answer: httpx.Response | None = None
    try:
        client.get(path, **kwargs)  # warm the caches once; the figures are for a warm server
    except httpx.TransportError as exc:
        progress(f"GET {path} (warm-up): {exc!r}")
    transport_errors = 0
    while len(samples) < runs:
        t0 = time.perf_counter()
        try:
            answer = client.get(path, **kwargs)
            answer.read()
        except httpx.TransportError as exc:  # e.g. a kept-alive connection the server closed
            transport_errors += 1
            progress(f"GET {path}: {exc!r}; retrying")
            if transport_errors > 3:
                raise
            continue
        samples.append(time.perf_counter() - t0)
        if answer.is_error:  # a failing query is a result too: report it, go on with the rest
            progress(f"GET {path}: HTTP {answer.status_code}")
            return {
                "error": f"HTTP {answer.status_code}",
                "body": answer.text[:300],
                "runs": len(samples),
            }, answer
    assert answer is not None
    timing: dict[str, Any] = latency(samples)
    if transport_errors:
        timing["transport_errors_retried"] = transport_errors
    return timing, answer


def matches(answer: httpx.Response) -> int | None:
    """The total of a host list answer; None when the request failed."""
    return None if answer.is_error else int(answer.json()["total"])


def explain(database_url: str, fleet: Fleet) -> dict[str, Any]:
    """EXPLAIN ANALYZE of the register queries the collector runs for the timed requests."""
    from sqlalchemy import func, select, text

    from collector.db.engine import make_engine, make_sessionmaker
    from collector.services.auth import Principal
    from collector.services.register import HostFilter, filtered_hosts

    engine = make_engine(database_url)
    city_admin = Principal(user_id=0, username="bench", roles=(), visible_units=None, managed_units=None)
    title = fleet.popular_title()
    plans: dict[str, Any] = {}
    with make_sessionmaker(engine)() as session:
        cases = {
            "software_search": HostFilter(software=title.name, version_below=title.versions[-1]),
            "software_search_rare": HostFilter(software=fleet.rare_title().name),
            "host_list_filtered": HostFilter(unit="341021", os="windows"),
        }
        for name, wanted in cases.items():
            query = filtered_hosts(session, city_admin, wanted, 48.0)
            count = select(func.count()).select_from(query.order_by(None).subquery())
            sql = str(count.compile(engine, compile_kwargs={"literal_binds": True}))
            rows = session.execute(text("EXPLAIN (ANALYZE, BUFFERS) " + sql)).scalars().all()
            plans[name] = rows
        plans["table_sizes"] = {
            name: session.execute(text(f"SELECT pg_size_pretty(pg_total_relation_size('{name}'))")).scalar()
            for name in ("host_software", "host_sections", "host_section_history", "host_changes", "hosts")
        }
        plans["host_software_rows"] = session.execute(text("SELECT count(*) FROM host_software")).scalar()
        plans["database_size"] = session.execute(
            text("SELECT pg_size_pretty(pg_database_size(current_database()))")
        ).scalar()
    engine.dispose()
    return plans


#: What this benchmark suggests for the software search (see bench/README.md): the filter is
#: "name contains", LIKE '%x%', which no B-tree index serves; a trigram GIN index does.
SUGGESTED_INDEXES = (
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "CREATE INDEX IF NOT EXISTS ix_host_software_name_trgm ON host_software USING gin (name_key gin_trgm_ops)",
    "ANALYZE host_software",
)


def try_indexes(database_url: str, fleet: Fleet, *, http_url: str, token: str, runs: int) -> dict[str, Any]:
    """Create the suggested indexes (this benchmark's throwaway database only), then time the
    software searches again and EXPLAIN them."""
    from sqlalchemy import text

    from collector.db.engine import make_engine

    engine = make_engine(database_url, isolation_level="AUTOCOMMIT")
    started = time.perf_counter()
    with engine.connect() as conn:
        for statement in SUGGESTED_INDEXES:
            conn.execute(text(statement))
    built = time.perf_counter() - started
    engine.dispose()
    title, rare = fleet.popular_title(), fleet.rare_title()
    bearer = {"Authorization": f"Bearer {token}"}
    out: dict[str, Any] = {"statements": list(SUGGESTED_INDEXES), "build_seconds": round(built, 1)}
    with httpx.Client(base_url=http_url, timeout=120) as http:
        out["software_search"], _ = measure(
            http,
            "/api/v1/hosts",
            runs,
            params={"software": title.name, "version_below": title.versions[-1], "per_page": 50},
            headers=bearer,
        )
        out["software_search_rare_title"], _ = measure(
            http, "/api/v1/hosts", runs, params={"software": rare.name}, headers=bearer
        )
    plans = explain(database_url, fleet)
    out["explain"] = {k: plans[k] for k in ("software_search", "software_search_rare")}
    return out


def run_one(kind: str, args: argparse.Namespace, fleet: Fleet) -> dict[str, Any]:
    result: dict[str, Any] = {"database": kind}
    with (
        tempfile.TemporaryDirectory(prefix="wp-register-bench-") as tmp,
        database(kind, Path(tmp)) as (url, facts),
    ):
        result["server"] = facts
        progress(f"{kind}: starting the collector")
        with running_collector(Path(tmp), url, "341000-JSZ") as rig:
            secrets = {"341000-JSZ": rig.secret}
            for unit in UNIT_WEIGHTS:
                if unit not in secrets:
                    secrets[unit] = cli(url, "enroll-secret", "create", "--unit", unit, "--quiet")
            http = httpx.Client(base_url=rig.url, timeout=120, limits=httpx.Limits(max_connections=64))

            # --- build the fleet (identities kept; sections rebuilt when needed) ------
            progress(f"{kind}: building {fleet.size} simulated hosts and their full reports")
            hosts: list[SimHost] = []
            bodies: list[bytes] = []
            items: list[int] = []
            for i in range(fleet.size):
                sim = fleet.host(i)
                bodies.append(
                    gzip.compress(
                        json.dumps(report_dict(sim.agent_id, sim.sections), ensure_ascii=False).encode()
                    )
                )
                items.append(len(sim.sections["software"]["data"]["items"]))
                sim.sections, sim.software = {}, []  # memory: 10,000 hosts x ~360 items
                hosts.append(sim)
                if (i + 1) % 2000 == 0:
                    progress(f"{kind}: built {i + 1}/{fleet.size}")
            result["software_items_per_host"] = {
                "mean": round(statistics.mean(items), 1),
                "min": min(items),
                "max": max(items),
            }
            result["full_report_gzip_kib_median"] = round(statistics.median(len(b) for b in bodies) / 1024, 1)

            # --- enroll -------------------------------------------------------------
            keys: list[str] = [""] * fleet.size

            def enroll(i: int) -> float:
                sim = hosts[i]
                t0 = time.perf_counter()
                answer = http.post(
                    "/api/v1/enroll",
                    json={
                        "enroll_secret": secrets[sim.unit],
                        "agent_id": str(sim.agent_id),
                        "agent_version": "bench",
                        "hostname": sim.hostname,
                        "os_family": sim.os_family,
                        "system_uuid": sim.system_uuid,
                        "serial": sim.serial,
                    },
                )
                answer.raise_for_status()
                keys[i] = answer.json()["node_key"]
                return time.perf_counter() - t0

            seconds, _ = timed_pool(args.clients, enroll, fleet.size, f"{kind} enroll")
            result["enroll_per_second"] = round(fleet.size / seconds, 1)

            # --- full reports -------------------------------------------------------
            acked: list[dict[str, str]] = [{} for _ in range(fleet.size)]

            def send(body: bytes, key: str) -> httpx.Response:
                answer = http.post(
                    "/api/v1/reports",
                    content=body,
                    headers={
                        "Content-Type": "application/json",
                        "Content-Encoding": "gzip",
                        "Authorization": f"Bearer {key}",
                    },
                )
                answer.raise_for_status()
                return answer

            def send_full(i: int) -> float:
                t0 = time.perf_counter()
                ack = send(bodies[i], keys[i]).json()
                acked[i] = ack["section_hashes"]
                return time.perf_counter() - t0

            seconds, latencies = timed_pool(args.clients, send_full, fleet.size, f"{kind} full reports")
            result["full_reports_per_second"] = round(fleet.size / seconds, 1)
            result["full_report_latency"] = latency(latencies)

            # --- delta reports ------------------------------------------------------
            progress(f"{kind}: preparing {fleet.size} delta reports")
            bodies = []
            for i in range(fleet.size):
                sim = fleet.host(i)
                changed = fleet.changed(sim)
                bodies.append(
                    gzip.compress(
                        json.dumps(
                            report_dict(sim.agent_id, changed, acked=acked[i]), ensure_ascii=False
                        ).encode()
                    )
                )
                if (i + 1) % 2000 == 0:
                    progress(f"{kind}: prepared {i + 1}/{fleet.size}")
            result["delta_report_gzip_kib_median"] = round(
                statistics.median(len(b) for b in bodies) / 1024, 1
            )

            def send_delta(i: int) -> float:
                t0 = time.perf_counter()
                ack = send(bodies[i], keys[i]).json()
                assert ack["status"] == "stored", ack
                return time.perf_counter() - t0

            seconds, latencies = timed_pool(args.clients, send_delta, fleet.size, f"{kind} delta reports")
            result["delta_reports_per_second"] = round(fleet.size / seconds, 1)
            result["delta_report_latency"] = latency(latencies)
            bodies = []

            # --- queries ------------------------------------------------------------
            progress(f"{kind}: timing queries ({args.runs} runs each)")
            username, password = rig.credentials.read_text().split()
            login = http.post("/api/v1/auth/login", json={"username": username, "password": password})
            login.raise_for_status()
            token = login.json()["token"]
            bearer = {"Authorization": f"Bearer {token}"}
            title, rare = fleet.popular_title(), fleet.rare_title()
            queries: dict[str, Any] = {}
            timing, answer = measure(
                http,
                "/api/v1/hosts",
                args.runs,
                params={"software": title.name, "version_below": title.versions[-1], "per_page": 50},
                headers=bearer,
            )
            queries["software_search"] = {
                **timing,
                "query": f"software={title.name}&version_below={title.versions[-1]}",
                "matches": matches(answer),
            }
            timing, answer = measure(
                http, "/api/v1/hosts", args.runs, params={"software": rare.name}, headers=bearer
            )
            queries["software_search_rare_title"] = {
                **timing,
                "query": f"software={rare.name}",
                "matches": matches(answer),
            }
            params = {"unit": "341021", "os": "windows", "sort": "last_seen", "direction": "desc", "page": 2}
            timing, answer = measure(http, "/api/v1/hosts", args.runs, params=params, headers=bearer)
            queries["host_list_api_filtered"] = {
                **timing,
                "query": "unit=341021&os=windows&sort=last_seen&direction=desc&page=2 (50 a page)",
                "matches": matches(answer),
            }
            timing, answer = measure(
                http, "/api/v1/hosts", args.runs, params={"sort": "hostname"}, headers=bearer
            )
            queries["host_list_api_all"] = {
                **timing,
                "query": "sort=hostname (first page of the whole city)",
                "matches": matches(answer),
            }
            if matches(answer) not in (None, fleet.size):
                raise AssertionError(f"the register holds {matches(answer)} hosts, not {fleet.size}")
            page_runs = max(3, args.runs // 4)
            timing, answer = measure(http, "/", page_runs, cookies={"wp_session": token})
            if "/login" in str(answer.url):
                raise AssertionError("the host list page answered with the login page")
            queries["host_list_page_html"] = {**timing, "bytes": len(answer.content)}
            probe = http.head(EXPORT_PATH, headers=bearer)
            if probe.status_code in (404, 405) and http.get(EXPORT_PATH, headers=bearer).status_code == 404:
                queries["export_hosts_csv"] = {"skipped": f"{EXPORT_PATH} does not exist in this collector"}
            else:
                timing, answer = measure(http, EXPORT_PATH, page_runs, headers=bearer)
                queries["export_hosts_csv"] = {**timing, "bytes": len(answer.content)}
            result["queries"] = queries

            if kind == "postgresql":
                progress(f"{kind}: EXPLAIN ANALYZE of the register queries")
                result["explain"] = explain(url, fleet)
                if args.try_indexes:
                    progress(f"{kind}: adding the suggested trigram index and timing the search again")
                    result["with_suggested_indexes"] = try_indexes(
                        url, fleet, http_url=rig.url, token=token, runs=args.runs
                    )
            else:
                result["database_file_mib"] = round(Path(tmp, "register.sqlite3").stat().st_size / 1024**2, 1)
            http.close()
    return result


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--hosts", type=int, default=10_000, help="simulated hosts (default 10000)")
    parser.add_argument("--quick", action="store_true", help="a small run: 300 hosts, 10 runs per query")
    parser.add_argument("--clients", type=int, default=4, help="concurrent senders (default 4)")
    parser.add_argument("--runs", type=int, default=40, help="timed runs per query (default 40)")
    parser.add_argument(
        "--databases", default="sqlite,postgresql", help="comma-separated: sqlite, postgresql (default both)"
    )
    parser.add_argument(
        "--try-indexes",
        action="store_true",
        help="PostgreSQL: afterwards add the suggested trigram index and time the software search again",
    )
    parser.add_argument("--seed", type=int, default=20261127, help="fleet seed (same seed, same fleet)")
    args = parser.parse_args()
    if args.quick:
        args.hosts, args.runs = min(args.hosts, 300), min(args.runs, 10)
    kinds = [k.strip() for k in args.databases.split(",") if k.strip()]
    if unknown := set(kinds) - {"sqlite", "postgresql"}:
        parser.error(f"unknown database(s): {', '.join(sorted(unknown))}")

    fleet = Fleet(args.hosts, seed=args.seed)
    results = []
    for kind in kinds:
        results.append(run_one(kind, args, fleet))
    print(
        json.dumps(
            {
                "benchmark": "register",
                "hosts": args.hosts,
                "clients": args.clients,
                "seed": args.seed,
                "machine": machine(),
                "catalogue": {
                    "windows_titles": len(fleet.windows_titles),
                    "dpkg_packages": len(fleet.dpkg_titles),
                },
                "results": results,
            },
            indent=2,
            ensure_ascii=False,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
