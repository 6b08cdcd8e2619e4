"""`tierstack bootstrap`: the state buckets, with the real google-cloud-storage client against a real local server.

The server is gcp-storage-emulator (the `storage_emulator` fixture in conftest.py), started by the tests
on 127.0.0.1. What it does and does not do, read from its source (gcp_storage_emulator/handlers/buckets.py):

- a bucket insert (POST /b) keeps only the name: the location, versioning, uniform bucket-level access,
  public access prevention, soft delete and labels of the request are dropped, and the bucket gets the
  emulator's defaults (location US, no versioning, soft delete 7 days). So the tests check the insert
  request the real client sent (recorded where the client hands it to its HTTP session, see
  RecordingSession) and that the emulator then holds the bucket; they do not read those settings back.
- a PATCH stores every setting given, the location too (Cloud Storage itself never changes a location):
  the tests set up an *existing* bucket that way, compatible or not, and bootstrap reads it back through
  the client like any bucket.
- it has no projects and no permissions: buckets.list ignores the project, nothing answers 403, a
  missing project cannot be asked for. Those answers of Cloud Storage are checked against `api_error`
  with the client library's own exception classes and the messages Cloud Storage sends; and where the
  flow depends on a 403 (a name another project holds), RecordingSession answers a chosen request with
  Cloud Storage's 403 JSON error (FORBIDDEN_GET, FORBIDDEN_CREATE) in the emulator's place, so the real
  client parses it, while every other request, the 409 of an insert among them, is the emulator's.
- a name that exists answers 409 to an insert, as Cloud Storage does: the race between bootstrap's read
  and its insert is played on it.
"""

from __future__ import annotations

import dataclasses
import json
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
from google.api_core import exceptions

from conftest import run
from synth_support import example_configs
from tierstack.generator.config.spec import load_spec
from tierstack.generator.plan.resolve import Resolved, resolve
from tierstack.generator.services import bootstrap
from tierstack.generator.services.bootstrap import DAY, Observed, StateBucket

EXAMPLES = example_configs()  # every example, the regional forks (examples/*/*/tierstack.yaml) too

SPEC = """\
name: ledger
team: risk-ml
use_case:
  stage: production
  retraining: scheduled
  schedule: "0 3 * * 1"
  serving: batch
region: europe-west4
environments:
  dev:
    project: acme-ledger-dev
  prod:
    project: acme-ledger-prod
    region: europe-west1
labels:
  cost-center: cc-1234
"""

OWN_BUCKETS = """\
environments:
  dev:
    project: acme-ledger-dev
    overrides:
      state:
        bucket: acme-ledger-dev-tfstate
  prod:
    project: acme-ledger-prod
    region: europe-west1
    overrides:
      state:
        bucket: acme-ledger-prod-tfstate
"""


def resolved_of(write: Callable[..., Path], text: str = SPEC) -> Resolved:
    return resolve(load_spec(write(text)))


def own_buckets(text: str = SPEC) -> str:
    start = text.index("environments:")
    end = text.index("labels:")
    return text[:start] + OWN_BUCKETS + text[end:]


# --- the bucket each stack's backend names --------------------------------------------------------


@pytest.mark.parametrize("config", EXAMPLES, ids=lambda p: p.parent.name)
def test_the_bucket_is_the_one_each_generated_backend_names(config: Path, spawns: None) -> None:
    """The checked-in stacks were written by generate (stacks.py's build_stack): bootstrap agrees with them."""
    resolved = resolve(load_spec(config))
    buckets = bootstrap.wanted_buckets(resolved)
    for env in resolved.environments.values():
        stack = json.loads((config.parent / "cdktf.out/stacks" / env.stack / "cdk.tf.json").read_text())
        backend = stack["terraform"]["backend"]["gcs"]
        assert bootstrap.state_bucket_name(resolved, env) == backend["bucket"]
        (bucket,) = [b for b in buckets if env.name in b.environments]
        assert bucket.name == backend["bucket"]
        assert backend["prefix"] in bucket.prefixes


