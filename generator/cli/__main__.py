"""`python -m tierstack.generator.cli`: the `tierstack` command, as the console script runs it."""

import sys

from tierstack.generator.cli import main

if __name__ == "__main__":  # imported (as the architecture test imports every module), it runs nothing
    sys.exit(main())
