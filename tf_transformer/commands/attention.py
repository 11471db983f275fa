"""`tf-transformer attention --run-dir DIR "text" --output attention.png [--layer L] [--head H]`: a PNG
heat-map of the encoder–decoder attention of the (greedy) translation of "text": source tokens on the x axis,
output tokens on the y axis, one panel per decoder layer (or only --layer L, 1-based), heads averaged (or only
--head H, 1-based)."""


def add_parser(subparsers):
    from tf_transformer.commands.translate import add_model_arguments

    parser = subparsers.add_parser("attention", help="draw the encoder-decoder attention of one translation",
                                   description=__doc__)
    add_model_arguments(parser, allow_export=False)
    parser.add_argument("text", help="the source text to translate")
    parser.add_argument("--output", default="attention.png", help="PNG file to write (default attention.png)")
    parser.add_argument("--layer", type=int, help="only this decoder layer, 1-based (default: every layer)")
    parser.add_argument("--head", type=int, help="only this head, 1-based (default: heads averaged)")
    parser.add_argument("--max-extra-length", type=int,
                        help="decode at most source length + N tokens (default: the recipe's)")
    parser.set_defaults(run=run)


def run(args):
    from tf_transformer.attention_map import attention_map, plot_attention, select_panels
    from tf_transformer.commands.translate import load_run_dir, one_line_warnings
    from tf_transformer.errors import ConfigError

    if not args.output.lower().endswith(".png"):
        raise ConfigError(f"--output {args.output}: the heat-map is a PNG; name the file *.png")
    run_ = load_run_dir(args.run_dir)
    config = run_.model.config
    select_panels(_shape_only(config), args.layer, args.head)  # check the ranges before decoding
    extra = run_.recipe.decoding.max_extra_length if args.max_extra_length is None else args.max_extra_length
    with one_line_warnings():
        attention = attention_map(run_.model, run_.source_tokenizer, run_.target_tokenizer, args.text, extra)
    plot_attention(attention, args.output, args.layer, args.head)
    print(attention.translation)
    print(f"wrote {args.output}: {len(attention.output_tokens)} output x {len(attention.source_tokens)} source "
          "tokens")
    return 0


def _shape_only(config):
    import numpy as np

    return np.zeros((config.num_layers, config.num_heads, 1, 1), np.float32)
