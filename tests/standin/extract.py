"""Extract the Google providers' schema from the pinned cdktn bindings, for the offline stand-in.

No Google provider binary can be downloaded here, but the prebuilt bindings
(`cdktn-provider-google` / `-google-beta`, pinned in pyproject.toml; provider version in
generator/facts/providers.py) were
generated from the real provider's schema, and their wheels ship it in two
forms inside `_jsii/*.jsii.tgz`:

- the generated JavaScript: every attribute getter is preceded by the
  generator's comment `// <name> - computed: <b>, optional: <b>, required: <b>`,
  and `synthesizeHclAttributes` (resources) / `<struct>ToHclTerraform`
  (nested blocks) say for each argument whether it is a block or an
  attribute, and its nesting (`list`, `set`, `struct`) and storage type;
- the jsii assembly (`.jsii`): the provider block's properties and whether
  each one is optional.

The result is written in the format of `terraform providers schema -json`, for
every resource and data source type tierstack emits (those the examples and
test cases synthesize, plus any already in the file), so the stand-in serves
Terraform the same schema the real provider would.

Regenerate with `make standin-schema` (python tests/standin/extract.py).
"""

from __future__ import annotations

import argparse
import io
import json
import re
import sys
import tarfile
from dataclasses import dataclass, field
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from tierstack.generator.facts.providers import GOOGLE_PROVIDER_VERSION

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
SCHEMA_DIR = HERE / "schema"
PROVIDER_VERSION = GOOGLE_PROVIDER_VERSION  # what the pinned cdktn-provider-google(-beta) were generated from
PACKAGES = {"google": "cdktn_provider_google", "google-beta": "cdktn_provider_google_beta"}

CLASS_RE = re.compile(r"^class (\w+) extends ([\w.]+) \{$(.*?)^\}$", re.M | re.S)
FUNCTION_RE = re.compile(r"^function (\w+)ToHclTerraform\(struct\) \{$(.*?)^\}$", re.M | re.S)
SYNTH_RE = re.compile(r"^    synthesizeHclAttributes\(\) \{$(.*?)^    \}$", re.M | re.S)
HCL_ATTR_RE = re.compile(
    r"^\s+(\w+): \{\s*value: (.*?),\s*isBlock: (true|false),\s*type: \"(\w+)\",\s*storageClassType: \"(\w+)\",\s*\},",
    re.M | re.S,
)
MEMBER_RE = re.compile(r"^    // (\w+) - computed: (true|false), optional: (true|false), required: (true|false)$", re.M)
COMPLEX_RE = re.compile(r"^    _\w+ = new (?:index_\d+\.)?([\w.]+)\(this, \"(\w+)\"(?:, (true|false))?\);$", re.M)
GETTER_RE = re.compile(r"return (cdktn\.Fn\.tolist\()?this\.get(\w*)Attribute\('(\w+)'\)")
TYPE_RE = re.compile(r"static tfResourceType = \"(\w+)\";")

GETTER_TYPES: dict[str, Any] = {
    "String": "string",
    "Number": "number",
    "Boolean": "bool",
    "List": ["list", "string"],
    "NumberList": ["list", "number"],
    "StringMap": ["map", "string"],
    "NumberMap": ["map", "number"],
    "BooleanMap": ["map", "bool"],
}
STORAGE_TYPES: dict[str, str] = {"string": "string", "number": "number", "boolean": "bool"}


class ExtractError(Exception):
    """The bindings did not have the shape this extractor understands."""


@dataclass
class HclAttr:
    is_block: bool
    kind: str  # simple | list | set | map | struct
    storage: str  # string | stringList | ...Map | <Struct>List | <Struct>
    function: str | None  # the nested struct's ToHclTerraform function, for blocks


@dataclass
class Member:
    name: str
    computed: bool
    optional: bool
    required: bool
    getter: Any = None  # a cty type from the getter, for simple values
    complex_class: str | None = None  # the class a complex value is wrapped in
    wraps_set: bool = False


@dataclass
class Module:
    """One binding module (lib/<name>/): its classes' members and its HCL attribute tables."""

    classes: dict[str, list[Member]] = field(default_factory=dict)
    bases: dict[str, str] = field(default_factory=dict)
    class_hcl: dict[str, dict[str, HclAttr]] = field(default_factory=dict)
    function_hcl: dict[str, dict[str, HclAttr]] = field(default_factory=dict)
    tf_types: dict[str, str] = field(default_factory=dict)  # class name -> terraform type