def test_environments_sharing_the_default_bucket_get_one_bucket_in_the_last_project(
    write: Callable[..., Path],
) -> None:
    (bucket,) = bootstrap.wanted_buckets(resolved_of(write))
    assert bucket.name == "ledger-tfstate"
    assert (bucket.project, bucket.location) == ("acme-ledger-prod", "europe-west1")
    assert bucket.environments == ("dev", "prod")
    assert bucket.prefixes == ("ledger-dev", "ledger-prod")
    assert bucket.labels["cost-center"] == "cc-1234"
    assert bucket.labels["use-case"] == "ledger"
    assert "environment" not in bucket.labels  # the environments' labels differ there
    assert bucket.note is not None and "acme-ledger-dev, acme-ledger-prod" in bucket.note
    assert "overrides.state.bucket" in bucket.note


def test_an_environment_with_its_own_bucket_gets_it_in_its_own_project(write: Callable[..., Path]) -> None:
    dev, prod = bootstrap.wanted_buckets(resolved_of(write, own_buckets()))
    assert (dev.name, dev.project, dev.location) == ("acme-ledger-dev-tfstate", "acme-ledger-dev", "europe-west4")
    assert (prod.name, prod.project, prod.location) == ("acme-ledger-prod-tfstate", "acme-ledger-prod", "europe-west1")
    assert dev.labels["environment"] == "dev" and prod.labels["environment"] == "prod"
    assert dev.note is None and prod.note is None
    (only,) = bootstrap.wanted_buckets(resolved_of(write, own_buckets()), ["prod"])
    assert only.name == "acme-ledger-prod-tfstate"


def test_an_unknown_environment_is_named_with_a_suggestion(write: Callable[..., Path]) -> None:
    with pytest.raises(bootstrap.UserError) as caught:
        bootstrap.wanted_buckets(resolved_of(write), ["prd"])
    assert "no environment 'prd'" in caught.value.render()
    assert "did you mean 'prod'?" in caught.value.render()


# --- compatible or not ----------------------------------------------------------------------------

WANT = StateBucket(
    name="ledger-tfstate",
    project="acme-ledger-prod",
    location="europe-west1",
    labels={"team": "risk-ml", "use-case": "ledger"},
    environments=("dev", "prod"),
    prefixes=("ledger-dev", "ledger-prod"),
)
GOOD = Observed(
    location="EUROPE-WEST1",
    versioning=True,
    uniform_access=True,
    public_access_prevention="enforced",
    soft_delete_seconds=30 * DAY,
    labels={"team": "risk-ml", "use-case": "ledger"},
    in_project=True,
)


def test_a_bucket_as_bootstrap_makes_it_is_compatible_and_stricter_is_too() -> None:
    assert bootstrap.differences(WANT, GOOD) == []
    stricter = dataclasses.replace(GOOD, soft_delete_seconds=90 * DAY, labels={**GOOD.labels, "owner": "platform"})
    assert bootstrap.differences(WANT, stricter) == []


def test_every_difference_is_listed_with_its_fix() -> None:
    seen = Observed(
        location="US",
        versioning=False,
        uniform_access=False,
        public_access_prevention="inherited",
        soft_delete_seconds=0,
        labels={"team": "other"},
        in_project=True,
    )
    found = {d.setting: d for d in bootstrap.differences(WANT, seen)}
    assert list(found) == [
        "location",
        "object versioning",
        "uniform bucket-level access",
        "public access prevention",
        "soft delete",
        "labels",
    ]
    assert (found["location"].wanted, found["location"].actual) == ("europe-west1", "us")
    assert "cannot change" in found["location"].fix and "-migrate-state" in found["location"].fix
    update = "gcloud storage buckets update gs://ledger-tfstate"
    assert found["object versioning"].fix == f"{update} --versioning"
    assert found["uniform bucket-level access"].fix == f"{update} --uniform-bucket-level-access"
    assert found["public access prevention"].fix == f"{update} --public-access-prevention"
    assert (found["soft delete"].actual, found["soft delete"].fix) == ("off", f"{update} --soft-delete-duration=30d")
    assert found["labels"].actual == "team=other"
    assert found["labels"].fix == f"{update} --update-labels=team=risk-ml,use-case=ledger"


