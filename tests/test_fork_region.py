"""A blueprint's `region:` and `allowed_regions:`: the default of a config that writes no region, and the only
regions a config and its environments may be in; `tierstack fork --region` writes both.

The exit-2 cases run the installed `tierstack` in a subprocess, as a user does, with the line numbers of the
config and of the blueprint asserted. `is_ours` meets a FIFO and a 100 MB sparse file where a fork was.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import run
from tierstack.generator.config.spec import load_spec
from tierstack.generator.core import fsio
from tierstack.generator.core.errors import ErrorList, UserError
from tierstack.generator.core.yamlio import load_file, to_plain
from tierstack.generator.facts.catalog import Catalog
from tierstack.generator.plan.resolve import resolve
from tierstack.generator.services.fork import MARK, is_ours

USE_CASE = textwrap.dedent(
    """\
    name: demo-case
    team: ml
    use_case:
      stage: production
      retraining: scheduled
      schedule: "0 4 * * *"
      serving: batch
    """
)
UK = textwrap.dedent(
    """\
    extends: level-1-pipeline-automation
    tier: 1
    description: a UK fork
    region: europe-west2
    allowed_regions: [europe-west2, europe-west1]
    defaults:
      labels:
        data-residency: uk
    """
)


def line_holding(path: Path, text: str) -> int:
    return next(n for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1) if text in line)


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """tmp_path/team, the working directory (messages name files relative to it)."""
    here = tmp_path / "team"
    here.mkdir()
    monkeypatch.chdir(here)
    return here


@pytest.fixture
def config(folder: Path) -> Callable[..., Path]:
    """config(extra lines, blueprint text) -> tierstack.yaml using ./uk.yaml.j2 (the UK blueprint by default)."""

    def _config(extra: str = "", blueprint: str = UK) -> Path:
        (folder / "uk.yaml.j2").write_text(blueprint, encoding="utf-8")
        path = folder / "tierstack.yaml"
        path.write_text(USE_CASE + "blueprint: ./uk.yaml.j2\n" + textwrap.dedent(extra), encoding="utf-8")
        return path

    return _config


# --- the default region ----------------------------------------------------------------------------------------


def test_a_config_without_region_is_in_the_blueprints_region_set_at_its_line(config: Callable[..., Path]) -> None:
    path = config("environments: {dev: {}, prod: {}}\n")
    plan = resolve(load_spec(path))
    line = line_holding(path.parent / "uk.yaml.j2", "region: europe-west2")
    for env in plan.environments.values():
        assert env.region == "europe-west2"
        assert str(env.provenance[("region",)]) == f"uk.yaml.j2:{line}"
    assert plan.loaded.spec.region == "europe-west2"  # what bootstrap, ci and the templates read too


def test_without_region_the_first_allowed_region_is_the_default(config: Callable[..., Path]) -> None:
    blueprint = UK.replace("region: europe-west2\n", "").replace("[europe-west2, europe-west1]", "[europe-west1]")
    plan = resolve(load_spec(config(blueprint=blueprint)))
    assert {env.region for env in plan.environments.values()} == {"europe-west1"}
    line = line_holding(Path("uk.yaml.j2"), "allowed_regions:")
    assert str(plan.environments["prod"].provenance[("region",)]) == f"uk.yaml.j2:{line}"


def test_a_blueprint_without_regions_leaves_tierstacks_default(config: Callable[..., Path]) -> None:
    blueprint = "\n".join(line for line in UK.splitlines() if "region" not in line) + "\n"
    plan = resolve(load_spec(config(blueprint=blueprint)))
    assert {env.region for env in plan.environments.values()} == {"us-central1"}
    assert str(plan.environments["prod"].provenance[("region",)]) == "tierstack (default region)"


def test_the_templates_render_for_the_blueprints_region(config: Callable[..., Path]) -> None:
    blueprint = UK.replace("data-residency: uk", "where: '{{ region }}'")
    plan = resolve(load_spec(config(blueprint=blueprint)))
    assert plan.environments["dev"].settings["labels"]["where"] == "europe-west2"


def test_a_config_region_and_an_environment_region_the_blueprint_allows_are_kept(
    config: Callable[..., Path],
) -> None:
    path = config("region: europe-west1\nenvironments: {dev: {}, prod: {region: europe-west2}}\n")
    plan = resolve(load_spec(path))
    assert (plan.environments["dev"].region, plan.environments["prod"].region) == ("europe-west1", "europe-west2")
    assert str(plan.environments["dev"].provenance[("region",)]) == f"tierstack.yaml:{line_holding(path, 'region:')}"


def test_a_region_the_accelerator_lacks_in_tierstacks_default_is_judged_in_the_blueprints(
    config: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A TPU offered in europe-west4 and not in us-central1 (so in this test; Google's table has none such
    today): a config that writes no region is checked in its blueprint's region, not refused for ours."""
    original = Catalog.accelerator

    def only_in_europe(self: Catalog, name: str) -> Any:
        found = original(self, name)
        return found.model_copy(update={"regions": ("europe-west4",)}) if found and name == "TPU_V3" else found

    monkeypatch.setattr(Catalog, "accelerator", only_in_europe)
    tpu = USE_CASE.replace("serving: batch", "serving: batch\n  accelerator: tpu:TPU_V3")
    path = config(blueprint=UK.replace("europe-west2", "europe-west4").replace(", europe-west1", ""))
    path.write_text(path.read_text(encoding="utf-8").replace(USE_CASE, tpu), encoding="utf-8")
    plan = resolve(load_spec(path))
    assert {env.region for env in plan.environments.values()} == {"europe-west4"}
    path.write_text(path.read_text(encoding="utf-8") + "region: us-central1\n", encoding="utf-8")
    with pytest.raises(UserError, match="TPU_V3 is not offered for Vertex AI training in us-central1"):
        resolve(load_spec(path))


