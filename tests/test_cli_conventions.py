"""One convention for every command of the click app, checked by walking it (issue 17, item 5).

Every command and group, subcommands included (`tierstack ci github`):

- its `--help` ends with an "Exit codes:" section listing the codes it can return, each one of the EXIT_*
  constants of generator/core/exit_codes.py; the commands the README's "Errors and exit codes" table names for a
  code are the commands that list it;
- every option it shows has help text;
- `--format FORMAT` is one option: the name `fmt`, the metavar FORMAT, choices from text, markdown,
  json, yaml (in that order, each named in the help);
- `--env ENV` is repeatable, `--member NAME`, `--out DIR` or `--out FILE` by what it names; an option
  name has one metavar in every command;
- the config is the positional argument [CONFIG] (default tierstack.yaml) of every command taking
  `--env`, and no positional argument is an environment.

The checks are functions over a command, so the last tests show each one failing on a command that
breaks it. The words of item 9 (counts, the default output directory, the docs command's warning about
a config newer than its stacks) are checked at the end.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import click
import pytest

from conftest import REPO, run
from tierstack.generator import cli
from tierstack.generator.cli import main
from tierstack.generator.cli import operate as cli_operate
from tierstack.generator.cli import options as cli_options
from tierstack.generator.cli import views as cli_views
from tierstack.generator.cli.options import DEFAULT_CONFIG

EXIT_CODES = {value for name, value in vars(cli).items() if name.startswith("EXIT_") and isinstance(value, int)}
EVERY_COMMAND = {cli.EXIT_OK, cli.EXIT_BUG, cli.EXIT_USER_ERROR, cli.EXIT_INTERRUPTED, cli.EXIT_BROKEN_PIPE}
CODE_LINE = re.compile(r"^    (\d+) +\S")
MORE_LINE = re.compile(r"^ {9}\S")
WIDTH = 80  # what click wraps the rest of a help page to


def commands(command: click.Command = main, path: str = "tierstack") -> Iterator[tuple[str, click.Command]]:
    """Every command and group of the app, as `tierstack ci github`, depth first."""
    yield path, command
    if isinstance(command, click.Group):
        for name, sub in sorted(command.commands.items()):
            yield from commands(sub, f"{path} {name}")


ALL = list(commands())
PATHS = [path for path, _ in ALL]


def help_text(path: str, command: click.Command) -> str:
    with click.Context(command, info_name=path.split()[-1], terminal_width=WIDTH, max_content_width=WIDTH) as ctx:
        return command.get_help(ctx)


def exit_codes(path: str, command: click.Command) -> tuple[list[int], list[str]]:
    """The codes the help's last section lists, and what is wrong with that section."""
    lines = help_text(path, command).splitlines()
    headings = [i for i, line in enumerate(lines) if line.strip().startswith("Exit codes")]
    if len(headings) != 1:
        return [], [f"{path}: --help has {len(headings)} 'Exit codes' sections, not one at its end"]
    rest = lines[headings[0] + 1 :]
    problems = []
    codes = [int(m.group(1)) for line in rest if (m := CODE_LINE.match(line))]
    strays = [line for line in rest if line.strip() and not CODE_LINE.match(line) and not MORE_LINE.match(line)]
    if strays:
        problems.append(f"{path}: --help goes on after its exit codes: {strays[0].strip()!r}")
    if codes != sorted(set(codes)):
        problems.append(f"{path}: the exit codes are not listed once each, in order: {codes}")
    if unknown := set(codes) - EXIT_CODES:
        problems.append(
            f"{path}: exit codes that are no EXIT_* constant of generator/core/exit_codes.py: {sorted(unknown)}"
        )
    if missing := EVERY_COMMAND - set(codes):
        problems.append(f"{path}: every command can end with {sorted(missing)}, which its --help leaves out")
    problems += [f"{path}: an exit-code line over {WIDTH} columns: {line!r}" for line in rest if len(line) > WIDTH]
    return codes, problems


def _shown_metavar(path: str, command: click.Command, param: click.Parameter) -> str:
    with click.Context(command, info_name=path.split()[-1]) as ctx:
        return param.make_metavar(ctx)


