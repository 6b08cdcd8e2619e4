"""The rules from use-case answers to capabilities, as one table.

Each row reads: when this answer is given (in these stages), switch on these
capabilities and these features, because of `why`. The engine
(generator/plan/selection.py) evaluates the rows in order and never needs an `if`
of its own for a characteristic; docs/design.md's table and this one must agree
(tests/test_rules.py checks every row on and off).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tierstack.generator.config.choices import ANSWER_CHOICES, Stage

PRODUCTION: tuple[Stage, ...] = ("production",)
RESEARCH: tuple[Stage, ...] = ("research",)


@dataclass(frozen=True)
class Rule:
    field: str  # a use_case field
    value: Any  # the answer that fires the rule; NOT_NONE matches any answer but 'none'
    capabilities: tuple[str, ...]
    why: str
    features: tuple[str, ...] = ()
    stages: tuple[str, ...] = PRODUCTION

    def __post_init__(self) -> None:
        """A row names only answers the spec can hold (generator/config/choices.py)."""
        unknown = [s for s in self.stages if s not in ANSWER_CHOICES["stage"]]
        allowed = ANSWER_CHOICES.get(self.field)
        if allowed is not None and self.value is not NOT_NONE and self.value not in allowed:
            unknown.append(self.value)
        if unknown:
            raise ValueError(f"rule on {self.field}: {unknown} not among the spec's choices")

    def matches(self, answers: dict[str, Any]) -> bool:
        if answers["stage"] not in self.stages:
            return False
        given = answers[self.field]
        if self.value is NOT_NONE:
            return given not in (None, "none")
        return bool(given == self.value)


class _NotNone:
    def __repr__(self) -> str:
        return "any but none"


NOT_NONE = _NotNone()

RULES: tuple[Rule, ...] = (
    Rule(
        "stage",
        "research",
        ("experimentation", "data_processing"),
        stages=RESEARCH,
        why="research explores data and prototypes models in notebooks",
    ),
    Rule(
        "mission_critical",
        True,
        ("model_monitoring", "model_evaluation", "model_registry", "metadata_tracking"),
        features=("production_serving", "cmek", "delete_protection"),
        why="a mission-critical model must be watched, evaluated, versioned and traceable",
    ),
    Rule(
        "reusable",
        True,
        ("model_registry", "metadata_tracking", "feature_repository"),
        why="other teams need a governed model and shared, consistent features",
    ),
    Rule(
        "retraining",
        "on_degradation",
        ("model_training", "model_monitoring"),
        why="retraining on degradation is ad hoc: monitoring notices and tells the owners, who retrain with the "
        "training service (a pipeline and its trigger only with retraining_trigger: automatic)",
    ),
    Rule(
        "retraining_trigger",
        "automatic",
        ("ml_pipelines",),
        why="an automatic retraining trigger: monitoring's alerts start the training pipeline (a topic, Eventarc, "
        "a workflow)",
    ),
    Rule(
        "retraining",
        "scheduled",
        (
            "data_processing",
            "model_training",
            "model_evaluation",
            "ml_pipelines",
            "model_registry",
            "metadata_tracking",
        ),
        features=("continuous_training",),
        why="scheduled retraining runs as a pipeline that prepares data, trains, evaluates and registers",
    ),
    Rule(
        "code_changes",
        "frequent",
        ("ml_pipelines",),
        features=("ci_cd",),
        why="frequent code changes need pipelines built, tested and deployed by CI/CD",
    ),
    Rule(
        "serving",
        "batch",
        ("model_serving", "serving_slos"),
        features=("batch_serving",),
        why="batch prediction needs an output location, an identity to run it and an objective for its freshness",
    ),
    Rule(
        "serving",
        "online",
        ("model_serving", "model_monitoring", "serving_slos"),
        features=("online_serving",),
        why="an online endpoint must be served, held to objectives, and watched for errors, latency and drift",
    ),
    Rule(
        "online_experimentation",
        True,
        ("online_experimentation", "model_registry"),
        features=("traffic_split",),
        why="A/B tests and canaries compare registered model versions on live traffic",
    ),
    Rule(
        "accelerator",
        NOT_NONE,
        ("model_training",),
        features=("training_pool",),
        why="an accelerator is provisioned as a GPU/TPU training pool",
    ),
)


@dataclass(frozen=True)
class Declared:
    """A top-level list of tierstack.yaml that switches capabilities on when it has entries: what the use case
    declares it has (its data sources), not a questionnaire answer. In every stage: research reads data too."""

    field: str  # a list field of the spec, or one that is a single declaration (golden_set)
    capabilities: tuple[str, ...]
    why: str


DECLARED: tuple[Declared, ...] = (
    Declared(
        "data_sources",
        ("data_sources",),
        why="training reads only what is declared: each source is granted to the identities that read training "
        "data, watched for being missing or stale, and checked before a training run starts",
    ),
    Declared(
        "golden_set",
        ("golden_set",),
        why="a candidate model is promoted only after an evaluation on the current golden set that differs by no "
        "more than max_difference: the golden set is readable by the pipelines and CI, writable by its owners, "
        "and every evaluation is recorded in a results table the promotion check reads",
    ),
)

# Answers that only mean something in production; giving them for research is a contradiction.
PRODUCTION_ONLY_DEFAULTS: dict[str, Any] = {
    "mission_critical": False,
    "reusable": False,
    "retraining": "none",
    "retraining_trigger": "manual",
    "code_changes": "rare",
    "serving": "none",
    "online_experimentation": False,
}
