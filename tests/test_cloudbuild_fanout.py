"""Cloud Build fans out per stack: one pull-request build per stack, started by its own trigger only when a
change touches that stack, and every file judged by what Google wrote.

- Every build config is parsed into the Cloud Build API's own `Build` message (google-cloud-build's proto-plus
  types; an unknown field is an error), and every trigger into `BuildTrigger`, as `gcloud builds triggers
  import` reads them. Then Cloud Build's documented limits: at most 100 steps a build (gcloud refuses more),
  a `waitFor` names only steps defined before it (or '-', the start of the build).
- Which triggers a change starts is judged by git's own glob pathspecs (`*` within a directory, `**` across:
  the semantics Cloud Build documents for includedFiles, Go's filepath.Match with `**`) on a real repository,
  and cross-checked with `changed_stacks` (`tierstack diff --committed --changed-stacks`).
- The identities: every pull-request trigger runs as its environment's planner, never a deployer; the
  deploy and apply triggers as the deployer, production's behind approval. A triggered build runs as its
  trigger's account (the build config's `serviceAccount` does not decide it), so the triggers are where this
  is bound, and what is checked.
"""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import warnings
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from conftest import REPO, git, skip_or_fail
from tierstack.generator.config.spec import load_spec
from tierstack.generator.output import ci
from tierstack.generator.plan.resolve import resolve
from tierstack.generator.services.changed_stacks import changed_stacks

FRAUD = REPO / "examples" / "fraud-detection" / "tierstack.yaml"  # tier 2: dev, staging, prod
CONFIGS = [
    FRAUD,
    REPO / "examples" / "recommender" / "tierstack.yaml",  # tier 1: the checks only
    REPO / "examples" / "churn-emea" / "tierstack.yaml",
    REPO / "examples" / "research-prototype" / "tierstack.yaml",
    REPO / "tests" / "golden_set" / "tierstack.yaml",  # tier 2, production gated by a golden set
]
PINNED = "tierstack @ git+https://github.com/example-org/tierstack@" + "0123456789abcdef" * 2 + "01234567"
MAX_STEPS = 100  # Cloud Build refuses a build of more steps (gcloud: before it is created)
MAX_SCRIPT = 10_000  # characters: Cloud Build's limit on one argument of a step ("arg 1 too long (max: 10000)")


def cloudbuild() -> Any:
    """google-cloud-build's types (the API's protos); its import warns about Python versions."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            from google.cloud.devtools import cloudbuild_v1
        except ImportError:
            skip_or_fail("google-cloud-build is a dev dependency (PyPI: google-cloud-build): pip install -e '.[dev]'")
    return cloudbuild_v1


def render(config: Path, branch: str = "main") -> dict[str, str]:
    return ci.render(ci.plan_for(resolve(load_spec(config)), config, branch, PINNED), "cloudbuild")


def documents(text: str) -> list[dict[str, Any]]:
    return [doc for doc in YAML(typ="safe", pure=True).load_all(io.StringIO(text)) if doc is not None]


def builds(files: dict[str, str]) -> dict[str, dict[str, Any]]:
    return {name: documents(text)[0] for name, text in files.items() if "-triggers-" not in name}


def triggers(files: dict[str, str]) -> dict[str, tuple[str, dict[str, Any]]]:
    """Trigger name -> (its file, the trigger), over every environment's trigger file."""
    out = {}
    for name, text in files.items():
        if "-triggers-" in name:
            for doc in documents(text):
                assert doc["name"] not in out, f"two triggers named {doc['name']}"
                out[doc["name"]] = (name, doc)
    return out


def as_build_trigger(doc: dict[str, Any]) -> Any:
    """The trigger as the API's BuildTrigger. google-cloud-build's BuildTrigger gained `approval_config`
    only in 3.42, which needs protobuf 6 (the provider stand-in's `tf` pins protobuf 5): the field is
    checked against the API's own ApprovalConfig message, the rest against BuildTrigger."""
    api = cloudbuild()
    rest = dict(doc)
    approval = rest.pop("approvalConfig", None)
    if approval is not None:
        api.ApprovalConfig.from_json(json.dumps(approval))
    return api.BuildTrigger.from_json(json.dumps(rest))


