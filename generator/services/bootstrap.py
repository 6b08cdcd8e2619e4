"""`tierstack bootstrap`: the Terraform state bucket of each environment, before the first `terraform init`.

Terraform cannot create the bucket its own GCS backend keeps state in, so
bootstrap does, with google-cloud-storage: in the environment's project and
region, with object versioning, uniform bucket-level access, public access
prevention enforced, soft delete, and the environment's cost labels. The
bucket is the one each stack's backend names, from the one rule that names it
(`stacks.state_bucket_name`: `state.bucket`, else `<name>-tfstate`); a test checks
it against every example's generated backend.

Running it again changes nothing: a bucket that exists with compatible
settings is reported as such; one whose settings differ is an error listing
each difference and the command that fixes it; a name another project holds
(bucket names are global) says so. Cloud Storage answers a read of another
project's bucket with 403, as it answers an account without storage.buckets.get;
bootstrap then tries the insert, whose answer is definite: 409, the name is
taken; 403, a permission is missing (both are named). The client library is imported only here,
inside the functions that call the API (`tierstack --help` must not load it),
and every failure of the API or of the credentials becomes a UserError naming
the next command to run.

`--dry-run` is a preview, so it works without credentials and offline: what each bucket would be
(name, project, location, every setting, labels) comes from tierstack.yaml alone. Only whether the
bucket exists already, and whether another project holds the name, needs Cloud Storage; when it
cannot be asked (no credentials found, credentials that cannot be refreshed, no network), the dry
run says so per bucket, with the command that would let it check, and exits 0. A real run stops
on the same problem, since it cannot create anything without asking.
"""

from __future__ import annotations

import importlib
import re
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from tierstack.generator.core.errors import UserError, did_you_mean
from tierstack.generator.plan.resolve import Resolved, ResolvedEnvironment
from tierstack.generator.synth.stacks import state_bucket_name

SOFT_DELETE_DAYS = 30  # a deleted or overwritten state object can be restored this long (Cloud Storage: 7 to 90)
MIN_SOFT_DELETE_DAYS, MAX_SOFT_DELETE_DAYS = 7, 90
DAY = 24 * 60 * 60
TIMEOUT = 30.0  # seconds for one API call, retries included
LOGIN = "gcloud auth application-default login"
ENFORCED = "enforced"  # google.cloud.storage.constants.PUBLIC_ACCESS_PREVENTION_ENFORCED


# --- what each environment needs -----------------------------------------------------------------


@dataclass(frozen=True)
class StateBucket:
    """A state bucket as the stacks need it: where it lives, its settings, which stacks keep state in it."""

    name: str
    project: str
    location: str  # the region, as tierstack.yaml writes it (Cloud Storage reports it upper-case)
    labels: Mapping[str, str]
    environments: tuple[str, ...]  # in promotion order
    prefixes: tuple[str, ...]  # the stacks' state prefixes (the GCS backend's `prefix`)
    soft_delete_days: int = SOFT_DELETE_DAYS
    note: str | None = None  # how a bucket shared by environments in several projects was placed

    @property
    def url(self) -> str:
        return f"gs://{self.name}"


def chosen_environments(resolved: Resolved, environments: Sequence[str] | None) -> list[ResolvedEnvironment]:
    """The environments named (all when none), in promotion order; an unknown name is a UserError."""
    known = list(resolved.environments)
    for name in environments or []:
        if name not in resolved.environments:
            raise UserError(
                f"no environment '{name}' in this use case",
                file=str(resolved.loaded.path),
                field="--env",
                hint=did_you_mean(name, known) or "environments: " + ", ".join(known),
            )
    return [env for env in resolved.environments.values() if not environments or env.name in environments]


def wanted_buckets(
    resolved: Resolved, environments: Sequence[str] | None = None, soft_delete_days: int = SOFT_DELETE_DAYS
) -> list[StateBucket]:
    """One StateBucket per bucket name the chosen environments' stacks use, in promotion order.

    Environments that resolve to the same bucket (the default `<name>-tfstate` is one bucket for
    all, each stack under its own prefix) share it. A bucket lives in one project: when the sharing
    environments are in several, it goes to the last one in promotion order (production, the most
    restricted project), carries only the labels they all have, and the StateBucket's note says so.
    """
    groups: dict[str, list[ResolvedEnvironment]] = {}
    for env in chosen_environments(resolved, environments):
        groups.setdefault(state_bucket_name(resolved, env), []).append(env)
    return [_bucket(name, envs, soft_delete_days) for name, envs in groups.items()]


