"""`tierstack diff`: what changes between two syntheses, resource by resource, and what data is at risk.

The comparison (`compare`) is a pure function over parsed `cdk.tf.json` files: no Terraform, no
credentials, no network. Per stack it reports resources added, removed and changed (attribute by
attribute, before and after; `//` metadata keys are ignored), and renames: a resource of the same type
and the same identity under a new address. A resource's identity is what names it in Google Cloud
(IDENTITY_KEYS: `name`, `bucket`, `dataset_id`, `account_id`, `repository_id`, ..., with `project`
and `location`/`region`/`zone`); references to other resources count by the identity of what they
point to, so a renamed bucket's IAM members follow it. A rename that a `moved` block in HEAD declares
is Terraform's move, not a loss. A change of identity at one address (a bucket moved to another
region) is a replacement: Google Cloud cannot rename or relocate such a resource in place. An argument
that encodes a document (a scheduler job's base64 body, a workflow's jsonencode'd source) is decoded and
compared key by key (`http_target.body[decoded].templateUri`), so a change inside it is not one long
string that starts the same on both sides.

A stateful resource (generator/facts/stateful.py) that is removed, renamed without a `moved` block, or
replaced is **data at risk**: `terraform apply` would destroy it and what it holds. docs/diff.md
explains the rules.

Syntheses are read from an output directory (`cdktf.out/`), or from a git ref of a repository,
extracted with `git archive` into a temporary directory (the user's working tree, index and HEAD are
never touched) and synthesized there by the running tierstack. Each temporary directory is removed
in a `finally`, Ctrl-C included.

One concern a module: model (syntheses and changes), read (a stack file, an output directory), refs (a
git ref's synthesis), ownership (a resource's capability), identity, decode (encoded bodies),
comparison, and one renderer per format (text, markdown, data). This package re-exports the names other
modules import.
"""

from tierstack.generator.analysis.diff.comparison import compare, compare_stacks
from tierstack.generator.analysis.diff.data import to_data
from tierstack.generator.analysis.diff.decode import decode_body
from tierstack.generator.analysis.diff.markdown import render_markdown
from tierstack.generator.analysis.diff.model import AttributeChange, Report, ResourceChange, Stack, StackDiff
from tierstack.generator.analysis.diff.read import load_synthesis, parse_stack
from tierstack.generator.analysis.diff.refs import (
    _extract,
    _git,
    _git_env,
    _synthesize,
    commit_of,
    config_in_repository,
    git_toplevel,
    synthesis_of_ref,
)
from tierstack.generator.analysis.diff.text import _attribute_text, counts_text, render_text, risk_lines, summary_lines

__all__ = [
    "AttributeChange",
    "Report",
    "ResourceChange",
    "Stack",
    "StackDiff",
    "_attribute_text",
    "_extract",
    "_git",
    "_git_env",
    "_synthesize",
    "commit_of",
    "compare",
    "compare_stacks",
    "config_in_repository",
    "counts_text",
    "decode_body",
    "git_toplevel",
    "load_synthesis",
    "parse_stack",
    "render_markdown",
    "render_text",
    "risk_lines",
    "summary_lines",
    "synthesis_of_ref",
    "to_data",
]