def option_problems(path: str, command: click.Command) -> list[str]:
    """What breaks the convention in the command's parameters (its exit codes aside)."""
    problems = []
    params = [p for p in command.params if not getattr(p, "hidden", False)]
    options = {opt: p for p in params if isinstance(p, click.Option) for opt in p.opts}
    arguments = [p for p in params if isinstance(p, click.Argument)]
    for param in params:
        shown = _shown_metavar(path, command, param)
        if isinstance(param, click.Option) and not (param.help or "").strip():
            problems.append(f"{path} {param.opts[0]}: no help text")
        if isinstance(param, click.Argument) and ("env" in (param.name or "").lower() or "ENV" in shown):
            problems.append(f"{path}: the environment is a positional argument ({shown}); it is --env ENV")
    if "--format" in options:
        problems += _format_problems(path, command, options["--format"])
    env = options.get("--env")
    if env is not None and (env.name != "environments" or not env.multiple or env.metavar != "ENV"):
        problems.append(f"{path} --env: not the repeatable --env ENV (dest environments) of the other commands")
    member = options.get("--member")
    if member is not None and member.metavar != "NAME":
        problems.append(f"{path} --member: its metavar is {member.metavar!r}, not NAME")
    out = options.get("--out")
    if out is not None:
        names_a_file = isinstance(out.type, click.Path) and not out.type.dir_okay
        if out.metavar != ("FILE" if names_a_file else "DIR"):
            problems.append(f"{path} --out: metavar {out.metavar!r}, not {'FILE' if names_a_file else 'DIR'}")
    config = [arg for arg in arguments if arg.name == "config"]
    if env is not None and not config:
        problems.append(f"{path}: takes --env but not the config as its positional argument [CONFIG]")
    for arg in config:
        if arg.required or arg.default != DEFAULT_CONFIG or _shown_metavar(path, command, arg) != "[CONFIG]":
            problems.append(f"{path}: its config argument is not [CONFIG], default {DEFAULT_CONFIG}")
    return problems


def _format_problems(path: str, command: click.Command, option: click.Option) -> list[str]:
    order = list(cli_options.FORMAT_USES)
    choices = list(option.type.choices) if isinstance(option.type, click.Choice) else []
    problems = []
    if option.name != "fmt" or option.metavar != "FORMAT":
        problems.append(f"{path} --format: dest {option.name!r} and metavar {option.metavar!r}, not fmt and FORMAT")
    if not choices or any(c not in order for c in choices) or choices != sorted(choices, key=order.index):
        problems.append(f"{path} --format: choices {choices}, not among {order} in that order")
    if not {"text", "json"} <= set(choices):
        problems.append(f"{path} --format: {choices} lacks text or json")
    if any(str(choice) not in (option.help or "") for choice in choices):
        problems.append(f"{path} --format: the help does not name every choice of {choices}")
    return problems


def problems_of(path: str, command: click.Command) -> list[str]:
    return exit_codes(path, command)[1] + option_problems(path, command)


# --- the app -------------------------------------------------------------------------------------


def test_the_walk_reaches_every_command_and_subcommand() -> None:
    assert {"tierstack", "tierstack plan", "tierstack ci", "tierstack ci github", "tierstack init"} <= set(PATHS)
    assert len(PATHS) >= 20


@pytest.mark.parametrize(("path", "command"), ALL, ids=PATHS)
def test_every_command_keeps_the_convention(path: str, command: click.Command) -> None:
    assert problems_of(path, command) == []


def test_an_option_name_has_one_metavar_in_every_command() -> None:
    """--out is DIR or FILE by what it names (checked above); every other option: one metavar."""
    seen: dict[str, dict[str, str]] = {}
    for path, command in ALL:
        for param in command.params:
            if isinstance(param, click.Option) and not param.hidden and not param.is_flag and param.opts[0] != "--out":
                seen.setdefault(param.opts[0], {})[path] = _shown_metavar(path, command, param)
    assert {opt: by for opt, by in seen.items() if len(set(by.values())) > 1} == {}


def test_the_group_lists_every_exit_code() -> None:
    codes, problems = exit_codes("tierstack", main)
    assert problems == [] and set(codes) == EXIT_CODES


