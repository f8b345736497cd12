"""Line templates for VPN appliances' syslog, made from a sample line (issue 6: A9-T2.3, A9-T1).

No syslog line format of Sangfor, Topsec or Qi-AnXin SSL VPNs could be verified (see
../shared/design/vpn-notes.md section 6), so an admin pastes a real line and marks its fields:

    User {user} logged in from {src_ip}:{src_port} at {time} {*}

Markers: ``{user}`` (a non-space run, or anything between the quotes when the sample quotes it:
``user="{user}"``), ``{src_ip}`` (IPv4 or IPv6), ``{src_port}``, ``{time}`` (a stamp inside the
message, used as the login time), ``{*}`` (anything). Every other character is literal; runs of
whitespace match any whitespace. The template matches from a word start to the end of the message.

Matching is bounded (a crafted 8 KiB line must not stall the receiver's single worker, issue 6
review S1): runs of blanks in the message are collapsed to one blank and only the first
:data:`MAX_MATCH` characters of the result are matched (a template that must reach the end of
the message never matches a longer one); a leading ``{*}`` is dropped (the search floats
anyway) and a trailing one just lifts the anchoring at the end; an inner ``{*}`` matches
anything **up to the first place where the text after it matches** (the next literal, with the
fields and blanks before it when the literal is only blanks) and never gives that back
(a tempered, possessive group); ``{user}`` and ``{src_port}`` are possessive too. So each start
position costs at most one pass over the text, and a match at most ``MAX_MATCH``² steps.

A template is saved only when it matches its own sample and has ``{user}`` (and ``{src_ip}`` for
successes and failures); otherwise :class:`Invalid` says which part did not match. Writes are
scoped to the appliance's unit and audited; vendor-wide templates (no appliance) are the city
admins'.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from collector.db.base import utcnow
from collector.db.models import Host
from collector.db.models_vpn import SyslogTemplate
from collector.services.audit import record
from collector.services.auth import Principal, ensure_writer
from collector.services.errors import Forbidden, Invalid, NotFound
from collector.services.syslog_parse import SHANGHAI, parse_stamp, parse_syslog, redact

__all__ = [
    "APPLIANCE",
    "FIELDS",
    "MAX_MATCH",
    "RESULTS",
    "Compiled",
    "TemplateIn",
    "appliance_templates",
    "compile_template",
    "create_template",
    "delete_template",
    "get_template",
    "list_templates",
    "match",
    "message_text",
    "normal_text",
    "redact_template",
    "suggest",
    "try_template",
    "update_template",
]

APPLIANCE = "vpn appliance"
RESULTS = ("success", "failure", "logout")
FIELDS = ("user", "src_ip", "src_port", "time")
MAX_TEXT = 2000
MAX_ANY = 3
MAX_MATCH = 2048  # characters of a message a template is matched against
_BLANKS = re.compile(r"\s+")
_NAMED = re.compile(r"\(\?P<\w+>")
_MARKER = re.compile(r"\{(user|src_ip|src_port|time|\*)\}")
_IPV4 = r"\d{1,3}(?:\.\d{1,3}){3}"
_IPV6 = r"[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?:%[\w.]+)?(?:(?<=:)" + _IPV4 + r")?"
_TIME = (
    r"\d{4}[-/]\d{1,2}[-/]\d{1,2}[T ]+\d{1,2}:\d{2}:\d{2}(?:[.,]\d{1,9})?(?:\s*(?:Z|[+-]\d{2}:?\d{2}))?"
    r"|[A-Z][a-z]{2}\s+\d{1,2}(?:\s+\d{4})?\s+\d{1,2}:\d{2}:\d{2}"
)
_FIELD_RE = {
    "src_ip": rf"(?P<src_ip>{_IPV4}|{_IPV6})",
    "src_port": r"(?P<src_port>\d{1,5})",
    "time": rf"(?P<time>{_TIME})",
}
_FOUND_IP = re.compile(
    rf"(?<![\w.]){_IPV4}(?!\w|\.\d)(?P<port>:\d{{1,5}}(?!\d))?|(?<![\w.:])[0-9A-Fa-f]{{0,4}}(?::[0-9A-Fa-f]{{0,4}}){{2,7}}(?![\w.:])"
)


# -- compiling ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Compiled:
    """A template turned into a regular expression; ``parts`` explain a mismatch."""

    pattern: str
    regex: re.Pattern[str]
    fields: tuple[str, ...]
    parts: tuple[tuple[str, str], ...]  # (shown text, regex) per part
    start: str = ""  # where a match may begin (a look-behind, or "")
    anchored: bool = True  # the match must reach the end of the message


def _literal(text: str) -> str:
    """Literal text; a run of blanks is one blank, as blanks of a message are collapsed."""
    return r"\s".join(re.escape(chunk) for chunk in re.split(r"\s+", text)) if text.strip() else r"\s"


def _user(before: str, after: str) -> str:
    """``{user}``: possessive, as the character after it can never be part of it."""
    quote = before[-1:] if before[-1:] in ("'", '"') else ""
    if quote and after.startswith(quote):
        return rf"(?P<user>[^{quote}\r\n]{{1,128}}+)"
    stop = after[:1] if after[:1] and not after[:1].isspace() else ""
    return rf"(?P<user>[^\s{re.escape(stop)}]{{1,128}}+)" if stop else r"(?P<user>\S{1,128}+)"


def _port(after: str) -> str:
    possessive = "+" if not after[:1].isdigit() else ""
    return rf"(?P<src_port>\d{{1,5}}{possessive})"


def _split(template: str) -> list[str]:
    """Literal text and markers, in order (literal pieces may be empty)."""
    return _MARKER.split(template)  # [literal, name, literal, name, ..., literal]


def _stop(parts: list[tuple[str, str]], index: int, end: str) -> str:
    """What ends an inner ``{*}`` at ``parts[index]``: the parts after it up to the first literal
    with more than blanks in it (or up to the next ``{*}``, or the end)."""
    following = ""
    for shown, regex in parts[index + 1 :]:
        if shown == "{*}":
            break
        following += _NAMED.sub("(?:", regex)  # a look-ahead cannot name the groups again
        if not shown.startswith("{") and shown.strip():
            break
    else:
        following += end
    return following


@lru_cache(maxsize=512)
def compile_template(template: str) -> Compiled:
    """The regular expression of a template; Invalid for a template that cannot work."""
    if not template.strip():
        raise Invalid("the template is empty", "empty_template")
    if len(template) > MAX_TEXT:
        raise Invalid(f"the template is longer than {MAX_TEXT} characters", "template_too_long")
    pieces = _split(template)
    names = pieces[1::2]
    fields = tuple(n for n in names if n != "*")
    twice = sorted({n for n in fields if fields.count(n) > 1})
    if twice:
        raise Invalid(f"{{{twice[0]}}} is marked more than once", "field_twice")
    if names.count("*") > MAX_ANY:
        raise Invalid(f"at most {MAX_ANY} {{*}} markers", "too_many_wildcards")
    for index in range(2, len(pieces) - 1, 2):
        if not pieces[index]:
            raise Invalid(
                f"put some text between {{{pieces[index - 1]}}} and {{{pieces[index + 1]}}}",
                "adjacent_fields",
            )
    parts: list[tuple[str, str]] = []
    for index, piece in enumerate(pieces):
        if index % 2 == 0:
            text = piece.lstrip() if index == 0 else piece
            text = text.rstrip() if index == len(pieces) - 1 else text
            if text:
                parts.append((text, _literal(text)))
            elif piece and 0 < index < len(pieces) - 1:
                parts.append((piece, r"\s"))
        elif piece == "user":
            parts.append(("{user}", _user(pieces[index - 1], pieces[index + 1])))
        elif piece == "src_port":
            parts.append(("{src_port}", _port(pieces[index + 1])))
        else:
            parts.append((f"{{{piece}}}", _FIELD_RE.get(piece, "")))
    # {*}: dropped at the start (the search floats) and at the end (no anchoring there); inside,
    # anything up to where the rest first matches, never given back.
    leading = parts[0][0] == "{*}"
    trailing = len(parts) > 1 and parts[-1][0] == "{*}"
    end = "" if trailing else r"\s?\Z"
    for index, (shown, _regex) in enumerate(parts):
        if shown == "{*}":
            inner = not (index == 0 or index == len(parts) - 1)
            parts[index] = (shown, rf"(?:(?!{_stop(parts, index, end)}).)*+" if inner else "")
    start = "" if leading else _start(parts[0][0])
    pattern = start + "".join(regex for _shown, regex in parts) + end
    return Compiled(pattern, re.compile(pattern, re.DOTALL), fields, tuple(parts), start, not trailing)


def normal_text(text: str) -> str:
    """What a template is matched against: blanks collapsed to one, at most MAX_MATCH characters."""
    return _BLANKS.sub(" ", text).strip()[:MAX_MATCH]


def _start(first: str) -> str:
    """Where a match may begin: a field at a word start, a word not inside another word."""
    if first.startswith("{"):
        return r"(?<!\S)"
    return r"(?<!\w)" if re.match(r"\w", first) else ""


_KEY_AT_END = re.compile(r"(?<![A-Za-z0-9_])(?:password|passwd|pass|pwd|secret|psk|otp|token)=[\"']?\Z", re.I)


def redact_template(template: str) -> str:
    """The template with secrets redacted like the lines it is matched against, except where a
    marker stands for the value (``password={*}`` stays)."""
    pieces = _split(template)
    out = []
    for index, piece in enumerate(pieces):
        if index % 2:
            out.append(f"{{{piece}}}")
            continue
        key = _KEY_AT_END.search(piece) if index + 1 < len(pieces) else None
        out.append(redact(piece[: key.start()]) + piece[key.start() :] if key else redact(piece))
    return "".join(out)


def _explain(compiled: Compiled, sample: str) -> str:
    """Which part of the template the sample first fails on."""
    prefix, sample = compiled.start, normal_text(sample)
    for number, (shown, regex) in enumerate(compiled.parts, 1):
        prefix += regex
        if re.search(prefix, sample, re.DOTALL) is None:
            what = f"the field {shown}" if shown.startswith("{") else f"the text {shown!r}"
            return f"part {number} of the template, {what}, does not match the sample"
    return "the sample has more text after the last part of the template (end the template with {*})"


def match(compiled: Compiled, text: str) -> dict[str, str] | None:
    """The fields of ``text`` when the template matches (IP addresses checked), else None.

    Only the first :data:`MAX_MATCH` characters are looked at: a template that must reach the
    end of the message does not match a longer one."""
    text = _BLANKS.sub(" ", text).strip()
    if len(text) > MAX_MATCH:
        if compiled.anchored:
            return None
        text = text[:MAX_MATCH]
    found = compiled.regex.search(text)
    if found is None:
        return None
    fields = {k: v for k, v in found.groupdict().items() if v is not None}
    if "src_ip" in fields:
        try:
            fields["src_ip"] = str(ipaddress.ip_address(fields["src_ip"].split("%")[0]))
        except ValueError:
            return None
    if "src_port" in fields and int(fields["src_port"]) > 65535:
        return None
    if "user" in fields:
        fields["user"] = fields["user"].strip()
        if not fields["user"]:
            return None
    return fields


_HEADER = re.compile(r"\s*(?:<\d{1,3}>|[A-Z][a-z]{2}\s+\d{1,2}\s+\d{1,2}:\d{2}:\d{2}\s|\d{4}-\d\d-\d\dT\d)")


def message_text(sample: str, now: datetime | None = None) -> tuple[str, str]:
    """(message, content) of a pasted line: a line that clearly starts with a syslog header
    (a PRI, a BSD stamp, an RFC 3339 stamp as rsyslog writes) loses it; any other line is kept
    whole, so that the words before the user name stay in the template."""
    sample = redact(sample)
    parsed = parse_syslog(sample, now or utcnow())
    if _HEADER.match(sample):
        return parsed.msg, parsed.content
    text = sample.strip()
    return text, text


def try_template(template: str, sample: str, result: str = "success") -> dict[str, str]:
    """The fields the template extracts from its sample; Invalid saying what did not match."""
    compiled = compile_template(redact_template(template))
    if "user" not in compiled.fields:
        raise Invalid("the template must mark the user name with {user}", "no_user")
    if result in ("success", "failure") and "src_ip" not in compiled.fields:
        raise Invalid("a login or failure template must mark the source address with {src_ip}", "no_src_ip")
    if not sample.strip():
        raise Invalid("the sample line is empty", "empty_sample")
    try:
        texts = message_text(sample)
    except ValueError as exc:
        raise Invalid(f"the sample is not a syslog line: {exc}", "bad_sample") from None
    for text in (*texts, redact(sample.strip())):
        fields = match(compiled, text)
        if fields is not None:
            if "time" in fields and parse_stamp(fields["time"], utcnow(), SHANGHAI) is None:
                raise Invalid(
                    f"{{time}} matched {fields['time']!r}, which is not a date and time", "bad_time"
                )
            return fields
    raise Invalid(_explain(compiled, texts[0]), "no_match")


def suggest(sample: str, user: str = "") -> str:
    """A template from a sample line: the message without the syslog header, IP addresses as
    {src_ip} (the first; later ones as {*}), ``user`` as {user}, an inner stamp as {time}."""
    try:
        msg, content = message_text(sample)
    except ValueError as exc:
        raise Invalid(f"the sample is not a syslog line: {exc}", "bad_sample") from None
    text = msg if not user or user in msg else content
    marked: list[str] = []
    position, seen_ip = 0, False
    for found in _FOUND_IP.finditer(text):
        address = found.group(0)[: found.start("port") - found.start()] if found["port"] else found.group(0)
        try:
            ipaddress.ip_address(address)
        except ValueError:
            continue
        marked.append(text[position : found.start()])
        if seen_ip:
            marked.append("{*}")
        else:
            marked.append("{src_ip}:{src_port}" if found["port"] else "{src_ip}")
        seen_ip, position = True, found.end()
    marked.append(text[position:])
    result = "".join(marked)
    stamp = re.search(_TIME, result)
    if stamp and parse_stamp(stamp.group(0), utcnow()) is not None:
        result = result[: stamp.start()] + "{time}" + result[stamp.end() :]
    if user:
        result = re.sub(rf"(?<![\w.@-]){re.escape(user)}(?![\w.@-])", "{user}", result, count=1)
    return result


# -- stored templates ---------------------------------------------------------------------------
@dataclass
class TemplateIn:
    name: str
    result: str
    template: str
    sample: str
    host_id: int | None = None
    vendor: str = ""
    enabled: bool = True


def _appliance(session: Session, principal: Principal, host_id: int) -> Host:
    host = session.get(Host, host_id)
    if host is None or not principal.can_see_unit(host.unit_id):
        raise NotFound(f"no host {host_id}", "unknown_host")
    return host


def _check_write(session: Session, principal: Principal, host_id: int | None) -> Host | None:
    ensure_writer(principal)
    if host_id is None:
        if principal.managed_units is not None:
            raise Forbidden("only city admins make templates for every appliance of a vendor", "city_only")
        return None
    host = _appliance(session, principal, host_id)
    if not principal.can_manage_unit(host.unit_id):
        raise Forbidden("your role may not change this appliance", "read_only")
    if host.device_type != APPLIANCE:
        raise Invalid(f"host {host_id} is not a VPN appliance (device type {APPLIANCE!r})", "not_appliance")
    return host


def get_template(session: Session, principal: Principal, template_id: int) -> SyslogTemplate:
    row = session.get(SyslogTemplate, template_id)
    if row is not None and row.host_id is not None:
        host = session.get(Host, row.host_id)
        if host is None or not principal.can_see_unit(host.unit_id):
            row = None
    if row is None:
        raise NotFound(f"no template {template_id}", "unknown_template")
    return row


def list_templates(
    session: Session, principal: Principal, host_id: int | None = None
) -> list[SyslogTemplate]:
    """Templates of the appliances in the caller's view and the vendor-wide ones."""
    query = select(SyslogTemplate).outerjoin(Host, Host.id == SyslogTemplate.host_id)
    if principal.visible_units is not None:
        query = query.where(or_(SyslogTemplate.host_id.is_(None), Host.unit_id.in_(principal.visible_units)))
    if host_id is not None:
        query = query.where(SyslogTemplate.host_id == host_id)
    return list(session.scalars(query.order_by(SyslogTemplate.host_id.is_(None), SyslogTemplate.id)))


