"""`tierstack verify`: the live Vertex AI resources read back and compared with the stacks."""

from __future__ import annotations

from pathlib import Path

import click

from tierstack.generator.cli.options import (
    config_argument,
    environments_option,
    exit_codes,
    format_option,
    members_option,
    not_an_environment,
    old_config_option,
    stacks_out_option,
)
from tierstack.generator.cli.views import echo
from tierstack.generator.core.exit_codes import (
    EXIT_DRIFT,
    EXIT_OK,
    EXIT_USER_ERROR,
)


@click.command(
    short_help=f"Read the live Vertex AI resources back; exit {EXIT_DRIFT} when they differ.",
    epilog=exit_codes(
        {
            EXIT_OK: "every stack matches what runs",
            EXIT_USER_ERROR: "no credentials, a permission denied (403), a project that does not\n"
            "exist (404), a stack never generated, a bad config",
            EXIT_DRIFT: "a difference: missing, differing or unmanaged resources (listed)",
        }
    ),
)
@config_argument
@old_config_option
@environments_option
@stacks_out_option
@click.option(
    "--region",
    "regions",
    multiple=True,
    metavar="REGION",
    help="Also look in REGION for resources labelled as ours (one created in the wrong region); repeatable.",
)
@members_option
@format_option()
def verify(
    config: Path,
    old_config: Path | None,
    environments: tuple[str, ...],
    out: Path | None,
    regions: tuple[str, ...],
    members: tuple[str, ...],
    fmt: str,
) -> None:
    """Compare the Vertex AI resources each stack manages with what runs in
    Google Cloud: endpoints and the replicas of the models deployed on them,
    deployment resource pools, the metadata store, persistent resources
    (machine, accelerators, replicas) and feature online stores, with their
    region, labels and CMEK key. Expected values come from the synthesized
    DIR/stacks/<stack>/cdk.tf.json (run `tierstack generate` first).

    Reports what is missing, what differs from the stack, and what is
    labelled as ours (managed-by: tierstack, use-case: <name>) but in no
    stack. A fleet file as CONFIG verifies every member's stacks, or those
    of --member NAME. Read only; the reads run concurrently. Uses Application Default
    Credentials (`gcloud auth application-default login`); the identity needs
    roles/aiplatform.viewer on each project.

    \b
    Examples:
      tierstack verify examples/fraud-detection/tierstack.yaml --env prod
      tierstack verify --format json | jq '.stacks[].findings'
      tierstack verify churn.fleet.yaml --env prod --member churn-de
    """
    from tierstack.generator.analysis import verify as checking
    from tierstack.generator.config.blueprint import display_path
    from tierstack.generator.output.report import as_data

    not_an_environment("verify", config, old_config, environments)
    stacks = []
    for env, path in checking.synthesized_stacks(config, out, environments, members):
        shown = display_path(path)
        data = checking.load_stack(path, shown)
        use_case = env.settings.get("labels", {}).get("use-case", "")
        stacks.append(checking.expectation(env.stack, env.name, use_case, data, shown))
    reader = checking.connect()
    report = checking.verify(stacks, reader, regions, progress=lambda text: echo(text, err=True))
    if fmt == "text":
        echo(checking.to_text(report), nl=False)
    else:
        echo(as_data(checking.to_data(report), fmt), nl=False)
    if report.differences:
        raise click.exceptions.Exit(EXIT_DRIFT)
