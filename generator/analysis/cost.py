"""`tierstack cost`: a monthly estimate per stack and per capability, from a price table kept as data.

The estimate is computed from what Terraform is given, the synthesized `cdk.tf.json` of each stack
(or, for a cost delta, the resources of a `terraform show -json` plan), priced with
generator/data/prices.yaml: every price there names its source and the day it was read, and a price
that could not be found is `null` there and "not priced" here, never zero.

Two kinds of line:
  always on  billed every hour whether used or not: a deployment pool's nodes at min replicas, a
             persistent training pool at min replicas, a feature online store's nodes, scheduler jobs;
  usage      billed by use, with the quantity an assumption the table states: bucket sizes, pipeline
             runs (from the schedule's cron), log volume.
The always-on baseline is compared with the budget: a warning when it alone passes the first
threshold (budget.thresholds[0] × budget.amount).

`plan_cost_delta(plan)` (one plan's before/after) and `cost_delta(before, after)` (two plans) price a
plan JSON the same way and return the difference, resource by resource, for `tierstack review`.
"""

from __future__ import annotations

import calendar
import datetime as dt
import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tierstack.generator.core.errors import UserError
from tierstack.generator.facts import resource_types
from tierstack.modules import base

if TYPE_CHECKING:  # the review prices plans with this module: its model is read here only for types
    from tierstack.generator.analysis.review.model import CostChange

PRICES = Path(__file__).resolve().parent.parent / "data" / "prices.yaml"
ESTIMATE_NOTE = (
    "An estimate, not a quote: on-demand list prices in USD for what the stacks keep running, plus "
    "usage the price table assumes. Your bill depends on use, discounts, taxes and your billing currency."
)

ACCOUNT_CURRENCY = "the billing account's"  # a budget's currency when tierstack.yaml gives none

# How each type is billed is its `billing` in the resource-type table (generator/facts/resource_types.py):
# no charge of their own (access, APIs, identities, budgets, networks without traffic; every IAM grant)
NO_CHARGE_SUFFIXES = resource_types.NO_CHARGE_SUFFIXES
NO_CHARGE_TYPES = resource_types.with_billing("free")
# given no line of their own, but read to price another resource's (a workflow that a schedule starts)
CONTEXT_TYPES = resource_types.with_billing("context")
# billed only by what flows through them: named in the estimate's "leaves out"
USAGE_ONLY_TYPES = resource_types.with_billing("usage", "context")


# --- the price table ----------------------------------------------------------------------------------


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


# --- cron: runs per month -----------------------------------------------------------------------------

_NAMES = {
    **{
        m: i
        for i, m in enumerate(("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"), 1)
    },
    **{d: i for i, d in enumerate(("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"))},
}
_FIELDS = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))


def _cron_values(text: str, low: int, high: int) -> set[int]:
    values: set[int] = set()
    for part in text.split(","):
        base, _, step = part.partition("/")
        if base == "*":
            first, last = low, high
        else:
            start, dash, end = base.partition("-")
            first = int(_NAMES.get(start.upper(), start))
            last = int(_NAMES.get(end.upper(), end)) if dash else (high if step else first)
        values.update(range(first, last + 1, int(step) if step else 1))
    return values


@functools.lru_cache(maxsize=1024)  # pure, and a fleet's plans repeat a few schedules thousands of times
def runs_per_month(cron: str) -> float:
    """How often a five-field cron expression fires in an average month (cron's day-of-month OR
    day-of-week rule when both are restricted), counted over the four years 2024-2027."""
    fields = cron.split()
    if len(fields) != 5:
        raise ValueError(f"'{cron}' is not a five-field cron expression")
    minutes, hours, days, months, weekdays = (
        _cron_values(text, low, high) for text, (low, high) in zip(fields, _FIELDS, strict=True)
    )
    weekdays = {d % 7 for d in weekdays}  # 7 is Sunday too
    dom_any, dow_any = fields[2].startswith("*"), fields[4].startswith("*")
    firing_days = 0
    for year in range(2024, 2028):
        for month in months:
            for day in range(1, calendar.monthrange(year, month)[1] + 1):
                weekday = (dt.date(year, month, day).weekday() + 1) % 7  # cron: 0 = Sunday
                in_dom, in_dow = day in days, weekday in weekdays
                if dom_any and dow_any:
                    hit = True
                elif dom_any:
                    hit = in_dow
                elif dow_any:
                    hit = in_dom
                else:
                    hit = in_dom or in_dow
                firing_days += hit
    return firing_days * len(hours) * len(minutes) / 48


# --- pricing resources ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Resource:
    address: str
    type: str
    values: Mapping[str, Any]
    capability: str


@dataclass(frozen=True)
class Line:
    address: str
    capability: str
    what: str  # "deployment pool: 2 × n1-standard-4 node × 729.6 h"
    always_on: bool
    monthly: float | None  # None: not priced
    not_priced: str | None = None  # why, in a short sentence for the person reading the estimate
    assumption: str | None = None
    sources: tuple[str, ...] = ()
    gaps: tuple[str, ...] = ()  # prices or resource types the table has no entry for: a gap to fill
    left_out: bool = False  # not priced on purpose: a type the table's `excluded` list names
    catalog_may_price: bool = False  # a price missing here that a Cloud Billing Catalog rule can look up

    @property
    def why_not_priced(self) -> str:
        """The reason shown beside a line that is not priced."""
        return self.not_priced or ""

    def to_data(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "address": self.address,
            "capability": self.capability,
            "what": self.what,
            "always_on": self.always_on,
            "monthly": None if self.monthly is None else round(self.monthly, 2),
        }
        for key in ("not_priced", "assumption"):
            if getattr(self, key):
                data[key] = getattr(self, key)
        if self.left_out:
            data["left_out"] = True
        if self.sources:
            data["sources"] = list(self.sources)
        return data


