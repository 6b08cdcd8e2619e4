"""Prices from Google's Cloud Billing Catalog API, cached on disk with the day they were fetched.

`tierstack cost` prices with the shipped table (generator/data/prices.yaml) unless the catalog can say
better: with credentials, it lists the public SKUs of the services the stacks run on (Vertex AI and
Cloud Storage) with the `google-cloud-billing` client over REST, keeps the SKUs its rules can use in
a cache file, and prices an item from the SKU that matches it. The catalog answers for every region
and machine type it sells, so a price the table lacks (a prediction node in europe-west4) is found
too. An item no rule or no SKU matches keeps the table's value, or its "not priced" reason: a price
is never made up here.

Matching rules (`RULES`), each read from sourced SKU records (tests/fixtures/billing_catalog/README.md):
  vertex_training_machine     "Vertex AI: Training/Pipelines on <FAMILY> [Predefined] [Instance] Core|Ram ..."
  vertex_prediction_machine   "Vertex AI: Online/Batch Prediction <FAMILY> [Predefined] [Instance] Core|Ram ..."
      a node hour = vCPUs × the Core SKU (per hour) + GiB of memory × the Ram SKU (per GiB hour), for
      the machine types in MACHINES; on demand, a node bills these two SKUs and nothing else (a
      "management fee" SKU is billed with Dynamic Workload Scheduler capacity, not on demand)
  vertex_training_accelerator, vertex_prediction_accelerator
                              "... Nvidia|NVIDIA [Tesla] <GPU> ..." (per hour), for ACCELERATORS
  cloud_storage_<class>       "<Class> Storage <place>" (Cloud Storage; not Dual-region or Multi-region),
                              per GiB month (the table's "GB-month": Google's pricing pages write GB)
and, for every rule, the region in the SKU's serviceRegions, the usage unit, usage type OnDemand and
the currency asked for. A tiered price is used when it is one rate, or a free allotment then one rate
(the allotment is per billing account, left out as the table leaves it out); any other tiering, or
two matching SKUs with different prices, is no match.

The cache is $TIERSTACK_CACHE or $XDG_CACHE_HOME/tierstack (else ~/.cache/tierstack), file
prices-<CURRENCY>.json, written atomically, with the fetch time. It is used as it is while younger
than TIERSTACK_PRICES_MAX_AGE_DAYS (default 30) days; an older one is fetched again when credentials
exist, else used with a note saying its age. TIERSTACK_BILLING_ENDPOINT (tests: http://127.0.0.1:PORT)
sends the requests elsewhere, with anonymous credentials.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import functools
import json
import os
import re
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from tierstack.generator.analysis.cost import Price, PriceTable, load_prices
from tierstack.generator.core.errors import UserError

Mode = Literal["auto", "catalog", "table"]

ENDPOINT_ENV = "TIERSTACK_BILLING_ENDPOINT"
MAX_AGE_ENV = "TIERSTACK_PRICES_MAX_AGE_DAYS"
DEFAULT_MAX_AGE_DAYS = 30
API = "Cloud Billing Catalog API (cloudbilling.googleapis.com)"
CACHE_SCHEMA = 1
MAX_CACHE_BYTES = 16 * 1024 * 1024  # the SKUs kept are a few hundred; Vertex AI alone lists thousands
TIMEOUT_SECONDS = 60.0

# The catalog's service ids (services.list, `serviceId`), as recorded in tests/fixtures/billing_catalog/.
VERTEX_AI = "C7E2-9256-1C43"
CLOUD_STORAGE = "95FF-2EF5-5EA1"
SERVICES = {VERTEX_AI: "Vertex AI", CLOUD_STORAGE: "Cloud Storage"}

# vCPUs and GiB of memory of the machine types a node hour is priced for (Compute Engine machine
# types: guestCpus, memoryMb / 1024); sources in tests/fixtures/billing_catalog/README.md
MACHINES: dict[str, tuple[int, float]] = {
    "n1-standard-4": (4, 15),
    "n1-standard-8": (8, 30),
    "n1-standard-16": (16, 60),
    "g2-standard-8": (8, 32),
    "a2-highgpu-1g": (12, 85),
    "a3-highgpu-1g": (26, 234),
    "a3-highgpu-8g": (208, 1872),
}
# Vertex AI's accelerator names -> the GPU's words in SKU descriptions (regular expressions)
ACCELERATORS: dict[str, str] = {
    "NVIDIA_L4": r"L4",
    "NVIDIA_TESLA_T4": r"T4",
    "NVIDIA_TESLA_V100": r"V100",
    "NVIDIA_TESLA_A100": r"A100(?! 80)",
    "NVIDIA_A100_80GB": r"A100 80GB",
    "NVIDIA_H100_80GB": r"H100 80GB",
}
STORAGE_CLASSES = ("standard", "nearline", "coldline", "archive")
_KEPT = re.compile(  # the SKUs a rule can match: the cache keeps only these
    r"^(Vertex AI: Training/Pipelines on |Vertex AI: Online/Batch Prediction "
    r"|(Standard|Nearline|Coldline|Archive) Storage )"
)

ADC_HINT = (
    "run `gcloud auth application-default login` (or set GOOGLE_APPLICATION_CREDENTIALS to a key file), "
    "or price with the shipped table: `tierstack cost --prices table`"
)
DENIED_HINT = (
    "enable the Cloud Billing API on the project your credentials bill to "
    "(`gcloud services enable cloudbilling.googleapis.com --project PROJECT`, which needs "
    "roles/serviceusage.serviceUsageAdmin there; `gcloud auth application-default set-quota-project PROJECT` "
    "picks the project), and give the caller roles/serviceusage.serviceUsageConsumer on it; "
    "or price with the shipped table: `tierstack cost --prices table`"
)
NETWORK_HINT = (
    "check the network connection, DNS and any proxy (HTTPS_PROXY), or price with the shipped table: "
    "`tierstack cost --prices table`"
)


# --- the cache --------------------------------------------------------------------------------------


def cache_path(currency: str) -> Path:
    from tierstack.generator.config.gitsource import cache_root

    return cache_root() / f"prices-{currency}.json"


def max_age_days() -> int:
    raw = os.environ.get(MAX_AGE_ENV)
    if not raw:
        return DEFAULT_MAX_AGE_DAYS
    try:
        days = int(raw)
    except ValueError:
        days = -1
    if days < 0:
        raise UserError(
            f"{MAX_AGE_ENV} is '{raw}', not a whole number of days",
            hint=f"set it to 0 or more (default {DEFAULT_MAX_AGE_DAYS}), or unset it",
        )
    return days


@dataclass(frozen=True)
class Catalog:
    """The SKUs kept from one fetch, with when and from where."""

    currency: str
    fetched: dt.datetime  # aware, UTC
    skus: tuple[Mapping[str, Any], ...]
    services: Mapping[str, str]

    @property
    def day(self) -> str:
        return self.fetched.date().isoformat()

    def age_days(self, now: dt.datetime) -> float:
        return (now - self.fetched).total_seconds() / 86400

    def to_json(self) -> str:
        data = {
            "schema": CACHE_SCHEMA,
            "source": API,
            "currency": self.currency,
            "fetched": self.fetched.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "services": dict(sorted(self.services.items())),
            "skus": list(self.skus),
        }
        return json.dumps(data, indent=1, sort_keys=True) + "\n"


def read_cache(path: Path, currency: str) -> Catalog:
    """The cache file as a Catalog; anything but one tierstack wrote for this currency is a UserError."""
    from tierstack.generator.core import fsio

    data = fsio.read_json(
        path, "price cache", MAX_CACHE_BYTES, hint="delete it, or run `tierstack cost --refresh-prices`"
    )
    try:
        if data["schema"] != CACHE_SCHEMA or data["currency"] != currency:
            raise ValueError("another schema or currency")
        fetched = dt.datetime.strptime(str(data["fetched"]), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.timezone.utc)
        skus = tuple(dict(s) for s in data["skus"])
        services = {str(k): str(v) for k, v in dict(data["services"]).items()}
    except (KeyError, TypeError, ValueError) as exc:
        raise UserError(
            f"price cache is not one tierstack wrote for {currency} ({exc})",
            file=path,
            hint="delete it, or run `tierstack cost --refresh-prices`",
        ) from None
    return Catalog(currency, fetched, skus, services)


def write_cache(path: Path, catalog: Catalog) -> None:
    from tierstack.generator.core import fsio

    fsio.write_atomic(path, catalog.to_json())


# --- reading the catalog ------------------------------------------------------------------------------


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """google-api-core's Python-version FutureWarning is not for tierstack's users."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=FutureWarning, module=r"google\..*")
        warnings.filterwarnings("ignore", category=UserWarning, module=r"google\..*")
        yield


