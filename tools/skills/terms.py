"""Words to index terms for skill search: splitting, stemming and a compact synonym table.

`terms(text)` lower-cases, splits camelCase, hyphenated, dotted and snake_case names into
words, drops stop words and reduces each word to a stem so that plurals and verb forms meet
("creating", "created", "creates" and "create" all become ``creat``). The stemmer is a small
Porter-style suffix stripper: it only has to map a word's forms to one key consistently, not to
produce real words, and not to join different words (a short word keeps its final e, as in
Porter's algorithm, so "stripe" is not "strip" nor "state" "stats"). `synonyms` maps a word to
related stems, used to widen a query.
"""

from __future__ import annotations

import functools
import re
import unicodedata

__all__ = ["fold", "stem", "words", "terms", "initialisms", "compound_words", "synonyms", "without_negated",
           "STOP_WORDS", "BASIC_STOP_WORDS"]

_WORD = re.compile(r"[a-z0-9]+")
_TOKEN = re.compile(r"[A-Za-z0-9]+")
_LETTERS = re.compile(r"[^\W_]+")  # letters and digits of any script: the two above, beyond ASCII
_OTHER_LETTER = re.compile(r"[^\W\x00-\x7f]")  # a letter or digit outside ASCII (not a curly quote or dash)
# Scripts written without spaces between words (Han, kana): split into overlapping character pairs.
_CJK = re.compile(r"([\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+)")
_MARKS = re.compile(r"(?<=[A-Za-z\u0370-\u03ff])[\u0300-\u036f]+")  # only theirs: Cyrillic й stays й
_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")  # not after a digit: "7B", "4K"
_VOWEL = re.compile(r"[aeiouy]")
_ACRONYM_PLURAL = re.compile(r"\b([A-Z]{2,})s\b")

# A real stop list (the common English function words) plus the filler words of task requests
# ("about", "different", "wrong", "look", "much", "per"), which otherwise carry rankings by accident.
STOP_WORDS = frozenset("""a about above across after afterwards again against all almost alone along already also
although always am among amongst an and another any anyhow anyone anything anyway anywhere are around as at back
be became because become becomes becoming been before beforehand behind being below beside besides between beyond
both but by can cannot could did do does doing done down due during each either else elsewhere enough etc even
ever every everyone everything everywhere few for former formerly from further get gets getting got had has have
having he hence her here hereafter hereby herein hers herself him himself his how however i ie if in indeed into
is it its itself just keep last latter least less let lets like likely made make makes making many may me
meanwhile might mine more moreover most mostly much must my myself namely neither nevertheless next nobody none
noone nor not nothing now nowhere of off often on once one ones only onto or other others otherwise our ours
ourselves out over own per perhaps please put quite rather really same say says see seem seemed seems several she
should shall since so some somehow someone something sometime sometimes somewhere still such than that the their
theirs them themselves then thence there thereafter thereby therefore therein these they thing things this those
though through throughout thru thus to together too toward towards under until up upon us use used uses using
very via want wants was way ways we well were what whatever when whence whenever where whereas wherever whether
which while whither who whoever whole whom whose why will with within would yet you your yours yourself
yourselves able actually already always basically different else etc every kind lot lots look looks looking
maybe need needs needed new sort stuff sure try trying wrong right good better best bad thing want wanted
claude skill skills user users help helps helping someone somebody anyone way going know think
keeps kept tries tried knows knew known thinks goes went gone come comes came take takes took taken tell tells told
re ve ll don doesn didn isn wasn aren won couldn shouldn wouldn haven hasn weren""".split())
# The last two lines: other forms of the filler verbs above (the stop list is matched before stemming),
# and what contractions leave once split at the apostrophe ("we're", "I've", "doesn't").

# The short list used before the full one (kept so that bench/routing_eval.py --ablate can compare).
BASIC_STOP_WORDS = frozenset("""a an and are as at be been being but by can could did do does doing done for from
had has have having how i if in into is it its just me my myself of off on or our ours out over own please so
some such than that the their them then there these they this those to too up us use used uses using very want
wants was we were what when where which while who whom why will with would you your yours should shall may
might must any all also via get gets got need needs let lets like make makes made one ones thing things
something anything skill skills claude user users help helps""".split())

