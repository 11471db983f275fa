"""`tf-transformer export --run-dir DIR [--run-dir DIR ...] [--name N] [--version V] [--directory saved_models]`:
write the serving SavedModel of a trained run to `<directory>/<name>/<version>/` (the layout TensorFlow Serving
watches). A repeated --run-dir exports the runs as one ensemble (`tf_transformer.ensemble`; the first run's recipe,
name and decoding; every signature but `attention`)."""


def add_parser(subparsers):
    parser = subparsers.add_parser("export", help="export a trained run as a SavedModel for TF Serving",
                                   description=__doc__)
    parser.add_argument("--run-dir", required=True, action="append",
                        help="the run directory of `tf-transformer train`; repeat it to export several runs of the "
                             "same vocabularies as one ensemble")
    parser.add_argument("--name", help="model name (default: the recipe's export.name, else its name)")
    parser.add_argument("--version", type=int, help="integer version (default: the next free one; never overwrites)")
    parser.add_argument("--directory", help="where models live (default: the recipe's export.directory, "
                                            "saved_models)")
    parser.set_defaults(run=run)


def run(args):
    from tf_transformer.export.saved_model import export_run

    path = export_run(args.run_dir, name=args.name, version=args.version, directory=args.directory)
    print(f"exported {path}")
    return 0
