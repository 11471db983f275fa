"""`tf-transformer train --config RECIPE [--run-dir DIR] [--set key=value ...] [--skip-malformed]`: train (or
resume) a model."""

import os


def add_parser(subparsers):
    parser = subparsers.add_parser("train", help="train a model from a recipe (resumes a killed run)",
                                   description=__doc__)
    parser.add_argument("--config", required=True, help="recipe YAML, e.g. training/configs/g2p_tiny.yaml")
    parser.add_argument("--run-dir", help="where checkpoints, logs and vocabularies go (default runs/<name>)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a recipe value, e.g. --set training.epochs=3 (repeatable)")
    parser.add_argument("--skip-malformed", action="store_true",
                        help="skip (and count) malformed corpus lines instead of stopping at the first "
                             "(sets data.skip_malformed: true)")
    parser.set_defaults(run=run)


def load_recipe_of(args):
    """The recipe of `--config` with the `--set` overrides, and `--skip-malformed` as data.skip_malformed: true
    (train and vocab --config)."""
    from tf_transformer.config import load_recipe

    return load_recipe(args.config, [*args.set, *(["data.skip_malformed=true"] if args.skip_malformed else [])])


def run(args):
    from tf_transformer.trainer import train

    recipe = load_recipe_of(args)
    summary = train(recipe, args.run_dir or os.path.join("runs", recipe.name))
    final = summary["final"]
    shown = {k: v for k, v in final.items() if k.startswith("dev_") or k in ("loss", "accuracy", "val_accuracy")}
    print("final: " + "  ".join(f"{k}: {v:.4g}" for k, v in sorted(shown.items())))
    return 0