# Words after which the rest of a skill's clause is negated: "never bullet points", "not for signup
# forms", "use instead of Playwright" must not count as evidence for those words. "without" and
# "avoid" stay out: "avoiding repeated reads" names what a skill is about.
_NEGATION = re.compile(r"\b(?:(?:not|never|n't)\s+(?!only\b|just\b|yet\b|sure\b|longer\b|matter\b)"
                       r"[^.,;:!?()\[\]\n—–]{0,60}"
                       # "instead of X for Y": only X is negated
                       r"|(?:instead\s+of|rather\s+than)\s+(?:(?!for\b|when\b|to\b|if\b)[^\s.,;:!?()]+\s*){1,3})",
                       re.IGNORECASE)
_CONTRACTED = re.compile(r"(?<=[a-z])n['’]t\b", re.IGNORECASE)


def without_negated(text: str) -> str:
    """`text` with negated clauses removed (at most 60 characters after "not", "never", "n't",
    "instead of" or "rather than", up to the next punctuation): "Do NOT use for signup forms".
    For a skill's text only: a request's negations usually name its problem ("doesn't show")."""
    if not text:
        return text
    return _NEGATION.sub(" ", _CONTRACTED.sub(" n't", text))

# Irregular forms the suffix rules cannot reach.
_IRREGULAR = {
    "built": "build", "wrote": "write", "written": "write", "ran": "run", "made": "make", "drew": "draw",
    "drawn": "draw", "began": "begin", "begun": "begin", "chose": "choose", "chosen": "choose", "sent": "send",
    "spent": "spend", "taught": "teach", "thought": "think", "bought": "buy", "found": "find", "kept": "keep",
    "left": "leave", "lost": "lose", "broke": "break", "broken": "break", "children": "child", "people": "person",
    "analyses": "analysis", "indices": "index", "matrices": "matrix", "data": "data", "media": "media",
}
# Suffix rewrites, longest first; each applies only if the stem left has a vowel and 3+ letters.
_DERIVED = (("ically", "ic"), ("ously", "ous"), ("ently", "ent"), ("antly", "ant"), ("ively", ""), ("ally", "al"),
            ("ily", "y"),  # adverbs meet their adjectives: automatically = automatic, easily = easy
            ("ical", "ic"),  # statistical = statistic(s), clinical = clinic, numerical = numeric
            ("isation", "ize"), ("ization", "ize"), ("ational", "ate"), ("ation", "ate"), ("ition", "ite"),
            ("ative", "ate"), ("ness", ""), ("ise", "ize"), ("iser", "ize"), ("izer", "ize"), ("fully", "ful"),
            ("ful", ""), ("ator", "ate"), ("ive", ""))
_UNDOUBLE = frozenset("bdfgmnprt")


def _has_stem(word: str, cut: int, minimum: int = 3) -> bool:
    rest = word[: len(word) - cut]
    return len(rest) >= minimum and bool(_VOWEL.search(rest))


def _consonant(word: str, i: int) -> bool:
    if word[i] in "aeiou":
        return False
    return word[i] != "y" or i == 0 or not _consonant(word, i - 1)  # "y" after a consonant is a vowel


def _measure(word: str) -> int:
    """Porter's m: how many vowel-consonant sequences `word` holds ("plan" 1, "imag" 2)."""
    m, vowel = 0, False
    for i in range(len(word)):
        now = not _consonant(word, i)
        m += vowel and not now
        vowel = now
    return m


def _short(word: str) -> bool:
    """One syllable ending consonant-vowel-consonant (not w, x, y): "plan", "strip", "stat", "hop".
    Such a stem keeps a final e, so "plane", "stripe", "state" and "hope" stay apart from them."""
    return (_measure(word) == 1 and len(word) >= 3 and _consonant(word, len(word) - 3)
            and not _consonant(word, len(word) - 2) and _consonant(word, len(word) - 1) and word[-1] not in "wxy")


