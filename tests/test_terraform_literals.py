"""Config values reach Terraform as text, never as code (issue 18, item 7; issue 19).

Terraform reads `${` as an expression and `%{` as a template directive in every string of a JSON
configuration. A config value holding either is refused at the line that wrote it (exit 2); every other
value is carried literally, which real terraform shows: the planned value of each attribute that a hostile
but valid value went into is exactly the value written.
"""

from __future__ import annotations

import json
import string
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import run
from standin import mirror

# What an email's local part may hold (generator/core/grammars.py, EMAIL_RE) that Terraform treats specially.
SPECIAL = "${}%"
LOCAL_PART = st.text(
    alphabet=string.ascii_letters + string.digits + ".!#&*+/=?^_`|~-" + SPECIAL, min_size=1, max_size=20
)


def _config(email: str, group: str) -> str:
    return (
        "name: literal-case\nteam: ml-platform\nuse_case:\n  stage: production\n  serving: online\n"
        "  mission_critical: yes\n"
        "overrides:\n  capabilities:\n"
        f"    model_monitoring:\n      notification_email: {json.dumps(email)}\n"
        f"    foundation:\n      persona_groups:\n        viewers: {json.dumps(group)}\n"
    )


def _templated(text: str) -> bool:
    return "${" in text or "%{" in text


@pytest.mark.slow  # a property search: 60 validations
@settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(local=LOCAL_PART)
def test_a_value_terraform_would_evaluate_is_refused_at_its_line(
    local: str, write: Callable[..., Path], tmp_path: Path
) -> None:
    email = f"{local}@example.com"
    write(_config(email, "viewers@example.com"))
    result = run("validate", str(tmp_path / "tierstack.yaml"))
    problems = result.output
    if _templated(local):
        assert result.exit_code == 2, problems
        start = "${" if "${" in local else "%{"
        assert f"tierstack.yaml:10, field 'overrides.capabilities.model_monitoring.notification_email': '{start}'" in (
            problems
        )
        assert "Traceback" not in problems
    else:
        assert "starts a Terraform" not in problems, problems


@pytest.mark.parametrize(
    "field, line",
    [
        ("notification_email", 10),
        ("viewers", 13),
    ],
)
def test_each_field_names_the_sequence_and_the_line(field: str, line: int, write: Callable[..., Path]) -> None:
    email, group = "ok@example.com", "viewers@example.com"
    if field == "notification_email":
        email = "%{if 1}x@example.com"
    else:
        group = "${x}@example.com"
    path = write(_config(email, group))
    result = run("validate", str(path))
    assert result.exit_code == 2, result.output
    assert f"tierstack.yaml:{line}, field " in result.output
    assert "remove the '" in result.output


# Hostile but valid: every character Terraform treats specially, only never as `${` or `%{`.
LITERALS = ["a$b%c{d}e@example.com", "$$x%%y{}@example.com", "}%$@example.com", "x{$@example.com", "$@example.com"]


def _planned(plan: dict[str, Any], resource_type: str) -> list[dict[str, Any]]:
    values = plan["planned_values"]["root_module"]["resources"]  # type: ignore[index]
    return [r["values"] for r in values if r["type"] == resource_type]


@pytest.mark.slow  # synthesizes and runs terraform
@pytest.mark.parametrize("value", LITERALS)
def test_terraform_reads_a_valid_value_literally(value: str, terraform: Any, tmp_path: Path) -> None:
    from tierstack.generator.config.spec import load_spec
    from tierstack.generator.output.generate import generate
    from tierstack.generator.plan.resolve import resolve

    config = tmp_path / "tierstack.yaml"
    config.write_text(_config(value, value), encoding="utf-8")
    out = tmp_path / "cdktf.out"
    generate(resolve(load_spec(config)), out)
    stack = out / "stacks" / "literal-case-prod"
    plan = mirror.plan(terraform, mirror.workdir_for(stack, tmp_path / "work"))
    channels = _planned(plan, "google_monitoring_notification_channel")
    assert [c["labels"]["email_address"] for c in channels] == [value]
    members = {m.get("member") for m in _planned(plan, "google_project_iam_member")}
    assert f"group:{value}" in members