# --- what Cloud Storage answers, and what the user reads ------------------------------------------


@pytest.mark.parametrize(
    ("error", "action", "expected", "hint"),
    [
        (
            exceptions.Forbidden("ci@acme.iam.gserviceaccount.com does not have storage.buckets.get access"),
            "get",
            "access denied",
            "another project may hold this one",
        ),
        (
            exceptions.Forbidden("does not have storage.buckets.create access to the Google Cloud project"),
            "create",
            "permission denied to create",
            "roles/storage.admin",
        ),
        (
            exceptions.NotFound("The requested project was not found."),
            "create",
            "project acme-ledger-prod does not exist",
            "gcloud projects describe acme-ledger-prod",
        ),
        (
            exceptions.BadRequest("Unknown project id: acme-ledger-prod"),
            "create",
            "does not exist",
            "gcloud projects describe",
        ),
        (
            exceptions.Forbidden("The billing account for the owning project is disabled in state absent"),
            "create",
            "billing account",
            "gcloud billing projects link acme-ledger-prod",
        ),
        (exceptions.Unauthorized("Invalid Credentials"), "get", "did not accept", bootstrap.LOGIN),
        (exceptions.TooManyRequests("rate limit"), "create", "quota or rate limit", "wait a minute"),
        (exceptions.InternalServerError("backend error"), "create", "answered 500", "again"),
    ],
)
def test_each_answer_of_cloud_storage_says_what_to_do(error: Any, action: str, expected: str, hint: str) -> None:
    found = bootstrap.api_error(error, "acme-ledger-prod", "ledger-tfstate", action)
    assert expected in found.message
    assert found.hint is not None and hint in found.hint


def test_an_answer_the_library_raises_inside_a_call_becomes_a_user_error() -> None:
    with pytest.raises(bootstrap.UserError) as caught, bootstrap.api_errors("p", "b", "create"):
        raise exceptions.Forbidden("nope")
    assert isinstance(caught.value.__cause__, exceptions.Forbidden)


# --- against the emulator -------------------------------------------------------------------------


# Cloud Storage's answers to an account that may not read a bucket (another project's, or without the
# permission) and may not create one, as the JSON API sends them (message wording as quoted in
# https://github.com/ansible-collections/google.cloud/issues/575 and
# https://github.com/GoogleCloudPlatform/deploymentmanager-samples/issues/151).
FORBIDDEN_GET = (
    "ci@acme.iam.gserviceaccount.com does not have storage.buckets.get access to the Google Cloud Storage bucket. "
    "Permission 'storage.buckets.get' denied on resource (or it may not exist)."
)
FORBIDDEN_CREATE = (
    "ci@acme.iam.gserviceaccount.com does not have storage.buckets.create access to the Google Cloud project. "
    "Permission 'storage.buckets.create' denied on resource (or it may not exist)."
)


class RecordingSession(requests.Session):
    """The client library's HTTP session, recording each request (and running `before` first, if set).

    `refuse` maps an HTTP method to a 403 message: that request is answered with Cloud Storage's 403
    JSON error instead of going to the emulator.
    """

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[tuple[str, str, Any]] = []
        self.before: Callable[[str, str], None] | None = None
        self.refuse: dict[str, str] = {}

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        body = kwargs.get("data")
        self.sent.append((method, url, json.loads(body) if body else None))
        if self.before is not None:
            self.before(method, url)
        if method in self.refuse:
            return forbidden(method, url, self.refuse[method])
        return super().request(method, url, *args, **kwargs)


def forbidden(method: str, url: str, message: str) -> requests.Response:
    """A 403 as Cloud Storage's JSON API sends it."""
    error = {
        "code": 403,
        "message": message,
        "errors": [{"message": message, "domain": "global", "reason": "forbidden"}],
    }
    response = requests.Response()
    response.status_code = 403
    response.reason = "Forbidden"
    response._content = json.dumps({"error": error}).encode()
    response.headers["Content-Type"] = "application/json; charset=UTF-8"
    response.url = url
    response.request = requests.Request(method, url).prepare()
    return response


