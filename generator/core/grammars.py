"""Values that end up inside another language or another API, checked against its grammar first.

Each check returns the value or raises ValueError with a message for the person
who wrote it (pydantic and the spec loader add the file, line and field).
A value interpolated into a CEL condition, a Monitoring filter or a cron job
must be valid there before it is written, or a crafted value could change
what the condition means (`acme/x' || true || 'y`).

Every grammar is a regular expression made by `grammar` (ASCII only: Python's `\\d`
and `\\w` also take Arabic-Indic digits and other scripts, and int() reads them) and
checked with `fullmatch` (a `$` also matches before a final newline, so `match`
would take "x\n", the value a YAML block scalar gives). Values are quoted in
messages by `shown`, which writes a newline or a tab as `\n`, `\t`.
"""

from __future__ import annotations

import math
import re
from functools import cache


def grammar(pattern: str) -> re.Pattern[str]:
    """A grammar for whole values: ASCII classes only. Use it with .fullmatch (tests/test_untrusted_input.py checks)."""
    return re.compile(pattern, re.ASCII)


def matches(pattern: re.Pattern[str], value: object) -> bool:
    """Whether `value` is a string that `pattern` matches as a whole (a trailing newline is not ignored)."""
    return isinstance(value, str) and pattern.fullmatch(value) is not None


def shown(value: object) -> str:
    """A value quoted for a message, with the whitespace that would hide in it written as escapes."""
    text = str(value)
    for char, escape in (("\n", "\\n"), ("\r", "\\r"), ("\t", "\\t")):
        text = text.replace(char, escape)
    return f"'{text}'"


def ascii_int(text: str) -> int | None:
    """The number ASCII digits write, else None: int() also reads '٣' and '３', which no API of Google's takes."""
    return int(text) if text.isascii() and text.isdigit() else None


GITHUB_OWNER = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,37}[A-Za-z0-9])?"
GITHUB_REPO = r"[A-Za-z0-9._-]{1,100}"
REPOSITORY_RE = grammar(rf"^{GITHUB_OWNER}/{GITHUB_REPO}$")
# a workflow file in .github/workflows/: a name, no folder (GitHub reads only that folder)
WORKFLOW_FILE_RE = grammar(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}\.ya?ml$")
# what may follow `repo:OWNER/NAME:` in a GitHub OIDC subject (environment:prod, ref:refs/heads/main, ...)
SUBJECT_RE = grammar(
    r"^(environment:[A-Za-z0-9._-]{1,255}|ref:refs/(heads|tags)/[A-Za-z0-9._/-]{1,255}"
    r"|pull_request|job_workflow_ref:[A-Za-z0-9._/@-]{1,255})$"
)
EMAIL_RE = grammar(
    r"^[A-Za-z0-9.!#$%&*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"
)
# A project id, the one pattern the full names below that hold one are built from. Resource Manager also
# refuses ids that hold a restricted string ("Cannot contain restricted strings, such as google, null,
# undefined, and ssl", "Creating and managing projects"); check_project refuses 'google' anywhere in the id,
# as Cloud Storage does in bucket names. The page gives the others as examples without saying how they are
# matched, so they are not guessed at here.
PROJECT_ID = r"[a-z][a-z0-9-]{4,28}[a-z0-9]"
PROJECT_RE = grammar(rf"^{PROJECT_ID}$")
PROJECT_RESTRICTED = "google"
KMS_KEY_RE = grammar(
    rf"^projects/{PROJECT_ID}/locations/[a-z0-9-]+/keyRings/[A-Za-z0-9_-]{{1,63}}/cryptoKeys/[A-Za-z0-9_-]{{1,63}}$"
)
# A VPC network's full name. Vertex AI endpoints peer with `projects/PROJECT_NUMBER/global/networks/NAME`
# (NETWORK_RE also takes an id there); Compute resources such as Workbench take the project id.
NETWORK_RE = grammar(r"^projects/[a-z0-9-]{1,30}/global/networks/[a-z]([a-z0-9-]{0,61}[a-z0-9])?$")
NETWORK_BY_PROJECT_ID_RE = grammar(rf"^projects/{PROJECT_ID}/global/networks/[a-z]([-a-z0-9]{{0,61}}[a-z0-9])?$")
# Cloud Billing: a billing account id and an ISO 4217 currency code
BILLING_RE = grammar(r"^[0-9A-F]{6}-[0-9A-F]{6}-[0-9A-F]{6}$")
CURRENCY_RE = grammar(r"^[A-Z]{3}$")
THRESHOLD_RANGE = (0, 10)  # a budget threshold, a fraction of the amount: (0, 10], 1.0 is 100%
# Artifact Registry repository ids: lowercase letters, digits and hyphens, starting with a letter
REPOSITORY_ID_RE = grammar(r"^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$")

