"""Shared helpers: write a spec to a temporary folder, run the CLI in-process."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from tierstack.generator.cli import main
from tierstack.generator.config.spec import LoadedSpec, load_spec
from tierstack.generator.plan.resolve import Resolved, resolve

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def write(tmp_path: Path) -> Callable[..., Path]:
    """write(text, name='tierstack.yaml') -> the path, with the text dedented."""

    def _write(text: str, name: str = "tierstack.yaml") -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return path

    return _write


@pytest.fixture
def spec_of(write: Callable[..., Path]) -> Callable[..., LoadedSpec]:
    def _spec(text: str) -> LoadedSpec:
        return load_spec(write(text))

    return _spec


@pytest.fixture
def resolve_text(write: Callable[..., Path]) -> Callable[..., Resolved]:
    def _resolve(text: str) -> Resolved:
        return resolve(load_spec(write(text)))

    return _resolve


def git(repo: Path, *args: str) -> str:
    """git in `repo` as a test's author (no user config needed); its stdout as it is."""
    return subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def run(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(main, list(args), input=input, catch_exceptions=True)


def use_case(**answers: object) -> str:
    """A minimal spec with these use_case answers (stage production unless given)."""
    answers = {"stage": "production", **answers}
    lines = [f"  {k}: {_yaml(v)}" for k, v in answers.items()]
    return "name: demo-case\nteam: ml-platform\nuse_case:\n" + "\n".join(lines) + "\n"


def _yaml(value: object) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return f'"{value}"' if isinstance(value, str) and " " in value else str(value)


CASES = sorted((REPO / "tests" / "cases").glob("*.yaml"))


def pytest_configure(config: pytest.Config) -> None:
    """Blueprints from git are fetched into a cache (generator/config/gitsource.py): the tests get their own, in a
    temporary folder, never the user's; subprocesses inherit it."""
    import tempfile

    cache = tempfile.mkdtemp(prefix="tierstack-test-cache-")
    config.stash[_CACHE] = (cache, os.environ.get("TIERSTACK_CACHE"))
    os.environ["TIERSTACK_CACHE"] = cache
    # the bindings' run-time argument checks, which a user's generate skips (generator/synth/jsii_env.py): on
    # here, in this process and the tierstack processes the tests start
    os.environ["TIERSTACK_JSII_TYPECHECKS"] = "1"


def pytest_unconfigure(config: pytest.Config) -> None:
    import shutil

    cache, before = config.stash.get(_CACHE, (None, None))
    if cache is None:
        return
    shutil.rmtree(cache, ignore_errors=True)
    if before is None:
        os.environ.pop("TIERSTACK_CACHE", None)
    else:
        os.environ["TIERSTACK_CACHE"] = before


_CACHE = pytest.StashKey[tuple[str, "str | None"]]()


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every example and tier case, generated once per run: config (relative to the repo) -> output dir.

    In-process, so the cdktn bindings load once (seconds) for the whole suite.
    """
    from synth_support import example_configs
    from tierstack.generator.output.generate import generate

    root = tmp_path_factory.mktemp("synth")
    outputs = {}
    for config in [*example_configs(REPO / "examples"), *CASES]:
        rel = config.relative_to(REPO).as_posix()
        target = root / rel.replace("/", "__").removesuffix(".yaml") / "cdktf.out"
        generate(resolve(load_spec(config)), target)
        outputs[rel] = target
    return outputs


# The recommender with an Optimized online store: the shipped example serves features from Bigtable, which the
# price table has no sourced price for, so this variant is the stack whose always-on baseline is priced end to end.
OPTIMIZED_STORE = "overrides:\n  capabilities:\n    feature_repository:\n      online_store: optimized\n"


@pytest.fixture(scope="session")
def optimized_recommender(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tierstack.yaml of that variant, generated beside it into cdktf.out/ (once per run)."""
    from tierstack.generator.output.generate import generate

    config = tmp_path_factory.mktemp("optimized") / "tierstack.yaml"
    text = (REPO / "examples" / "recommender" / "tierstack.yaml").read_text(encoding="utf-8")
    config.write_text(text + OPTIMIZED_STORE, encoding="utf-8")
    generate(resolve(load_spec(config)), config.parent / "cdktf.out")
    return config


ON_CI = os.environ.get("CI", "").lower() == "true"


def skip_or_fail(reason: str) -> None:
    """Outside CI a missing tool skips with its reason; on CI it fails: a test that skips there does not exist."""
    if ON_CI:
        pytest.fail(f"{reason} (CI=true: the Terraform tests must run here)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def terraform(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The real terraform binary, with the offline Google provider stand-in as its only provider source."""
    from standin import mirror

    try:
        binary, _ = mirror.find_terraform()
    except mirror.TerraformMissing as missing:
        skip_or_fail(str(missing))
    try:
        import tf.gen.tfplugin_pb2  # noqa: F401  (the stand-in's protocol messages)
    except ImportError:
        skip_or_fail("the provider stand-in needs the dev extras (pip install -e '.[dev]', Python >= 3.11)")
    config = mirror.build(tmp_path_factory.mktemp("standin"))
    return mirror.Terraform(binary, config)


# A test is slow by what it does, which it says by the fixture it asks for; `pytest -m "not slow"`, the inner
# loop, leaves every such test out:
# - the session fixtures that cost tens of seconds (`synthesized`, `terraform`, the storage emulator);
# - `synthesizes`: the test synthesizes stacks in-process (jsii and the bindings: seconds);
# - `spawns`: the test runs a program in a subprocess (tierstack, git, terraform, a scanner, npm's tools).
# A test that does neither but is slow for another reason (a property search) says so with @pytest.mark.slow.
# In the inner loop the guard below holds them to it: a test not marked slow that synthesizes or starts a
# process fails at once, naming the fixture to ask for, so the inner loop cannot grow slow unseen.
SLOW_FIXTURES = {
    "synthesized",
    "optimized_recommender",
    "terraform",
    "storage_emulator_server",
    "synthesizes",
    "spawns",
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark `slow` every test that asks for a slow fixture (directly or through another fixture)."""
    for item in items:
        if SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


@pytest.fixture
def synthesizes() -> None:
    """Ask for it in a test that synthesizes stacks in-process: the test is then marked slow."""


@pytest.fixture
def spawns() -> None:
    """Ask for it in a test that runs a program in a subprocess: the test is then marked slow."""


class UnmarkedSlowWork(AssertionError):
    """A test of the inner loop synthesized or started a process without saying so."""


@pytest.fixture(autouse=True)
def _inner_loop_guard(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """In a test not marked slow, synthesis and subprocesses fail with the fixture to ask for instead."""
    if request.node.get_closest_marker("slow") is not None:
        return
    import subprocess as subprocess_module

    from tierstack.generator.synth import stacks

    report = os.environ.get("TIERSTACK_GUARD_REPORT")  # a maintainer's survey: record and let it run

    def refuse(what: str, fixture: str, original: Callable[..., Any]) -> Callable[..., Any]:
        def refused(*args: Any, **kwargs: Any) -> Any:
            if report:
                with open(report, "a", encoding="utf-8") as out:
                    out.write(f"{request.node.nodeid}\t{fixture}\n")
                return original(*args, **kwargs)
            raise UnmarkedSlowWork(f"this test {what}: ask for the `{fixture}` fixture, which marks it slow")

        return refused

    synthesize, popen = stacks.synthesize, subprocess_module.Popen.__init__
    monkeypatch.setattr(stacks, "synthesize", refuse("synthesizes stacks", "synthesizes", synthesize))
    monkeypatch.setattr(subprocess_module.Popen, "__init__", refuse("starts a process", "spawns", popen))


@pytest.fixture(scope="session")
def storage_emulator_server(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """gcp-storage-emulator, a real local Cloud Storage JSON API server, on a free port of 127.0.0.1.

    Started once per run as a subprocess (in memory; nothing is written to disk); its URL. The real
    google-cloud-storage client reaches it through STORAGE_EMULATOR_HOST (the `storage_emulator`
    fixture), and Terraform's GCS backend through `storage_custom_endpoint` (tests/test_operate.py).
    """
    import socket
    import subprocess
    import sys
    import time
    import urllib.request

    try:
        import gcp_storage_emulator  # noqa: F401
    except ImportError:
        skip_or_fail("the Cloud Storage emulator needs the dev extras (pip install -e '.[dev]')")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    log = tmp_path_factory.mktemp("storage-emulator") / "emulator.log"
    with log.open("wb") as out:
        command = ["gcp_storage_emulator", "start", "--host", "127.0.0.1", "--port", str(port), "--in-memory", "-q"]
        process = subprocess.Popen(
            [sys.executable, "-m", *command],
            cwd=log.parent,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(url + "/", timeout=1) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"the storage emulator did not start:\n{log.read_text(errors='replace')}")
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def storage_emulator(storage_emulator_server: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The emulator, emptied, with STORAGE_EMULATOR_HOST pointing the client library at it; its URL."""
    import urllib.request

    with urllib.request.urlopen(storage_emulator_server + "/wipe", timeout=10):
        pass
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", storage_emulator_server)
    for name in ("GOOGLE_APPLICATION_CREDENTIALS", "GOOGLE_CLOUD_PROJECT", "API_ENDPOINT_OVERRIDE"):
        monkeypatch.delenv(name, raising=False)
    return storage_emulator_server


@contextlib.contextmanager
def hang_guard(seconds: float = 120) -> Iterator[None]:
    """Interrupt a run that blocks (a FIFO opened for reading waits for a writer forever): far above the
    second these take, only there so that a regression fails instead of hanging the suite."""

    def interrupt(signum: int, frame: object) -> None:
        raise TimeoutError(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