def price_label(item: str, key: str) -> str:
    """A price table entry in words: item, then key unless the item's name already ends with it.

    The table names an item by what it is and keys it by a unit or a type, so `cloud_storage_standard`
    keyed `standard` and `feature_store_optimized_node` keyed `node` would read "standard standard" and
    "node node" joined as they are.
    """
    words = item.replace("_", " ").split()
    if words and words[-1].lower() == key.lower():
        return " ".join(words)
    return " ".join([*words, key])


# what a price is for, as a user names it: "n1-standard-4 prediction nodes", "Standard storage"
THINGS = {
    "vertex_training_machine": "{key} training nodes",
    "vertex_training_accelerator": "{key} training GPUs",
    "vertex_prediction_machine": "{key} prediction nodes",
    "vertex_prediction_accelerator": "{key} prediction GPUs",
    "feature_store_optimized_node": "Optimized feature serving nodes",
    "feature_store_bigtable_node": "Bigtable feature serving nodes",
    "cloud_scheduler_job": "Cloud Scheduler jobs",
    "vertex_pipelines_run": "pipeline runs",
}


def thing(item: str, key: str) -> str:
    """A price table entry as the person reading the estimate names what it prices."""
    if item in THINGS:
        return THINGS[item].format(key=key)
    if item.startswith("cloud_storage_"):
        return f"{key.capitalize()} storage"
    return price_label(item, key)


def things(prices: Mapping[str, str]) -> str:
    """Missing prices ({item: key}) in words; a node's machine and GPUs as one: "g2-standard-8 + NVIDIA_L4
    training nodes" (the line names them already: the reason stays short)."""
    for use in ("training", "prediction"):
        machine, accelerator = prices.get(f"vertex_{use}_machine"), prices.get(f"vertex_{use}_accelerator")
        if machine and accelerator:
            rest = {k: v for k, v in prices.items() if not k.startswith(f"vertex_{use}_")}
            return " and ".join([f"{machine} + {accelerator} {use} nodes", *(thing(i, k) for i, k in rest.items())])
    return " and ".join(thing(item, key) for item, key in prices.items())


def catalog_rule(item: str, key: str) -> bool:
    """Whether generator/analysis/price_catalog.py has a rule that looks this price up in the Cloud Billing Catalog."""
    from tierstack.generator.analysis.price_catalog import RULES  # imports this module: read here, not at the top

    rule = RULES.get(item)
    return rule is not None and rule(key) is not None


def _block(value: Any) -> dict[str, Any]:
    if isinstance(value, list):
        value = value[0] if value else {}
    return value if isinstance(value, dict) else {}


def _number(value: Any, default: float = 0) -> float:
    try:
        return float(value) if value is not None else default
    except (TypeError, ValueError):
        return default


def pipeline_workflows(resources: Iterable[Resource]) -> frozenset[str]:
    """Names of the stack's workflows that start a Vertex AI pipeline run (pipelineJobs.create).

    A retraining schedule starts such a workflow rather than the pipeline itself, so each firing is a run.
    """
    names: set[str] = set()
    for r in resources:
        if r.type != "google_workflows_workflow":
            continue
        source = r.values.get("source_contents")
        # a plan leaves the source unknown (it names buckets created with it): ml_pipelines' workflow retrains
        if "/pipelineJobs" in str(source or "") or (source is None and r.capability == "ml_pipelines"):
            # a plan has the name; a synthesized stack's scheduler refers to it by address
            names |= {str(r.values.get("name")), f"${{{r.address}.name}}"}
    return frozenset(names)