def _hcl_table(body: str) -> dict[str, HclAttr]:
    table = {}
    for name, value, is_block, kind, storage in HCL_ATTR_RE.findall(body):
        called = re.search(r"(?<![.\w])(\w+)ToHclTerraform", value)
        table[name] = HclAttr(is_block == "true", kind, storage, called.group(1) if called else None)
    return table


def _members(body: str) -> list[Member]:
    found = []
    marks = list(MEMBER_RE.finditer(body))
    for i, mark in enumerate(marks):
        end = marks[i + 1].start() if i + 1 < len(marks) else len(body)
        chunk = body[mark.end() : end]
        member = Member(mark.group(1), mark.group(2) == "true", mark.group(3) == "true", mark.group(4) == "true")
        complex_match = COMPLEX_RE.search(chunk)
        getter = GETTER_RE.search(chunk)
        if complex_match and complex_match.group(2) == member.name:
            member.complex_class = complex_match.group(1)
            member.wraps_set = complex_match.group(3) == "true"
        elif getter and getter.group(3) == member.name:
            if getter.group(2) not in GETTER_TYPES:
                raise ExtractError(f"getter type get{getter.group(2)}Attribute for '{member.name}' is not known")
            member.getter = ["set", "string"] if getter.group(1) else GETTER_TYPES[getter.group(2)]
        # otherwise a plain field (provider arguments): its type comes from the HCL table
        found.append(member)
    return found


def parse_module(files: list[str]) -> Module:
    module = Module()
    for text in files:
        for name, base, body in CLASS_RE.findall(text):
            module.bases[name] = base
            module.classes[name] = _members(body)
            synth = SYNTH_RE.search(body)
            if synth:
                module.class_hcl[name] = _hcl_table(synth.group(1))
            tf_type = TYPE_RE.search(body)
            if tf_type:
                module.tf_types[name] = tf_type.group(1)
        for function, body in FUNCTION_RE.findall(text):
            module.function_hcl[function] = _hcl_table(body)
    return module


def _lower_first(name: str) -> str:
    return name[:1].lower() + name[1:]


def _reference_class(class_name: str) -> str:
    """`FooList` -> `FooOutputReference` (the class of one element); references stay as they are."""
    return class_name.removesuffix("List") + "OutputReference" if class_name.endswith("List") else class_name


def _object_type(module: Module, class_name: str) -> list[Any]:
    """The cty object type of a computed nested value: every attribute of its reference class."""
    ref = _reference_class(class_name)
    return ["object", {m.name: _member_type(module, m, None) for m in module.classes[ref]}]


def _member_type(module: Module, member: Member, hcl: HclAttr | None) -> Any:
    if hcl is not None and not hcl.is_block and hcl.kind in ("simple", "list", "set", "map"):
        element = STORAGE_TYPES.get(hcl.storage.removesuffix("List").removesuffix("Map"))
        if element is not None:
            return element if hcl.kind == "simple" else [hcl.kind, element]
    if member.getter is not None:
        return member.getter
    cls = member.complex_class or ""
    if not cls:
        raise ExtractError(f"no type found for '{member.name}'")
    if cls == "cdktn.StringMap":
        return ["map", "string"]
    if cls == "cdktn.StringMapList":
        return ["list", ["map", "string"]]
    if cls.startswith("cdktn."):
        raise ExtractError(f"complex type {cls} for '{member.name}' is not known")
    obj = _object_type(module, cls)
    if hcl is not None and hcl.kind == "struct":
        return obj
    return ["set" if member.wraps_set else "list", obj]


