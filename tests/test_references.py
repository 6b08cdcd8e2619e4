"""Attribute references and token tests done in Python (modules/references.py) agree with cdktn's own.
The judge is cdktn through jsii: Token.is_unresolved on the same strings, real tokens among them."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tierstack.modules import references

MARKERS = ["${TfToken[TOKEN.1]}", "${TfToken[]}", "${TfToken[TOKEN 1]}", "#{TfToken[TOKEN.2]}", "${", "}", "TfToken["]


@pytest.fixture(scope="module")
def cdktn() -> Any:
    from tierstack.generator.synth import jsii_env

    jsii_env.prepare()
    import cdktn

    return cdktn


def test_a_real_token_and_its_neighbours(cdktn: Any, synthesizes: None) -> None:
    app = cdktn.App()
    stack = cdktn.TerraformStack(app, "s")
    token = cdktn.TerraformVariable(stack, "v", type="string").string_value
    for text in [token, f"a:{token}", f"{token}{token}", "plain", "${var.x}", "$${TfToken[TOKEN.1]}", *MARKERS]:
        assert references.is_unresolved(text) == cdktn.Token.is_unresolved(text), text


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(st.sampled_from(MARKERS), st.text(max_size=6)), max_size=5).map("".join))
def test_any_string_is_judged_as_cdktn_judges_it(cdktn: Any, text: str) -> None:
    assert references.is_unresolved(text) == cdktn.Token.is_unresolved(text), text
