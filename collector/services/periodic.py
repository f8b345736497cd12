"""The collector's periodic work, one round at a time (issue 5): run by the task the findings
pages start with the app (collector/web/findings_pages.py), every ``findings_sweep_seconds``.

Each round: the findings sweep (exemptions that ended, overdue, findings of retired hosts,
the notification outbox). Every ``policy_sweep_seconds``: the ``host`` checks on every host
(a PC that stopped reporting fails "silent for N days" without any report arriving) and the
unit-level checks (licence seats, yearly drill and training), and the VPN register's checks
(an account turns zombie by time alone; a brute-force event ages out) on the hosts it knows. With several collector
processes each runs its rounds; the work is idempotent.
"""

from __future__ import annotations

import threading
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from collector.services import compliance, findings, unit_checks, vpn_register
from collector.settings import Settings

__all__ = ["run_round"]

_last_policy_round: dict[int, datetime] = {}
_lock = threading.Lock()


def _policy_due(sessions: sessionmaker[Session], settings: Settings, now: datetime) -> bool:
    if not settings.policy_sweep_seconds:
        return False
    with _lock:
        last = _last_policy_round.get(id(sessions))
        if last is not None and (now - last).total_seconds() < settings.policy_sweep_seconds:
            return False
        _last_policy_round[id(sessions)] = now
        return True


def run_round(sessions: sessionmaker[Session], settings: Settings, now: datetime) -> dict[str, int]:
    """One round; returns what it did (counts) for the log."""
    counts = findings.sweep(sessions, settings, now)
    if _policy_due(sessions, settings, now):
        with sessions() as session:
            stats = compliance.evaluate_silent_hosts(session, now)
            session.commit()
            counts["host_checks_changed"] = stats.changed
            units = unit_checks.evaluate_unit_checks(session, now)
            session.commit()
            counts["unit_findings_raised"] = units.raised
            counts["unit_findings_resolved"] = units.resolved
            hosts = vpn_register.register_hosts(session)
            vpn_register.reevaluate(session, hosts, now)  # zombies age, brute force ages out
            session.commit()
            counts["vpn_register_hosts"] = len(hosts)
    return counts