def find_credentials(probe_metadata_server: bool) -> Any | None:
    """Application Default Credentials, or None when there are none.

    With `probe_metadata_server` False (auto mode), nothing is asked of the network: only
    GOOGLE_APPLICATION_CREDENTIALS and gcloud's ADC file are looked at, so a laptop without
    credentials is not kept waiting for a metadata server that is not there. On Compute Engine or in
    Cloud Build, `--prices catalog` uses the metadata server's credentials."""
    if os.environ.get(ENDPOINT_ENV):
        with _quiet():
            from google.auth.credentials import AnonymousCredentials

        return AnonymousCredentials()  # type: ignore[no-untyped-call]
    with _quiet():
        import google.auth
        from google.auth import _cloud_sdk
        from google.auth import exceptions as auth_exceptions

        if not probe_metadata_server:
            adc_file = _cloud_sdk.get_application_default_credentials_path()  # type: ignore[no-untyped-call]
            if not os.environ.get("GOOGLE_APPLICATION_CREDENTIALS") and not os.path.isfile(adc_file):
                return None
        try:
            credentials, _ = google.auth.default(scopes=["https://www.googleapis.com/auth/cloud-platform"])
        except auth_exceptions.DefaultCredentialsError as exc:
            if probe_metadata_server:
                raise UserError(
                    f"no Google Cloud credentials for the {API}: {_first_line(exc)}", hint=ADC_HINT
                ) from None
            return None
    return credentials


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def _money(units: Any, nanos: Any) -> float:
    return int(units or 0) + int(nanos or 0) / 1e9


