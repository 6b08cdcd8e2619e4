"""Assemble one TerraformStack per environment from the resolved plan, and synthesize it.

Imports the cdktn bindings, so only `tierstack generate` (and tests) load
this module. Construct ids are the capability ids and the resource names
inside each module (see modules/base.py), so adding, removing or reordering a
capability or an environment never changes another resource's address.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tierstack.generator.config import guarantees
from tierstack.generator.core.errors import UserError
from tierstack.generator.core.grammars import check_bucket_name
from tierstack.generator.plan.resolve import Resolved, ResolvedEnvironment
from tierstack.generator.synth import jsii_env
from tierstack.modules.base import NO_API, CapabilityError, StackOutputs, class_file
from tierstack.modules.base import api_for as api_for  # where tests and tools look for it

STACK_FILE = "cdk.tf.json"  # cdktn's name for a synthesized stack; Atlantis and CI key on the layout


def stack_file(out: Path, stack: str) -> Path:
    """Where a synthesis keeps a stack: `<out>/stacks/<stack>/cdk.tf.json`."""
    return out / "stacks" / stack / STACK_FILE


# Capability settings the assembler reads itself, not a module (tests/test_settings_consumed.py)
ASSEMBLER_SETTINGS: frozenset[tuple[str, ...]] = frozenset({("foundation", "apis")})


def state_bucket_name(resolved: Resolved, env: ResolvedEnvironment) -> str:
    """The bucket the stack's GCS backend keeps state in (`tierstack bootstrap` creates it)."""
    name: str = env.settings.get("state", {}).get("bucket") or f"{resolved.loaded.spec.name}-tfstate"
    try:  # a blueprint may have set it; the spec's own is checked when it is loaded
        check_bucket_name(name)
    except ValueError as error:
        raise UserError(
            str(error),
            file=str(resolved.loaded.path),
            field="state_bucket",
            hint="set state_bucket in tierstack.yaml to a valid name",
        ) from None
    return name


# (Terraform type, logical id) -> the static addresses that resource waits for (its depends_on)
Dependencies = dict[tuple[str, str], list[str]]


class _NotAsCdktnWrites(Exception):
    """A stack file whose text Python's JSON writer would not reproduce (a float's exponent, a lone surrogate)."""


def synthesize(resolved: Resolved, outdir: Path, environments: list[str] | None = None) -> list[str]:
    """Build the app and write `stacks/<stack>/cdk.tf.json` and `manifest.json` into outdir.

    Each resource's depends_on is written into the synthesized file, not set through jsii: a round trip
    to Node per resource (a sixth of a stack's) for a list of static addresses tierstack already holds.
    A file Python would not write byte for byte as cdktn did is synthesized again the slow way.
    """
    try:
        return _synthesize(resolved, outdir, environments, late=True)
    except _NotAsCdktnWrites:
        return _synthesize(resolved, outdir, environments, late=False)


def _synthesize(resolved: Resolved, outdir: Path, environments: list[str] | None, late: bool) -> list[str]:
    jsii_env.prepare()
    from cdktn import App

    from tierstack.modules import references

    app = App(outdir=str(outdir), skip_backend_validation=True)
    edits: dict[str, LateEdits] = {}
    with references.session() if late else contextlib.nullcontext():
        for env in resolved.environments.values():
            if environments is None or env.name in environments:
                edits[env.stack] = build_stack(app, resolved, env, late)
        app.synth()
    for stack, edit in edits.items():
        write_late_edits(stack_file(outdir, stack), edit, stack)
    return list(edits)


def write_late_edits(path: Path, edits: LateEdits, stack: str) -> None:
    """Write what build_stack left for after synthesis into a stack file, as cdktn writes it: each
    resource's depends_on and construct path `<stack>/<capability>/<id>` (CapabilityModule.place), and the
    outputs made under another id (add_outputs) under their own name."""
    if not (edits.dependencies or edits.paths or edits.outputs.written or edits.outputs.renamed):
        return
    text = path.read_text(encoding="utf-8")
    data = json.loads(text)
    if _as_cdktn_writes(data) != text:
        raise _NotAsCdktnWrites(str(path))
    for (terraform_type, name), addresses in edits.dependencies.items():
        data["resource"][terraform_type][name]["depends_on"] = addresses
    for section in ("data", "resource"):
        for blocks in data.get(section, {}).values():
            for name, block in blocks.items():
                if name in edits.paths:
                    block["//"]["metadata"]["path"] = f"{stack}/{edits.paths[name]}"
    if edits.outputs.written or edits.outputs.renamed:
        listed = data["//"].setdefault("outputs", {}).setdefault(stack, {})
        outputs = data.setdefault("output", {})
        for construct_id, name in edits.outputs.renamed.items():
            outputs[name] = outputs.pop(construct_id)
            del listed[construct_id]
            listed[name] = name
        for name, output in edits.outputs.written.items():
            outputs[name] = output
            listed[name] = name
    path.write_text(_as_cdktn_writes(data), encoding="utf-8")


