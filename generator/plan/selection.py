"""From a use case to capabilities, each with the reasons that switched it on.

Pure functions over the spec, the catalog and the rules table: no I/O, so the
same answers always select the same capabilities in the same (catalog) order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tierstack.generator.config.spec import LoadedSpec, UseCase, data_source_errors
from tierstack.generator.core.errors import ErrorList, UserError
from tierstack.generator.facts.catalog import Catalog, load_catalog, load_gcp_facts
from tierstack.generator.plan.rules import DECLARED, PRODUCTION_ONLY_DEFAULTS, RULES, Rule


@dataclass(frozen=True)
class Reason:
    """Why something was switched on: the answer (field = value) and the rationale."""

    field: str
    value: str
    why: str
    line: int | None = None

    def text(self) -> str:
        if self.field == "always":
            return f"always: {self.why}"
        return f"{self.field} = {self.value}: {self.why}"


@dataclass
class Selection:
    capabilities: dict[str, list[Reason]]
    features: dict[str, list[Reason]]
    removed: dict[str, list[Reason]]
    gaps: dict[str, list[Reason]]
    recommended_tier: int
    tier: int
    tier_reasons: list[str]
    pinned: bool
    warnings: list[str] = field(default_factory=list)

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(self.capabilities)

    def has(self, capability: str) -> bool:
        return capability in self.capabilities


def answer_text(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def select(loaded: LoadedSpec, catalog: Catalog | None = None) -> Selection:
    """Apply the rules, explicit changes, dependencies and tier checks."""
    catalog = catalog or load_catalog()
    spec = loaded.spec
    check_contradictions(loaded, catalog)

    answers = _answers(spec.use_case)
    chosen: dict[str, list[Reason]] = {}
    features: dict[str, list[Reason]] = {}
    for always in catalog.always_selected:  # the modules say which, and why
        chosen.setdefault(always.id, []).append(Reason("always", "", always.always_because))
    for rule in fired_rules(spec.use_case):
        reason = _reason(rule, answers, loaded)
        for cap_id in rule.capabilities:
            chosen.setdefault(cap_id, []).append(reason)
        for feat in rule.features:
            features.setdefault(feat, []).append(reason)
    for declared, reason in declared_reasons(loaded):
        for cap_id in declared.capabilities:
            chosen.setdefault(cap_id, []).append(reason)

    for i, cap_id in enumerate(spec.capabilities.add):
        line = loaded.line("capabilities", "add", i)
        chosen.setdefault(cap_id, []).append(Reason("capabilities.add", cap_id, "added explicitly", line))
    _pull_requirements(chosen, catalog)
    removed = _remove(loaded, chosen, catalog)

    recommended, tier_reasons = recommend_tier(chosen, features, catalog)
    tier, pinned = (spec.tier, True) if spec.tier is not None else (recommended, False)
    gaps = _gaps(loaded, chosen, features, tier, catalog)
    selection = Selection(
        capabilities={c: chosen[c] for c in catalog.ids if c in chosen},
        features=features,
        removed=removed,
        gaps=gaps,
        recommended_tier=recommended,
        tier=tier,
        tier_reasons=tier_reasons,
        pinned=pinned,
    )
    if gaps:
        names = ", ".join(gaps)
        selection.warnings.append(f"tier {tier} is pinned and allow_gaps is set: going without {names}")
    if pinned and tier > recommended:
        selection.warnings.append(f"tier {tier} is pinned above the recommended tier {recommended}")
    return selection


def fired_rules(use_case: UseCase) -> list[Rule]:
    """The rows of the rules table these answers switch on, in table order."""
    answers = _answers(use_case)
    return [rule for rule in RULES if rule.matches(answers)]


def declared_reasons(loaded: LoadedSpec) -> list[tuple[Any, Reason]]:
    """The rows of rules.DECLARED whose list tierstack.yaml fills, each with its entries as the reason's value."""
    out = []
    for declared in DECLARED:
        items = getattr(loaded.spec, declared.field)
        items = items if isinstance(items, list) else [items] if items is not None else []  # golden_set: one
        if items:
            listed = ", ".join(str(getattr(item, "summary", item)) for item in items)
            out.append((declared, Reason(declared.field, listed, declared.why, loaded.line(declared.field))))
    return out


