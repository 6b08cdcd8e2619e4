"""The report as Markdown for a pull-request comment: a verdict, a table of counts per stack, the data at risk,
and each changed stack's text in a collapsed, coloured ```diff block; every value from the synthesis escaped.
"""

from __future__ import annotations

import re

from tierstack.generator.analysis.diff.model import Report
from tierstack.generator.analysis.diff.text import _stack_lines, counts_text


def render_markdown(report: Report) -> str:
    """For a pull-request comment: a verdict, counts per stack, data at risk, details collapsed."""
    risky = report.at_risk
    if risky:
        verdict = f"**:warning: Data at risk:** {len(risky)} stateful resource{'s' if len(risky) != 1 else ''}"
    elif report.changed:
        verdict = "**Changes, no data at risk.**"
    else:
        verdict = "**No change.**"
    out = [f"### tierstack diff `{_md_code(report.base)}` → `{_md_code(report.head)}`", "", verdict, ""]
    out += [
        "| stack | added | removed | changed | replaced | renamed | data at risk |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for s in report.stacks:
        row = [s.count("added"), s.count("removed"), s.count("changed"), s.replaced, s.count("renamed"), len(s.at_risk)]
        name = f"`{_md_code(s.name)}`" + (f" ({s.status})" if s.status in ("added", "removed") else "")
        out.append(f"| {name} | " + " | ".join(str(n) for n in row) + " |")
    if risky:
        out += ["", "#### Data at risk", ""]
        out += [f"- `{_md_code(r.stack)}` `{_md_code(r.address)}`: {_md_text(r.at_risk or '')}" for r in risky]
    for s in report.stacks:
        if s.status == "unchanged":
            continue
        body = "\n".join(_stack_lines(s))
        fence = "`" * max(3, _longest_backtick_run(body) + 1)
        out += ["", f"<details><summary><code>{_html(s.name)}</code>: {_html(counts_text(s))}</summary>", ""]
        out += [f"{fence}diff", _diff_colours(body), fence, "", "</details>"]
    return "\n".join(out) + "\n"


def _diff_colours(body: str) -> str:
    """GitHub colours a ```diff block by the first character: `+` green, `-` red, `!` orange."""
    coloured = []
    for line in body.splitlines():
        stripped = line.lstrip()
        marker = " "
        if stripped.startswith(("-/+ ", "DATA AT RISK")):
            marker = "!" if stripped.startswith("-/+") else "-"
        elif stripped[:2] in ("+ ", "- "):
            marker = stripped[0]
        elif stripped[:2] in ("~ ", "> "):
            marker = "!"
        coloured.append(marker + line[1:] if line.startswith(" ") else line)
    return "\n".join(coloured)


def _longest_backtick_run(text: str) -> int:
    return max((len(m) for m in re.findall(r"`+", text)), default=0)


def _md_code(text: str) -> str:
    return text.replace("`", "'")


def _md_text(text: str) -> str:
    return re.sub(r"([\\`*_{}\[\]<>|#])", r"\\\1", text)


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
