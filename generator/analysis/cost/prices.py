"""The price table, generator/data/prices.yaml: a Price per (item, key, region) naming its source and the day
it was read (`null` where a price was looked for and not found), the table's assumptions, what it leaves out
and the resource types it excludes on purpose. `load_prices` reads it once per process for each version of
the file; a Cloud Billing Catalog lookup (generator/analysis/price_catalog.py) can be asked first.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tierstack.generator.core.errors import UserError

PRICES = Path(__file__).resolve().parent.parent.parent / "data" / "prices.yaml"


@dataclass(frozen=True)
class Price:
    item: str
    key: str
    region: str
    price: float | None  # None: not found; what needs it is "not priced"
    unit: str
    source: str
    read: str
    as_of: str | None = None
    via: str | None = None
    note: str | None = None
    free: float | None = None  # a free allotment per project and month, in `unit`s


@dataclass(frozen=True)
class PriceTable:
    currency: str
    entries: dict[tuple[str, str, str], Price]
    assumptions: dict[str, float]
    left_out: tuple[str, ...]
    # resource types not priced on purpose ("google_kms_crypto_key"), with the reason users read; a price
    # looked for and not found is a `null` entry; anything else unpriced is a gap in the table
    excluded: dict[str, str] = field(default_factory=dict)
    # where the prices come from, as `cost` says it, and what it should know about that (price_catalog.py)
    origin: str = "the shipped table (generator/data/prices.yaml)"
    fetched: str | None = None  # the day the catalog's prices were fetched, when they are used
    notes: tuple[str, ...] = ()
    # prices from the Cloud Billing Catalog, asked first: (item, key, region) -> Price or None
    catalog: Callable[[str, str, str], Price | None] | None = field(default=None, compare=False, repr=False)

    def find(self, item: str, key: str, region: str) -> Price | None:
        found = self.catalog(item, key, region) if self.catalog is not None else None
        return found or self.entries.get((item, key, region)) or self.entries.get((item, key, "global"))


def _excluded(data: Any, path: Path) -> dict[str, str]:
    """The table's `excluded` list: resource types not priced on purpose, each with the reason users read."""
    out: dict[str, str] = {}
    for index, raw in enumerate(data or []):
        reason = raw.get("reason") if isinstance(raw, dict) else None
        if isinstance(raw, dict) and raw.get("type") and reason:
            out[str(raw["type"])] = str(reason)
        else:
            raise UserError(
                f"excluded entry {index + 1} needs a `type` (a Terraform resource type) and a `reason`",
                file=str(path),
                hint="a price that was looked for and not found is a `price: null` entry under `prices`",
            )
    return out


_LOADED: dict[tuple[str, int, int], PriceTable] = {}


def load_prices(path: Path = PRICES) -> PriceTable:
    """The price table, read once per process for each version of the file: every stack's page and every
    estimate asks for it, and reading it takes a fifth of a second (a fleet's 150 pages, 30 s)."""
    try:
        stat = path.stat()
    except OSError:
        return _read_prices(path)  # says what is wrong with the path
    key = (str(path), stat.st_mtime_ns, stat.st_size)
    if key not in _LOADED:
        _LOADED[key] = _read_prices(path)
    return _LOADED[key]


def _read_prices(path: Path) -> PriceTable:
    from tierstack.generator.core import yamlio

    data = yamlio.to_plain(yamlio.load_file(path, "price table"))
    entries: dict[tuple[str, str, str], Price] = {}
    for index, raw in enumerate(data.get("prices") or []):
        try:
            price = Price(
                item=str(raw["item"]),
                key=str(raw["key"]),
                region=str(raw["region"]),
                price=None if raw.get("price") is None else float(raw["price"]),
                unit=str(raw["unit"]),
                source=str(raw["source"]),
                read=str(raw["read"]),
                as_of=None if raw.get("as_of") is None else str(raw["as_of"]),
                via=raw.get("via"),
                note=raw.get("note"),
                free=None if raw.get("free") is None else float(raw["free"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise UserError(f"price entry {index + 1} is incomplete or not a number: {exc}", file=str(path)) from None
        entries[(price.item, price.key, price.region)] = price
    days = sorted({price.read for price in entries.values()})
    read = f", read {days[0]} to {days[-1]}" if len(days) > 1 else f", read {days[0]}" if days else ""
    return PriceTable(
        currency=str(data.get("currency", "USD")),
        origin=f"the shipped table (generator/data/prices.yaml{read})",
        entries=entries,
        assumptions={k: float(v) for k, v in (data.get("assumptions") or {}).items()},
        left_out=tuple(data.get("left_out") or ()),
        excluded=_excluded(data.get("excluded"), path),
    )
