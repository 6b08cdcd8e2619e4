"""Blueprints: YAML templates rendered in a Jinja2 sandbox, layered with `extends`, merged deeply, every leaf with the
file and line that set it. One concern a module: `builtin` (the shipped blueprints), `locator` (finding one: a path,
a built-in name, a git source), `lines` (the output-to-source line map), `sandbox` (the sandbox and its limits),
`template` (compiling and rendering one), `rendered` (renders and parses kept per template and values), `document`
(a rendered document checked and read into a layer), `layer` (a layer and the deep merge), `shared` (one merge of a
chain, shared by renders that differ in a few values), `model` (Blueprint, Link, Regions) and `loader` (`load`: a
blueprint and everything it extends). It may import generator's core (errors, YAML and file I/O, provenance), the
git sources and their lock, the render cache and, when checking regions, the Google Cloud facts and the spec's
region grammar; never the plan, the synthesis, the analyses or the CLI.
"""

from tierstack.generator.config.blueprint.builtin import builtin_names, builtin_summaries, builtin_text
from tierstack.generator.config.blueprint.document import ROLES, TOP_KEYS, layer_from
from tierstack.generator.config.blueprint.layer import APPEND, Layer, leaf_paths, merge
from tierstack.generator.config.blueprint.loader import load
from tierstack.generator.config.blueprint.locator import BlueprintRef, display_path, locate
from tierstack.generator.config.blueprint.model import Blueprint, Link, Regions
from tierstack.generator.config.blueprint.sandbox import (
    DICT_METHODS,
    FILTERS,
    LOOP_METHODS,
    MAX_FORMAT_WIDTH,
    MAX_INT_BITS,
    MAX_ITERATIONS,
    MAX_OUTPUT,
    MAX_RANGE,
    MAX_SECONDS,
    MAX_VALUE,
    MAX_WORK,
    STR_METHODS,
)
from tierstack.generator.config.blueprint.template import render

__all__ = [
    "APPEND",
    "DICT_METHODS",
    "FILTERS",
    "LOOP_METHODS",
    "MAX_FORMAT_WIDTH",
    "MAX_INT_BITS",
    "MAX_ITERATIONS",
    "MAX_OUTPUT",
    "MAX_RANGE",
    "MAX_SECONDS",
    "MAX_VALUE",
    "MAX_WORK",
    "ROLES",
    "STR_METHODS",
    "TOP_KEYS",
    "Blueprint",
    "BlueprintRef",
    "Layer",
    "Link",
    "Regions",
    "builtin_names",
    "builtin_summaries",
    "builtin_text",
    "display_path",
    "layer_from",
    "leaf_paths",
    "load",
    "locate",
    "merge",
    "render",
]
