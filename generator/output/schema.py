"""`tierstack schema`: JSON Schema for tierstack.yaml and for blueprint files, from the pydantic models.

The schemas are for editors (the YAML language server completes keys, shows each field's description and
flags a typo as you type) and for CI jobs that validate files with a generic JSON Schema tool. tierstack
itself never reads them: the pydantic models stay the judge, and the schemas follow from them.

- `config`: `Spec` (generator/config/spec.py) as `model_json_schema()` gives it, plus what the checks behind its
  annotated types say in code: the patterns of names, regions, project ids, labels and billing accounts,
  the ranges of amounts and thresholds, the guarantees a waiver may name and the capabilities `add` and
  `remove` may list. The YAML language server reads YAML 1.2, where `yes` and `no` are strings; the spec
  takes them as booleans (`tierstack init` writes them), so a boolean of the spec also accepts the words
  pydantic reads as one. `overrides:` (top level and per environment) gets the shape of a blueprint layer.
- `blueprint`: a blueprint file after Jinja2 rendering: the top-level keys of generator/config/blueprint/document.py
  (`TOP_KEYS`), `defaults:` and `roles.<role>:` holding an environment's settings
  (generator/config/settings.py `EnvironmentSettings`) with `capabilities.<id>:` typed by each capability's
  `settings_model` (modules/, `tierstack.modules.registry()`, plug-ins included). Nothing is required
  there: a blueprint that extends another sets only what differs, and tierstack says what a complete
  plan lacks. A list may also be written `key+:` (appended to the inherited list).

A schema is never stricter than tierstack, with one exception: numbers quoted as strings, which pydantic
reads and the schema flags. It is looser where a check needs more than a pattern (a cron expression, an
accelerator against the catalog, a region's zones, min_replicas <= max_replicas): tierstack reports those.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, create_model
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import core_schema

from tierstack.generator.config.gitsource import GitSource

KINDS = ("config", "blueprint", "fleet")
# Where `tierstack init` points its `# yaml-language-server: $schema=...` line: a file beside the config,
# written by `tierstack schema --out tierstack.schema.json` (docs/schema.md says why not a URL).
DEFAULT_FILES = {
    "config": "tierstack.schema.json",
    "blueprint": "blueprint.schema.json",
    "fleet": "fleet.schema.json",
}
DIALECT = "https://json-schema.org/draft/2020-12/schema"
MODELINE = "# yaml-language-server: $schema="
# the `title` of each schema: what --out may replace
TITLES = ("tierstack.yaml", "tierstack blueprint", "tierstack fleet file")
APPEND = "+"  # generator/config/blueprint/layer.py's APPEND: `apis+:` appends to the inherited list

# What pydantic's lax mode reads as a boolean besides true and false (pydantic's bool parsing; the words in
# any case: the usual three spellings are listed, for completion).
_TRUE_WORDS = ("yes", "y", "on", "true", "t", "1")
_FALSE_WORDS = ("no", "n", "off", "false", "f", "0")
_BOOLEAN_WORDS = sorted({form for word in (*_TRUE_WORDS, *_FALSE_WORDS) for form in (word, word.title(), word.upper())})


@cache
def _checks() -> dict[Callable[..., Any], JsonSchemaValue]:
    """The checks behind the models' annotated types that a JSON Schema can say, by the function they run."""
    from tierstack.generator.config import spec
    from tierstack.generator.core import grammars

    label_value = {"type": "string", "pattern": spec.LABEL_VALUE_RE.pattern}
    low, high = grammars.THRESHOLD_RANGE
    thresholds = {"items": {"type": "number", "exclusiveMinimum": low, "maximum": high}}
    return {
        spec.check_name: {"pattern": spec.NAME_RE.pattern},
        spec.check_team: {"pattern": spec.LABEL_VALUE_RE.pattern, "minLength": 1},
        spec.check_region: {"pattern": spec.REGION_RE.pattern},
        spec.check_project: {"pattern": spec.PROJECT_RE.pattern, "not": {"pattern": grammars.PROJECT_RESTRICTED}},
        spec._named_environments: {"minItems": 1},
        grammars.check_budget_amount: {"exclusiveMinimum": 0},
        grammars.check_currency: {"pattern": grammars.CURRENCY_RE.pattern},
        grammars.check_billing_account: {"pattern": grammars.BILLING_RE.pattern},
        spec._check_labels: {
            "maxProperties": 64,
            "propertyNames": {"pattern": spec.LABEL_KEY_RE.pattern},
            "additionalProperties": label_value,
        },
        spec._fractions: thresholds,
        grammars.check_thresholds: thresholds,
        # the shape only: five fields; their ranges are tierstack's to check
        grammars.check_cron: {"pattern": CRON_SHAPE},
        grammars.check_bucket_name: {
            "pattern": grammars.BUCKET_RE.pattern,
            "not": {"anyOf": [{"pattern": "^goog"}, {"pattern": "google"}]},
        },
        grammars.check_repository: {"pattern": grammars.REPOSITORY_RE.pattern},
        grammars.check_subject: {"pattern": grammars.SUBJECT_RE.pattern},
        grammars.check_email: {"pattern": grammars.EMAIL_RE.pattern, "maxLength": 254},
        grammars.check_kms_key: {"pattern": grammars.KMS_KEY_RE.pattern},
        grammars.check_network: {"pattern": grammars.NETWORK_RE.pattern},
        grammars.check_repository_id: {"pattern": grammars.REPOSITORY_ID_RE.pattern},
        # data_sources: the shapes; a duration's range (1m to 366d) is tierstack's to check
        grammars.check_table: {"pattern": grammars.TABLE_RE.pattern, "not": {"pattern": "^[^.]*google"}},
        grammars.check_gcs_prefix: {
            "pattern": grammars.GCS_PREFIX_RE.pattern,
            "not": {
                "anyOf": [{"pattern": "^gs://goog"}, {"pattern": "^gs://[^/]*google"}, {"pattern": "/[.][.]?(/|$)"}]
            },
        },
        grammars.check_duration: {"pattern": grammars.DURATION_RE.pattern, "minLength": 2},
        spec._in_words: {"pattern": spec.REASON_WORDS_RE.pattern},
        spec._max_difference: {"exclusiveMinimum": 0, "maximum": 1},
    }


