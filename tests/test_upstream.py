"""Blueprints from git, tierstack.lock, `tierstack upstream`, lineage in `tierstack blueprints`, and the
regional-propensity example.

Every repository here is a local git repository made in tmp_path and named by a relative path or a file://
URL: no test reaches the network. The cache is the test's own (TIERSTACK_CACHE).
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import REPO, run
from tierstack.generator.config import gitsource
from tierstack.generator.config.lockfile import LOCK_NAME, Pins, read_lock, session
from tierstack.generator.config.spec import load_spec
from tierstack.generator.core.errors import UserError
from tierstack.generator.plan.resolve import resolve

ORG = textwrap.dedent(
    """\
    extends: level-1-pipeline-automation
    tier: 1
    description: ACME org blueprint.
    defaults:
      labels:
        org: {org}
        cost-center: ml-platform
      capabilities:
        model_training:
          noncurrent_version_days: {days}
    """
)
CONFIG = textwrap.dedent(
    """\
    name: demo-case
    team: ml
    use_case:
      stage: production
      retraining: scheduled
      schedule: "0 4 * * *"
      serving: batch
    blueprint:
      git: {url}
      ref: {ref}
      path: blueprints/org.yaml.j2
    """
)


def git(*args: str, cwd: Path) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env |= {
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
    }
    done = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=True)
    return done.stdout.strip()


class Repo:
    """A local upstream repository: commit files, tag, move tags."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.mkdir(parents=True)
        git("init", "-q", "-b", "main", cwd=path)

    def commit(self, files: dict[str, str], message: str = "change") -> str:
        for name, text in files.items():
            target = self.path / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
        git("add", "-A", cwd=self.path)
        git("commit", "-q", "-m", message, cwd=self.path)
        return git("rev-parse", "HEAD", cwd=self.path)

    def org(self, org: str = "acme", days: int = 30) -> str:
        return self.commit({"blueprints/org.yaml.j2": ORG.format(org=org, days=days)}, f"org {org} {days}")

    def tag(self, name: str, commit: str = "HEAD") -> None:
        git("tag", "-f", name, commit, cwd=self.path)


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "cache"
    monkeypatch.setenv("TIERSTACK_CACHE", str(path))
    return path


@pytest.fixture
def repo(tmp_path: Path, cache: Path) -> Repo:
    upstream = Repo(tmp_path / "org")
    upstream.org()
    upstream.tag("v1.0.0")
    return upstream


@pytest.fixture
def config(tmp_path: Path) -> Callable[..., Path]:
    """config(ref='v1.0.0', url='../org') -> tierstack.yaml in tmp_path/fork/ naming the upstream."""

    def _config(ref: str = "v1.0.0", url: str = "../org", text: str = CONFIG) -> Path:
        folder = tmp_path / "fork"
        folder.mkdir(exist_ok=True)
        path = folder / "tierstack.yaml"
        path.write_text(text.format(url=url, ref=ref), encoding="utf-8")
        return path

    return _config


def pinned_resolve(path: Path, update: bool = False) -> tuple[object, Pins]:
    """What `tierstack generate` does before it synthesizes: resolve with the lock, then write it."""
    with session(Pins(path.parent, update=update)) as pins:
        plan = resolve(load_spec(path))
    pins.write_lock()
    return plan, pins


def label(plan: object, key: str = "org") -> str:
    return str(plan.environments["dev"].settings["labels"][key])  # type: ignore[attr-defined]


# --- pinning and the lock -----------------------------------------------------------------------------


def test_a_tag_pin_resolves_to_its_commit_and_is_locked(repo: Repo, config: Callable[..., Path], spawns: None) -> None:
    path = config()
    plan, _ = pinned_resolve(path)
    commit = git("rev-parse", "v1.0.0^{commit}", cwd=repo.path)
    assert label(plan) == "acme"
    assert plan.blueprint.chain[0].endswith("org@v1.0.0:blueprints/org.yaml.j2")  # type: ignore[attr-defined]
    [entry] = read_lock(path.parent / LOCK_NAME).values()
    assert (entry.url, entry.path, entry.ref, entry.commit) == ("../org", "blueprints/org.yaml.j2", "v1.0.0", commit)
    assert len(entry.sha256) == 64
    where = plan.environments["dev"].provenance[("labels", "org")]  # type: ignore[attr-defined]
    assert str(where).endswith("org@v1.0.0:blueprints/org.yaml.j2:6")


