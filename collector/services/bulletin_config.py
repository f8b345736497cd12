"""The bulletin configuration (policies/bulletin-score.yaml; issue 5, A9-M3.5, P-16): the ranking
score of the district/county bureaus and the wording and numbering of the official document.

Validated on load with pydantic models that refuse unknown keys (``extra="forbid"``), so a typo
in a weight is an error naming the key, not a silently ignored setting. docs/bulletins.md
documents every key and the formula.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Annotated

import yaml
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, model_validator

from collector.services.errors import DomainError

__all__ = [
    "BulletinConfig",
    "BulletinConfigError",
    "DocumentConfig",
    "IssuerConfig",
    "ScoreConfig",
    "SeverityWeights",
    "default_config_path",
    "load_config",
    "parse_config",
]

_Weight = Annotated[float, Field(ge=0, le=1000)]
_Line = Annotated[str, StringConstraints(min_length=1, max_length=255, pattern=r"^[^\x00\n]*$")]
_Prefix = Annotated[str, StringConstraints(min_length=1, max_length=32, pattern=r"^[^\x00\s〔〕]+$")]
_Paragraph = Annotated[str, StringConstraints(min_length=1, max_length=2000, pattern=r"^[^\x00]*$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SeverityWeights(_Strict):
    """Points per finding of each severity (every severity must be given)."""

    critical: _Weight
    high: _Weight
    medium: _Weight
    low: _Weight
    info: _Weight

    def of(self, severity: str) -> float:
        return float(getattr(self, severity, 0.0)) if severity in type(self).model_fields else 0.0


class ScoreConfig(_Strict):
    """The ranking score (see the formula in docs/bulletins.md)."""

    base: float = Field(default=100, ge=-10_000, le=10_000)
    open_weights: SeverityWeights
    overdue_weights: SeverityWeights
    rectification_weight: _Weight = 0
    coverage_weight: _Weight = 0
    per_hosts: int | None = Field(default=100, ge=1, le=1_000_000)
    min_hosts: int = Field(default=1, ge=1, le=1_000_000)
    rate_when_nothing_due: float = Field(default=1.0, ge=0, le=1)
    floor: float | None = Field(default=None, ge=-10_000, le=10_000)
    ceiling: float | None = Field(default=None, ge=-10_000, le=10_000)
    decimals: int = Field(default=1, ge=0, le=4)

    @model_validator(mode="after")
    def _bounds(self) -> ScoreConfig:
        if self.floor is not None and self.ceiling is not None and self.floor > self.ceiling:
            raise ValueError("floor must not be above ceiling")
        return self


class IssuerConfig(_Strict):
    name: _Line
    header: _Line | None = None
    number_prefix: _Prefix


class DocumentConfig(_Strict):
    issuers: dict[Annotated[str, StringConstraints(min_length=1, max_length=32)], IssuerConfig] = Field(
        default_factory=dict
    )
    default_number_prefix: _Prefix = "统网安通"
    red_header: bool = True
    title_city: _Line = "关于{period}全市统计系统网络安全监测情况的通报"
    title_unit: _Line = "关于{period}{unit}网络安全监测情况的通报"
    addressees_city: _Line = "各县、区统计局："
    addressees_unit: _Line = "局属各单位："
    closing: list[_Paragraph] = Field(default_factory=list, max_length=20)

    @model_validator(mode="after")
    def _placeholders(self) -> DocumentConfig:
        for name in ("title_city", "title_unit"):
            try:
                getattr(self, name).format(period="P", unit="U")
            except (KeyError, IndexError, ValueError) as exc:
                raise ValueError(f"{name}: only {{period}} and {{unit}} may be used ({exc})") from None
        return self


class BulletinConfig(_Strict):
    version: int = Field(ge=1)
    score: ScoreConfig
    document: DocumentConfig = Field(default_factory=DocumentConfig)


class BulletinConfigError(DomainError):
    """The configuration file is missing or invalid (an operator's error, not the client's)."""

    status = 503
    code = "bulletin_config_invalid"


def default_config_path() -> Path:
    """``WATCHPOST_BULLETIN_CONFIG`` when set, else bulletin-score.yaml of the policies directory
    (collector.policy.loader.default_policies_dir)."""
    from collector.policy.loader import default_policies_dir

    configured = os.environ.get("WATCHPOST_BULLETIN_CONFIG", "").strip()
    return Path(configured) if configured else default_policies_dir() / "bulletin-score.yaml"


def parse_config(text: str, name: str = "bulletin-score.yaml") -> BulletinConfig:
    """The configuration from YAML text; BulletinConfigError lists every problem."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise BulletinConfigError(f"{name}: not valid YAML: {exc}") from None
    try:
        return BulletinConfig.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(top)'}: {err['msg']}" for err in exc.errors()[:20]
        )
        raise BulletinConfigError(f"{name}: {problems}") from None


@lru_cache(maxsize=4)
def _cached(path: str, _mtime_ns: int, _size: int) -> BulletinConfig:
    return parse_config(Path(path).read_text(encoding="utf-8"), Path(path).name)


def load_config(path: Path | None = None) -> BulletinConfig:
    """The configuration, re-read when the file changes (its modification time or size)."""
    path = path or default_config_path()
    try:
        stat = path.stat()
    except OSError as exc:
        raise BulletinConfigError(f"cannot read the bulletin configuration {path}: {exc.strerror}") from None
    return _cached(str(path), stat.st_mtime_ns, stat.st_size)