CRON_SHAPE = r"^[0-9A-Za-z*,/-]+( +[0-9A-Za-z*,/-]+){4}$"  # grammars.CRON_RE, five fields


def _extra(function: Callable[..., Any]) -> JsonSchemaValue | None:
    """What a validator function checks, as JSON Schema: a known check, a known check it wraps (the
    `None passes` wrappers), or the regular expression a `settings.matching` check closes over."""
    known = _checks()
    if function in known:
        return known[function]
    for cell in getattr(function, "__closure__", None) or ():
        content = cell.cell_contents
        hashable = callable(content) and not isinstance(content, type) and getattr(content, "__hash__", None)
        if hashable and content in known:
            return known[content]
        if isinstance(content, re.Pattern) and function.__qualname__.startswith("matching."):
            return {"pattern": content.pattern}
    return None


class _Generator(GenerateJsonSchema):
    """pydantic's generator, plus what the after-validators of the annotated types check."""

    def function_after_schema(self, schema: core_schema.AfterValidatorFunctionSchema) -> JsonSchemaValue:
        value = super().function_after_schema(schema)
        extra = _extra(schema["function"]["function"])
        if extra is None or "$ref" in value:
            return value
        if "anyOf" in value:  # a check that lets None pass, around an optional value: it applies to the rest
            return {**value, "anyOf": [o if o.get("type") == "null" else _merge(o, extra) for o in value["anyOf"]]}
        return _merge(value, extra)


def _merge(value: JsonSchemaValue, extra: JsonSchemaValue) -> JsonSchemaValue:
    merged = {**value, **{k: v for k, v in extra.items() if k != "items"}}
    if "items" in extra:
        merged["items"] = {**value.get("items", {}), **extra["items"]}
    return merged