def test_a_branch_pin_is_resolved_to_a_commit_and_locked(repo: Repo, config: Callable[..., Path], spawns: None) -> None:
    path = config(ref="main")
    first = git("rev-parse", "main", cwd=repo.path)
    plan, _ = pinned_resolve(path)
    assert read_lock(path.parent / LOCK_NAME)[("../org", "blueprints/org.yaml.j2")].commit == first
    repo.org(org="acme-next")  # the branch moves on
    plan, pins = pinned_resolve(path)
    assert label(plan) == "acme"  # the locked commit, not the branch's head
    assert read_lock(path.parent / LOCK_NAME)[("../org", "blueprints/org.yaml.j2")].commit == first
    plan, pins = pinned_resolve(path, update=True)
    assert label(plan) == "acme-next"
    assert read_lock(path.parent / LOCK_NAME)[("../org", "blueprints/org.yaml.j2")].commit != first
    assert any("main" in note for note in pins.notes)


def test_a_moved_tag_is_detected_and_the_locked_commit_kept(
    repo: Repo, config: Callable[..., Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, spawns: None
) -> None:
    path = config()
    locked = git("rev-parse", "v1.0.0^{commit}", cwd=repo.path)
    pinned_resolve(path)
    repo.org(org="moved")
    repo.tag("v1.0.0")  # someone moved the tag
    monkeypatch.setenv("TIERSTACK_CACHE", str(tmp_path / "fresh-cache"))  # a new machine: it must fetch
    plan, pins = pinned_resolve(path)
    assert label(plan) == "acme"
    assert read_lock(path.parent / LOCK_NAME)[("../org", "blueprints/org.yaml.j2")].commit == locked
    [note] = pins.notes
    assert "v1.0.0 now points at" in note and locked[:12] in note and "--update" in note
    # and the CLI says so (generate prints the same notes; validate resolves the same way)
    plan, pins = pinned_resolve(path, update=True)
    assert label(plan) == "moved"


def test_a_build_runs_offline_from_the_cache_once_fetched(
    repo: Repo, config: Callable[..., Path], tmp_path: Path, spawns: None
) -> None:
    path = config()
    pinned_resolve(path)
    shutil.rmtree(repo.path)  # the upstream is gone (offline, or moved away)
    plan, pins = pinned_resolve(path)
    assert label(plan) == "acme" and pins.notes == []  # the locked commit is in the cache: no fetch at all
    (path.parent / LOCK_NAME).unlink()  # no lock: the ref is resolved from the cached copy, with a note
    plan, pins = pinned_resolve(path)
    assert label(plan) == "acme"
    assert any("could not reach" in note and "using v1.0.0 as fetched" in note for note in pins.notes)


def test_an_unreachable_upstream_that_is_not_cached_is_an_error(config: Callable[..., Path], cache: Path) -> None:
    path = config(url="../nowhere")
    result = run("validate", str(path))
    assert result.exit_code == 2, result.output
    assert "cannot fetch" in result.output and "nowhere" in result.output and "once fetched" in result.output
    assert not (path.parent / LOCK_NAME).exists()


def test_a_ref_that_does_not_exist_is_a_clear_error(repo: Repo, config: Callable[..., Path], spawns: None) -> None:
    path = config(ref="v9.9.9")
    result = run("explain", str(path))
    assert result.exit_code == 2
    assert "tierstack.yaml:10, field 'blueprint.ref': 'v9.9.9' is not a tag, branch or commit of" in result.output
    assert "tags: v1.0.0" in result.output
    assert not (path.parent / LOCK_NAME).exists()


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("../outside.yaml.j2", "leaves the repository"),
        ("blueprints/../../x.yaml.j2", "leaves the repository"),
        ("/etc/passwd", "not a path inside the repository"),
        ("link/org.yaml.j2", "is a symbolic link"),
        ("escape.yaml.j2", "is a symbolic link"),
    ],
)
def test_a_path_that_escapes_the_repository_is_refused(
    repo: Repo, config: Callable[..., Path], path: str, message: str, spawns: None
) -> None:
    (repo.path / "link").symlink_to(repo.path / "blueprints")
    (repo.path / "escape.yaml.j2").symlink_to("/etc/hostname")
    repo.commit({}, "links")
    repo.tag("v1.0.1")
    text = CONFIG.replace("path: blueprints/org.yaml.j2", f"path: {path}")
    result = run("validate", str(config(ref="v1.0.1", text=text)))
    assert result.exit_code == 2
    assert message in result.output and "blueprint.path" in result.output


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ext::sh -c touch% /tmp/tierstack-pwned", "'ext::' hands the URL to a git remote helper that runs a command"),
        ("fd::3", "'fd::' hands the URL to a git remote helper"),
        ("http://example.com/org.git", "plain http"),
        ("git://example.com/org.git", "git:// is neither authenticated nor encrypted"),
        ("ftp://example.com/org.git", "'ftp://' is not an allowed transport"),
        ("-uhelp", "starts with '-'"),
        ("ssh://-oProxyCommand=touch/x", "does not start with '-'"),
        ("https://user:secret@example.com/org.git", "holds a password"),
        ("org", "write a local repository as ./org"),
    ],
)
def test_a_transport_that_is_refused_never_reaches_git(
    url: str, message: str, config: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_git(*args: object, **kwargs: object) -> None:
        raise AssertionError("git ran")

    monkeypatch.setattr(gitsource.subprocess, "Popen", no_git)
    result = run("validate", str(config(url=json.dumps(url))))
    assert result.exit_code == 2, result.output
    assert message in result.output and "field 'blueprint.git'" in result.output
    assert not Path("/tmp/tierstack-pwned").exists()


def test_git_runs_with_a_fixed_argv_and_no_hooks_submodules_or_extra_transports() -> None:
    argv = gitsource.git_argv("fetch", "--", "/repo", file_protocol=False)
    config = [argv[i + 1] for i, a in enumerate(argv) if a == "-c"]
    assert "core.hooksPath=/dev/null" in config and "protocol.allow=never" in config
    assert "submodule.recurse=false" in config and "fetch.recurseSubmodules=false" in config
    assert "protocol.file.allow=always" not in config
    assert "protocol.file.allow=always" in gitsource.git_argv("fetch", file_protocol=True)
    assert gitsource.git_env()["GIT_ALLOW_PROTOCOL"] == "https:ssh"
    assert gitsource.git_env(file_protocol=True)["GIT_ALLOW_PROTOCOL"] == "https:ssh:file"
    assert gitsource.git_env()["GIT_TERMINAL_PROMPT"] == "0"


def test_a_hook_in_the_cache_never_runs(repo: Repo, config: Callable[..., Path], tmp_path: Path, spawns: None) -> None:
    """A hook planted in a cached mirror runs for plain git, never for tierstack (core.hooksPath=/dev/null)."""
    path = config()
    pinned_resolve(path)
    [mirror] = (tmp_path / "cache" / "git").glob("*.git")
    witness = tmp_path / "hook-ran"
    hook = mirror / "hooks" / "reference-transaction"
    hook.parent.mkdir(exist_ok=True)
    hook.write_text(f"#!/bin/sh\ntouch {witness}\n", encoding="utf-8")
    hook.chmod(0o755)
    repo.org(org="next")
    repo.tag("v1.0.1")
    pinned_resolve(config(ref="main"), update=True)  # fetches into the mirror: its refs change
    assert not witness.exists()
    git("--git-dir", str(mirror), "update-ref", "refs/heads/probe", "HEAD", cwd=tmp_path)  # plain git runs it
    assert witness.exists()


@pytest.mark.parametrize("ref", ["-x", "--upload-pack=touch", "a..b", "v1@{0}", ".hidden", "v1.lock"])
def test_a_ref_must_be_a_plain_name(ref: str, config: Callable[..., Path]) -> None:
    result = run("validate", str(config(ref=json.dumps(ref))))
    assert result.exit_code == 2 and "field 'blueprint.ref'" in result.output


def test_a_file_over_the_size_limit_is_not_read(repo: Repo, config: Callable[..., Path], spawns: None) -> None:
    repo.commit({"blueprints/org.yaml.j2": "# " + "x" * 200_000 + "\n"}, "huge")
    repo.tag("v2.0.0")
    result = run("validate", str(config(ref="v2.0.0")))
    assert result.exit_code == 2 and "larger than 128 KiB" in result.output


def test_a_lock_that_disagrees_with_the_config_is_an_error(
    repo: Repo, config: Callable[..., Path], spawns: None
) -> None:
    path = config()
    pinned_resolve(path)
    repo.org(org="acme-two")
    repo.tag("v1.1.0")
    path = config(ref="v1.1.0")
    before = (path.parent / LOCK_NAME).read_text(encoding="utf-8")
    result = run("validate", str(path))
    assert result.exit_code == 2
    assert "tierstack.lock pins ../org blueprints/org.yaml.j2 at v1.0.0" in result.output
    assert "and this asks for v1.1.0" in result.output and "upstream --accept v1.1.0" in result.output
    assert (path.parent / LOCK_NAME).read_text(encoding="utf-8") == before


def test_a_lock_entry_the_config_no_longer_names_stops_generate(
    repo: Repo, config: Callable[..., Path], spawns: None
) -> None:
    """The config names the upstream by another URL now: generate says which lock entry is stale, and how
    to move it, instead of rewriting the lock in silence."""
    path = config()
    pinned_resolve(path)
    lock = path.parent / LOCK_NAME
    before = lock.read_text(encoding="utf-8")
    url = repo.path.as_uri()  # the same repository, as a file:// URL
    result = run("generate", str(config(url=url)))
    assert result.exit_code == 2, result.output
    line = before.splitlines().index("  - url: ../org") + 1
    assert f"{lock}:{line}: tierstack.lock pins blueprints/org.yaml.j2 of ../org at v1.0.0" in result.output
    assert f"the config names blueprints/org.yaml.j2 in {url} now" in result.output
    assert "`tierstack generate --update`" in result.output
    assert lock.read_text(encoding="utf-8") == before and not (path.parent / "cdktf.out").exists()
    assert run("validate", str(path)).exit_code == 0  # reading is fine; only writing the lock would drop it
    with pytest.raises(UserError, match="which the config no longer uses"):
        pinned_resolve(config(text=CONFIG.split("blueprint:")[0]))
    _, pins = pinned_resolve(config(url=url), update=True)  # what --update does: the lock follows the config
    assert list(read_lock(lock)) == [(url, "blueprints/org.yaml.j2")] and not pins.notes


def test_a_blueprint_from_git_extends_files_of_its_own_repository_only(
    repo: Repo, config: Callable[..., Path], spawns: None
) -> None:
    repo.commit(
        {
            "blueprints/base.yaml.j2": ORG.format(org="base", days=30),
            "blueprints/org.yaml.j2": "extends: ./base.yaml.j2\ntier: 1\ndefaults: {labels: {team-x: a}}\n",
        },
        "split",
    )
    repo.tag("v3.0.0")
    plan, _ = pinned_resolve(config(ref="v3.0.0"))
    assert label(plan) == "base"
    assert plan.blueprint.chain[1].endswith("org@v3.0.0:blueprints/base.yaml.j2")  # type: ignore[attr-defined]
    for extends, message in [
        ("../../outside.yaml.j2", "leads out of the repository"),
        ("/etc/hostname", "is an absolute path"),
        ("{git: ./other.git, ref: v1, path: x.yaml.j2}", "a blueprint from git has no folder on this machine"),
    ]:
        repo.commit({"blueprints/org.yaml.j2": f"extends: {extends}\ntier: 1\n"}, "escape")
        repo.tag("v3.0.1")
        (repo.path.parent / "fork" / LOCK_NAME).unlink(missing_ok=True)  # a new ref, on purpose
        result = run("validate", str(config(ref="v3.0.1")))
        assert result.exit_code == 2 and message in result.output, result.output


def test_extends_takes_a_git_source_with_errors_at_their_lines(
    repo: Repo, config: Callable[..., Path], tmp_path: Path, spawns: None
) -> None:
    path = config()
    overlay = path.parent / "fork.yaml.j2"
    overlay.write_text(
        "extends:\n  git: ../org\n  ref: v1.0.0\n  path: blueprints/org.yaml.j2\ntier: 1\n"
        "defaults: {labels: {org: mine}}\n",
        encoding="utf-8",
    )
    path.write_text(CONFIG.split("blueprint:")[0] + "blueprint: ./fork.yaml.j2\n", encoding="utf-8")
    plan, _ = pinned_resolve(path)
    assert label(plan) == "mine" and (path.parent / LOCK_NAME).exists()
    overlay.write_text("extends:\n  git: ../org\n  rev: v1.0.0\n  path: x\n", encoding="utf-8")
    result = run("validate", str(path))
    assert result.exit_code == 2 and "fork.yaml.j2:3, field 'extends.rev': unknown key 'rev'" in result.output
    assert "did you mean 'ref'?" in result.output


# --- tierstack upstream ---------------------------------------------------------------------------------


@pytest.fixture
def fork_with_release(repo: Repo, config: Callable[..., Path], monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fork at v1.0.0 that sets `org` itself, and a v1.1.0 that changes org (a conflict) and the retention."""
    path = config()
    monkeypatch.chdir(path.parent)
    overlay = path.parent / "fork.yaml.j2"
    upstream = ["../org", "--ref", "v1.0.0", "--path", "blueprints/org.yaml.j2"]
    result = run("fork", *upstream, "--name", "demo-fork", "--set", "labels.org=acme-fork", "--out", str(overlay))
    assert result.exit_code == 0, result.output
    path.write_text(CONFIG.split("blueprint:")[0] + "blueprint: ./fork.yaml.j2\n", encoding="utf-8")
    pinned_resolve(path)
    repo.org(org="acme-corp", days=90)
    repo.tag("v1.1.0")
    return path


def test_upstream_shows_the_newest_tag_its_effect_and_the_conflicts(
    fork_with_release: Path, monkeypatch: pytest.MonkeyPatch, spawns: None
) -> None:
    monkeypatch.chdir(fork_with_release.parent)
    result = run("upstream", "--no-resources")
    assert result.exit_code == 0, result.output
    out = result.output
    assert "pinned:   v1.0.0" in out and "tierstack.lock" in out and "compared: v1.1.0" in out
    assert '! labels.org: "acme" -> "acme-corp"' in out
    assert "CONFLICT: this fork sets it itself at fork.yaml.j2:" in out
    assert "capabilities.model_training.noncurrent_version_days: 30 -> 90" in out
    assert "in dev, prod; set at " in out and "org@v1.0.0:blueprints/org.yaml.j2:10, now at " in out
    data = json.loads(run("upstream", "--no-resources", "--format", "json").output)
    [conflict] = [c for c in data["upstream_changes"] if c["conflict"]]
    lines = (fork_with_release.parent / "fork.yaml.j2").read_text(encoding="utf-8").splitlines()
    line = next(n for n, text in enumerate(lines, start=1) if "org: acme-fork" in text)
    assert conflict["setting"] == "labels.org" and conflict["kept_by"] == [{"file": "fork.yaml.j2", "line": line}]
    assert {s["key"] for s in data["settings"]} == {
        "environments.dev.capabilities.model_training.noncurrent_version_days",
        "environments.prod.capabilities.model_training.noncurrent_version_days",
    }
    assert data["compared"]["ref"] == "v1.1.0" and not data["up_to_date"]


def test_upstream_accept_moves_the_pin_in_the_overlay_and_the_lock(
    fork_with_release: Path, monkeypatch: pytest.MonkeyPatch, spawns: None
) -> None:
    monkeypatch.chdir(fork_with_release.parent)
    overlay = fork_with_release.parent / "fork.yaml.j2"
    before = overlay.read_text(encoding="utf-8")
    result = run("upstream", "--accept", "v1.1.0", "--no-resources")
    assert result.exit_code == 0, result.output
    after = overlay.read_text(encoding="utf-8")
    changed = [(a, b) for a, b in zip(before.splitlines(), after.splitlines(), strict=True) if a != b]
    commit = git("rev-parse", "v1.1.0^{commit}", cwd=fork_with_release.parent.parent / "org")
    assert [b for _, b in changed] == [
        f"  ref: v1.1.0  # commit {commit[:12]}",
        '    org: acme-fork  # replaces "acme-corp" (blueprints/org.yaml.j2:6 @ v1.1.0)',
    ]
    [entry] = read_lock(fork_with_release.parent / LOCK_NAME).values()
    assert entry.ref == "v1.1.0"
    result = run("upstream", "--no-resources")
    assert result.exit_code == 0 and "up to date" in result.output


def test_upstream_accept_edits_only_the_ref_line_of_tierstack_yaml(
    repo: Repo, config: Callable[..., Path], monkeypatch: pytest.MonkeyPatch, spawns: None
) -> None:
    path = config()
    text = path.read_text(encoding="utf-8").replace("ref: v1.0.0", "ref: v1.0.0   # the platform's release")
    path.write_text(text, encoding="utf-8")
    pinned_resolve(path)
    repo.org(days=60)
    repo.tag("v1.0.1")
    result = run("upstream", str(path), "--accept", "v1.0.1", "--no-resources")
    assert result.exit_code == 0, result.output
    assert path.read_text(encoding="utf-8") == text.replace("ref: v1.0.0 ", "ref: v1.0.1 ")
    assert read_lock(path.parent / LOCK_NAME)[("../org", "blueprints/org.yaml.j2")].ref == "v1.0.1"


def test_generate_update_writes_the_lock_so_it_goes_with_neither_check_nor_diff(
    repo: Repo, config: Callable[..., Path], spawns: None
) -> None:
    for dry in ("--check", "--diff"):
        result = run("generate", str(config()), "--update", dry)
        assert result.exit_code == 2 and "--update writes tierstack.lock" in result.output


def test_upstream_without_a_git_upstream_is_an_error(write: Callable[..., Path]) -> None:
    path = write(CONFIG.split("blueprint:")[0])
    result = run("upstream", str(path), "--no-resources")
    assert result.exit_code == 2 and "has no upstream in git" in result.output


@pytest.mark.slow  # synthesizes both plans
def test_upstream_shows_the_effect_on_the_generated_resources(fork_with_release: Path) -> None:
    result = run("upstream", str(fork_with_release))
    assert result.exit_code == 0, result.output
    assert "Effect on the generated resources:" in result.output
    assert "lifecycle_rule[0].condition.days_since_noncurrent_time: 30 → 90" in result.output


# --- tierstack blueprints: lineage ------------------------------------------------------------------------


def test_blueprints_lists_local_and_remote_blueprints_with_their_lineage(
    fork_with_release: Path, monkeypatch: pytest.MonkeyPatch, spawns: None
) -> None:
    monkeypatch.chdir(fork_with_release.parent)
    data = json.loads(run("blueprints", "--config", "tierstack.yaml", "--format", "json").output)
    assert [b["name"] for b in data["builtin"]] == ["level-0-manual", "level-1-pipeline-automation", "level-2-cicd"]
    [local] = data["local"]
    chain = local["chain"]
    assert [link["kind"] for link in chain] == ["local", "git", "built-in", "built-in"]
    assert chain[1]["git"]["ref"] == "v1.0.0" and chain[1]["git"]["locked"] and chain[1]["git"]["kind"] == "tag"
    text = run("blueprints", "--dir", ".").output
    assert "fork.yaml.j2  tier 1, local" in text
    assert "org@v1.0.0:blueprints/org.yaml.j2  tier 1, git: tag v1.0.0 at commit" in text
    assert "locked in tierstack.lock" in text
    assert "extends tierstack:level-0-manual  tier 0, built-in" in text


@pytest.mark.slow  # synthesizes
def test_generate_writes_the_lock_and_says_when_a_tag_moved(
    repo: Repo, config: Callable[..., Path], tmp_path: Path
) -> None:
    path = config()
    result = run("generate", str(path), "--out", str(tmp_path / "out"))
    assert result.exit_code == 0, result.output
    assert f"wrote {path.parent / LOCK_NAME} (1 upstream)" in result.output
    repo.org(org="moved")
    repo.tag("v1.0.0")
    run("upstream", str(path), "--no-resources")  # fetches: the cache now knows where the tag is
    result = run("generate", str(path), "--out", str(tmp_path / "out"), "--check")
    assert result.exit_code == 0, result.output
    assert "note: ../org blueprints/org.yaml.j2: v1.0.0 pointed at" in result.output
    assert "tierstack.lock keeps" in result.output


@pytest.mark.slow  # synthesizes three times
def test_generated_output_is_the_same_from_every_working_directory(
    repo: Repo, config: Callable[..., Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A git upstream is named as tierstack.lock names it (relative to the config), not from the cwd."""
    path = config()
    monkeypatch.chdir(tmp_path)
    result = run("generate", "fork/tierstack.yaml")
    assert result.exit_code == 0, result.output
    page = (path.parent / "cdktf.out" / "stacks" / "demo-case-dev" / "README.md").read_text(encoding="utf-8")
    assert "`../org@v1.0.0:blueprints/org.yaml.j2`" in page
    for cwd, given in ((path.parent, "tierstack.yaml"), (repo.path / "blueprints", str(path))):
        monkeypatch.chdir(cwd)
        result = run("generate", "--check", given)
        assert result.exit_code == 0, f"from {cwd}: {result.output}"


# --- the regional-propensity example ------------------------------------------------------------------

EXAMPLE = REPO / "examples" / "regional-propensity"


def test_the_example_upstream_is_built_deterministically(tmp_path: Path, spawns: None) -> None:
    """prepare.py builds the same commits on every machine, so the checked-in locks hold everywhere."""
    out = tmp_path / "org-blueprints.git"
    subprocess.run([sys.executable, str(EXAMPLE / "prepare.py"), "--out", str(out)], check=True, capture_output=True)
    for region, ref in (("us", "v1.0.0"), ("uk", "v1.1.0")):
        [entry] = read_lock(EXAMPLE / region / LOCK_NAME).values()
        assert entry.ref == ref and entry.url == "../org-blueprints.git"
        assert git("--git-dir", str(out), "rev-parse", f"{ref}^{{commit}}", cwd=tmp_path) == entry.commit


def test_the_example_us_fork_sees_v1_1_0_with_its_conflict(monkeypatch: pytest.MonkeyPatch, spawns: None) -> None:
    from synth_support import prepare_examples

    prepare_examples()
    monkeypatch.chdir(REPO)
    result = run("upstream", "examples/regional-propensity/us/tierstack.yaml", "--no-resources")
    assert result.exit_code == 0, result.output
    assert "pinned:   v1.0.0" in result.output and "compared: v1.1.0" in result.output
    assert '! labels.cost-center: "ml-platform" -> "ml-platform-shared"' in result.output
    result = run("upstream", "examples/regional-propensity/uk/tierstack.yaml", "--no-resources")
    assert "up to date" in result.output


@pytest.mark.parametrize("region", ["us", "uk"])
def test_the_example_overlays_are_what_tierstack_fork_writes(
    region: str, monkeypatch: pytest.MonkeyPatch, spawns: None
) -> None:
    """A change detector: each overlay is `tierstack fork`'s output (the command in the example's README)."""
    from synth_support import prepare_examples

    prepare_examples()
    folder = EXAMPLE / region
    monkeypatch.chdir(folder)
    command = (EXAMPLE / "README.md").read_text(encoding="utf-8").split(f"<!-- fork {region} -->")[1]
    args = shlex.split(command.split("```sh")[1].split("```")[0].replace("\\\n", " "))
    assert args[:2] == ["tierstack", "fork"]
    out = folder / f".check-propensity-{region}.yaml.j2"  # beside it: the fork writes paths relative to itself
    schema_file = folder / "blueprint.schema.json"  # fork writes it beside the overlay; not checked in
    had_schema = schema_file.exists()
    try:
        result = run(*args[1:], "--out", out.name)
        assert result.exit_code == 0, result.output
        fresh = out.read_text(encoding="utf-8")
    finally:
        out.unlink(missing_ok=True)
        if not had_schema:
            schema_file.unlink(missing_ok=True)
    assert fresh == (folder / f"propensity-{region}.yaml.j2").read_text(encoding="utf-8"), (
        f"examples/regional-propensity/{region}/propensity-{region}.yaml.j2 is not what the README's fork writes"
    )


def test_user_errors_from_git_sources_name_the_place(config: Callable[..., Path]) -> None:
    with pytest.raises(UserError) as caught:
        resolve(load_spec(config(url="../missing")))
    assert caught.value.field == "blueprint.git" and caught.value.line == 9
