"""The use-case spec, `tierstack.yaml`, as pydantic models.

Unknown keys are errors (with a did-you-mean), every field has a type, and
`load_spec` turns pydantic's findings into UserErrors that carry the file and
line of the offending value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    StringConstraints,
    Tag,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from tierstack.generator.config import freeze
from tierstack.generator.config.choices import (
    CodeChanges,
    Retraining,
    RetrainingTrigger,
    Role,
    Serving,
    ServingClass,
    Stage,
)
from tierstack.generator.config.gitsource import GitSource
from tierstack.generator.config.settings import Cron, check
from tierstack.generator.core import grammars
from tierstack.generator.core.errors import UserError, did_you_mean, one_of
from tierstack.generator.core.pydantic_errors import retell
from tierstack.generator.core.yamlio import line_of, load_file, to_plain
from tierstack.generator.facts.catalog import Catalog, load_catalog
from tierstack.generator.output import ci as ci_names

# each matched whole (fullmatch) and in ASCII: see generator/core/grammars.py
NAME_RE = grammars.grammar(r"^[a-z][a-z0-9-]{1,18}[a-z0-9]$")
ENV_RE = grammars.grammar(r"^[a-z][a-z0-9]{0,9}$")
PROJECT_RE = grammars.PROJECT_RE
REGION_RE = grammars.grammar(r"^[a-z]+(-[a-z]+)+[0-9]+$")
LABEL_KEY_RE = grammars.grammar(r"^[a-z][a-z0-9_-]{0,62}$")
LABEL_VALUE_RE = grammars.grammar(r"^[a-z0-9_-]{0,63}$")
shown = grammars.shown


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)


def check_label_key(key: str) -> str:
    if not LABEL_KEY_RE.fullmatch(key):
        raise ValueError(
            f"label key {shown(key)} breaks GCP's label rules: start with a lowercase letter, "
            "then up to 62 lowercase letters, digits, '_' or '-'"
        )
    return key


def check_label_value(value: str) -> str:
    if not LABEL_VALUE_RE.fullmatch(value):
        raise ValueError(
            f"label value {shown(value)} breaks GCP's label rules: at most 63 lowercase letters, digits, '_' or '-'"
        )
    return value


def _check_labels(labels: dict[str, str]) -> dict[str, str]:
    """The number of labels (each key and value is checked by its own type, at its own line)."""
    if len(labels) > 64:
        raise ValueError(f"{len(labels)} labels given; GCP allows at most 64 per resource")
    return labels


def check_environment_name(value: str) -> str:
    if not ENV_RE.fullmatch(value):
        raise ValueError(f"{shown(value)} cannot name an environment: up to 10 lowercase letters and digits")
    return value


def check_name(value: str) -> str:
    if not NAME_RE.fullmatch(value):
        raise ValueError(
            f"{shown(value)} cannot name stacks and resources: 3-20 characters, lowercase letters, digits "
            "and hyphens, starting with a letter"
        )
    return value


def check_team(value: str) -> str:
    if not value or not LABEL_VALUE_RE.fullmatch(value):
        raise ValueError(f"{shown(value)} cannot be a label value: lowercase letters, digits, '_' or '-', 1-63 long")
    return value


def check_region(value: str) -> str:
    if not REGION_RE.fullmatch(value):
        raise ValueError(f"{shown(value)} is not a GCP region name such as us-central1 or europe-west4")
    return value


check_project = grammars.check_project


def _fractions(value: list[float]) -> list[float]:
    """Thresholds as Cloud Billing keeps them: each checked, in order, once."""
    return sorted(set(grammars.check_thresholds(value)))


# One type per kind of value, used by the models below and by `init` (through a TypeAdapter).
Name = Annotated[str, AfterValidator(check_name)]
Team = Annotated[str, AfterValidator(check_team)]
Region = Annotated[str, AfterValidator(check_region)]
BillingAccount = Annotated[str, AfterValidator(grammars.check_billing_account)]
Amount = Annotated[float, AfterValidator(grammars.check_budget_amount)]
# A mapping's keys are typed too, so that an error about one is at its own line (labels.Cost Center)
LabelKey = Annotated[str, AfterValidator(check_label_key)]
LabelValue = Annotated[str, AfterValidator(check_label_value)]
Labels = Annotated[dict[LabelKey, LabelValue], AfterValidator(_check_labels), Field(default_factory=dict)]
EnvironmentName = Annotated[str, AfterValidator(check_environment_name)]
Thresholds = Annotated[list[float], AfterValidator(_fractions)]


def _catalog(info: ValidationInfo) -> Catalog:
    """The catalog load_spec passes in the validation context (the bundled one when validated alone)."""
    context = info.context if isinstance(info.context, dict) else {}
    catalog = context.get("catalog")
    return catalog if isinstance(catalog, Catalog) else load_catalog()


class AcceleratorChoice(BaseModel):
    """`none`, `gpu:TYPE×N` (or `gpu:TYPExN`) or `tpu:TYPE`, checked against the catalog."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["none", "gpu", "tpu"] = "none"
    type: str | None = None
    count: int = 0

    @model_validator(mode="before")
    @classmethod
    def _parse(cls, value: Any, info: ValidationInfo) -> Any:
        if isinstance(value, dict) and set(value) <= {"kind", "type", "count"}:
            if value.get("kind", "none") == "none" and value.get("type") is None:
                return {"kind": "none"}  # the default, built at import: no catalog needed
            # the object form ({type: X}, or a dump read back) gets the text form's checks, not fewer
            value = str(cls.model_construct(**{"kind": "gpu", **value}))
        if not isinstance(value, str):
            return value
        return parse_accelerator(value, _catalog(info))

    def __str__(self) -> str:
        if self.kind == "none":
            return "none"
        if self.kind == "tpu":
            return f"tpu:{self.type}" + (f"×{self.count}" if self.count else "")
        return f"gpu:{self.type}×{self.count}"

    @property
    def machine_type(self) -> str | None:
        if self.kind == "none" or self.type is None:
            return None
        acc = load_catalog().accelerator(self.type)
        return acc.machine_types[self.count] if acc else None


