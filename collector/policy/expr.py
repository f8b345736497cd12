"""Rules compiled against the wire models, then evaluated on section documents (A9-T3.4).

Compiling resolves every path against the pydantic model of the section (or of a list's
item, inside quantifiers), so a misspelt field or an operator that does not fit the field's
type fails when the pack loads, naming the check and the path — never at evaluation time on
some host. A compiled rule is a tree of closures over plain JSON (as stored in
host_sections.data); datetimes are parsed only where a rule compares them.

Evaluation returns ``Outcome(ok, facts)``. ``facts`` are what decided the outcome: for a
failing rule they are the evidence kept on the result and the finding (at most
``MAX_ITEMS`` list items, with the total).
"""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel

from collector.policy.schema import (
    AllOf,
    AnyOf,
    Compare,
    Count,
    Every,
    Expr,
    NoneOf,
    Not,
    Param,
    ParamRef,
    Some,
)

__all__ = [
    "MAX_ITEMS",
    "CompileError",
    "Context",
    "FieldType",
    "Outcome",
    "Rule",
    "compile_rule",
    "resolve_type",
]

MAX_ITEMS = 10
HOST_PREFIX = "@host."
_ITEM_KEYS = (
    "name",
    "display_name",
    "username",
    "id",
    "kb",
    "title",
    "interface",
    "path",
    "product",
    "model",
)


class CompileError(ValueError):
    """A rule that does not fit the section model (unknown field, wrong operator for a type)."""


@dataclass(frozen=True)
class FieldType:
    kind: str  # str | int | float | bool | datetime | date | list | model | any
    nullable: bool = False
    item: FieldType | None = None
    model: type[BaseModel] | None = None
    choices: tuple[Any, ...] = ()


def _unwrap(annotation: Any) -> tuple[Any, bool]:
    nullable = False
    while True:
        origin = get_origin(annotation)
        if origin is typing.Annotated:
            annotation = get_args(annotation)[0]
            continue
        if origin in (Union, types.UnionType):
            args = [a for a in get_args(annotation) if a is not type(None)]
            nullable = nullable or len(args) != len(get_args(annotation))
            if len(args) == 1:
                annotation = args[0]
                continue
            return args, nullable
        return annotation, nullable


def resolve_type(annotation: Any) -> FieldType:
    """The kind of a model field's annotation (Annotated, Optional, Literal, list, sub-model)."""
    inner, nullable = _unwrap(annotation)
    if isinstance(inner, list):  # a union of several types
        kinds = {resolve_type(a).kind for a in inner}
        if kinds <= {"int", "float"}:
            return FieldType("float", nullable)
        return FieldType("any", nullable)
    origin = get_origin(inner)
    if origin is Literal:
        choices = get_args(inner)
        kind = "str" if all(isinstance(c, str) for c in choices) else "any"
        if all(isinstance(c, int) and not isinstance(c, bool) for c in choices):
            kind = "int"
        return FieldType(kind, nullable, choices=choices)
    if origin in (list, tuple, set, frozenset):
        args = get_args(inner)
        return FieldType("list", nullable, item=resolve_type(args[0]) if args else FieldType("any"))
    if origin is dict or inner is dict:
        return FieldType("any", nullable)
    if isinstance(inner, type):
        if issubclass(inner, BaseModel):
            return FieldType("model", nullable, model=inner)
        if issubclass(inner, bool):
            return FieldType("bool", nullable)
        if issubclass(inner, int):
            return FieldType("int", nullable)
        if issubclass(inner, float):
            return FieldType("float", nullable)
        if issubclass(inner, datetime):
            return FieldType("datetime", nullable)
        if issubclass(inner, date):
            return FieldType("date", nullable)
        if issubclass(inner, str):
            return FieldType("str", nullable)
    return FieldType("any", nullable)


@dataclass
class Context:
    """What an evaluation needs besides the document: the host facts, parameters, the time."""

    host: Mapping[str, Any]
    params: Mapping[str, Any]
    now: datetime


@dataclass
class Outcome:
    ok: bool
    facts: list[dict[str, Any]] = field(default_factory=list)


Fn = Callable[[Any, Context], Outcome]


@dataclass(frozen=True)
class Scope:
    """Where paths are resolved: a model (section or list item), or a scalar list item."""

    model: type[BaseModel] | None
    item: FieldType | None = None
    prefix: str = ""  # the path of the enclosing list, for evidence