# unix-cron, as Cloud Scheduler reads it: minute hour day-of-month month day-of-week
CRON_FIELDS = (("minute", 0, 59), ("hour", 0, 23), ("day of month", 1, 31), ("month", 1, 12), ("day of week", 0, 7))
MONTHS = {
    m: i
    for i, m in enumerate(("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"), start=1)
}
DAYS = {d: i for i, d in enumerate(("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"))}


BUCKET_RE = grammar(r"^[a-z0-9][a-z0-9_-]{1,61}[a-z0-9]$")


def check_project(value: str) -> str:
    """A GCP project id as Resource Manager takes it: the grammar, and none of the strings Google restricts."""
    if not PROJECT_RE.fullmatch(value):
        raise ValueError(
            f"{shown(value)} is not a GCP project id: 6-30 characters, lowercase letters, digits and "
            "hyphens, starting with a letter and not ending with a hyphen"
        )
    if PROJECT_RESTRICTED in value:
        raise ValueError(
            f"{shown(value)} is not a GCP project id Google accepts: a project id cannot contain '{PROJECT_RESTRICTED}'"
        )
    return value


def check_bucket_name(value: str) -> str:
    """GCS bucket naming: 3-63 of [a-z0-9_-], alphanumeric at both ends, no 'goog' prefix, no 'google' inside."""
    if not BUCKET_RE.fullmatch(value) or value.startswith("goog") or "google" in value:
        raise ValueError(
            f"{shown(value)} is not a GCS bucket name: 3-63 lowercase letters, digits, '-' and '_', "
            "starting and ending with a letter or digit, not starting with 'goog' and "
            "without 'google'"
        )
    return value


def check_repository(value: str) -> str:
    if not REPOSITORY_RE.fullmatch(value):
        raise ValueError(
            f"{shown(value)} is not a GitHub repository: write OWNER/NAME (letters, digits, '-', '.', '_')"
        )
    return value


def check_workflow_file(value: str) -> str:
    if not WORKFLOW_FILE_RE.fullmatch(value):
        raise ValueError(
            f"{shown(value)} is not a workflow file name such as tierstack-churn-deploy.yml (a file in "
            ".github/workflows/: letters, digits, '.', '_', '-', ending .yml or .yaml)"
        )
    return value


def check_subject(value: str) -> str:
    if not SUBJECT_RE.fullmatch(value):
        raise ValueError(
            f"{shown(value)} is not a GitHub OIDC subject suffix such as environment:prod or ref:refs/heads/main"
        )
    return value


def check_email(value: str) -> str:
    if not EMAIL_RE.fullmatch(value) or len(value) > 254:
        raise ValueError(f"{shown(value)} is not an email address such as oncall@example.com")
    return value


def check_kms_key(value: str) -> str:
    if not KMS_KEY_RE.fullmatch(value):
        raise ValueError(
            f"{shown(value)} is not a Cloud KMS key name: "
            "projects/PROJECT/locations/LOCATION/keyRings/RING/cryptoKeys/KEY"
        )
    return value


def check_network(value: str) -> str:
    if not NETWORK_RE.fullmatch(value):
        raise ValueError(f"{shown(value)} is not a VPC network name: projects/PROJECT_NUMBER/global/networks/NAME")
    return value


def check_repository_id(value: str) -> str:
    if not REPOSITORY_ID_RE.fullmatch(value):
        raise ValueError(
            f"{shown(value)} is not an Artifact Registry repository id: lowercase letters, digits and "
            "hyphens, starting with a letter, at most 63"
        )
    return value


def check_billing_account(value: str) -> str:
    if not BILLING_RE.fullmatch(value):
        raise ValueError(f"{shown(value)} is not a billing account id; it looks like 012345-6789AB-CDEF01")
    return value


def check_currency(value: str) -> str:
    if not CURRENCY_RE.fullmatch(value):
        raise ValueError(f"{shown(value)} is not an ISO 4217 currency code such as USD or EUR")
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
        raise ValueError(f"{shown(value)} is not an IANA time zone such as Etc/UTC or Europe/Amsterdam")
    return value


# what Cloud Scheduler's unix-cron is written with: fields of ASCII digits, names, '*', ',', '-' and '/',
# separated by spaces. Checked first, so that split() (which also splits at a newline or a no-break space)
# and int() (which also reads '٣') only ever see ASCII.
CRON_RE = grammar(r"[0-9A-Za-z*,/-]+(?: +[0-9A-Za-z*,/-]+)*")


def _cron_value(text: str, name: str, low: int, high: int) -> int:
    names = MONTHS if name == "month" else DAYS if name == "day of week" else {}
    number = names.get(text.upper()) if text.upper() in names else ascii_int(text)
    if number is None or not low <= number <= high:
        raise ValueError(f"'{text}' is not a valid {name} ({low}-{high})")
    return number