def schema(kind: str) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a tierstack.yaml (`config`) or of a rendered blueprint file."""
    if kind == "config":
        return config_schema()
    if kind == "blueprint":
        return blueprint_schema()
    if kind == "fleet":
        return fleet_schema()
    raise ValueError(f"no schema of kind {kind!r}; kinds: {', '.join(KINDS)}")


def schema_text(kind: str) -> str:
    """The schema as `tierstack schema` writes it: the same bytes on every run."""
    return json.dumps(schema(kind), indent=2, ensure_ascii=False) + "\n"


# --- tierstack.yaml ------------------------------------------------------------------------------


def config_schema() -> dict[str, Any]:
    from tierstack.generator.config.guarantees import GUARANTEE_IDS
    from tierstack.generator.config.spec import ENV_RE, Spec
    from tierstack.generator.facts.catalog import load_catalog

    # the spec's own booleans; the blueprint layer added below is strict, as the settings models are
    body = _lenient_booleans(Spec.model_json_schema(schema_generator=_Generator))
    defs = body.setdefault("$defs", {})
    catalog = load_catalog()
    if "AcceleratorChoice" in defs:
        defs["AcceleratorChoice"] = _accelerator(catalog, defs["AcceleratorChoice"])
    if "Budget" in defs:
        _budget_when_on(defs["Budget"])
    if "GoldenSet" in defs:  # one of uri or table; create_in makes a bucket, so a prefix only
        defs["GoldenSet"]["oneOf"] = [{"required": ["uri"]}, {"required": ["table"]}]
        defs["GoldenSet"]["dependentSchemas"] = {"table": {"not": {"required": ["create_in"]}}}
    capability = {"type": "string", "enum": list(_capability_ids())}
    for name in ("add", "remove"):
        field = defs.get("CapabilityChanges", {}).get("properties", {}).get(name)
        if field is not None:
            field["items"] = capability
    guarantee = defs.get("Waiver", {}).get("properties", {}).get("guarantee")
    if guarantee is not None:
        guarantee["enum"] = list(GUARANTEE_IDS)
    environments = body.get("properties", {}).get("environments", {})
    for option in environments.get("anyOf", [environments]):
        if option.get("type") == "object":
            option["propertyNames"] = {"pattern": ENV_RE.pattern}
            option["minProperties"] = 1
    layer = _layer_schema()
    layer_defs = layer.pop("$defs", {})
    for name, definition in layer_defs.items():
        defs.setdefault(name, definition)
    defs["BlueprintLayer"] = layer
    overrides = {
        "$ref": "#/$defs/BlueprintLayer",
        "description": "settings over the blueprint's, as a blueprint's defaults: writes them (a key the blueprint "
        "does not have is an error; `key+:` appends to a list)",
    }
    for where in (body, defs.get("Environment", {})):
        if "overrides" in where.get("properties", {}):
            where["properties"]["overrides"] = overrides
    return {
        "$schema": DIALECT,
        "title": "tierstack.yaml",
        "description": "One ML use case for tierstack: its answers, environments, labels, budget and overrides "
        "(docs/spec.md). Written by `tierstack schema`; tierstack itself validates with its pydantic models.",
        **{k: v for k, v in body.items() if k not in ("title", "description")},
    }


def fleet_schema() -> dict[str, Any]:
    """A fleet file (docs/fleets.md): its own keys, `defaults` (tierstack.yaml fields but `name`) and
    `members` (each a tierstack.yaml with its own `name`; the rest may come from the defaults)."""
    from tierstack.generator.config.spec import Spec
    from tierstack.generator.services.fleet import FleetFile

    config = config_schema()
    fields = config["properties"]
    fleet_fields = FleetFile.model_json_schema()["properties"]
    member = {"type": "object", "additionalProperties": False, "required": ["name"], "properties": fields}
    defaults = {
        "type": "object",
        "additionalProperties": False,
        "properties": {key: value for key, value in fields.items() if key != "name"},
        "description": fleet_fields["defaults"]["description"] + " (each member sets its own name)",
    }
    name = dict(fields["name"])
    name["description"] = fleet_fields["fleet"]["description"]
    return {
        "$schema": DIALECT,
        "title": "tierstack fleet file",
        "description": "Several use cases sharing a blueprint and defaults, generated in one process "
        "(docs/fleets.md). Written by `tierstack schema --kind fleet`; tierstack itself validates each member "
        f"with its pydantic models ({Spec.__name__}).",
        "type": "object",
        "additionalProperties": False,
        "required": ["fleet", "members"],
        "properties": {
            "fleet": name,
            "description": {"type": "string"},
            "blueprint": {**fields["blueprint"], "description": fleet_fields["blueprint"]["description"]},
            "defaults": defaults,
            "members": {
                "type": "array",
                "minItems": 1,
                "items": member,
                "description": fleet_fields["members"]["description"],
            },
        },
        "$defs": config["$defs"],
    }


def _lenient_booleans(node: Any) -> Any:
    """Every boolean of the spec also takes the words pydantic reads as one (yes, no, on, off, ...)."""
    if isinstance(node, dict):
        if node.get("type") == "boolean":
            return _boolean(node)
        return {key: _lenient_booleans(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_lenient_booleans(item) for item in node]
    return node


def _boolean(value: dict[str, Any]) -> dict[str, Any]:
    kept = {k: v for k, v in value.items() if k != "type"}
    words = {"type": "string", "enum": _BOOLEAN_WORDS}
    return {**kept, "anyOf": [{"type": "boolean"}, words, {"type": "integer", "enum": [0, 1]}]}


def _accelerator(catalog: Any, definition: dict[str, Any]) -> dict[str, Any]:
    """The accelerator as written (`gpu:NVIDIA_L4×1`), or as the object it parses to."""
    written = ["none"]
    for acc in catalog.accelerators:
        written += [f"gpu:{acc.name}×{n}" for n in acc.counts] if acc.kind == "gpu" else [f"tpu:{acc.name}"]
    return {
        "description": "none, gpu:TYPE×N (also gpu:TYPExN) or tpu:TYPE, with a type and count from tierstack's "
        "accelerator table (generator/data/)",
        "anyOf": [
            {"type": "string", "enum": written},
            {"type": "string", "pattern": accelerator_pattern(catalog)},
            _accelerator_object(catalog, definition),
        ],
    }


def _accelerator_object(catalog: Any, definition: dict[str, Any]) -> dict[str, Any]:
    """The object form, its type one of the table's (spec.AcceleratorChoice checks it as the text form)."""
    shape = {k: v for k, v in definition.items() if k != "description"}
    properties = dict(shape.get("properties") or {})
    names = sorted(acc.name for acc in catalog.accelerators)
    properties["type"] = {"anyOf": [{"type": "string", "enum": names}, {"type": "null"}]}
    return {**shape, "properties": properties}