def build_block(module: Module, class_name: str, hcl: dict[str, HclAttr]) -> dict[str, Any]:
    """A schema block in `terraform providers schema -json` form, from a class and its HCL table."""
    attributes: dict[str, Any] = {}
    blocks: dict[str, Any] = {}
    for member in module.classes[class_name]:
        entry = hcl.get(member.name)
        if entry is not None and entry.is_block:
            if entry.function is None or member.complex_class is None:
                raise ExtractError(f"block '{member.name}' of {class_name} has no struct function")
            nested = build_block(module, _reference_class(member.complex_class), module.function_hcl[entry.function])
            mode = {"list": "list", "set": "set", "struct": "single"}[entry.kind]
            block: dict[str, Any] = {"nesting_mode": mode, "block": nested}
            if member.required:
                block["min_items"] = 1
            if mode == "list" and member.complex_class.endswith("OutputReference"):
                block["max_items"] = 1
            blocks[member.name] = block
            continue
        attribute: dict[str, Any] = {"type": _member_type(module, member, entry)}
        for flag in ("required", "optional", "computed"):
            if getattr(member, flag):
                attribute[flag] = True
        attributes[member.name] = attribute
    missing = set(hcl) - set(attributes) - set(blocks)
    if missing:
        raise ExtractError(f"{class_name}: arguments without a getter: {sorted(missing)}")
    out: dict[str, Any] = {}
    if attributes:
        out["attributes"] = dict(sorted(attributes.items()))
    if blocks:
        out["block_types"] = dict(sorted(blocks.items()))
    return out


def provider_block(module: Module, assembly: dict[str, Any], fqn_prefix: str) -> dict[str, Any]:
    """The provider block: types from the HCL table, required or optional from the jsii assembly."""
    name = next(n for n, base in module.bases.items() if base == "cdktn.TerraformProvider")
    config = assembly["types"][f"{fqn_prefix}.provider.{name}Config"]
    required = {_snake(p["name"]) for p in config["properties"] if not p.get("optional")}
    return _struct_block(module, module.class_hcl[name], required, skip={"alias"})  # alias is a meta-argument


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _struct_block(
    module: Module, hcl: dict[str, HclAttr], required: set[str], skip: frozenset[str] | set[str] = frozenset()
) -> dict[str, Any]:
    """A block from an HCL table alone (provider configuration structs have no reference classes)."""
    attributes, blocks = {}, {}
    for name, entry in sorted(hcl.items()):
        if name in skip:
            continue
        if entry.is_block:
            if entry.function is None:
                raise ExtractError(f"provider block '{name}' has no struct function")
            nested = _struct_block(module, module.function_hcl[entry.function], set())
            blocks[name] = {"nesting_mode": "list", "block": nested}
        else:
            flag = "required" if name in required else "optional"
            attributes[name] = {"type": _member_type(module, Member(name, False, True, False), entry), flag: True}
    out: dict[str, Any] = {"attributes": attributes}
    if blocks:
        out["block_types"] = blocks
    return out


# --- reading the wheels ---------------------------------------------------------------------------


def _tarball(package: str) -> Path:
    spec = find_spec(package)  # found, not imported: importing would start jsii
    if spec is None or not spec.submodule_search_locations:
        raise ExtractError(f"{package} is not installed (pip install -e '.[dev]')")
    jsii_dir = Path(next(iter(spec.submodule_search_locations))) / "_jsii"
    found = sorted(jsii_dir.glob("*.jsii.tgz"))
    if not found:
        raise ExtractError(f"no jsii assembly in {jsii_dir}")
    return found[0]


def read_wheel(provider: str) -> tuple[dict[str, list[str]], dict[str, Any], str]:
    """JS sources by module directory, the jsii assembly, and the assembly's name."""
    sources: dict[str, list[str]] = {}
    assembly: dict[str, Any] = {}
    with tarfile.open(_tarball(PACKAGES[provider])) as tar:
        for info in tar:
            if info.name == "package/.jsii":
                assembly = json.load(io.TextIOWrapper(tar.extractfile(info), encoding="utf-8"))  # type: ignore[arg-type]
            elif info.name.startswith("package/lib/") and info.name.endswith(".js"):
                module_dir = info.name.split("/")[2]
                text = tar.extractfile(info).read().decode("utf-8")  # type: ignore[union-attr]
                sources.setdefault(module_dir, []).append(text)
    return sources, assembly, assembly.get("name", "")