def parse_accelerator(text: str, catalog: Catalog | None = None) -> dict[str, Any]:
    raw = text.strip()
    if raw.lower() in ("", "none", "no", "false"):
        return {"kind": "none"}
    kind, sep, rest = raw.partition(":")
    kind = kind.lower()
    if not sep or kind not in ("gpu", "tpu"):
        raise ValueError(f"'{text}' is not an accelerator; write none, gpu:TYPE×N (e.g. gpu:NVIDIA_L4×1) or tpu:TYPE")
    match = re.fullmatch(r"(.*?)(?:\s*[x×*]\s*(\d+))?", rest.strip(), re.ASCII)
    assert match is not None  # the pattern matches any string
    name = match.group(1).strip().upper().replace("-", "_")
    count = int(match.group(2)) if match.group(2) else None
    catalog = catalog or load_catalog()
    acc = catalog.accelerator(name)
    if acc is None:
        known = [a.name for a in catalog.accelerators if a.kind == kind]
        hint = did_you_mean(name, known) or one_of(known)
        raise ValueError(f"'{name}' is not a known {kind.upper()} type; {hint}")
    if acc.kind != kind:
        raise ValueError(f"{name} is a {acc.kind.upper()}, not a {kind.upper()}; write {acc.kind}:{name}")
    if count is None:
        count = acc.default_count
    if count not in acc.machine_types:
        counts = ", ".join(str(c) for c in acc.counts)
        raise ValueError(f"{name} comes {counts} to a machine, not {count}")
    return {"kind": kind, "type": name, "count": count}


def _blueprint_kind(value: Any) -> str:
    return "[git]" if isinstance(value, (dict, GitSource)) else "str"


