"""What a stack file says that tierstack already knows is written into it after synthesis, not set through
jsii (issue 23: each is a round trip to Node per resource): depends_on, each resource's construct path (it is
made in the stack under its logical id, with no overrideLogicalId), and the outputs made under another id.
The file must stay byte for byte what cdktn would have written: the fast path and the jsii path produce the
same stacks, and a file Python's JSON writer would not reproduce is left to jsii."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import REPO
from tierstack.generator.config.spec import load_spec
from tierstack.generator.plan.resolve import resolve
from tierstack.generator.synth import stacks
from tierstack.modules.base import StackOutputs

# safe-stable-stringify's text for a float Python writes as 1e-07: what a re-serialisation would change
NODE_TEXT = '{\n  "resource": {\n    "google_x": {\n      "a": {\n        "n": 1e-7\n      }\n    }\n  }\n}'


def test_depends_on_is_set_and_nothing_else_moves(tmp_path: Path) -> None:
    data = {"resource": {"google_x": {"a": {"name": "a", "zeta": [1, {}]}, "b": {"name": "b"}}}}
    path = tmp_path / "cdk.tf.json"
    path.write_text(json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False), encoding="utf-8")
    stacks.write_late_edits(
        path, stacks.LateEdits({("google_x", "a"): ["google_project_service.foundation_api_x"]}), "s"
    )
    written = path.read_text(encoding="utf-8")
    assert json.loads(written)["resource"]["google_x"]["a"]["depends_on"] == ["google_project_service.foundation_api_x"]
    assert written.index('"depends_on"') < written.index('"name": "a"')  # sorted in, as cdktn sorts its keys
    assert json.loads(written)["resource"]["google_x"]["b"] == {"name": "b"}


def test_a_file_python_would_write_differently_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "cdk.tf.json"
    path.write_text(NODE_TEXT, encoding="utf-8")
    with pytest.raises(stacks._NotAsCdktnWrites):
        stacks.write_late_edits(
            path, stacks.LateEdits({("google_x", "a"): ["google_project_service.foundation_api_x"]}), "s"
        )
    assert path.read_text(encoding="utf-8") == NODE_TEXT


def test_paths_and_renamed_outputs_are_written_as_cdktn_would(tmp_path: Path) -> None:
    data = {
        "//": {"outputs": {"s": {"output_a_x": "output_a_x"}}},
        "data": {"google_d": {"a_d": {"//": {"metadata": {"path": "s/a_d", "uniqueId": "a_d"}}}}},
        "output": {"output_a_x": {"value": "v"}},
        "resource": {"google_x": {"a_x": {"//": {"metadata": {"path": "s/a_x", "uniqueId": "a_x"}}}}},
    }
    path = tmp_path / "cdk.tf.json"
    path.write_text(json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False), encoding="utf-8")
    outputs = StackOutputs(written={"b_y": {"description": "d", "value": "${google_y.b_y.id}"}})
    outputs.renamed["output_a_x"] = "a_x"
    edits = stacks.LateEdits(paths={"a_x": "a/x", "a_d": "a/d"}, outputs=outputs)
    stacks.write_late_edits(path, edits, "s")
    written = json.loads(path.read_text(encoding="utf-8"))
    assert written["resource"]["google_x"]["a_x"]["//"]["metadata"] == {"path": "s/a/x", "uniqueId": "a_x"}
    assert written["data"]["google_d"]["a_d"]["//"]["metadata"]["path"] == "s/a/d"
    assert written["output"] == {"a_x": {"value": "v"}, "b_y": {"description": "d", "value": "${google_y.b_y.id}"}}
    assert written["//"]["outputs"] == {"s": {"a_x": "a_x", "b_y": "b_y"}}


@pytest.mark.parametrize("example", ["recommender", "fraud-detection"])
def test_the_jsii_path_writes_the_same_stacks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, synthesizes: None, example: str
) -> None:
    """The recommender (tier 2, CMEK key grants, many APIs) and fraud detection (every serving capability,
    outputs named like resources): the late edits or cdktn through jsii (capability constructs,
    overrideLogicalId, depends_on set on the resource), the same bytes; and a refused file really falls
    back (the second synthesis does it all through jsii)."""
    plan = resolve(load_spec(REPO / "examples" / example / "tierstack.yaml"))
    fast = stacks.synthesize(plan, tmp_path / "fast")

    def refuse(path: Path, edits: stacks.LateEdits, stack: str) -> None:
        if edits.dependencies or edits.paths:
            raise stacks._NotAsCdktnWrites(str(path))

    monkeypatch.setattr(stacks, "write_late_edits", refuse)
    slow = stacks.synthesize(plan, tmp_path / "slow")
    assert fast == slow and fast
    for stack in fast:
        fast_text = stacks.stack_file(tmp_path / "fast", stack).read_bytes()
        slow_text = stacks.stack_file(tmp_path / "slow", stack).read_bytes()
        assert b'"depends_on"' in slow_text
        assert fast_text == slow_text, stack
