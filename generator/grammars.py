"""Values that end up inside another language or another API, checked against its grammar first.

Each check returns the value or raises ValueError with a message for the person
who wrote it (pydantic and the spec loader add the file, line and field).
A value interpolated into a CEL condition, a Monitoring filter or a cron job
must be valid there before it is written, or a crafted value could change
what the condition means (`acme/x' || true || 'y`).
"""

from __future__ import annotations

import math
import re
from functools import cache

GITHUB_OWNER = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,37}[A-Za-z0-9])?"
GITHUB_REPO = r"[A-Za-z0-9._-]{1,100}"
REPOSITORY_RE = re.compile(rf"^{GITHUB_OWNER}/{GITHUB_REPO}$")
# what may follow `repo:OWNER/NAME:` in a GitHub OIDC subject (environment:prod, ref:refs/heads/main, ...)
SUBJECT_RE = re.compile(
    r"^(environment:[A-Za-z0-9._-]{1,255}|ref:refs/(heads|tags)/[A-Za-z0-9._/-]{1,255}"
    r"|pull_request|job_workflow_ref:[A-Za-z0-9._/@-]{1,255})$"
)
EMAIL_RE = re.compile(
    r"^[A-Za-z0-9.!#$%&*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"
)
# A project id, the one pattern the full names below that hold one are built from
PROJECT_ID = r"[a-z][a-z0-9-]{4,28}[a-z0-9]"
PROJECT_RE = re.compile(rf"^{PROJECT_ID}$")
KMS_KEY_RE = re.compile(
    rf"^projects/{PROJECT_ID}/locations/[a-z0-9-]+/keyRings/[A-Za-z0-9_-]{{1,63}}/cryptoKeys/[A-Za-z0-9_-]{{1,63}}$"
)
# A VPC network's full name. Vertex AI endpoints peer with `projects/PROJECT_NUMBER/global/networks/NAME`
# (NETWORK_RE also takes an id there); Compute resources such as Workbench take the project id.
NETWORK_RE = re.compile(r"^projects/[a-z0-9-]{1,30}/global/networks/[a-z]([a-z0-9-]{0,61}[a-z0-9])?$")
NETWORK_BY_PROJECT_ID_RE = re.compile(rf"^projects/{PROJECT_ID}/global/networks/[a-z]([-a-z0-9]{{0,61}}[a-z0-9])?$")
# Cloud Billing: a billing account id and an ISO 4217 currency code
BILLING_RE = re.compile(r"^[0-9A-F]{6}-[0-9A-F]{6}-[0-9A-F]{6}$")
CURRENCY_RE = re.compile(r"^[A-Z]{3}$")
THRESHOLD_RANGE = (0, 10)  # a budget threshold, a fraction of the amount: (0, 10], 1.0 is 100%
# Artifact Registry repository ids: lowercase letters, digits and hyphens, starting with a letter
REPOSITORY_ID_RE = re.compile(r"^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$")

# unix-cron, as Cloud Scheduler reads it: minute hour day-of-month month day-of-week
CRON_FIELDS = (("minute", 0, 59), ("hour", 0, 23), ("day of month", 1, 31), ("month", 1, 12), ("day of week", 0, 7))
MONTHS = {
    m: i
    for i, m in enumerate(("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"), start=1)
}
DAYS = {d: i for i, d in enumerate(("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"))}


BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{1,61}[a-z0-9]$")


def check_bucket_name(value: str) -> str:
    """GCS bucket naming: 3-63 of [a-z0-9_-], alphanumeric at both ends, no 'goog' prefix, no 'google' inside."""
    if not BUCKET_RE.fullmatch(value) or value.startswith("goog") or "google" in value:
        raise ValueError(
            f"'{value}' is not a GCS bucket name: 3-63 lowercase letters, digits, '-' and '_', "
            "starting and ending with a letter or digit, not starting with 'goog' and "
            "without 'google'"
        )
    return value


def check_repository(value: str) -> str:
    if not REPOSITORY_RE.fullmatch(value):
        raise ValueError(f"'{value}' is not a GitHub repository: write OWNER/NAME (letters, digits, '-', '.', '_')")
    return value


def check_subject(value: str) -> str:
    if not SUBJECT_RE.fullmatch(value):
        raise ValueError(
            f"'{value}' is not a GitHub OIDC subject suffix such as environment:prod or ref:refs/heads/main"
        )
    return value


def check_email(value: str) -> str:
    if not EMAIL_RE.fullmatch(value) or len(value) > 254:
        raise ValueError(f"'{value}' is not an email address such as oncall@example.com")
    return value


def check_kms_key(value: str) -> str:
    if not KMS_KEY_RE.fullmatch(value):
        raise ValueError(
            f"'{value}' is not a Cloud KMS key name: projects/PROJECT/locations/LOCATION/keyRings/RING/cryptoKeys/KEY"
        )
    return value


def check_network(value: str) -> str:
    if not NETWORK_RE.fullmatch(value):
        raise ValueError(f"'{value}' is not a VPC network name: projects/PROJECT_NUMBER/global/networks/NAME")
    return value


