"""`python benchmarks/parity.py [--quick] [--threads N] [--out DIR]`. Quality parity: a bf16 fine-tune reaches the dev accuracy of an fp32 one (within 0.5 points)."""

import sys

from finehub.cli.bench import main

if __name__ == "__main__":
    main(["parity", *sys.argv[1:]])