def recording_client(session: RecordingSession) -> Callable[[str], Any]:
    from google.cloud import storage

    return lambda project: storage.Client(project=project, _http=session)


def client() -> Any:
    from google.cloud import storage

    return storage.Client(project="test")


def existing(name: str, **settings: Any) -> None:
    """A bucket that exists with these settings (insert, then PATCH: the emulator keeps what a PATCH sets)."""
    client().create_bucket(name)
    give(name, **settings)


def give(name: str, **settings: Any) -> None:
    """PATCH these settings (default: what the state needs) onto a bucket of the emulator."""
    bucket = client().get_bucket(name)
    with warnings.catch_warnings():  # Cloud Storage never changes a location; the emulator does (docstring)
        warnings.simplefilter("ignore", DeprecationWarning)
        bucket.location = settings.get("location", "EUROPE-WEST1")
    bucket.versioning_enabled = settings.get("versioning", True)
    bucket.iam_configuration.uniform_bucket_level_access_enabled = settings.get("uniform", True)
    bucket.iam_configuration.public_access_prevention = settings.get("pap", "enforced")
    bucket.soft_delete_policy.retention_duration_seconds = settings.get("soft_delete_days", 30) * DAY
    bucket.labels = settings.get("labels", dict(WANT.labels))
    bucket.patch()


def test_a_missing_bucket_is_created_in_one_request_with_every_setting(storage_emulator: str) -> None:
    session = RecordingSession()
    (outcome,) = bootstrap.bootstrap([WANT], connect=recording_client(session))
    assert outcome.status == bootstrap.CREATED
    assert client().get_bucket("ledger-tfstate").name == "ledger-tfstate"
    inserts = [(url, body) for method, url, body in session.sent if method == "POST"]
    assert len(inserts) == 1
    url, body = inserts[0]
    assert "project=acme-ledger-prod" in url
    assert body["name"] == "ledger-tfstate"
    assert body["location"] == "europe-west1"
    assert body["versioning"] == {"enabled": True}
    assert body["iamConfiguration"]["uniformBucketLevelAccess"]["enabled"] is True
    assert body["iamConfiguration"]["publicAccessPrevention"] == "enforced"
    assert int(body["softDeletePolicy"]["retentionDurationSeconds"]) == 30 * DAY
    assert body["labels"] == {"team": "risk-ml", "use-case": "ledger"}
    assert not [method for method, _, _ in session.sent if method in ("PATCH", "PUT", "DELETE")]


def test_a_dry_run_only_reads(storage_emulator: str) -> None:
    session = RecordingSession()
    (outcome,) = bootstrap.bootstrap([WANT], dry_run=True, connect=recording_client(session))
    assert outcome.status == bootstrap.WOULD_CREATE
    assert {method for method, _, _ in session.sent} == {"GET"}
    assert client().lookup_bucket("ledger-tfstate") is None


def test_a_compatible_bucket_is_reported_and_left_alone(storage_emulator: str) -> None:
    existing("ledger-tfstate", soft_delete_days=60, labels={**WANT.labels, "owner": "platform"})
    session = RecordingSession()
    (outcome,) = bootstrap.bootstrap([WANT], connect=recording_client(session))
    assert outcome.status == bootstrap.EXISTS
    assert outcome.differences == ()
    assert {method for method, _, _ in session.sent} == {"GET"}
    assert bootstrap.report(outcome)[0].endswith("exists, settings compatible; nothing to do")


def test_an_incompatible_bucket_lists_each_difference(storage_emulator: str) -> None:
    existing("ledger-tfstate", location="US", versioning=False, pap="inherited", soft_delete_days=7, labels={})
    (outcome,) = bootstrap.bootstrap([WANT])
    assert outcome.status == bootstrap.INCOMPATIBLE and outcome.failed
    assert [d.setting for d in outcome.differences] == [
        "location",
        "object versioning",
        "public access prevention",
        "soft delete",
        "labels",
    ]
    text = "\n".join(bootstrap.report(outcome))
    assert "soft delete: wanted at least 30 days, found 7 days" in text
    assert "fix: gcloud storage buckets update gs://ledger-tfstate --versioning" in text


