"""Loading packs: YAML → schema → rules compiled against the wire models → examples run.

``load_pack_text`` is what both the CLI (`watchpost-collector policies check [DIR]`) and an
upload through the API use, so a pack that loads in one place loads in the other. Problems
are collected (every check of every pack), each naming the pack, the check and the place.
"""

from __future__ import annotations

import copy
import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from collector.policy.derived import DERIVED_SECTIONS
from collector.policy.expr import CompileError, Context, Outcome, Rule, compile_rule
from collector.policy.facts import DEFAULT_HOST, HostFacts
from collector.policy.meta import CheckMeta
from collector.policy.schema import Check, Example, Pack, validate_param_value
from wire.sections import SECTION_MODELS

__all__ = [
    "EXAMPLE_NOW",
    "CompiledCheck",
    "CompiledPack",
    "PackError",
    "default_policies_dir",
    "load_dir",
    "load_pack_text",
    "run_examples",
]

#: Evaluation time of examples that do not set their own.
EXAMPLE_NOW = datetime(2026, 11, 27, tzinfo=UTC)
_MAX_PACK_BYTES = 2 * 1024 * 1024


def default_policies_dir() -> Path:
    """$WATCHPOST_POLICIES_DIR (an installed collector: the image sets it), else policies/ of
    the source tree. Packs, examples, the software catalogue, drill templates and the bulletin
    score all live there."""
    configured = os.environ.get("WATCHPOST_POLICIES_DIR")
    return Path(configured) if configured else Path(__file__).resolve().parents[2] / "policies"


class PackError(ValueError):
    """A pack that cannot be used; ``problems`` lists every reason."""

    def __init__(self, name: str, problems: list[str]) -> None:
        super().__init__(f"{name}: " + "; ".join(problems))
        self.name = name
        self.problems = problems


def section_model(section: str) -> type[BaseModel]:
    if section == "host":
        return HostFacts
    model = SECTION_MODELS.get(section) or DERIVED_SECTIONS.get(section)
    if model is None:
        known = sorted({*SECTION_MODELS, *DERIVED_SECTIONS})
        raise CompileError(f"unknown section {section!r} (sections: host, {', '.join(known)})")
    return model


@dataclass
class CompiledCheck:
    check: Check
    pack: str
    pack_version: int
    rule: Rule
    applies: Rule | None
    meta: CheckMeta

    @property
    def id(self) -> str:
        return self.check.id

    @property
    def section(self) -> str:
        return self.check.section

    def evaluate(self, doc: Any, ctx: Context) -> tuple[str, list[dict[str, Any]]]:
        """(status, evidence) for one section document (or host facts for section host)."""
        if self.applies is not None and not self.applies(doc, ctx).ok:
            return "not_applicable", []
        result: Outcome = self.rule(doc, ctx)
        return ("pass", []) if result.ok else ("fail", result.facts)


