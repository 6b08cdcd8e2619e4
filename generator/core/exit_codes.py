"""tierstack's exit codes: one definition, which the CLI exits with and the CI files act on.

No imports, so the CLI can read them at start-up without paying for anything else. README's "Errors and exit
codes" and `tierstack --help` list them, from `cli._EVERY_COMMAND` and each command's own table.
"""

EXIT_OK = 0
EXIT_BUG = 1
EXIT_USER_ERROR = 2
EXIT_DESTRUCTIVE_CHANGE = 3  # review: destroying or replacing a stateful resource needs an approval
EXIT_FROZEN = 4  # review: a change freeze is on for a stack the plans change
EXIT_STALE = 5  # generate --check: the output is stale for its config (like `terraform fmt -check`)
EXIT_DRIFT = 6  # verify: the live Vertex AI resources differ from the generated stacks
EXIT_PLAN_CHANGED = 7  # review --reviewed: the new plans differ from the plans a review approved
EXIT_NOT_PROMOTABLE = 8  # golden-set check: no evaluation on the current golden set, or too different
EXIT_INTERRUPTED = 130  # 128 + SIGINT, what a shell reports for a program stopped by Ctrl-C
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, what a shell reports for `cat` or `yes` whose reader left
