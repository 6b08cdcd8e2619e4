"""Names of cloud resources, derived from the plan and checked against GCP's rules.

Every name is derived (never typed by the user), so a rule broken here is
reported against the input it came from: the use-case name, the project or
the environment.
"""

from __future__ import annotations

import re

from tierstack.generator.core.errors import UserError
from tierstack.generator.core.grammars import REPOSITORY_ID_RE, check_bucket_name  # one rule for bucket names

ACCOUNT_RE = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")
DATASET_RE = re.compile(r"^[a-zA-Z0-9_]{1,1024}$")


def bucket_name(project: str, name: str, purpose: str, source: str, field: str = "project") -> str:
    """<project>-<use case>-<purpose>, unless the project already carries the use-case name."""
    base = project if name in project else f"{project}-{name}"
    bucket = f"{base}-{purpose}".replace("_", "-")
    if len(bucket) > 63:
        raise UserError(
            f"bucket name '{bucket}' is {len(bucket)} characters; GCS allows at most 63",
            file=source,
            field=field,
            hint="shorten the environment's project id or the use-case name",
        )
    try:
        return check_bucket_name(bucket)
    except ValueError as error:
        raise UserError(
            str(error),
            file=source,
            field=field,
            hint="change the project id or the use-case name the bucket name is made of",
        ) from None


def account_id(name: str, role: str, source: str) -> str:
    account = f"{name}-{role}"
    if not ACCOUNT_RE.fullmatch(account):
        raise UserError(
            f"service account id '{account}' breaks IAM's rule (6-30 characters, lowercase letters, digits, "
            "hyphens, starting with a letter)",
            file=source,
            field="name",
            hint=f"shorten the use-case name to at most {29 - len(role)} characters",
        )
    return account


def dataset_id(name: str, purpose: str) -> str:
    """BigQuery ids take underscores, not hyphens."""
    dataset = f"{name}_{purpose}".replace("-", "_")
    assert DATASET_RE.fullmatch(dataset), dataset  # name and purpose are validated upstream
    return dataset


def resource_id(name: str, purpose: str, max_len: int = 63, source: str = "tierstack.yaml", field: str = "name") -> str:
    """A regional resource id (endpoint, store, repository): lowercase letters, digits, hyphens, bounded.

    `purpose` may come from a setting (a repository name), so the result is checked, not trusted.
    """
    rid = f"{name}-{purpose}".replace("_", "-")[:max_len].rstrip("-")
    if not REPOSITORY_ID_RE.fullmatch(rid):
        raise UserError(
            f"'{rid}' is not a valid resource id: lowercase letters, digits and hyphens, starting with a letter",
            file=source,
            field=field,
            hint=f"use lowercase letters in '{purpose}'",
        )
    return rid