# `blueprint:` names a built-in blueprint, a path relative to tierstack.yaml, or a blueprint in a git
# repository pinned to a ref (generator/config/gitsource.py). The tags are for pydantic's error locations:
# pydantic_errors drops "str" and "[...]" parts, so an error in `ref:` is at blueprint.ref.
BlueprintRef = Annotated[
    Annotated[str, Tag("str")] | Annotated[GitSource, Tag("[git]")],
    Discriminator(_blueprint_kind),
]


class UseCase(_Strict):
    """The questionnaire's answers (docs/design.md, 'From use case to capabilities')."""

    stage: Stage
    mission_critical: bool = False
    reusable: bool = False
    retraining: Retraining = "none"
    retraining_trigger: RetrainingTrigger = Field(
        default="manual",
        description="on_degradation: manual (monitoring tells the owners, who retrain) or automatic (a pipeline run)",
    )
    schedule: Cron | None = Field(default=None, description="cron for scheduled retraining")
    code_changes: CodeChanges = "rare"
    serving: Serving = "none"
    online_experimentation: bool = False
    accelerator: AcceleratorChoice = AcceleratorChoice()


class Budget(_Strict):
    """A billing budget per environment; amounts per month in the billing account's currency.

    `currency` stays unset unless given: the Budget API requires it to equal the billing
    account's own currency, so a guessed default fails on every account in another currency.
    """

    enabled: bool = True
    amount: Amount | None = Field(default=None, description="monthly amount per environment")
    currency: Annotated[str, AfterValidator(grammars.check_currency)] | None = None
    billing_account: BillingAccount | None = None
    thresholds: Thresholds = Field(default_factory=lambda: [0.5, 0.9, 1.0])
    forecast_thresholds: Thresholds = Field(default_factory=lambda: [1.0])


class BudgetOverride(_Strict):
    amount: Amount | None = None


class Environment(_Strict):
    """One environment, hence one stack: `<name>-<env>`."""

    project: Annotated[str, AfterValidator(check_project)] | None = Field(
        default=None, description="GCP project id; default <name>-<env>"
    )
    region: Region | None = None
    role: Role | None = Field(default=None, description="default: from the name, else the position")
    serving_class: ServingClass | None = None
    labels: Labels
    budget: BudgetOverride | None = None
    overrides: dict[str, Any] = Field(default_factory=dict)


def check_variable_name(key: str) -> str:
    if not key.isidentifier():
        raise ValueError(f"{shown(key)} cannot name a template variable: use letters, digits and '_'")
    return key


VariableName = Annotated[str, AfterValidator(check_variable_name)]


class Variables(BaseModel):
    """Template variables: the ones the built-in blueprints read are typed and checked against the grammar of
    the place they end up in (a CEL condition, an email channel, a KMS key name); a blueprint may read more."""

    model_config = ConfigDict(extra="allow")
    __pydantic_extra__: dict[VariableName, Any] = Field(init=False)  # a bad name is an error at its line

    alert_email: Annotated[str | None, check(grammars.check_email)] = None
    ci_provider: Literal["github"] | None = None
    ci_repository: Annotated[str | None, check(grammars.check_repository)] = None
    # GitHub's ids of the repository and its owner (gh api repos/OWNER/NAME --jq .id,.owner.id)
    ci_repository_id: Annotated[int, Field(gt=0, strict=True)] | None = None
    ci_repository_owner_id: Annotated[int, Field(gt=0, strict=True)] | None = None
    ci_branch: Annotated[str | None, check(ci_names.check_branch)] = None
    # the deploy workflow the deployer trusts (default tierstack-NAME-deploy.yml; a fleet's: tierstack-FLEET-...)
    ci_deploy_workflow: Annotated[str | None, check(grammars.check_workflow_file)] = None
    ci_subject: Annotated[str | None, check(grammars.check_subject)] = None
    kms_key: Annotated[str | None, check(grammars.check_kms_key)] = None
    time_zone: Annotated[str | None, check(grammars.check_time_zone)] = None
    feature_sync_cron: Annotated[str | None, check(grammars.check_cron)] = None
    model_approvers_group: Annotated[str | None, check(grammars.check_email)] = None
    data_scientists_group: Annotated[str | None, check(grammars.check_email)] = None
    ml_engineers_group: Annotated[str | None, check(grammars.check_email)] = None
    viewers_group: Annotated[str | None, check(grammars.check_email)] = None
    golden_set_owners_group: Annotated[str | None, check(grammars.check_email)] = None  # who writes the golden set
    serving_network: Annotated[str | None, check(grammars.check_network)] = None

    def given(self) -> dict[str, Any]:
        """The variables the spec set, as the blueprint templates see them."""
        return self.model_dump(exclude_unset=True)