# --- outside the allowed regions ----------------------------------------------------------------------------


def test_a_region_outside_the_allowed_ones_is_an_error_at_both_lines(config: Callable[..., Path]) -> None:
    path = config("region: us-central1\n")
    allowed = line_holding(path.parent / "uk.yaml.j2", "allowed_regions:")
    with pytest.raises(UserError) as caught:
        resolve(load_spec(path))
    err = caught.value
    assert (err.file, err.line, err.field) == (path, line_holding(path, "region: us-central1"), "region")
    assert err.message == f"us-central1 is not a region the blueprint allows: uk.yaml.j2:{allowed} allows " + (
        "europe-west2, europe-west1"
    )
    assert err.hint is not None and "write region: europe-west2, or leave region: out" in err.hint
    assert f"added to allowed_regions at uk.yaml.j2:{allowed}" in err.hint


def test_every_environment_outside_is_said_at_once(config: Callable[..., Path]) -> None:
    path = config("environments:\n  dev: {region: us-east1}\n  prod: {region: asia-east1}\n")
    with pytest.raises(ErrorList) as caught:
        resolve(load_spec(path))
    assert [(e.line, e.field) for e in caught.value.errors] == [
        (line_holding(path, "us-east1"), "environments.dev.region"),
        (line_holding(path, "asia-east1"), "environments.prod.region"),
    ]
    assert "leave it out for the config's region (europe-west2)" in str(caught.value.errors[0].hint)


@pytest.mark.parametrize(
    ("text", "key", "message"),
    [
        ("region: europe-west2", "region: mars-north1", "'mars-north1' is not a Google Cloud region"),
        ("region: europe-west2", "region: 3", "3 is not a region name such as europe-west2"),
        ("[europe-west2, europe-west1]", "europe-west2", "allowed_regions must be a list of one or more regions"),
        ("[europe-west2, europe-west1]", "[]", "allowed_regions must be a list of one or more regions"),
        ("[europe-west2, europe-west1]", "[europe-west2, europe-west2]", "allowed_regions names europe-west2 twice"),
        ("[europe-west2, europe-west1]", "[europe-west1]", "the default region europe-west2 is not one of"),
        ("[europe-west2, europe-west1]", "[europe-west2, Europe]", "'Europe' is not a GCP region name"),
    ],
)
def test_a_blueprints_bad_regions_are_errors_at_its_line(
    config: Callable[..., Path], text: str, key: str, message: str
) -> None:
    path = config(blueprint=UK.replace(text, key))
    with pytest.raises(UserError) as caught:
        resolve(load_spec(path))
    written = "region:" if key.startswith("region:") and "default" not in message else "allowed_regions:"
    if "default region" in message:
        written = "region: europe-west2"
    assert caught.value.file == "uk.yaml.j2"
    assert caught.value.line == line_holding(path.parent / "uk.yaml.j2", written), caught.value
    assert message in caught.value.message


