"""`tierstack docs`: each stack's page printed again, with a warning when the config is newer than the stacks."""

from __future__ import annotations

from pathlib import Path

import click

from tierstack.generator.cli.options import (
    config_argument,
    environments_option,
    exit_codes,
    stacks_out_option,
)
from tierstack.generator.cli.views import (
    agrees,
    echo,
    shown_path,
)
from tierstack.generator.core.exit_codes import (
    EXIT_OK,
    EXIT_USER_ERROR,
)


@click.command(
    short_help="A Markdown page per stack: capabilities, a diagram, resources, budget.",
    epilog=exit_codes(
        {
            EXIT_OK: "printed (warnings about stale pages go to stderr)",
            EXIT_USER_ERROR: "bad input: the config, --env, a stack never generated",
        }
    ),
)
@config_argument
@stacks_out_option
@environments_option
def docs(config: Path, out: Path | None, environments: tuple[str, ...]) -> None:
    """Print each stack's page, in promotion order: the use case and its
    answers, the capabilities and why each was selected, a Mermaid diagram
    of the capabilities, their resources and identities and how data moves
    between them, the resources with their labels, the outputs, the budget
    and the alert thresholds.

    The diagram is read from the synthesized stack (DIR/stacks/<stack>/cdk.tf.json):
    its IAM grants and the references between its resources. generate writes
    the same page beside each stack, DIR/stacks/<stack>/README.md, and keeps
    it current; this command prints it again. It warns on stderr when the
    config is newer than the stacks the pages describe (changed since the
    last generate: run it again), and when that README.md differs from the
    page printed. See docs/docs-command.md.

    \b
    Examples:
      tierstack docs examples/recommender/tierstack.yaml
      tierstack docs --env prod > prod.md
    """
    from tierstack.generator.config.spec import load_spec
    from tierstack.generator.core.paths import default_out
    from tierstack.generator.output.docs import synthesized_pages
    from tierstack.generator.plan.resolve import resolve

    target = out or default_out(config)
    resolved = resolve(load_spec(config))
    texts, warnings = synthesized_pages(resolved, target, list(environments))
    stacks = [env.stack for env in resolved.environments.values() if not environments or env.name in environments]
    for warning in [*_config_newer(config, target, stacks, out), *warnings]:
        echo(f"warning: {warning}", err=True)
    echo("\n".join(texts), nl=False)


# how much newer than a stack the config must be to count as changed since: a git checkout or an unpacked
# archive writes the config and its committed output moments apart, in either order
NEWER_BY = 2.0  # seconds


def _config_newer(config: Path, target: Path, stacks: list[str], out: Path | None) -> list[str]:
    """A warning when the config was saved after generate wrote these stacks: the pages describe the
    stacks as they were generated then, not what the config says now (docs never synthesizes)."""
    from tierstack.generator.synth.stacks import stack_file

    changed = config.stat().st_mtime
    older = [stack for stack in stacks if stack_file(target, stack).stat().st_mtime + NEWER_BY < changed]
    if not older:
        return []
    command = f"tierstack generate {shown_path(config)}" + (f" --out {shown_path(out)}" if out is not None else "")
    return [
        f"{shown_path(config)} changed after generate wrote {', '.join(older)} in {shown_path(target)}: "
        f"{agrees(len(older), 'its page describes the stack', 'their pages describe the stacks')} generated "
        f"before the change; run `{command}` to bring {agrees(len(older), 'it', 'them')} up to date"
    ]
