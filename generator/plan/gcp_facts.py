"""Google Cloud facts applied: which zone a notebook goes in, which machine types take a GPU.

The facts are data with their sources (generator/data/zones.yaml and
machine_families.yaml, loaded by catalog.load_gcp_facts); this module answers
questions with them. A broken rule is a FactError naming the setting at fault;
the caller turns it into a UserError with the file, line and field
(check_resolved for `explain`/`show`/`generate`, the experimentation module as
a last line). Anything that places a VM with a GPU (the Workbench notebook,
the training pool) can call gpu_problem and machine_types_for.

check_resolved also holds every region to the table (a misspelled one gets the
nearest), and applies model_serving's batch-schedule rules (batch_model_name,
batch_input_table): what synthesis would refuse, `validate` finds first.
"""

from __future__ import annotations

import difflib
import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

from tierstack.generator.config.blueprint import display_path
from tierstack.generator.core import grammars
from tierstack.generator.core.errors import ErrorList, UserError, did_you_mean
from tierstack.generator.facts import settings_shapes as shapes
from tierstack.generator.facts.catalog import ZONE_RE, Zone, load_gcp_facts

if TYPE_CHECKING:
    from tierstack.generator.plan.resolve import Resolved, ResolvedEnvironment

# N1 machine types that take attached GPUs: predefined standard/highmem/highcpu, and custom ones.
N1_GPU_MACHINE = re.compile(
    r"^(?:n1-(?:standard|highmem|highcpu)-(?P<vcpus>\d+)|(?:n1-)?custom-(?P<custom>\d+)-\d+(?:-ext)?)$"
)
SUBNET_RE = re.compile(
    r"^projects/[a-z][a-z0-9-]{4,28}[a-z0-9]/regions/(?P<region>[a-z]+(-[a-z]+)+[0-9]+)"
    r"/subnetworks/[a-z]([-a-z0-9]{0,61}[a-z0-9])?$"
)
WORKBENCH = ("capabilities", "experimentation", "workbench")


@dataclass
class FactError(Exception):
    """A setting that Google Cloud would reject: which one (a workbench key, or 'region'), why, what fits."""

    message: str
    key: str
    hint: str | None = None


@dataclass(frozen=True)
class Placement:
    """Where a Workbench instance goes: its zone, and an existing network and subnetwork (or None, None)."""

    zone: str
    network: str | None
    subnet: str | None
    subnet_range: str


# --- machine types and GPUs --------------------------------------------------------------------------


def machine_family(machine_type: str) -> str:
    """n1-standard-4 -> n1; custom-4-16384 (an N1 custom type) -> n1."""
    return "n1" if machine_type.startswith("custom-") else machine_type.split("-", 1)[0]


def gpu_problem(machine_type: str, gpu: str, count: int) -> str | None:
    """Why `machine_type` cannot have `count` × `gpu`, or None when it can."""
    family = load_gcp_facts().families.get(machine_family(machine_type))
    if family is not None and machine_type in family.machine_types:
        built, built_count = family.machine_types[machine_type]
        if (built, built_count) == (gpu, count):
            return None
        return f"{machine_type} comes with {built_count}×{built} built in, not {count}×{gpu}"
    if family is not None and gpu in family.attached:
        limits = family.attached[gpu]
        if count not in limits:
            counts = ", ".join(str(c) for c in sorted(limits))
            return f"{gpu} attaches to a machine {counts} at a time, not {count}"
        match = N1_GPU_MACHINE.fullmatch(machine_type)
        if match is None:
            return (
                f"{machine_type} is not an N1 machine type that takes GPUs (predefined standard, highmem, "
                "highcpu, or custom)"
            )
        vcpus = int(match["vcpus"] or match["custom"])
        if vcpus > limits[count]:
            return f"{count}×{gpu} allows at most {limits[count]} vCPUs, and {machine_type} has {vcpus}"
        return None
    families = load_gcp_facts().families
    attach = [name.upper() for name, f in families.items() if gpu in f.attached]
    built_into = [name.upper() for name, f in families.items() if any(g == gpu for g, _ in f.machine_types.values())]
    how = (
        f"it attaches only to {' and '.join(attach)} machine types"
        if attach
        else f"it comes only built into {' and '.join(built_into)} machine types"
        if built_into
        else "no machine type takes it"
    )
    return f"{machine_type} cannot take {gpu}: {how}"