def test_a_fork_whose_region_its_upstream_does_not_allow_is_told_at_the_forks_line(
    config: Callable[..., Path], folder: Path
) -> None:
    """The nearest blueprint that writes each key wins: the fork's region, the upstream's list."""
    (folder / "org.yaml.j2").write_text(UK.replace("a UK fork", "org"), encoding="utf-8")
    path = config(blueprint="extends: ./org.yaml.j2\nregion: us-east1\n")
    with pytest.raises(UserError) as caught:
        resolve(load_spec(path))
    allowed = line_holding(folder / "org.yaml.j2", "allowed_regions:")
    assert (caught.value.file, caught.value.line, caught.value.field) == ("uk.yaml.j2", 2, "region")
    assert f"not one of allowed_regions (europe-west2, europe-west1, at org.yaml.j2:{allowed})" in caught.value.message


def spawn_tierstack(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The installed console script, as a user runs it."""
    script = Path(sys.executable).parent / "tierstack"
    return subprocess.run([str(script), *args], cwd=cwd, capture_output=True, text=True, timeout=300)


def test_the_cli_exits_2_naming_the_configs_line_the_blueprints_line_and_the_fix(
    config: Callable[..., Path], folder: Path, spawns: None
) -> None:
    assert run("fork", "level-1-pipeline-automation", "--name", "team-uk", "--region", "europe-west2").exit_code == 0
    fork = folder / "team-uk.yaml.j2"
    allowed = line_holding(fork, "allowed_regions: [europe-west2]")
    path = folder / "tierstack.yaml"
    path.write_text(
        USE_CASE + "region: us-central1\nblueprint: ./team-uk.yaml.j2\nenvironments:\n  dev: {}\n"
        "  prod:\n    region: europe-west1\n",
        encoding="utf-8",
    )
    assert (line_holding(path, "region: us-central1"), line_holding(path, "region: europe-west1")) == (8, 13)
    for command in ("validate", "generate", "explain"):
        done = spawn_tierstack(command, cwd=folder)
        assert done.returncode == 2, (command, done.stdout, done.stderr)
        assert "Traceback" not in done.stderr
        assert (
            "tierstack.yaml:8, field 'region': us-central1 is not a region the blueprint allows: "
            f"team-uk.yaml.j2:{allowed} allows only europe-west2"
        ) in done.stderr, done.stderr
        assert (
            "tierstack.yaml:13, field 'environments.prod.region': europe-west1 is not a region the blueprint "
            f"allows: team-uk.yaml.j2:{allowed} allows only europe-west2"
        ) in done.stderr, done.stderr
        assert "hint: write region: europe-west2, or leave region: out for the blueprint's default" in done.stderr
    assert not (folder / "cdktf.out").exists()
    path.write_text(USE_CASE + "blueprint: ./team-uk.yaml.j2\n", encoding="utf-8")
    done = spawn_tierstack("show", "--resolved", "--provenance", cwd=folder)
    assert done.returncode == 0, done.stderr
    region = line_holding(fork, "region: europe-west2")
    shown = [line for line in done.stdout.splitlines() if line.startswith("environments.prod.region ")]
    assert shown and '"europe-west2"' in shown[0] and shown[0].endswith(f"# team-uk.yaml.j2:{region}"), shown


# --- tierstack fork --region ------------------------------------------------------------------------------------


def fork_doc(path: Path) -> dict[str, Any]:
    data = to_plain(load_file(path))
    assert isinstance(data, dict)
    return data


def test_fork_region_pins_the_default_and_the_only_allowed_region(folder: Path) -> None:
    result = run("fork", "level-1-pipeline-automation", "--name", "team-uk", "--region", "europe-west2")
    assert result.exit_code == 0, result.output
    path = folder / "team-uk.yaml.j2"
    data = fork_doc(path)
    assert (data["region"], data["allowed_regions"]) == ("europe-west2", ["europe-west2"])
    text = path.read_text(encoding="utf-8")
    assert "# Pinned to europe-west2: configs that write no region: are in it, and may write no other." in text
    assert "region: europe-west2  # new: the upstream sets no region (its configs default to us-central1)" in text


def test_fork_takes_the_allowed_regions_from_a_set(folder: Path) -> None:
    both = "allowed_regions=[europe-west2, europe-west1]"
    result = run("fork", "level-1-pipeline-automation", "--name", "fork-a1", "--region", "europe-west2", "--set", both)
    assert result.exit_code == 0, result.output
    data = fork_doc(folder / "fork-a1.yaml.j2")
    assert (data["region"], data["allowed_regions"]) == ("europe-west2", ["europe-west2", "europe-west1"])
    result = run("fork", "level-1-pipeline-automation", "--name", "fork-a2", "--set", "allowed_regions=[europe-west1]")
    assert result.exit_code == 0, result.output
    data = fork_doc(folder / "fork-a2.yaml.j2")
    assert (data["region"], data["allowed_regions"]) == ("europe-west1", ["europe-west1"])
    result = run(
        "fork",
        "level-1-pipeline-automation",
        "--name",
        "fork-a3",
        "--region",
        "europe-west2",
        "--set",
        "allowed_regions=null",
    )
    assert result.exit_code == 0, result.output
    data = fork_doc(folder / "fork-a3.yaml.j2")
    assert data["region"] == "europe-west2" and "allowed_regions" not in data


@pytest.mark.parametrize(
    ("args", "field", "message"),
    [
        (["--region", "mars-north1"], "--region", "'mars-north1' is not a Google Cloud region"),
        (["--set", "region=europe-west2"], "--set", "the fork's region is given with --region"),
        (["--set", "allowed_regions=3"], "--set", "allowed_regions is a list of regions"),
        (["--set", "allowed_regions=[eu-west9]"], "--set allowed_regions=[eu-west9]", "'eu-west9' is not a Google"),
        (
            ["--region", "europe-west2", "--set", "allowed_regions=[europe-west1]"],
            "--set allowed_regions",
            "--region europe-west2 is not one of the regions --set allowed_regions lists (europe-west1)",
        ),
    ],
)
def test_fork_region_mistakes_are_exit_2_and_write_nothing(
    folder: Path, args: list[str], field: str, message: str
) -> None:
    result = run("fork", "level-1-pipeline-automation", "--name", "team-uk", *args)
    assert result.exit_code == 2, result.output
    assert f"field '{field}': " in result.output and message in result.output, result.output
    assert not (folder / "team-uk.yaml.j2").exists()


def test_a_fork_widening_its_upstreams_regions_is_warned(folder: Path) -> None:
    (folder / "org.yaml.j2").write_text(UK.replace("a UK fork", "org"), encoding="utf-8")
    result = run("fork", "./org.yaml.j2", "--name", "team-us", "--region", "us-east1")
    assert result.exit_code == 0, result.output
    allowed = line_holding(folder / "org.yaml.j2", "allowed_regions:")
    assert (
        f"warning: the upstream allows only europe-west2, europe-west1 (org.yaml.j2:{allowed}); this fork's "
        "allowed_regions replaces that list and lets its configs be in us-east1"
    ) in result.output
    text = (folder / "team-us.yaml.j2").read_text(encoding="utf-8")
    assert f'allowed_regions: [us-east1]  # replaces ["europe-west2", "europe-west1"] (org.yaml.j2:{allowed})' in text


def test_a_fork_without_region_is_checked_in_its_upstreams_region(folder: Path) -> None:
    """No --region: nothing regional is written, and the check runs where the upstream's configs land."""
    (folder / "org.yaml.j2").write_text(UK.replace("a UK fork", "org"), encoding="utf-8")
    result = run("fork", "./org.yaml.j2", "--name", "team-uk", "--set", "labels.unit=uk")
    assert result.exit_code == 0, result.output
    data = fork_doc(folder / "team-uk.yaml.j2")
    assert "region" not in data and "allowed_regions" not in data


def test_the_blueprint_schema_takes_the_regions_a_fork_writes(folder: Path) -> None:
    import jsonschema

    assert run("fork", "level-1-pipeline-automation", "--name", "team-uk", "--region", "europe-west2").exit_code == 0
    schema = json.loads((folder / "blueprint.schema.json").read_text(encoding="utf-8"))
    data = fork_doc(folder / "team-uk.yaml.j2")
    jsonschema.validate(data, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**data, "allowed_regions": "europe-west2"}, schema)