def test_the_readme_table_names_the_commands_that_list_each_code() -> None:
    """A code beyond 0, 1, 2, 130 and 141 belongs to a few commands: the README row names them."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    rows = dict(re.findall(r"^\| `(\d+)` \| (.+?) \|$", readme, flags=re.MULTILINE))
    for code in sorted(EXIT_CODES - EVERY_COMMAND):
        items = re.findall(r"`([^`]+)`", rows[str(code)].split(": ")[0])
        named = {re.match(r"[a-z][a-z-]*(?: [a-z][a-z-]*)*", item).group(0) for item in items}  # `golden-set check`
        listing = {path.removeprefix("tierstack ") for path, cmd in ALL[1:] if code in exit_codes(path, cmd)[0]}
        assert named == listing, f"exit {code}: the README names {sorted(named)}, the --help pages {sorted(listing)}"


# --- the checks catch a command that breaks the convention -----------------------------------------


def _command(
    *params: click.Parameter, epilog: str | None = cli_options.exit_codes({0: "done", 2: "bad input"})
) -> click.Command:
    return click.Command("new", params=list(params), epilog=epilog, help="A new command.")


def test_the_checks_pass_a_command_that_keeps_the_convention() -> None:
    good = _command(
        click.Argument(["config"], required=False, default=DEFAULT_CONFIG, type=click.Path(dir_okay=False)),
        click.Option(["--env", "environments"], multiple=True, metavar="ENV", help="Only these."),
        click.Option(["--format", "fmt"], type=click.Choice(["text", "json"]), metavar="FORMAT", help="text, json."),
    )
    assert problems_of("tierstack new", good) == []


@pytest.mark.parametrize(
    ("broken", "expected"),
    [
        (_command(epilog=None), "'Exit codes' sections"),
        (_command(epilog="\b\nExit codes:\n  0    done\n  7    ours"), "leaves out"),
        (_command(epilog=cli_options.exit_codes({0: "done", 9: "new"})), "no EXIT_* constant"),
        (_command(epilog=cli_options.exit_codes({0: "done"}) + "\n\nMore words."), "goes on after its exit codes"),
        (_command(click.Option(["--name"])), "--name: no help text"),
        (
            _command(click.Option(["--format", "fmt"], type=click.Choice(["txt", "json"]), metavar="FORMAT", help="x")),
            "not among",
        ),
        (_command(click.Option(["--format", "fmt"], type=click.Choice(["json", "text"]), help="text json")), "FORMAT"),
        (_command(click.Argument(["environment"], required=False)), "is a positional argument"),
        (_command(click.Option(["--env", "environments"], help="One.")), "--env: not the repeatable --env ENV"),
        (_command(click.Option(["--member"], help="One.")), "--member: its metavar"),
        (_command(click.Option(["--out"], type=click.Path(dir_okay=False), metavar="DIR", help="x")), "not FILE"),
        (
            _command(click.Option(["--env", "environments"], multiple=True, metavar="ENV", help="x")),
            "not the config as its positional argument",
        ),
    ],
)
def test_the_checks_catch_a_command_that_breaks_the_convention(broken: click.Command, expected: str) -> None:
    found = problems_of("tierstack new", broken)
    assert any(expected in problem for problem in found), found


# --- plan, apply and verify: the config positional, environments with --env ------------------------


@pytest.fixture
def recommender(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The recommender example (environments dev and prod) and its stacks, in the current directory."""
    example = REPO / "examples" / "recommender"
    shutil.copy(example / "tierstack.yaml", tmp_path / "tierstack.yaml")
    shutil.copytree(example / "cdktf.out", tmp_path / "cdktf.out")
    monkeypatch.chdir(tmp_path)
    return tmp_path / "tierstack.yaml"


@pytest.mark.parametrize("command", ["plan", "apply", "verify"])
def test_an_environment_where_the_config_goes_says_to_use_env(command: str, recommender: Path) -> None:
    result = run(command, "prod")
    assert result.exit_code == 2
    assert "'prod' is not a file: it is an environment of tierstack.yaml" in result.stderr
    assert f"hint: run `tierstack {command} --env prod`" in result.stderr
    assert "Traceback" not in result.output


@pytest.mark.parametrize("command", ["plan", "apply", "verify"])
def test_the_old_config_option_says_what_replaced_it(command: str, recommender: Path) -> None:
    result = run(command, "prod", "--config", "tierstack.yaml")
    assert result.exit_code == 2
    assert f"{command} takes the config as its argument, not with --config" in result.stderr
    assert f"run `tierstack {command} tierstack.yaml --env prod`" in result.stderr


def test_a_misspelled_environment_where_the_config_goes_gets_the_nearest(recommender: Path) -> None:
    result = run("plan", "prdo")
    assert result.exit_code == 2
    assert "'prdo' is not a file, nor an environment of tierstack.yaml" in result.stderr
    assert "did you mean `tierstack plan --env prod`?" in result.stderr


