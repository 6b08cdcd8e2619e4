"""The words tierstack prints (issue 17, item 9): no word said twice, no amount without its unit.

Words are joined from parts (a price table item and its key, a figure and its unit), so a doubled word
("cloud storage standard standard", "feature store optimized node node") or a bare figure ("4.4 a
month") comes from the code that joins them. These tests read what the code writes now, never the
checked-in example outputs (those are refreshed by `make refresh`): the stack pages generate writes for
every example, its explain and resolved text, and `tierstack cost` of every example.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from conftest import REPO, run
from synth_support import example_configs
from tierstack.generator.analysis import cost

# a word, a space, the same word: "node node"; letters only, so "1 1" in a table is not a word said twice
DOUBLED = re.compile(r"\b([A-Za-z]+) \1\b", re.IGNORECASE)
CONFIGS = example_configs(REPO / "examples")


def doubled(text: str) -> list[str]:
    """Each line that says a word twice in a row, with the word: `README.md:12: node node`."""
    return [
        f"{number}: {match.group(0)}: {line.strip()[:160]}"
        for number, line in enumerate(text.splitlines(), 1)
        for match in DOUBLED.finditer(line)
    ]


def test_the_check_finds_a_doubled_word() -> None:
    assert doubled("cloud storage standard standard in europe-west4") != []
    assert doubled("| 1 | 1 |\nstandard\nstandard\nNode node") == ["4: Node node: Node node"]


# --- at the source: the price table's entries in words ------------------------------------------


def test_no_price_table_entry_reads_a_word_twice() -> None:
    """Every entry as the estimate names it when it is not priced: item and key joined once."""
    table = cost.load_prices()
    for item, key, region in table.entries:
        label = cost.price_label(item, key)
        assert not doubled(label), (item, key, region, label)
        assert label.split()[-1].lower() == key.lower()  # the key is still said, once
    assert cost.price_label("cloud_storage_standard", "standard") == "cloud storage standard"
    assert cost.price_label("feature_store_optimized_node", "node") == "feature store optimized node"
    assert cost.price_label("vertex_prediction_machine", "n1-standard-4") == "vertex prediction machine n1-standard-4"


# --- amounts with their unit --------------------------------------------------------------------


def estimate(config: Path, *args: str) -> str:
    result = run("cost", str(config), *args)
    assert result.exit_code == 0, result.output
    return str(result.stdout)


def test_every_amount_of_the_cost_text_says_its_currency_or_its_unit(optimized_recommender: Path) -> None:
    """recommender: a scheduled pipeline (runs a month) and budgets without a currency (the billing account's)."""
    text = estimate(optimized_recommender)
    assert re.search(r"pipeline runs: \d+\.\d runs a month \(schedule '0 2 \* \* 0'\)", text), text
    bare = re.findall(r"(?<![\d.,])(?<!USD )\d[\d,]*(?:\.\d+)? a month(?! in the billing account's currency)", text)
    assert not bare, f"figures a month without a currency or a unit: {bare}"
    assert re.search(r"total USD [\d,.]+ a month .*\(always on USD [\d,.]+, usage USD [\d,.]+\)", text)
    assert "in USD a month, by capability: " in text
    assert "budget 800.00 a month in the billing account's currency; first threshold 50% = 400.00" in text
    assert "(50% of 300.00 = 150.00, in the billing account's currency)" in text  # dev's baseline warning


def test_a_budget_in_a_given_currency_says_it_with_each_amount(tmp_path: Path, optimized_recommender: Path) -> None:
    source = optimized_recommender.parent
    config = tmp_path / "tierstack.yaml"
    text = (source / "tierstack.yaml").read_text(encoding="utf-8")
    config.write_text(text.replace("\nbudget:\n", "\nbudget:\n  currency: USD\n", 1), encoding="utf-8")
    out = estimate(config, "--out", str(source / "cdktf.out"), "--env", "dev")
    assert "budget USD 300.00 a month; first threshold 50% = USD 150.00" in out
    assert "first threshold (50% of USD 300.00 = USD 150.00)" in out


@pytest.mark.slow  # explain synthesizes the stacks
def test_explain_says_a_budget_s_currency_before_its_amount(tmp_path: Path) -> None:
    config = tmp_path / "tierstack.yaml"
    text = (REPO / "examples/recommender/tierstack.yaml").read_text(encoding="utf-8")
    config.write_text(text, encoding="utf-8")
    explained = run("explain", str(config)).stdout
    assert "budget 300 a month in the billing account's currency; alerts at 50%" in explained
    config.write_text(text.replace("\nbudget:\n", "\nbudget:\n  currency: EUR\n", 1), encoding="utf-8")
    assert "budget EUR 300 a month; alerts at 50%" in run("explain", str(config)).stdout


# --- every example, as the code writes it now ---------------------------------------------------


def test_no_stack_page_says_a_word_twice(synthesized: dict[str, Path]) -> None:
    found, pages = [], 0
    for config, out in synthesized.items():
        for page in sorted(out.glob("stacks/*/README.md")):
            pages += 1
            found += [f"{config} {page.parent.name}/README.md:{hit}" for hit in doubled(page.read_text("utf-8"))]
    assert pages >= 2 * len(CONFIGS)  # every example's stacks have their page
    assert not found, "\n".join(found)


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: c.parent.relative_to(REPO / "examples").as_posix())
def test_no_explain_or_cost_text_says_a_word_twice(
    config: Path, synthesized: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """explain.txt and resolved.txt as `make refresh` writes them, and `tierstack cost` of the stacks generated now."""
    from refresh import outputs

    monkeypatch.chdir(REPO)
    relative = config.relative_to(REPO)
    texts = dict(outputs(relative))
    texts["cost"] = estimate(relative, "--out", str(synthesized[relative.as_posix()]))
    found = [f"{relative} {name}:{hit}" for name, text in texts.items() for hit in doubled(text)]
    assert not found, "\n".join(found)