# --- is_ours reads a bounded head ---------------------------------------------------------------------------


def test_is_ours_reads_only_the_head_of_a_fork(tmp_path: Path) -> None:
    path = tmp_path / "fork.yaml.j2"
    path.write_text(f"# yaml-language-server: $schema=x\n{MARK} f (written)\n", encoding="utf-8")
    assert is_ours(path)
    path.write_text("\n" * 6 + f"{MARK} f\n", encoding="utf-8")
    assert not is_ours(path)  # past the header lines


class Hung(BaseException):
    """Raised into a call that blocks: not an OSError (hang_guard's TimeoutError is one, which is_ours's
    old `except OSError` swallowed, so a blocked open() looked like a refusal)."""


@contextlib.contextmanager
def no_hang(seconds: float = 30) -> Iterator[None]:
    def interrupt(signum: int, frame: object) -> None:
        raise Hung(f"blocked for {seconds} s")

    previous = signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def test_is_ours_refuses_a_fifo_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "fork.yaml.j2"
    os.mkfifo(fifo)
    with no_hang():
        assert is_ours(fifo) is False


def test_is_ours_reads_a_few_kib_of_a_100_mb_single_line_file(tmp_path: Path) -> None:
    """readline() would hold the whole line: 100 MB. The bounded head holds 4 KiB (peak memory, traced)."""
    import tracemalloc

    huge = tmp_path / "fork.yaml.j2"
    with huge.open("wb") as out:
        out.write(b"x")  # no newline, ever
        out.truncate(100 * 1024 * 1024)
    tracemalloc.start()
    try:
        assert is_ours(huge) is False
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1024 * 1024, peak