@dataclass
class Rule:
    fn: Fn
    params: set[str]

    def __call__(self, doc: Any, ctx: Context) -> Outcome:
        return self.fn(doc, ctx)


# -- path resolution ----------------------------------------------------------------------------


def _resolve(
    path: str, scope: Scope, host_model: type[BaseModel]
) -> tuple[Callable[[Any, Context], Any], FieldType]:
    if path.startswith(HOST_PREFIX):
        getter, kind = _resolve_in(path[len(HOST_PREFIX) :], host_model, path)
        return (lambda _doc, ctx: getter(ctx.host)), kind
    if path == ".":
        if scope.item is None:
            raise CompileError("'.' (the item itself) is only meaningful inside every/some/none/count")
        return (lambda doc, _ctx: doc), scope.item
    if scope.model is None:
        raise CompileError(f"{path!r}: the items of this list are not objects; use field '.'")
    getter, kind = _resolve_in(path, scope.model, path)
    return (lambda doc, _ctx: getter(doc)), kind


def _resolve_in(path: str, model: type[BaseModel], full: str) -> tuple[Callable[[Any], Any], FieldType]:
    parts = path.split(".")
    current: FieldType = FieldType("model", model=model)
    for i, part in enumerate(parts):
        if current.kind != "model" or current.model is None:
            raise CompileError(
                f"{full!r}: {'.'.join(parts[:i])!r} is not an object, so it has no field {part!r}"
            )
        info = current.model.model_fields.get(part)
        if info is None:
            known = ", ".join(sorted(current.model.model_fields))
            raise CompileError(f"{full!r}: {current.model.__name__} has no field {part!r} (fields: {known})")
        current = resolve_type(info.annotation)
        if i < len(parts) - 1 and current.nullable and current.kind == "model":
            current = FieldType("model", True, model=current.model)

    def get(doc: Any) -> Any:
        value = doc
        for part in parts:
            if not isinstance(value, Mapping):
                return None
            value = value.get(part)
        return value

    if any(p for p in parts[:-1]):
        nullable = current.nullable or len(parts) > 1
        current = FieldType(current.kind, nullable, current.item, current.model, current.choices)
    return get, current


# -- operands -----------------------------------------------------------------------------------


def _operand(value: Any, params: Mapping[str, Param], used: set[str]) -> tuple[Callable[[Context], Any], Any]:
    """A getter for the operand, and a sample value (literal or the parameter's default) for type checks."""
    if isinstance(value, ParamRef):
        if value.param not in params:
            raise CompileError(f"parameter {value.param!r} is not declared in the pack's parameters")
        used.add(value.param)
        name = value.param
        return (lambda ctx: ctx.params.get(name)), params[name].default
    return (lambda _ctx: value), value


