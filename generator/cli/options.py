"""The arguments and options commands share, defined once: CONFIG, --format, --env, --member, --out,
and the epilog every command's --help ends with (its exit codes).

At start only click and tierstack's constants are imported, so `tierstack --help` stays fast.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from tierstack.generator.cli.views import shown_path
from tierstack.generator.config.choices import FORMATS
from tierstack.generator.core.exit_codes import EXIT_BROKEN_PIPE, EXIT_BUG, EXIT_INTERRUPTED

DEFAULT_CONFIG = "tierstack.yaml"


# every command can end these ways too (README, "Errors and exit codes")
_EVERY_COMMAND = {
    EXIT_BUG: "a bug in tierstack: internal error, and how to report it",
    EXIT_INTERRUPTED: "interrupted (Ctrl-C): Aborted!",
    EXIT_BROKEN_PIPE: "the program reading the output stopped first: no message",
}


BAD_INPUT = "bad input or a bad environment"


def exit_codes(codes: dict[int, str]) -> str:
    """A command's help ends with this: each code it can return and what it means (the epilog).

    `codes` are the command's own (0 and 2 always among them); 1, 130 and 141 follow, as every command
    can end so. A meaning may hold newlines: its further lines are indented under the first.
    """
    rows = {**codes, **_EVERY_COMMAND}
    lines = ["\b", "Exit codes:"]
    for code in sorted(rows):
        first, *more = rows[code].split("\n")
        lines.append(f"  {code:<4} {first}")
        lines += [f"       {line}" for line in more]
    return "\n".join(lines)


_F = TypeVar("_F", bound=Callable[..., Any])


# what each output format is for: every command's --format names its choices in this order, with these words
FORMAT_USES = {
    "text": "text for people",
    "markdown": "markdown for a pull-request comment",
    "json": "json for scripts",
    "yaml": "yaml for scripts",
}


def format_option(choices: tuple[str, ...] = FORMATS, default: str = "text", note: str = "") -> Callable[[_F], _F]:
    """--format FORMAT, the same in every command: one option name, one metavar, the choices of FORMAT_USES."""
    chosen = tuple(name for name in FORMAT_USES if name in choices)  # the one order, whatever the caller's
    uses = [FORMAT_USES[name] for name in chosen]
    if "json for scripts" in uses and "yaml for scripts" in uses:  # "json or yaml for scripts", said once
        uses[uses.index("json for scripts")] = "json or yaml for scripts"
        uses.remove("yaml for scripts")
    return click.option(
        "--format",
        "fmt",
        type=click.Choice(chosen),
        default=default,
        show_default=True,
        metavar="FORMAT",
        help="; ".join(uses) + (f" {note}" if note else "") + ".",
    )


config_argument = click.argument(
    "config",
    required=False,
    default=DEFAULT_CONFIG,
    type=click.Path(dir_okay=False, path_type=Path),
)


member_option = click.option(
    "--member",
    metavar="NAME",
    help="CONFIG is a fleet file: the member to read (docs/fleets.md).",
)


# the options every command that reads synthesized stacks shares, defined once
stacks_out_option = click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    metavar="DIR",
    help="The cdktf output directory generate wrote [default: cdktf.out beside the config].",
)


environments_option = click.option(
    "--env", "environments", multiple=True, metavar="ENV", help="Only these environments (repeatable)."
)


members_option = click.option(
    "--member",
    "members",
    multiple=True,
    metavar="NAME",
    help="CONFIG is a fleet file: only this member's stacks (repeatable) [default: every member's].",
)


def terraform_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The options plan and apply share: the config, the output directory, the binary."""
    command = click.option(
        "--binary",
        envvar="TERRAFORM_BINARY_NAME",
        default="terraform",
        show_default=True,
        metavar="NAME",
        help="The Terraform CLI to run, e.g. tofu for OpenTofu [env: TERRAFORM_BINARY_NAME].",
    )(command)
    command = stacks_out_option(command)
    command = environments_option(command)
    command = old_config_option(command)
    return config_argument(command)


# `tierstack plan ENV --config FILE`, as plan, apply and verify were called before CONFIG was their argument
old_config_option = click.option(
    "--config", "old_config", hidden=True, type=click.Path(path_type=Path), help="Replaced by CONFIG."
)


def not_an_environment(command: str, config: Path, old_config: Path | None, environments: tuple[str, ...]) -> None:
    """Stop an old command line (`plan prod`, `plan prod --config FILE`) with the line that replaces it (exit 2).

    CONFIG used to be an environment: `prod` that is no file but an environment of the config is said to
    be one. Anything else is left to load_spec, whose message names the missing file.
    """
    from tierstack.generator.core.errors import UserError

    given = config != Path(DEFAULT_CONFIG)
    if old_config is not None:
        envs = [*([str(config)] if given else []), *environments]
        raise UserError(
            f"{command} takes the config as its argument, not with --config",
            field="--config",
            hint=f"run `{command_line(command, old_config, envs)}`",
        )
    if not given or config.exists() or config.suffix in (".yaml", ".yml") or len(config.parts) != 1:
        return
    import difflib

    names = _environment_names(Path(DEFAULT_CONFIG))
    close = difflib.get_close_matches(str(config), names, n=1, cutoff=0.6)  # as did_you_mean finds one
    if not close:
        return
    meant = close[0]
    line = command_line(command, None, [*environments, meant])
    exact = meant == str(config)
    raise UserError(
        f"'{config}' is not a file{': it is' if exact else ', nor'} an environment of {DEFAULT_CONFIG}; {command} "
        "takes the config as its argument and the environment with --env",
        field="CONFIG",
        hint=f"run `{line}`" if exact else f"did you mean `{line}`?",
    )


def _environment_names(config: Path) -> list[str]:
    """The environments of a config, or none when it cannot be read (its own error comes later)."""
    from tierstack.generator.config.spec import load_spec
    from tierstack.generator.core.errors import UserError
    from tierstack.generator.plan.resolve import resolve

    if not config.is_file():
        return []
    try:
        return list(resolve(load_spec(config)).environments)
    except (UserError, OSError):
        return []


def command_line(command: str, config: Path | None, environments: list[str]) -> str:
    return " ".join(
        ["tierstack", command, *([shown_path(config)] if config is not None else [])]
        + [f"--env {env}" for env in dict.fromkeys(environments)]
    )


def jobs_option(what: str) -> Callable[[_F], _F]:
    """--jobs N: a fleet's members over N worker processes (generator/services/fleet_workers.py); the output is the same
    whatever N. Default: as many as the cores (and, for synthesis, the memory) hold, one for a small fleet."""
    return click.option(
        "--jobs",
        type=click.IntRange(1, 256),
        default=None,
        metavar="N",
        help=f"{what} [default: the usable cores that fit in memory; one process for a small fleet].",
    )
