"""`tierstack schema`: the JSON Schema of tierstack.yaml, of a blueprint or of a fleet file."""

from __future__ import annotations

from pathlib import Path

import click

from tierstack.generator.cli.options import (
    exit_codes,
)
from tierstack.generator.cli.views import echo
from tierstack.generator.core.exit_codes import (
    EXIT_OK,
    EXIT_USER_ERROR,
)


@click.command(
    short_help="JSON Schema of tierstack.yaml or of blueprints, for editors and CI.",
    epilog=exit_codes(
        {EXIT_OK: "printed or written", EXIT_USER_ERROR: "bad input: an --out that is not a tierstack schema"}
    ),
)
@click.option(
    "--kind",
    type=click.Choice(("config", "blueprint", "fleet")),
    default="config",
    show_default=True,
    help="config: tierstack.yaml; blueprint: a blueprint file after Jinja2 rendering; fleet: a fleet file.",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="FILE",
    help="Write FILE instead of printing; a file that is not a tierstack schema is never replaced.",
)
def schema(kind: str, out: Path | None) -> None:
    """Print (or write) the JSON Schema of tierstack.yaml or of a blueprint,
    made from the pydantic models tierstack validates with.

    `tierstack init` starts tierstack.yaml with the line
    `# yaml-language-server: $schema=tierstack.schema.json`: write that file
    beside it, and an editor with the YAML language server (VS Code's YAML
    extension, Neovim, JetBrains, ...) completes the keys, shows what each
    means and flags a typo as you type. Write it again after upgrading
    tierstack. See docs/schema.md.

    \b
    Examples:
      tierstack schema --out tierstack.schema.json
      tierstack schema --kind blueprint --out blueprint.schema.json
      tierstack schema --kind fleet --out fleet.schema.json
      check-jsonschema --schemafile tierstack.schema.json tierstack.yaml
    """
    from tierstack.generator.output.schema import schema_text, write_schema

    text = schema_text(kind)
    if out is None:
        echo(text, nl=False)
        return
    write_schema(out, text)
    echo(f"wrote {out}", err=True)
