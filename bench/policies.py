#!/usr/bin/env python3
"""Benchmark: the policy engine at city scale (issue 5, A9-T3.4), SQLite and PostgreSQL. Prints JSON.

Hosts are written straight into a migrated, seeded database (the ingest path is measured by
bench/register.py and bench/ingest.py): --hosts PCs over the city's units, each with every
section the shipped checks read, made from the pack examples' base documents
(policies/examples/) and varied per host (signature age, scan dates, pending updates,
firewall, RDP, accounts, installed titles...) so that results differ from host to host,
as they do in a real city.

Measured:
- engine: host × check evaluations per second in memory (compiled rules on JSON documents,
  no database), single process;
- first evaluation of every check on every host (results, history and findings written);
- a second evaluation with nothing changed (the steady state after each report);
- re-evaluation after a pack change: a new version of the antivirus pack with a changed
  threshold is staged and applied (`apply_pack`), which re-evaluates its checks on every host.

Progress goes to stderr; the result (one JSON document) to stdout.

    python bench/policies.py --quick                    # 500 hosts, both databases
    python bench/policies.py --hosts 10000 --databases postgresql
"""

from __future__ import annotations

import argparse
import copy
import json
import random
import re
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.register import database, machine

ROOT = Path(__file__).resolve().parents[1]


