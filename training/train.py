"""Same as `tf-transformer train`: python training/train.py --config training/configs/g2p_tiny.yaml [...]."""

import sys

from tf_transformer.cli import main

if __name__ == "__main__":
    sys.exit(main(["train", *sys.argv[1:]]))
