"""Optional second factor (RFC 6238 TOTP, pyotp): enrol, confirm, check a code once, disable.

The secret is proposed (``totp_pending``) and becomes active (``totp_secret``) only after the
user proves with a code that the authenticator app holds it. A code is accepted once: the
step it belongs to is stored in ``totp_last_step`` with a conditional UPDATE, so a replayed
code, even sent to two collector processes at once, is refused.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

import pyotp
from sqlalchemy import or_, update
from sqlalchemy.orm import Session

from collector.db.base import utcnow
from collector.db.models import User
from collector.services.audit import record
from collector.services.errors import Conflict, Invalid

__all__ = ["ISSUER", "TotpEnrolment", "accept_code", "begin_enrolment", "confirm_enrolment", "disable"]

ISSUER = "Watchpost"
_CODE = re.compile(r"[0-9]{6}")
_WINDOW = 1  # one step (30 s) either side, for clocks that drift a little


@dataclass(frozen=True)
class TotpEnrolment:
    """Shown once: the secret as base32 and as an otpauth:// URI (QR code content)."""

    secret: str
    uri: str


def accept_code(
    session: Session, user: User, code: str, *, pending: bool = False, now: datetime | None = None
) -> bool:
    """Whether ``code`` is a valid, not yet used code of the user's (active or pending) secret.
    An accepted code's step is recorded so that it is never accepted again."""
    secret = user.totp_pending if pending else user.totp_secret
    code = code.strip().replace(" ", "")
    if not secret or not _CODE.fullmatch(code):
        return False
    totp = pyotp.TOTP(secret)
    current = totp.timecode(now or utcnow())
    for step in range(current - _WINDOW, current + _WINDOW + 1):
        if pyotp.utils.strings_equal(totp.generate_otp(step), code):
            used = session.execute(
                update(User)
                .where(User.id == user.id)
                .where(or_(User.totp_last_step.is_(None), User.totp_last_step < step))
                .values(totp_last_step=step)
            )
            if int(getattr(used, "rowcount", 0) or 0) != 1:
                return False
            session.refresh(user)
            return True
    return False


def begin_enrolment(session: Session, user: User, ip: str = "") -> TotpEnrolment:
    """Propose a new secret; it is not required at login until confirmed with a code."""
    if user.totp_secret:
        raise Conflict("two-factor sign-in is already on: disable it first", "totp_active")
    secret = pyotp.random_base32()
    user.totp_pending = secret
    user.totp_last_step = None  # steps of an old secret say nothing about the new one
    record(session, user.username, "totp.enrol_start", f"user:{user.username}", {}, ip, user.id)
    session.commit()
    uri = pyotp.TOTP(secret).provisioning_uri(name=user.username, issuer_name=ISSUER)
    return TotpEnrolment(secret, uri)


def confirm_enrolment(session: Session, user: User, code: str, ip: str = "") -> None:
    if not user.totp_pending:
        raise Conflict("no enrolment in progress: start one first", "totp_not_pending")
    if not accept_code(session, user, code, pending=True):
        raise Invalid("wrong or already used code", "invalid_totp_code")
    user.totp_secret = user.totp_pending
    user.totp_pending = None
    record(session, user.username, "totp.enable", f"user:{user.username}", {}, ip, user.id)
    session.commit()


def disable(session: Session, user: User, code: str, ip: str = "") -> None:
    """Turn the second factor off; the user proves possession with a current code."""
    if not user.totp_secret:
        raise Conflict("two-factor sign-in is not on", "totp_inactive")
    if not accept_code(session, user, code):
        raise Invalid("wrong or already used code", "invalid_totp_code")
    user.totp_secret = None
    user.totp_pending = None
    record(session, user.username, "totp.disable", f"user:{user.username}", {}, ip, user.id)
    session.commit()