class _Pricer:
    def __init__(self, table: PriceTable, region: str, pipeline_workflows: frozenset[str] = frozenset()) -> None:
        self.table, self.region = table, region
        self.hours = table.assumptions.get("hours_per_month", 729.6)
        self.pipeline_workflows = pipeline_workflows

    def starts_pipeline_runs(self, uri: str) -> bool:
        """A scheduler target that starts a pipeline run: pipelineJobs directly, or a workflow that does."""
        if uri.endswith("/pipelineJobs"):
            return True
        head, sep, tail = uri.rpartition("/workflows/")
        name, _, rest = tail.partition("/")
        return bool(head and sep) and rest == "executions" and name in self.pipeline_workflows

    def line(self, resource: Resource, what: str, parts: Sequence[tuple[str, str, str, float]], **kw: Any) -> Line:
        """A line whose monthly figure is the sum of quantity × unit price over parts (item, key, region, qty)."""
        total = 0.0
        sources: list[str] = []
        missing: list[tuple[str, str, str]] = []
        for item, key, region, quantity in parts:
            entry = self.table.find(item, key, region)
            if entry is not None and entry.source not in sources:
                sources.append(entry.source)
            if entry is None or entry.price is None:
                missing.append((item, key, region))
            else:
                total += entry.price * quantity
        if missing:
            return Line(
                resource.address,
                resource.capability,
                what,
                monthly=None,
                not_priced=self.why_missing(missing),
                sources=tuple(sources),
                # a price the table has no entry for is a gap; one written `null` was looked for and not found
                gaps=tuple(f"{i} {k} {r}" for i, k, r in missing if self.table.find(i, k, r) is None),
                catalog_may_price=self.table.catalog is None and any(catalog_rule(i, k) for i, k, _ in missing),
                **kw,
            )
        return Line(resource.address, resource.capability, what, monthly=total, sources=tuple(sources), **kw)

    def why_missing(self, missing: Sequence[tuple[str, str, str]]) -> str:
        """Why these prices are missing, in one short sentence a user reads beside the line.

        A `null` entry's own `note` says it where there is more to say than "not in the table" (a price
        Google bills that the table has no figure for); the others are named together, per region.
        """
        notes: list[str] = []
        unlisted: dict[str, dict[str, str]] = {}
        for item, key, region in missing:
            entry = self.table.find(item, key, region)
            if entry is not None and entry.note:
                if entry.note not in notes:
                    notes.append(entry.note)
            else:
                unlisted.setdefault(region, {})[item] = key
        where = "not in the catalog or the price table" if self.table.catalog else "not in the price table"
        named = [f"{things(prices)} in {region}: {where}" for region, prices in unlisted.items()]
        return "; ".join([*notes, *named])

    def region_of(self, values: Mapping[str, Any]) -> str:
        return str(values.get("region") or values.get("location") or self.region).lower()

    def price(self, resource: Resource) -> list[Line]:
        t, v = resource.type, resource.values
        region = self.region_of(v)
        hours = self.hours
        if t == "google_vertex_ai_deployment_resource_pool":
            dedicated = _block(v.get("dedicated_resources"))
            machine = _block(dedicated.get("machine_spec"))
            replicas = _number(dedicated.get("min_replica_count"), 1)
            machine_type = str(machine.get("machine_type"))
            parts = [("vertex_prediction_machine", machine_type, region, replicas * hours)]
            accelerators = _number(machine.get("accelerator_count"))
            if machine.get("accelerator_type") and accelerators:
                parts.append(
                    (
                        "vertex_prediction_accelerator",
                        str(machine["accelerator_type"]),
                        region,
                        replicas * accelerators * hours,
                    )
                )
            what = f"deployment pool: {replicas:g} × {machine_type} node (min replicas) × {hours:g} h, {region}"
            return [
                self.line(
                    resource,
                    what,
                    parts,
                    always_on=True,
                    assumption="models deployed on the pool run at its min replicas",
                )
            ]
        if t == "google_vertex_ai_persistent_resource":
            lines = []
            for pool in v.get("resource_pools") or []:
                machine = _block(pool.get("machine_spec"))
                scaling = _block(pool.get("autoscaling_spec"))
                replicas = _number(scaling.get("min_replica_count"), _number(pool.get("replica_count"), 1))
                machine_type = str(machine.get("machine_type"))
                parts = [("vertex_training_machine", machine_type, region, replicas * hours)]
                accelerators = _number(machine.get("accelerator_count"))
                accelerator = machine.get("accelerator_type")
                extra = ""
                if accelerator and accelerators:
                    parts.append(
                        ("vertex_training_accelerator", str(accelerator), region, replicas * accelerators * hours)
                    )
                    extra = f" + {accelerators:g} × {accelerator}"
                what = f"training pool: {replicas:g} × ({machine_type}{extra}) (min replicas) × {hours:g} h, {region}"
                lines.append(self.line(resource, what, parts, always_on=True))
            return lines
        if t == "google_vertex_ai_feature_online_store":
            if v.get("bigtable") not in (None, [], {}) and v.get("optimized") in (None, []):
                scaling = _block(_block(v.get("bigtable")).get("auto_scaling"))
                nodes = _number(scaling.get("min_node_count"), 1)
                what = f"feature online store (Bigtable): {nodes:g} node (min) × {hours:g} h, {region}"
                return [
                    self.line(
                        resource, what, [("feature_store_bigtable_node", "node", region, nodes * hours)], always_on=True
                    )
                ]
            nodes = self.table.assumptions.get("feature_store_optimized_nodes", 1)
            what = f"feature online store (Optimized): {nodes:g} node × {hours:g} h, {region}"
            return [
                self.line(
                    resource,
                    what,
                    [("feature_store_optimized_node", "node", region, nodes * hours)],
                    always_on=True,
                    assumption=f"{nodes:g} serving node",
                )
            ]
        if t == "google_storage_bucket":
            size = self.table.assumptions.get("bucket_gb", 50)
            storage_class = str(v.get("storage_class") or "STANDARD").lower()
            what = f"bucket {v.get('name')}: {size:g} GB {storage_class} × 1 month, {region}"
            return [
                self.line(
                    resource,
                    what,
                    [(f"cloud_storage_{storage_class}", storage_class, region, size)],
                    always_on=False,
                    assumption=f"{size:g} GB stored",
                )
            ]
        if t == "google_cloud_scheduler_job":
            lines = [
                self.line(
                    resource,
                    f"scheduler job {v.get('name')}",
                    [("cloud_scheduler_job", "job", "global", 1)],
                    always_on=True,
                )
            ]
            uri = str(_block(v.get("http_target")).get("uri") or "")
            schedule = str(v.get("schedule") or "")
            try:
                runs = runs_per_month(schedule) if schedule else 0.0
            except ValueError:
                runs = 0.0
            per = self.table.assumptions.get("pipeline_runs_per_schedule_firing", 1)
            if self.starts_pipeline_runs(uri):
                what = f"pipeline runs: {runs * per:.1f} runs a month (schedule '{schedule}')"
                lines.append(
                    self.line(
                        resource,
                        what,
                        [("vertex_pipelines_run", "run", "global", runs * per)],
                        always_on=False,
                        assumption=f"{per:g} run per firing of '{schedule}'; the work inside a run is left out",
                    )
                )
            elif uri.endswith("/batchPredictionJobs"):
                lines.append(
                    Line(
                        resource.address,
                        resource.capability,
                        f"batch prediction jobs: {runs:.1f} jobs a month (schedule '{schedule}')",
                        always_on=False,
                        monthly=None,
                        not_priced="each job's compute depends on its input; not estimated",
                    )
                )
            return lines
        if t in NO_CHARGE_TYPES or t.endswith(NO_CHARGE_SUFFIXES) or t in USAGE_ONLY_TYPES:
            return []
        return [self.unknown(resource)]

    def unknown(self, resource: Resource) -> Line:
        """A resource type the table has no rule for: excluded on purpose (with the reason) or a gap."""
        t = resource.type
        reason = self.table.excluded.get(t) or resource_types.not_priced_reason(t)
        return Line(
            resource.address,
            resource.capability,
            f"{t.removeprefix('google_').replace('_', ' ')} {resource.values.get('name') or ''}".rstrip(),
            always_on=True,
            monthly=None,
            not_priced=reason or f"tierstack has no price rule for {t} yet",
            gaps=() if reason else (t,),
            left_out=bool(reason),
        )

    def per_stack(self, capability: str = "cost_controls") -> list[Line]:
        """Log and metric volumes are per project, so per stack: assumptions."""
        lines = []
        gib = self.table.assumptions.get("logging_gib_per_stack", 0)
        entry = self.table.find("cloud_logging_ingestion", "gib", "global")
        if entry is not None and entry.price is not None:
            billable = max(0.0, gib - (entry.free or 0))
            free = f", {entry.free:g} GiB free per project" if entry.free else ""
            lines.append(
                Line(
                    "(project)",
                    capability,
                    f"Cloud Logging: {gib:g} GiB ingested{free}",
                    always_on=False,
                    monthly=billable * entry.price,
                    assumption=f"{gib:g} GiB of logs a month",
                    sources=(entry.source,),
                )
            )
        mib = self.table.assumptions.get("monitoring_chargeable_mib_per_stack", 0)
        entry = self.table.find("cloud_monitoring_data", "mib", "global")
        if entry is not None and entry.price is not None:
            lines.append(
                Line(
                    "(project)",
                    capability,
                    f"Cloud Monitoring: {mib:g} MiB of chargeable metrics",
                    always_on=False,
                    monthly=mib * entry.price,
                    assumption=f"{mib:g} MiB of chargeable metric data a month",
                    sources=(entry.source,),
                )
            )
        return lines