def _as_cdktn_writes(data: Any) -> str:
    """JSON as cdktn's synthesizer writes it (safe-stable-stringify: keys sorted, two spaces, no final newline)."""
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False)


@dataclass(frozen=True)
class LateEdits:
    """What build_stack leaves to write into the stack file after synthesis (with `late`)."""

    dependencies: Dependencies = field(default_factory=dict)
    paths: Mapping[str, str] = field(default_factory=dict)  # logical id -> construct path below the stack
    outputs: StackOutputs = field(default_factory=StackOutputs)


def build_stack(app: Any, resolved: Resolved, env: ResolvedEnvironment, late: bool = False) -> LateEdits:
    """Add the environment's stack to the app; with `late`, what to write into its file after synthesis."""
    from cdktn import GcsBackend, TerraformStack
    from cdktn_provider_google.provider import GoogleProvider

    from tierstack.modules import beta, build_order, capability_class
    from tierstack.modules.base import CapabilityModule, Identities, ModuleInputs, Upstream, add_outputs
    from tierstack.modules.foundation import Foundation

    spec = resolved.loaded.spec
    settings = env.settings
    source = str(resolved.loaded.path)
    state_bucket = state_bucket_name(resolved, env)

    stack = TerraformStack(app, env.stack)
    # billing_project + user_project_override: APIs that bill a quota project (the Billing Budget API
    # among them) are called against this project, where the stack enables them, not the caller's
    google = GoogleProvider(
        stack,
        "google",
        project=env.project,
        region=env.region,
        add_terraform_attribution_label=True,
        billing_project=env.project,
        user_project_override=True,
    )
    # set raw: passed as a typed argument, jsii rewrites the keys ('cost-center' -> 'cost_center')
    google.add_override("default_labels", settings["labels"])
    pinned: list[Any] = []

    def pinned_labels_provider() -> Any:
        """The same provider without default_labels, declared once and only when a module needs it."""
        if not pinned:
            pinned.append(
                GoogleProvider(
                    stack,
                    "google_pinned_labels",
                    alias="pinned_labels",
                    project=env.project,
                    region=env.region,
                    add_terraform_attribution_label=True,
                    billing_project=env.project,
                    user_project_override=True,
                )
            )
        return pinned[0]

    beta.declare_provider(stack, env.project, env.region, settings["labels"])
    GcsBackend(stack, bucket=state_bucket, prefix=env.stack)

    identities = Identities()  # none before foundation makes them; then foundation's, for every other module
    selected = list(env.capabilities)
    upstream = Upstream(
        budget=settings.get("budget") or {},
        selected={capability: settings["capabilities"][capability] or {} for capability in selected},
        state_bucket=state_bucket,
    )

    def inputs(capability: str, kms_key: str | None) -> ModuleInputs:
        return ModuleInputs(
            name=spec.name,
            environment=env.name,
            project=env.project,
            region=env.region,
            labels=settings["labels"],
            kms_key=kms_key,
            delete_protection=bool(settings.get("delete_protection")),
            serving_class=settings["serving_class"],  # validated: every blueprint resolves one
            settings=env.capabilities[capability],  # validated once, in resolve
            identities=identities,
            source=source,
            upstream=upstream,
            pinned_labels_provider=pinned_labels_provider,
            late=late,
        )

    encryption = settings.get("encryption") or {}
    foundation = Foundation(stack, inputs("foundation", None))  # first: every other capability uses its identities
    identities = foundation.accounts
    kms_key = encryption.get("kms_key")
    if encryption.get("cmek") and not kms_key:
        kms_key = foundation.cmek_key()
    foundation.provide(upstream)
    modules: list[CapabilityModule] = [foundation]
    for capability in build_order(selected):
        if capability == "foundation":
            continue
        module = capability_class(capability)(stack, inputs(capability, kms_key))
        module.provide(upstream)
        modules.append(module)
    for module in modules:
        module.connect(upstream)
    # the agents of the services whose resources were given the key, granted on it (a given key too)
    grants = foundation.grant_key(kms_key, key_services(modules)) if kms_key else {}
    apis = list(foundation.settings.apis)
    dependencies = _wire_dependencies(foundation, modules, apis, grants, late)
    paths = {name: path for module in modules for name, path in module.paths.items()}
    outputs = StackOutputs()
    for module in modules:
        add_outputs(stack, module, paths, outputs)
    waived = guarantees.applied(resolved, env.name)
    if waived:  # recorded in the stack, where a reviewer reads it
        stack.add_override("//.tierstack_waivers", waived)
    moves = sorted(move for module in modules for move in module.moves)
    if moves:
        stack.add_override("moved", [{"from": before, "to": after} for before, after in moves])
    return LateEdits(dependencies, paths, outputs)


