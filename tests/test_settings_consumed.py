"""Every setting a blueprint resolves is read by the code that builds the stacks.

A setting that nothing reads is a promise the stacks do not keep: a user
changes `sync_cron` and nothing changes. Each capability's settings are
wrapped in a recorder while every example and test case is generated, and
every key that no module (or the stack assembler) read is reported.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import BaseModel

from conftest import CASES, REPO
from synth_support import example_configs
from tierstack.generator.config.spec import load_spec
from tierstack.generator.output.generate import generate
from tierstack.generator.plan.resolve import resolve
from tierstack.generator.synth.stacks import ASSEMBLER_SETTINGS


class Recorder(dict):  # type: ignore[type-arg]
    """A dict that notes every key read through it, nested dicts included, as dotted paths."""

    def __init__(self, data: dict[str, Any], path: str, seen: set[str]) -> None:
        super().__init__(data)
        self.path, self.seen = path, seen

    def _wrap(self, key: str, value: Any) -> Any:
        self.seen.add(f"{self.path}.{key}")
        return Recorder(value, f"{self.path}.{key}", self.seen) if isinstance(value, dict) else value

    def __getitem__(self, key: str) -> Any:
        return self._wrap(key, super().__getitem__(key))

    def get(self, key: str, default: Any = None) -> Any:
        return self._wrap(key, super().get(key, default)) if key in self else default

    def items(self) -> Iterator[tuple[str, Any]]:  # type: ignore[override]
        return iter([(k, self._wrap(k, v)) for k, v in super().items()])

    def values(self) -> Iterator[Any]:  # type: ignore[override]
        return iter([self._wrap(k, v) for k, v in super().items()])


_RECORDING: dict[type[BaseModel], type[BaseModel]] = {}


def recorded(settings: BaseModel, path: str, seen: set[str]) -> BaseModel:
    """The settings instance, as an instance of its own model that notes each field read through it (nested
    models too); model_dump() reads them all. The modules get the plan's instance: what they read is what
    their code reads, nothing else (validation happened once, in resolve)."""
    model = type(settings)
    recording = _RECORDING.get(model)
    if recording is None:

        def __getattribute__(self: BaseModel, name: str) -> Any:
            value = super(recording, self).__getattribute__(name)  # type: ignore[arg-type]
            if name in model.model_fields:
                where, notes = object.__getattribute__(self, "__recording__")
                notes.add(f"{where}.{name}")
                if isinstance(value, BaseModel):
                    return recorded(value, f"{where}.{name}", notes)
            return value

        def model_dump(self: BaseModel, **kwargs: Any) -> dict[str, Any]:
            where, notes = object.__getattribute__(self, "__recording__")
            notes.update(leaves(super(recording, self).model_dump(), where))  # type: ignore[arg-type]
            return super(recording, self).model_dump(**kwargs)  # type: ignore[arg-type]

        recording = type(model.__name__, (model,), {"__getattribute__": __getattribute__, "model_dump": model_dump})
        _RECORDING[model] = recording
    copy = recording.model_construct(_fields_set=settings.model_fields_set, **dict(settings))
    object.__setattr__(copy, "__recording__", (path, seen))
    return copy


def leaves(data: dict[str, Any], path: str) -> set[str]:
    out = set()
    for key, value in data.items():
        out.add(f"{path}.{key}")
        if isinstance(value, dict) and value:
            out |= leaves(value, f"{path}.{key}")
    return out


@pytest.fixture(scope="module")
def reads(tmp_path_factory: pytest.TempPathFactory) -> tuple[set[str], set[str]]:
    """(every capability setting resolved anywhere, every one read) over all examples and test cases."""
    from tierstack.modules.base import CapabilityModule

    seen: set[str] = set()
    present: set[str] = set()
    original = CapabilityModule.__init__

    def recording_init(self: CapabilityModule, scope: Any, inputs: Any) -> None:
        inputs.settings = recorded(inputs.settings, self.capability, seen)
        original(self, scope, inputs)

    root = tmp_path_factory.mktemp("consumed")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(CapabilityModule, "__init__", recording_init)
        for i, config in enumerate([*example_configs(REPO / "examples"), *CASES]):
            resolved = resolve(load_spec(config))
            for env in resolved.environments.values():
                for capability, settings in env.settings["capabilities"].items():
                    present |= leaves(settings or {}, capability)
            generate(resolved, root / str(i))
    return present, seen | {".".join(path) for path in ASSEMBLER_SETTINGS}


# Settings read only on a path no example or test case takes (the recorder sees what the modules' code reads,
# attribute by attribute): each goes once a case takes the path, which the test then says.
UNEXERCISED = {
    "golden_set.retention_days": "read where a stack creates the golden set bucket (create_in); no case does",
}


@pytest.mark.slow  # generates every example
def test_every_resolved_capability_setting_is_read_by_some_module(reads: tuple[set[str], set[str]]) -> None:
    present, seen = reads
    unread = sorted(key for key in present if key not in seen and not any(s.startswith(key + ".") for s in seen))
    assert sorted(UNEXERCISED) == [key for key in unread if key in UNEXERCISED], "an entry of UNEXERCISED is read now"
    unread = [key for key in unread if key not in UNEXERCISED]
    assert not unread, f"settings no module reads (remove them or make them do what they say): {unread}"


def test_the_recorder_notices_an_unread_setting() -> None:
    seen: set[str] = set()
    settings = Recorder({"read": {"inner": 1}, "unread": 2}, "cap", seen)
    assert settings.get("read")["inner"] == 1
    assert leaves({"read": {"inner": 1}, "unread": 2}, "cap") - seen == {"cap.unread"}


def test_the_recorder_notices_an_unread_attribute() -> None:
    from tierstack.generator.config.settings import Settings

    class Inner(Settings):
        depth: int = 1

    class Some(Settings):
        read: Inner
        unread: int = 2

    seen: set[str] = set()
    settings = recorded(Some.model_validate({"read": {}}), "cap", seen)
    assert isinstance(settings, Some) and settings.read.depth == 1
    assert leaves(Some.model_validate({"read": {}}).model_dump(), "cap") - seen == {"cap.unread"}