@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: p.parent.name)
def test_every_build_is_a_cloud_build_api_build_within_the_limits(config: Path) -> None:
    api = cloudbuild()
    for name, data in builds(render(config)).items():
        build = api.Build.from_json(json.dumps(data))  # an unknown field (or a misspelt one) is an error
        assert 0 < len(build.steps) <= MAX_STEPS, name
        seen: set[str] = set()
        for step in build.steps:
            assert step.id and step.id not in seen, f"{name}: step id {step.id!r} missing or twice"
            for needed in step.wait_for:
                assert needed == "-" or needed in seen, f"{name}: {step.id} waits for {needed!r}, not defined before"
            seen.add(step.id)
            assert len(step.script) < MAX_SCRIPT, f"{name}: {step.id}'s script"


def test_the_judges_judge() -> None:
    """A misspelt field fails to parse, in a build and in a trigger."""
    api = cloudbuild()
    files = render(FRAUD)
    broken = documents(files["fraud-detection-pr-prod.yaml"])[0]
    broken["steps"][1]["waitfor"] = broken["steps"][1].pop("waitFor")
    with pytest.raises(Exception, match="waitfor"):
        api.Build.from_json(json.dumps(broken))
    trigger = documents(files["fraud-detection-triggers-prod.yaml"])[0]
    trigger["includedfiles"] = trigger.pop("includedFiles")
    with pytest.raises(Exception, match="includedfiles"):
        as_build_trigger(trigger)
    with pytest.raises(Exception, match="approvalrequired"):
        as_build_trigger({**trigger, "approvalConfig": {"approvalrequired": True}})


@pytest.mark.parametrize(
    "config", [FRAUD, REPO / "tests" / "golden_set" / "tierstack.yaml"], ids=lambda p: p.parent.name
)
def test_every_trigger_is_a_build_trigger_of_a_file_written_beside_it(config: Path) -> None:
    files = render(config)
    found = triggers(files)
    assert found
    for name, (_, doc) in found.items():
        trigger = as_build_trigger(doc)
        path = trigger.filename or trigger.git_file_source.path
        assert path.startswith("cloudbuild/") and path.removeprefix("cloudbuild/") in files, (name, path)
        assert bool(trigger.github.owner) != bool(trigger.source_to_build.uri), name  # an event, or manual


def test_pull_requests_fan_out_one_build_per_stack_and_never_as_a_deployer() -> None:
    plan = ci.plan_for(resolve(load_spec(FRAUD)), FRAUD, "main", PINNED)
    files = render(FRAUD)
    found = triggers(files)
    built = builds(files)
    check = built["fraud-detection-pr.yaml"]  # the whole config's checks: no plan, no account of a project
    assert [s["id"] for s in check["steps"]] == ["install", "generate-check", "checkov"]
    assert found["tierstack-fraud-detection-check"][1]["includedFiles"] == ["examples/fraud-detection/**"]
    for env in plan.environments:
        planner = f"projects/{env.project}/serviceAccounts/{env.planner_service_account}"
        deployer = f"projects/{env.project}/serviceAccounts/{env.ci_service_account}"
        source, pr = found[f"tierstack-{env.stack}-plan"]
        assert source == f"fraud-detection-triggers-{env.name}.yaml"  # imported into the stack's own project
        assert pr["serviceAccount"] == planner and "-planner@" in planner
        assert pr["github"]["pullRequest"] == {
            "branch": "^main$",
            "commentControl": "COMMENTS_ENABLED_FOR_EXTERNAL_CONTRIBUTORS_ONLY",  # a fork's waits for /gcbrun
        }
        assert pr["filename"] == f"cloudbuild/fraud-detection-pr-{env.name}.yaml"
        stack_build = built[f"fraud-detection-pr-{env.name}.yaml"]
        assert "serviceAccount" not in stack_build  # the trigger's account is the one it runs as
        steps = {s["id"]: s for s in stack_build["steps"]}
        assert list(steps) == ["install", f"plan-{env.name}", "review"]
        assert steps[f"plan-{env.name}"]["waitFor"] == ["-"]  # the plan starts with the build, beside the install
        assert steps["review"]["waitFor"] == ["install", f"plan-{env.name}"]
        assert "-lock=false" in steps[f"plan-{env.name}"]["script"]  # the planner cannot write the state bucket
        assert f"STACK_DIR={plan.stacks_dir}/{env.stack}" in steps["review"]["env"]
        _, deploy = found[f"tierstack-{env.stack}"]
        assert deploy["serviceAccount"] == deployer
        assert ("approvalConfig" in deploy) == env.production
    projects = {f"fraud-detection-triggers-{env.name}.yaml": env.project for env in plan.environments}
    for name, (source, doc) in found.items():
        if doc.get("github", {}).get("pullRequest"):
            assert "-planner@" in doc["serviceAccount"] and "-ci@" not in doc["serviceAccount"], name
        project = projects[source]  # no trigger runs as an account of another environment's project
        assert doc["serviceAccount"].startswith(f"projects/{project}/serviceAccounts/"), name
        assert doc["serviceAccount"].endswith(f"@{project}.iam.gserviceaccount.com"), name
    first = found["tierstack-fraud-detection-dev"][1]  # a push starts the promotion; the rest are run by people
    assert first["github"]["push"] == {"branch": "^main$"} and first["includedFiles"] == ["examples/fraud-detection/**"]
    for stack in ("fraud-detection-staging", "fraud-detection-prod", "fraud-detection-prod-apply"):
        doc = found[f"tierstack-{stack}"][1]
        assert "github" not in doc and doc["sourceToBuild"]["ref"] == "refs/heads/main", stack
        assert doc["gitFileSource"]["revision"] == "refs/heads/main"  # the build config of the default branch
    assert found["tierstack-fraud-detection-prod-apply"][1]["approvalConfig"] == {"approvalRequired": True}
    assert set(found) == {
        "tierstack-fraud-detection-check",
        *(f"tierstack-{e.stack}{suffix}" for e in plan.environments for suffix in ("-plan", "")),
        "tierstack-fraud-detection-prod-apply",
    }


