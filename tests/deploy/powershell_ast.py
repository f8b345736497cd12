"""A small reader of PowerShell scripts' structure (tree-sitter PowerShell grammar), for tests
that check what the deploy/windows scripts do without a PowerShell to run them (issue 8)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import tree_sitter_powershell
from tree_sitter import Language, Node, Parser

PARSER = Parser(Language(tree_sitter_powershell.language()))


def walk(node: Node) -> Iterator[Node]:
    yield node
    for child in node.children:
        yield from walk(child)


def text(node: Node) -> str:
    return (node.text or b"").decode("utf-8")


def literal(node: Node) -> str | None:
    """The value of a string literal node ("..." or '...'), or None for anything else."""
    raw = text(node).strip()
    if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "\"'":
        return raw[1:-1].replace("''", "'") if raw[0] == "'" else raw[1:-1]
    return None


def ancestors(node: Node) -> Iterator[Node]:
    parent = node.parent
    while parent is not None:
        yield parent
        parent = parent.parent


@dataclass
class Command:
    """One command of a pipeline: ``Copy-Item -LiteralPath $a`` or ``& $Exe @enroll 2>&1``."""

    node: Node
    name: str  # Copy-Item, sc.exe, $Exe
    invoked: bool  # called with the & operator
    elements: list[str]  # parameters and arguments, as written
    pipeline: list[str]  # every element of the enclosing pipeline, as written

    def value_of(self, parameter: str) -> str | None:
        """The argument written after ``-parameter`` (case-insensitive), if any."""
        lowered = [e.lower() for e in self.elements]
        if parameter.lower() in lowered:
            at = lowered.index(parameter.lower())
            if at + 1 < len(self.elements):
                return self.elements[at + 1]
        return None

    @property
    def function(self) -> str | None:
        for up in ancestors(self.node):
            if up.type == "function_statement":
                name = next(c for c in up.children if c.type == "function_name")
                return text(name)
        return None


@dataclass
class Assignment:
    node: Node
    variable: str  # $name as written
    operator: str  # = or +=
    value: Node


class Script:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.source = path.read_bytes()
        self.tree = PARSER.parse(self.source)
        self.root = self.tree.root_node

    def nodes(self, kind: str) -> list[Node]:
        return [n for n in walk(self.root) if n.type == kind]

    def commands(self) -> list[Command]:
        found = []
        for node in self.nodes("command"):
            invoked = any(c.type == "command_invokation_operator" for c in node.children)
            name_node = next(c for c in node.children if c.type in {"command_name", "command_name_expr"})
            elements_node = next((c for c in node.children if c.type == "command_elements"), None)
            elements = [
                text(c).strip()
                for c in (elements_node.children if elements_node is not None else [])
                if c.type != "command_argument_sep"
            ]
            chain = node.parent
            pipeline = [text(c).strip() for c in chain.children if c.type != "|"] if chain else []
            found.append(Command(node, text(name_node).strip(), invoked, elements, pipeline))
        return found

    def named(self, name: str) -> list[Command]:
        return [c for c in self.commands() if c.name.lower() == name.lower()]

    def assignments(self, variable: str | None = None) -> list[Assignment]:
        found = []
        for node in self.nodes("assignment_expression"):
            left = next(c for c in node.children if c.type == "left_assignment_expression")
            operator = next(c for c in node.children if c.type == "assignement_operator")
            after = node.children[node.children.index(operator) + 1 :]
            value = next(c for c in after if c.type != "comment")
            name = text(left).strip()
            if variable is None or name.lower() == variable.lower():
                found.append(Assignment(node, name, text(operator).strip(), value))
        return found

    def function(self, name: str) -> Node:
        for node in self.nodes("function_statement"):
            if text(next(c for c in node.children if c.type == "function_name")).lower() == name.lower():
                return node
        raise KeyError(name)

    def variables(self, within: Node | None = None) -> list[Node]:
        return [n for n in walk(within or self.root) if n.type == "variable"]
