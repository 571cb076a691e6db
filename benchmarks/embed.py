"""`python benchmarks/embed.py [--quick] [--threads N] [--out DIR]`. Embedding: finehub's ``minilm-l6`` ``embed`` vs sentence-transformers ``encode`` on the same weights."""

import sys

from finehub.cli.bench import main

if __name__ == "__main__":
    main(["embed", *sys.argv[1:]])
