"""Collector settings, from the environment (``WATCHPOST_*``) or arguments.

No secret has a default: the collector keeps no signing key at all (sessions and
keys are random tokens whose hashes live in the database), so there is nothing
to leave at an insecure default.
"""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings"]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="WATCHPOST_", extra="ignore")

    database_url: str = Field(
        default="sqlite:///var/watchpost.sqlite3",
        description="SQLAlchemy URL: sqlite:///path or postgresql://user:pw@host/db.",
    )
    host: str = Field(default="127.0.0.1", description="Address `serve` listens on.")
    port: int = Field(default=8080, ge=1, le=65535)
    tls_certfile: str = Field(
        default="",
        description="PEM certificate (chain) for `serve` to speak HTTPS itself, without a proxy ('' : HTTP).",
    )
    tls_keyfile: str = Field(default="", description="PEM private key of tls_certfile.")
    session_hours: float = Field(default=12.0, gt=0, le=24 * 30, description="Login session lifetime.")
    lockout_threshold: int = Field(default=5, ge=1, description="Failed logins before a lockout.")
    lockout_minutes: int = Field(default=15, ge=1, description="How long a lockout lasts.")
    silent_after_hours: float = Field(
        default=48.0, gt=0, description="A host with no report for this long is shown as silent."
    )
    secure_cookies: bool = Field(
        default=False, description="Mark cookies Secure (set when served over HTTPS)."
    )
    display_timezone: str = Field(default="Asia/Shanghai", description="Zone for times on pages.")
    trust_proxy_headers: bool = Field(
        default=False, description="Take the client address from X-Forwarded-For (behind a proxy)."
    )
    # Findings, inbox and notifications (issue 5; docs/findings.md). No secret has a default.
    findings_sweep_seconds: float = Field(
        default=60.0, ge=0, description="Period of the findings task (exemptions, overdue, outbox); 0: off."
    )
    policy_sweep_seconds: float = Field(
        default=3600.0,
        ge=0,
        description="Period of the policy round: silent-host checks on every host and unit-level checks "
        "(licence seats, yearly drill and training); run by the findings task; 0: off.",
    )
    notify_min_severity: str = Field(
        default="high",
        pattern="^(info|low|medium|high|critical)$",
        description="A new finding at or above this severity goes to the inbox (and e-mail/webhook).",
    )
    smtp_host: str = Field(default="", description="SMTP server for notifications ('' : no e-mail).")
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_starttls: bool = Field(default=True, description="Upgrade the SMTP connection with STARTTLS.")
    smtp_username: str = Field(default="", description="SMTP login ('' : none).")
    smtp_password: SecretStr | None = Field(default=None, description="SMTP password (never logged).")
    smtp_from: str = Field(default="", description="Sender address of notification mails.")
    smtp_to: str = Field(default="", description="Recipients of notification mails, comma-separated.")
    smtp_ca_file: str = Field(default="", description="Extra CA bundle to verify the SMTP server.")
    webhook_url: str = Field(default="", description="URL that receives notifications as JSON ('' : none).")
    webhook_secret: SecretStr | None = Field(
        default=None, description="Key of the X-Watchpost-Signature HMAC-SHA256 header (never logged)."
    )
    notify_max_attempts: int = Field(
        default=8, ge=1, le=50, description="Delivery attempts before giving up."
    )