def test_a_bucket_created_between_the_read_and_the_insert_is_checked_not_overwritten(storage_emulator: str) -> None:
    """Cloud Storage answers 409 to the insert; bootstrap reads the bucket it lost the race to."""
    session = RecordingSession()

    def someone_else_first(method: str, url: str) -> None:
        if method == "POST" and client().lookup_bucket("ledger-tfstate") is None:
            client().create_bucket("ledger-tfstate")  # the emulator's defaults: not what the state needs

    session.before = someone_else_first
    (outcome,) = bootstrap.bootstrap([WANT], connect=recording_client(session))
    assert outcome.status == bootstrap.INCOMPATIBLE
    assert [method for method, _, _ in session.sent].count("POST") == 1


def test_a_name_another_project_holds_is_taken(storage_emulator: str) -> None:
    """The read answers 403 (not ours to read), the insert 409 (the name exists): definitely taken."""
    client().create_bucket("ledger-tfstate")  # someone else's, in the emulator
    session = RecordingSession()
    session.refuse["GET"] = FORBIDDEN_GET
    (outcome,) = bootstrap.bootstrap([WANT], connect=recording_client(session))
    assert outcome.status == bootstrap.TAKEN and outcome.failed
    assert [method for method, _, _ in session.sent] == ["GET", "POST"]  # the 409 is the emulator's
    text = "\n".join(bootstrap.report(outcome))
    assert "the name belongs to a bucket of another project (bucket names are global)" in text
    assert "choose a different state bucket name (state_bucket" in text


def test_a_refused_read_and_a_refused_insert_name_the_missing_permissions(storage_emulator: str) -> None:
    session = RecordingSession()
    session.refuse.update(GET=FORBIDDEN_GET, POST=FORBIDDEN_CREATE)
    with pytest.raises(bootstrap.UserError) as caught:
        list(bootstrap.bootstrap([WANT], connect=recording_client(session)))
    error = caught.value
    assert "gs://ledger-tfstate: Cloud Storage refused both reading the bucket and creating it" in error.message
    assert "your account lacks storage.buckets.get and storage.buckets.create" in error.message
    assert error.hint is not None and "roles/storage.admin on project acme-ledger-prod" in error.hint
    assert isinstance(error.__cause__, exceptions.Forbidden)
    assert client().lookup_bucket("ledger-tfstate") is None


def test_a_refused_read_of_a_free_name_creates_it(storage_emulator: str) -> None:
    """No storage.buckets.get, but storage.buckets.create: the insert succeeds, the bucket is made."""
    session = RecordingSession()
    session.refuse["GET"] = FORBIDDEN_GET
    (outcome,) = bootstrap.bootstrap([WANT], connect=recording_client(session))
    assert outcome.status == bootstrap.CREATED
    assert client().get_bucket("ledger-tfstate").name == "ledger-tfstate"


def test_a_dry_run_with_a_refused_read_says_both_causes(storage_emulator: str) -> None:
    session = RecordingSession()
    session.refuse["GET"] = FORBIDDEN_GET
    with pytest.raises(bootstrap.UserError) as caught:
        list(bootstrap.bootstrap([WANT], dry_run=True, connect=recording_client(session)))
    assert "access denied" in caught.value.message and "storage.buckets.get" in caught.value.message
    assert caught.value.hint is not None and "Without --dry-run" in caught.value.hint
    assert {method for method, _, _ in session.sent} == {"GET"}


def test_the_command_creates_then_checks(storage_emulator: str, write: Callable[..., Path]) -> None:
    config = write(own_buckets())
    first = run("bootstrap", str(config))
    assert first.exit_code == 0, first.output
    assert "gs://acme-ledger-dev-tfstate (state of ledger-dev) in project acme-ledger-dev: created" in first.output
    assert "gs://acme-ledger-prod-tfstate (state of ledger-prod) in project acme-ledger-prod: created" in first.output
    assert "location europe-west1, object versioning, uniform bucket-level access" in first.output
    # the emulator dropped the settings of the insert (module docstring): give the buckets what Cloud Storage
    # keeps from it, and the second run finds them compatible
    for want in bootstrap.wanted_buckets(resolve(load_spec(config))):
        give(want.name, location=want.location.upper(), labels=dict(want.labels))
    again = run("bootstrap", str(config))
    assert again.exit_code == 0, again.output
    assert again.output.count("exists, settings compatible; nothing to do") == 2