def progress(message: str) -> None:
    print(f"[policies-bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _vary(section: str, doc: dict[str, Any], rng: random.Random, now: datetime) -> dict[str, Any]:
    """Per-host variation of a base document, within what the wire model accepts."""
    doc = copy.deepcopy(doc)

    def when(days: float) -> str:
        return (now - timedelta(days=days)).isoformat()

    if section == "antivirus":
        for product in doc.get("products", []):
            age = rng.choice([0, 1, 2, 3, 5, 9, 20, 60])
            product["signature_age_days"] = age
            product["signature_date"] = when(age)
            product["last_full_scan"] = when(rng.choice([1, 5, 12, 40, 200]))
            product["real_time_protection"] = rng.random() > 0.05
            product["scans_30d"] = rng.choice([0, 1, 2, 4, 8])
    elif section == "patches":
        if "last_installed_at" in doc:
            doc["last_installed_at"] = when(rng.choice([3, 10, 25, 45, 120]))
    elif section == "security_config":
        if isinstance(doc.get("rdp"), dict) and "enabled" in doc["rdp"]:
            doc["rdp"]["enabled"] = rng.random() < 0.2
    elif section == "software":
        items = doc.get("items", [])
        if items and rng.random() < 0.1:
            extra = copy.deepcopy(items[0])
            extra["name"] = rng.choice(["TeamViewer 15", "KMSpico", "迅雷11", "AnyDesk", "ToDesk"])
            items.append(extra)
    return doc


def build(database_url: str, hosts: int, seed: int) -> dict[str, Any]:
    import yaml
    from sqlalchemy import select

    from collector.db.engine import make_engine, make_sessionmaker
    from collector.db.migrate import upgrade
    from collector.db.models import Host, HostSection, HostTag, Unit
    from collector.services.compliance import sync_builtin_packs
    from collector.services.org import seed_units
    from wire.hashing import content_hash
    from wire.sections import SECTION_MODELS

    engine = make_engine(database_url)
    upgrade(engine)
    sessions = make_sessionmaker(engine)
    rng = random.Random(seed)
    now = datetime.now(UTC)
    bases = {}
    for name in SECTION_MODELS:
        path = ROOT / "policies" / "examples" / f"{name}.yaml"
        if path.is_file():
            bases[name] = yaml.safe_load(path.read_text(encoding="utf-8"))
    started = time.perf_counter()
    with sessions() as session:
        seed_units(session)
        sync_builtin_packs(session, evaluate=False)
        session.commit()
        units = [u.id for u in session.scalars(select(Unit))]
        for i in range(hosts):
            host = Host(
                agent_id=uuid.uuid4(),
                unit_id=rng.choice(units),
                hostname=f"bench-pc-{i:05d}",
                os_family="windows" if rng.random() < 0.85 else "linux",
                device_type=rng.choice(["desktop", "desktop", "desktop", "laptop"]),
                source="agent",
                enrolled_at=now - timedelta(days=200),
                last_seen=now - timedelta(days=rng.choice([0, 0, 0, 1, 2, 9, 40])),
            )
            session.add(host)
            session.flush()
            if rng.random() < 0.2:
                session.add(HostTag(host_id=host.id, tag="internal-network"))
            for name, base in bases.items():
                model = SECTION_MODELS[name]
                data = model.model_validate(_vary(name, base, rng, now)).model_dump(mode="json")
                session.add(
                    HostSection(
                        host_id=host.id,
                        name=name,
                        status="ok",
                        content_hash=content_hash(data),
                        data=data,
                        collected_at=now,
                    )
                )
            if i % 500 == 499:
                session.commit()
                progress(f"built {i + 1}/{hosts} hosts")
        session.commit()
    engine.dispose()
    return {
        "hosts": hosts,
        "sections_per_host": len(bases),
        "build_seconds": round(time.perf_counter() - started, 1),
    }


def engine_rate(seconds: float = 3.0) -> dict[str, Any]:
    """Compiled rules evaluated in memory on the example documents."""
    from collector.policy.expr import Context
    from collector.policy.facts import DEFAULT_HOST
    from collector.policy.loader import default_policies_dir, example_document, load_dir

    packs, _ = load_dir(default_policies_dir())
    cases = []
    for pack in packs:
        for check in pack.checks:
            example = check.check.examples[0]
            doc, host = example_document(check, example)
            cases.append(
                (
                    check,
                    doc,
                    Context(host=host or DEFAULT_HOST, params=pack.defaults(), now=datetime.now(UTC)),
                )
            )
    count = 0
    started = time.perf_counter()
    while time.perf_counter() - started < seconds:
        for check, doc, ctx in cases:
            check.evaluate(doc, ctx)
        count += len(cases)
    elapsed = time.perf_counter() - started
    return {"checks": len(cases), "evaluations_per_second": round(count / elapsed)}


def run_one(kind: str, args: argparse.Namespace) -> dict[str, Any]:
    from sqlalchemy import func, select

    from collector.db.engine import make_engine, make_sessionmaker
    from collector.db.models import User
    from collector.db.models_policy import CheckResult, Finding, PolicyPack
    from collector.policy.loader import default_policies_dir
    from collector.services import compliance
    from collector.services.auth import create_user, generate_password, principal_for_user

    with tempfile.TemporaryDirectory() as workdir, database(kind, Path(workdir)) as (url, server):
        progress(f"{kind}: building {args.hosts} hosts")
        built = build(url, args.hosts, args.seed)
        engine = make_engine(url)
        sessions = make_sessionmaker(engine)
        out: dict[str, Any] = {"database": kind, "server": server, **built}

        def evaluate(label: str) -> None:
            with sessions() as session:
                started = time.perf_counter()

                def tick(done: int, total: int) -> None:
                    if done % 2000 == 0 or done == total:
                        progress(f"{kind}: {label}: {done}/{total} hosts")

                stats = compliance.evaluate_all(session, progress=tick)
                session.commit()
                elapsed = time.perf_counter() - started
            out[label] = {
                "seconds": round(elapsed, 2),
                "evaluations": stats.evaluations,
                "changed": stats.changed,
                "evaluations_per_second": round(stats.evaluations / elapsed) if elapsed else None,
                "hosts_per_second": round(stats.hosts / elapsed, 1) if elapsed else None,
            }

        evaluate("first_evaluation")
        evaluate("steady_state_evaluation")
        with sessions() as session:
            counted = session.execute(select(CheckResult.status, func.count()).group_by(CheckResult.status))
            out["results"] = {str(status): int(n) for status, n in counted}
            out["findings_opened"] = session.scalar(select(func.count()).select_from(Finding))
            admin = create_user(
                session, "bench-admin", generate_password(), role="city_admin", unit_code="341000"
            )
            session.commit()
            principal = principal_for_user(session, session.get_one(User, admin.id))
            active = session.scalar(
                select(PolicyPack).where(PolicyPack.name == "antivirus", PolicyPack.status == "active")
            )
            assert active is not None
            text = (default_policies_dir() / "packs" / "antivirus.yaml").read_text(encoding="utf-8")
            text = re.sub(r"(?m)^version: *\d+", f"version: {active.version + 1}", text)
            text = re.sub(r"(?m)^(\s+default: )7\b", r"\g<1>5", text, count=1)  # a tighter threshold
            started = time.perf_counter()
            compliance.stage_pack(session, principal, text)
            staged = time.perf_counter() - started
            started = time.perf_counter()
            stats = compliance.apply_pack(session, principal, "antivirus", active.version + 1)
            session.commit()
            elapsed = time.perf_counter() - started
        out["pack_change"] = {
            "stage_seconds": round(staged, 2),
            "apply_and_reevaluate_seconds": round(elapsed, 2),
            "hosts": stats.hosts,
            "evaluations": stats.evaluations,
            "changed": stats.changed,
        }
        engine.dispose()
        return out


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--hosts", type=int, default=10_000, help="simulated hosts (default 10000)")
    parser.add_argument("--quick", action="store_true", help="a small run: 500 hosts")
    parser.add_argument(
        "--databases", default="sqlite,postgresql", help="comma-separated: sqlite, postgresql (default both)"
    )
    parser.add_argument("--seed", type=int, default=20261127)
    args = parser.parse_args()
    if args.quick:
        args.hosts = 500
    result: dict[str, Any] = {
        "benchmark": "policies",
        "machine": machine(),
        "engine": engine_rate(1.0 if args.quick else 3.0),
        "runs": [],
    }
    for kind in [k.strip() for k in args.databases.split(",") if k.strip()]:
        result["runs"].append(run_one(kind, args))
    print(json.dumps(result, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
