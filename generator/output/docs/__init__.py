"""`tierstack docs`: a Markdown page per stack, its diagram derived from the synthesized stack itself.

`generate` writes each stack's page beside its Terraform JSON, `stacks/<stack>/README.md` in the output
directory (a code host shows it with the folder, and renders the Mermaid diagram), recorded in the
manifest like every file it writes, so `generate --check` finds a stale page. `tierstack docs` prints the
pages of a synthesized output directory again.

A page has: the use case and its answers; the capabilities with the answers that selected them (what
`explain` says, read from the selection); a Mermaid diagram; the resources (address, Google name, type,
capability, labels); the identities and their project roles; the outputs; the budget and the alert thresholds.

The diagram is read from the stack's `cdk.tf.json`, not from a list kept beside the modules, so it shows
what `terraform apply` creates. It is drawn so that the data flow is its backbone (issue 17):

- a node per resource except the plumbing (enabled APIs, project-level IAM, audit-log settings, the IAM
  members themselves), grouped by capability (each resource's construct path names it);
- the capabilities on the data flow (FLOW: data processing, features, training, evaluation, registry,
  serving, A/B tests, monitoring) come first, top to bottom, numbered, joined by thick arrows from the
  data sources on, each labelled with what it hands on; then the ones that run, record, pay for and
  secure the flow (SUPPORT); ml_pipelines' trigger is a dotted arrow to training;
- the identities (service accounts, service agents, the CI pool, the principals outside the stack) are
  one group at the end, in rows: each box says what its IAM members let it do, summarised per
  capability (`writes: data, training`, `reads: registry`, `acts as: serving`, `2 roles on the project`),
  instead of one arrow per binding; Google's service agents with the same access are one box;
- a reference `${google_x.y.attr}` from one resource to another is a dotted arrow labelled with the
  attribute that holds it; references to the encryption key are counted on the key (`encrypts 17
  resources`), since every encrypted resource has one.

Every text that reaches the diagram is escaped: a character other than a letter, a digit, a space or
`_ - . , : / @ ( )` becomes a Mermaid entity code (`#35;`), so a name from a config cannot close a label, start a
directive (`%%{init}`), a click callback or HTML. Text that reaches the Markdown is escaped the same way
for Markdown and HTML. The page depends on nothing but the config and the stack: not the time, not the
working directory, not where the output directory is (generate --check compares pages byte for byte).

One concern a module: escape (Mermaid labels, Markdown text and code spans), resources (the stack's
resources, references and Google names), model (the diagram's groups, nodes and edges, the flow, each
type's part), access (what each identity may do), graph (`stack_graph`), diagram (`mermaid`), about
(`StackDoc`, `summary`), budget (the budget, alerts and cost sections), markdown (`page`) and files (`pages`,
`write_stack_docs`, `synthesized_pages`). This package re-exports the names the rest of tierstack and the
tests use.
"""

from tierstack.generator.output.docs.about import StackDoc, summary
from tierstack.generator.output.docs.diagram import mermaid
from tierstack.generator.output.docs.escape import code, markdown_text
from tierstack.generator.output.docs.files import PAGE, pages, synthesized_pages, write_stack_docs
from tierstack.generator.output.docs.graph import stack_graph
from tierstack.generator.output.docs.markdown import MARK, page
from tierstack.generator.output.docs.model import (
    AGENTS,
    FLOW,
    IDENTITIES,
    KEYS,
    PLUMBING,
    SHORT_NAMES,
    STORES,
    TRIGGERS,
)

__all__ = [
    "AGENTS",
    "FLOW",
    "IDENTITIES",
    "KEYS",
    "MARK",
    "PAGE",
    "PLUMBING",
    "SHORT_NAMES",
    "STORES",
    "TRIGGERS",
    "StackDoc",
    "code",
    "markdown_text",
    "mermaid",
    "page",
    "pages",
    "stack_graph",
    "summary",
    "synthesized_pages",
    "write_stack_docs",
]
