"""`python benchmarks/finetune.py [--quick] [--threads N] [--out DIR]`. Fine-tuning throughput: MiniLM-L6 topic classification on bbc-news, batch 32, max_len 128."""

import sys

from finehub.cli.bench import main

if __name__ == "__main__":
    main(["finetune", *sys.argv[1:]])
