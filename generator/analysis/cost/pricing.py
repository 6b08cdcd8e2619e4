"""The pricing of each resource type: `_Pricer` turns one resource into priced lines (a deployment pool's and a
training pool's nodes and GPUs at min replicas, a feature online store's nodes, a bucket's assumed size, a
scheduler job and the pipeline runs it starts), gives no line to the types the resource-type table bills as
free, context or usage, names any other type as left out on purpose or a gap in the table, and adds the
project's log and metric volumes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from tierstack.generator.analysis.cost.cron import runs_per_month
from tierstack.generator.analysis.cost.model import Line, Resource
from tierstack.generator.analysis.cost.prices import PriceTable
from tierstack.generator.analysis.cost.read import _block
from tierstack.generator.analysis.cost.words import things
from tierstack.generator.facts import resource_types

# How each type is billed is its `billing` in the resource-type table (generator/facts/resource_types.py):
# no charge of their own (access, APIs, identities, budgets, networks without traffic; every IAM grant)
NO_CHARGE_SUFFIXES = resource_types.NO_CHARGE_SUFFIXES
NO_CHARGE_TYPES = resource_types.with_billing("free")
# given no line of their own, but read to price another resource's (a workflow that a schedule starts)
CONTEXT_TYPES = resource_types.with_billing("context")
# billed only by what flows through them: named in the estimate's "leaves out"
USAGE_ONLY_TYPES = resource_types.with_billing("usage", "context")


def catalog_rule(item: str, key: str) -> bool:
    """Whether generator/analysis/price_catalog.py has a rule that looks this price up in the Cloud Billing Catalog."""
    from tierstack.generator.analysis.price_catalog import RULES  # imports this module: read here, not at the top

    rule = RULES.get(item)
    return rule is not None and rule(key) is not None


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