def price(resources: Iterable[Resource], table: PriceTable, region: str) -> list[Line]:
    """The priced lines of these resources (region: where a resource that names none runs)."""
    resources = list(resources)
    pricer = _Pricer(table, region, pipeline_workflows(resources))
    return [line for resource in resources for line in pricer.price(resource)]


# --- stacks ------------------------------------------------------------------------------------------------


def capability_of(address: str, values: Mapping[str, Any], known: Iterable[str] | None = None) -> str:
    """A resource's capability: its `capability` label, its construct path, else its name's prefix among
    `known` (default: every registered capability, which imports them all)."""
    labels = values.get("labels") if isinstance(values.get("labels"), Mapping) else {}
    if labels and labels.get("capability"):
        return str(labels["capability"])
    path = _block(values.get("//")).get("metadata", {}).get("path") if "//" in values else None
    if isinstance(path, str) and path.count("/") >= 2:
        return path.split("/")[1]
    logical = address.split(".")[-1]
    return base.capability_of(logical, known) or "other"


def stack_resources(data: Mapping[str, Any]) -> list[Resource]:
    """The managed resources of a cdk.tf.json."""
    out = []
    for tf_type, bodies in sorted((data.get("resource") or {}).items()):
        for name, body in sorted(bodies.items()):
            address = f"{tf_type}.{name}"
            out.append(Resource(address, tf_type, body, capability_of(address, body)))
    return out


def default_region(data: Mapping[str, Any]) -> str:
    providers = (data.get("provider") or {}).get("google") or [{}]
    first = providers[0] if isinstance(providers, list) else providers
    return str(first.get("region") or "")


@dataclass
class StackEstimate:
    stack: str
    environment: str
    region: str
    lines: list[Line]
    budget: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def total(self, always_on: bool | None = None) -> float:
        return sum(line.monthly or 0.0 for line in self.lines if always_on is None or line.always_on == always_on)

    @property
    def baseline(self) -> float:
        return self.total(always_on=True)

    @property
    def not_priced(self) -> list[Line]:
        return [line for line in self.lines if line.monthly is None]

    def by_capability(self) -> dict[str, float | None]:
        """The priced lines' sum per capability; None where no line of it is priced (never a zero)."""
        out: dict[str, float | None] = {}
        for line in self.lines:
            so_far = out.get(line.capability)
            if line.monthly is None:
                out.setdefault(line.capability, None)
            else:
                out[line.capability] = (so_far or 0.0) + line.monthly
        return dict(sorted(out.items()))

    def not_priced_by_capability(self) -> dict[str, int]:
        """How many lines of each capability are not priced (only capabilities with one)."""
        out: dict[str, int] = {}
        for line in self.not_priced:
            out[line.capability] = out.get(line.capability, 0) + 1
        return dict(sorted(out.items()))

    def capability_figure(self, capability: str) -> str:
        """The capability's figure as shown: "218.88", "218.88 + 1 item not priced" or "not priced"."""
        amount = self.by_capability().get(capability)
        unpriced = self.not_priced_by_capability().get(capability, 0)
        if amount is None:
            return "not priced"
        return f"{amount:,.2f}" + (f" + {items_not_priced(unpriced)}" if unpriced else "")

    def total_text(self, currency: str) -> str:
        """The stack's total as shown wherever it is: what is not priced is named beside it."""
        return f"{currency} {self.total():,.2f} a month" + (
            f" + {items_not_priced(len(self.not_priced))}" if self.not_priced else ""
        )