def extract(provider: str, wanted: set[str]) -> dict[str, Any]:
    """The schema of `provider` for the wanted `resource.TYPE` / `data.TYPE` names."""
    sources, assembly, fqn_prefix = read_wheel(provider)
    resources: dict[str, Any] = {}
    data_sources: dict[str, Any] = {}
    provider_schema: dict[str, Any] = {}
    for module_dir, files in sorted(sources.items()):
        quick = "\n".join(files)
        if module_dir != "provider" and not any(f'"{w.split(".", 1)[1]}"' in quick for w in wanted):
            continue
        module = parse_module(files)
        if module_dir == "provider":
            provider_schema = {"version": 0, "block": provider_block(module, assembly, fqn_prefix)}
            continue
        for class_name, tf_type in module.tf_types.items():
            is_data = module.bases[class_name] == "cdktn.TerraformDataSource"
            key = f"{'data' if is_data else 'resource'}.{tf_type}"
            if key not in wanted:
                continue
            schema = {"version": 0, "block": build_block(module, class_name, module.class_hcl[class_name])}
            (data_sources if is_data else resources)[tf_type] = schema
    return {
        "format_version": "1.0",
        "source": f"{PACKAGES[provider].replace('_', '-')} {assembly.get('version')} "
        f"(jsii assembly and generated JavaScript), Google provider {PROVIDER_VERSION}",
        "provider": provider_schema,
        "resource_schemas": dict(sorted(resources.items())),
        "data_source_schemas": dict(sorted(data_sources.items())),
    }


# --- what tierstack emits -------------------------------------------------------------------------


def emitted_types() -> dict[str, set[str]]:
    """`resource.T` / `data.T` per provider, from synthesizing every example and test case."""
    import tempfile

    sys.path.insert(0, str(REPO / "tests"))
    from synth_support import example_configs
    from tierstack.generator.config.spec import load_spec
    from tierstack.generator.output.generate import generate
    from tierstack.generator.plan.resolve import resolve

    found: dict[str, set[str]] = {"google": set(), "google-beta": set()}
    configs = [*example_configs(REPO / "examples"), *sorted((REPO / "tests" / "cases").glob("*.yaml"))]
    with tempfile.TemporaryDirectory() as tmp:
        for i, config in enumerate(configs):
            out = Path(tmp) / str(i)
            generate(resolve(load_spec(config)), out)
            for stack in sorted((out / "stacks").iterdir()):
                for kind, key in types_in(json.loads((stack / "cdk.tf.json").read_text())):
                    found[kind].add(key)
    return found


def types_in(stack: dict[str, Any]) -> list[tuple[str, str]]:
    """(provider, `resource.T` or `data.T`) for every block of a synthesized stack."""
    out = []
    for section, prefix in (("resource", "resource"), ("data", "data")):
        for tf_type, items in stack.get(section, {}).items():
            for body in items.values():
                provider = str(body.get("provider", "google")).split(".")[0]
                out.append((provider, f"{prefix}.{tf_type}"))
    return out


def schema_path(provider: str) -> Path:
    return SCHEMA_DIR / f"{provider}-{PROVIDER_VERSION}.json"


def known_types(provider: str) -> set[str]:
    path = schema_path(provider)
    if not path.exists():
        return set()
    data = json.loads(path.read_text(encoding="utf-8"))
    return {f"resource.{t}" for t in data["resource_schemas"]} | {f"data.{t}" for t in data["data_source_schemas"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("extra", nargs="*", help="more types to include, as google:resource.TYPE")
    args = parser.parse_args(argv)
    wanted = emitted_types()
    for provider in wanted:
        wanted[provider] |= known_types(provider)
    for item in args.extra:
        provider, _, key = item.partition(":")
        wanted.setdefault(provider, set()).add(key)
    SCHEMA_DIR.mkdir(parents=True, exist_ok=True)
    for provider, types in sorted(wanted.items()):
        schema = extract(provider, types)
        got = {f"resource.{t}" for t in schema["resource_schemas"]} | {
            f"data.{t}" for t in schema["data_source_schemas"]
        }
        if types - got:
            raise ExtractError(f"{provider}: no binding found for {sorted(types - got)}")
        schema_path(provider).write_text(json.dumps(schema, indent=1, sort_keys=False) + "\n", encoding="utf-8")
        print(
            f"{schema_path(provider).relative_to(REPO)}: {len(schema['resource_schemas'])} resources, "
            f"{len(schema['data_source_schemas'])} data sources"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
