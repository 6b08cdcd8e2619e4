"""`tierstack fork`: an overlay that extends a pinned upstream and holds only the overrides, commented."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from test_upstream import CONFIG, Repo, git, pinned_resolve

from conftest import REPO, run
from tierstack.generator.config.lockfile import LOCK_NAME, read_lock
from tierstack.generator.services.fork import MARK, is_ours


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "cache"
    monkeypatch.setenv("TIERSTACK_CACHE", str(path))
    return path


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cache: Path) -> Path:
    folder = tmp_path / "team"
    folder.mkdir()
    monkeypatch.chdir(folder)
    return folder


@pytest.fixture
def org(tmp_path: Path, cache: Path) -> Repo:
    repo = Repo(tmp_path / "platform" / "org")
    repo.org()
    repo.tag("v1.0.0")
    repo.org(org="acme", days=60)
    repo.tag("v1.1.0")
    return repo


LEVEL_0 = REPO / "blueprints" / "level-0-manual.yaml.j2"
LEVEL_1 = REPO / "blueprints" / "level-1-pipeline-automation.yaml.j2"


def line_of(blueprint: Path, text: str, after: str = "") -> int:
    """The 1-based line of the blueprint that holds `text` (the first after a line holding `after`)."""
    lines = blueprint.read_text(encoding="utf-8").splitlines()
    start = next(n for n, line in enumerate(lines) if after in line) if after else 0
    return next(n + 1 for n, line in enumerate(lines) if n >= start and text in line)


def test_fork_of_a_built_in_writes_only_the_overrides_each_commented(here: Path) -> None:
    result = run(
        "fork",
        "level-1-pipeline-automation",
        "--name",
        "acme-emea",
        "--region",
        "europe-west4",
        "--set",
        "labels.data-residency=eu",
        "--set",
        "roles.production.capabilities.model_serving.min_replicas=3",
        "--set",
        "roles.production.capabilities.model_serving.max_replicas=6",
        "--set",
        "capabilities.foundation.apis+=[cloudkms.googleapis.com]",
    )
    assert result.exit_code == 0, result.output
    assert "wrote acme-emea.yaml.j2: 4 overrides of tierstack:level-1-pipeline-automation" in result.output
    text = (here / "acme-emea.yaml.j2").read_text(encoding="utf-8")
    assert text.splitlines()[1].startswith(f"{MARK} acme-emea ")  # after the schema line
    assert text.split("\n", 5)[5] == textwrap.dedent(
        """\
        extends: level-1-pipeline-automation
        tier: 1
        description: 'acme-emea: a fork of tierstack:level-1-pipeline-automation for europe-west4'
        region: europe-west4  # new: the upstream sets no region (its configs default to us-central1)
        allowed_regions: [europe-west4]  # new: the upstream allows every region
        defaults:
          labels:
            data-residency: eu  # new: the upstream does not set it
          capabilities:
            foundation:
              apis+: [cloudkms.googleapis.com]  # appends to {APIS}
        roles:
          production:
            capabilities:
              model_serving:
                min_replicas: 3  # replaces 2 (tierstack:level-0-manual:{MIN})
                max_replicas: 6  # replaces 4 (tierstack:level-0-manual:{MAX})
        """
    ).replace(
        "{APIS}",
        '["aiplatform.googleapis.com", "artifactregistry… '
        f"(tierstack:level-0-manual:{line_of(LEVEL_0, 'apis:')} + "
        f"tierstack:level-1-pipeline-automation:{line_of(LEVEL_1, 'apis+:')})",
    ).replace("{MIN}", str(line_of(LEVEL_0, "min_replicas: 2", after="production:"))).replace(
        "{MAX}", str(line_of(LEVEL_0, "max_replicas: 4", after="production:"))
    )
    assert is_ours(here / "acme-emea.yaml.j2")


def test_a_fork_is_a_blueprint_a_config_uses(here: Path) -> None:
    assert run("fork", "level-1-pipeline-automation", "--name", "acme-emea", "--set", "labels.unit=emea").exit_code == 0
    (here / "tierstack.yaml").write_text(
        CONFIG.split("blueprint:")[0] + "region: europe-west4\nblueprint: ./acme-emea.yaml.j2\n", encoding="utf-8"
    )
    result = run("show", "--resolved", "--provenance")
    assert result.exit_code == 0, result.output
    assert "environments.prod.labels.unit" in result.output and "acme-emea.yaml.j2:" in result.output


def test_fork_of_a_git_upstream_pins_the_newest_tag_and_finds_the_blueprint(
    here: Path, org: Repo, spawns: None
) -> None:
    result = run("fork", "../platform/org", "--name", "propensity-uk", "--set", "labels.org=acme-uk")
    assert result.exit_code == 0, result.output
    commit = git("rev-parse", "v1.1.0^{commit}", cwd=org.path)
    assert f"of ../platform/org blueprints/org.yaml.j2 at v1.1.0 (commit {commit[:12]})" in result.output
    text = (here / "propensity-uk.yaml.j2").read_text(encoding="utf-8")
    assert (
        f"extends:\n  git: ../platform/org\n  ref: v1.1.0  # commit {commit[:12]}\n  path: blueprints/org.yaml.j2\n"
    ) in text
    assert '    org: acme-uk  # replaces "acme" (blueprints/org.yaml.j2:6 @ v1.1.0)\n' in text
    (here / "tierstack.yaml").write_text(
        CONFIG.split("blueprint:")[0] + "blueprint: ./propensity-uk.yaml.j2\n", encoding="utf-8"
    )
    plan, _ = pinned_resolve(here / "tierstack.yaml")
    assert plan.environments["dev"].settings["labels"]["org"] == "acme-uk"  # type: ignore[attr-defined]
    assert read_lock(here / LOCK_NAME)[("../platform/org", "blueprints/org.yaml.j2")].commit == commit


def test_fork_writes_a_path_upstream_relative_to_the_fork(here: Path) -> None:
    (here / "base").mkdir()
    (here / "base" / "org.yaml.j2").write_text("extends: level-0-manual\ntier: 0\ndefaults: {labels: {org: a}}\n")
    (here / "forks").mkdir()
    result = run(
        "fork", "base/org.yaml.j2", "--name", "team-a", "--out", "forks/team-a.yaml.j2", "--set", "labels.org=b"
    )
    assert result.exit_code == 0, result.output
    text = (here / "forks" / "team-a.yaml.j2").read_text(encoding="utf-8")
    assert "extends: ../base/org.yaml.j2\n" in text
    assert '    org: b  # replaces "a" (../base/org.yaml.j2:3)\n' in text


@pytest.mark.parametrize(
    ("setting", "message", "hint"),
    [
        (
            "capabilities.model_serving.min_replica=3",
            "the upstream has no setting 'capabilities.model_serving.min_replica'",
            "did you mean 'min_replicas'?",
        ),
        ("labls.team=x", "the upstream has no setting 'labls'", "did you mean 'labels'?"),
        ("roles.prod.delete_protection=true", "roles.ROLE.KEY", "roles: development, staging, production"),
        ("capabilities.model_serving.machine_type+=[x]", "appends to a list", "to replace it"),
        ("labels.x={{ name }}", "is not a template", None),
    ],
)
def test_an_override_of_a_key_the_upstream_lacks_is_an_error_with_did_you_mean(
    here: Path, setting: str, message: str, hint: str | None
) -> None:
    result = run("fork", "level-1-pipeline-automation", "--name", "acme-emea", "--set", setting)
    assert result.exit_code == 2, result.output
    assert message in result.output and (hint is None or hint in result.output)
    assert list(here.iterdir()) == []


def test_a_value_of_the_wrong_type_gets_the_typed_settings_message(here: Path) -> None:
    result = run(
        "fork",
        "level-1-pipeline-automation",
        "--name",
        "acme-emea",
        "--set",
        "capabilities.model_serving.min_replicas=lots",
    )
    assert result.exit_code == 2
    assert "acme-emea.yaml.j2:" in result.output and "min_replicas" in result.output
    assert "valid integer" in result.output
    assert list(here.iterdir()) == []


def test_a_machine_the_region_lacks_is_caught_for_the_forks_region(here: Path) -> None:
    result = run(
        "fork",
        "level-1-pipeline-automation",
        "--name",
        "acme-emea",
        "--region",
        "europe-west2",
        "--set",
        "capabilities.experimentation.workbench.machine_type=a2-highgpu-1g",
    )
    assert result.exit_code == 2, result.output
    assert "europe-west2" in result.output and list(here.iterdir()) == []


def test_a_weakened_guarantee_is_a_warning_for_the_configs_that_will_need_a_waiver(here: Path) -> None:
    result = run(
        "fork",
        "level-1-pipeline-automation",
        "--name",
        "acme-emea",
        "--set",
        "roles.production.delete_protection=false",
    )
    assert result.exit_code == 0, result.output
    assert "warning:" in result.output and "a config using it needs a waiver" in result.output


def test_fork_never_overwrites_without_force_and_force_only_its_own_files(here: Path) -> None:
    args = ["fork", "level-0-manual", "--name", "team-a"]
    assert run(*args).exit_code == 0
    result = run(*args)
    assert result.exit_code == 2 and "never writes over a file without --force" in result.output
    assert run(*args, "--set", "labels.a=b", "--force").exit_code == 0
    assert "labels:" in (here / "team-a.yaml.j2").read_text(encoding="utf-8")
    mine = here / "mine.yaml.j2"
    mine.write_text("extends: level-0-manual\n# my notes\n", encoding="utf-8")
    result = run(*args, "--out", str(mine), "--force")
    assert result.exit_code == 2 and "tierstack did not write it" in result.output
    assert mine.read_text(encoding="utf-8") == "extends: level-0-manual\n# my notes\n"


@pytest.mark.parametrize(
    ("upstream", "extra", "message"),
    [
        ("level-3-magic", [], "'level-3-magic' is not a built-in blueprint, a blueprint file or a git repository"),
        ("level-1-pipeline", [], "did you mean 'level-1-pipeline-automation'?"),
        ("../nowhere.git", [], "cannot fetch"),
        ("../platform/org", ["--ref", "v9"], "'v9' is not a tag, branch or commit"),
        ("../platform/org", ["--path", "nope.yaml.j2"], "nope.yaml.j2 at v1.1.0"),
    ],
)
def test_a_fork_of_an_upstream_that_does_not_exist_is_an_error(
    here: Path, org: Repo, upstream: str, extra: list[str], message: str, spawns: None
) -> None:
    result = run("fork", upstream, "--name", "team-a", *extra)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert not (here / "team-a.yaml.j2").exists()


@pytest.mark.parametrize(
    ("setting", "key"),
    [
        ("labels=3", "labels"),
        ("labels=[1,2]", "labels"),
        ("capabilities=1", "capabilities"),
        ("roles.production.labels=3", "roles.production.labels"),
        ("capabilities.experimentation=[a]", "capabilities.experimentation"),
    ],
)
def test_a_set_that_replaces_a_mapping_with_a_value_is_an_error_at_the_set(here: Path, setting: str, key: str) -> None:
    result = run("fork", "level-1-pipeline-automation", "--name", "acme-emea", "--set", setting)
    assert result.exit_code == 2, result.output
    assert result.output.startswith(f"error: field '--set {setting}': '{key}' is a mapping upstream"), result.output
    assert f"--set {key}." in result.output and "internal error" not in result.output
    assert list(here.iterdir()) == []


def test_a_fork_of_a_file_url_upstream_validates_from_its_config(here: Path, org: Repo, spawns: None) -> None:
    url = org.path.as_uri()  # file:///.../platform/org
    assert url.startswith("file:///")
    result = run("fork", url, "--ref", "v1.0.0", "--name", "team-a", "--set", "labels.org=acme-a")
    assert result.exit_code == 0, result.output
    text = (here / "team-a.yaml.j2").read_text(encoding="utf-8")
    assert f"extends:\n  git: {url}\n  ref: v1.0.0" in text
    (here / "tierstack.yaml").write_text(CONFIG.split("blueprint:")[0] + "blueprint: ./team-a.yaml.j2\n")
    result = run("validate", "tierstack.yaml")
    assert result.exit_code == 0, result.output
    plan, _ = pinned_resolve(here / "tierstack.yaml")
    assert plan.environments["dev"].settings["labels"]["org"] == "acme-a"  # type: ignore[attr-defined]
    # the chain names the repository as the lock does: the URL, the same from every working directory
    assert plan.blueprint.chain[1] == f"{url}@v1.0.0:blueprints/org.yaml.j2"  # type: ignore[attr-defined]
    commit = git("rev-parse", "v1.0.0^{commit}", cwd=org.path)
    assert read_lock(here / LOCK_NAME)[(url, "blueprints/org.yaml.j2")].commit == commit


def test_the_overlay_names_the_blueprint_schema_and_fork_writes_it_beside(here: Path) -> None:
    """An editor completes and checks the overlay at once: its first line names blueprint.schema.json, which
    fork writes beside it (never over a file tierstack did not write), and the overlay is valid to it."""
    import jsonschema
    from ruamel.yaml import YAML

    from tierstack.generator.output.schema import DEFAULT_FILES, MODELINE, schema_text

    result = run("fork", "level-1-pipeline-automation", "--name", "acme-emea", "--set", "labels.data-residency=eu")
    assert result.exit_code == 0, result.output
    overlay = (here / "acme-emea.yaml.j2").read_text(encoding="utf-8")
    assert overlay.splitlines()[0] == f"{MODELINE}{DEFAULT_FILES['blueprint']}"
    assert is_ours(here / "acme-emea.yaml.j2")  # the mark is still among the first lines
    beside = here / DEFAULT_FILES["blueprint"]
    assert beside.read_text(encoding="utf-8") == schema_text("blueprint")
    checker = jsonschema.Draft202012Validator(jsonschema_load(beside))
    assert [e.message for e in checker.iter_errors(YAML(typ="safe", pure=True).load(overlay))] == []
    beside.write_text('{"title": "mine"}\n')
    again = run("fork", "level-1-pipeline-automation", "--name", "acme-emea", "--force")
    assert again.exit_code == 0 and "is not a schema tierstack wrote; left as it is" in again.output
    assert beside.read_text() == '{"title": "mine"}\n'


def jsonschema_load(path: Path) -> dict:
    import json

    return json.loads(path.read_text(encoding="utf-8"))