# a letter, as the JSON Schema (ECMA-262 without the u flag) can say it too: A-Z, a-z or anything from U+00C0
# on (accented Latin, Cyrillic, CJK...); punctuation, digits and spaces of ASCII are not
REASON_WORDS_RE = re.compile("(?:[^A-Za-z\u00c0-\uffff]*[A-Za-z\u00c0-\uffff]){5}")


def _in_words(value: str) -> str:
    """A reason says something: punctuation or digits alone ("............", "1234567890") are no reason."""
    if not REASON_WORDS_RE.match(value):
        raise ValueError("a reason is written in words (at least 5 letters), e.g. 'INC-123: card payments fail'")
    return value


# A reason for the record: at least 10 characters once the spaces around it are gone ("          " is none),
# in words
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=10), AfterValidator(_in_words)]


def _named_environments(value: list[str]) -> list[str]:
    if not value:
        raise ValueError(
            "a waiver names the environments it applies to, e.g. environments: [prod]; an empty list "
            "waives nothing, so it is not accepted"
        )
    return value


class Waiver(_Strict):
    """A production guarantee knowingly weakened (generator/config/guarantees.py), with the reason, for the record.

    It names the environments it applies to: never every environment by default, so that a waiver written
    for one environment does not also weaken the guarantee in an environment added later.
    """

    guarantee: str
    reason: Reason = Field(description="why weakening it is acceptable here")
    environments: Annotated[list[EnvironmentName], AfterValidator(_named_environments)] = Field(
        description="the environments it applies to, at least one"
    )

    @field_validator("guarantee")
    @classmethod
    def _known(cls, value: str) -> str:
        from tierstack.generator.config.guarantees import GUARANTEE_IDS

        if value not in GUARANTEE_IDS:
            raise ValueError(
                f"'{value}' is not a guarantee; " + (did_you_mean(value, GUARANTEE_IDS) or one_of(GUARANTEE_IDS))
            )
        return value


# A change freeze's moments: a date (the whole day, as an end) or a date and time, in its time_zone
Moment = Annotated[str, BeforeValidator(freeze.check_moment)]
WeekTime = Annotated[str, BeforeValidator(freeze.check_week_time)]


class WeeklyWindow(_Strict):
    """Every week from a day and time to a day and time; it may run over the weekend (fri 18:00 to mon 08:00)."""

    start: WeekTime
    end: WeekTime

    @model_validator(mode="after")
    def _not_empty(self) -> WeeklyWindow:
        if self.start == self.end:
            raise ValueError(
                f"the weekly window starts and ends at {self.start}: give two different times, "
                "e.g. start: fri 18:00, end: mon 08:00"
            )
        return self