@functools.lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """Reduce a lower-case word to its search key (plural, verb and derived forms meet)."""
    if word in _IRREGULAR:
        word = _IRREGULAR[word]
    if len(word) <= 3 or not word.isalpha():
        return word
    # Plurals and third person.
    if word.endswith("sses"):
        word = word[:-2]
    elif word.endswith("ies") and len(word) > 4:
        word = word[:-3] + "y"
    elif word.endswith("s") and not word.endswith(("ss", "us", "is")):
        word = word[:-1]
    if word.endswith("our") and len(word) >= 6:
        word = word[:-2] + "r"  # British spelling: colour -> color, behaviour -> behavior
    # Verb forms: -ing, -ed (not "need", "speed": an "e" before "ed" belongs to the word).
    for suffix in ("ing", "ed"):
        if word.endswith(suffix) and _has_stem(word, len(suffix)) and not word.endswith("eed"):
            word = word[: -len(suffix)]
            if len(word) > 3 and word[-1] == word[-2] and word[-1] in _UNDOUBLE:
                word = word[:-1]  # running -> run, mapped -> map
            elif word.endswith("i"):
                word = word[:-1] + "y"  # applied -> apply
            elif _short(word):
                word += "e"  # making -> make, hoping -> hope (hopping -> hop)
            break
    for suffix, repl in _DERIVED:
        if word.endswith(suffix) and _has_stem(word, len(suffix)):
            word = word[: -len(suffix)] + repl
            break
    if word.endswith("er") and _has_stem(word, 2, 5):
        word = word[:-2]  # builder -> build, designer -> design (not poster, user, paper)
    if word.endswith("e") and len(word) > 3 and not _short(word[:-1]):
        word = word[:-1]  # create -> creat (but state, plane, stripe keep their e)
    if word.endswith("y") and len(word) > 3:
        word = word[:-1] + "i"
    return word


def _one_case(token: str) -> bool:
    """A letters-and-digits token that no case change splits: "setup", "HTTP", "Docker", "2024"
    (most of a text), not "FastMCP", "APIs" or "getUserName"."""
    return token.islower() or token.isupper() or token.istitle() or token.isdigit()


def fold(text: str) -> str:
    """`text` with the diacritics of Latin and Greek letters dropped ("café" -> "cafe", "Müller" ->
    "Muller") and compatibility forms made plain ("CO₂" -> "CO2", full-width "ＡＰＩ" -> "API"), so
    that a request typed without them still matches; other scripts keep their marks ("й")."""
    return unicodedata.normalize("NFC", _MARKS.sub("", unicodedata.normalize("NFKD", text)))


def words(text: str, split_case: bool = True) -> list[str]:
    """Lower-case words of `text`, with camelCase, hyphenated, dotted and snake_case names split
    (`split_case=False`: a camelCase name stays one word, as a request's "WordPress" should).

    Letters of any script make words ("Zürich" is "zurich", not "z" and "rich"); Chinese and
    Japanese, written without spaces, give overlapping character pairs ("数据分析" -> "数据",
    "据分", "分析"), as full-text engines index them."""
    plain = text.isascii() or not _OTHER_LETTER.search(text)
    if not plain:
        text = fold(text)
        if _CJK.search(text):
            return _spaceless_words(text, split_case)
    word, token = (_WORD, _TOKEN) if plain else (_LETTERS, _LETTERS)
    lower = text.lower()
    if lower == text:  # nothing to split on case (index build time)
        return word.findall(text)
    out = []
    for part in token.findall(text):
        if not split_case or _one_case(part):
            out.append(part.lower())
        else:
            out += word.findall(_CAMEL.sub(" ", _ACRONYM_PLURAL.sub(r"\1", part)).lower())
    return out


def _spaceless_words(text: str, split_case: bool) -> list[str]:
    out: list[str] = []
    for i, piece in enumerate(_CJK.split(text)):
        if i % 2:  # a run of Han or kana characters (split's captured group)
            out += [piece[j:j + 2] for j in range(len(piece) - 1)] or [piece]
        elif piece:
            out += words(piece, split_case)
    return out


_CHUNK = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9_.-]*[A-Za-z0-9])?")


def compound_words(text: str) -> list[str]:
    """Names written as one token but split by `words`, joined back: "FastMCP" -> "fastmcp",
    "e-mail" -> "email", "web_app" -> "webapp", so a query that writes them as one word still matches."""
    out = []
    for chunk in _CHUNK.findall(text):
        if chunk.isalnum() and _one_case(chunk):
            continue  # one word whatever `words` does
        parts = words(chunk)
        if 1 < len(parts) <= 3:
            out.append("".join(parts))
    return out