def _bucket(name: str, envs: list[ResolvedEnvironment], soft_delete_days: int) -> StateBucket:
    home = envs[-1]
    labels = dict(home.settings["labels"])
    for env in envs[:-1]:
        labels = {k: v for k, v in labels.items() if env.settings["labels"].get(k) == v}
    projects = list(dict.fromkeys(env.project for env in envs))
    note = None
    if len(projects) > 1:
        note = (
            f"environments {', '.join(e.name for e in envs)} share this bucket but live in projects "
            f"{', '.join(projects)}: it goes to {home.project} ({home.name}, the last in promotion order). "
            "To keep each environment's state in its own project, give each its own bucket: "
            "environments.<env>.overrides.state.bucket in tierstack.yaml, then `tierstack generate`"
        )
    return StateBucket(
        name=name,
        project=home.project,
        location=home.region,
        labels=labels,
        environments=tuple(e.name for e in envs),
        prefixes=tuple(e.stack for e in envs),
        soft_delete_days=soft_delete_days,
        note=note,
    )


# --- what Cloud Storage has, and how it differs --------------------------------------------------


@dataclass(frozen=True)
class Observed:
    """An existing bucket's settings, as Cloud Storage reports them."""

    location: str
    versioning: bool
    uniform_access: bool
    public_access_prevention: str  # "enforced", "inherited" (or the older "unspecified")
    soft_delete_seconds: int  # 0: soft delete is off
    labels: Mapping[str, str]
    in_project: bool  # listed among the buckets of the project the stacks need it in


@dataclass(frozen=True)
class Difference:
    setting: str
    wanted: str
    actual: str
    fix: str  # the command, or what to do when nothing can change it


def differences(want: StateBucket, seen: Observed) -> list[Difference]:
    """What keeps an existing bucket from being the state bucket `want` describes (empty: compatible).

    Stricter is compatible: a longer soft delete, extra labels. A location cannot change, so a bucket
    in another location needs another name.
    """
    update = f"gcloud storage buckets update {want.url}"
    found = []
    if seen.location.lower() != want.location.lower():
        found.append(
            Difference(
                "location",
                want.location,
                seen.location.lower(),
                "a bucket's location cannot change: name another state bucket (state_bucket in tierstack.yaml), "
                "run `tierstack generate` and `tierstack bootstrap`, then move the state with "
                "`terraform init -migrate-state` in each stack",
            )
        )
    if not seen.versioning:
        found.append(Difference("object versioning", "on", "off", f"{update} --versioning"))
    if not seen.uniform_access:
        found.append(Difference("uniform bucket-level access", "on", "off", f"{update} --uniform-bucket-level-access"))
    if seen.public_access_prevention != ENFORCED:
        found.append(
            Difference(
                "public access prevention",
                ENFORCED,
                seen.public_access_prevention or "inherited",
                f"{update} --public-access-prevention",
            )
        )
    wanted_seconds = want.soft_delete_days * DAY
    if seen.soft_delete_seconds < wanted_seconds:
        found.append(
            Difference(
                "soft delete",
                f"at least {want.soft_delete_days} days",
                _duration(seen.soft_delete_seconds),
                f"{update} --soft-delete-duration={want.soft_delete_days}d",
            )
        )
    missing = {k: v for k, v in want.labels.items() if seen.labels.get(k) != v}
    if missing:
        found.append(
            Difference(
                "labels",
                ", ".join(f"{k}={v}" for k, v in sorted(missing.items())),
                ", ".join(f"{k}={seen.labels[k]}" for k in sorted(missing) if k in seen.labels) or "not set",
                f"{update} --update-labels=" + ",".join(f"{k}={v}" for k, v in sorted(missing.items())),
            )
        )
    return found


def _duration(seconds: int) -> str:
    if seconds <= 0:
        return "off"
    days, rest = divmod(seconds, DAY)
    return f"{days} days" if not rest else f"{seconds} seconds"


# --- the outcome ---------------------------------------------------------------------------------

CREATED, EXISTS, WOULD_CREATE, INCOMPATIBLE, TAKEN = "created", "exists", "would create", "incompatible", "taken"


@dataclass
class Unasked(UserError):
    """Cloud Storage could not be asked at all: no credentials, credentials it cannot refresh, no network.

    A real run stops on it; a dry run reports each bucket without the checks that need the API.
    """