@dataclass
class CompiledPack:
    pack: Pack
    source: str
    sha256: str
    checks: list[CompiledCheck] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.pack.pack

    def defaults(self) -> dict[str, Any]:
        return {name: copy.deepcopy(p.default) for name, p in self.pack.parameters.items()}

    def checked_params(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """Parameter overrides checked against their declarations; ValueError names the first bad one."""
        out: dict[str, Any] = {}
        for name, value in values.items():
            declared = self.pack.parameters.get(name)
            if declared is None:
                known = ", ".join(sorted(self.pack.parameters)) or "none"
                raise ValueError(f"pack {self.name} has no parameter {name!r} (parameters: {known})")
            out[name] = validate_param_value(declared, value, f"parameter {name}")
        return out


def _problems(exc: ValidationError) -> list[str]:
    out = []
    for err in exc.errors(include_url=False):
        where = ".".join(str(p) for p in err["loc"])
        out.append(f"{where}: {err['msg']}")
    return out[:50]


_LOADED: dict[tuple[str, str], CompiledPack] = {}


def load_pack_text(text: str, name: str = "<upload>", *, run_checks_examples: bool = True) -> CompiledPack:
    """Parse, validate and compile one pack; run its examples. Raises PackError.

    A text loaded once is not compiled again in this process (packs are immutable data)."""
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    key = (digest, str(_examples_dir()) if run_checks_examples else "")
    if _EXAMPLES_DIR and run_checks_examples:  # an author's own examples may change between runs
        return _load_pack_text(text, name, run_checks_examples)
    found = _LOADED.get(key)
    if found is None and not run_checks_examples:  # compiled once with examples is as good
        found = next((p for k, p in _LOADED.items() if k[0] == digest), None)
    if found is not None:
        return found
    compiled = _load_pack_text(text, name, run_checks_examples)
    if len(_LOADED) > 256:
        _LOADED.clear()
    _LOADED[key] = compiled
    return compiled


def _load_pack_text(text: str, name: str, run_checks_examples: bool) -> CompiledPack:
    if len(text.encode("utf-8")) > _MAX_PACK_BYTES:
        raise PackError(name, [f"larger than {_MAX_PACK_BYTES // 1024} KiB"])
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise PackError(name, [f"not valid YAML: {exc}"]) from None
    if not isinstance(raw, dict):
        raise PackError(name, ["a pack is a YAML mapping with pack, version, title, description, checks"])
    try:
        pack = Pack.model_validate(raw)
    except ValidationError as exc:
        raise PackError(name, _problems(exc)) from None
    compiled = CompiledPack(pack, text, hashlib.sha256(text.encode("utf-8")).hexdigest())
    problems: list[str] = []
    for check in pack.checks:
        try:
            model = section_model(check.section)
            rule = compile_rule(check.rule, model, pack.parameters, HostFacts)
            applies = (
                compile_rule(check.applies, model, pack.parameters, HostFacts) if check.applies else None
            )
        except CompileError as exc:
            problems.append(f"{check.id}: {exc}")
            continue
        meta = CheckMeta(
            id=check.id,
            pack=pack.pack,
            title_zh=check.title.zh,
            title_en=check.title.en,
            severity=check.severity,
            category=check.category,
            deadline_days=check.deadline_days,
            requirements=tuple(check.requirements),
            pack_version=pack.version,
        )
        compiled.checks.append(CompiledCheck(check, pack.pack, pack.version, rule, applies, meta))
    if problems:
        raise PackError(pack.pack, problems)
    if run_checks_examples:
        failures = run_examples(compiled)
        if failures:
            raise PackError(pack.pack, failures)
    return compiled


def load_dir(directory: Path) -> tuple[list[CompiledPack], list[PackError]]:
    """Every ``*.yaml`` under ``directory/packs`` (or directly in ``directory``)."""
    packs_dir = directory / "packs" if (directory / "packs").is_dir() else directory
    own_examples = directory / "examples"
    if own_examples.is_dir() and own_examples.resolve() != (default_policies_dir() / "examples").resolve():
        _EXAMPLES_DIR.append(own_examples)
        _BASES.clear()
        try:
            return _load_dir(packs_dir)
        finally:
            _EXAMPLES_DIR.pop()
            _BASES.clear()
    return _load_dir(packs_dir)


def _load_dir(packs_dir: Path) -> tuple[list[CompiledPack], list[PackError]]:
    packs: list[CompiledPack] = []
    errors: list[PackError] = []
    seen: dict[str, str] = {}
    for path in sorted(packs_dir.glob("*.yaml")):
        try:
            pack = load_pack_text(path.read_text(encoding="utf-8"), path.name)
        except PackError as exc:
            errors.append(exc)
            continue
        if pack.name != path.stem:
            errors.append(
                PackError(path.name, [f"the pack is named {pack.name!r}; its file must be {pack.name}.yaml"])
            )
            continue
        for check in pack.checks:
            if check.id in seen:
                errors.append(PackError(path.name, [f"check id {check.id} is also in {seen[check.id]}"]))
            seen[check.id] = path.name
        packs.append(pack)
    return packs, errors


# -- examples -----------------------------------------------------------------------------------


_EXAMPLES_DIR: list[Path] = []  # set by load_dir for the packs it loads (their own examples/)


def _examples_dir() -> Path:
    return _EXAMPLES_DIR[-1] if _EXAMPLES_DIR else default_policies_dir() / "examples"


_BASES: dict[str, dict[str, Any]] = {}


def example_base(section: str) -> dict[str, Any]:
    """The complete, valid document examples of a section start from (policies/examples/)."""
    if section not in _BASES:
        path = _examples_dir() / f"{section}.yaml"
        if not path.is_file():
            raise CompileError(f"no base document for examples of section {section!r}: {path} is missing")
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
        if not isinstance(loaded, dict):
            raise CompileError(f"{path} is not a mapping")
        _BASES[section] = loaded
    return copy.deepcopy(_BASES[section])


def example_document(check: CompiledCheck, example: Example) -> tuple[Any, dict[str, Any]]:
    """(section document, host facts) of an example, both validated against their models."""
    host = {**DEFAULT_HOST, **example.host}
    host = HostFacts.model_validate(host).model_dump(mode="json")
    if check.section == "host":
        return host, host
    model = section_model(check.section)
    doc = {**example_base(check.section), **example.facts}
    return model.model_validate(doc).model_dump(mode="json"), host


def run_examples(pack: CompiledPack) -> list[str]:
    """Every example of every check; the list of the ones that do not give what they expect."""
    failures: list[str] = []
    defaults = pack.defaults()
    for check in pack.checks:
        for example in check.check.examples:
            where = f"{check.id}, example {example.name!r}"
            try:
                doc, host = example_document(check, example)
                params = {**defaults, **pack.checked_params(example.params)}
            except (ValidationError, ValueError) as exc:
                detail = "; ".join(_problems(exc)[:3]) if isinstance(exc, ValidationError) else str(exc)
                failures.append(f"{where}: its facts are not valid: {detail}")
                continue
            now = example.now or EXAMPLE_NOW
            if now.tzinfo is None:
                now = now.replace(tzinfo=UTC)
            status, evidence = check.evaluate(doc, Context(host=host, params=params, now=now))
            if status != example.expect:
                failures.append(
                    f"{where}: expected {example.expect}, got {status} (evidence: {evidence[:3]})"
                )
            elif status == "fail" and not evidence:
                failures.append(f"{where}: fails without evidence")
    return failures