def _as_datetime(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    return None


_VERSION_TOKEN = re.compile(r"\d+|[A-Za-z]+")


def version_key(value: str) -> tuple[tuple[int, int | str], ...]:
    """Numbers compare as numbers, words as words, numbers sort after words (1.0a < 1.0.1)."""
    return tuple((1, int(t)) if t.isdecimal() else (0, t.lower()) for t in _VERSION_TOKEN.findall(value))


def _fold(value: Any, ignore_case: bool) -> Any:
    if not ignore_case:
        return value
    if isinstance(value, str):
        return value.casefold()
    if isinstance(value, list):
        return [v.casefold() if isinstance(v, str) else v for v in value]
    return value


_NUMERIC = {"int", "float"}
_ORDERED = {"int", "float", "str", "datetime", "date", "any"}


def _check_types(op: str, kind: FieldType, sample: Any, where: str) -> None:
    def bad(why: str) -> CompileError:
        return CompileError(f"{where}: operator {op} {why} (field type {kind.kind})")

    k = kind.kind
    if op in ("lt", "le", "gt", "ge") and k not in _ORDERED:
        raise bad("needs a number, text or a date")
    numeric_sample = isinstance(sample, int | float) and not isinstance(sample, bool)
    if (
        op in ("lt", "le", "gt", "ge", "eq", "ne")
        and k in _NUMERIC
        and sample is not None
        and not numeric_sample
    ):
        raise bad(f"compares a number with {sample!r}")
    ordering = op in ("lt", "le", "gt", "ge", "eq", "ne") and sample is not None
    if ordering and k == "str" and not isinstance(sample, str):
        raise bad(f"compares a text with {sample!r}")
    if ordering and k in ("datetime", "date") and _as_datetime(sample) is None:
        raise bad(f"compares a date/time with {sample!r}, which is not an ISO date/time")
    if op in ("eq", "ne") and k == "bool" and sample is not None and not isinstance(sample, bool):
        raise bad(f"compares a true/false field with {sample!r}")
    if op in ("eq", "ne", "in", "not_in") and kind.choices and sample is not None:
        values = sample if isinstance(sample, list) else [sample]
        unknown = [v for v in values if v not in kind.choices]
        if unknown:
            raise bad(f"uses {unknown!r}, which the field never holds (it holds {list(kind.choices)!r})")
    if op in ("in", "not_in") and not isinstance(sample, list):
        raise bad("needs a list")
    if op in ("matches", "not_matches"):
        if k not in ("str", "any"):
            raise bad("needs a text field")
        for pattern in sample if isinstance(sample, list) else [sample]:
            if not isinstance(pattern, str):
                raise bad(f"needs regular expressions, got {pattern!r}")
            try:
                re.compile(pattern)
            except re.error as exc:
                raise bad(f"has an invalid regular expression {pattern!r}: {exc}") from None
    if op == "contains" and k not in ("list", "str", "any"):
        raise bad("needs a list or a text field")
    if op.startswith("version_") and (k not in ("str", "any") or not isinstance(sample, str)):
        raise bad("needs a text field and a version text")
    if op in ("older_than_days", "within_days"):
        if k not in ("datetime", "date", "any"):
            raise bad("needs a date/time field")
        if isinstance(sample, bool) or not isinstance(sample, int | float):
            raise bad("needs a number of days")
    if op == "empty" and k not in ("list", "str", "any"):
        raise bad("needs a list or a text field")


def _predicate(op: str, ignore_case: bool) -> Callable[[Any, Any, Context], bool]:
    def cmp(pred: Callable[[Any, Any], bool]) -> Callable[[Any, Any, Context], bool]:
        def run(value: Any, operand: Any, _ctx: Context) -> bool:
            left, right = _fold(value, ignore_case), _fold(operand, ignore_case)
            if isinstance(right, datetime) or (isinstance(right, str) and isinstance(left, datetime)):
                right = _as_datetime(right)
            try:
                return bool(pred(left, right))
            except TypeError:
                return False

        return run

    def regex(negate: bool) -> Callable[[Any, Any, Context], bool]:
        flags = re.IGNORECASE if ignore_case else 0

        def run(value: Any, operand: Any, _ctx: Context) -> bool:
            patterns = operand if isinstance(operand, list) else [operand]
            text = str(value)
            hit = any(_compiled(p, flags).search(text) for p in patterns)
            return hit != negate

        return run

    def version(pred: Callable[[Any, Any], bool]) -> Callable[[Any, Any, Context], bool]:
        return lambda value, operand, _ctx: pred(version_key(str(value)), version_key(str(operand)))

    def age(older: bool) -> Callable[[Any, Any, Context], bool]:
        def run(value: Any, operand: Any, ctx: Context) -> bool:
            when = _as_datetime(value)
            if when is None:
                return False
            days = (ctx.now - when).total_seconds() / 86400
            return bool(days > operand) if older else bool(days <= operand)

        return run

    def contains(value: Any, operand: Any, _ctx: Context) -> bool:
        left, right = _fold(value, ignore_case), _fold(operand, ignore_case)
        if isinstance(left, list):
            return right in left
        return isinstance(left, str) and isinstance(right, str) and right in left

    table: dict[str, Callable[[Any, Any, Context], bool]] = {
        "eq": cmp(lambda a, b: a == b),
        "ne": cmp(lambda a, b: a != b),
        "lt": cmp(lambda a, b: a < b),
        "le": cmp(lambda a, b: a <= b),
        "gt": cmp(lambda a, b: a > b),
        "ge": cmp(lambda a, b: a >= b),
        "in": cmp(lambda a, b: a in b),
        "not_in": cmp(lambda a, b: a not in b),
        "matches": regex(False),
        "not_matches": regex(True),
        "contains": contains,
        "version_lt": version(lambda a, b: a < b),
        "version_le": version(lambda a, b: a <= b),
        "version_gt": version(lambda a, b: a > b),
        "version_ge": version(lambda a, b: a >= b),
        "older_than_days": age(True),
        "within_days": age(False),
        "empty": lambda value, operand, _ctx: (len(value) == 0) == operand,
    }
    return table[op]


_REGEX_CACHE: dict[tuple[str, int], re.Pattern[str]] = {}


def _compiled(pattern: str, flags: int) -> re.Pattern[str]:
    key = (pattern, flags)
    found = _REGEX_CACHE.get(key)
    if found is None:
        found = _REGEX_CACHE[key] = re.compile(pattern, flags)
    return found


# -- compilation --------------------------------------------------------------------------------


def _item_summary(item: Any) -> Any:
    if isinstance(item, Mapping):
        picked = {k: item[k] for k in _ITEM_KEYS if item.get(k) not in (None, "")}
        if "version" in item and item.get("version"):
            picked["version"] = item["version"]
        if picked:
            return picked
        return {k: item[k] for k in list(item)[:8]}
    return item


def _evidence_value(value: Any) -> Any:
    if isinstance(value, list):
        return [_item_summary(v) for v in value[:MAX_ITEMS]] + (
            [f"… {len(value)} in all"] if len(value) > MAX_ITEMS else []
        )
    if isinstance(value, Mapping):
        return _item_summary(value)
    if isinstance(value, str) and len(value) > 300:
        return value[:300] + "…"
    return value


class _Compiler:
    def __init__(self, params: Mapping[str, Param], host_model: type[BaseModel]) -> None:
        self.params = params
        self.host_model = host_model
        self.used: set[str] = set()

    def compile(self, expr: Expr, scope: Scope) -> Fn:
        if isinstance(expr, AllOf):
            return self._all([self.compile(e, scope) for e in expr.all])
        if isinstance(expr, AnyOf):
            return self._any([self.compile(e, scope) for e in expr.any])
        if isinstance(expr, Not):
            inner = self.compile(expr.not_, scope)

            def negate(doc: Any, ctx: Context) -> Outcome:
                result = inner(doc, ctx)
                return Outcome(not result.ok, [{**f, "negated": True} for f in result.facts])

            return negate
        if isinstance(expr, Compare):
            return self._compare(expr, scope)
        if isinstance(expr, Every | Some | NoneOf | Count):
            return self._quantifier(expr, scope)
        raise CompileError(f"unknown expression {expr!r}")

    @staticmethod
    def _all(parts: list[Fn]) -> Fn:
        def run(doc: Any, ctx: Context) -> Outcome:
            facts: list[dict[str, Any]] = []
            failed: list[dict[str, Any]] = []
            for part in parts:
                result = part(doc, ctx)
                (facts if result.ok else failed).extend(result.facts)
            return Outcome(False, failed) if failed else Outcome(True, facts)

        return run

    @staticmethod
    def _any(parts: list[Fn]) -> Fn:
        def run(doc: Any, ctx: Context) -> Outcome:
            failed: list[dict[str, Any]] = []
            for part in parts:
                result = part(doc, ctx)
                if result.ok:
                    return result
                failed.extend(result.facts)
            return Outcome(False, failed)

        return run

    def _full(self, path: str, scope: Scope) -> str:
        if path.startswith(HOST_PREFIX) or not scope.prefix:
            return path
        return f"{scope.prefix}[].{path}" if path != "." else f"{scope.prefix}[]"

    def _compare(self, expr: Compare, scope: Scope) -> Fn:
        where = f"field {expr.field!r}"
        try:
            getter, kind = _resolve(expr.field, scope, self.host_model)
        except CompileError as exc:
            raise CompileError(str(exc)) from None
        op = expr.op
        path = self._full(expr.field, scope)
        if_null_ok = expr.if_null == "pass"
        if op == "is_null":
            wanted = bool(expr.is_null)

            def is_null(doc: Any, ctx: Context) -> Outcome:
                value = getter(doc, ctx)
                return Outcome(
                    (value is None) == wanted,
                    [{"path": path, "op": "is_null", "expected": wanted, "actual": _evidence_value(value)}],
                )

            return is_null
        operand_get, sample = _operand(expr.operand, self.params, self.used)
        _check_types(op, kind, sample, where)
        test = _predicate(op, expr.ignore_case)
        wants_date = kind.kind in ("datetime", "date") and op in ("eq", "ne", "lt", "le", "gt", "ge")

        def compare(doc: Any, ctx: Context) -> Outcome:
            value = getter(doc, ctx)
            operand = operand_get(ctx)
            fact = {"path": path, "op": op, "expected": operand, "actual": _evidence_value(value)}
            if value is None or (operand is None and op not in ("eq", "ne")):
                return Outcome(if_null_ok if value is None else False, [fact])
            if wants_date:
                value, operand = _as_datetime(value), _as_datetime(operand)
                if value is None or operand is None:
                    return Outcome(if_null_ok, [fact])
            return Outcome(test(value, operand, ctx), [fact])

        return compare

    def _quantifier(self, expr: Every | Some | NoneOf | Count, scope: Scope) -> Fn:
        path = (
            expr.every
            if isinstance(expr, Every)
            else expr.some
            if isinstance(expr, Some)
            else expr.none
            if isinstance(expr, NoneOf)
            else expr.count
        )
        getter, kind = _resolve(path, scope, self.host_model)
        if kind.kind != "list" or kind.item is None:
            raise CompileError(
                f"field {path!r} is not a list (it is {kind.kind}); every/some/none/count need a list"
            )
        item = kind.item
        inner = Scope(
            item.model if item.kind == "model" else None,
            None if item.kind == "model" else item,
            self._full(path, scope),
        )
        where = self.compile(expr.where, inner) if expr.where is not None else None
        full = self._full(path, scope)

        def matching(doc: Any, ctx: Context) -> list[Any]:
            items = getter(doc, ctx) or []
            if not isinstance(items, list):
                return []
            return [i for i in items if where is None or where(i, ctx).ok]

        if isinstance(expr, Every):
            check = self.compile(expr.check, inner)

            def every(doc: Any, ctx: Context) -> Outcome:
                bad = []
                for entry in matching(doc, ctx):
                    result = check(entry, ctx)
                    if not result.ok:
                        bad.append((entry, result.facts))
                if not bad:
                    return Outcome(True, [])
                facts = [{"path": full, "item": _item_summary(e), "facts": f} for e, f in bad[:MAX_ITEMS]]
                if len(bad) > MAX_ITEMS:
                    facts.append({"path": full, "more_items": len(bad) - MAX_ITEMS})
                return Outcome(False, facts)

            return every
        if isinstance(expr, Some | NoneOf):
            want_some = isinstance(expr, Some)

            def some_or_none(doc: Any, ctx: Context) -> Outcome:
                found = matching(doc, ctx)
                facts = [{"path": full, "item": _item_summary(e)} for e in found[:MAX_ITEMS]]
                if len(found) > MAX_ITEMS:
                    facts.append({"path": full, "more_items": len(found) - MAX_ITEMS})
                if not found:
                    facts = [{"path": full, "op": "some" if want_some else "none", "actual": 0}]
                    if want_some and where is not None:  # why each item did not match
                        items = getter(doc, ctx) or []
                        items = items if isinstance(items, list) else []
                        facts += [
                            {"path": full, "item": _item_summary(e), "facts": where(e, ctx).facts}
                            for e in items[:MAX_ITEMS]
                        ]
                return Outcome(bool(found) == want_some, facts)

            return some_or_none
        op = expr.op
        operand_get, sample = _operand(expr.operand, self.params, self.used)
        if isinstance(sample, bool) or not isinstance(sample, int):
            raise CompileError(f"count over {path!r} compares with {sample!r}, which is not a whole number")
        test = _predicate(op, False)

        def count(doc: Any, ctx: Context) -> Outcome:
            found = matching(doc, ctx)
            operand = operand_get(ctx)
            fact: dict[str, Any] = {
                "path": full,
                "op": f"count {op}",
                "expected": operand,
                "actual": len(found),
            }
            if found:
                fact["items"] = [_item_summary(e) for e in found[:MAX_ITEMS]]
            return Outcome(test(len(found), operand, ctx), [fact])

        return count


def compile_rule(
    expr: Expr, model: type[BaseModel], params: Mapping[str, Param], host_model: type[BaseModel]
) -> Rule:
    """Compile ``expr`` over documents of ``model``; raises CompileError with the path."""
    compiler = _Compiler(params, host_model)
    fn = compiler.compile(expr, Scope(model))
    return Rule(fn, compiler.used)