def test_the_command_fails_on_an_incompatible_bucket(storage_emulator: str, write: Callable[..., Path]) -> None:
    config = write(SPEC)
    client().create_bucket("ledger-tfstate")
    result = run("bootstrap", str(config))
    assert result.exit_code == 2
    assert "exists, but its settings differ" in result.output
    assert "error: 1 state bucket cannot be used as is" in result.stderr
    assert "Traceback" not in result.output


def test_the_dry_run_command_names_what_it_would_create(storage_emulator: str, write: Callable[..., Path]) -> None:
    result = run("bootstrap", str(write(SPEC)), "--dry-run")
    assert result.exit_code == 0, result.output
    assert "gs://ledger-tfstate (state of ledger-dev, ledger-prod) in project acme-ledger-prod: would create" in (
        result.output
    )
    assert "note: environments dev, prod share this bucket" in result.output
    assert client().lookup_bucket("ledger-tfstate") is None


def test_a_dry_run_checks_a_bucket_that_exists(storage_emulator: str) -> None:
    """With credentials (the emulator's), a dry run asks Cloud Storage as before: an existing bucket is checked."""
    existing("ledger-tfstate", location="US")
    session = RecordingSession()
    (outcome,) = bootstrap.bootstrap([WANT], dry_run=True, connect=recording_client(session))
    assert outcome.status == bootstrap.INCOMPATIBLE and outcome.unchecked is None
    assert [d.setting for d in outcome.differences] == ["location"]
    assert {method for method, _, _ in session.sent} == {"GET"}


# --- a dry run without credentials or a network: a preview still ---------------------------------


def no_credentials_env(home: Path) -> dict[str, str]:
    """The environment of a machine with no Google Cloud credentials at all: no key file named, an empty
    HOME and gcloud config (no `gcloud auth application-default login` ever run), no emulator, and
    google.auth's Compute Engine metadata check off and pointed at a closed port of 127.0.0.1 (no network)."""
    import os
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = f"127.0.0.1:{probe.getsockname()[1]}"
    (home / "gcloud").mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if k not in ("GOOGLE_APPLICATION_CREDENTIALS", "STORAGE_EMULATOR_HOST")}
    env.update(
        HOME=str(home),
        CLOUDSDK_CONFIG=str(home / "gcloud"),
        NO_GCE_CHECK="true",
        GCE_METADATA_HOST=closed,
        GCE_METADATA_IP=closed,
    )
    return env