def test_read_head_refuses_what_read_bytes_bounded_refuses(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "dir").mkdir()
    with no_hang():
        for name, reason in (("fifo", "named pipe"), ("dir", "directory"), ("none", "not found")):
            with pytest.raises(fsio.Unreadable, match=reason):
                fsio.read_head(tmp_path / name, "fork", 10)
    (tmp_path / "short").write_bytes(b"abc")
    assert fsio.read_head(tmp_path / "short", "fork", 10) == b"abc"
    assert fsio.read_head(tmp_path / "short", "fork", 2) == b"ab"


def test_a_fleet_member_without_region_is_in_the_blueprints_and_one_outside_is_told_at_its_line(
    folder: Path,
) -> None:
    (folder / "uk.yaml.j2").write_text(UK, encoding="utf-8")
    fleet = folder / "fleet.yaml"
    fleet.write_text(
        textwrap.dedent(
            """\
            fleet: propensity
            blueprint: ./uk.yaml.j2
            defaults:
              team: growth
              use_case: {stage: production, retraining: scheduled, schedule: "0 4 * * *", serving: batch}
            members:
              - name: propensity-a
              - name: propensity-b
                region: us-east1
            """
        ),
        encoding="utf-8",
    )
    result = run("validate", "fleet.yaml")
    assert result.exit_code == 2, result.output
    allowed = line_holding(folder / "uk.yaml.j2", "allowed_regions:")
    assert (
        "fleet.yaml:9, field 'members[propensity-b].region': us-east1 is not a region the blueprint allows: "
        f"uk.yaml.j2:{allowed} allows europe-west2, europe-west1"
    ) in result.output, result.output
    from tierstack.generator.services.fleet import loaded_member

    plan = resolve(loaded_member(fleet, "propensity-a"))
    assert {env.region for env in plan.environments.values()} == {"europe-west2"}
    region = line_holding(folder / "uk.yaml.j2", "region: europe-west2")
    assert str(plan.environments["prod"].provenance[("region",)]) == f"uk.yaml.j2:{region}"