def _cron_field(text: str, name: str, low: int, high: int) -> None:
    for part in text.split(","):
        base, _, step = part.partition("/")
        if step and not ascii_int(step):
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
    if not CRON_RE.fullmatch(value):
        raise ValueError(
            f"{shown(value)} is not a cron expression: five fields separated by spaces, written with the digits "
            "0-9, names (MON, JAN), '*', ',', '-' and '/', e.g. '0 3 * * 1' (03:00 every Monday)"
        )
    fields = [text for text in value.split(" ") if text]
    if len(fields) != 5:
        raise ValueError(f"{shown(value)} is not a cron expression: five fields, e.g. '0 3 * * 1' (03:00 every Monday)")
    try:
        for text, (name, low, high) in zip(fields, CRON_FIELDS, strict=True):
            _cron_field(text, name, low, high)
    except ValueError as error:
        raise ValueError(f"{shown(value)} is not a valid cron expression: {error}") from None
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


# --- declared data sources (tierstack.yaml data_sources; modules/data_sources.py) --------------------
# A BigQuery table as PROJECT.DATASET.TABLE. Dataset ids are letters, digits and '_' (at most 1,024); table
# ids here are letters, digits, '_' and '-' (BigQuery also takes spaces and other Unicode letters, which the
# names that end up in an IAM resource, a Workflows expression and a log label are kept clear of), with no
# wildcard: a wildcard table (events_*) is many tables, and table-level IAM grants one.
TABLE_RE = grammar(rf"^({PROJECT_ID})\.([A-Za-z0-9_]{{1,1024}})\.([A-Za-z0-9_-]{{1,1024}})$")
# A Cloud Storage prefix gs://BUCKET/PREFIX: the bucket as check_bucket_name takes it, the prefix in letters,
# digits and . _ - = / (hive-style dt=2026-12-07/ included), no empty segment (//), no wildcard. The prefix
# goes into an IAM condition's CEL string and a list request: nothing in it can end the string.
GCS_PREFIX_RE = grammar(r"^gs://([a-z0-9][a-z0-9_-]{1,61}[a-z0-9])/((?:[A-Za-z0-9._=-]+/)*[A-Za-z0-9._=-]*)$")
# A staleness: days, hours and minutes, largest first, e.g. 26h, 2d, 90m, 1d12h
DURATION_RE = grammar(r"^(?:([0-9]{1,4})d)?(?:([0-9]{1,5})h)?(?:([0-9]{1,6})m)?$")
MAX_STALENESS = 366 * 86400  # a year and a day: anything older is not watched, it is archived


def check_table(value: str) -> str:
    """A BigQuery table, PROJECT.DATASET.TABLE (a project id, a dataset id, a table id without wildcards)."""
    match = TABLE_RE.fullmatch(value)
    if match is None or PROJECT_RESTRICTED in match.group(1):
        raise ValueError(
            f"{shown(value)} is not a BigQuery table: write PROJECT.DATASET.TABLE, e.g. acme-data.sales.orders "
            "(a project id, a dataset of letters, digits and '_', a table of letters, digits, '_' and '-'; no "
            "wildcard)"
        )
    return value


def check_gcs_prefix(value: str) -> str:
    """A Cloud Storage prefix, gs://BUCKET/PREFIX (a bucket name, then the object name prefix, maybe empty)."""
    match = GCS_PREFIX_RE.fullmatch(value)
    bucket = match.group(1) if match else ""
    dots = match is not None and bool({".", ".."} & set(match.group(2).split("/")))
    if match is None or bucket.startswith("goog") or "google" in bucket or dots:
        raise ValueError(
            f"{shown(value)} is not a Cloud Storage prefix: write gs://BUCKET/PREFIX/, e.g. gs://acme-raw/clicks/ "
            "(a bucket name, then object name parts of letters, digits, '.', '_', '-' and '=', each ending in '/'; "
            "no '//', no wildcard)"
        )
    return value


def parse_duration(value: str) -> int:
    """The seconds a staleness such as 26h, 2d, 90m or 1d12h stands for; ValueError for anything else."""
    match = DURATION_RE.fullmatch(value) if isinstance(value, str) else None
    if match is None or not any(match.groups()):
        raise ValueError(
            f"{shown(value)} is not a duration: write a number of days, hours or minutes such as 26h, 2d, 90m "
            "or 1d12h (largest unit first)"
        )
    days, hours, minutes = (int(part) if part else 0 for part in match.groups())
    seconds = days * 86400 + hours * 3600 + minutes * 60
    if not 60 <= seconds <= MAX_STALENESS:
        raise ValueError(f"{shown(value)} is outside 1m to {MAX_STALENESS // 86400}d")
    return seconds


def check_duration(value: str) -> str:
    parse_duration(value)
    return value
