"""Output: the files tierstack writes.

The stacks' tree and its manifest (generate.py), the stack pages (docs/), explain's report (report/), the
CI files (ci.py) and the JSON Schema of the config (schema.py). It may import synth, plan, config, facts and
core; never cdktn (synthesis does that), the analyses, the services or the CLI.
"""