def accelerator_pattern(catalog: Any) -> str:
    """Every spelling spec.parse_accelerator takes: `none` (no, false, empty), `gpu:TYPE×N`, `tpu:TYPE[xN]`,
    the kind and type in any case, `-` for `_`, `x`, `×` or `*` before the count, a count the type comes in."""

    def any_case(word: str) -> str:
        return "".join(
            f"[{c.lower()}{c.upper()}]" if c.isalpha() else "[_-]" if c == "_" else re.escape(c) for c in word
        )

    kinds = [
        rf"{any_case(acc.kind)}:\s*{any_case(acc.name)}(?:\s*[x×*]\s*0*(?:{'|'.join(map(str, acc.counts))}))?"
        for acc in catalog.accelerators
    ]
    none = "|".join(any_case(word) for word in ("none", "no", "false"))
    return rf"^\s*(?:(?:{none})?|{'|'.join(kinds)})\s*$"


def _budget_when_on(definition: dict[str, Any]) -> None:
    """Spec: while budgets are on (`enabled` is not false), amount and billing_account are required."""
    off = [False, 0, *(w for w in _BOOLEAN_WORDS if w.lower() in _FALSE_WORDS)]
    definition["if"] = {"properties": {"enabled": {"enum": off}}, "required": ["enabled"]}
    definition["else"] = {
        "required": ["amount", "billing_account"],
        "properties": {"amount": {"type": "number"}, "billing_account": {"type": "string"}},
    }


# --- blueprints ----------------------------------------------------------------------------------


def _capability_ids() -> tuple[str, ...]:
    from tierstack.modules import registry

    return tuple(registry())


def _layer_model() -> type[BaseModel]:
    """A blueprint layer (`defaults:`, `roles.<role>:`, an `overrides:`): an environment's settings."""
    from tierstack.generator.config.settings import EnvironmentSettings
    from tierstack.modules import registry

    fields: dict[str, Any] = {
        capability: (cls.settings_model | None, Field(default=None, description=cls.title))
        for capability, cls in registry().items()
    }
    capabilities = create_model(
        "BlueprintCapabilities",
        __config__=ConfigDict(extra="forbid", title="capabilities"),
        __doc__="Settings per capability, each typed by its capability's settings_model (modules/).",
        **fields,
    )
    return create_model(
        "BlueprintLayer",
        __base__=EnvironmentSettings,
        __doc__="An environment's settings: a blueprint's defaults, a role's overrides, or a config's overrides.",
        capabilities=(capabilities, Field(default=None)),
    )


def _layer_schema() -> dict[str, Any]:
    layer = _layer_model().model_json_schema(schema_generator=_Generator)
    _partial(layer)
    return layer


