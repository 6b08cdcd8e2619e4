"""`tierstack ci github|cloudbuild FLEET.fleet.yaml`: one pull-request and one deploy workflow for a fleet.

A fleet of 50 members in 3 environments is 150 stacks; 50 workflows of 3 jobs each would review one pull
request 50 times. So a fleet gets one of each: the `changes` job lists the changed stacks of every member
(`tierstack diff --committed --changed-stacks` on the fleet file), and each environment's plan job is a
matrix over them, member and stack, in an environment order every member's promotion order agrees with.

Identities stay per member: each member's stacks create their own workload identity pool, planner and
deployer in their own projects, so the matrix entry names the variable that holds its provider
(TIERSTACK_WIF_PROVIDER_<MEMBER>_<ENV>, a repository variable, for the planner; in the GitHub environment,
TIERSTACK_WORKLOAD_IDENTITY_PROVIDER_<MEMBER> and TIERSTACK_CI_SERVICE_ACCOUNT_<MEMBER> for the deployer).
A member below tier 2 has no CI identity: its changed stacks are validated (terraform validate), not planned.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from tierstack.generator.core.errors import UserError
from tierstack.generator.core.paths import DEFAULT_OUT
from tierstack.generator.output import ci

OUTPUT = DEFAULT_OUT  # each member's output, in <fleet folder>/<member>/ (services/fleet.py)


@dataclass(frozen=True)
class CiMember:
    """One member of a fleet, as the fleet's workflows need it."""

    name: str
    tier: int
    stacks_dir: str  # <fleet folder>/<member>/cdktf.out/stacks, from the repository's top
    environments: tuple[ci.CiEnvironment, ...]

    @property
    def applies(self) -> bool:
        return all(env.ci_identity for env in self.environments)


def _key(*parts: str) -> str:
    return "_".join(re.sub(r"[^A-Za-z0-9]", "_", part).upper() for part in parts)


def planner_variable(member: str, environment: str) -> str:
    """The repository variable holding a member's environment's workload identity provider (pull requests)."""
    return "TIERSTACK_WIF_PROVIDER_" + _key(member, environment)


def deployer_variables(member: str) -> tuple[str, str]:
    """The GitHub environment's variables holding a member's provider and deployer (the deploy workflow)."""
    return "TIERSTACK_WORKLOAD_IDENTITY_PROVIDER_" + _key(member), "TIERSTACK_CI_SERVICE_ACCOUNT_" + _key(member)


def fleet_plan(path: Path, loaded: Any, branch: str, install: str) -> tuple[ci.CiPlan, tuple[CiMember, ...]]:
    """The fleet's CI plan (its environments in one promotion order) and its members. `loaded`:
    services.fleet.load_fleet's Fleet. A member that does not resolve stops it: CI covers every member."""
    members: list[CiMember] = []
    plans: list[ci.CiPlan] = []
    top = ci.repository_top(path)
    folder = PurePosixPath(ci._relative(path.absolute(), top, path)).parent
    for member in loaded.members:
        if member.error is not None or member.resolved is None:
            raise member.error or UserError("not resolved", file=path, field=member.label)
        own = ci.plan_for(member.resolved, path, branch, install, ci.deploy_workflow_file(loaded.name))
        stacks_dir = str(folder / str(member.name) / OUTPUT / "stacks")
        plans.append(dataclasses.replace(own, stacks_dir=stacks_dir))
        members.append(CiMember(own.name, own.tier, stacks_dir, own.environments))
    if not members:
        raise UserError("the fleet has no members: there is nothing to plan or apply", file=path, field="members")
    _check_unique(path, members)
    order = environment_order(path, members)
    first = {env.name: env for member in members for env in reversed(member.environments)}
    notes = _notes(loaded.name, members, plans)
    watch = [] if str(folder) == "." else [f"{folder}/**"]
    for own in plans if watch else ():  # a fleet at the top: the whole repository is watched
        watch += [w for w in own.watch if w not in watch]
    plan = ci.CiPlan(
        name=loaded.name,
        tier=max(m.tier for m in members),
        config=ci._relative(path.absolute(), top, path),
        stacks_dir=str(folder),
        watch=tuple(watch),
        branch=branch,
        environments=tuple(first[name] for name in order),
        requirement=install,
        notes=tuple(notes),
        fleet_applies=any(m.applies for m in members),
    )
    return plan, tuple(members)


def _check_unique(path: Path, members: list[CiMember]) -> None:
    """Stack names and identity variables name one member's stack each (artifacts and variables are by name)."""
    seen: dict[str, str] = {}
    for member in members:
        names = [env.stack for env in member.environments]
        names += [planner_variable(member.name, env.name) for env in member.environments]
        names += list(deployer_variables(member.name))
        for name in dict.fromkeys(names):
            other = seen.setdefault(name, member.name)
            if other != member.name:
                raise UserError(
                    f"members {other} and {member.name} both give '{name}' (a stack or a CI variable name)",
                    file=path,
                    field=f"members[{member.name}]",
                    hint="rename one member so its stacks and variables are its own",
                )


