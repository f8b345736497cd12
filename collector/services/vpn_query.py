"""Reading the VPN register (issue 6: A9-T2.1 manage VPN users, A9-T2.3 zombie users), in the
caller's scope (A9-G: a district admin sees their subtree only; an account or unit outside it
answers 404 like a missing one).

``list_accounts`` filters (unit with its subtree, source, appliance/host, server, weak,
zombie and zombie reason, owner status, present, text), sorts and pages; every row carries its
zombie reasons (``vpn_register.zombie_reasons`` with the unit's threshold). ``summary`` counts
per unit; ``export_rows`` gives the same filtered list as printable rows (Chinese or English
headers) for XLSX/CSV. The register holds no secret (verdict categories only): keep it so.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session

from collector.db.models import Host, Unit
from collector.db.models_vpn import StaffMember, VpnAccount
from collector.services import vpn_register
from collector.services.auth import Principal
from collector.services.errors import BadRequest, Forbidden, NotFound
from collector.services.org import subtree_ids

__all__ = [
    "MAX_ROWS",
    "REASON_WORDS",
    "SORTS",
    "AccountPage",
    "AccountRow",
    "UnitSummary",
    "VpnFilter",
    "account_for_read",
    "account_for_write",
    "export_header",
    "export_rows",
    "list_accounts",
    "list_staff",
    "one_account",
    "reason_words",
    "set_owner",
    "staff_for_read",
    "summary",
]

MAX_ROWS = 50_000
SORTS = ("unit", "account", "server", "source", "last_login", "owner")
#: Zombie reasons in words (A9-T2.3), for pages and exports.
REASON_WORDS: dict[str, dict[str, str]] = {
    "zh-CN": {"no_login": "超过{days}天未登录", "never_used": "从未使用", "owner_left": "使用人已离职",
              "locked": "已锁定或禁用但未删除"},
    "en": {"no_login": "no login for more than {days} days", "never_used": "never used",
           "owner_left": "owner left", "locked": "locked or disabled but not removed"},
}  # fmt: skip


@dataclass
class VpnFilter:
    unit: str = ""  # a unit code: that unit and its subtree
    source: str = ""  # agent | import | syslog
    host_id: int | None = None
    server: str = ""  # exact server name
    weak: str = ""  # yes | no | unknown
    zombie: str = ""  # yes | no
    reason: str = ""  # one of vpn_register.ZOMBIE_REASONS
    owner_status: str = ""  # active | left | none
    present: str = "yes"  # yes | no | all
    q: str = ""  # text in account, full name, owner name, server


@dataclass
class AccountRow:
    account: VpnAccount
    unit: Unit
    host: Host
    owner: StaffMember | None
    reasons: list[str]
    days: int  # the unit's zombie threshold


@dataclass
class AccountPage:
    items: list[AccountRow]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


@dataclass
class UnitSummary:
    unit: Unit
    accounts: int = 0
    weak: int = 0
    zombie: int = 0
    not_checked: int = 0
    reasons: dict[str, int] = field(default_factory=dict)


def reason_words(reasons: Sequence[str], days: int, lang: str) -> list[str]:
    words = REASON_WORDS.get(lang, REASON_WORDS["zh-CN"])
    return [words.get(r, r).format(days=days) for r in reasons]


# -- scope ----------------------------------------------------------------------------------------
def _visible_unit_ids(session: Session, principal: Principal, code: str) -> set[int] | None:
    """The units a listing covers: the caller's view, cut to ``code``'s subtree (None: all)."""
    if not code:
        return None if principal.visible_units is None else set(principal.visible_units)
    unit = session.scalar(select(Unit).where(Unit.code == code.strip()))
    if unit is None or not principal.can_see_unit(unit.id):
        raise NotFound(f"no unit with code {code[:40]!r}", "unknown_unit")
    found = subtree_ids(session, [unit.id])
    return found if principal.visible_units is None else found & set(principal.visible_units)


def account_for_read(session: Session, principal: Principal, account_id: int) -> VpnAccount:
    account = session.get(VpnAccount, account_id)
    if account is None or not principal.can_see_unit(account.unit_id):
        raise NotFound(f"no VPN account {account_id}", "unknown_vpn_account")
    return account


def account_for_write(session: Session, principal: Principal, account_id: int) -> VpnAccount:
    account = account_for_read(session, principal, account_id)
    if not principal.can_manage_unit(account.unit_id):
        raise Forbidden("your role may not change this VPN account (read-only, or another unit's)")
    return account


def staff_for_read(session: Session, principal: Principal, staff_id: int) -> StaffMember:
    member = session.get(StaffMember, staff_id)
    if member is None or not principal.can_see_unit(member.unit_id):
        raise NotFound(f"no staff member {staff_id}", "unknown_staff")
    return member


# -- the list -------------------------------------------------------------------------------------
def _query(
    session: Session, principal: Principal, wanted: VpnFilter
) -> Select[VpnAccount, Unit, Host, StaffMember]:
    query = (
        select(VpnAccount, Unit, Host, StaffMember)
        .join(Unit, Unit.id == VpnAccount.unit_id)
        .join(Host, Host.id == VpnAccount.host_id)
        .outerjoin(StaffMember, StaffMember.id == VpnAccount.owner_id)
    )
    units = _visible_unit_ids(session, principal, wanted.unit)
    if units is not None:
        query = query.where(VpnAccount.unit_id.in_(units))
    if wanted.source:
        query = query.where(VpnAccount.source == wanted.source)
    if wanted.host_id is not None:
        query = query.where(VpnAccount.host_id == wanted.host_id)
    if wanted.server:
        query = query.where(VpnAccount.server == wanted.server)
    if wanted.weak == "yes":
        query = query.where(VpnAccount.weak.is_(True))
    elif wanted.weak == "no":
        query = query.where(VpnAccount.weak.is_(False))
    elif wanted.weak == "unknown":
        query = query.where(VpnAccount.weak.is_(None))
    if wanted.owner_status in ("active", "left"):
        query = query.where(StaffMember.status == wanted.owner_status)
    elif wanted.owner_status == "none":
        query = query.where(VpnAccount.owner_id.is_(None))
    if wanted.present in ("yes", "no"):
        query = query.where(VpnAccount.present.is_(wanted.present == "yes"))
    if wanted.q:
        like = f"%{wanted.q.replace('%', '').replace('_', '')[:64]}%"
        query = query.where(
            or_(VpnAccount.account.ilike(like), VpnAccount.full_name.ilike(like), StaffMember.name.ilike(like),
                VpnAccount.server.ilike(like), Host.hostname.ilike(like))
        )  # fmt: skip
    return query


def _rows(session: Session, principal: Principal, wanted: VpnFilter, now: datetime) -> list[AccountRow]:
    found = session.execute(_query(session, principal, wanted).limit(MAX_ROWS)).all()
    logins = vpn_register.servers_with_logins(session, {a.host_id for a, *_ in found})
    rows: list[AccountRow] = []
    for account, unit, host, owner in found:
        days = vpn_register.zombie_days(session, unit.id)
        reasons = vpn_register.zombie_reasons(
            account, owner, now, days, server_has_logins=(account.host_id, account.server) in logins
        )
        if (wanted.zombie == "yes" and not reasons) or (wanted.zombie == "no" and reasons):
            continue
        if wanted.reason and wanted.reason not in reasons:
            continue
        rows.append(AccountRow(account, unit, host, owner, reasons, days))
    return rows


def _sort_key(sort: str) -> Any:
    far = datetime.min.replace(year=1971).isoformat()
    keys = {
        "unit": lambda r: (r.unit.sort_order, r.unit.code, r.account.server, r.account.account),
        "account": lambda r: (r.account.account.casefold(), r.account.server),
        "server": lambda r: (r.account.server, r.account.account.casefold()),
        "source": lambda r: (r.account.source, r.account.account.casefold()),
        "last_login": lambda r: (r.account.last_login.isoformat() if r.account.last_login else far,
                                 r.account.account.casefold()),
        "owner": lambda r: (r.owner.name if r.owner else "\uffff", r.account.account.casefold()),
    }  # fmt: skip
    return keys[sort]


def _sorted(rows: list[AccountRow], sort: str, direction: str) -> list[AccountRow]:
    if sort not in SORTS:
        raise BadRequest(f"sort must be one of {', '.join(SORTS)}", "bad_sort")
    rows.sort(key=lambda r: r.account.id)
    rows.sort(key=_sort_key(sort), reverse=direction == "desc")
    return rows


def list_accounts(
    session: Session, principal: Principal, wanted: VpnFilter, *, now: datetime, sort: str = "unit",
    direction: Literal["asc", "desc"] = "asc", page: int = 1, per_page: int = 50,
) -> AccountPage:  # fmt: skip
    if not 1 <= per_page <= 500 or page < 1:
        raise BadRequest("page starts at 1; per_page is 1 to 500", "bad_page")
    rows = _sorted(_rows(session, principal, wanted, now), sort, direction)
    start = (page - 1) * per_page
    return AccountPage(rows[start : start + per_page], len(rows), page, per_page)


def one_account(session: Session, principal: Principal, account_id: int, now: datetime) -> AccountRow:
    account = account_for_read(session, principal, account_id)
    owner = session.get(StaffMember, account.owner_id) if account.owner_id else None
    days = vpn_register.zombie_days(session, account.unit_id)
    logins = vpn_register.servers_with_logins(session, [account.host_id])
    reasons = vpn_register.zombie_reasons(
        account, owner, now, days, server_has_logins=(account.host_id, account.server) in logins
    )
    host = session.get(Host, account.host_id)
    unit = session.get(Unit, account.unit_id)
    assert host is not None and unit is not None
    return AccountRow(account, unit, host, owner, reasons, days)


def summary(session: Session, principal: Principal, now: datetime, unit: str = "") -> list[UnitSummary]:
    """Counts per unit of the present accounts: all, weak, zombie, not checked (weak unknown)."""
    counts: dict[int, UnitSummary] = {}
    for row in _rows(session, principal, VpnFilter(unit=unit), now):
        item = counts.setdefault(row.unit.id, UnitSummary(row.unit))
        item.accounts += 1
        item.weak += row.account.weak is True
        item.not_checked += row.account.weak is None
        item.zombie += bool(row.reasons)
        for reason in row.reasons:
            item.reasons[reason] = item.reasons.get(reason, 0) + 1
    return sorted(counts.values(), key=lambda s: (s.unit.sort_order, s.unit.code))


# -- owner by hand --------------------------------------------------------------------------------
def set_owner(
    session: Session, principal: Principal, account_id: int, owner_id: int | None, note: str, ip: str = ""
) -> VpnAccount:
    """Set (or clear) an account's owner by hand: ``owner_match`` becomes "manual" and automatic
    matching leaves it alone. The owner must be a roster entry the caller sees. Audited."""
    from collector.services.audit import record

    account = account_for_write(session, principal, account_id)
    owner = staff_for_read(session, principal, owner_id) if owner_id is not None else None
    before = account.owner_id
    account.owner_id, account.owner_match = (owner.id if owner else None), "manual"
    record(session, principal.username, "vpn.account_owner", f"vpn_account:{account.id}",
           {"account": account.account, "server": account.server, "owner_before": before,
            "owner": account.owner_id, "note": note[:500]}, ip, principal.user_id)  # fmt: skip
    session.flush()
    vpn_register.reevaluate(session, [account.host_id])
    session.commit()
    return account


# -- the roster -----------------------------------------------------------------------------------
def list_staff(
    session: Session, principal: Principal, *, unit: str = "", status: str = "", q: str = "",
    page: int = 1, per_page: int = 100,
) -> tuple[list[tuple[StaffMember, Unit, int]], int]:  # fmt: skip
    """Roster entries in scope with how many accounts each owns; (page of rows, total)."""
    from sqlalchemy import func

    query = select(StaffMember, Unit).join(Unit, Unit.id == StaffMember.unit_id)
    units = _visible_unit_ids(session, principal, unit)
    if units is not None:
        query = query.where(StaffMember.unit_id.in_(units))
    if status in ("active", "left"):
        query = query.where(StaffMember.status == status)
    if q:
        like = f"%{q.replace('%', '').replace('_', '')[:64]}%"
        query = query.where(or_(StaffMember.name.ilike(like), StaffMember.employee_no.ilike(like)))
    total = int(session.scalar(select(func.count()).select_from(query.subquery())) or 0)
    found = session.execute(
        query.order_by(Unit.sort_order, Unit.code, StaffMember.name, StaffMember.id)
        .offset((page - 1) * per_page)
        .limit(per_page)
    ).all()
    ids = [s.id for s, _u in found]
    owned: dict[int, int] = {}
    if ids:
        owned = {
            owner: count
            for owner, count in session.execute(
                select(VpnAccount.owner_id, func.count())
                .where(VpnAccount.owner_id.in_(ids), VpnAccount.present.is_(True))
                .group_by(VpnAccount.owner_id)
            )
            if owner is not None
        }
    return [(s, u, owned.get(s.id, 0)) for s, u in found], total


# -- exports --------------------------------------------------------------------------------------
_HEADER = {
    "zh-CN": ("单位代码", "单位", "服务器/设备", "服务类型", "账号", "姓名", "使用人", "使用人状态", "来源",
              "账号状态", "在册", "最后登录(北京时间)", "最后登录来源", "最后登录地址", "弱口令", "僵尸账号",
              "僵尸原因", "首次发现(北京时间)"),
    "en": ("Unit code", "Unit", "Server / appliance", "Server kind", "Account", "Full name", "Owner",
           "Owner status", "Source", "Account status", "Present", "Last login (Beijing time)",
           "Last login source", "Last login address", "Weak password", "Zombie", "Zombie reasons",
           "First seen (Beijing time)"),
}  # fmt: skip
_WORDS = {
    "zh-CN": {"yes": "是", "no": "否", "unknown": "未检查", "active": "在职", "left": "离职", "none": "未匹配"},
    "en": {"yes": "yes", "no": "no", "unknown": "not checked", "active": "active", "left": "left", "none": "no match"},
}  # fmt: skip


def export_header(lang: str) -> tuple[str, ...]:
    return _HEADER.get(lang, _HEADER["zh-CN"])


def export_rows(
    session: Session, principal: Principal, wanted: VpnFilter, *, now: datetime, lang: str, sort: str = "unit",
    direction: Literal["asc", "desc"] = "asc",
) -> Iterator[list[Any]]:  # fmt: skip
    from zoneinfo import ZoneInfo

    zone = ZoneInfo("Asia/Shanghai")
    words = _WORDS.get(lang, _WORDS["zh-CN"])
    rows = _sorted(_rows(session, principal, wanted, now), sort, direction)
    for r in rows:
        a = r.account
        weak = "unknown" if a.weak is None else ("yes" if a.weak else "no")
        yield [
            r.unit.code, r.unit.name_zh if lang == "zh-CN" else r.unit.name_en, a.server, a.server_kind,
            a.account, a.full_name, r.owner.name if r.owner else "",
            words[r.owner.status if r.owner else "none"] if (not r.owner or r.owner.status in words) else r.owner.status,
            a.source, a.status, words["yes" if a.present else "no"],
            a.last_login.astimezone(zone).replace(tzinfo=None) if a.last_login else None,
            a.last_login_source, a.last_login_ip, words[weak], words["yes" if r.reasons else "no"],
            "；".join(reason_words(r.reasons, r.days, lang)),
            a.first_seen.astimezone(zone).replace(tzinfo=None) if a.first_seen else None,
        ]  # fmt: skip
