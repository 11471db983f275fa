"""`tf-transformer tflite (--run-dir DIR | --model saved_models/NAME[/VERSION]) [--quantize none|dynamic|float16]
[--decoding greedy|beam] [--ids-only] [--output FILE]`: the whole translator (tokenizer, search, detokenizer) as
one .tflite file for LiteRT: text tf.string [B] in, translation tf.string [B] and score float32 [B] out, or with
--ids-only source_ids int32 [B, S] in, target_ids int32 [B, T] and score out (TFLite builtins only).

It uses TFLite builtins and tensorflow-text's TFLite custom ops only (never Flex), prints which, and refuses,
naming the op, if anything else would be needed. Run the file with `translate --tflite FILE` and `evaluate
--tflite FILE`; the README's "On phones" lists the ops an Android or iOS app registers."""

from tf_transformer.commands.arguments import add_model_arguments


def add_parser(subparsers):
    from tf_transformer.export import DECODINGS, QUANTIZATIONS

    parser = subparsers.add_parser("tflite", help="convert a run or an export to one .tflite file for LiteRT",
                                   description=__doc__)
    add_model_arguments(parser)
    parser.add_argument("--quantize", choices=QUANTIZATIONS, default="none",
                        help="weights as float32 (none), int8 with float activations (dynamic), or float16")
    parser.add_argument("--decoding", choices=DECODINGS, default="greedy",
                        help="greedy (default), or beam: the recipe's beam size and length penalty")
    parser.add_argument("--ids-only", action="store_true",
                        help="ids in, ids out (builtins only), for apps that tokenize themselves")
    parser.add_argument("--output", metavar="FILE",
                        help="the .tflite to write (default: next to the exports, NAME[-beam][-ids][-QUANT].tflite)")
    parser.set_defaults(run=run)


def run(args):
    import os

    from tf_transformer.export.tflite import custom_ops, export_tflite

    path, ops = export_tflite(run_dir=args.run_dir, model_path=args.model, output=args.output,
                              quantize=args.quantize, decoding=args.decoding, ids_only=args.ids_only)
    custom = custom_ops(ops)
    builtins = [name for name in ops if name not in custom]
    print(f"wrote {path} ({os.path.getsize(path) / 1e6:.2f} MB; {args.decoding} decoding; weights "
          f"{'float32' if args.quantize == 'none' else args.quantize})")
    print(f"TFLite builtins ({len(builtins)}): {' '.join(builtins)}")
    print(f"tensorflow-text custom ops to register ({len(custom)}): {' '.join(custom) or 'none'}; no Flex ops")
    return 0
