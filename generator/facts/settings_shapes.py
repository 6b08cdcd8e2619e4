"""What the layers below the capabilities read of a capability's typed settings, as Protocols.

A capability's settings model lives with the capability (modules/), which imports plan, config and facts;
those layers may not import it back. They read a selected capability's settings instance (the plan's
`env.capabilities`) through a shape here, got by the capability's getter (`serving(env.capabilities)`):
mypy checks every read against the shape, the getter checks at run time that the instance has the shape's
attributes, and tests/test_typed_plan.py has mypy check that
each capability's model is its shape. A shape names only what is read below, so it is the list of what
those layers know of a capability (the knowledge issue 21 wants handed down to the capabilities).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NoReturn, Protocol, runtime_checkable


@runtime_checkable
class ServingShape(Protocol):
    """model_serving: how it serves, from how many replicas."""

    @property
    def mode(self) -> str: ...

    @property
    def min_replicas(self) -> int: ...


@runtime_checkable
class AlertsShape(Protocol):
    """model_monitoring.alerts: which alert policies it asks for."""

    @property
    def endpoint_error_rate(self) -> float | None: ...

    @property
    def endpoint_latency_p99_ms(self) -> float | None: ...

    @property
    def pipeline_failures(self) -> bool: ...


@runtime_checkable
class MonitoringShape(Protocol):
    """model_monitoring: its alerts and who receives them."""

    @property
    def alerts(self) -> AlertsShape: ...

    @property
    def notification_email(self) -> str | None: ...


@runtime_checkable
class EmailShape(Protocol):
    """A capability with a team email (cost_controls, data_sources)."""

    @property
    def notification_email(self) -> str | None: ...


@runtime_checkable
class PipelinesShape(Protocol):
    """ml_pipelines: what makes it build a retraining workflow."""

    @property
    def schedule(self) -> str | None: ...

    @property
    def retrain_on_degradation(self) -> bool: ...


@runtime_checkable
class CiShape(Protocol):
    """foundation.ci: the repository CI deploys from."""

    @property
    def repository(self) -> str | None: ...

    @property
    def repository_id(self) -> int | None: ...

    @property
    def repository_owner_id(self) -> int | None: ...


@runtime_checkable
class FoundationShape(Protocol):
    """foundation: the identities it makes, and CI's repository."""

    @property
    def service_accounts(self) -> Sequence[str]: ...

    @property
    def ci(self) -> CiShape | None: ...


@runtime_checkable
class DataProcessingShape(Protocol):
    """data_processing: its BigQuery datasets by purpose."""

    @property
    def datasets(self) -> Sequence[str]: ...


@runtime_checkable
class FeatureStoreShape(Protocol):
    """feature_repository: its online store's serving type."""

    @property
    def online_store(self) -> str: ...


@runtime_checkable
class ExperimentationShape(Protocol):
    """experimentation: its Workbench, checked against the zone and machine tables as a mapping."""

    @property
    def workbench(self) -> Dumpable: ...


@runtime_checkable
class Dumpable(Protocol):
    """A settings model's values as plain data (pydantic's model_dump)."""

    def model_dump(self) -> dict[str, object]: ...


# --- the getters: a selected capability's settings in its shape, None when it is not selected ------------


def serving(capabilities: Mapping[str, object]) -> ServingShape | None:
    value = capabilities.get("model_serving")
    return value if value is None or isinstance(value, ServingShape) else _unshaped("model_serving", value)


def monitoring(capabilities: Mapping[str, object]) -> MonitoringShape | None:
    value = capabilities.get("model_monitoring")
    return value if value is None or isinstance(value, MonitoringShape) else _unshaped("model_monitoring", value)


def pipelines(capabilities: Mapping[str, object]) -> PipelinesShape | None:
    value = capabilities.get("ml_pipelines")
    return value if value is None or isinstance(value, PipelinesShape) else _unshaped("ml_pipelines", value)


def team_email(capabilities: Mapping[str, object], capability: str) -> EmailShape | None:
    value = capabilities.get(capability)
    return value if value is None or isinstance(value, EmailShape) else _unshaped(capability, value)


def foundation(capabilities: Mapping[str, object]) -> FoundationShape | None:
    value = capabilities.get("foundation")
    return value if value is None or isinstance(value, FoundationShape) else _unshaped("foundation", value)


def data_processing(capabilities: Mapping[str, object]) -> DataProcessingShape | None:
    value = capabilities.get("data_processing")
    return value if value is None or isinstance(value, DataProcessingShape) else _unshaped("data_processing", value)


def feature_store(capabilities: Mapping[str, object]) -> FeatureStoreShape | None:
    value = capabilities.get("feature_repository")
    return value if value is None or isinstance(value, FeatureStoreShape) else _unshaped("feature_repository", value)


def experimentation(capabilities: Mapping[str, object]) -> ExperimentationShape | None:
    value = capabilities.get("experimentation")
    return value if value is None or isinstance(value, ExperimentationShape) else _unshaped("experimentation", value)


def _unshaped(capability: str, value: object) -> NoReturn:
    """A model that lost an attribute read below it: tierstack's bug, caught by tests/test_typed_plan.py first."""
    raise TypeError(f"{capability}'s settings ({type(value).__name__}) lack an attribute its shape here reads")
