"""The price table is read once per process (every stack page asks for it: a fifth of a second each,
30 s over a 150-stack fleet), yet an edited table is read again: the cache is keyed by the file's
path, size and modification time."""

from __future__ import annotations

import os
from pathlib import Path

from tierstack.generator.analysis import cost


def test_the_shipped_table_is_read_once() -> None:
    assert cost.load_prices() is cost.load_prices()


def test_an_edited_table_is_read_again(tmp_path: Path) -> None:
    table = tmp_path / "prices.yaml"
    text = cost.PRICES.read_text(encoding="utf-8")
    table.write_text(text, encoding="utf-8")
    first = cost.load_prices(table)
    key = ("cloud_storage_standard", "standard", "europe-west4")
    shipped = first.entries[key].price
    assert shipped is not None
    table.write_text(text.replace(f"price: {shipped:.3f}", "price: 123.456", 1), encoding="utf-8")
    os.utime(table, ns=(1, 1))  # a different modification time even on a coarse clock
    again = cost.load_prices(table)
    assert again is not first
    assert [p.price for p in again.entries.values()].count(123.456) == 1


def test_a_missing_table_is_still_the_users_error(tmp_path: Path) -> None:
    import pytest

    from tierstack.generator.core.errors import UserError

    with pytest.raises(UserError):
        cost.load_prices(tmp_path / "missing.yaml")
