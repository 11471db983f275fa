"""`tf-transformer attention (--run-dir DIR | --model saved_models/NAME) "text" --output attention.png [--layer L]
[--head H]`: a PNG heat-map of the encoder–decoder attention of the (greedy) translation of "text": source tokens
on the x axis, output tokens on the y axis, one panel per decoder layer (or only --layer L, 1-based), heads
averaged (or only --head H, 1-based)."""

from tf_transformer.commands.arguments import add_model_arguments, one_line_warnings, source_of


def add_parser(subparsers):
    parser = subparsers.add_parser("attention", help="draw the encoder-decoder attention of one translation",
                                   description=__doc__)
    add_model_arguments(parser)
    parser.add_argument("text", help="the source text to translate")
    parser.add_argument("--output", default="attention.png", help="PNG file to write (default attention.png)")
    parser.add_argument("--layer", type=int, help="only this decoder layer, 1-based (default: every layer)")
    parser.add_argument("--head", type=int, help="only this head, 1-based (default: heads averaged)")
    parser.add_argument("--max-extra-length", type=int,
                        help="decode at most source length + N tokens (default: the recipe's)")
    parser.set_defaults(run=run)


def run(args):
    from tf_transformer.attention_map import plot_attention
    from tf_transformer.errors import ConfigError

    if not args.output.lower().endswith(".png"):
        raise ConfigError(f"--output {args.output}: the heat-map is a PNG; name the file *.png")
    with one_line_warnings():
        attention = _export_attention(args) if args.model else _run_dir_attention(args)
    plot_attention(attention, args.output, args.layer, args.head)  # checks --layer/--head (for an export: here)
    print(attention.translation)
    print(f"wrote {args.output}: {len(attention.output_tokens)} output x {len(attention.source_tokens)} source "
          "tokens")
    return 0


def _run_dir_attention(args):
    from tf_transformer.attention_map import attention_map, select_panels
    from tf_transformer.run_dir import load_run

    run_ = load_run(args.run_dir)
    select_panels(_shape_only(run_.model.config), args.layer, args.head)  # check the ranges before decoding
    extra = run_.recipe.decoding.max_extra_length if args.max_extra_length is None else args.max_extra_length
    return attention_map(run_.model, run_.source_tokenizer, run_.target_tokenizer, args.text, extra)


def _export_attention(args):
    from tf_transformer.attention_map import export_attention_map
    from tf_transformer.translators import load_attention_export

    loaded = load_attention_export(source_of(args), args.max_extra_length)  # alive while its signature runs
    return export_attention_map(loaded.signatures["attention"], args.text)


def _shape_only(config):
    import numpy as np

    return np.zeros((config.decoder_layers, config.num_heads, 1, 1), np.float32)
