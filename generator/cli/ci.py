"""`tierstack ci github` and `tierstack ci cloudbuild`: the CI definitions that review and apply the stacks."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from tierstack.generator.cli.context import CommandGroup
from tierstack.generator.cli.options import (
    config_argument,
    exit_codes,
)
from tierstack.generator.cli.views import echo
from tierstack.generator.core.exit_codes import (
    EXIT_OK,
    EXIT_USER_ERROR,
)

_F = TypeVar("_F", bound=Callable[..., Any])


@click.group(
    cls=CommandGroup,
    short_help="CI definitions: GitHub Actions workflows, Cloud Build configs.",
    epilog=exit_codes({EXIT_OK: "--help", EXIT_USER_ERROR: "no command, or one ci does not have"}),
)
def ci() -> None:
    """Write the CI definitions that review and apply the stacks of a config.

    \b
    On a pull request: generate --check, checkov, terraform plan of every
    stack in promotion order (on GitHub, of each stack whose committed output
    changes, a matrix job each), each plan through `tierstack review`, and the
    result as one comment (GitHub) or in the build log (Cloud Build). On the
    default branch: apply per environment in promotion order, production
    behind an approval, change freezes enforced (an emergency override is an
    explicit input with a reason, recorded in the review). Sign-in through
    Workload Identity Federation or the build's own service account: no keys.

    Below tier 2 there is no CI identity: only the pull-request checks are
    written (generate --check, checkov, terraform validate of each changed
    stack). A fleet file gets one pull-request and one deploy workflow for
    every member's stacks. See docs/ci.md.
    """


def _ci_options(target: str, folder: str) -> Callable[[_F], _F]:
    def decorate(function: _F) -> _F:
        for option in reversed(
            [
                config_argument,
                click.option(
                    "--out",
                    type=click.Path(path_type=Path),
                    metavar="DIR",
                    help=f"Where to write the files [default: {folder} at the repository's top].",
                ),
                click.option(
                    "--branch",
                    default="main",
                    metavar="BRANCH",
                    show_default=True,
                    help="The default branch: pushes to it apply; pull requests into it are reviewed.",
                ),
                click.option(
                    "--install",
                    metavar="REQUIREMENT",
                    envvar="TIERSTACK_CI_INSTALL",
                    help="What the jobs `pip install`, pinned: tierstack==X.Y.Z, 'tierstack @ "
                    "git+https://...@COMMIT' or an https wheel with #sha256=. [default: where this tierstack "
                    "was installed from; env: TIERSTACK_CI_INSTALL]",
                ),
                click.option(
                    "--force",
                    is_flag=True,
                    help="Replace a file tierstack wrote that was edited by hand. A file tierstack did not "
                    "write is never replaced.",
                ),
            ]
        ):
            function = option(function)
        return function

    return decorate


def _write_ci(
    target: str,
    config: Path,
    out: Path | None,
    branch: str,
    install: str | None,
    force: bool,
    max_parallel: int | None = None,
) -> None:
    from tierstack.generator.config.blueprint import display_path
    from tierstack.generator.config.spec import load_spec
    from tierstack.generator.output import ci as ci_files
    from tierstack.generator.output import ci_fleet
    from tierstack.generator.plan.resolve import resolve
    from tierstack.generator.services import fleet as fleets

    kind: ci_files.Target = "github" if target == "github" else "cloudbuild"
    parallel = ci_files.check_max_parallel(ci_files.DEFAULT_MAX_PARALLEL if max_parallel is None else max_parallel)
    requirement = ci_files.requirement(install)
    if fleets.is_fleet_file(config):
        ci_files.check_branch_option(branch)
        plan, members = ci_fleet.fleet_plan(config, fleets.load_fleet(config), branch, requirement)
        files = ci_fleet.render(plan, members, kind, parallel)
        if kind == "cloudbuild":
            plan = dataclasses.replace(plan, notes=(ci_fleet.CLOUDBUILD_NOTE,))
    else:
        plan = ci_files.plan_for(resolve(load_spec(config)), config, branch, requirement)
        files = ci_files.render(plan, kind, parallel)
    folder = out if out is not None else ci_files.default_out(config, kind)
    written = ci_files.write(files, folder, force, f"tierstack ci {target} {display_path(config)}")
    for note in plan.notes:
        echo(f"note: {note}", err=True)
    for item in written:
        echo(f"{item.status}: {display_path(item.path)}")


@ci.command(
    "github",
    short_help="GitHub Actions workflows: review pull requests, apply in promotion order.",
    epilog=exit_codes(
        {EXIT_OK: "written", EXIT_USER_ERROR: "bad input: the config, --out, --install, a file edited by hand"}
    ),
)
@_ci_options("github", ".github/workflows")
@click.option(
    "--max-parallel",
    type=int,
    default=8,
    show_default=True,
    metavar="N",  # checked by output.ci.check_max_parallel: a UserError naming the option
    help="How many plan (and deploy) jobs of one environment run at once: a positive integer.",
)
def ci_github(config: Path, out: Path | None, branch: str, install: str | None, force: bool, max_parallel: int) -> None:
    """Write GitHub Actions workflows for CONFIG: tierstack-NAME-pr.yml and,
    from tier 2, tierstack-NAME-deploy.yml.

    A fleet file (docs/fleets.md) gets one pull-request and one deploy
    workflow for every member's stacks: a matrix of member and stack per
    environment, each member signing in with its own identities.

    Each environment's jobs run in the GitHub environment of the same name
    and sign in with google-github-actions/auth through the workload identity
    provider tier 2 creates: set TIERSTACK_WORKLOAD_IDENTITY_PROVIDER and
    TIERSTACK_CI_SERVICE_ACCOUNT in each GitHub environment (the comments in
    the workflow say which Terraform output holds each). Give production its
    required reviewers there.

    \b
    Examples:
      tierstack ci github                                  # .github/workflows/
      tierstack ci github services/churn/tierstack.yaml --branch trunk
    """
    _write_ci("github", config, out, branch, install, force, max_parallel)


@ci.command(
    "cloudbuild",
    short_help="Cloud Build configs: review pull requests, apply in promotion order.",
    epilog=exit_codes(
        {EXIT_OK: "written", EXIT_USER_ERROR: "bad input: the config, --out, --install, a file edited by hand"}
    ),
)
@_ci_options("cloudbuild", "cloudbuild/")
def ci_cloudbuild(config: Path, out: Path | None, branch: str, install: str | None, force: bool) -> None:
    """Write Cloud Build configs for CONFIG: NAME-pr.yaml and, from tier 2,
    per stack NAME-pr-ENV.yaml (its pull-request plan), NAME-deploy-ENV.yaml
    (promoted in order) and production's NAME-apply-ENV.yaml, with each
    project's triggers in NAME-triggers-ENV.yaml.

    A fleet file gets the pull-request build of checks only (docs/ci.md says why).

    Import the triggers with `gcloud builds triggers import`: a pull request
    builds only the stacks it touches (includedFiles), as the planner; the
    deploy and apply builds run as the deployer, production's after approval.

    \b
    Examples:
      tierstack ci cloudbuild                              # cloudbuild/
      tierstack ci cloudbuild examples/fraud-detection/tierstack.yaml --out build/ci
    """
    _write_ci("cloudbuild", config, out, branch, install, force)
