"""Refresh the checked-in generated files (`make refresh`, i.e. `python tests/refresh.py`).

A maintainer tool, not part of the installed package: the wheel ships only
generator/, modules/ and blueprints/. Every example's explain/resolved output,
docs/capabilities.md, and the review of each fixture plan as Markdown
(tests/fixtures/review/<scenario>.md). Run from the repository root: paths in
the outputs are relative to it, so the files are the same on every machine.
tests/test_examples.py and tests/test_review.py check that the checked-in
copies match what the code produces now.
"""

from __future__ import annotations

import sys
from pathlib import Path

from synth_support import example_configs
from tierstack.generator.config.spec import load_spec
from tierstack.generator.core.errors import UserError
from tierstack.generator.core.fsio import write_atomic
from tierstack.generator.facts.catalog import Catalog, load_catalog
from tierstack.generator.output.report import explain_data, explain_text, resolved_text
from tierstack.generator.plan.resolve import resolve

EXAMPLES = Path("examples")


def outputs(config: Path) -> dict[str, str]:
    """The checked-in files of one example: name -> text."""
    catalog = load_catalog()
    resolved = resolve(load_spec(config), catalog)
    return {
        "explain.txt": explain_text(explain_data(resolved, catalog)),
        "resolved.txt": resolved_text(resolved, provenance=True),
    }


CATALOG_DOC = Path("docs/capabilities.md")


def catalog_doc(catalog: Catalog | None = None) -> str:
    """docs/capabilities.md: the catalog, the rules and the tiers, from the data the code uses."""
    from tierstack.generator.plan.rules import RULES
    from tierstack.generator.plan.selection import answer_text

    catalog = catalog or load_catalog()
    out = [
        "# Capability catalog",
        "",
        "Generated from the capability classes in `modules/`, `generator/data/tiers.yaml` and "
        "`generator/plan/rules.py` by `make refresh`; do not edit.",
        "",
        "| id | name | tier | lifecycle process | definition |",
        "|---|---|---|---|---|",
    ]
    for cap in catalog.capabilities:
        lowest = "always" if cap.always else f"{cap.min_tier}+"
        out.append(f"| `{cap.id}` | {cap.name} | {lowest} | {cap.process} | {cap.definition} |")
    out += ["", "## What each provisions on Google Cloud", ""]
    for cap in catalog.capabilities:
        out.append(f"- **{cap.id}**" + (f" (requires {', '.join(cap.requires)})" if cap.requires else ""))
        out += [f"  - {item}" for item in cap.provisions]
    out += [
        "",
        "## Rules: from use case to capabilities",
        "",
        "| answer | in stage | switches on | features | why |",
        "|---|---|---|---|---|",
    ]
    for cap in catalog.capabilities:
        if cap.always:
            out.append(f"| always | any | `{cap.id}` | | {cap.always_because} |")
    for rule in RULES:
        caps = ", ".join(f"`{c}`" for c in rule.capabilities)
        feats = ", ".join(rule.features)
        answer = f"`{rule.field}` = {answer_text(rule.value)}"
        out.append(f"| {answer} | {', '.join(rule.stages)} | {caps} | {feats} | {rule.why} |")
    out += ["", "## Tiers", "", "| tier | name | environments | CI/CD | summary |", "|---|---|---|---|---|"]
    for tier in catalog.tiers:
        ci = "yes" if tier.ci_cd else "no"
        out.append(f"| {tier.level} | {tier.name} | {', '.join(tier.environments)} | {ci} | {tier.summary} |")
    return "\n".join(out) + "\n"


REVIEW_FIXTURES = Path("tests/fixtures/review")
REVIEW_AT = "2026-06-01T12:00:00Z"  # no config beside the fixtures, so no freeze is checked; a fixed clock anyway


def review_plans() -> list[Path]:
    """The fixture plans whose review is checked in as Markdown (tests/fixtures/review/<scenario>.md)."""
    return sorted(REVIEW_FIXTURES.glob("*.json"))


def review_markdown(plan: Path) -> str:
    """`tierstack review PLAN --format markdown`, run through the CLI, as a PR would get it."""
    from click.testing import CliRunner

    from tierstack.generator.cli import main as cli

    result = CliRunner().invoke(cli, ["review", plan.as_posix(), "--format", "markdown", "--at", REVIEW_AT])
    if result.exit_code not in (0, 3):  # 3: a stateful resource is destroyed, the comment is still written
        raise UserError(f"tierstack review exited {result.exit_code}: {result.output.strip()}", file=str(plan))
    return result.stdout


def main() -> int:
    if not EXAMPLES.is_dir():
        print("run from the repository root (no examples/ here)", file=sys.stderr)
        return 2
    write_atomic(CATALOG_DOC, catalog_doc())
    print(f"wrote {CATALOG_DOC}")
    for plan in review_plans():
        try:
            text = review_markdown(plan)
        except UserError as err:
            print(f"error: {err.render()}", file=sys.stderr)
            return 2
        write_atomic(plan.with_suffix(".md"), text)
        print(f"wrote {plan.with_suffix('.md')}")
    for config in example_configs(EXAMPLES):
        try:
            files = outputs(config)
        except UserError as err:
            print(f"error: {err.render()}", file=sys.stderr)
            return 2
        for name, text in files.items():
            write_atomic(config.parent / name, text)
            print(f"wrote {config.parent / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
