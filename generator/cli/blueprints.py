"""`tierstack blueprints`: the built-in blueprints, the text of one, and local ones with their lineage."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from tierstack.generator.cli.options import (
    exit_codes,
    format_option,
)
from tierstack.generator.cli.views import echo
from tierstack.generator.core.exit_codes import (
    EXIT_OK,
    EXIT_USER_ERROR,
)


@click.command(
    short_help="The built-in blueprints, or the text of one; local and remote ones with their lineage.",
    epilog=exit_codes(
        {EXIT_OK: "listed or printed", EXIT_USER_ERROR: "bad input: no such blueprint, a --config or --dir"}
    ),
)
@click.option(
    "--show",
    "name",
    metavar="NAME",
    help="Print the built-in blueprint NAME as it is shipped (what tierstack:NAME:LINE points into).",
)
@click.option(
    "--config",
    "configs",
    multiple=True,
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="FILE",
    help="Also the blueprint chain of this tierstack.yaml: local, git (with the pinned commit) and built-in "
    "(repeatable).",
)
@click.option(
    "--dir",
    "folders",
    multiple=True,
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    metavar="DIR",
    help="Also every *.yaml.j2 in DIR, each with what it extends (repeatable).",
)
@format_option()
def blueprints(name: str | None, configs: tuple[Path, ...], folders: tuple[Path, ...], fmt: str) -> None:
    """List the built-in blueprints: name, tier, what each is and what it extends.

    Provenance and error messages name a line of a built-in blueprint as
    tierstack:NAME:LINE; --show NAME prints that file. A blueprint of your
    own builds on one with `extends: NAME` (docs/blueprints.md), or on one
    in a git repository with `extends: {git: URL, ref: REF, path: PATH}`.

    With --config or --dir, local blueprints follow, each with its lineage:
    the `extends` chain down to a built-in, a blueprint from git shown as
    REPOSITORY@REF:PATH with the commit it is pinned to (tierstack.lock).
    A folder's blueprints are rendered for a production use case.

    \b
    Examples:
      tierstack blueprints
      tierstack blueprints --show level-1-pipeline-automation
      tierstack blueprints --show level-1-pipeline-automation | sed -n 37p   # tierstack:level-1-pipeline-automation:37
      tierstack blueprints --config examples/regional-propensity/us/tierstack.yaml
      tierstack blueprints --dir blueprints/ --format json
    """
    from tierstack.generator.config.blueprint import builtin_summaries, builtin_text
    from tierstack.generator.output.report import as_data

    if name is not None:
        if fmt != "text" or configs or folders:
            raise click.UsageError(
                "--show prints the blueprint's own text; --format goes with the list, as do --config and --dir"
            )
        echo(builtin_text(name), nl=False)
        return
    data = builtin_summaries()
    if configs or folders:
        _blueprint_lineage(data, configs, folders, fmt)
        return
    if fmt != "text":
        echo(as_data(data, fmt), nl=False)
        return
    width = max(len(b["name"]) for b in data)
    for blueprint in data:
        extends = f", extends {blueprint['extends']}" if blueprint["extends"] else ""
        echo(f"{blueprint['name']:<{width}}  tier {blueprint['tier']}{extends}")
        echo(f"{'':<{width}}  {blueprint['description']}")
    echo("\nprint one with: tierstack blueprints --show NAME")


def _blueprint_lineage(
    builtins: list[dict[str, Any]], configs: tuple[Path, ...], folders: tuple[Path, ...], fmt: str
) -> None:
    from tierstack.generator.output.report import as_data
    from tierstack.generator.services import upstream as upstreams

    local = [upstreams.lineage_of_config(config) for config in configs]
    for folder in folders:
        local += upstreams.lineage_of_folder(folder)
    if fmt != "text":
        echo(as_data({"builtin": builtins, "local": local}, fmt), nl=False)
        return
    width = max(len(b["name"]) for b in builtins)
    echo("built-in:")
    for blueprint in builtins:
        extends = f", extends {blueprint['extends']}" if blueprint["extends"] else ""
        echo(f"  {blueprint['name']:<{width}}  tier {blueprint['tier']}{extends}")
    echo("\nlocal, with their lineage:")
    for line in upstreams.lineage_text(local):
        echo(f"  {line}")