def key_service_by_type(modules: list[Any]) -> dict[str, str]:
    """Resource type -> the service whose agent uses the key, as the modules' classes declare it."""
    return {t: service for m in modules for t, service in m.key_services.items()}


def key_services(modules: list[Any]) -> dict[str, str]:
    """The services whose agents will use the key, from the resources the modules created: service -> the
    API whose agent it is (each class's `service_agents`, checked when it registered)."""
    return {
        m.key_services[t]: m.service_agents[m.key_services[t]]
        for m in modules
        for _, t in m.created
        if t in m.key_services
    }


def _check_apis(modules: list[Any], api_waits: Mapping[int, str]) -> None:
    """Every resource has an API to enable and wait for: else its first apply fails on a fresh project."""
    for module in modules:
        for resource, terraform_type in module.created:
            known = id(resource) in api_waits or api_for(terraform_type, module.resource_apis)
            if not known and terraform_type not in NO_API:
                cls = type(module)
                raise CapabilityError(
                    f"{cls.__module__}.{cls.__qualname__} (capability '{module.capability}') creates a "
                    f"{terraform_type}, whose API tierstack does not know, so no API would be enabled for it",
                    file=class_file(cls),
                    field="resource_apis",
                    hint=f"declare it in the class: resource_apis = {{'{terraform_type}': 'SERVICE.googleapis.com'}} "
                    "(the API Google's documentation of the resource names)",
                )


def _wire_dependencies(
    foundation: Any, modules: list[Any], listed: list[str], grants: dict[str, Any], late: bool
) -> Dependencies:
    """Enable the listed APIs plus every API a resource needs; make each resource wait for what it uses.

    A resource waits for its API, and, when it takes the CMEK key, for the grant that lets its
    service's agent use the key (else the first apply fails on a fresh project). Each grant waits for
    Cloud KMS and for the agent, which waits for its own API. Works from what the modules recorded in
    Python (module.created), not by reading the construct tree back through jsii.
    """
    from tierstack.modules.foundation import AGENT_DATA_SOURCES

    created = [(r, t, m.resource_apis) for m in modules for r, t in m.created]
    api_waits = {key: api for m in modules for key, api in m.api_waits.items()}
    _check_apis(modules, api_waits)
    needed = {api for _, t, declared in created if (api := api_for(t, declared))} | {a for m in modules for a in m.apis}
    needed |= {grant.api for grant in grants.values()}
    needed |= set(api_waits.values())
    services = foundation.enable_apis([*listed, *needed])
    grant_resources = {id(g.grant) for g in grants.values()}
    for service, grant in grants.items():
        if service in AGENT_DATA_SOURCES:  # the identities wait for their API below, like any resource
            grant.agent.depends_on = [services[grant.api]]
        grant.grant.depends_on = [services["cloudkms.googleapis.com"], grant.agent_address]
    extra = {key: addresses for m in modules for key, addresses in m.waits.items()}
    key_service = key_service_by_type(modules)
    logical_ids = {key: name for m in modules for key, name in m.logical_ids.items()}
    dependencies: Dependencies = {}
    for resource, terraform_type, declared in created:
        if id(resource) in grant_resources:
            continue
        api = api_waits.get(id(resource)) or api_for(terraform_type, declared)
        waits = [services[api]] if api else []
        waits += extra.get(id(resource), [])
        if key_service.get(terraform_type) in grants:
            waits.append(grants[key_service[terraform_type]].address)
        name = logical_ids.get(id(resource)) if late else None
        if waits and name is not None:
            dependencies[(terraform_type, name)] = waits
        elif waits:
            resource.depends_on = waits  # static addresses, as Terraform requires
    return dependencies