def test_a_missing_config_that_is_no_environment_is_a_missing_file(recommender: Path) -> None:
    result = run("plan", "other.yaml")
    assert result.exit_code == 2 and "--env" not in result.stderr and "other.yaml" in result.stderr


@pytest.mark.parametrize("command", ["plan", "apply"])
def test_the_config_as_argument_is_read(command: str, recommender: Path) -> None:
    """Past the config and its stacks, the next check is the binary's: the argument was taken as the config."""
    result = run(command, "tierstack.yaml", "--env", "prod", "--binary", "no-such-terraform")
    assert result.exit_code == 2, result.output
    assert "'no-such-terraform' is not on PATH" in result.stderr


def test_an_unknown_env_is_named_as_the_option(recommender: Path) -> None:
    result = run("plan", "tierstack.yaml", "--env", "prdo")
    assert result.exit_code == 2
    assert "tierstack.yaml, field '--env': no environment 'prdo' in this use case" in result.stderr
    assert "did you mean 'prod'?" in result.stderr


def test_several_envs_run_in_promotion_order(recommender: Path) -> None:
    _resolved, _target, runs = cli_operate._operate(recommender, None, ("prod", "dev"))
    assert [run.stack for run in runs] == ["recommender-dev", "recommender-prod"]
    _resolved, _target, runs = cli_operate._operate(recommender, None, ())
    assert [run.stack for run in runs] == ["recommender-dev", "recommender-prod"]


def test_review_help_names_the_file_plan_writes() -> None:
    from tierstack.generator.services.operate import StackRun

    written = StackRun("prod", "production", "p", "churn-prod", Path("cdktf.out/stacks/churn-prod")).plan_json.name
    assert written == "churn-prod.tfplan.json"
    for text in (run("review", "--help").output, (REPO / "README.md").read_text(encoding="utf-8")):
        assert "stacks/*/plan.json" not in text and "<stack>/plan.json" not in text
        assert "cdktf.out/stacks/*/*.tfplan.json" in text


# --- words ---------------------------------------------------------------------------------------


def test_counts_agree_with_their_nouns_and_verbs() -> None:
    assert [cli_views.counted(n, "file") for n in (0, 1, 2)] == ["0 files", "1 file", "2 files"]
    assert cli_views.counted(1, "stack") == "1 stack" and cli_views.counted(3, "member") == "3 members"
    assert [cli_views.agrees(n, "differs", "differ") for n in (1, 2)] == ["differs", "differ"]


def test_one_stale_file_differs(write: Callable[..., Path], synthesizes: None) -> None:
    from conftest import use_case

    config = write(use_case())
    assert run("generate", str(config)).exit_code == 0
    page = next((config.parent / "cdktf.out" / "stacks").glob("*/README.md"))
    page.write_text(page.read_text(encoding="utf-8") + "a hand edit\n", encoding="utf-8")
    result = run("generate", str(config), "--check")
    assert result.exit_code == cli.EXIT_STALE
    assert "is stale: 1 file differs from what" in result.stderr


def test_no_out_given_names_the_default_output_directory(write: Callable[..., Path]) -> None:
    from conftest import use_case

    config = write(use_case())
    (config.parent / "cdktf.out").write_text("a file where the output goes\n", encoding="utf-8")
    result = run("generate", str(config))
    assert result.exit_code == 2
    assert "cdktf.out (the default output directory): " in result.stderr
    assert "field '--out'" not in result.stderr
    given = run("generate", str(config), "--out", str(config.parent))
    assert given.exit_code == 2 and "field '--out'" in given.stderr  # typed, it is named as typed


def test_docs_warns_when_the_config_is_newer_than_the_stacks(recommender: Path) -> None:
    stacks = sorted((recommender.parent / "cdktf.out" / "stacks").glob("*/cdk.tf.json"))
    now = recommender.stat().st_mtime
    for stack in stacks:
        os.utime(stack, (now - 3600, now - 3600))  # generated an hour before the config was saved
    result = run("docs", "--env", "prod")
    assert result.exit_code == 0
    assert (
        "warning: tierstack.yaml changed after generate wrote recommender-prod in cdktf.out: its page describes "
        "the stack generated before the change; run `tierstack generate tierstack.yaml`"
    ) in result.stderr
    both = run("docs")
    assert "wrote recommender-dev, recommender-prod in cdktf.out: their pages describe the stacks" in both.stderr
    for stack in stacks:  # a checkout writes the config and its stacks moments apart, either way round
        os.utime(stack, (now - 1, now - 1))
    assert "changed after generate wrote" not in run("docs").stderr