def _clean(value: str, limit: int) -> str:
    return value.replace("\x00", "").strip()[:limit]


def _validated(new: TemplateIn) -> tuple[str, str, str]:
    if new.result not in RESULTS:
        raise Invalid(f"result must be one of {', '.join(RESULTS)}", "bad_result")
    template, sample = redact_template(_clean(new.template, MAX_TEXT)), redact(_clean(new.sample, MAX_TEXT))
    try_template(template, sample, new.result)
    return template, sample, compile_template(template).pattern


def _audit(
    session: Session, principal: Principal, action: str, row: SyslogTemplate, ip: str, **extra: Any
) -> None:
    detail = {"name": row.name, "host_id": row.host_id, "vendor": row.vendor, "result": row.result, **extra}
    record(session, principal.username, action, f"syslog_template:{row.id}", detail, ip, principal.user_id)


def create_template(session: Session, principal: Principal, new: TemplateIn, ip: str = "") -> SyslogTemplate:
    host = _check_write(session, principal, new.host_id)
    vendor = _clean(new.vendor or (host.vendor if host else ""), 32)
    if host is None and not vendor:
        raise Invalid("a template for every appliance of a vendor needs the vendor", "no_vendor")
    name = _clean(new.name, 128)
    if not name:
        raise Invalid("a template needs a name", "no_name")
    template, sample, pattern = _validated(new)
    row = SyslogTemplate(
        host_id=new.host_id,
        vendor=vendor,
        name=name,
        result=new.result,
        template=template,
        sample=sample,
        pattern=pattern,
        enabled=new.enabled,
        created_by=principal.user_id,
    )
    session.add(row)
    session.flush()
    _audit(session, principal, "syslog_template.create", row, ip)
    session.commit()
    return row