def machine_types_for(gpu: str, count: int) -> list[str]:
    """The machine types that take `count` × `gpu`, as text for a hint (built-in ones, or the N1 rule)."""
    out: list[str] = []
    for family in load_gcp_facts().families.values():
        out += [m for m, pair in family.machine_types.items() if pair == (gpu, count)]
        if count in family.attached.get(gpu, {}):
            out.append(
                f"{family.defaults[count]} or another N1 machine type (n1-standard, n1-highmem, n1-highcpu "
                f"or custom) with at most {family.attached[gpu][count]} vCPUs"
            )
    return out


def default_machine_type(gpu: str | None, count: int) -> str | None:
    """The smallest machine type listed for `count` × `gpu` (a notebook's default), or None."""
    if gpu is None:
        return None
    for family in load_gcp_facts().families.values():
        for machine, pair in family.machine_types.items():
            if pair == (gpu, count):
                return machine
        if count in family.attached.get(gpu, {}):
            return family.defaults[count]
    return None


def check_machine(machine_type: str, gpu: str | None, count: int) -> None:
    """A FactError on `machine_type` when it cannot have `count` × `gpu`, listing the machine types that can."""
    if not gpu:
        return
    problem = gpu_problem(machine_type, gpu, count)
    if problem is None:
        return
    valid = machine_types_for(gpu, count)
    hint = (
        f"valid machine types for {count}×{gpu}: " + ", ".join(valid)
        if valid
        else f"no machine type takes {count}×{gpu}; choose another count (generator/data/machine_families.yaml)"
    )
    raise FactError(problem, "machine_type", hint)


# --- zones -------------------------------------------------------------------------------------------


def zones_of(region: str) -> tuple[str, ...]:
    """The region's zones in Google's order; () for a region the table does not know."""
    known = load_gcp_facts().regions.get(region)
    return tuple(known.zones) if known else ()


def offers(zone: Zone, machine_type: str, gpu: str | None) -> bool | None:
    """Whether the zone offers the machine (and attachable GPUs for it); None when the table does not say."""
    if zone.series is None:
        return None
    family = machine_family(machine_type)
    if family not in zone.series:
        return False
    facts = load_gcp_facts().families.get(family)
    attaches = bool(gpu) and facts is not None and gpu in facts.attached
    return zone.gpus if attaches else True


def check_region(region: str) -> None:
    """A FactError on 'region' when Google Cloud has no such region (generator/data/zones.yaml), with the nearest."""
    regions = load_gcp_facts().regions
    if region in regions:
        return
    # closer than did_you_mean's default: mars-north1 is no typo of asia-northeast1
    close = difflib.get_close_matches(region, list(regions), n=1, cutoff=0.8)
    raise FactError(
        f"'{region}' is not a Google Cloud region (generator/data/zones.yaml)",
        "region",
        did_you_mean(close[0], close) if close else "regions: " + ", ".join(sorted(regions)),
    )


def pick_zone(region: str, machine_type: str, gpu: str | None, zone: str | None = None) -> str:
    """The given zone, checked; else the first zone of the region that offers the machine (or the first)."""
    check_region(region)
    known = load_gcp_facts().regions[region]
    what = f"{machine_type}" + (f" with {gpu}" if gpu else "")
    if zone is not None:
        if not isinstance(zone, str) or zone not in known.zones:
            shown = zone if isinstance(zone, str) else repr(zone)
            why = (
                "is not a zone name"
                if not isinstance(zone, str) or not ZONE_RE.fullmatch(zone)
                else f"is not a zone of {region}"
            )
            raise FactError(f"'{shown}' {why}", "zone", f"zones of {region}: " + ", ".join(known.zones))
        if offers(known.zones[zone], machine_type, gpu) is False:
            raise FactError(
                f"zone {zone} does not offer {what} (generator/data/zones.yaml)",
                "zone",
                _zones_hint(region, machine_type, gpu),
            )
        return zone
    offering = [name for name, z in known.zones.items() if offers(z, machine_type, gpu) is not False]
    if not offering:
        raise FactError(
            f"no zone of {region} offers {what} (generator/data/zones.yaml)",
            "machine_type",
            "choose another machine type, or a region that offers it",
        )
    return offering[0]


