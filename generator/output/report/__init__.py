"""What the commands print: plain text for people, JSON/YAML for scripts.

Text output is built here by hand (no terminal width, no colour) so that it is
byte-identical between runs and can be checked in next to each example.

One concern a module: data (`as_data`, the catalog and the resolved plan as data), explain (`explain_data`,
`delivery_warnings`), generated (what the synthesized stacks hold per capability), model (`Provision`,
`Absence`, `PlanView`, `ProvisionCheck`), absences (why a plan does not generate a provision), provisions
(the rows per capability and their checks) and text (`explain_text`, `resolved_text`). This package
re-exports the names the rest of tierstack and the tests use.
"""

from tierstack.generator.output.report.data import as_data, catalog_data, resolved_provenance_data, tiers_data
from tierstack.generator.output.report.explain import delivery_warnings, explain_data
from tierstack.generator.output.report.generated import owner, resource_counts
from tierstack.generator.output.report.model import UNEXPLAINED
from tierstack.generator.output.report.provisions import provision_checks
from tierstack.generator.output.report.text import explain_text, resolved_text

__all__ = [
    "UNEXPLAINED",
    "as_data",
    "catalog_data",
    "delivery_warnings",
    "explain_data",
    "explain_text",
    "owner",
    "provision_checks",
    "resolved_provenance_data",
    "resolved_text",
    "resource_counts",
    "tiers_data",
]
