"""`python benchmarks/startup.py [--quick] [--threads N] [--out DIR]`. Startup: how long `import finehub` and `finehub --help` take, each in a fresh interpreter."""

import sys

from finehub.cli.bench import main

if __name__ == "__main__":
    main(["startup", *sys.argv[1:]])
