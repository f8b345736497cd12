"""Drill scenario templates and plan defaults as data (policies/drills/*.yaml; A9-M4.1, A9-M4.2).

Each scenario file describes one incident a statistics bureau meets (ransomware on office
PCs, website defacement, leak of microdata, compromised VPN account, loss of the link to
the direct-reporting platform, malware on the direct-reporting PC, server-room outage):
its phases (detect, report, contain, eradicate, recover, review) with steps and target
minutes, and the injects revealed during the drill. ``plan-defaults.yaml`` fills a new
plan's first draft (incident levels with reporting deadlines and addressees, a call tree,
steps per phase, resources). Both are validated by strict pydantic models (extra="forbid").

A drill keeps a snapshot of its scenario (the same ``Scenario`` model), so editing a
template never changes a drill already planned or run.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, model_validator

__all__ = [
    "LEVEL_KEYS",
    "PHASES",
    "Inject",
    "LevelDefault",
    "Phase",
    "PlanDefaults",
    "Scenario",
    "Step",
    "TemplateError",
    "load_plan_defaults",
    "load_templates",
    "template",
    "templates_dir",
]

PHASES = ("detect", "report", "contain", "eradicate", "recover", "review")
#: Incident levels: I 特别重大, II 重大, III 较大, IV 一般.
LEVEL_KEYS = ("I", "II", "III", "IV")
PhaseName = Literal["detect", "report", "contain", "eradicate", "recover", "review"]
LevelKey = Literal["I", "II", "III", "IV"]

_NO_NUL = r"^[^\x00]*$"
Key = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_-]*$")]
Line = Annotated[str, StringConstraints(min_length=1, max_length=500, pattern=_NO_NUL, strip_whitespace=True)]
OptLine = Annotated[str, StringConstraints(max_length=500, pattern=_NO_NUL, strip_whitespace=True)]
Short = Annotated[str, StringConstraints(max_length=128, pattern=_NO_NUL, strip_whitespace=True)]
Long = Annotated[str, StringConstraints(max_length=4000, pattern=_NO_NUL, strip_whitespace=True)]
Minutes = Annotated[int, Field(ge=1, le=10080)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Step(_Strict):
    key: Key
    zh: Line
    en: OptLine = ""
    role: Short = Field(default="", description="Who does it (a role of the plan's call tree).")


class Phase(_Strict):
    phase: PhaseName
    target_minutes: Minutes = Field(description="How long the phase should take at most.")
    steps: list[Step] = Field(min_length=1, max_length=40)


class Inject(_Strict):
    key: Key
    at_minute: int = Field(ge=0, le=10080, description="Revealed this many minutes after the start.")
    zh: Line
    en: OptLine = ""


class Scenario(_Strict):
    """A scenario template, and the snapshot a drill keeps of it."""

    key: Key
    title_zh: Line
    title_en: Line
    summary_zh: Long = ""
    summary_en: Long = ""
    incident_level: LevelKey = "III"
    phases: list[Phase] = Field(min_length=1, max_length=6)
    injects: list[Inject] = Field(default_factory=list, max_length=40)

    @model_validator(mode="after")
    def _consistent(self) -> Scenario:
        names = [p.phase for p in self.phases]
        if len(set(names)) != len(names) or names != sorted(names, key=PHASES.index):
            raise ValueError("phases must be unique and in the order " + ", ".join(PHASES))
        keys = [s.key for p in self.phases for s in p.steps] + [i.key for i in self.injects]
        if len(set(keys)) != len(keys):
            raise ValueError("step and inject keys must be unique")
        return self

    def steps(self) -> list[tuple[str, Step]]:
        """Every step with its phase, in order."""
        return [(p.phase, s) for p in self.phases for s in p.steps]


class LevelDefault(_Strict):
    key: LevelKey
    name_zh: Short
    name_en: Short
    criteria_zh: Long = ""
    report_within_hours: float = Field(gt=0, le=720)
    addressee_zh: Short


class ContactDefault(_Strict):
    role: Short
    called_by: Short = ""
    duty: Short = ""


class ResourceDefault(_Strict):
    name: Short
    detail: Long = ""


class PlanDefaults(_Strict):
    scope_zh: Long
    scope_en: Long = ""
    levels: list[LevelDefault] = Field(min_length=1, max_length=4)
    contacts: list[ContactDefault] = Field(default_factory=list, max_length=50)
    steps: dict[PhaseName, list[Line]] = Field(default_factory=dict)
    resources: list[ResourceDefault] = Field(default_factory=list, max_length=50)


class TemplateError(ValueError):
    """A template file that does not load; the message names the file and the problem."""


def templates_dir() -> Path:
    """WATCHPOST_DRILL_TEMPLATES_DIR, else drills/ of the policies directory
    (collector.policy.loader.default_policies_dir)."""
    from collector.policy.loader import default_policies_dir

    configured = os.environ.get("WATCHPOST_DRILL_TEMPLATES_DIR")
    return Path(configured) if configured else default_policies_dir() / "drills"


def _read(path: Path) -> object:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise TemplateError(f"{path.name}: {exc}") from None


@cache
def _load(directory: Path) -> tuple[dict[str, Scenario], PlanDefaults]:
    scenarios: dict[str, Scenario] = {}
    defaults: PlanDefaults | None = None
    for path in sorted(directory.glob("*.yaml")):
        try:
            if path.name == "plan-defaults.yaml":
                defaults = PlanDefaults.model_validate(_read(path))
                continue
            scenario = Scenario.model_validate(_read(path))
        except ValidationError as exc:
            raise TemplateError(f"{path.name}: {exc}") from None
        if scenario.key in scenarios:
            raise TemplateError(f"{path.name}: scenario key {scenario.key!r} is used twice")
        scenarios[scenario.key] = scenario
    if defaults is None:
        raise TemplateError(f"{directory}: plan-defaults.yaml is missing")
    return scenarios, defaults


def load_templates(directory: Path | None = None) -> dict[str, Scenario]:
    """Every scenario template by key (loaded once per directory)."""
    return _load(directory or templates_dir())[0]


def load_plan_defaults(directory: Path | None = None) -> PlanDefaults:
    return _load(directory or templates_dir())[1]


def template(key: str) -> Scenario | None:
    return load_templates().get(key)