def _answers(use_case: UseCase) -> dict[str, Any]:
    answers = use_case.model_dump()
    answers["accelerator"] = str(use_case.accelerator)
    return answers


def _reason(rule: Rule, answers: dict[str, Any], loaded: LoadedSpec) -> Reason:
    value = answer_text(answers[rule.field])
    line = loaded.line("use_case", rule.field)
    if rule.field not in loaded.spec.use_case.model_fields_set:
        value += " (default)"
    return Reason(f"use_case.{rule.field}", value, rule.why, line)


def _pull_requirements(chosen: dict[str, list[Reason]], catalog: Catalog) -> None:
    """Add what selected capabilities require, transitively, saying which one asked."""
    pending = list(chosen)
    while pending:
        cap_id = pending.pop(0)
        for req in catalog.capability(cap_id).requires:
            if req not in chosen:
                pending.append(req)
            reason = Reason("requires", cap_id, f"{cap_id} builds on it")
            if reason not in chosen.setdefault(req, []):
                chosen[req].append(reason)


def _remove(loaded: LoadedSpec, chosen: dict[str, list[Reason]], catalog: Catalog) -> dict[str, list[Reason]]:
    removed: dict[str, list[Reason]] = {}
    for i, cap_id in enumerate(loaded.spec.capabilities.remove):
        field_name = f"capabilities.remove.{i}"
        cap = catalog.capability(cap_id)
        if cap.always:
            raise loaded.error(f"{cap_id} cannot be removed: every stack needs it", field_name)
        if cap_id in loaded.spec.capabilities.add:
            raise loaded.error(f"{cap_id} is both added and removed", field_name, hint="keep it in one list")
        removed[cap_id] = chosen.pop(cap_id, [])
    for cap_id in chosen:
        for req in catalog.capability(cap_id).requires:
            if req in removed:
                raise loaded.error(
                    f"{req} cannot be removed while {cap_id} is selected: {cap_id} builds on it",
                    f"capabilities.remove.{loaded.spec.capabilities.remove.index(req)}",
                    hint=f"remove {cap_id} as well, or keep {req}",
                )
    return removed


def recommend_tier(
    chosen: dict[str, list[Reason]], features: dict[str, list[Reason]], catalog: Catalog
) -> tuple[int, list[str]]:
    """The lowest tier whose blueprint provides every selected capability (CI/CD needs tier 2)."""
    tier, reasons = 0, []
    for cap_id in catalog.ids:
        if cap_id in chosen and catalog.capability(cap_id).min_tier > 0:
            need = catalog.capability(cap_id).min_tier
            tier = max(tier, need)
            reasons.append(f"{cap_id} needs tier {need} ({_because(chosen[cap_id])})")
    if "ci_cd" in features:
        tier = 2
        reasons.append(f"CI/CD needs tier 2 ({_because(features['ci_cd'])})")
    if not reasons:
        reasons.append("no selected capability needs automation beyond tier 0")
    return tier, reasons


def _because(reasons: list[Reason]) -> str:
    return "; ".join(_short_reason(r) for r in reasons)


def _short_reason(reason: Reason) -> str:
    if reason.field == "always":
        return "always"
    if reason.field == "requires":
        return f"required by {reason.value}"
    return f"{reason.field} = {reason.value}"


def _gaps(
    loaded: LoadedSpec,
    chosen: dict[str, list[Reason]],
    features: dict[str, list[Reason]],
    tier: int,
    catalog: Catalog,
) -> dict[str, list[Reason]]:
    missing = {c: r for c, r in chosen.items() if catalog.capability(c).min_tier > tier}
    if "ci_cd" in features and not catalog.tier(tier).ci_cd:
        missing["CI/CD"] = features["ci_cd"]
    if not missing:
        return {}
    if not loaded.spec.allow_gaps:
        lines = [f"  - {c} (needs tier {_min_tier(c, catalog)}; {_because(r)})" for c, r in missing.items()]
        raise loaded.error(
            f"tier {tier} is pinned but lacks capabilities this use case needs:\n" + "\n".join(lines),
            "tier",
            hint=f"pin tier {max(_min_tier(c, catalog) for c in missing)}, remove the pin, or set "
            "allow_gaps: true to go without them",
        )
    for cap_id in missing:
        chosen.pop(cap_id, None)
    features.pop("ci_cd", None)
    return missing