def environment_order(path: Path, members: list[CiMember]) -> list[str]:
    """Every environment of the fleet, in an order each member's promotion order agrees with (a topological
    order, ties by first appearance); members that disagree (dev before prod in one, after it in another)
    are a UserError naming them."""
    after: dict[str, set[str]] = {}
    for member in members:
        names = [env.name for env in member.environments]
        for name in names:
            after.setdefault(name, set())
        for earlier, later in itertools.pairwise(names):
            after[later].add(earlier)
    order: list[str] = []
    while len(order) < len(after):
        ready = [name for name in after if name not in order and after[name] <= set(order)]
        if not ready:
            left = sorted(name for name in after if name not in order)
            raise UserError(
                f"the members' promotion orders disagree on {', '.join(left)}: no order of the fleet's "
                "environments keeps every member's",
                file=path,
                field="members[*].environments",
                hint="list the environments in the same order in every member (dev before prod)",
            )
        order.append(ready[0])
    return order


def _notes(name: str, members: list[CiMember], plans: list[ci.CiPlan]) -> list[str]:
    notes: list[str] = []
    checks_only = [m.name for m in members if not m.applies]
    if checks_only:
        notes.append(
            f"members {', '.join(checks_only)} have no CI identity (tier 0 or 1): their changed stacks are "
            "validated (terraform validate), not planned or applied; set tier: 2 for plans and applies"
        )
    if any(m.applies for m in members):
        notes.append(
            "tierstack apply reads one tierstack.yaml: the fleet's deploy applies each reviewed plan file "
            "with terraform apply, after checking its member's change freezes (no freeze override, no "
            "golden-set gate, no waits for eventually consistent grants)"
        )
    for own in plans:
        notes += [f"{own.name}: {note}" for note in own.notes if "no CI identity" not in note]
    return notes


def stacks_data(members: tuple[CiMember, ...]) -> str:
    """Every stack of the fleet for the workflows' scripts, compact JSON: directory -> member, stack,
    environment, whether it has a CI identity, and the names of the variables and the planner it signs in with."""
    data: dict[str, dict[str, Any]] = {}
    for member in members:
        deploy_provider, deploy_account = deployer_variables(member.name)
        for env in member.environments:
            data[f"{member.stacks_dir}/{env.stack}"] = {
                "member": member.name,
                "stack": env.stack,
                "environment": env.name,
                "ci": env.ci_identity,
                "provider": planner_variable(member.name, env.name),
                "planner": env.planner_service_account,
                "deploy_provider": deploy_provider,
                "deploy_account": deploy_account,
            }
    return json.dumps(data, separators=(",", ":"), sort_keys=True)


# The stacks' JSON reaches the changes and review steps as one environment variable; Linux refuses a
# single one over 128 KiB (MAX_ARG_STRLEN) when it starts the step's shell. About 400 bytes a stack: some
# 300 stacks fit, 100 members of 3 environments.
MAX_STACKS_JSON = 120 * 1024


def fleet_context(members: tuple[CiMember, ...], path: str = "the fleet file") -> dict[str, Any]:
    """What the GitHub templates read of a fleet (ci.render's `fleet`)."""
    checks_only = [m.name for m in members if not m.applies]
    stacks = stacks_data(members)
    if len(stacks) > MAX_STACKS_JSON:
        count = sum(len(m.environments) for m in members)
        raise UserError(
            f"{count} stacks are more than one workflow's steps can be handed ({len(stacks)} bytes of stack "
            f"data; a runner starts a step with at most {MAX_STACKS_JSON} in one variable)",
            file=path,
            field="members",
            hint="split the fleet into two fleet files, each with its own workflows",
        )
    return {
        "members": [m.name for m in members],
        "stacks": [env.stack for m in members for env in m.environments],
        "stacks_json": stacks,
        "validates": bool(checks_only),
        "checks_only": ", ".join(checks_only),
    }


def render(plan: ci.CiPlan, members: tuple[CiMember, ...], target: ci.Target, max_parallel: int) -> dict[str, str]:
    """The fleet's files: GitHub's two workflows for every member's stacks; Cloud Build's checks."""
    if target == "github":
        return ci.render(plan, target, max_parallel, fleet_context(members, plan.config))
    # Cloud Build's per-stack plan and deploy builds run `tierstack review --config` and `tierstack apply`,
    # which read one tierstack.yaml: for a fleet, the pull-request build of checks only (generate --check of
    # every member, checkov), which reads the fleet file through generate
    return ci.render(dataclasses.replace(plan, fleet_applies=False), target)


CLOUDBUILD_NOTE = (
    "Cloud Build, for a fleet: wrote the pull-request build of checks only (generate --check of every member, "
    "checkov); its per-stack plan and deploy builds run tierstack review --config and tierstack apply, which "
    "read one tierstack.yaml (use tierstack ci github for the fleet's plans and deploys)"
)
