"""`tierstack fork`: an overlay blueprint that extends a pinned upstream and holds only the overrides."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from tierstack.generator.cli.options import (
    exit_codes,
)
from tierstack.generator.cli.views import (
    counted,
    echo,
    shown_path,
)
from tierstack.generator.core.exit_codes import (
    EXIT_OK,
    EXIT_USER_ERROR,
)


@click.command(
    short_help="Write an overlay blueprint that extends a pinned upstream: only your overrides.",
    epilog=exit_codes(
        {EXIT_OK: "written", EXIT_USER_ERROR: "bad input: the upstream, a --set, a file fork did not write"}
    ),
)
@click.argument("upstream")
@click.option(
    "--name",
    required=True,
    metavar="NAME",
    help="The fork's name: the file is NAME.yaml.j2 unless --out says otherwise.",
)
@click.option("--ref", metavar="REF", help="A git upstream's tag, branch or commit [default: its newest tag].")
@click.option(
    "--path",
    "repo_path",
    metavar="PATH",
    help="A git upstream's blueprint, as a path in the repository [default: its only *.yaml.j2].",
)
@click.option(
    "--region",
    metavar="REGION",
    help="The region the fork is for: the upstream is rendered and checked for it, and the fork is pinned to "
    "it (region:, allowed_regions:).",
)
@click.option(
    "--set",
    "sets",
    multiple=True,
    metavar="KEY=VALUE",
    help="An override (repeatable): KEY a setting of the upstream (labels.team=uk, "
    "roles.production.capabilities.model_serving.min_replicas=3, ...apis+=[x] appends), VALUE as YAML.",
)
@click.option(
    "--var",
    "variables",
    multiple=True,
    metavar="NAME=VALUE",
    help="A template variable the upstream reads, to render it here (repeatable).",
)
@click.option(
    "--out", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE", help="[default: NAME.yaml.j2 here]"
)
@click.option("--force", is_flag=True, help="Replace FILE if `tierstack fork` wrote it (never a file of your own).")
def fork(
    upstream: str,
    name: str,
    ref: str | None,
    repo_path: str | None,
    region: str | None,
    sets: tuple[str, ...],
    variables: tuple[str, ...],
    out: Path | None,
    force: bool,
) -> None:
    """Write an overlay blueprint that extends UPSTREAM and holds only your
    overrides, each commented with what it replaces upstream and where that
    is set. Upstream fixes keep arriving through `extends`; `tierstack
    upstream` shows what a newer release changes (docs/forks.md).

    UPSTREAM is a built-in blueprint, a blueprint file, or a git repository
    (https://, ssh://, user@host:path, file:///path, or a local path): the
    overlay extends {git: URL, ref: REF, path: PATH}, pinned to --ref or the
    newest tag. Each --set is checked against the upstream's settings (an
    unknown key is an error with a did-you-mean), and the overlay is resolved
    for a production use case in --region before it is written (a wrong type
    gets the typed settings' message). Nothing is written when anything is
    wrong; an existing file only with --force, and only one fork wrote.

    \b
    Examples:
      tierstack fork level-1-pipeline-automation --name acme-emea --region europe-west4 \\
          --set labels.data-residency=eu --set roles.production.encryption.cmek=true
      tierstack fork https://github.com/acme/platform-blueprints.git --ref v1.4.0 \\
          --path blueprints/org.yaml.j2 --name propensity-uk --region europe-west2
    """
    from tierstack.generator.core.errors import UserError
    from tierstack.generator.core.yamlio import parse, to_plain
    from tierstack.generator.services import fork as forks

    given: dict[str, Any] = {}
    for item in variables:
        key, sep, text = item.partition("=")
        if not sep or not key.isidentifier():
            raise UserError(f"'{item}' is not NAME=VALUE", field="--var")
        given[key] = to_plain(parse(text, "--var")) if text.strip() else None
    written = forks.fork(
        upstream,
        name,
        out=out,
        ref=ref,
        path=repo_path,
        region=region,
        sets=sets,
        variables=given,
        force=force,
    )
    for warning in written.warnings:
        echo(f"warning: {warning}", err=True)
    origin = written.upstream.links[0]
    what = origin.name
    if origin.pin is not None:
        pin = origin.pin
        what = f"{pin.location.written} {pin.source.path} at {pin.ref} (commit {pin.commit[:12]})"
    echo(f"wrote {shown_path(written.path)}: {counted(len(sets), 'override')} of {what}")
    echo(
        f"use it from tierstack.yaml: blueprint: ./{written.path.name}"
        + (f" (its configs are in {region} unless they write region:)" if region else "")
    )
    from tierstack.generator.output.schema import write_beside

    schema_file, wrote = write_beside(written.path, "blueprint")
    if not wrote:
        echo(f"note: {shown_path(schema_file)} is not a schema tierstack wrote; left as it is", err=True)
