"""The `tierstack` command line.

Only click is imported at start; each command imports what it needs, so
`tierstack --help` stays fast. Every UserError becomes one message on stderr
and exit code 2; nothing the user typed can produce a traceback.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import click

DEFAULT_CONFIG = "tierstack.yaml"
EXIT_USER_ERROR = 2
FORMATS = ("text", "json", "yaml")


class TierstackGroup(click.Group):
    """Turns UserErrors into one clear message and exit 2."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.exceptions.Exit:
            raise
        except Exception as exc:
            from tierstack.generator.errors import UserError

            if isinstance(exc, UserError):
                click.secho(f"error: {exc.render()}", err=True, fg="red")
                ctx.exit(EXIT_USER_ERROR)
            if isinstance(exc, click.ClickException):
                raise
            if os.environ.get("TIERSTACK_DEBUG"):
                raise
            click.secho(
                f"internal error: {type(exc).__name__}: {exc}\n"
                "This is a bug in tierstack, not in your input. Run again with TIERSTACK_DEBUG=1 "
                "for the traceback and include it in a bug report.",
                err=True,
                fg="red",
            )
            ctx.exit(1)


def _format_option(default: str = "text") -> Any:
    return click.option(
        "--format", "fmt", type=click.Choice(FORMATS), default=default, show_default=True,
        help="text for people; json or yaml for scripts.",
    )


config_argument = click.argument(
    "config", required=False, default=DEFAULT_CONFIG, type=click.Path(dir_okay=False, path_type=Path),
)


@click.group(cls=TierstackGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="tierstack")
def main() -> None:
    """From an ML use case to MLOps capabilities, a maturity tier and
    CDK-for-Terraform stacks on Google Cloud.

    \b
    Start here:
      tierstack init                     answer a few questions, get tierstack.yaml
      tierstack explain                  capabilities, reasons, tier, environments
      tierstack show --resolved          the resolved blueprint stacks are built from
    """


@main.command(short_help="The MLOps capabilities tierstack knows.")
@_format_option()
def capabilities(fmt: str) -> None:
    """List the MLOps capabilities tierstack knows.

    \b
    Example:
      tierstack capabilities --format yaml
    """
    from tierstack.generator.catalog import load_catalog
    from tierstack.generator.report import as_data, catalog_data

    catalog = load_catalog()
    if fmt != "text":
        click.echo(as_data(catalog_data(catalog), fmt), nl=False)
        return
    for cap in catalog.capabilities:
        note = "always" if cap.always else f"tier {cap.min_tier}+"
        click.echo(f"{cap.id:<24}{cap.name} ({note}; {cap.process})")
        click.echo(f"{'':<24}{cap.definition}")


@main.command(short_help="The maturity tiers and what each provides.")
@_format_option()
def tiers(fmt: str) -> None:
    """List the maturity tiers and what each provides.

    \b
    Example:
      tierstack tiers
    """
    from tierstack.generator.catalog import load_catalog
    from tierstack.generator.report import as_data, tiers_data

    data = tiers_data(load_catalog())
    if fmt != "text":
        click.echo(as_data(data, fmt), nl=False)
        return
    for tier in data:
        click.echo(f"tier {tier['level']}: {tier['name']} (blueprint {tier['blueprint']})")
        click.echo(f"  {tier['summary']}")
        click.echo(f"  environments: {', '.join(tier['environments'])}; CI/CD: {'yes' if tier['ci_cd'] else 'no'}")
        click.echo(f"  capabilities: {', '.join(tier['capabilities'])}")


@main.command(short_help="Why each capability, which tier, which stacks.")
@config_argument
@_format_option()
def explain(config: Path, fmt: str) -> None:
    """Explain a use case: capabilities with reasons, tier, what each provisions.

    \b
    Example:
      tierstack explain examples/fraud-detection/tierstack.yaml
    """
    from tierstack.generator.catalog import load_catalog
    from tierstack.generator.report import as_data, explain_data, explain_text
    from tierstack.generator.resolve import resolve
    from tierstack.generator.spec import load_spec

    catalog = load_catalog()
    data = explain_data(resolve(load_spec(config), catalog), catalog)
    click.echo(explain_text(data) if fmt == "text" else as_data(data, fmt), nl=False)