def update_template(
    session: Session, principal: Principal, template_id: int, changes: dict[str, Any], ip: str = ""
) -> SyslogTemplate:
    """Change name, result, template, sample or enabled; a new template or sample is tested again."""
    row = get_template(session, principal, template_id)
    _check_write(session, principal, row.host_id)
    wanted = TemplateIn(
        name=row.name,
        result=row.result,
        template=row.template,
        sample=row.sample,
        host_id=row.host_id,
        vendor=row.vendor,
        enabled=row.enabled,
    )
    for key, value in changes.items():
        if value is not None and key in ("name", "result", "template", "sample", "enabled", "vendor"):
            setattr(wanted, key, value)
    if row.host_id is not None:
        wanted.vendor = row.vendor
    changed = sorted(
        k
        for k in ("name", "result", "template", "sample", "enabled", "vendor")
        if getattr(wanted, k) != getattr(row, k)
    )
    if {"result", "template", "sample"} & set(changed):
        row.template, row.sample, row.pattern = _validated(wanted)
    name = _clean(wanted.name, 128)
    if not name:
        raise Invalid("a template needs a name", "no_name")
    row.name, row.result, row.enabled = name, wanted.result, wanted.enabled
    if row.host_id is None:
        vendor = _clean(wanted.vendor, 32)
        if not vendor:
            raise Invalid("a template for every appliance of a vendor needs the vendor", "no_vendor")
        row.vendor = vendor
    if changed:
        _audit(session, principal, "syslog_template.update", row, ip, changed=changed)
    session.commit()
    return row


def delete_template(session: Session, principal: Principal, template_id: int, ip: str = "") -> None:
    row = get_template(session, principal, template_id)
    _check_write(session, principal, row.host_id)
    _audit(session, principal, "syslog_template.delete", row, ip)
    session.delete(row)
    session.commit()


def appliance_templates(session: Session, host: Host) -> list[SyslogTemplate]:
    """The enabled templates that apply to an appliance: its own first, then its vendor's."""
    own = select(SyslogTemplate).where(SyslogTemplate.host_id == host.id, SyslogTemplate.enabled.is_(True))
    rows = list(session.scalars(own.order_by(SyslogTemplate.id)))
    vendor = host.vendor.strip().lower()
    if vendor:
        wide = select(SyslogTemplate).where(
            SyslogTemplate.host_id.is_(None), SyslogTemplate.enabled.is_(True)
        )
        rows += [
            r for r in session.scalars(wide.order_by(SyslogTemplate.id)) if r.vendor.strip().lower() == vendor
        ]
    return rows
