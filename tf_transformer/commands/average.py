"""`tf-transformer average --run-dir DIR [--last 5] [--output DIR-avg5]`: average the newest per-epoch checkpoints
of a run (paper §6.1) into a new run directory that `export`, `evaluate` and `translate --run-dir` read."""

from tf_transformer.commands.arguments import OneRunDir


def add_parser(subparsers):
    parser = subparsers.add_parser("average", help="average a run's last N epoch checkpoints (paper §6.1)",
                                   description=__doc__)
    parser.add_argument("--run-dir", required=True, action=OneRunDir,
                        help="the run directory of `tf-transformer train`")
    parser.add_argument("--last", type=int, default=5, help="how many of the newest epoch checkpoints (default 5)")
    parser.add_argument("--output", help="the new run directory (default: <run-dir>-avg<last>)")
    parser.set_defaults(run=run)


def run(args):
    from tf_transformer.checkpoint_average import average_checkpoints

    output = average_checkpoints(args.run_dir, args.last, args.output)
    print(f"averaged the last {args.last} epoch checkpoints of {args.run_dir} into {output}")
    print(f"  next: tf-transformer evaluate --run-dir {output}   |   tf-transformer export --run-dir {output}")
    return 0
