"""The resolved plan is frozen and typed: each capability's settings are its model's instance, made once.

resolve() validates every capability's settings into its model, once (the modules and the assembler
take that instance), refuses invalid ones with the message the settings checks always gave, and hands
out a plan whose fields cannot be assigned. mypy, not our code, judges that a misspelled attribute of a
capability's settings is caught, and that each settings model has the shape the layers below read.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import REPO
from tierstack.generator.config.settings import Settings
from tierstack.generator.config.spec import load_spec
from tierstack.generator.core.errors import UserError
from tierstack.generator.plan.resolve import Resolved, resolve
from tierstack.modules import registry

EXAMPLE = REPO / "examples" / "fraud-detection" / "tierstack.yaml"
ONLINE = """\
name: demo-case
team: ml-platform
use_case: {stage: production, serving: online, retraining: on_degradation}
"""


@pytest.fixture(scope="module")
def plan() -> Resolved:
    return resolve(load_spec(EXAMPLE))


def test_the_plan_and_its_environments_cannot_be_assigned(plan: Resolved) -> None:
    env = next(iter(plan.environments.values()))
    with pytest.raises(dataclasses.FrozenInstanceError):
        env.region = "europe-west4"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        env.capabilities = {}  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        plan.environments = {}  # type: ignore[misc]
    with pytest.raises(TypeError):
        env.capabilities["model_serving"] = env.capabilities["foundation"]  # type: ignore[index]


def test_each_capability_is_its_models_instance_with_the_resolved_values(plan: Resolved) -> None:
    classes = registry()
    for env in plan.environments.values():
        assert list(env.capabilities) == list(env.settings["capabilities"]), env.name
        for capability, settings in env.capabilities.items():
            model = classes[capability].settings_model
            assert type(settings) is model, (env.name, capability)
            # the instance holds what was resolved (plus its model's defaults), the printed plan is unchanged
            raw = env.settings["capabilities"][capability] or {}
            assert settings.model_dump() == model.model_validate(raw).model_dump(), capability


@pytest.fixture
def validations(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, int]]:
    """How often each capability's settings model validates, counted at pydantic's entry point."""
    counts: dict[str, int] = {}
    models = {cls.settings_model: name for name, cls in registry().items()}
    original = Settings.model_validate.__func__  # type: ignore[attr-defined]

    def counting(cls: type[Settings], value: Any, *args: Any, **kwargs: Any) -> Settings:
        if cls in models:
            counts[models[cls]] = counts.get(models[cls], 0) + 1
        result: Settings = original(cls, value, *args, **kwargs)
        return result

    monkeypatch.setattr(Settings, "model_validate", classmethod(counting))
    yield counts


def test_resolve_validates_each_capability_once_per_environment(validations: dict[str, int]) -> None:
    plan = resolve(load_spec(EXAMPLE))
    selected = list(plan.selection.ids)
    assert validations == dict.fromkeys(selected, len(plan.environments)), validations


def test_a_module_takes_the_instance_and_never_validates_a_mapping() -> None:
    from tierstack.modules.base import CapabilityModule, Identities, ModuleInputs

    inputs = ModuleInputs(
        name="demo",
        environment="dev",
        project="demo-dev",
        region="us-central1",
        labels={},
        kms_key=None,
        delete_protection=False,
        serving_class="experimental",
        settings={"mode": "online"},  # type: ignore[arg-type]
        identities=Identities(),
    )
    with pytest.raises(TypeError, match="ModelServingSettings"):
        registry()["model_serving"](None, inputs)  # type: ignore[arg-type]
    assert issubclass(registry()["model_serving"], CapabilityModule)


def test_invalid_settings_are_refused_once_with_the_settings_message(
    write: Callable[..., Path], validations: dict[str, int]
) -> None:
    config = write(ONLINE + "overrides:\n  capabilities:\n    model_serving:\n      max_replicas: lots\n")
    with pytest.raises(UserError) as caught:
        resolve(load_spec(config))
    error = caught.value
    assert error.field == "overrides.capabilities.model_serving.max_replicas", error.render()
    assert error.line == 7 and "valid integer" in error.message, error.render()
    assert error.hint is not None and error.hint.startswith("model_serving settings: mode, "), error.hint
    assert validations["model_serving"] == 2, "once in each environment, where the override applies"


def test_an_unknown_setting_names_the_settings_there(write: Callable[..., Path]) -> None:
    config = write(ONLINE + "overrides:\n  capabilities:\n    model_serving:\n      max_replica: 3\n")
    with pytest.raises(UserError) as caught:
        resolve(load_spec(config))
    assert "max_replica" in caught.value.render()


# --- mypy, the judge of the types -------------------------------------------------------------------------

GOOD = """\
from tierstack.generator.facts import settings_shapes as shapes
from tierstack.generator.plan.resolve import ResolvedEnvironment
from tierstack.modules.model_serving import ModelServingSettings