@dataclass(frozen=True)
class Outcome:
    bucket: StateBucket
    status: str  # CREATED, EXISTS, WOULD_CREATE (--dry-run), INCOMPATIBLE, TAKEN
    differences: tuple[Difference, ...] = field(default=())
    unchecked: Unasked | None = None  # a dry run that could not ask Cloud Storage: why

    @property
    def failed(self) -> bool:
        return self.status in (INCOMPATIBLE, TAKEN)


def settings_text(want: StateBucket) -> str:
    labels = ", ".join(f"{k}={v}" for k, v in sorted(want.labels.items())) or "none"
    return (
        f"location {want.location}, object versioning, uniform bucket-level access, public access prevention "
        f"enforced, soft delete {want.soft_delete_days} days, labels {labels}"
    )


def report(outcome: Outcome) -> list[str]:
    """The lines `tierstack bootstrap` prints for one bucket."""
    want = outcome.bucket
    where = f"{want.url} (state of {', '.join(want.prefixes)}) in project {want.project}"
    if outcome.unchecked is not None:
        return [*_unchecked_report(outcome.unchecked, where, want), *_note(want)]
    lines = {
        CREATED: [f"{where}: created", f"  {settings_text(want)}"],
        WOULD_CREATE: [f"{where}: would create (dry run)", f"  {settings_text(want)}"],
        EXISTS: [f"{where}: exists, settings compatible; nothing to do"],
        TAKEN: [
            f"{where}: the name belongs to a bucket of another project (bucket names are global)",
            "  choose a different state bucket name (state_bucket, or environments.<env>.overrides.state.bucket, "
            "in tierstack.yaml), then run `tierstack generate` and `tierstack bootstrap` again",
        ],
        INCOMPATIBLE: [f"{where}: exists, but its settings differ from what the state needs:"],
    }[outcome.status]
    for diff in outcome.differences:
        lines.append(f"  {diff.setting}: wanted {diff.wanted}, found {diff.actual}")
        lines.append(f"    fix: {diff.fix}")
    return [*lines, *_note(want)]


def _note(want: StateBucket) -> list[str]:
    return [f"  note: {want.note}"] if want.note else []


def _unchecked_report(why: Unasked, where: str, want: StateBucket) -> list[str]:
    """A dry run's bucket when Cloud Storage could not be asked: what it would create, what it could not check."""
    return [
        f"{where}: would create (dry run, not checked with Cloud Storage)",
        f"  {settings_text(want)}",
        f"  could not ask Cloud Storage: {why.message}",
        f"  so not checked: whether {want.url} exists already, and whether another project holds the name "
        "(bucket names are global)",
        f"  to check: {why.hint or 'run `tierstack bootstrap --dry-run` again'}",
    ]


# --- the API -------------------------------------------------------------------------------------

Connect = Callable[[str], Any]  # project -> a google.cloud.storage.Client for it


def connect(project: str) -> Any:
    """A Cloud Storage client for `project`, with Application Default Credentials.

    With STORAGE_EMULATOR_HOST set, the library talks to that server with anonymous credentials.
    """
    storage = storage_module()
    with api_errors(project, None, "connect"):
        return storage.Client(project=project)


