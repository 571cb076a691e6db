"""`python benchmarks/matmul.py [--quick] [--threads N] [--out DIR]`. Matmul peak: bf16 and fp32 GFLOP/s on the configured threads."""

import sys

from finehub.cli.bench import main

if __name__ == "__main__":
    main(["matmul", *sys.argv[1:]])