def budget_text(budget: Mapping[str, Any]) -> str:
    """A configured budget (StackEstimate.budget) as `cost` prints it, every amount with its currency.

    A budget without a currency is in the billing account's, which tierstack cannot know: said once, in words.
    """
    amount, limit = f"{budget['amount']:,.2f}", f"{budget['first_threshold_amount']:,.2f}"
    given = budget["currency"] if budget["currency"] != ACCOUNT_CURRENCY else None
    threshold = f"first threshold {budget['first_threshold']:.0%}"
    if given:
        return f"budget {given} {amount} a month; {threshold} = {given} {limit}"
    return f"budget {amount} a month in the billing account's currency; {threshold} = {limit}"


def items_not_priced(count: int) -> str:
    return f"{count} item{'s' if count != 1 else ''} not priced"


def estimate_stack(stack: str, environment: str, data: Mapping[str, Any], table: PriceTable) -> StackEstimate:
    region = default_region(data)
    resources = stack_resources(data)
    pricer = _Pricer(table, region, pipeline_workflows(resources))
    lines = [line for resource in resources for line in pricer.price(resource)]
    lines += pricer.per_stack()
    lines.sort(key=lambda line: (line.capability, line.address, line.what))
    return StackEstimate(stack, environment, region, lines)


def compare_budget(estimate: StackEstimate, budget: Mapping[str, Any], currency: str) -> None:
    """Fill estimate.budget and warn when the always-on baseline alone passes the first threshold."""
    amount = budget.get("amount")
    if not budget.get("enabled", True) or amount is None:
        estimate.budget = {"configured": False}
        return
    thresholds = list(budget.get("thresholds") or [1.0])
    first = float(thresholds[0])
    limit = float(amount) * first
    given = budget.get("currency")
    estimate.budget = {
        "configured": True,
        "amount": float(amount),
        "currency": given or ACCOUNT_CURRENCY,
        "first_threshold": first,
        "first_threshold_amount": round(limit, 2),
        "baseline": round(estimate.baseline, 2),
        "total": round(estimate.total(), 2),
    }
    if given and given != currency:
        estimate.warnings.append(
            f"the budget is in {given} and this estimate in {currency}: compare them after converting"
        )
    if estimate.baseline > limit:
        unpriced = sum(1 for line in estimate.not_priced if line.always_on)
        also = f" + {items_not_priced(unpriced)}" if unpriced else ""
        if given:
            of = f"{given} {float(amount):,.2f} = {given} {limit:,.2f}"
        else:
            of = f"{float(amount):,.2f} = {limit:,.2f}, in the billing account's currency"
        estimate.warnings.append(
            f"the always-on baseline alone ({currency} {estimate.baseline:,.2f} a month{also}) passes the budget's "
            f"first threshold ({first:.0%} of {of}): the alert will fire every month"
        )
    if estimate.not_priced:
        estimate.warnings.append(f"{items_not_priced(len(estimate.not_priced))}: the real figure is higher than shown")


@dataclass
class Estimate:
    currency: str
    stacks: list[StackEstimate]
    table: PriceTable

    @property
    def catalog_may_price(self) -> int:
        """How many lines not priced the Cloud Billing Catalog may price (its rules cover them; table prices only)."""
        return sum(1 for s in self.stacks for line in s.not_priced if line.catalog_may_price)

    def catalog_hint(self) -> str | None:
        """Said once, below the lines, rather than beside each: where the missing prices may be found."""
        count = self.catalog_may_price
        if not count:
            return None
        return (
            f"{items_not_priced(count)} may have a price in Google's Cloud Billing Catalog, which "
            "`tierstack cost --prices catalog` reads (docs/operate.md)"
        )

    def to_data(self) -> dict[str, Any]:
        return {
            "estimate": True,
            "note": ESTIMATE_NOTE,
            "currency": self.currency,
            "hours_per_month": self.table.assumptions.get("hours_per_month"),
            "assumptions": self.table.assumptions,
            "leaves_out": list(self.table.left_out),
            "prices": {
                "origin": self.table.origin,
                "fetched": self.table.fetched,
                "notes": list(self.table.notes),
                "catalog_may_price": self.catalog_may_price,
            },
            "total": round(sum(s.total() for s in self.stacks), 2),
            "not_priced": sum(len(s.not_priced) for s in self.stacks),
            "stacks": [
                {
                    "stack": s.stack,
                    "environment": s.environment,
                    "region": s.region,
                    "total": round(s.total(), 2),
                    "always_on": round(s.baseline, 2),
                    "usage": round(s.total(always_on=False), 2),
                    "by_capability": {k: None if v is None else round(v, 2) for k, v in s.by_capability().items()},
                    "not_priced": len(s.not_priced),
                    "not_priced_by_capability": s.not_priced_by_capability(),
                    "budget": s.budget,
                    "warnings": s.warnings,
                    "lines": [line.to_data() for line in s.lines],
                }
                for s in self.stacks
            ],
        }


def estimate(
    config: Path,
    out: Path | None = None,
    environments: Sequence[str] = (),
    members: Sequence[str] = (),
    table: PriceTable | None = None,
) -> Estimate:
    """The estimate of a config's (or a fleet's members') synthesized stacks (generate first), compared with
    each budget; `table`: the prices to use (price_catalog.price_table), the shipped table by default."""
    from tierstack.generator.analysis.verify import load_stack, synthesized_stacks
    from tierstack.generator.config.blueprint import display_path

    table = table or load_prices()
    stacks = []
    for env, path in synthesized_stacks(config, out, environments, members):
        data = load_stack(path, display_path(path))
        result = estimate_stack(env.stack, env.name, data, table)
        compare_budget(result, env.settings.get("budget") or {}, table.currency)
        stacks.append(result)
    return Estimate(table.currency, stacks, table)