def test_a_blueprint_beside_the_config_is_in_every_stack_trigger(tmp_path: Path) -> None:
    """A fork blueprint of tier 2 beside the config: its change plans every stack of the config."""
    folder = tmp_path / "teams" / "fraud"
    folder.mkdir(parents=True)
    (tmp_path / ".git").mkdir()
    (folder / "acme.yaml.j2").write_text(
        "extends: level-2-cicd\ntier: 2\ndescription: ACME's tier 2.\ndefaults:\n  labels:\n    business-unit: emea\n"
    )
    text = FRAUD.read_text().replace("region: europe-west4\n", "region: europe-west4\nblueprint: ./acme.yaml.j2\n", 1)
    assert "blueprint: ./acme.yaml.j2" in text
    (folder / "tierstack.yaml").write_text(text)
    found = triggers(render(folder / "tierstack.yaml"))
    for env in ("dev", "staging", "prod"):
        assert found[f"tierstack-fraud-detection-{env}-plan"][1]["includedFiles"] == [
            "teams/fraud/tierstack.yaml",
            "teams/fraud/acme.yaml.j2",
            f"teams/fraud/cdktf.out/stacks/fraud-detection-{env}/cdk.tf.json",
            f"teams/fraud/cdktf.out/stacks/fraud-detection-{env}/.terraform.lock.hcl",
        ]


# --- which triggers a change starts, judged by git's globs on a real repository ---------------------------


def fired(repo: Path, base: str, head: str, found: dict[str, tuple[str, dict[str, Any]]]) -> set[str]:
    """The pull-request triggers whose includedFiles match a file the change touches (git's glob pathspecs;
    a trigger without includedFiles fires on any change)."""
    out = set()
    for name, (_, doc) in found.items():
        if not doc.get("github", {}).get("pullRequest"):
            continue
        patterns = [f":(glob){p}" for p in doc.get("includedFiles", [])]
        changed = git(repo, "diff", "--name-only", base, head, "--", *patterns).split()
        if changed:
            out.add(name)
    return out


def commit(repo: Path, message: str) -> str:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD").strip()


