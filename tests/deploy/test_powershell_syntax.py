"""Every PowerShell the project ships parses: the deploy/windows scripts and the script of
every Windows reader's command line (issues 3 and 8).

There is no PowerShell on the test machine, so this is a syntax check with the
tree-sitter PowerShell grammar: an unbalanced brace, quote or parenthesis, or a
statement PowerShell cannot parse, fails here instead of on three hundred office PCs.
It says nothing about behaviour, which the replay tests check on real captured outputs.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import tree_sitter_powershell
from tree_sitter import Language, Node, Parser

from agent.collect_script import windows_sources

ROOT = Path(__file__).resolve().parents[2]
PARSER = Parser(Language(tree_sitter_powershell.language()))


def _problems(source: bytes) -> list[str]:
    found: list[str] = []

    def walk(node: Node) -> None:
        if node.is_error or node.is_missing:
            line, column = node.start_point
            text = source[node.start_byte : node.end_byte][:60].decode("utf-8", "replace")
            found.append(f"{'missing' if node.is_missing else 'error'} at {line + 1}:{column + 1} {text!r}")
        if node.has_error:
            for child in node.children:
                walk(child)

    walk(PARSER.parse(source).root_node)
    return found


def test_the_grammar_sees_a_syntax_error() -> None:
    assert _problems(b"$a = @(1, 2; if ($a) { 'x'")
    assert not _problems(b"$a = @(1, 2); if ($a) { 'x' }")


@pytest.mark.parametrize("script", sorted((ROOT / "deploy" / "windows").glob("*.ps1")), ids=lambda p: p.name)
def test_deploy_scripts_parse(script: Path) -> None:
    assert _problems(script.read_bytes()) == []


# Syntax and parameters of PowerShell 6/7 that Windows PowerShell 5.1 (the office PCs' and the
# group-policy startup script's PowerShell) does not have. Ternaries and ?? do not parse at all.
_PS7_TOKENS = {"&&", "||"}
_PS7_PARAMETERS = {
    "-parallel",  # ForEach-Object
    "-asbytestream",  # Get-Content / Set-Content
    "-ashashtable",  # ConvertFrom-Json
    "-skipcertificatecheck",  # Invoke-WebRequest / Invoke-RestMethod
    "-additionalchildpath",  # Join-Path
    "-skiphttperrorcheck",
}


def _ps7_features(source: bytes) -> list[str]:
    found = []
    stack = [PARSER.parse(source).root_node]
    while stack:
        node = stack.pop()
        stack.extend(node.children)
        word = (node.text or b"").decode("utf-8", "replace")
        if node.child_count == 0 and node.type in _PS7_TOKENS:
            found.append(f"{word} at line {node.start_point[0] + 1}")
        if node.type == "command_parameter" and word.lower() in _PS7_PARAMETERS:
            found.append(f"{word} at line {node.start_point[0] + 1}")
    if b"utf8nobom" in source.lower():
        found.append("-Encoding utf8NoBOM")
    return found


def test_the_powershell_7_check_sees_powershell_7() -> None:
    assert _ps7_features(b"Get-Item a && Get-Item b")
    assert _ps7_features(b"1..3 | ForEach-Object -Parallel { $_ }")
    assert _ps7_features(b"Set-Content -Encoding utf8NoBOM x y")
    assert not _ps7_features(b"Get-Item a; if ($?) { Get-Item b }")


@pytest.mark.parametrize("script", sorted((ROOT / "deploy" / "windows").glob("*.ps1")), ids=lambda p: p.name)
def test_deploy_scripts_are_windows_powershell_5_1(script: Path) -> None:
    """Only Windows PowerShell 5.1 syntax and parameters (issue 8), and ASCII: 5.1 reads a
    script without a byte-order mark in the ANSI code page, where UTF-8 punctuation turns into
    other characters (some of which PowerShell takes for quotes)."""
    source = script.read_bytes()
    assert _ps7_features(source) == []
    assert source.startswith(b"\xef\xbb\xbf") or source.isascii()


def _reader_scripts() -> list[tuple[str, str]]:
    scripts = []
    for _, argv in windows_sources().commands:
        if argv[0] == "powershell.exe":
            command = argv[argv.index("-Command") + 1]
            scripts.append((command[:80], command))
    return scripts


def _unbalanced(script: str) -> str:
    """Brackets, braces, parentheses and quotes out of balance ('' is a quote inside '...';
    a backtick escapes in "..."), or '' when the script is balanced."""
    pairs = {")": "(", "]": "[", "}": "{"}
    stack: list[tuple[str, int]] = []
    quote = ""
    i = 0
    while i < len(script):
        ch = script[i]
        if quote == "'":
            if ch == "'" and script[i + 1 : i + 2] == "'":
                i += 1
            elif ch == "'":
                quote = ""
        elif quote == '"':
            if ch == "`":
                i += 1
            elif ch == '"':
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or script[i - 1] in " ;\t"):
            return f"a comment at {i} swallows the rest of a one-line script"
        elif ch in "([{":
            stack.append((ch, i))
        elif ch in ")]}":
            if not stack or stack[-1][0] != pairs[ch]:
                return f"unexpected {ch!r} at {i}: ...{script[max(0, i - 60) : i + 1]}"
            stack.pop()
        i += 1
    if quote:
        return f"unterminated {quote} string"
    if stack:
        ch, at = stack[-1]
        return f"unclosed {ch!r} at {at}: {script[at : at + 60]}..."
    return ""


def test_the_balance_check_sees_a_broken_script() -> None:
    assert _unbalanced("try { $a=@(Get-X | Select-Object Name,Version) } catch { }") == ""
    assert _unbalanced("$a='it''s'; $b=\"a`\"b\"; @{n='x';e={$_.Y}}") == ""
    assert _unbalanced("try { $a=@(Get-X } catch { }")
    assert _unbalanced("$a='unterminated")
    assert _unbalanced("$a=1 # a comment; $b=2")


def test_every_windows_reader_script_is_balanced() -> None:
    """The tree-sitter grammar rejects bareword lists (``Select-Object Name,Version``), which
    every reader uses, so the readers' one-line scripts get a bracket/quote balance check."""
    scripts = _reader_scripts()
    assert len(scripts) >= 10
    assert {head: why for head, script in scripts if (why := _unbalanced(script))} == {}
