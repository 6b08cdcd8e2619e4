"""`tierstack ci github|cloudbuild`: the CI definitions a platform team commits beside tierstack.yaml.

On a pull request: `tierstack generate --check`, checkov on the generated JSON, `terraform plan` of every
stack in promotion order, each plan through `tierstack review`, and one pull-request comment that is
updated in place (found by a hidden marker). On the default branch: apply per environment in promotion
order, each environment's job gated by `tierstack review` (change freezes; an emergency override is an
explicit input with a reason, recorded in the review) and applying exactly the plan file it reviewed.
Sign-in is Workload Identity Federation (GitHub) or the build's own service account (Cloud Build): never
a key.

The files are rendered from templates/ci/ by jinja2's immutable sandbox. Every value that comes from a
config reaches the output through one of this module's filters, which quote it for YAML (and for
GitHub's `${{ }}` or Cloud Build's `$SUBSTITUTION` syntax); a template that prints anything else fails
(`_finalize`). The output is deterministic: the same config and options give byte-identical files.

Each file starts with a header that says tierstack wrote it and carries the sha256 of the rest, so a
file tierstack did not write is never replaced (not even with --force) and one it wrote that was edited
by hand is replaced only with --force.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, Literal

from tierstack.generator import __version__
from tierstack.generator.core import fsio
from tierstack.generator.core.errors import UserError
from tierstack.generator.core.exit_codes import (
    EXIT_DESTRUCTIVE_CHANGE,
    EXIT_FROZEN,
    EXIT_NOT_PROMOTABLE,
    EXIT_PLAN_CHANGED,
)
from tierstack.generator.core.fsio import write_atomic
from tierstack.generator.core.paths import DEFAULT_OUT, display_path

if TYPE_CHECKING:
    from tierstack.generator.plan.resolve import Resolved

Target = Literal["github", "cloudbuild"]

# What the workflows install and run, pinned: the versions tierstack's own test suite runs.
PYTHON_VERSION = "3.12"
TERRAFORM_VERSION = "1.11.4"
CHECKOV_VERSION = "3.3.30"
RUNNER = "ubuntu-24.04"
# Cloud Build step images, by digest (a tag can be moved to other content; a digest cannot). The digests are
# as public repositories pin these tags (python:3.12-slim's multi-platform index; hashicorp/terraform
# 1.11.4's): no registry is reachable from tierstack's test machines, so they are not checked against the
# registry here. Check them with `docker buildx imagetools inspect IMAGE` when you bump a version.
PYTHON_IMAGE = f"python:{PYTHON_VERSION}-slim@sha256:78387bc3881b8273120a12ebe6c1ab22b018ccc2c9adf565ae1ac9b536e184ea"
TERRAFORM_IMAGE = (
    f"hashicorp/terraform:{TERRAFORM_VERSION}@sha256:5820b87995595425074f881500a037b0ccd41158d0d9b44d78f5f120612f2d3d"
)


@dataclass(frozen=True)
class Action:
    """A GitHub action pinned to the full commit of a release tag (a tag can be moved; a commit cannot)."""

    repo: str
    commit: str
    tag: str

    @property
    def uses(self) -> str:
        return f"{self.repo}@{self.commit}"


# Read from each action's repository: the commit its release tag points at.
ACTIONS = {
    "checkout": Action("actions/checkout", "3d3c42e5aac5ba805825da76410c181273ba90b1", "v7.0.1"),
    "setup_python": Action("actions/setup-python", "5fda3b95a4ea91299a34e894583c3862153e4b97", "v7.0.0"),
    "auth": Action("google-github-actions/auth", "7c6bc770dae815cd3e89ee6cdf493a5fab2cc093", "v3.0.0"),
    "setup_terraform": Action("hashicorp/setup-terraform", "dfe3c3f87815947d99a8997f908cb6525fc44e9e", "v4.0.1"),
    "upload_artifact": Action("actions/upload-artifact", "bbbca2ddaa5d8feaa63e36b76fdaad77386f024f", "v7.0.0"),
    "download_artifact": Action("actions/download-artifact", "3e5f45b2cfb9172054b4087a40e8e0b5a5461e7c", "v8.0.1"),
    "github_script": Action("actions/github-script", "ed597411d8f924073f98dfc5c65a23a2325f34cd", "v8.0.0"),
}

# checkov checks the workflows skip on every stack: the ones tierstack's own suite skips in some scope,
# each for a documented reason (tests/checkov-baseline.yaml has the reasons and scopes; tests/test_ci.py
# keeps the two lists equal). Everything else checkov finds fails the pull request.
CHECKOV_SKIPS: tuple[tuple[str, str], ...] = (
    ("CKV_GCP_62", "bucket usage logs: production records reads and writes with data-access audit logs"),
    ("CKV_GCP_121", "BigQuery deletion protection is off outside production (production keeps it)"),
    ("CKV2_GCP_33", "a private Vertex AI endpoint needs a peered network: set variables.serving_network"),
    ("CKV_GCP_49", "pipelines need roles/dataflow.developer project-wide (Dataflow has no resource IAM)"),
    ("CKV_GCP_80", "CMEK is on request: stacks without a kms_key use Google-managed encryption"),
    ("CKV_GCP_81", "CMEK is on request (as above)"),
    ("CKV_GCP_83", "CMEK is on request (as above)"),
    ("CKV_GCP_84", "CMEK is on request (as above)"),
    ("CKV_GCP_96", "CMEK is on request (as above)"),
    ("CKV2_GCP_24", "CMEK is on request (as above)"),
    ("CKV2_GCP_26", "CMEK is on request (as above)"),
    ("CKV2_GCP_27", "CMEK is on request (as above)"),
)

# A pull request with this label may destroy or replace stateful resources (review's exit 3).
APPROVE_DESTROY_LABEL = "tierstack-approve-destroy"

HEADER_FIRST = "# Generated by `tierstack ci "  # the first line of every file tierstack ci writes
HASH_PREFIX = "# tierstack-ci-sha256: "
_HEADER_LINES = 4
_JOB_ID_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
_ACTION_RE = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+@[0-9a-f]{40}$")
_BRANCH_RE = re.compile(r"^(?!/)(?!.*//)(?!.*\.\.)[A-Za-z0-9._/-]{1,200}(?<![/.])$")


def check_branch(value: str) -> str:
    """A branch name safe inside a CEL string (the deployer's `ref`) and a GitHub expression: no quote,
    space or '$' (for `variables.ci_branch` and `--branch`)."""
    if not _BRANCH_RE.fullmatch(value):
        raise ValueError(f"'{value}' is not a branch name: letters, digits, '.', '_', '-' and '/'")
    return value


@dataclass(frozen=True)
class CiEnvironment:
    """One environment, as the CI files need it."""

    name: str
    stack: str
    role: str
    project: str
    region: str
    ci_identity: bool  # the foundation capability gives it a CI service account and workload identity pool
    ci_service_account: str  # its email (the stack's output foundation_ci_service_account), '' without one
    planner_service_account: str  # the read-only planner's (foundation_ci_planner_service_account), or ''
    ci_subject: str | None  # a custom OIDC subject (capabilities.foundation.ci.subject), else None
    freezes: tuple[str, ...]  # the change freezes that apply to it
    state_bucket: str = ""  # its Terraform state bucket, where Cloud Build keeps the plans it saves

    @property
    def production(self) -> bool:
        return self.role == "production"

    @property
    def variable(self) -> str:
        """The repository variable that holds this environment's workload identity provider."""
        return "TIERSTACK_WIF_PROVIDER_" + re.sub(r"[^A-Za-z0-9]", "_", self.name).upper()


@dataclass(frozen=True)
class CiPlan:
    """What the CI files are rendered from: paths relative to the repository's top, environments in order."""

    name: str
    tier: int
    config: str
    stacks_dir: str
    watch: tuple[str, ...]  # paths whose change runs the workflows ('' dir = the whole repository)
    branch: str
    environments: tuple[CiEnvironment, ...]
    requirement: str = ""  # what the workflows `pip install`: a pinned tierstack (see `requirement`)
    # the reason production may deploy without a required reviewer (a production_reviewers waiver), or ''
    unprotected_production: str = ""
    golden_set: str = ""  # the golden set production's promotion is checked against (golden_set:), or ''
    notes: tuple[str, ...] = field(default=())
    # Cloud Build's per-stack triggers: the local blueprint files of the chain (from the repository's top) and
    # the repository the triggers build (variables.ci_repository, OWNER/NAME), or ''
    blueprints: tuple[str, ...] = ()
    repository: str = ""
    # a fleet's plan (output/ci_fleet.py): whether any member plans and applies; None for one config
    fleet_applies: bool | None = None

    @property
    def applies(self) -> bool:
        """Plans and applies need a CI identity in every environment (tier 2's foundation makes one); a
        fleet plans and applies the members that have one."""
        if self.fleet_applies is not None:
            return self.fleet_applies
        return all(env.ci_identity for env in self.environments)


# --- what the workflows install ---------------------------------------------------------------------

_COMMIT_RE = re.compile(r"@[0-9a-f]{40}(?:#|$)")
INSTALL_HINT = (
    "pass --install (or set TIERSTACK_CI_INSTALL) with a requirement a runner can install, pinned: "
    "'tierstack==X.Y.Z' from your package index, 'tierstack @ git+https://github.com/ORG/tierstack@<40-hex "
    "commit>', or 'tierstack @ https://HOST/tierstack-X.Y.Z-py3-none-any.whl#sha256=<hash>'"
)


def requirement(value: str | None) -> str:
    """The pinned requirement the workflows install: `value` checked, else where this tierstack came from.

    A runner must install exactly the tierstack that wrote the workflow, so an unpinned requirement (a
    range, a branch, a URL without a hash) is refused: it would run whatever the name or branch points at
    that day in a job holding production credentials.
    """
    if value is None:
        return _installed_requirement()
    from packaging.requirements import InvalidRequirement, Requirement
    from packaging.utils import canonicalize_name

    try:
        parsed = Requirement(value)
    except InvalidRequirement as error:
        raise UserError(f"'{value}' is not a pip requirement: {error}", field="--install", hint=INSTALL_HINT) from None
    if canonicalize_name(parsed.name) != "tierstack":
        raise UserError(f"'{value}' installs {parsed.name}, not tierstack", field="--install", hint=INSTALL_HINT)
    if parsed.marker is not None:
        raise UserError(f"'{value}' has an environment marker", field="--install", hint=INSTALL_HINT)
    if not _pinned(parsed.url, [(spec.operator, spec.version) for spec in parsed.specifier]):
        raise UserError(
            f"'{value}' is not pinned: a runner would install whatever it points at that day",
            field="--install",
            hint=INSTALL_HINT,
        )
    return value.strip()


def _pinned(url: str | None, specifiers: list[tuple[str, str]]) -> bool:
    """A git URL at a full commit, an https archive with its sha256, or exactly one version."""
    if url:
        if url.startswith("git+"):
            return url.startswith("git+https://") and _COMMIT_RE.search(url) is not None
        return url.startswith("https://") and "#sha256=" in url
    return len(specifiers) == 1 and specifiers[0][0] in ("==", "===") and "*" not in specifiers[0][1]


def _installed_requirement() -> str:
    """The running tierstack as a requirement: its index version, VCS commit or hashed archive (PEP 610)."""
    from importlib import metadata

    try:
        distribution = metadata.distribution("tierstack")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a source tree without installing
        raise UserError("tierstack is not installed as a package here", field="--install", hint=INSTALL_HINT) from None
    direct = distribution.read_text("direct_url.json")
    if not direct:
        return f"tierstack=={distribution.version}"  # from a package index
    origin = json.loads(direct)
    url = str(origin.get("url", ""))
    vcs = origin.get("vcs_info") or {}
    archive = origin.get("archive_info") or {}
    subdirectory = f"#subdirectory={origin['subdirectory']}" if origin.get("subdirectory") else ""
    if vcs.get("vcs") == "git" and vcs.get("commit_id") and not url.startswith("file:"):
        return requirement(f"tierstack @ git+{url}@{vcs['commit_id']}{subdirectory}")
    digest = (archive.get("hashes") or {}).get("sha256")
    if digest and url.startswith("https://"):
        return requirement(f"tierstack @ {url}#sha256={digest}")
    raise UserError(
        f"this tierstack was installed from {url or 'a local folder'}, which a CI runner cannot install from",
        field="--install",
        hint=INSTALL_HINT,
    )


def repository_top(config: Path) -> Path:
    """The nearest folder above the config with a `.git`, else the config's own folder."""
    start = config.absolute().parent
    for folder in (start, *start.parents):
        if (folder / ".git").exists():
            return folder
    return start


def deploy_workflow_file(name: str) -> str:
    """The deploy workflow `tierstack ci github` writes for a config (or a fleet) named `name`."""
    return f"tierstack-{name}-deploy.yml"


def _check_deploy_workflow(name: str, ci: dict[str, Any], deploy_workflow: str | None, config: Path) -> None:
    """The deployer the stacks create trusts one workflow file (modules/foundation.py): the one that deploys."""
    own = deploy_workflow_file(name)
    trusted = ci.get("deploy_workflow") or own
    wanted = deploy_workflow or own
    if trusted == wanted:
        return
    if deploy_workflow is None:  # a config of its own
        raise UserError(
            f"the stacks' deployer trusts {trusted}, but `tierstack ci github` writes {own}: its deploys could "
            "not sign in",
            file=config,
            field="variables.ci_deploy_workflow",
            hint=f"remove variables.ci_deploy_workflow (the default is {own}), or set it to {own}",
        )
    raise UserError(
        f"member {name}'s deployer trusts {trusted}, but the fleet deploys from {wanted}: its deploys could "
        "not sign in",
        file=config,
        field="defaults.variables.ci_deploy_workflow",
        hint=f"add ci_deploy_workflow: {wanted} under the fleet's defaults.variables, then run tierstack "
        "generate on the fleet and apply: each member's deployer then trusts the fleet's deploy workflow",
    )


def check_branch_option(branch: str) -> None:
    """--branch: a branch name (see check_branch), else a UserError."""
    if not _BRANCH_RE.fullmatch(branch):
        raise UserError(f"'{branch}' is not a branch name", field="--branch", hint="give the default branch, e.g. main")


def plan_for(resolved: Resolved, config: Path, branch: str, install: str, deploy_workflow: str | None = None) -> CiPlan:
    """The CI plan of a resolved config; bad input is a UserError naming the field and the fix.

    `install` is the pinned requirement the workflows install (checked by `requirement`); `deploy_workflow`
    the deploy workflow file that will run the config's deploys (a fleet's; default the config's own).
    """
    from tierstack.generator.config import freeze as freezes
    from tierstack.generator.synth.stacks import state_bucket_name

    check_branch_option(branch)
    spec = resolved.loaded.spec
    if not resolved.environments:
        raise UserError(
            "the config resolves to no environments: there is nothing to plan or apply",
            file=config,
            field="environments",
            hint="list at least one environment (e.g. environments: {dev: {project: my-project}}) or drop "
            "the key to get the tier's",
        )
    top = repository_top(config)
    config_rel = _relative(config.absolute(), top, config)
    config_dir = PurePosixPath(config_rel).parent
    environments = []
    for env in resolved.environments.values():
        foundation = (env.settings.get("capabilities") or {}).get("foundation") or {}
        ci = foundation.get("ci") or {}
        subject = ci.get("subject") if isinstance(ci, dict) else None
        has_ci = "ci" in (foundation.get("service_accounts") or [])
        if has_ci and isinstance(ci, dict):
            _check_deploy_workflow(spec.name, ci, deploy_workflow, config)
        applying = [f.name for f in spec.freezes if freezes.applies_to(f, env.name, env.role)]
        environments.append(
            CiEnvironment(
                name=env.name,
                stack=env.stack,
                role=env.role,
                project=env.project,
                region=env.region,
                ci_identity=has_ci,
                ci_service_account=_ci_account(spec.name, env.project, str(config)) if has_ci else "",
                planner_service_account=_ci_account(spec.name, env.project, str(config), "planner") if has_ci else "",
                ci_subject=str(subject) if subject and subject != f"environment:{env.name}" else None,
                freezes=tuple(applying),
                state_bucket=state_bucket_name(resolved, env),
            )
        )
    watch = [] if str(config_dir) == "." else [f"{config_dir}/**"]
    blueprints = _local_blueprints(resolved.blueprint.chain, top)
    for blueprint in blueprints if watch else ():  # a config at the top: the whole repository is watched
        if not any(PurePosixPath(blueprint).is_relative_to(PurePosixPath(w.removesuffix("/**"))) for w in watch):
            watch.append(blueprint)
    plan = CiPlan(
        name=spec.name,
        tier=resolved.selection.tier,
        config=config_rel,
        stacks_dir=str(config_dir / DEFAULT_OUT / "stacks"),
        watch=tuple(watch),
        branch=branch,
        environments=tuple(environments),
        requirement=install,
        golden_set=spec.golden_set.name if spec.golden_set is not None else "",
        blueprints=tuple(blueprints),
        repository=spec.variables.ci_repository or "",
        unprotected_production=next(
            (
                w.reason
                for w in spec.waivers
                if w.guarantee == "production_reviewers"
                and any(env.production and env.name in (w.environments or [env.name]) for env in environments)
            ),
            "",
        ),
    )
    notes = []
    if not plan.applies:
        lacking = ", ".join(env.name for env in plan.environments if not env.ci_identity)
        notes.append(
            f"tier {plan.tier} has no CI identity ({lacking}): wrote the pull-request checks only (generate "
            "--check, checkov, terraform validate). Plans and applies sign in as the CI service account "
            "through the workload identity pool that tier 2's foundation creates: set tier: 2 (or add "
            "'ci' to capabilities.foundation.service_accounts) and run this again."
        )
    trusted = {
        str(((env.settings.get("capabilities") or {}).get("foundation") or {}).get("ci", {}).get("branch") or "main")
        for env in resolved.environments.values()
        if any(e.name == env.name and e.ci_identity for e in plan.environments)
    }
    if trusted and trusted != {branch}:
        notes.append(
            f"the deploy workflow runs on '{branch}' (--branch), but the stacks' deployer trusts only "
            f"{', '.join(sorted(trusted))} (variables.ci_branch): sign-in would fail; make the two agree"
        )
    for each in plan.environments:
        if each.ci_subject:
            notes.append(
                f"environment '{each.name}' sets capabilities.foundation.ci.subject ('{each.ci_subject}'), which "
                "no longer decides who may deploy: the provider trusts the repository's ids, and the deployer "
                "only the deploy workflow on the default branch (variables.ci_branch); remove the setting"
            )
            break
    return dataclasses.replace(plan, notes=tuple(notes))


def _ci_account(name: str, project: str, source: str, role: str = "ci") -> str:
    """A CI service account's email (the deployer 'ci', or the 'planner'), as modules/foundation.py names it."""
    from tierstack.generator.core import naming

    return f"{naming.account_id(name, role, source)}@{project}.iam.gserviceaccount.com"


def _relative(path: Path, top: Path, config: Path) -> str:
    try:
        return path.relative_to(top).as_posix()
    except ValueError:  # pragma: no cover - top is an ancestor of the config by construction
        raise UserError("the config is not inside the repository", file=config) from None


def _local_blueprints(chain: Sequence[str], top: Path) -> list[str]:
    """The blueprint files of the chain that live in the repository (a fork's), relative to its top."""
    builtin = Path(str(resources.files("tierstack.blueprints"))).resolve()
    out = []
    for entry in chain:
        path = Path(entry)
        if not path.is_file():
            continue
        resolved = path.resolve()
        if resolved.is_relative_to(builtin) or not resolved.is_relative_to(top.resolve()):
            continue
        out.append(resolved.relative_to(top.resolve()).as_posix())
    return out


# --- rendering -----------------------------------------------------------------------------------


class Rendered(str):
    """Text a filter made safe for where the template puts it; the only str a template may print."""

    __slots__ = ()


def _quote(target: Target) -> Callable[[Any], Rendered]:
    """A YAML double-quoted scalar (JSON's string syntax, which YAML reads the same way)."""

    def quote(value: Any) -> Rendered:
        if not isinstance(value, (str, int)) or isinstance(value, bool):
            raise TypeError(f"cannot quote {type(value).__name__} {value!r}")
        text = str(value)
        if target == "github" and "${{" in text:
            raise UserError(
                f"'{text}' contains '${{{{', which GitHub would evaluate as an expression",
                hint="rename the path or name so it has no '${{'",
            )
        if target == "cloudbuild":
            text = text.replace("$", "$$")  # Cloud Build substitutes $NAME and ${NAME}; $$ is a literal $
        return Rendered(json.dumps(text, ensure_ascii=True))

    return quote


def _ident(value: Any) -> Rendered:
    """A job id or a name used as a key: checked, printed as is."""
    text = str(value)
    if not _JOB_ID_RE.fullmatch(text):
        raise ValueError(f"{text!r} cannot be a key here")
    return Rendered(text)


def _action(value: Any) -> Rendered:
    """owner/repo@commit: an action pinned to a full commit."""
    text = str(value)
    if not _ACTION_RE.fullmatch(text):
        raise ValueError(f"{text!r} is not an action pinned to a commit")
    return Rendered(text)


def _branch(value: Any) -> Rendered:
    """A branch name, checked (no quote, space or '$'), for a string inside an expression."""
    text = str(value)
    if not _BRANCH_RE.fullmatch(text):
        raise ValueError(f"{text!r} is not a branch name")
    return Rendered(text)


def _block(value: Any) -> Rendered:
    """A macro's output (the templates' own text, its values already filtered), without its last newline."""
    return Rendered(str(value).rstrip("\n"))


def _comment(value: Any) -> Rendered:
    """Text for a `#` comment: one line."""
    return Rendered(" ".join(str(value).split()))


def _script(value: Any, width: int) -> Rendered:
    """A constant script of the package (templates/ci/*.js), indented for a YAML block scalar."""
    pad = " " * width
    return Rendered("\n".join(pad + line if line else "" for line in str(value).rstrip("\n").split("\n")))


def _scripts() -> dict[str, str]:
    """The github-script bodies, by name: JavaScript files of their own, so tests run them as they are."""
    folder = resources.files("tierstack.generator").joinpath("templates").joinpath("ci")
    return {
        item.name.removesuffix(".js"): item.read_text(encoding="utf-8")
        for item in folder.iterdir()
        if item.name.endswith(".js")
    }


def _finalize(value: Any) -> Any:
    """What `<< >>` prints: a filtered string or a number; a raw value is a template bug."""
    if isinstance(value, Rendered) or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    raise TypeError(f"a template printed {value!r} without a filter (q, ident or comment)")


def _environment(target: Target) -> Any:
    from jinja2 import DictLoader, StrictUndefined
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    folder = resources.files("tierstack.generator").joinpath("templates").joinpath("ci")
    templates = {item.name: item.read_text(encoding="utf-8") for item in folder.iterdir() if item.name.endswith(".j2")}
    env = ImmutableSandboxedEnvironment(
        loader=DictLoader(templates),
        undefined=StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        # ${{ }} belongs to GitHub: the templates use << >> and <% %>
        variable_start_string="<<",
        variable_end_string=">>",
        block_start_string="<%",
        block_end_string="%>",
        comment_start_string="<#",
        comment_end_string="#>",
        finalize=_finalize,
    )
    env.filters["q"] = _quote(target)
    env.filters["ident"] = _ident
    env.filters["comment"] = _comment
    env.filters["action"] = _action
    env.filters["block"] = _block
    env.filters["branch"] = _branch
    env.filters["script"] = _script
    return env


DEFAULT_MAX_PARALLEL = 8  # the plan jobs of one environment at once: each holds a runner and reads state
MAX_MATRIX_JOBS = 256  # GitHub's limit of jobs a matrix


def check_max_parallel(value: int) -> int:
    """--max-parallel: a positive integer (GitHub runs at most 256 jobs of a matrix, so more changes nothing)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise UserError(
            f"'{value}' is not a number of jobs: give a positive integer",
            field="--max-parallel",
            hint=f"e.g. --max-parallel {DEFAULT_MAX_PARALLEL} (the default); GitHub runs at most "
            f"{MAX_MATRIX_JOBS} jobs of one matrix",
        )
    return value


def _context(plan: CiPlan, command: str) -> dict[str, Any]:
    return {
        "command": command,
        "max_parallel": DEFAULT_MAX_PARALLEL,
        "fleet": None,
        "version": __version__,
        "requirement": plan.requirement,
        "plan": plan,
        "environments": plan.environments,
        "actions": ACTIONS,
        "python_version": PYTHON_VERSION,
        "terraform_version": TERRAFORM_VERSION,
        "checkov_version": CHECKOV_VERSION,
        "checkov_skips": CHECKOV_SKIPS,
        "checkov_skip_ids": ",".join(check for check, _ in CHECKOV_SKIPS),
        "runner": RUNNER,
        "python_image": PYTHON_IMAGE,
        "terraform_image": TERRAFORM_IMAGE,
        "marker": f"<!-- tierstack-review:{plan.name} -->",
        "approve_label": APPROVE_DESTROY_LABEL,
        "destructive": EXIT_DESTRUCTIVE_CHANGE,  # the exit codes of `tierstack review` the workflows act on
        "frozen": EXIT_FROZEN,
        "plan_changed": EXIT_PLAN_CHANGED,
        "not_promotable": EXIT_NOT_PROMOTABLE,  # `tierstack golden-set check`'s refusal
        "env_names": " ".join(env.name for env in plan.environments),
        "validate_envs": " ".join(env.name for env in plan.environments if not env.ci_identity),
        "scripts": _scripts(),
        "pr_workflow": f"tierstack-{plan.name}-pr.yml",
    }


def render(
    plan: CiPlan, target: Target, max_parallel: int = DEFAULT_MAX_PARALLEL, fleet: dict[str, Any] | None = None
) -> dict[str, str]:
    """File name -> content, each with tierstack's header; in the order they are listed to the user.

    `fleet` (output/ci_fleet.py's fleet_context): one pull-request and one deploy workflow for every member."""
    env = _environment(target)
    files: dict[str, str] = {}
    jobs: list[tuple[str, str, dict[str, Any]]]
    common = {"max_parallel": check_max_parallel(max_parallel), "fleet": fleet}
    if target == "github":
        jobs = [(f"tierstack-{plan.name}-pr.yml", "github-pr.yml.j2", common)]
        if plan.applies:
            deploy = "github-fleet-deploy.yml.j2" if fleet else "github-deploy.yml.j2"
            jobs.append((deploy_workflow_file(plan.name), deploy, common))
    else:
        jobs = [(f"{plan.name}-pr.yaml", "cloudbuild-pr.yaml.j2", {})]
        if plan.applies:
            for index, environment in enumerate(plan.environments):
                following = plan.environments[index + 1] if index + 1 < len(plan.environments) else None
                previous = plan.environments[index - 1] if index else None
                extra = {"env": environment, "next": following, "previous": previous, "position": index + 1}
                jobs.append((f"{plan.name}-pr-{environment.name}.yaml", "cloudbuild-pr-stack.yaml.j2", extra))
                jobs.append((f"{plan.name}-deploy-{environment.name}.yaml", "cloudbuild-deploy.yaml.j2", extra))
                if environment.production:  # applies only the saved plan an approver approved
                    jobs.append((f"{plan.name}-apply-{environment.name}.yaml", "cloudbuild-apply.yaml.j2", extra))
            for index, environment in enumerate(plan.environments):  # each project's triggers, one build a stack
                extra = {"env": environment, "first": index == 0}
                jobs.append((f"{plan.name}-triggers-{environment.name}.yaml", "cloudbuild-triggers.yaml.j2", extra))
    for name, template, extra in jobs:
        context = {**_context(plan, target), **extra}
        body = env.get_template(template).render(**context, file_name=name)
        files[name] = _with_header(body, target, plan.config)
    return files


def _with_header(body: str, target: Target, config: str) -> str:
    digest = hashlib.sha256(body.encode("utf-8")).hexdigest()
    command = f"tierstack ci {target} {config}"
    header = (
        f"{HEADER_FIRST}{target}` (tierstack {__version__}) from {_comment(config)}.\n"
        f"# Do not edit: change the config and run `{_comment(command)}` again. tierstack replaces a file it\n"
        "# wrote (with --force, one edited by hand) and never a file it did not write.\n"
        f"{HASH_PREFIX}{digest}\n"
    )
    assert header.count("\n") == _HEADER_LINES
    return header + body


# --- writing -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Written:
    path: Path
    status: Literal["created", "updated", "unchanged"]


def ownership(text: str) -> Literal["ours", "edited", "foreign"]:
    """Whether tierstack wrote this file as it is ('ours'), wrote it and it was edited, or did not write it."""
    lines = text.split("\n", _HEADER_LINES)
    if len(lines) <= _HEADER_LINES or not lines[0].startswith(HEADER_FIRST):
        return "foreign"
    if not lines[_HEADER_LINES - 1].startswith(HASH_PREFIX):
        return "edited"  # our first line, but the header was changed
    digest = lines[_HEADER_LINES - 1].removeprefix(HASH_PREFIX).strip()
    return "ours" if hashlib.sha256(lines[-1].encode("utf-8")).hexdigest() == digest else "edited"


MAX_CI_FILE_BYTES = 1024 * 1024  # the CI files tierstack writes are a few KiB each


def write(files: dict[str, str], out: Path, force: bool, command: str) -> list[Written]:
    """Write every file into `out` atomically, after checking them all: nothing is written if one is refused."""
    if out.exists() and not out.is_dir():
        raise UserError("is not a directory", file=out, field="--out", hint="give a directory for the CI files")
    plan: list[tuple[Path, str, Literal["created", "updated", "unchanged"]]] = []
    foreign, edited = [], []
    for name, text in files.items():
        path = out / name
        if path.is_symlink() or (path.exists() and not path.is_file()):
            foreign.append(path)
            continue
        try:  # bounded: a sparse 4 GB file there is not tierstack's either
            current = fsio.read_text(path, "CI file", MAX_CI_FILE_BYTES)
        except fsio.Unreadable as err:
            if err.reason != "not found":
                raise
            plan.append((path, text, "created"))
            continue
        except UserError:  # too large, not UTF-8: not written by tierstack
            foreign.append(path)
            continue
        owner = ownership(current)
        if owner == "foreign":
            foreign.append(path)
        elif owner == "edited" and not force:
            edited.append(path)
        else:
            plan.append((path, text, "unchanged" if current == text else "updated"))
    if foreign:
        names = ", ".join(str(p) for p in foreign)
        raise UserError(
            f"{names}: not written by tierstack (no `{HEADER_FIRST.removeprefix('# ')}...` header); "
            "tierstack never replaces such a file, not even with --force",
            field="--out",
            hint=f"move or rename it, or write elsewhere with `{command} --out DIR`",
        )
    if edited:
        names = ", ".join(str(p) for p in edited)
        raise UserError(
            f"{names}: edited by hand since tierstack wrote {'it' if len(edited) == 1 else 'them'}",
            hint="keep your changes elsewhere, or replace the file with --force",
        )
    for path, text, status in plan:
        if status != "unchanged":
            write_atomic(path, text)
    return [Written(path, status) for path, _, status in plan]


def default_out(config: Path, target: Target) -> Path:
    top = repository_top(config)
    folder = top / (".github/workflows" if target == "github" else "cloudbuild")
    return Path(display_path(folder))