def _compact(sku: Any) -> dict[str, Any]:
    """One SKU as the cache keeps it: Google's JSON field names, the newest pricingInfo only."""
    infos = sorted(sku.pricing_info, key=lambda info: info.effective_time.timestamp() if info.effective_time else 0)
    expression = infos[-1].pricing_expression if infos else None
    rates = []
    for rate in expression.tiered_rates if expression else ():
        price = rate.unit_price
        rates.append(
            {
                "startUsageAmount": rate.start_usage_amount,
                "unitPrice": {"currencyCode": price.currency_code, "units": str(price.units), "nanos": price.nanos},
            }
        )
    return {
        "name": sku.name,
        "skuId": sku.sku_id,
        "description": sku.description,
        "category": {
            "serviceDisplayName": sku.category.service_display_name,
            "resourceFamily": sku.category.resource_family,
            "resourceGroup": sku.category.resource_group,
            "usageType": sku.category.usage_type,
        },
        "serviceRegions": sorted(sku.service_regions),
        "effectiveTime": infos[-1].effective_time.strftime("%Y-%m-%dT%H:%M:%SZ") if infos else None,
        "usageUnit": expression.usage_unit if expression else "",
        "usageUnitDescription": expression.usage_unit_description if expression else "",
        "tieredRates": rates,
    }