def _min_tier(cap_id: str, catalog: Catalog) -> int:
    return 2 if cap_id == "CI/CD" else catalog.capability(cap_id).min_tier


# --- contradictions ------------------------------------------------------------------------------


def check_contradictions(loaded: LoadedSpec, catalog: Catalog) -> None:
    """Answers that cannot all hold; every one found is reported, each naming its fields."""
    uc = loaded.spec.use_case
    errors: list[UserError] = []
    if uc.online_experimentation and uc.serving != "online":
        errors.append(
            loaded.error(
                f"online experimentation (A/B tests, canaries) needs online serving, but serving is '{uc.serving}'",
                "use_case.online_experimentation",
                hint="set use_case.serving: online, or use_case.online_experimentation: no",
            )
        )
    if uc.retraining == "scheduled" and uc.schedule is None:
        errors.append(
            loaded.error(
                "scheduled retraining needs a schedule",
                "use_case.schedule",
                hint="add use_case.schedule as cron, e.g. '0 3 * * 1' for 03:00 every Monday",
            )
        )
    if uc.schedule is not None and uc.retraining != "scheduled":
        errors.append(
            loaded.error(
                f"a schedule is set but use_case.retraining is '{uc.retraining}'",
                "use_case.schedule",
                hint="set use_case.retraining: scheduled, or remove the schedule",
            )
        )
    if uc.retraining_trigger == "automatic" and uc.retraining != "on_degradation":
        errors.append(
            loaded.error(
                f"an automatic retraining trigger starts a pipeline when monitoring sees degradation, but "
                f"use_case.retraining is '{uc.retraining}'",
                "use_case.retraining_trigger",
                hint="set use_case.retraining: on_degradation, or remove use_case.retraining_trigger",
            )
        )
    if uc.stage == "research":
        for key, default in PRODUCTION_ONLY_DEFAULTS.items():
            if getattr(uc, key) != default:
                errors.append(
                    loaded.error(
                        f"{key} = {answer_text(getattr(uc, key))} only applies in production, but stage is 'research'",
                        f"use_case.{key}",
                        hint=f"set use_case.stage: production, or remove use_case.{key}",
                    )
                )
    if uc.stage == "research" and uc.accelerator.kind == "tpu":
        errors.append(
            loaded.error(
                "in research the accelerator goes on the Workbench notebook, and notebooks take GPUs, not TPUs",
                "use_case.accelerator",
                hint="choose a GPU (e.g. gpu:NVIDIA_L4×1), or set use_case.stage: production for a TPU training pool",
            )
        )
    errors.extend(_accelerator_regions(loaded, catalog))
    errors.extend(data_source_errors(loaded))  # a source listed twice
    if errors:
        raise errors[0] if len(errors) == 1 else ErrorList(errors)


def _accelerator_regions(loaded: LoadedSpec, catalog: Catalog) -> list[UserError]:
    spec = loaded.spec
    acc = spec.use_case.accelerator
    if acc.type is None:
        return []
    known = catalog.accelerator(acc.type)
    assert known is not None  # parse_accelerator checked it
    errors = []
    regions = load_gcp_facts().regions  # a region that is none: said by the facts check (gcp_facts), not here
    for env, region, field_name in environment_regions(loaded):
        if region not in known.regions and region in regions:
            where = f"environment {env}" if env else "the default region"
            errors.append(
                loaded.error(
                    f"{acc.type} is not offered for Vertex AI training in {region} ({where})",
                    field_name,
                    hint=f"{acc.type} is known in: {', '.join(known.regions)}",
                )
            )
    return errors


def environment_regions(loaded: LoadedSpec) -> list[tuple[str, str, str]]:
    """(environment, region, field that set the region) for every environment of the spec."""
    spec = loaded.spec
    out = []
    for env, settings in (spec.environments or {}).items():
        if settings.region:
            out.append((env, settings.region, f"environments.{env}.region"))
        else:
            out.append((env, spec.region, "region"))
    if not spec.environments:
        out.append(("", spec.region, "region"))
    return out