def storage_module() -> Any:
    """google.cloud.storage, imported without google.api_core's notice about the Python version."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*Python version.*", category=FutureWarning)
        return importlib.import_module("google.cloud.storage")  # no py.typed in its wheel: typed Any here


def _retry() -> Any:
    return importlib.import_module("google.cloud.storage.retry").DEFAULT_RETRY.with_timeout(TIMEOUT)


def ensure(client: Any, want: StateBucket, dry_run: bool = False) -> Outcome:
    """Create the bucket, or check the one that exists; with dry_run, read only."""
    existing = _get(client, want)
    if isinstance(existing, Denied):
        return _after_denied_read(client, want, existing, dry_run)
    if existing is None:
        if dry_run:
            return Outcome(want, WOULD_CREATE)
        if _create(client, want):
            return Outcome(want, CREATED)
        existing = _get_after_conflict(client, want)  # 409: it appeared meanwhile, or another project has it
        if existing is None:
            return Outcome(want, TAKEN)
    seen = observe(existing, _in_project(client, want))
    if not seen.in_project:
        return Outcome(want, TAKEN)
    found = differences(want, seen)
    return Outcome(want, INCOMPATIBLE if found else EXISTS, tuple(found))


def observe(bucket: Any, in_project: bool) -> Observed:
    """An Observed from a google.cloud.storage Bucket loaded from the API."""
    iam = bucket.iam_configuration
    policy = bucket.soft_delete_policy
    return Observed(
        location=str(bucket.location or ""),
        versioning=bool(bucket.versioning_enabled),
        uniform_access=bool(iam.uniform_bucket_level_access_enabled),
        public_access_prevention=str(iam.public_access_prevention or "inherited"),
        soft_delete_seconds=int(policy.retention_duration_seconds or 0) if policy is not None else 0,
        labels={str(k): str(v) for k, v in (bucket.labels or {}).items()},
        in_project=in_project,
    )


@dataclass(frozen=True)
class Denied:
    """A 403 on reading the bucket: another project holds the name, or the account lacks storage.buckets.get."""

    error: Any  # the google.api_core Forbidden


def _get(client: Any, want: StateBucket) -> Any:
    """The bucket, None when no bucket has the name, or Denied on a 403 (billing 403s stay errors)."""
    from google.api_core import exceptions

    with api_errors(want.project, want.name, "get"):
        try:
            return client.get_bucket(want.name, timeout=TIMEOUT, retry=_retry())
        except exceptions.NotFound:
            return None
        except exceptions.Forbidden as error:
            if "billing" in _first_line(getattr(error, "message", None) or error).lower():
                raise
            return Denied(error)


def _after_denied_read(client: Any, want: StateBucket, denied: Denied, dry_run: bool) -> Outcome:
    """A 403 on the read does not say whose the name is; the insert does.

    Cloud Storage answers an insert of a name that exists with 409 (another project holds it: the
    read was refused because it is not ours) and an insert the account may not make with 403 (a
    permission is missing). A dry run cannot ask, so it reports the refused read.
    """
    from google.api_core import exceptions

    if dry_run:
        raise api_error(denied.error, want.project, want.name, "get")
    try:
        created = _create(client, want)
    except UserError as error:
        if isinstance(error.__cause__, exceptions.Forbidden):
            raise _missing_permissions(want, denied.error, error.__cause__) from error.__cause__
        raise
    return Outcome(want, CREATED if created else TAKEN)


def _missing_permissions(want: StateBucket, read: Any, insert: Any) -> UserError:
    """Both the read and the insert answered 403: name the permissions Cloud Storage refused."""
    refused = []
    for error, default in ((read, "storage.buckets.get"), (insert, "storage.buckets.create")):
        named = re.search(r"storage\.buckets\.\w+", _first_line(getattr(error, "message", None) or error))
        refused.append(named.group(0) if named else default)
    permissions = " and ".join(dict.fromkeys(refused))
    return UserError(
        f"{want.url}: Cloud Storage refused both reading the bucket and creating it in project {want.project}: "
        f"your account lacks {permissions} ({_first_line(getattr(insert, 'message', None) or insert)})",
        hint=f"ask for roles/storage.admin on project {want.project} (it has storage.buckets.get and "
        f"storage.buckets.create: `gcloud projects add-iam-policy-binding {want.project} --member=user:YOU "
        "--role=roles/storage.admin`), or run as an account that has it",
    )


def _get_after_conflict(client: Any, want: StateBucket) -> Any:
    """After a 409 on create: the bucket if this account can read it, None when another project holds it."""
    from google.api_core import exceptions

    with api_errors(want.project, want.name, "get"):
        try:
            return client.get_bucket(want.name, timeout=TIMEOUT, retry=_retry())
        except (exceptions.NotFound, exceptions.Forbidden):
            return None


def _in_project(client: Any, want: StateBucket) -> bool:
    """Whether the bucket is one of the project's (a readable bucket may belong to another project)."""
    with api_errors(want.project, want.name, "list"):
        listed = client.list_buckets(project=want.project, prefix=want.name, timeout=TIMEOUT, retry=_retry())
        return any(bucket.name == want.name for bucket in listed)


def _create(client: Any, want: StateBucket) -> bool:
    """Create the bucket with every setting in one request; False when the name exists already (409)."""
    from google.api_core import exceptions

    bucket = client.bucket(want.name)
    bucket.versioning_enabled = True
    bucket.iam_configuration.uniform_bucket_level_access_enabled = True
    bucket.iam_configuration.public_access_prevention = ENFORCED
    bucket.soft_delete_policy.retention_duration_seconds = want.soft_delete_days * DAY
    bucket.labels = dict(want.labels)
    with api_errors(want.project, want.name, "create"):
        try:
            client.create_bucket(bucket, project=want.project, location=want.location, timeout=TIMEOUT)
        except exceptions.Conflict:
            return False
    return True


