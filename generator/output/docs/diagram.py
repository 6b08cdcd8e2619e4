"""The graph as a Mermaid flowchart (`mermaid`): each node's shape and class by its kind, each arrow by its
style, every label escaped, and the invisible links that lay the groups out one under the other and
their boxes in rows."""

from __future__ import annotations

import itertools

from tierstack.generator.output.docs.escape import mermaid_text
from tierstack.generator.output.docs.model import ROW, Graph, Node

SHAPES = {
    "identity": ('("', '")'),
    "store": ('[("', '")]'),
    "external": ('{{"', '"}}'),
    "resource": ('["', '"]'),
    "source": ('>"', '"]'),
}
ARROWS = {"flow": "==>", "trigger": "-.->", "ref": "-.->"}
CLASSES = {
    "identity": "fill:#e8f0fe,stroke:#1a73e8,color:#202124",
    "store": "fill:#fef7e0,stroke:#e37400,color:#202124",
    "resource": "fill:#f1f3f4,stroke:#5f6368,color:#202124",
    "external": "fill:#fce8e6,stroke:#c5221f,color:#202124",
    "source": "fill:#e6f4ea,stroke:#188038,color:#202124",
}


def mermaid(graph: Graph) -> str:
    """The graph as a Mermaid flowchart, top to bottom; every label escaped (mermaid_text)."""
    lines = ["flowchart TB"]
    lines += [f"  {_node(node)}" for node in graph.nodes if node.group is None]
    for group in graph.groups:
        lines.append(f'  subgraph {group.id}["{mermaid_text(group.title)}"]')
        lines += [f"    {_node(node)}" for node in graph.nodes if node.group == group.id]
        lines.append("  end")
    for edge in graph.edges:
        label = f'|"{mermaid_text(edge.label)}"|' if edge.label else ""
        lines.append(f"  {edge.source} {ARROWS[edge.style]}{label} {edge.target}")
    # invisible links, for the layout only: the groups off the flow below its last stage, one under the
    # other (identities last), rather than side by side; the boxes of every group in rows of ROW boxes (a
    # capability with many alerts or grants would otherwise widen the page past a screen)
    staged = [g.id for g in graph.groups if g.stage is not None]
    below = [g.id for g in graph.groups if g.stage is None]
    chain = [*staged[-1:], *below]
    lines += [f"  {above} ~~~ {under}" for above, under in itertools.pairwise(chain)]
    for group in graph.groups:
        boxes = [n.id for n in graph.nodes if n.group == group.id]
        lines += [f"  {above} ~~~ {under}" for above, under in zip(boxes, boxes[ROW:], strict=False)]
    for kind, style in CLASSES.items():
        members = [n.id for n in graph.nodes if n.kind == kind]
        if members:
            lines.append(f"  classDef {kind} {style}")
            lines.append(f"  class {','.join(members)} {kind}")
    return "\n".join(lines) + "\n"


def _node(node: Node) -> str:
    start, end = SHAPES[node.kind]
    text = "<br/>".join(mermaid_text(part) for part in node.label)
    return f"{node.id}{start}{text}{end}"