class Freeze(_Strict):
    """A change freeze: `tierstack review` blocks applies to its environments while it is on
    (generator/config/freeze.py)."""

    name: Annotated[str, AfterValidator(freeze.check_freeze_name)]
    reason: Reason = Field(description="why changes wait, shown in the block message and the PR")
    start: Moment | None = Field(default=None, description="first day (or moment) of a date range")
    end: Moment | None = Field(default=None, description="last day (inclusive) or the moment it ends")
    weekly: WeeklyWindow | None = None
    time_zone: Annotated[str, AfterValidator(grammars.check_time_zone)] = Field(
        default="UTC", description="IANA time zone the window is read in"
    )
    environments: list[str] | None = Field(default=None, description="default: every production environment")

    @model_validator(mode="after")
    def _one_window(self) -> Freeze:
        dates = self.start is not None or self.end is not None
        if dates and self.weekly is not None:
            raise ValueError(f"freeze '{self.name}' has both start/end and weekly: give one window per freeze")
        if not dates and self.weekly is None:
            raise ValueError(
                f"freeze '{self.name}' has no window: give start and end (2026-11-20, 2026-11-30) "
                "or weekly (start: fri 18:00, end: mon 08:00)"
            )
        if dates:
            if self.start is None or self.end is None:
                missing = "start" if self.start is None else "end"
                raise ValueError(f"freeze '{self.name}' needs {missing} too: a date range has a start and an end")
            problem = freeze.date_range_error(self.start, self.end)
            if problem:
                raise ValueError(f"freeze '{self.name}': {problem}")
        return self


class _TableOrPrefix(_Strict):
    """A BigQuery table (PROJECT.DATASET.TABLE) or a Cloud Storage prefix (gs://BUCKET/PREFIX/), exactly one:
    what a data source and a golden set both are."""

    table: Annotated[str, AfterValidator(grammars.check_table)] | None = Field(
        default=None, description="a BigQuery table, PROJECT.DATASET.TABLE"
    )
    uri: Annotated[str, AfterValidator(grammars.check_gcs_prefix)] | None = Field(
        default=None, description="a Cloud Storage prefix, gs://BUCKET/PREFIX/"
    )

    def _check_one_kind(self, what: str, after: str = "") -> None:
        if (self.table is None) == (self.uri is None):
            given = "both table and uri" if self.table is not None else "neither table nor uri"
            raise ValueError(
                f"{what} is one table or one prefix, and this one has {given}: write table: "
                f"PROJECT.DATASET.TABLE or uri: gs://BUCKET/PREFIX/{after}"
            )

    @property
    def kind(self) -> str:
        return "table" if self.table is not None else "prefix"

    @property
    def name(self) -> str:
        """How it is named in messages, logs and alerts: the table as written, or the gs:// prefix."""
        return self.table if self.table is not None else str(self.uri)


class DataSource(_TableOrPrefix):
    """Something training reads, declared so it can be granted, watched and checked (modules/data_sources.py).

    Exactly one of `table` (BigQuery, PROJECT.DATASET.TABLE) or `uri` (a Cloud Storage prefix, gs://BUCKET/PREFIX/),
    with how long it may go without changing before it counts as stale. Another project's source is fine.
    """

    # for editors (tierstack schema): one of the two, as _one_kind says
    model_config = ConfigDict(
        json_schema_extra={
            "oneOf": [
                {"required": ["table"], "properties": {"table": {"type": "string"}}},
                {"required": ["uri"], "properties": {"uri": {"type": "string"}}},
            ]
        }
    )

    max_staleness: Annotated[str, AfterValidator(grammars.check_duration)] = Field(
        description="how long it may go unchanged before it is stale: 26h, 2d, 90m, 1d12h"
    )

    @model_validator(mode="after")
    def _one_kind(self) -> DataSource:
        self._check_one_kind("a data source", " (one entry each)")
        return self

    @property
    def summary(self) -> str:
        """`table acme-data.sales.orders (max 26h)`, for explain."""
        return f"{self.kind} {self.name} (max {self.max_staleness})"

    @property
    def max_staleness_seconds(self) -> int:
        return grammars.parse_duration(self.max_staleness)


def data_source_errors(loaded: LoadedSpec) -> list[UserError]:
    """A source listed twice, each at the line of its repeat (the first stays where it is)."""
    errors: list[UserError] = []
    first: dict[str, int] = {}
    for index, source in enumerate(loaded.spec.data_sources):
        if source.name in first:
            errors.append(
                loaded.error(
                    f"data source {source.name} is listed twice (first as data_sources[{first[source.name]}])",
                    f"data_sources.{index}",
                    hint="keep one entry per source, with the max_staleness it must meet",
                )
            )
        first.setdefault(source.name, index)
    return errors