def bootstrap(buckets: Sequence[StateBucket], dry_run: bool = False, connect: Connect = connect) -> Iterator[Outcome]:
    """Ensure each bucket in turn, one client per project; an error of the API or the credentials stops the run.

    A dry run that cannot ask Cloud Storage (Unasked) goes on without it: that bucket and the ones after
    are reported unchecked with the same reason (asking again would only wait for the same failure).
    """
    clients: dict[str, Any] = {}
    unasked: Unasked | None = None
    for want in buckets:
        if unasked is None:
            try:
                if want.project not in clients:
                    clients[want.project] = connect(want.project)
                outcome = ensure(clients[want.project], want, dry_run)
            except Unasked as error:
                if not dry_run:
                    raise
                unasked = error
        yield outcome if unasked is None else Outcome(want, WOULD_CREATE, unchecked=unasked)


# --- errors --------------------------------------------------------------------------------------


@contextmanager
def api_errors(project: str, bucket: str | None, action: str) -> Iterator[None]:
    """Turn what the client library raises into a UserError naming the next command (the cause is kept)."""
    from google.api_core import exceptions
    from google.auth import exceptions as auth_exceptions

    try:
        yield
    except auth_exceptions.DefaultCredentialsError as error:
        raise Unasked(
            f"no Google Cloud credentials: {_first_line(error)}",
            hint=f"run `{LOGIN}` (or set GOOGLE_APPLICATION_CREDENTIALS to a service account key file), "
            "then run tierstack again",
        ) from error
    except auth_exceptions.RefreshError as error:
        raise Unasked(
            f"the Google Cloud credentials could not be refreshed: {_first_line(error)}",
            hint=f"they expired or were revoked: run `{LOGIN}`, then run tierstack again",
        ) from error
    except auth_exceptions.TransportError as error:
        raise _unreachable(error) from error
    except exceptions.GoogleAPICallError as error:
        raise api_error(error, project, bucket, action) from error
    except exceptions.RetryError as error:
        raise _unreachable(error.cause or error) from error
    except OSError as error:  # requests' ConnectionError and timeouts are OSErrors
        raise _unreachable(error) from error


def api_error(error: Any, project: str, bucket: str | None, action: str) -> UserError:
    """The UserError for an error Cloud Storage answered with, by status code and action."""
    code = getattr(error, "code", None)
    message = _first_line(getattr(error, "message", None) or error)
    url = f"gs://{bucket}" if bucket else f"project {project}"
    role = (
        f"ask for roles/storage.admin on project {project} (`gcloud projects add-iam-policy-binding {project} "
        "--member=user:YOU --role=roles/storage.admin`), or run as an account that has it"
    )
    if code == 401:
        return UserError(f"{url}: Cloud Storage did not accept the credentials: {message}", hint=f"run `{LOGIN}`")
    lowered = message.lower()
    if code == 403 and "billing" in lowered:
        return UserError(
            f"{url}: {message}",
            hint=f"link an open billing account to project {project}: "
            f"`gcloud billing projects link {project} --billing-account=ACCOUNT_ID`",
        )
    if (code == 404 and action == "create") or (code == 400 and "project" in lowered):
        return UserError(
            f"project {project} does not exist, or your account cannot see it: {message}",
            hint=f"check the environment's project in tierstack.yaml, and `gcloud projects describe {project}`",
        )
    if code == 403 and action == "get":
        return UserError(
            f"{url}: access denied ({message})",
            hint="bucket names are global: another project may hold this one (choose another state_bucket "
            f"in tierstack.yaml, then `tierstack generate`), or your account may lack storage.buckets.get: {role}. "
            "Without --dry-run, bootstrap tries to create it, and Cloud Storage's answer tells which",
        )
    if code == 403:
        return UserError(f"{url}: permission denied to {action} ({message})", hint=role)
    if code == 429:
        return UserError(
            f"{url}: a Cloud Storage quota or rate limit was hit: {message}",
            hint="wait a minute and run `tierstack bootstrap` again",
        )
    return UserError(
        f"{url}: Cloud Storage answered {code}: {message}",
        hint="run `tierstack bootstrap` again; if it persists, check https://status.cloud.google.com",
    )


def _unreachable(error: BaseException) -> Unasked:
    import os

    emulator = os.environ.get("STORAGE_EMULATOR_HOST")
    where = f"the storage emulator at {emulator} (STORAGE_EMULATOR_HOST)" if emulator else "Cloud Storage"
    return Unasked(
        f"cannot reach {where}: {_first_line(error)}",
        hint="check the network connection and any proxy (HTTPS_PROXY), then run tierstack again",
    )


def _first_line(error: object) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