def _zones_hint(region: str, machine_type: str, gpu: str | None) -> str:
    zones = load_gcp_facts().regions[region].zones
    good = [name for name, z in zones.items() if offers(z, machine_type, gpu) is not False]
    return ("zones of " + region + " that do: " + ", ".join(good)) if good else f"no zone of {region} does"


# --- the Workbench notebook --------------------------------------------------------------------------


def place_workbench(region: str, workbench: Mapping[str, Any]) -> Placement:
    """Check a Workbench's settings against the facts; return where it goes."""
    machine_type = str(workbench.get("machine_type") or "e2-standard-4")
    gpu = workbench.get("accelerator_type") or None
    count = int(workbench.get("accelerator_count") or 1)
    check_machine(machine_type, gpu, count)
    zone = pick_zone(region, machine_type, gpu, workbench.get("zone"))
    network, subnet = workbench.get("network"), workbench.get("subnet")
    if (network is None) != (subnet is None):
        missing = "subnet" if subnet is None else "network"
        raise FactError(
            "network and subnet name an existing VPC network and its subnetwork together",
            missing,
            f"set {missing} too, or neither (tierstack then creates both)",
        )
    if network is not None and not (isinstance(network, str) and grammars.NETWORK_BY_PROJECT_ID_RE.fullmatch(network)):
        raise FactError(
            f"'{network}' is not a VPC network name", "network", "write projects/PROJECT/global/networks/NAME"
        )
    if subnet is not None:
        match = SUBNET_RE.fullmatch(subnet) if isinstance(subnet, str) else None
        if match is None:
            raise FactError(
                f"'{subnet}' is not a subnetwork name",
                "subnet",
                f"write projects/PROJECT/regions/{region}/subnetworks/NAME",
            )
        if match["region"] != region:
            raise FactError(
                f"the subnetwork is in {match['region']}, the notebook in {region}",
                "subnet",
                f"name a subnetwork of {region}, with Private Google Access",
            )
    subnet_range = str(workbench.get("subnet_range") or DEFAULT_SUBNET_RANGE)
    try:
        net = ipaddress.IPv4Network(subnet_range)
    except ValueError:
        raise FactError(
            f"'{subnet_range}' is not an IPv4 range in CIDR notation",
            "subnet_range",
            f"for example {DEFAULT_SUBNET_RANGE}",
        ) from None
    if not net.is_private or not 8 <= net.prefixlen <= 29:
        raise FactError(
            f"{subnet_range} is not a private range of /8 to /29",
            "subnet_range",
            "a subnetwork's primary range is private (RFC 1918), between /8 and /29; "
            f"for example {DEFAULT_SUBNET_RANGE}",
        )
    return Placement(zone, network, subnet, subnet_range)


DEFAULT_SUBNET_RANGE = "10.10.0.0/24"


def check_resolved(resolved: Resolved) -> None:
    """Every environment against the facts (its region, its Workbench, its batch schedule), all problems
    at once, each reported at the file and line that set it."""
    errors: dict[str, UserError] = {}  # by message: one value shared by every environment is said once
    for env in resolved.environments.values():
        for err in _environment_errors(resolved, env):
            errors.setdefault(err.render(), err)
    found = list(errors.values())
    if found:
        raise found[0] if len(found) == 1 else ErrorList(found)


def _environment_errors(resolved: Resolved, env: ResolvedEnvironment) -> list[UserError]:
    try:
        check_region(env.region)
    except FactError as err:
        return [_user_error(resolved, env, err)]  # zones, models and tables in a region that is not one: moot
    errors: list[UserError] = []
    experimentation = shapes.experimentation(env.capabilities)
    if experimentation is not None:
        try:
            place_workbench(env.region, experimentation.workbench.model_dump())
        except FactError as err:
            errors.append(_user_error(resolved, env, err))
    serving = shapes.serving(env.capabilities)
    if serving is not None:
        errors += [_serving_error(resolved, env, err) for err in _batch_problems(resolved, env, serving)]
    features = shapes.feature_store(env.capabilities)
    if features is not None:
        encryption = env.settings.get("encryption") or {}
        cmek = bool(encryption.get("cmek") or encryption.get("kms_key"))
        problem = feature_store_problem(features.online_store, cmek)
        if problem is not None:
            errors.append(_feature_store_error(resolved, env, problem))
    return errors


