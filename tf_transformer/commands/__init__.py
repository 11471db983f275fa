"""Sub-commands of `tf-transformer`; each module has `add_parser(subparsers)` that sets `run` as the default."""

COMMANDS = ["train", "average", "export", "tflite", "translate", "attention", "vocab", "evaluate"]