def check_repository_id(value: str) -> str:
    if not REPOSITORY_ID_RE.fullmatch(value):
        raise ValueError(
            f"'{value}' is not an Artifact Registry repository id: lowercase letters, digits and "
            "hyphens, starting with a letter, at most 63"
        )
    return value


def check_billing_account(value: str) -> str:
    if not BILLING_RE.fullmatch(value):
        raise ValueError(f"'{value}' is not a billing account id; it looks like 012345-6789AB-CDEF01")
    return value


def check_currency(value: str) -> str:
    if not CURRENCY_RE.fullmatch(value):
        raise ValueError(f"'{value}' is not an ISO 4217 currency code such as USD or EUR")
    return value


def check_budget_amount(value: float) -> float:
    """A monthly budget: a finite number above 0 (Cloud Billing takes no other)."""
    if not math.isfinite(value):
        raise ValueError(f"a budget must be a number more than 0, not {value:g}")
    if value <= 0:
        raise ValueError(f"a budget must be more than 0, not {value:g}")
    return value


def check_thresholds(values: list[float]) -> list[float]:
    """Budget alert thresholds, fractions of the amount in (0, 10]: 0.5 is 50%, not 50."""
    low, high = THRESHOLD_RANGE
    for value in values:
        if not low < value <= high:
            raise ValueError(f"threshold {value:g} is outside ({low}, {high}]; write 0.5 for 50%")
    return values


def check_finite(value: float) -> float:
    if not math.isfinite(value):
        raise ValueError(f"{value} is not a finite number")
    return value


@cache
def _zones() -> frozenset[str]:
    from zoneinfo import available_timezones

    return frozenset(available_timezones())


def check_time_zone(value: str) -> str:
    """An IANA time zone name (Cloud Scheduler's time_zone), from the tz database Python ships or the system's."""
    if value not in _zones():
        raise ValueError(f"'{value}' is not an IANA time zone such as Etc/UTC or Europe/Amsterdam")
    return value


def _cron_value(text: str, name: str, low: int, high: int) -> int:
    names = MONTHS if name == "month" else DAYS if name == "day of week" else {}
    number = names.get(text.upper()) if text.upper() in names else int(text) if text.isdigit() else None
    if number is None or not low <= number <= high:
        raise ValueError(f"'{text}' is not a valid {name} ({low}-{high})")
    return number


def _cron_field(text: str, name: str, low: int, high: int) -> None:
    for part in text.split(","):
        base, _, step = part.partition("/")
        if step and (not step.isdigit() or int(step) == 0):
            raise ValueError(f"'/{step}' is not a step in the {name} field")
        if base == "*":
            continue
        first, dash, last = base.partition("-")
        start = _cron_value(first, name, low, high)
        if dash and _cron_value(last, name, low, high) < start:
            raise ValueError(f"the range '{base}' in the {name} field runs backwards")
        if step and not dash:
            raise ValueError(f"'{part}': a step needs '*' or a range in the {name} field")


def check_cron(value: str) -> str:
    """Five unix-cron fields with their ranges (Cloud Scheduler), e.g. '0 3 * * 1'."""
    fields = value.split()
    if len(fields) != 5:
        raise ValueError(f"'{value}' is not a cron expression: five fields, e.g. '0 3 * * 1' (03:00 every Monday)")
    try:
        for text, (name, low, high) in zip(fields, CRON_FIELDS, strict=True):
            _cron_field(text, name, low, high)
    except ValueError as error:
        raise ValueError(f"'{value}' is not a valid cron expression: {error}") from None
    return value


# Terraform reads "${" as the start of an interpolation and "%{" as a template directive in every string of
# a configuration, JSON included; "$${" and "%%{" are its escapes. tierstack writes config values into
# Terraform JSON as they are, so a value holding either would run as an expression in every plan, the
# pull-request plan job's among them. No setting needs one: such a value is refused where it was written.
TERRAFORM_TEMPLATE_STARTS = ("${", "%{")


def terraform_template_start(value: str) -> str | None:
    """The sequence in `value` that Terraform would read as an expression or a directive, if any."""
    return next((start for start in TERRAFORM_TEMPLATE_STARTS if start in value), None)


def template_problems(data: object, path: tuple[str | int, ...] = ()) -> list[tuple[tuple[str | int, ...], str]]:
    """(path, message) for every string, map key included, that Terraform would not read literally."""
    found: list[tuple[tuple[str | int, ...], str]] = []
    if isinstance(data, dict):
        for key, value in data.items():
            found += template_problems(key, (*path, key)) if isinstance(key, str) else []
            found += template_problems(value, (*path, key))
    elif isinstance(data, (list, tuple)):
        for index, value in enumerate(data):
            found += template_problems(value, (*path, index))
    elif isinstance(data, str) and (start := terraform_template_start(data)):
        found.append(
            (
                path,
                f"'{start}' starts a Terraform {'expression' if start == '${' else 'template directive'}: "
                "Terraform would evaluate it in every plan instead of reading the value as written; "
                f"remove the '{start}' (tierstack passes config values to Terraform literally, never as code)",
            )
        )
    return found