def _max_difference(value: float) -> float:
    """A difference is a fraction: 0 would refuse every candidate, more than 1 would let any through."""
    if not 0 < value <= 1:
        raise ValueError(
            f"max_difference {value:g} is outside (0, 1]: give the largest difference from the golden answers "
            "that may ship, as a fraction such as 0.02 (a little different may be an improvement)"
        )
    return value


class GoldenSet(_TableOrPrefix):
    """Questions with defined answers a candidate model is run through before it ships (modules/golden_set.py).

    Exactly one of `uri` (a Cloud Storage prefix) or `table` (BigQuery PROJECT.DATASET.TABLE), owned by the model
    team, and the largest difference from the expected answers a candidate may show and still be promoted.
    `create_in` (a prefix only): the environment whose stack creates the bucket, with a retention policy.
    """

    max_difference: Annotated[float, Field(strict=True), AfterValidator(_max_difference)] = Field(
        description="the largest difference from the golden answers that may ship, in (0, 1], e.g. 0.02"
    )
    create_in: EnvironmentName | None = Field(
        default=None,
        description="a prefix only: the environment whose stack creates the bucket, with a retention policy; "
        "absent: the bucket exists and tierstack only grants on it",
    )

    @model_validator(mode="after")
    def _one_kind(self) -> GoldenSet:
        self._check_one_kind("a golden set")
        if self.table is not None and self.create_in is not None:
            raise ValueError(
                "create_in creates a golden set bucket, and this golden set is a table: tierstack grants on an "
                "existing table only; remove create_in"
            )
        return self

    @property
    def summary(self) -> str:
        """`prefix gs://acme-golden/demand/ (max difference 0.02)`, for explain."""
        return f"{self.kind} {self.name} (max difference {self.max_difference})"


class CapabilityChanges(_Strict):
    add: list[str] = Field(default_factory=list)
    remove: list[str] = Field(default_factory=list)

    @field_validator("add", "remove")
    @classmethod
    def _known(cls, value: list[str], info: ValidationInfo) -> list[str]:
        ids = _catalog(info).ids
        for name in value:
            if name not in ids:
                hint = did_you_mean(name, ids) or one_of(ids)
                raise ValueError(f"'{name}' is not a capability; {hint}")
        return value