def fetch(credentials: Any, currency: str, now: dt.datetime, endpoint: str | None = None) -> Catalog:
    """services.list, then services.skus.list of each service priced here, every page, with the real client."""
    with _quiet():
        from google.cloud import billing_v1

    options = {"api_endpoint": endpoint} if endpoint else None
    host = endpoint or "https://cloudbilling.googleapis.com"
    try:
        with _quiet():
            client = billing_v1.CloudCatalogClient(credentials=credentials, transport="rest", client_options=options)
            listed = {s.service_id: s.display_name for s in client.list_services(timeout=TIMEOUT_SECONDS)}
            missing = [sid for sid in SERVICES if sid not in listed]
            if missing:
                raise UserError(
                    f"the {API} at {host} lists no service {', '.join(missing)} "
                    f"({', '.join(SERVICES[m] for m in missing)})",
                    hint="Google renamed or moved a service: price with the shipped table (`--prices table`) "
                    "and report it",
                )
            skus: list[dict[str, Any]] = []
            for service_id in SERVICES:
                request = {"parent": f"services/{service_id}", "currency_code": currency}
                for sku in client.list_skus(request=request, timeout=TIMEOUT_SECONDS):
                    if _KEPT.match(sku.description):
                        skus.append(_compact(sku))
    except UserError:
        raise
    except Exception as exc:
        raise _api_error(exc, host) from None
    skus.sort(key=lambda s: (s["skuId"], s["name"]))
    return Catalog(currency, now.replace(microsecond=0), tuple(skus), {k: listed[k] for k in SERVICES})


def _api_error(exc: Exception, host: str) -> Exception:
    """A UserError naming the API and the fix; anything not an access or network problem stays a bug."""
    from google.api_core import exceptions
    from google.auth import exceptions as auth_exceptions

    from tierstack.generator.analysis.verify.live import _unreachable

    if _unreachable(exc):
        return UserError(f"cannot reach the {API} at {host}: {_first_line(exc)}", hint=NETWORK_HINT)
    if isinstance(exc, auth_exceptions.GoogleAuthError | exceptions.Unauthenticated):
        return UserError(f"the {API} refused the Google Cloud credentials: {_first_line(exc)}", hint=ADC_HINT)
    if isinstance(exc, exceptions.Forbidden):
        return UserError(f"the {API} denied the request (403): {_api_message(exc)}", hint=DENIED_HINT)
    if isinstance(exc, exceptions.GoogleAPICallError):
        return UserError(f"the {API} at {host} answered {exc.code}: {_api_message(exc)}", hint=NETWORK_HINT)
    return exc


def _api_message(exc: Any) -> str:
    return str(getattr(exc, "message", "") or _first_line(exc)).strip()


# --- matching ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Part:
    """One SKU a price is made of: a description pattern, the usage unit, and how many units."""

    service: str
    pattern: str  # a regular expression the description must match from its start (case-insensitive)
    unit: str  # the catalog's usageUnit
    quantity: float
    words: str  # what it is, in the price's explanation


def _machine_parts(prefix: str, machine: str) -> list[Part] | None:
    shape = MACHINES.get(machine)
    if shape is None:
        return None
    family = re.escape(machine.split("-")[0].upper())
    vcpus, gib = shape
    base = rf"{prefix}{family} (?:Predefined )?(?:Instance )?"
    return [
        Part(VERTEX_AI, base + r"Core\b", "h", vcpus, f"{vcpus:g} vCPU"),
        Part(VERTEX_AI, base + r"Ram\b", "GiBy.h", gib, f"{gib:g} GiB"),
    ]


def _accelerator_parts(prefix: str, accelerator: str) -> list[Part] | None:
    words = ACCELERATORS.get(accelerator)
    if words is None:
        return None
    return [Part(VERTEX_AI, rf"{prefix}Nvidia (?:Tesla )?{words}\b", "h", 1, accelerator)]


def _storage_parts(kind: str, key: str) -> list[Part] | None:
    if key != kind:
        return None
    return [Part(CLOUD_STORAGE, rf"{kind.capitalize()} Storage (?!.*(?:Dual|Multi)-region)", "GiBy.mo", 1, "")]