def test_a_dry_run_without_any_credentials_says_what_it_would_create(
    write: Callable[..., Path], tmp_path: Path, spawns: None
) -> None:
    """tierstack in its own process, so google.auth looks for Application Default Credentials from scratch."""
    import subprocess
    import sys

    config = write(own_buckets())
    env = no_credentials_env(tmp_path / "home")
    tierstack = str(Path(sys.executable).with_name("tierstack"))
    done = subprocess.run(
        [tierstack, "bootstrap", str(config), "--dry-run"], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr and not done.stderr
    out = done.stdout
    for name, project, region, env_name in (
        ("acme-ledger-dev-tfstate", "acme-ledger-dev", "europe-west4", "dev"),
        ("acme-ledger-prod-tfstate", "acme-ledger-prod", "europe-west1", "prod"),
    ):
        head = f"gs://{name} (state of ledger-{env_name}) in project {project}: would create (dry run, not checked"
        assert head in out
        block = out[out.index(head) :].split("\ngs://")[0]  # this bucket's lines
        settings = block.splitlines()[1]
        assert f"location {region}, object versioning, uniform bucket-level access, public access prevention " in (
            settings
        )
        assert "soft delete 30 days" in settings and f"environment={env_name}" in settings
        assert "cost-center=cc-1234" in settings
        assert f"so not checked: whether gs://{name} exists already, and whether another project holds the name" in (
            block
        )
    assert out.count("could not ask Cloud Storage: no Google Cloud credentials") == 2
    assert out.count("to check: run `gcloud auth application-default login`") == 2
    real = subprocess.run([tierstack, "bootstrap", str(config)], capture_output=True, text=True, env=env, timeout=120)
    assert real.returncode == 2  # creating needs Cloud Storage: the real run stops, naming the login
    assert "error: no Google Cloud credentials" in real.stderr and bootstrap.LOGIN in real.stderr
    assert "Traceback" not in real.stderr


def test_a_dry_run_asks_once_and_reports_every_bucket_unchecked() -> None:
    """No credentials are found for the first project: the others would wait for the same failure."""
    asked: list[str] = []

    def no_credentials(project: str) -> Any:
        asked.append(project)
        with bootstrap.api_errors(project, None, "connect"):
            from google.auth import exceptions as auth_exceptions

            raise auth_exceptions.DefaultCredentialsError("Your default credentials were not found.")

    other = dataclasses.replace(WANT, name="ledger-dev-tfstate", project="acme-ledger-dev")
    outcomes = list(bootstrap.bootstrap([other, WANT], dry_run=True, connect=no_credentials))
    assert asked == ["acme-ledger-dev"]
    assert [(o.bucket.name, o.status, o.failed) for o in outcomes] == [
        ("ledger-dev-tfstate", bootstrap.WOULD_CREATE, False),
        ("ledger-tfstate", bootstrap.WOULD_CREATE, False),
    ]
    assert all(o.unchecked is not None and "no Google Cloud credentials" in o.unchecked.message for o in outcomes)
    with pytest.raises(bootstrap.Unasked):  # without --dry-run nothing can be created: the run stops
        list(bootstrap.bootstrap([other, WANT], connect=no_credentials))


def test_a_dry_run_with_an_unreachable_server_is_still_a_preview(
    write: Callable[..., Path], monkeypatch: pytest.MonkeyPatch, storage_emulator_server: str
) -> None:
    import socket

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", closed)
    monkeypatch.setattr(bootstrap, "TIMEOUT", 0.5)
    result = run("bootstrap", str(write(SPEC)), "--dry-run")
    assert result.exit_code == 0, result.output
    assert (
        "gs://ledger-tfstate (state of ledger-dev, ledger-prod) in project acme-ledger-prod: would create (dry run, "
        in (result.output)
    )
    assert f"could not ask Cloud Storage: cannot reach the storage emulator at {closed}" in result.output
    assert "to check: check the network connection and any proxy (HTTPS_PROXY)" in result.output


# --- a bad environment ----------------------------------------------------------------------------


def test_missing_credentials_name_the_login_command(
    write: Callable[..., Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """No emulator: the client asks google.auth for Application Default Credentials, and the file is missing."""
    monkeypatch.delenv("STORAGE_EMULATOR_HOST", raising=False)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "no-such-key.json"))
    result = run("bootstrap", str(write(SPEC)))
    assert result.exit_code == 2
    assert "error: no Google Cloud credentials:" in result.stderr
    assert "no-such-key.json" in result.stderr
    assert "gcloud auth application-default login" in result.stderr
    assert "Traceback" not in result.output


def test_an_unreachable_server_is_named(
    write: Callable[..., Path], monkeypatch: pytest.MonkeyPatch, storage_emulator_server: str
) -> None:
    import socket

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", closed)
    monkeypatch.setattr(bootstrap, "TIMEOUT", 0.5)
    result = run("bootstrap", str(write(SPEC)))
    assert result.exit_code == 2
    assert f"cannot reach the storage emulator at {closed}" in result.stderr
    assert "Traceback" not in result.output


def test_help_has_examples() -> None:
    result = run("bootstrap", "--help")
    assert result.exit_code == 0
    assert "Examples:" in result.output and "--dry-run" in result.output