def to_text(result: Estimate) -> str:
    cur = result.currency
    lines = [f"Monthly cost estimate ({cur}). {ESTIMATE_NOTE}", ""]
    for s in result.stacks:
        lines.append(f"{s.stack} ({s.region})")
        for line in s.lines:
            figure = f"{line.monthly:>10,.2f}" if line.monthly is not None else f"{'not priced':>10}"
            kind = "always on" if line.always_on else "usage"
            lines.append(f"  {line.capability:<20} {kind:<9} {figure}  {line.what}")
            if line.not_priced:
                lines.append(f"  {'':<20} {'':<9} {'':>10}    ({line.why_not_priced})")
        parts = ", ".join(f"{cap} {s.capability_figure(cap)}" for cap in s.by_capability())
        lines.append(f"  in {cur} a month, by capability: {parts}")
        usage = s.total(always_on=False)
        lines.append(f"  total {s.total_text(cur)} (always on {cur} {s.baseline:,.2f}, usage {cur} {usage:,.2f})")
        budget = s.budget
        if budget.get("configured"):
            lines.append(f"  {budget_text(budget)}")
        else:
            lines.append("  no budget configured")
        lines.extend(f"  warning: {w}" for w in s.warnings)
        lines.append("")
    total = sum(s.total() for s in result.stacks)
    unpriced = sum(len(s.not_priced) for s in result.stacks)
    lines.append(f"all stacks: {cur} {total:,.2f} a month" + (f" + {items_not_priced(unpriced)}" if unpriced else ""))
    assumptions = ", ".join(f"{k} = {v:g}" for k, v in result.table.assumptions.items())
    lines.append(f"assumptions: {assumptions} (generator/data/prices.yaml)")
    lines.append("leaves out: " + "; ".join(result.table.left_out))
    lines.append(f"prices: {result.table.origin}")
    lines.extend(f"note: {note}" for note in result.table.notes)
    hint = result.catalog_hint()
    if hint:
        lines.append(f"note: {hint}")
    return "\n".join(lines) + "\n"


# --- cost deltas of plans (for `tierstack review`) ----------------------------------------------------------


@dataclass(frozen=True)
class ResourceDelta:
    address: str
    capability: str
    before: float | None  # None: not priced (or absent: see present_before)
    after: float | None
    present_before: bool
    present_after: bool
    not_priced: str | None = None

    @property
    def delta(self) -> float | None:
        if self.not_priced:
            return None
        return (self.after or 0.0) - (self.before or 0.0)


@dataclass(frozen=True)
class CostDelta:
    currency: str
    before: float
    after: float
    resources: tuple[ResourceDelta, ...]  # only resources whose monthly figure changes, or that are not priced
    # per capability, (before, after) over the resources priced on both sides (like with like); a side is
    # None when the capability has resources there and not one of them is priced
    by_capability: Mapping[str, tuple[float | None, float | None]] = field(default_factory=dict)

    @property
    def delta(self) -> float:
        return self.after - self.before

    @property
    def not_priced(self) -> tuple[ResourceDelta, ...]:
        return tuple(r for r in self.resources if r.not_priced)

    def to_data(self) -> dict[str, Any]:
        return {
            "estimate": True,
            "currency": self.currency,
            "before": round(self.before, 2),
            "after": round(self.after, 2),
            "delta": round(self.delta, 2),
            "resources": [
                {
                    "address": r.address,
                    "capability": r.capability,
                    "before": None if r.before is None else round(r.before, 2),
                    "after": None if r.after is None else round(r.after, 2),
                    "delta": None if r.delta is None else round(r.delta, 2),
                    **({"not_priced": r.not_priced} if r.not_priced else {}),
                }
                for r in self.resources
            ],
        }


def _plan_region(plan: Mapping[str, Any]) -> str:
    providers = ((plan.get("configuration") or {}).get("provider_config")) or {}
    for name in ("google", "google-beta"):
        region = (((providers.get(name) or {}).get("expressions") or {}).get("region") or {}).get("constant_value")
        if region:
            return str(region)
    return ""


def _planned_resources(plan: Mapping[str, Any]) -> list[Resource]:
    """The managed resources of a plan's planned_values (root module and child modules)."""
    out: list[Resource] = []
    known = _plan_capabilities(plan)

    def walk(module: Mapping[str, Any]) -> None:
        for r in module.get("resources") or []:
            if r.get("mode", "managed") == "managed":
                values = r.get("values") or {}
                out.append(Resource(r["address"], r["type"], values, capability_of(r["address"], values, known)))
        for child in module.get("child_modules") or []:
            walk(child)

    walk(((plan.get("planned_values") or {}).get("root_module")) or {})
    return out


def _changed_resources(plan: Mapping[str, Any], side: str) -> list[Resource]:
    """The resources of a plan's resource_changes as they are before or after it."""
    out = []
    known = _plan_capabilities(plan)
    for change in plan.get("resource_changes") or []:
        if change.get("mode", "managed") != "managed":
            continue
        values = (change.get("change") or {}).get(side)
        if isinstance(values, Mapping):
            address = change["address"]
            out.append(Resource(address, change["type"], values, capability_of(address, values, known)))
    return out


def _plan_capabilities(plan: Mapping[str, Any]) -> frozenset[str]:
    """The built-in capability ids and those the plan's resources are labelled with (a plugin's): what a
    resource name can start with, known without importing every capability module (half a second)."""
    from tierstack.generator.analysis.review import capabilities_in
    from tierstack.modules import BUILT_IN

    return capabilities_in(plan) | frozenset(BUILT_IN)


