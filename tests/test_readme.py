"""The README and the walk-through cannot drift from the CLI.

Every `tierstack ...` command line in a code block of README.md and docs/walkthrough.md names a command
that exists in the click app (`tierstack.generator.cli.main`), with options that command has and, where
an option takes one of a few values, one of them; every command of the app appears in the README. The
walk-through's table of roles covers every resource type the examples' stacks create.

A command line is read as a shell reads it (shlex: quotes, `#` comments, `\\` continuations); `[X]`
marks X as optional and is read as X. Only the pieces of a pipeline or list that start with
`tierstack` are commands of ours (`tierstack verify --format json | jq ...`).
"""

from __future__ import annotations

import json
import re
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

import click
import pytest

from conftest import REPO
from tierstack.generator.cli import main

DOCUMENTS = ("README.md", "docs/walkthrough.md")
TIERSTACK = str(Path(sys.executable).with_name("tierstack"))
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.MULTILINE | re.DOTALL)
SHELLS = {"", "sh", "bash", "shell", "console", "zsh"}
SEPARATORS = {"|", "||", "&&", ";", "&"}


@dataclass(frozen=True)
class CommandLine:
    document: str
    line: int  # where the command starts in the document
    words: tuple[str, ...]  # after `tierstack`

    def __str__(self) -> str:
        return f"{self.document}:{self.line}: tierstack {' '.join(self.words)}"


def command_lines(document: str) -> list[CommandLine]:
    """Every `tierstack ...` command in the document's shell code blocks."""
    text = (REPO / document).read_text(encoding="utf-8")
    found = []
    for block in FENCE.finditer(text):
        if block.group(1) not in SHELLS:
            continue
        first = text.count("\n", 0, block.start(2)) + 1
        lines = block.group(2).splitlines()
        index = 0
        while index < len(lines):
            start = index
            joined = lines[index]
            while joined.rstrip().endswith("\\") and index + 1 < len(lines):  # a continued line
                index += 1
                joined = joined.rstrip()[:-1] + " " + lines[index]
            index += 1
            if not joined.lstrip().startswith("tierstack "):
                continue
            for piece in _pieces(joined):
                if piece and piece[0] == "tierstack":
                    found.append(CommandLine(document, first + start, tuple(w.strip("[]") for w in piece[1:])))
    return found


