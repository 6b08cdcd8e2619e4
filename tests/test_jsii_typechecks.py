"""The bindings' run-time argument checks: off in a user's generate, on in the test suite
(generator/synth/jsii_env.py _skip_type_checks). The judge is jsii's own checker: the function every binding
calls before it sends a request to Node."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

PROBE = """
from tierstack.generator.synth import jsii_env
jsii_env.prepare()
from jsii._type_checking import check_type
try:
    check_type(argname="argument id_", value=123, expected_type=str)
except TypeError as exc:
    print("checked:", exc)
else:
    print("not checked")
"""


@pytest.mark.parametrize(("setting", "expected"), [(None, "not checked"), ("1", "checked:"), ("0", "not checked")])
def test_a_wrong_argument_is_checked_only_when_asked(spawns: None, setting: str | None, expected: str) -> None:
    env = {k: v for k, v in os.environ.items() if k != "TIERSTACK_JSII_TYPECHECKS"}
    if setting is not None:
        env["TIERSTACK_JSII_TYPECHECKS"] = setting
    done = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(expected), done.stdout


def test_the_suite_runs_with_the_checks_on() -> None:
    assert os.environ.get("TIERSTACK_JSII_TYPECHECKS") == "1"