@main.command(short_help="The spec, or the resolved plan with provenance.")
@config_argument
@click.option("--resolved", is_flag=True, help="Show the resolved blueprint, per environment.")
@click.option("--provenance", is_flag=True, help="With --resolved: the file and line that set each value.")
@_format_option(default="yaml")
def show(config: Path, resolved: bool, provenance: bool, fmt: str) -> None:
    """Show the validated spec, or with --resolved the plan stacks are built from.

    \b
    Examples:
      tierstack show examples/recommender/tierstack.yaml
      tierstack show --resolved --provenance
      tierstack show --resolved --format json | jq '.environments.prod'
    """
    from tierstack.generator.report import as_data, resolved_text
    from tierstack.generator.resolve import resolve
    from tierstack.generator.spec import load_spec

    if provenance and not resolved:
        raise click.UsageError("--provenance goes with --resolved")
    loaded = load_spec(config)
    if not resolved:
        click.echo(as_data(loaded.spec.model_dump(mode="json"), "json" if fmt == "json" else "yaml"), nl=False)
        return
    plan = resolve(loaded)
    if fmt == "text" or (provenance and fmt == "yaml"):
        click.echo(resolved_text(plan, provenance), nl=False)
    elif provenance:
        click.echo(as_data({"resolved": plan.to_data(), "provenance": plan.provenance()}, fmt), nl=False)
    else:
        click.echo(as_data(plan.to_data(), fmt), nl=False)


@main.command(short_help="Synthesize one Terraform stack per environment.")
@config_argument
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), metavar="DIR",
              help="The cdktf output directory, what cdktf.out is by default [default: cdktf.out beside the config].")
@click.option("--env", "environments", multiple=True, help="Only these environments (repeatable).")
@click.option("--force", is_flag=True,
              help="Replace files tierstack wrote that were edited by hand, cdktf.json included. Files it did "
              "not write are never deleted, and Terraform's own files are always kept.")
def generate(config: Path, out: Path | None, environments: tuple[str, ...], force: bool) -> None:
    """Generate CDK-for-Terraform stacks, one per environment, as Terraform JSON.

    \b
    Writes, with DIR = --out (default: cdktf.out beside the config):
      DIR/stacks/<name>-<env>/cdk.tf.json   one stack per environment
      DIR/manifest.json                     the stacks and their paths (CDK CLI, Atlantis)
      DIR/.tierstack-manifest.json          what tierstack wrote, to spot hand edits
      cdktf.json beside DIR                 for the CDK CLI (never over your own)

    The new tree replaces DIR atomically: a failure leaves the previous output
    as it was. DIR must be a directory of its own: not the config's folder, a
    repository's top, your home, the current directory or /. A file there
    that tierstack did not write stops generate, even with --force; one it
    wrote and you edited (cdktf.json too) stops it unless --force. Terraform's
    files in a stack directory (.terraform/, .terraform.lock.hcl, *.tfplan,
    terraform.tfstate*) are yours: they are carried over into every
    regeneration. A stack that leaves the config while its directory holds
    them stops generate unless --force, which keeps them. A second generate
    into the same DIR waits for the first (up to 2 minutes).

    \b
    Examples:
      tierstack generate examples/fraud-detection/tierstack.yaml
      tierstack generate --env prod --out build/cdktf.out   # build/cdktf.out/stacks/<name>-prod/
    """
    from tierstack.generator.generate import generate as run_generate
    from tierstack.generator.report import delivery_warnings
    from tierstack.generator.resolve import resolve
    from tierstack.generator.spec import load_spec

    plan = resolve(load_spec(config))
    for warning in delivery_warnings(plan):
        click.echo(f"warning: {warning}", err=True)
    target = out or config.parent / "cdktf.out"
    summaries = run_generate(plan, target, list(environments) or None, force,
                             progress=lambda text: click.echo(text, err=True))
    for summary in summaries:
        parts = ", ".join(f"{cap} {n}" for cap, n in summary.resources_by_capability.items())
        click.echo(f"{summary.name}: {summary.total} resources ({parts})")
    click.echo(f"wrote {target}/ ({len(summaries)} stack{'s' if len(summaries) != 1 else ''})")


from tierstack.generator.init_cli import init  # noqa: E402  (a command module; imports click only)

main.add_command(init)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