def replicas(env: ResolvedEnvironment) -> int:
    serving = shapes.serving(env.capabilities)
    return serving.min_replicas if serving is not None else 0


def typed(env: ResolvedEnvironment) -> int:
    serving = env.capabilities["model_serving"]
    assert isinstance(serving, ModelServingSettings)
    return serving.min_replicas
"""
# the layers below the capabilities read their settings through Protocols: each model must be its shape
SHAPES = [
    ("ServingShape", "tierstack.modules.model_serving.ModelServingSettings"),
    ("MonitoringShape", "tierstack.modules.model_monitoring.ModelMonitoringSettings"),
    ("EmailShape", "tierstack.modules.model_monitoring.ModelMonitoringSettings"),
    ("EmailShape", "tierstack.modules.cost_controls.CostControlsSettings"),
    ("PipelinesShape", "tierstack.modules.ml_pipelines.MlPipelinesSettings"),
    ("FoundationShape", "tierstack.modules.foundation.FoundationSettings"),
    ("DataProcessingShape", "tierstack.modules.data_processing.DataProcessingSettings"),
    ("FeatureStoreShape", "tierstack.modules.feature_repository.FeatureRepositorySettings"),
    ("ExperimentationShape", "tierstack.modules.experimentation.ExperimentationSettings"),
]
CONFORMS = "".join(
    f"from {model.rpartition('.')[0]} import {model.rpartition('.')[2]}\n"
    f"def _{shape}_{model.rpartition('.')[2]}(s: {model.rpartition('.')[2]}) -> shapes.{shape}:\n    return s\n"
    for shape, model in SHAPES
)


def _mypy(tmp_path: Path, files: dict[str, str]) -> dict[str, list[str]]:
    """mypy --strict (the project's configuration) over scratch modules: each one's error lines."""
    for name, source in files.items():
        (tmp_path / f"{name}.py").write_text(source, encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", str(REPO / "pyproject.toml"), "--strict"]
        + [str(tmp_path / f"{name}.py") for name in files],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
    )
    assert result.returncode in (0, 1), result.stdout + result.stderr  # 2: mypy itself failed
    return {
        name: [line for line in result.stdout.splitlines() if f"{name}.py:" in line and ": error:" in line]
        for name in files
    }


def test_mypy_refuses_a_misspelled_setting_and_a_model_without_its_shape(tmp_path: Path, spawns: None) -> None:
    shapes_import = "from tierstack.generator.facts import settings_shapes as shapes\n"
    wrong_shape = (
        shapes_import + "from tierstack.modules.data_processing import DataProcessingSettings\n"
        "def _(s: DataProcessingSettings) -> shapes.ServingShape:\n    return s\n"
    )
    errors = _mypy(
        tmp_path,
        {
            "scratch_good": GOOD,
            "scratch_typo": GOOD.replace("return serving.min_replicas", "return serving.min_replica"),
            "scratch_conforms": shapes_import + CONFORMS,
            "scratch_wrong_shape": wrong_shape,
        },
    )
    assert errors["scratch_good"] == [] and errors["scratch_conforms"] == [], errors
    typo = [line for line in errors["scratch_typo"] if "[attr-defined]" in line]
    assert len(typo) == 2 and all('has no attribute "min_replica"' in line for line in typo), errors
    assert any("Incompatible return value" in line for line in errors["scratch_wrong_shape"]), errors