TRAINING = re.escape("Vertex AI: Training/Pipelines on ")
PREDICTION = re.escape("Vertex AI: Online/Batch Prediction ")
RULES: dict[str, Callable[[str], list[Part] | None]] = {
    "vertex_training_machine": lambda key: _machine_parts(TRAINING, key),
    "vertex_prediction_machine": lambda key: _machine_parts(PREDICTION, key),
    "vertex_training_accelerator": lambda key: _accelerator_parts(TRAINING, key),
    "vertex_prediction_accelerator": lambda key: _accelerator_parts(PREDICTION, key),
    **{f"cloud_storage_{kind}": functools.partial(_storage_parts, kind) for kind in STORAGE_CLASSES},
}


def rate(sku: Mapping[str, Any], currency: str) -> tuple[float, float] | None:
    """(price per usage unit, free allotment) of a SKU's tiers, or None for tiering this cannot apply."""
    tiers = list(sku.get("tieredRates") or [])
    prices = [(float(t.get("startUsageAmount") or 0), t.get("unitPrice") or {}) for t in tiers]
    if not prices or any(p.get("currencyCode") != currency for _, p in prices):
        return None
    values = [(start, _money(p.get("units"), p.get("nanos"))) for start, p in prices]
    if len(values) == 1 and values[0][0] == 0:
        return values[0][1], 0.0
    if len(values) == 2 and values[0] == (0.0, 0.0) and values[1][1] > 0:
        return values[1][1], values[1][0]
    return None


class Matcher:
    """Prices (item, key, region) from a Catalog's SKUs, memoised: a fleet asks the same few thousands of times."""

    def __init__(self, catalog: Catalog, table_units: Mapping[str, str]) -> None:
        self.catalog = catalog
        self.table_units = table_units  # item -> the table's unit ("node hour"), kept on the catalog's Price
        self._memo: dict[tuple[str, str, str], Price | None] = {}

    def __call__(self, item: str, key: str, region: str) -> Price | None:
        wanted = (item, key, region)
        if wanted not in self._memo:
            self._memo[wanted] = self._price(item, key, region)
        return self._memo[wanted]

    def sku(self, part: Part, region: str) -> tuple[Mapping[str, Any], float] | None:
        """The one SKU (or several with one price) matching the part in the region, with its rate."""
        pattern = re.compile(part.pattern, re.IGNORECASE)
        found: list[tuple[Mapping[str, Any], float]] = []
        for sku in self.catalog.skus:
            category = sku.get("category") or {}
            if (
                not str(sku.get("name", "")).startswith(f"services/{part.service}/")
                or region not in (sku.get("serviceRegions") or ())
                or sku.get("usageUnit") != part.unit
                or category.get("usageType") not in ("OnDemand", "", None)
                or not pattern.match(str(sku.get("description", "")))
            ):
                continue
            tiers = rate(sku, self.catalog.currency)
            if tiers is not None:
                found.append((sku, tiers[0]))
        if not found or len({price for _, price in found}) > 1:
            return None
        return min(found, key=lambda hit: str(hit[0].get("skuId")))

    def _price(self, item: str, key: str, region: str) -> Price | None:
        rule = RULES.get(item)
        parts = rule(key) if rule else None
        if not parts or region == "global":
            return None
        total = 0.0
        used: list[str] = []
        ids: list[str] = []
        for part in parts:
            hit = self.sku(part, region)
            if hit is None:
                return None
            sku, unit_price = hit
            total += unit_price * part.quantity
            times = f"{part.words} × " if part.words else ""
            per = f"{unit_price:.9g} {self.catalog.currency}/{sku.get('usageUnit')}"
            used.append(f"{times}{per} (SKU {sku.get('skuId')}, '{sku.get('description')}')")
            ids.append(str(sku.get("skuId")))
        return Price(
            item=item,
            key=key,
            region=region,
            price=round(total, 9),
            unit=self.table_units.get(item, parts[0].unit),
            source=f"Cloud Billing Catalog, fetched {self.catalog.day} (SKU {', '.join(ids)})",
            read=self.catalog.day,
            via="; ".join(used),
        )


