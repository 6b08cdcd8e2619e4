"""`tierstack capabilities` and `tierstack tiers`: the catalog, as text for people or as data."""

from __future__ import annotations

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
    short_help="The MLOps capabilities tierstack knows.",
    epilog=exit_codes({EXIT_OK: "listed", EXIT_USER_ERROR: "a usage error (an unknown option or --format)"}),
)
@format_option()
def capabilities(fmt: str) -> None:
    """List the MLOps capabilities tierstack knows.

    \b
    Example:
      tierstack capabilities --format yaml
    """
    from tierstack.generator.facts.catalog import load_catalog
    from tierstack.generator.output.report import as_data, catalog_data

    catalog = load_catalog()
    if fmt != "text":
        echo(as_data(catalog_data(catalog), fmt), nl=False)
        return
    for cap in catalog.capabilities:
        note = "always" if cap.always else f"tier {cap.min_tier}+"
        echo(f"{cap.id:<24}{cap.name} ({note}; {cap.process})")
        echo(f"{'':<24}{cap.definition}")


@click.command(
    short_help="The maturity tiers and what each provides.",
    epilog=exit_codes({EXIT_OK: "listed", EXIT_USER_ERROR: "a usage error (an unknown option or --format)"}),
)
@format_option()
def tiers(fmt: str) -> None:
    """List the maturity tiers and what each provides.

    \b
    Example:
      tierstack tiers
    """
    from tierstack.generator.facts.catalog import load_catalog
    from tierstack.generator.output.report import as_data, tiers_data

    data = tiers_data(load_catalog())
    if fmt != "text":
        echo(as_data(data, fmt), nl=False)
        return
    for tier in data:
        echo(f"tier {tier['level']}: {tier['name']} (blueprint {tier['blueprint']})")
        echo(f"  {tier['summary']}")
        echo(f"  environments: {', '.join(tier['environments'])}; CI/CD: {'yes' if tier['ci_cd'] else 'no'}")
        echo(f"  capabilities: {', '.join(tier['capabilities'])}")