class Spec(_Strict):
    """A use case: the whole of `tierstack.yaml`."""

    name: Name
    team: Team
    description: str = ""
    use_case: UseCase
    region: Region = Field(
        default="us-central1",
        description="the GCP region of every environment that sets none [default: the blueprint's region:, or "
        "the first of its allowed_regions:, else us-central1]",
    )
    environments: dict[EnvironmentName, Environment] | None = None
    labels: Labels
    budget: Budget | None = None
    blueprint: BlueprintRef | None = Field(
        default=None,
        description="a built-in blueprint, a path relative to this file, or {git: URL, ref: REF, path: PATH}",
    )
    state_bucket: Annotated[str, AfterValidator(grammars.check_bucket_name)] | None = Field(
        default=None, description="GCS bucket for Terraform state; <name>-tfstate"
    )
    tier: int | None = Field(default=None, ge=0, le=2, strict=True)  # strict: `tier: true` is not tier 1
    allow_gaps: bool = False
    # built when a Spec is, not at import: the catalog it checks against imports the modules, which import this
    capabilities: CapabilityChanges = Field(default_factory=CapabilityChanges)
    variables: Variables = Field(default_factory=lambda: Variables())
    overrides: dict[str, Any] = Field(default_factory=dict)
    waivers: list[Waiver] = Field(default_factory=list)
    freezes: list[Freeze] = Field(default_factory=list)
    data_sources: list[DataSource] = Field(
        default_factory=list, description="what training reads: granted, watched for staleness, checked before runs"
    )
    golden_set: GoldenSet | None = Field(
        default=None, description="the golden set a candidate model is evaluated on before it is promoted"
    )

    @field_validator("freezes")
    @classmethod
    def _freeze_environments(cls, value: list[Freeze], info: ValidationInfo) -> list[Freeze]:
        names = [f.name for f in value]
        for name in names:
            if names.count(name) > 1:
                raise ValueError(f"two freezes are named '{name}': give each its own name")
        environments = info.data.get("environments")
        known = list(environments) if environments else None
        for item in value:
            for env in item.environments or ():
                if known is not None and env not in known:
                    hint = did_you_mean(env, known) or one_of(known)
                    raise ValueError(f"freeze '{item.name}' names environment '{env}', which this spec lacks; {hint}")
                if known is None and not ENV_RE.fullmatch(env):
                    raise ValueError(f"freeze '{item.name}': '{env}' cannot name an environment")
        return value

    @field_validator("golden_set")
    @classmethod
    def _golden_set_environment(cls, value: GoldenSet | None, info: ValidationInfo) -> GoldenSet | None:
        environments = info.data.get("environments")
        if value is not None and value.create_in is not None and environments and value.create_in not in environments:
            known = list(environments)
            hint = did_you_mean(value.create_in, known) or one_of(known)
            raise ValueError(f"create_in names environment '{value.create_in}', which this spec lacks; {hint}")
        return value

    @field_validator("environments")
    @classmethod
    def _env_names(cls, value: dict[str, Environment] | None) -> dict[str, Environment] | None:
        if value is not None and not value:
            raise ValueError("list at least one environment, e.g. dev")
        return value

    @model_validator(mode="after")
    def _budget_needs_account(self) -> Spec:
        if self.budget and self.budget.enabled:
            if self.budget.billing_account is None:
                raise ValueError(
                    "budget.billing_account is required while budgets are on; give the billing "
                    "account id (012345-6789AB-CDEF01) or set budget.enabled: false"
                )
            if self.budget.amount is None:
                raise ValueError("budget.amount is required while budgets are on (monthly, per environment)")
        return self


@dataclass
class LoadedSpec:
    """A validated spec with the document it came from, for line lookups."""

    spec: Spec
    path: Path
    doc: Any

    def line(self, *path: str | int) -> int | None:
        return line_of(self.doc, path)

    def error(self, message: str, field: str, hint: str | None = None) -> UserError:
        keys: list[str | int] = [int(p) if p.isdigit() else p for p in field.split(".")]
        return UserError(message, file=self.path, line=self.line(*keys), field=field, hint=hint)


def load_spec(path: Path) -> LoadedSpec:
    doc = load_file(path, "use-case spec")
    if doc is None:
        raise UserError("the file is empty", file=path, hint="run 'tierstack init' to write a starting tierstack.yaml")
    if not isinstance(doc, dict):
        raise UserError("the top level must be a mapping of keys (name, team, use_case, ...)", file=path, line=1)
    if "fleet" in doc:  # generator/services/fleet.py
        raise UserError(
            "this is a fleet file (several use cases); this command takes one",
            file=path,
            line=line_of(doc, ("fleet",)),
            hint="generate, validate, explain, cost and verify take a fleet file; show takes one member: "
            "--member NAME (docs/fleets.md)",
        )
    try:
        spec = Spec.model_validate(to_plain(doc), context={"catalog": load_catalog()})
    except ValidationError as exc:
        raise retell(exc, path, doc, Spec, REQUIRED_HINTS) from None
    return LoadedSpec(spec=spec, path=path, doc=doc)


# what to write for a required field the spec lacks
REQUIRED_HINTS = {
    "name": "a short lowercase name for the use case, e.g. fraud-detection",
    "team": "the owning team, used as a cost label, e.g. risk-ml",
    "use_case": "describe the use case; 'tierstack init' asks the questions",
    "use_case.stage": "research or production",
    "waivers[].environments": "the environments the waiver applies to, e.g. environments: [prod]",
    "data_sources[].max_staleness": "how long the source may go unchanged before it is stale, e.g. max_staleness: 26h",
    "golden_set.max_difference": "the largest difference from the golden answers that may ship, e.g. "
    "max_difference: 0.02",
}