def with_catalog(table: PriceTable, catalog: Catalog, origin: str, notes: Sequence[str] = ()) -> PriceTable:
    """The table, with the catalog's price in front of each entry it matches."""
    units = {entry.item: entry.unit for entry in table.entries.values()}
    return dataclasses.replace(
        table, catalog=Matcher(catalog, units), origin=origin, fetched=catalog.day, notes=tuple(notes)
    )


# --- choosing the source ---------------------------------------------------------------------------------


def _catalog_origin(catalog: Catalog, path: Path, how: str) -> str:
    return (
        f"the Cloud Billing Catalog, fetched {catalog.day} ({how}; cache {path}), where a SKU matches; "
        "otherwise the shipped table (generator/data/prices.yaml)"
    )


def _table_only(table: PriceTable, notes: Sequence[str]) -> PriceTable:
    return dataclasses.replace(table, notes=tuple(notes))


def price_table(
    mode: Mode = "auto",
    refresh: bool = False,
    now: dt.datetime | None = None,
    progress: Callable[[str], None] | None = None,
) -> PriceTable:
    """The prices `tierstack cost` uses, from the source `mode` asks for (see the module's docstring).

    table    the shipped table, nothing else read;
    catalog  the catalog: the cache while fresh, else fetched (no credentials, a 403, no network:
             a UserError, exit 2);
    auto     the catalog when it can be had without asking (a fresh cache, or credentials found
             without network), else the table (or a stale cache), with a note saying why.
    """
    table = load_prices()
    if mode == "table":
        if refresh:
            raise UserError(
                "--refresh-prices fetches the catalog's prices, and --prices table says not to use them",
                hint="drop one of the two",
            )
        return table
    now = now or dt.datetime.now(dt.timezone.utc)
    path = cache_path(table.currency)
    days = max_age_days()
    cached, damaged = _cached(path, table.currency)
    notes = [damaged] if damaged else []
    if cached is not None and not refresh and cached.age_days(now) <= days:
        return with_catalog(table, cached, _catalog_origin(cached, path, "cached"), notes)
    credentials = find_credentials(probe_metadata_server=mode == "catalog" or refresh)
    if credentials is None:  # auto only: catalog mode and --refresh-prices raise instead
        if cached is not None:
            notes.append(
                f"the cached catalog prices are {cached.age_days(now):.0f} days old (older than {days}, "
                f"{MAX_AGE_ENV}) and no Google Cloud credentials were found to fetch them again"
            )
            return with_catalog(table, cached, _catalog_origin(cached, path, "cached, stale"), notes)
        notes.append(
            "no Google Cloud credentials were found, so the prices are the shipped table's "
            "(`gcloud auth application-default login` lets `cost` read the Cloud Billing Catalog)"
        )
        return _table_only(table, notes)
    endpoint = os.environ.get(ENDPOINT_ENV) or None
    if progress:
        progress(f"reading prices from the {API}...")
    try:
        catalog = fetch(credentials, table.currency, now, endpoint)
    except UserError as exc:
        if mode == "catalog" or refresh:
            raise
        instead = f"the cached prices of {cached.day} are used" if cached else "the shipped table is used"
        notes.append(f"{exc.message}; {instead}")
        if cached is not None:
            return with_catalog(table, cached, _catalog_origin(cached, path, "cached, stale"), notes)
        return _table_only(table, notes)
    try:
        write_cache(path, catalog)
    except UserError as exc:
        notes.append(f"the prices could not be cached: {exc.message}")
    return with_catalog(table, catalog, _catalog_origin(catalog, path, "fetched now"), notes)


def _cached(path: Path, currency: str) -> tuple[Catalog | None, str | None]:
    """The cache, or None (and why, when a file is there but cannot be used)."""
    if not path.exists():
        return None, None
    try:
        return read_cache(path, currency), None
    except UserError as exc:
        return None, f"the price cache {path} was ignored: {exc.message}"