# --- the feature online store ------------------------------------------------------------------------


@cache
def _feature_store_facts() -> dict[str, Any]:
    """generator/data/feature_online_store.yaml: which serving types take CMEK, which are deprecated."""
    from tierstack.generator.facts.catalog import _data

    facts: dict[str, Any] = _data("feature_online_store.yaml")
    return facts


def feature_store_problem(serving: str, cmek: bool) -> FactError | None:
    """Why a new online store of this serving type cannot be created here, or None.

    Only Bigtable online serving takes a customer-managed key (Google: "Create an online store
    instance"); the provider does not check it, so without this the first apply fails in production.
    """
    facts = _feature_store_facts()
    if cmek and serving not in facts["cmek_serving"]:
        deprecated = facts["deprecated_serving"].get(serving)
        return FactError(
            f"online_store '{serving}' cannot be encrypted with the stack's customer-managed key: only "
            + " and ".join(facts["cmek_serving"])
            + " online serving supports CMEK"
            + (f" ({deprecated})" if deprecated else ""),
            "online_store",
            "online_store: bigtable (the serving type cannot change after the store is created)",
        )
    return None


def deprecated_serving(serving: str) -> str | None:
    """Google's deprecation of an online serving type, for explain and the module's docs, or None."""
    message: str | None = _feature_store_facts()["deprecated_serving"].get(serving)
    return message


def _feature_store_error(resolved: Resolved, env: ResolvedEnvironment, err: FactError) -> UserError:
    path = ("capabilities", "feature_repository", err.key)
    field = ".".join(("environments", env.name, *path))
    source = env.provenance.get(path)
    if source is None:
        return UserError(err.message, file=display_path(resolved.loaded.path), field=field, hint=err.hint)
    return source.error(err.message, fallback=display_path(resolved.loaded.path), field=field, hint=err.hint)


def _batch_problems(resolved: Resolved, env: ResolvedEnvironment, serving: object) -> list[FactError]:
    from tierstack.modules.model_serving import ModelServingSettings, batch_problems

    if not isinstance(serving, ModelServingSettings):
        return []
    processing = shapes.data_processing(env.capabilities)
    prepared = processing is not None and "prepared" in processing.datasets
    return batch_problems(serving.model_dump(), env.project, env.region, resolved.loaded.spec.name, prepared)


def _serving_error(resolved: Resolved, env: ResolvedEnvironment, err: FactError) -> UserError:
    """A batch rule broken, at what the user wrote: the value, or (a value missing) the batch_schedule that needs it."""
    from tierstack.generator.config.settings import _provenance, _written_path

    serving = env.capabilities["model_serving"].model_dump()
    at = err.key if serving.get(err.key) else "batch_schedule"
    where = _provenance(env.provenance, ("capabilities", "model_serving", at))
    written = _written_path(resolved.loaded, where)
    field = (
        written.rpartition(".")[0] + "." + err.key
        if written and "." in written
        else err.key
        if written
        else f"environments.{env.name}.capabilities.model_serving.{err.key}"
    )
    spec_file = display_path(resolved.loaded.path)
    if where is None:
        return UserError(err.message, file=spec_file, field=field, hint=err.hint)
    return where.error(err.message, fallback=spec_file, field=field, hint=err.hint)


def _user_error(resolved: Resolved, env: ResolvedEnvironment, err: FactError) -> UserError:
    if err.key == "region":
        path: tuple[str, ...] = ("region",)
        spec_envs = resolved.loaded.spec.environments or {}
        field = f"environments.{env.name}.region" if env.name in spec_envs and spec_envs[env.name].region else "region"
    else:
        path = (*WORKBENCH, err.key)
        field = ".".join(("environments", env.name, *path))
    spec_file = display_path(resolved.loaded.path)
    source = env.provenance.get(path)
    if source is None:
        return UserError(err.message, file=spec_file, field=field, hint=err.hint)
    return source.error(err.message, fallback=spec_file, field=field, hint=err.hint)