def _pieces(line: str) -> list[list[str]]:
    """A shell line's words, split at pipes and list separators."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    lexer.commenters = "#"
    pieces: list[list[str]] = [[]]
    for word in lexer:
        if word in SEPARATORS:
            pieces.append([])
        else:
            pieces[-1].append(word)
    return pieces


def check(command: CommandLine) -> str | None:
    """What is wrong with a command line (None: it is one the CLI takes)."""
    cmd: click.Command = main
    words = list(command.words)
    path = ["tierstack"]
    if words and words[0] in ("--version", "-h", "--help"):
        return None
    while isinstance(cmd, click.Group):
        if not words or words[0].startswith("-"):
            return f"{' '.join(path)} needs a command"
        name = words.pop(0)
        sub = cmd.commands.get(name)
        if sub is None:
            return f"{' '.join(path)} has no command '{name}'; it has: {', '.join(sorted(cmd.commands))}"
        cmd, path = sub, [*path, name]
    options = {
        opt: param
        for param in cmd.params
        if isinstance(param, click.Option) and not param.hidden  # hidden: an old form, kept to say what replaced it
        for opt in (*param.opts, *param.secondary_opts)
    }
    arguments = [param for param in cmd.params if isinstance(param, click.Argument)]
    positional = 0
    while words:
        word = words.pop(0)
        if word in ("-h", "--help"):
            continue
        if not word.startswith("-") or word == "-":
            positional += 1
            continue
        name, eq, value = word.partition("=")
        param = options.get(name)
        if param is None:
            return f"{' '.join(path)} has no option {name}; it has: {', '.join(sorted(options))}"
        if param.is_flag or param.count:
            if eq:
                return f"{' '.join(path)} {name} is a flag and takes no value"
            continue
        if not eq:
            if not words:
                return f"{' '.join(path)} {name} needs a value"
            value = words.pop(0)
        if isinstance(param.type, click.Choice) and value not in param.type.choices:
            return f"{' '.join(path)} {name} takes one of {', '.join(map(str, param.type.choices))}, not {value!r}"
    if any(arg.nargs == -1 for arg in arguments):
        return None
    most = sum(arg.nargs for arg in arguments)
    if positional > most:
        return f"{' '.join(path)} takes at most {most} argument{'s' if most != 1 else ''}, the line gives {positional}"
    return None


COMMANDS = [command for document in DOCUMENTS for command in command_lines(document)]


def test_the_documents_have_commands_to_check() -> None:
    for document in DOCUMENTS:
        assert len([c for c in COMMANDS if c.document == document]) >= 10, f"no commands found in {document}"


@pytest.mark.parametrize("command", COMMANDS, ids=str)
def test_every_command_line_is_one_the_cli_takes(command: CommandLine) -> None:
    problem = check(command)
    assert problem is None, f"{command}: {problem}"


def test_the_checker_catches_what_drifts() -> None:
    """A command, an option or a value the CLI does not have; too many arguments; a group without its command."""

    def problem(words: str) -> str | None:
        return check(CommandLine("x", 1, tuple(shlex.split(words))))

    assert problem("generate --format json --env prod cdktf.yaml") is None
    assert problem("ci github tierstack.yaml") is None
    assert problem("init --mission-critical --no-input --name x") is None
    assert "no command 'generat'" in str(problem("generat"))
    assert "no option --out-dir" in str(problem("generate --out-dir x"))
    assert "no option --config" in str(problem("plan prod --config x.yaml"))  # the old form, hidden
    assert "takes one of text, json, yaml" in str(problem("generate --format xml"))
    assert "at most 1 argument" in str(problem("generate a.yaml b.yaml"))
    assert "needs a command" in str(problem("ci"))
    assert "is a flag" in str(problem("generate --check=yes"))
    assert [list(piece) for piece in _pieces("tierstack verify --format json | jq '.stacks'  # x | y")] == [
        ["tierstack", "verify", "--format", "json"],
        ["jq", ".stacks"],
    ]


def test_every_command_of_the_cli_is_in_the_readme() -> None:
    """The other way round: a command added to the CLI gets its line in the README's tour."""
    shown = {c.words[0] for c in COMMANDS if c.document == "README.md" and c.words}
    nested = {f"{c.words[0]} {c.words[1]}" for c in COMMANDS if c.document == "README.md" and len(c.words) > 1}
    for name, command in main.commands.items():
        assert name in shown, f"`tierstack {name}` is not in any command line of README.md"
        if isinstance(command, click.Group):
            for sub in command.commands:
                assert f"{name} {sub}" in nested, f"`tierstack {name} {sub}` is not in README.md"


# --- the walk-through's roles cover what the stacks create ------------------------------------------


def _example_resource_types() -> set[str]:
    found: set[str] = set()
    for path in (REPO / "examples").glob("**/cdktf.out/stacks/*/cdk.tf.json"):
        found |= set(json.loads(path.read_text(encoding="utf-8")).get("resource", {}))
    return found


def test_the_walkthrough_names_a_role_for_every_resource_type_the_examples_create() -> None:
    text = (REPO / "docs" / "walkthrough.md").read_text(encoding="utf-8")
    section = text.split("## Who may apply", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `roles/")]
    covered = {name for row in rows for name in re.findall(r"`(google_[a-z0-9_]+)`", row)}
    types = _example_resource_types()
    assert types, "no example stacks found"
    missing = sorted(types - covered)
    assert not missing, f"docs/walkthrough.md gives no role for {missing}"


# --- what the README promises of a command ----------------------------------------------------------


# "validate ... in about a second" is measured by bench/startup.py (a timed assertion fails on a busy machine);
# what makes it fast (it never loads the bindings) is test_cli.py::test_validate_loads_no_bindings.