def _delta(before: list[Resource], after: list[Resource], table: PriceTable, region: str) -> CostDelta:
    pricer = _Pricer(table, region, pipeline_workflows([*before, *after]))

    def priced(resources: list[Resource]) -> dict[str, tuple[str, float | None, str | None]]:
        out: dict[str, tuple[str, float | None, str | None]] = {}
        for resource in resources:
            lines = pricer.price(resource)
            if not lines:
                continue
            missing = [line.not_priced for line in lines if line.monthly is None and line.not_priced]
            total = sum(line.monthly or 0.0 for line in lines)
            out[resource.address] = (resource.capability, None if missing else total, "; ".join(missing) or None)
        return out

    old, new = priced(before), priced(after)
    changes = []
    for address in sorted(set(old) | set(new)):
        cap_a, amount_a, why_a = old.get(address, ("", 0.0, None))
        cap_b, amount_b, why_b = new.get(address, ("", 0.0, None))
        why = why_b or why_a
        if why is None and abs((amount_b or 0.0) - (amount_a or 0.0)) < 0.005:
            continue
        changes.append(ResourceDelta(address, cap_b or cap_a, amount_a, amount_b, address in old, address in new, why))
    before_total = sum(v[1] or 0.0 for v in old.values())
    after_total = sum(v[1] or 0.0 for v in new.values())
    unpriced = {r.address for r in changes if r.not_priced}
    capabilities = _by_capability(old, new, unpriced)
    return CostDelta(table.currency, before_total, after_total, tuple(changes), capabilities)


def _by_capability(
    old: Mapping[str, tuple[str, float | None, str | None]],
    new: Mapping[str, tuple[str, float | None, str | None]],
    unpriced: set[str],
) -> dict[str, tuple[float | None, float | None]]:
    """Each capability's (before, after): the sum over its resources priced on both sides; None for a side
    where it has resources and none of them is priced (not priced, never 0.00)."""
    sums: dict[str, list[float]] = {}
    seen: dict[str, list[bool]] = {}  # [priced before, unpriced before, priced after, unpriced after]
    for address in set(old) | set(new):
        capability = (new.get(address) or old.get(address) or ("other",))[0]
        totals = sums.setdefault(capability, [0.0, 0.0])
        flags = seen.setdefault(capability, [False, False, False, False])
        for side, values in enumerate((old, new)):
            if address not in values:
                continue
            if address in unpriced:
                flags[2 * side + 1] = True
            else:
                totals[side] += values[address][1] or 0.0
                flags[2 * side] = True
    out: dict[str, tuple[float | None, float | None]] = {}
    for capability, (before, after) in sorted(sums.items()):
        f = seen[capability]
        out[capability] = (None if f[1] and not f[0] else before, None if f[3] and not f[2] else after)
    return out


def plan_cost_delta(plan: Mapping[str, Any], table: PriceTable | None = None) -> CostDelta:
    """The monthly cost change of one `terraform show -json` plan: its resource_changes, before vs after.

    Pure: no network, no files but the price table (pass `table` to skip reading it). A created
    resource has no before, a destroyed one no after; resources the table cannot price are listed
    with the reason and left out of the totals.
    """
    table = table or load_prices()
    return _delta(_changed_resources(plan, "before"), _changed_resources(plan, "after"), table, _plan_region(plan))


def cost_delta(before: Mapping[str, Any], after: Mapping[str, Any], table: PriceTable | None = None) -> CostDelta:
    """The monthly cost change between two plans' planned_values (say, the base branch's and the head's)."""
    table = table or load_prices()
    region = _plan_region(after) or _plan_region(before)
    return _delta(_planned_resources(before), _planned_resources(after), table, region)


# --- `tierstack cost --diff`: what plans change, per stack and capability ------------------------------------

DIFF_NOTE = (
    "Before and after are over what is priced on both sides of the plan; what is not priced is listed, "
    "never counted as 0."
)


@dataclass(frozen=True)
class CapabilityDiff:
    """One capability's monthly figure before and after a plan (None: it has resources there, none priced)."""

    capability: str
    before: float | None
    after: float | None
    changes: tuple[CostChange, ...]  # its resources the review lists: priced and changing, or not priced

    @property
    def priced_change(self) -> float:
        """The change over what is priced on both sides."""
        return (self.after or 0.0) - (self.before or 0.0)

    @property
    def change(self) -> float | None:
        """The priced change; None (not priced, never 0.00) when it is nothing and something not priced changes."""
        if self.not_priced and abs(self.priced_change) < 0.005:
            return None
        return self.priced_change

    @property
    def not_priced(self) -> tuple[CostChange, ...]:
        return tuple(c for c in self.changes if c.not_priced)

    @property
    def changed(self) -> bool:
        """A priced figure moves, or something not priced is created, destroyed or changed."""
        return abs(self.priced_change) >= 0.005 or bool(self.not_priced)


@dataclass(frozen=True)
class StackDiff:
    stack: str
    source: str
    region: str
    before: float  # over what is priced on both sides (the review's figures)
    after: float
    capabilities: tuple[CapabilityDiff, ...]

    @property
    def change(self) -> float:
        return self.after - self.before

    @property
    def not_priced(self) -> tuple[CostChange, ...]:
        return tuple(c for cap in self.capabilities for c in cap.not_priced)


@dataclass
class Diff:
    currency: str
    stacks: list[StackDiff]
    table: PriceTable

    @property
    def before(self) -> float:
        return sum(s.before for s in self.stacks)

    @property
    def after(self) -> float:
        return sum(s.after for s in self.stacks)

    def to_data(self) -> dict[str, Any]:
        return {
            "estimate": True,
            "note": f"{ESTIMATE_NOTE} {DIFF_NOTE}",
            "currency": self.currency,
            "assumptions": self.table.assumptions,
            "leaves_out": list(self.table.left_out),
            "prices": {"origin": self.table.origin, "fetched": self.table.fetched, "notes": list(self.table.notes)},
            "before": round(self.before, 2),
            "after": round(self.after, 2),
            "change": _rounded(self.after - self.before),
            "not_priced": sum(len(s.not_priced) for s in self.stacks),
            "stacks": [_stack_diff_data(s) for s in self.stacks],
        }


