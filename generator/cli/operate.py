"""`tierstack bootstrap`, `plan` and `apply`: the state bucket, then terraform in promotion order.

plan and apply take the config as their argument; an old command line (`plan prod`, `--config FILE`)
is stopped with the line that replaces it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from tierstack.generator.cli.options import (
    DEFAULT_CONFIG,
    command_line,
    config_argument,
    environments_option,
    exit_codes,
    not_an_environment,
    terraform_options,
)
from tierstack.generator.cli.views import (
    agrees,
    counted,
    echo,
    print_error,
    relay,
    shown_path,
    stderr_is_tty,
    stdin_is_tty,
)
from tierstack.generator.core.exit_codes import (
    EXIT_FROZEN,
    EXIT_OK,
    EXIT_USER_ERROR,
)


@click.command(
    short_help="Create each environment's Terraform state bucket (before the first plan).",
    epilog=exit_codes(
        {
            EXIT_OK: "every bucket exists with the right settings (with --dry-run: listed)",
            EXIT_USER_ERROR: "a bucket that cannot be used, no credentials, a missing project or\npermission",
        }
    ),
)
@config_argument
@environments_option
@click.option("--dry-run", is_flag=True, help="Read only: say what would be created or found; change nothing.")
@click.option(
    "--soft-delete-days",
    type=click.IntRange(7, 90),
    default=30,
    show_default=True,
    help="How long Cloud Storage keeps a deleted or overwritten state object for restoring.",
)
def bootstrap(config: Path, environments: tuple[str, ...], dry_run: bool, soft_delete_days: int) -> None:
    """Create the GCS bucket each stack's Terraform backend keeps its state in.

    Terraform cannot create its own backend: run this once before the first
    `tierstack plan`. Each environment's bucket (state_bucket in tierstack.yaml,
    default <name>-tfstate; each stack keeps its own prefix) is created in the
    environment's project and region, with object versioning, uniform
    bucket-level access, public access prevention enforced, soft delete and
    the environment's cost labels. Running it again is safe: an existing
    bucket with compatible settings is left alone; one whose settings differ,
    or a name another project holds, is an error saying what to do.

    Uses Application Default Credentials (`gcloud auth application-default
    login`); with STORAGE_EMULATOR_HOST set, that storage emulator. --dry-run
    needs neither credentials nor a network: without them it lists each bucket
    and says what it could not check.

    \b
    Examples:
      tierstack bootstrap --dry-run
      tierstack bootstrap examples/recommender/tierstack.yaml --env prod
    """
    from tierstack.generator.config.spec import load_spec
    from tierstack.generator.plan.resolve import resolve
    from tierstack.generator.services import bootstrap as state

    buckets = state.wanted_buckets(resolve(load_spec(config)), environments or None, soft_delete_days)
    failed = 0
    for outcome in state.bootstrap(buckets, dry_run):
        for line in state.report(outcome):
            echo(line)
        failed += outcome.failed
    if failed:
        print_error(f"error: {counted(failed, 'state bucket')} cannot be used as {agrees(failed, 'is', 'they are')}")
        raise click.exceptions.Exit(EXIT_USER_ERROR)


def _chosen_environments(resolved: Any, environments: tuple[str, ...]) -> list[str] | None:
    """The environments named with --env, checked against the config (None: every environment)."""
    from tierstack.generator.core.errors import UserError, did_you_mean
    from tierstack.generator.core.paths import display_path

    known = list(resolved.environments)
    for env in environments:
        if env not in known:
            raise UserError(
                f"no environment '{env}' in this use case",
                file=display_path(resolved.loaded.path),
                field="--env",
                hint=did_you_mean(env, known) or "environments: " + ", ".join(known),
            )
    return list(environments) or None


def _operate(config: Path, out: Path | None, environments: tuple[str, ...]) -> tuple[Any, Path, list[Any]]:
    """The resolved config, the output directory and the stacks to run (promotion order), checked to be
    synthesized."""
    from tierstack.generator.config.spec import load_spec
    from tierstack.generator.core.paths import default_out
    from tierstack.generator.plan.resolve import resolve
    from tierstack.generator.services import operate

    resolved = resolve(load_spec(config))
    target = out or default_out(config)
    chosen = _chosen_environments(resolved, environments)
    runs = [run for run in operate.stack_runs(resolved, target) if chosen is None or run.environment in chosen]
    operate.check_synthesized(runs, config, target)
    return resolved, target, runs


@click.command(
    short_help="terraform plan each stack in promotion order; save the plans.",
    epilog=exit_codes(
        {
            EXIT_OK: "planned; the plans are saved and their review printed",
            EXIT_USER_ERROR: "bad input or a bad environment: stale or missing stacks, no terraform,\n"
            "no credentials, terraform failed",
        }
    ),
)
@terraform_options
def plan(config: Path, old_config: Path | None, environments: tuple[str, ...], out: Path | None, binary: str) -> None:
    """Run `terraform init` and `terraform plan` in each stack, in promotion
    order (every environment, or those of --env), and save each plan for
    `tierstack apply`.

    First the stacks are synthesized again in a temporary directory: output
    the config no longer generates is stale and is not planned (run
    `tierstack generate`). Then, in DIR/stacks/<stack>/: `terraform init
    -input=false`, `terraform plan -out=<stack>.tfplan` (its output streams to
    stderr), and `terraform show -json` saved as <stack>.tfplan.json, what
    `tierstack review` reads. A summary of each plan goes to stdout.

    The state lives in the GCS bucket `tierstack bootstrap` creates; terraform
    uses Application Default Credentials (`gcloud auth application-default
    login`). Terraform's own environment variables work as usual.

    \b
    Examples:
      tierstack plan                       # every environment, dev first
      tierstack plan examples/fraud-detection/tierstack.yaml --env prod
      tierstack plan --binary tofu         # OpenTofu
    """
    from tierstack.generator.services import operate

    not_an_environment("plan", config, old_config, environments)
    resolved, target, runs = _operate(config, out, environments)
    tf_binary = operate.find_binary(binary)
    echo("checking that the stacks are current (synthesizing takes a few seconds)...", err=True)
    operate.check_current(resolved, runs, config, target)
    terraform = operate.Terraform(tf_binary, relay, stderr_is_tty())
    reviewed = []
    for run in runs:
        echo(f"{run.stack}: terraform init", err=True)
        operate.init(terraform, run, config)
        echo(f"{run.stack}: terraform plan -out={run.plan_file.name}", err=True)
        reviewed.append(operate.stack_review(operate.plan(terraform, run, config), run))
        echo(f"{run.stack}: saved {shown_path(run.plan_file)} and {shown_path(run.plan_json)}", err=True)
    changing = [run for run, stack in zip(runs, reviewed, strict=True) if stack.has_changes]
    check = operate.freeze_check(resolved, changing, config, _freeze_clock())
    echo(operate.review_text(reviewed, check), nl=False)


@click.command(
    short_help="Apply the saved plans, after confirmation, in promotion order.",
    epilog=exit_codes(
        {
            EXIT_OK: "applied (or nothing to apply)",
            EXIT_USER_ERROR: "no saved plan, a stale plan, no confirmation, terraform failed",
            EXIT_FROZEN: "a change freeze is on for a stack to apply, without --override-freeze",
        }
    ),
)
@terraform_options
@click.option("--auto-approve", is_flag=True, help="Apply without asking (CI, after the plan was reviewed).")
@click.option(
    "--override-freeze",
    "override",
    metavar="REASON",
    help="Apply to a stack inside a change freeze anyway (an emergency); the reason is printed with the apply.",
)
def apply(
    config: Path,
    old_config: Path | None,
    environments: tuple[str, ...],
    out: Path | None,
    binary: str,
    auto_approve: bool,
    override: str | None,
) -> None:
    """Apply exactly the plan `tierstack plan` saved for each stack (every
    environment in promotion order, or those of --env): `terraform apply
    <stack>.tfplan`.

    Nothing new is planned. Before anything is applied, every chosen stack
    must have a saved plan made from the cdk.tf.json now in its directory (a
    regeneration since the plan makes it stale: plan again), and no change
    freeze from tierstack.yaml may be on for it (production, unless the
    freeze names environments) without --override-freeze REASON. Each plan's
    summary is shown and confirmed before it is applied; without a terminal,
    only --auto-approve applies. A plan without changes is skipped. Once
    applied, a stack's plan files are removed. When Google refuses a resource
    where it documents a delay (a grant made seconds before, docs/operate.md),
    apply says what it waits for, waits, plans what is left of the reviewed
    plan (nothing more) and applies that.

    \b
    Examples:
      tierstack apply --env dev
      tierstack apply --auto-approve                  # CI, every environment
      tierstack apply --env prod --override-freeze "INC-4711: revert the bad model"
    """
    from tierstack.generator.core.errors import UserError
    from tierstack.generator.services import operate

    not_an_environment("apply", config, old_config, environments)
    if override is not None and not override.strip():
        raise click.BadParameter("say why the freeze is overridden", param_hint="--override-freeze")
    resolved, _target, runs = _operate(config, out, environments)
    tf_binary = operate.find_binary(binary)
    for run in runs:
        operate.check_plan_saved(run)
        operate.check_plan_current(run, config)
    terraform = operate.Terraform(tf_binary, relay, stderr_is_tty())
    saved = [operate.stack_review(operate.show(terraform, run, config)[0], run) for run in runs]
    changing = [run for run, stack in zip(runs, saved, strict=True) if stack.has_changes]
    reason = override.strip() if override is not None else None
    check = operate.freeze_check(resolved, changing, config, _freeze_clock(), reason)
    if check.blocked:
        for hit in check.hits:
            print_error(f"error: change freeze '{hit.freeze}' is on for {hit.stack} ({hit.window}): {hit.reason}")
        print_error("  hint: apply after the freeze, or pass --override-freeze REASON in an emergency", color=None)
        raise click.exceptions.Exit(EXIT_FROZEN)
    if changing and not auto_approve and not stdin_is_tty():
        raise UserError(
            "apply asks for a confirmation, and there is no terminal to ask on",
            hint="review the plans (`tierstack review`), then pass --auto-approve",
        )
    for run, stack in zip(runs, saved, strict=True):
        echo(operate.review_text([stack], check if run in changing else None), nl=False)
        if not stack.has_changes:
            echo(f"{run.stack}: nothing to apply")
            continue
        question = f"Apply this plan to {run.stack} (project {run.project})?"
        if not auto_approve and not click.confirm(question, default=False):
            raise UserError(
                f"apply cancelled: {run.stack} was not applied"
                + (", nor the environments after it" if run is not runs[-1] else ""),
                hint=f"run `{command_line('apply', _given_config(config), [run.environment])}` when ready",
            )
        operate.apply(terraform, run, config)
        echo(f"{run.stack}: applied")


def _given_config(config: Path) -> Path | None:
    """The config as a command line should name it: None for the default, which needs no naming."""
    return None if config == Path(DEFAULT_CONFIG) else config


def _freeze_clock() -> Any:
    from tierstack.generator.config import freeze

    return freeze.now()