def test_a_change_starts_the_builds_of_the_stacks_it_touches_and_no_other(tmp_path: Path, spawns: None) -> None:
    repo = tmp_path / "repo"
    folder = repo / "examples" / "fraud-detection"
    shutil.copytree(
        FRAUD.parent, folder, ignore=shutil.ignore_patterns(".terraform", "*.tfplan*", "terraform.tfstate*")
    )
    (repo / "README.md").write_text("the platform team's repository\n")
    git(repo, "init", "-q", "-b", "main")
    base = commit(repo, "base")
    found = triggers(render(folder / "tierstack.yaml"))
    config = "examples/fraud-detection/tierstack.yaml"
    stacks = folder / "cdktf.out" / "stacks"

    prod = stacks / "fraud-detection-prod" / "cdk.tf.json"
    data = json.loads(prod.read_text())
    data.setdefault("locals", {})["touched"] = "prod only"
    prod.write_text(json.dumps(data, indent=2))
    only_prod = commit(repo, "prod's output changes")
    assert fired(repo, base, only_prod, found) == {
        "tierstack-fraud-detection-check",
        "tierstack-fraud-detection-prod-plan",
    }
    scope = changed_stacks(repo, base, only_prod, config)  # what `diff --changed-stacks` plans: the same stack
    assert [s.stack for s in scope.planned] == ["fraud-detection-prod"]

    (stacks / "fraud-detection-dev" / "README.md").write_text("a page for people\n")
    page = commit(repo, "a stack's page only")
    assert fired(repo, only_prod, page, found) == {"tierstack-fraud-detection-check"}  # checked, not planned
    assert not changed_stacks(repo, only_prod, page, config).planned

    (repo / "README.md").write_text("another team's change\n")
    elsewhere = commit(repo, "outside the config")
    assert fired(repo, page, elsewhere, found) == set()

    (folder / "tierstack.yaml").write_text((folder / "tierstack.yaml").read_text() + "# a comment\n")
    whole = commit(repo, "the config")
    assert fired(repo, elsewhere, whole, found) == {
        "tierstack-fraud-detection-check",
        "tierstack-fraud-detection-dev-plan",
        "tierstack-fraud-detection-staging-plan",
        "tierstack-fraud-detection-prod-plan",
    }


def test_the_deploy_push_trigger_watches_the_whole_config(tmp_path: Path, spawns: None) -> None:
    """A push that changes any of the config's files starts the promotion at its first environment."""
    repo = tmp_path / "repo"
    folder = repo / "svc"
    folder.mkdir(parents=True)
    shutil.copy(FRAUD, folder / "tierstack.yaml")
    (repo / "other.txt").write_text("x\n")
    git(repo, "init", "-q", "-b", "main")
    base = commit(repo, "base")
    push = triggers(render(folder / "tierstack.yaml"))["tierstack-fraud-detection-dev"][1]
    assert push["includedFiles"] == ["svc/**"]
    (folder / "cdktf.out" / "stacks" / "fraud-detection-staging").mkdir(parents=True)
    (folder / "cdktf.out" / "stacks" / "fraud-detection-staging" / "cdk.tf.json").write_text("{}\n")
    head = commit(repo, "staging's output")
    assert git(repo, "diff", "--name-only", base, head, "--", ":(glob)svc/**").split()
    (repo / "other.txt").write_text("y\n")
    other = commit(repo, "elsewhere")
    assert not git(repo, "diff", "--name-only", head, other, "--", ":(glob)svc/**").split()


def test_triggers_are_written_only_where_a_ci_identity_exists() -> None:
    for config in CONFIGS:
        files = render(config)
        plan = ci.plan_for(resolve(load_spec(config)), config, "main", PINNED)
        assert any("-triggers-" in name for name in files) == plan.applies, config
        if plan.applies:
            assert [n for n in files if "-triggers-" in n] == [
                f"{plan.name}-triggers-{env.name}.yaml" for env in plan.environments
            ]


def test_the_triggers_follow_the_branch() -> None:
    found = triggers(render(FRAUD, branch="trunk"))
    assert found["tierstack-fraud-detection-prod-plan"][1]["github"]["pullRequest"]["branch"] == "^trunk$"
    assert found["tierstack-fraud-detection-dev"][1]["github"]["push"]["branch"] == "^trunk$"
    assert found["tierstack-fraud-detection-prod"][1]["sourceToBuild"]["ref"] == "refs/heads/trunk"


def test_git_agrees_with_cloud_builds_glob_semantics(tmp_path: Path, spawns: None) -> None:
    """The judge judged: `*` does not cross a directory and `**` does, as Cloud Build documents."""
    repo = tmp_path / "g"
    (repo / "a" / "b").mkdir(parents=True)
    (repo / "a" / "b" / "c.json").write_text("{}\n")
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    listed = subprocess.run(
        ["git", "-C", str(repo), "ls-files", "--", ":(glob)a/*.json", ":(glob)a/**/c.json"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert listed == ["a/b/c.json"]  # from the ** pattern only
    only_star = git(repo, "ls-files", "--", ":(glob)a/*.json").split()
    assert only_star == []