def _rounded(amount: float | None) -> float | None:
    """Two decimals, and never -0.0 (a saving of nothing)."""
    return None if amount is None else round(amount, 2) + 0.0


def _stack_diff_data(s: StackDiff) -> dict[str, Any]:
    return {
        "stack": s.stack,
        "plan": s.source,
        "region": s.region,
        "before": round(s.before, 2),
        "after": round(s.after, 2),
        "change": _rounded(s.change),
        "not_priced": len(s.not_priced),
        "capabilities": [
            {
                "capability": c.capability,
                "before": _rounded(c.before),
                "after": _rounded(c.after),
                "change": _rounded(c.change),
                "changed": c.changed,
                "not_priced": len(c.not_priced),
            }
            for c in s.capabilities
        ],
        "resources": [
            {
                "address": ch.address,
                "capability": ch.capability,
                "action": ch.action,
                "before": _rounded(ch.before),
                "after": _rounded(ch.after),
                "present_before": ch.present_before,
                "present_after": ch.present_after,
                "change": _rounded(ch.delta),
                **({"not_priced": ch.not_priced} if ch.not_priced else {}),
            }
            for c in s.capabilities
            for ch in c.changes
        ],
    }


def diff_stack(plan: Mapping[str, Any], source: str, table: PriceTable) -> StackDiff:
    """One plan's monthly cost change per capability, on the review's rules (generator/analysis/review/pricing.py):
    a forgotten object keeps costing, an unpriced resource changed only in its labels is not listed, and what
    is not priced on either side leaves both figures."""
    from tierstack.generator.analysis.review import pricing, stack_name

    listed = pricing.stack_cost(plan, table)
    delta = pricing.billed_delta(plan, table)
    capabilities = tuple(
        CapabilityDiff(capability, before, after, tuple(c for c in listed.changes if c.capability == capability))
        for capability, (before, after) in delta.by_capability.items()
    )
    return StackDiff(stack_name(plan, source), source, _plan_region(plan), listed.before, listed.after, capabilities)


def diff_plans(sources: Sequence[str], table: PriceTable) -> Diff:
    """`tierstack cost --diff`: each plan file (`terraform show -json`; `-`: standard input) read with the review's
    bounded reader and priced per capability. Two plans of one stack would count its change twice: refused."""
    from tierstack.generator.analysis.review import load_plan

    stacks: list[StackDiff] = []
    seen: dict[str, str] = {}
    for source in sources:
        result = diff_stack(load_plan(source), "<stdin>" if source == "-" else source, table)
        if result.stack in seen:
            raise UserError(
                f"{seen[result.stack]} and {source} are both plans of stack {result.stack}: its change would be "
                "counted twice",
                file=source,
                hint="give each stack's plan once (the newest), e.g. cdktf.out/stacks/*/*.tfplan.json",
            )
        seen[result.stack] = source
        stacks.append(result)
    return Diff(table.currency, stacks, table)


def _signed(amount: float) -> str:
    """+12.50, -3.00, or 0.00 (never -0.00)."""
    return "0.00" if abs(amount) < 0.005 else f"{amount:+,.2f}"


def _figure(amount: float | None) -> str:
    return "not priced" if amount is None else f"{amount:,.2f}"


def diff_to_text(result: Diff) -> str:
    cur = result.currency
    lines = [f"Monthly cost change ({cur}) of the plans, per stack and capability. {ESTIMATE_NOTE} {DIFF_NOTE}", ""]
    for s in result.stacks:
        lines.append(f"{s.stack} ({s.region or 'no default region'}; {s.source})")
        changed = [c for c in s.capabilities if c.changed]
        if not changed:
            lines.append(f"  no change to the monthly cost: {cur} {s.before:,.2f} a month before and after")
            lines.append("")
            continue
        width = max(20, *(len(c.capability) for c in changed))
        lines.append(f"  {'capability':<{width}} {'before':>12} {'after':>12} {'change':>12}  not priced")
        for c in changed:
            change = "not priced" if c.change is None else _signed(c.change)
            count = f"{len(c.not_priced):>10}" if c.not_priced else ""
            figures = f"{_figure(c.before):>12} {_figure(c.after):>12} {change:>12}"
            lines.append(f"  {c.capability:<{width}} {figures}  {count}".rstrip())
        count = f"{len(s.not_priced):>10}" if s.not_priced else ""
        lines.append(
            f"  {'total':<{width}} {s.before:>12,.2f} {s.after:>12,.2f} {_signed(s.change):>12}  {count}".rstrip()
        )
        if s.not_priced:
            lines.append("  not priced (left out of the figures above):")
            for ch in s.not_priced:
                lines.append(f"    {ch.capability}: {ch.address}, {ch.action}: {ch.not_priced}")
        unchanged = [c.capability for c in s.capabilities if not c.changed]
        if unchanged:
            lines.append(f"  unchanged: {', '.join(unchanged)}")
        lines.append("")
    unpriced = sum(len(s.not_priced) for s in result.stacks)
    change = _signed(result.after - result.before)
    lines.append(
        f"all plans: {cur} {result.before:,.2f} -> {cur} {result.after:,.2f} a month ({change})"
        + (f" + {items_not_priced(unpriced)}" if unpriced else "")
    )
    assumptions = ", ".join(f"{k} = {v:g}" for k, v in result.table.assumptions.items())
    lines.append(f"assumptions: {assumptions} (generator/data/prices.yaml)")
    lines.append("leaves out: " + "; ".join(result.table.left_out))
    lines.append(f"prices: {result.table.origin}")
    lines.extend(f"note: {note}" for note in result.table.notes)
    return "\n".join(lines) + "\n"
