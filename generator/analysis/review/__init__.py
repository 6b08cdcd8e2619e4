"""`tierstack review`: Terraform plans (`terraform show -json`) summarised for a pull request.

Pure functions over parsed JSON, one concern a module (read, model, changes, pricing,
words, escape, markdown, text; compare for `--reviewed`): `read_plan` checks that a document is a plan
tierstack can read (plan JSON format 1.2, what Terraform 1.7 and newer write),
`review_stack` turns one plan into a StackReview, and `to_markdown`, `to_text`
and `to_data` render a Review of one or more stacks. The counts follow
Terraform's own (internal/command/jsonformat): a replacement is one `replace`,
not an add and a destroy; an import and a move are counted beside whatever else
happens to the resource; `forget` is the `["forget"]` action of a `removed`
block with `destroy = false`. Drift is shown as Terraform shows it: only the
attributes in `relevant_attributes`, the ones the planned changes depend on.

What Terraform would destroy (a delete, either order of replacement) is
destructive; destroying a type in generator/facts/stateful.py loses data and needs
an approval (`tierstack review` exits 3). Every value from a plan is data from
a pull request: Markdown escapes it, so no plan can write HTML or mentions into
the comment.

The estimated monthly cost change of each plan comes from generator/analysis/cost.py
(`plan_cost_delta`, the price table generator/data/prices.yaml): shown only when
a priced resource's figure changes or a resource the table cannot price is
created, destroyed or changed in more than its labels. A forgotten object keeps
running, so it keeps costing. Nothing here reads the network: the standard
library, cost.py and its price table.
"""

from tierstack.generator.analysis.review.changes import (
    attribute_changes,
    capabilities_in,
    check_one_plan_per_stack,
    path_text,
    review_stack,
    stack_name,
)
from tierstack.generator.analysis.review.escape import md_code, md_text
from tierstack.generator.analysis.review.markdown import MAX_MARKDOWN, SHORT_LIST, to_markdown
from tierstack.generator.analysis.review.model import (
    COUNTED,
    UNKNOWN_TEXT,
    AttributeChange,
    Change,
    Review,
    StackCost,
    StackReview,
    by_capability,
    count,
    summary,
    verdict,
)
from tierstack.generator.analysis.review.pricing import cost_note, stack_cost
from tierstack.generator.analysis.review.read import ACTION_LISTS, MAX_PLAN_BYTES, load_plan, parse_plan, read_plan
from tierstack.generator.analysis.review.text import to_data, to_text
from tierstack.generator.analysis.review.words import action_words

__all__ = [
    "ACTION_LISTS",
    "COUNTED",
    "MAX_MARKDOWN",
    "MAX_PLAN_BYTES",
    "SHORT_LIST",
    "UNKNOWN_TEXT",
    "AttributeChange",
    "Change",
    "Review",
    "StackCost",
    "StackReview",
    "action_words",
    "attribute_changes",
    "by_capability",
    "capabilities_in",
    "check_one_plan_per_stack",
    "cost_note",
    "count",
    "load_plan",
    "md_code",
    "md_text",
    "parse_plan",
    "path_text",
    "read_plan",
    "review_stack",
    "stack_cost",
    "stack_name",
    "summary",
    "to_data",
    "to_markdown",
    "to_text",
    "verdict",
]