def initialisms(name: str, common=lambda word: False) -> list[str]:
    """What people shorten a skill's subject to: the initials of each run of 3 to 5 words of its
    name, "perform failure modes effects analysis" -> "fmea", "pfmea", ..., "prepare critical
    design review" -> "cdr". Stop words are skipped ("write concept of operations" gives "wco"),
    and initials that spell a `common` word ("add", "set") are left out."""
    parts = [w for w in words(name) if w not in STOP_WORDS]
    out = []
    for size in range(3, 6):
        for start in range(len(parts) - size + 1):
            initials = "".join(w[0] for w in parts[start:start + size])
            if initials.isalpha() and not common(initials):
                out.append(initials)
    return out


def terms(text: str) -> list[str]:
    """Stems of the words of `text` that carry meaning (stop words and 1-letter words dropped)."""
    return [stem(w) for w in words(text) if len(w) > 1 and w not in STOP_WORDS]


# Each line: words that name the same thing in a task description. Kept to common software and
# office vocabulary; the ranking gives a synonym a fraction of an exact match's weight.
_GROUPS = """
gif animation animated animate looping loop
image picture photo photograph png jpg jpeg graphic illustration
poster flyer banner print artwork painting
art artistic artwork aesthetic
visual visually appearance styling style design
colour color palette hue
font typeface typography lettering
theme themes styling
slides slide deck presentation pptx powerpoint keynote
document doc docx word
spreadsheet excel xlsx workbook sheet csv
pdf acrobat
test testing tests qa e2e verify check validate
browser headless playwright selenium puppeteer chromium
screenshot capture snapshot
webapp website web site page frontend ui interface
dashboard panel console admin
component widget element
api endpoint rest http sdk library client
llm model ai gpt claude anthropic chatbot
server service backend daemon
tool tools integration connector plugin
write draft compose
report summary update newsletter announcement memo bulletin
incident outage postmortem downtime
status progress update
email mail message
meeting minutes notes transcript agenda
bug defect error issue broken crash fails failing
debug troubleshoot diagnose investigate fix
speed slow performance latency
optimize optimise improve tune speedup
repo repository git github commit
database db sql postgres postgresql mysql sqlite query
deploy deployment release rollout
chart graph plot visualize visualization diagram
docs documentation readme guide manual reference
summarize summarise summary tldr digest
translate translation localize localise i18n
kubernetes k8s
javascript js node nodejs
typescript ts
python py
price pricing cost costs billing budget spend
company organization organisation org corporate enterprise team
brand branding identity logo
migrate migration upgrade port convert
generate create build produce scaffold
random randomness seed seeded noise procedural generative
particles particle flow field
template boilerplate starter skeleton
prompt prompting instruction
cache caching memoize
stream streaming realtime
agent agents assistant
finetune fine-tune finetuning training train lora
embedding embeddings vector semantic
classify classification categorize label labeling
extract extraction parse scrape
batch batching bulk
evaluate evaluation eval evals benchmark measure metrics
rate throttle quota limit
security vulnerability secure auth authentication login
interactive slider sliders knobs controls parameters tweak
emoji emoticon reaction sticker
"""


@functools.cache
def _synonym_table() -> dict[str, frozenset[str]]:
    """Written word -> stems of the other words of its line. Keyed by the word as written (and its
    plural), not its stem, so that a word only stemming onto a listed one ("fasting" -> "fast")
    is not widened to that word's synonyms."""
    table: dict[str, set[str]] = {}
    for line in _GROUPS.strip().splitlines():
        listed = words(line)
        stems = {stem(w) for w in listed}
        for word in listed:
            for form in (word, word + "s", word + "es"):
                table.setdefault(form, set()).update(stems - {stem(word)})
    return {k: frozenset(v) for k, v in table.items()}


def synonyms(word: str) -> frozenset[str]:
    """Stems that name the same thing as `word`, a lower-case word as written (empty if none are known)."""
    return _synonym_table().get(word, frozenset())