def _blueprint_model() -> type[BaseModel]:
    from tierstack.generator.config.blueprint import ROLES

    layer: Any = _layer_model() | None
    per_role: dict[str, Any] = {role: (layer, Field(default=None)) for role in ROLES}
    roles: Any = create_model(
        "BlueprintRoles",
        __config__=ConfigDict(extra="forbid"),
        __doc__="Settings per environment role, over the defaults.",
        **per_role,
    )
    top: dict[str, Any] = {
        "extends": (
            str | GitSource | None,
            Field(default=None, description="a built-in blueprint's name, a path to a file, or a pinned git source"),
        ),
        "tier": (
            Annotated[int, Field(ge=0, le=2, strict=True)] | None,
            Field(default=None, description="the maturity tier it implements"),
        ),
        "description": (str | None, Field(default=None, description="one line for humans")),
        "region": (
            str | None,
            Field(default=None, description="the region of a config that writes none (a regional fork's region)"),
        ),
        "allowed_regions": (
            list[str] | None,
            Field(default=None, description="the only regions its configs and their environments may be in"),
        ),
        "defaults": (layer, Field(default=None, description="settings for every environment")),
        "roles": (roles | None, Field(default=None, description="settings per role: development, staging, production")),
    }
    return create_model(
        "BlueprintFile",
        __config__=ConfigDict(extra="forbid", title="tierstack blueprint"),
        __doc__="A tierstack blueprint after Jinja2 rendering (docs/blueprints.md).",
        **top,
    )


def blueprint_schema() -> dict[str, Any]:
    from tierstack.generator.config.blueprint import TOP_KEYS

    body = _blueprint_model().model_json_schema(schema_generator=_Generator)
    if tuple(body["properties"]) != TOP_KEYS:  # the model above follows the loader's list
        raise RuntimeError(f"the blueprint schema's keys {tuple(body['properties'])} are not TOP_KEYS {TOP_KEYS}")
    _partial(body.get("$defs", {}))
    return {
        "$schema": DIALECT,
        "title": "tierstack blueprint",
        "description": "A tierstack blueprint after Jinja2 rendering (docs/blueprints.md). Written by "
        "`tierstack schema --kind blueprint`; tierstack itself validates with its pydantic models.",
        **{k: v for k, v in body.items() if k not in ("title", "description")},
    }


def _partial(node: Any) -> None:
    """Nothing required (a layer sets what differs); a list may be appended to with `key+:`."""
    if isinstance(node, dict):
        node.pop("required", None)
        properties = node.get("properties")
        if isinstance(properties, dict):
            for key, value in list(properties.items()):
                if _is_list(value) and not key.endswith(APPEND):
                    properties[key + APPEND] = {
                        **{k: v for k, v in value.items() if k not in ("title", "default")},
                        "description": f"items appended to the inherited {key}",
                    }
        for value in node.values():
            _partial(value)
    elif isinstance(node, list):
        for item in node:
            _partial(item)


def _is_list(value: Any) -> bool:
    if not isinstance(value, dict):
        return False
    options = value.get("anyOf", [value])
    return any(isinstance(o, dict) and o.get("type") == "array" for o in options)


def write_schema(path: Path, text: str) -> None:
    """Write a schema file; one that exists and is not a tierstack schema stays (a UserError naming it)."""
    from tierstack.generator.core.errors import UserError
    from tierstack.generator.core.fsio import write_atomic

    exists = path.exists() or path.is_symlink()
    if exists and (path.is_symlink() or _title(path) not in TITLES):
        raise UserError(
            "exists and is not a schema tierstack wrote; not replacing it",
            file=path,
            field="--out",
            hint="give another file, or move that one away",
        )
    write_atomic(path, text)


# the largest schema tierstack writes (the config's) is about 60 KiB; a larger file is not one of them
MAX_SCHEMA_BYTES = 4 * 1024 * 1024


def _title(path: Path) -> Any:
    """The `title` of the JSON schema at `path`, read through the bounded reader (a FIFO given as --out
    would block a plain read forever; /dev/zero never end); None for anything that is not a JSON object,
    and a UserError for a path that is no regular file (a FIFO, a device, a directory), naming it."""
    from tierstack.generator.core import fsio
    from tierstack.generator.core.errors import UserError

    try:
        current = fsio.read_json(path, "schema file", MAX_SCHEMA_BYTES)
    except fsio.Unreadable as err:
        if err.reason == "not found":  # gone since it was seen: not a schema tierstack wrote either
            return None
        raise UserError(f"{err.reason}; not replacing it", file=path, field="--out", hint="give another file") from None
    except UserError:  # too large, not UTF-8, not JSON: not a schema tierstack wrote
        return None
    return current.get("title") if isinstance(current, dict) else None


def write_beside(document: Path, kind: str) -> tuple[Path, bool]:
    """The schema a generated file's `yaml-language-server` line names, written beside it, so an editor
    completes and checks the file at once: (its path, whether it was written). A schema tierstack wrote is
    brought up to date; any other file of that name is left as it is."""
    from tierstack.generator.core.errors import UserError

    target = document.parent / DEFAULT_FILES[kind]
    try:
        write_schema(target, schema_text(kind))
    except UserError:
        return target, False
    return target, True
