"""Cheap text analysis shared by the checks: tokens, stems, numbers, names, negation.

Everything here is pure Python and cached, because the verifier runs on every claim of every
answer and must stay fast on one core (hundreds of claims a second).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from skilldeck.tools.tokens import is_ordinary


def _cache(maxsize: int, longest: int = 1_000):
    """`functools.lru_cache` for a function of one text, used only for texts of at most `longest`
    characters: an evidence sentence is the key, and unbounded keys let eight calls of inline
    evidence (100 strings of 49,000 characters each) hold 1.2 GB after they had ended."""
    def wrap(fn):
        cached = functools.lru_cache(maxsize=maxsize)(fn)

        @functools.wraps(fn)
        def call(text):
            return cached(text) if len(text) <= longest else fn(text)

        call.cache_clear = cached.cache_clear
        return call
    return wrap

__all__ = [
    "STOPWORDS", "LIGHT_WORDS", "Terms", "terms", "stem", "numbers", "entities", "NEGATION_CUES",
    "split_sentences", "normalise_quotes", "quantities", "stem_sequence", "content_words",
]

STOPWORDS = frozenset("""
a an the and or but if then else of to in on at by for with from into onto over under about as than
that this these those there here which who whom whose what when where why how is are was were be been
being am do does did doing have has had having it its it's itself he him his she her hers they them
their theirs we us our ours you your yours i me my mine one ones also such so very just only both each
all any some more most other others own same too can could may might must shall should will would
not no nor never none neither up down out off again further once during before after above below
between through until while because since per via upon within without among amongst across along
around behind beyond toward towards s t d ll m re ve y etc e g ie eg vs
""".split())

# Frequent, generic content words: they carry little of a claim's meaning, so missing them from
# the evidence costs little ("served", "various", "wide range", "known as").
LIGHT_WORDS = frozenset("""
make made makes making use used uses using include includes included including known know become became
becomes serve served serves serving various variety several many much wide range type types kind kinds way ways
well good great important major main large small big high low long short new old different same
certain particular specific general common usually often typically generally mainly mostly largely also
previously later early late currently recently former formerly take took taken takes give gave given gives get got
place placed part parts number numbers lot lots thing things people person time times year years day days
able help helps helped provide provides provided providing show shows showed shown consider considered
refer refers referred call called calls name named names remain remained remains continue continued
hold held holds set based work works worked working play played plays role roles one ones first
fact facts form forms formed level levels area areas group groups result results due order case cases
began begin begins start started starts end ended ends following follow followed mean means meaning
""".split())

# Wh-words and auxiliaries carry no content of their own in a question.
QUESTION_WORDS = frozenset("what which who whom whose when where why how name named".split())

NEGATION_CUES = frozenset("not no never none neither nor cannot without nothing nobody nowhere n't "
                          "lacks lacked lacking absent fails failed unable".split())

_TOKEN = re.compile(r"(?:[A-Za-z]\.){2,}|\d+(?:[.,]\d+)+|[^\W_]+(?:['’\-][^\W_]+)*", re.UNICODE)
_NUMBER = re.compile(
    r"(?<![\w.])(?:[$€£¥])?\s?(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d+))?(?:\s?(%|percent|per cent))?"
    r"(?:\s?(thousand|million|billion|trillion|k|m|bn)\b)?", re.IGNORECASE)
_SCALES = {"thousand": 1e3, "k": 1e3, "million": 1e6, "m": 1e6, "billion": 1e9, "bn": 1e9, "trillion": 1e12}
_WORD_NUMBERS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15,
    "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20, "thirty": 30,
    "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90, "hundred": 100,
    "first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7, "eighth": 8,
    "ninth": 9, "tenth": 10, "twice": 2, "once": 1, "dozen": 12, "half": 0.5, "single": 1, "double": 2,
    "triple": 3,
}
# Ordinal suffixes ("3rd", "19th") and years are numbers too.
_ORDINAL = re.compile(r"^(\d+)(?:st|nd|rd|th)$")
# A capitalised run: "Media Play News", "Thomas K. Arnold", "U.S. Court of Appeals".
_CAPS = re.compile(r"(?<![\w'’\-])(?:[A-Z][\w'’.\-]*|\d{4})(?:\s+(?:(?:of|the|de|van|von|der|da|del|for|on)\s+)*[A-Z][\w'’.\-]*)*")
# The last branch splits tokenised, lower-cased text ("... the long-term . it can ..."), as
# model-written summaries often come: a period standing alone between spaces ends a sentence.
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"'”’)\]]*\s+(?=[\"'“‘(\[]?[A-Z0-9])|\n\s*\n|(?<=[a-z0-9)\"”]\.)(?=[A-Z][a-z])"
                           r"|(?<= [.!?])\s+(?=[a-z])")
_LAST_WORD = re.compile(r"([\w.'’]+)\.[\"'”’)\]]*$")  # "didn’t." is a word, not the initial "t."
_ABBREVIATIONS = frozenset("mr mrs ms dr prof st jr sr vs etc inc ltd co corp no fig al gen col lt sgt rev "
                           "jan feb mar apr jun jul aug sep sept oct nov dec u.s e.g i.e approx est".split())

_QUOTES = str.maketrans({"’": "'", "‘": "'", "“": '"', "”": '"', "–": "-", "—": "-", "\u00a0": " "})


def clip(text: str, width: int) -> str:
    """`text` with its whitespace collapsed, cut to `width` characters with an ellipsis."""
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def normalise_quotes(text: str) -> str:
    """Map typographic quotes and dashes to ASCII ones (same length, so offsets survive)."""
    return text.translate(_QUOTES)


@_cache(maxsize=200_000, longest=64)
def stem(word: str) -> str:
    """A deliberately crude stem: enough to match 'founded'/'founding', 'companies'/'company'."""
    w = word.lower().replace("'", "").replace("’", "")
    if len(w) <= 3 or w.isdigit():
        return w
    for suffix, keep in (("ational", "ate"), ("ization", "ize"), ("iness", "y"), ("ies", "y"), ("ied", "y"),
                         ("ing", ""), ("edly", ""), ("ed", ""), ("ly", ""), ("es", ""), ("s", "")):
        if w.endswith(suffix) and len(w) - len(suffix) >= 3:
            if suffix == "s" and w.endswith(("ss", "us", "is")):
                return w
            if suffix == "es" and not w.endswith(("ches", "shes", "sses", "xes", "zes", "oes")):
                w = w[:-1]
                break
            w = w[: len(w) - len(suffix)] + keep
            break
    if len(w) > 4 and w[-1] == w[-2] and w[-1] not in "lsz":
        w = w[:-1]  # "stopp" -> "stop"
    if w.endswith("e") and len(w) > 3:
        w = w[:-1]  # "create"/"creat", "gase"/"gas" agree
    return w


@dataclass(frozen=True)
class Terms:
    """The content of a piece of text: stems with the surface form they came from."""

    stems: frozenset[str]
    surface: dict[str, str]
    capitalised: frozenset[str]  # stems seen capitalised away from the sentence start
    negations: int


@_cache(maxsize=200_000, longest=64)
def _content_parts(low: str) -> tuple[tuple[str, str], ...]:
    """(stem, word) for the content words of one lower-cased token: a hyphenated word gives several,
    a final '.' and "'s" go, stopwords give none. Cached: a text is mostly words seen before."""
    out = []
    for part in (low.split("-") if "-" in low else (low,)):
        part = part.rstrip(".")
        if part.endswith("'s"):
            part = part[:-2]
        if part and part not in STOPWORDS:
            out.append((stem(part.replace(",", "") if part[0].isdigit() else part), part))
    return tuple(out)


@_cache(maxsize=50_000)
def terms(text: str) -> Terms:
    """Content stems of `text` (stopwords dropped), which were capitalised, and how many negations."""
    stems: dict[str, str] = {}
    caps: set[str] = set()
    neg = 0
    text = normalise_quotes(text)
    for i, m in enumerate(_TOKEN.finditer(text)):
        tok = m.group()
        low = tok.lower()
        if low in NEGATION_CUES or low.endswith("n't"):
            neg += 1
            continue
        found = _content_parts(low)
        if not found:
            continue
        capitalised = tok[0].isupper() and i > 0 and not _after_sentence_break(text, m.start())
        for s, _ in found:
            stems.setdefault(s, tok)
            if capitalised:
                caps.add(s)
    return Terms(frozenset(stems), stems, frozenset(caps), neg)


def _after_sentence_break(text: str, start: int) -> bool:
    before = text[max(0, start - 3):start].rstrip()
    return not before or before[-1] in ".!?:\n•-*#|"


@_cache(maxsize=50_000)
def numbers(text: str) -> tuple[tuple[float, str, str], ...]:
    """Numbers in `text` as (value, kind, surface); kind is 'year', 'percent' or 'number'.

    "1,200", "1.2 million", "45%", "19th" and small number words ("three") are understood,
    so "three" in a claim matches "3" in the evidence.
    """
    text = normalise_quotes(text)
    found: list[tuple[float, str, str]] = []
    for m in _NUMBER.finditer(text):
        whole, frac, pct, scale = m.group(1), m.group(2), m.group(3), m.group(4)
        end = m.end()
        if text[end:end + 2].lower() in ("st", "nd", "rd", "th") and not text[end + 2:end + 3].isalpha():
            pct = None
        elif end < len(text) and text[end].isalpha() and not scale:
            continue  # part of a code like "A320" or "3D"
        value = float(whole.replace(",", "") + ("." + frac if frac else ""))
        if scale:
            value *= _SCALES[scale.lower()]
        kind = "percent" if pct else ("year" if not frac and not scale and "," not in whole
                                      and 1000 <= value <= 2100 and len(whole) == 4 else "number")
        if kind == "number" and len(whole) == 2 and not (frac or pct or scale):
            value, kind = _range_end(text, m.start(1), m.end(), value)
        found.append((value, kind, m.group().strip()))
    for m in _TOKEN.finditer(text):
        low = m.group().lower()
        if low in _WORD_NUMBERS and low not in ("one", "once", "single", "second", "half"):
            # "one"/"second"/"half" are too often not quantities ("one of", "a second album").
            found.append((float(_WORD_NUMBERS[low]), "number", m.group()))
        elif _ORDINAL.match(low):
            pass  # already caught above
    return tuple(found)


_RANGE_START = re.compile(r"(?<!\d)(1\d{3}|20\d{2})[-–]$")
_DATE_GOES_ON = re.compile(r"[-–/]\d")


def _range_end(text: str, start: int, end: int, value: float) -> tuple[float, str]:
    """The year a season or academic year ends in: "2018–19" is 2018 to 2019, as "2018-2019" says.
    (value, "number") as it was when the two digits do not end such a range (a score, an ISO date)."""
    begun = _RANGE_START.search(text, max(0, start - 5), start)
    if begun is None or _DATE_GOES_ON.match(text, end):
        return value, "number"
    first = int(begun.group(1))
    year = first - first % 100 + int(value)
    year += 100 if year <= first else 0
    return (float(year), "year") if year - first <= 20 else (value, "number")


# Units a quantity is measured in, by canonical name. Ambiguous abbreviations are left out:
# "m" is "million" too, "in" is a preposition ("10 in 2010"), "t", "l" and "g" are too short to trust.
_UNITS = {
    "km": "km kms kilometre kilometres kilometer kilometers", "mile": "mile miles mi",
    "metre": "metre metres meter meters", "ft": "ft foot feet", "cm": "cm centimetre centimetres centimeter centimeters",
    "mm": "mm millimetre millimetres millimeter millimeters", "inch": "inch inches",
    "kg": "kg kgs kilogram kilograms kilo kilos", "g": "gram grams", "lb": "lb lbs pound pounds",
    "ton": "ton tons tonne tonnes", "l": "litre litres liter liters", "gal": "gal gallon gallons",
    "c": "°c celsius", "f": "°f fahrenheit", "acre": "acre acres", "ha": "ha hectare hectares",
    "sqkm": "km2 km²", "sqmi": "mi2 mi²", "kw": "kw kilowatt kilowatts", "mw": "mw megawatt megawatts",
    "mph": "mph", "kmh": "kph km/h",
}
_UNIT_OF = {alias: unit for unit, aliases in _UNITS.items() for alias in aliases.split()}
_QUANTITY = re.compile(r"(?<![\w.])(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d+))?\s?(°?[a-z]+[²2]?(?:/h)?)\b", re.IGNORECASE)


@_cache(maxsize=50_000)
def quantities(text: str) -> tuple[tuple[float, str], ...]:
    """Numbers with a unit of measure after them, as (value, canonical unit): "300 km" -> (300.0, "km")."""
    out = []
    for m in _QUANTITY.finditer(normalise_quotes(text)):
        unit = _UNIT_OF.get(m.group(3).lower())
        if unit:
            out.append((float(m.group(1).replace(",", "") + ("." + m.group(2) if m.group(2) else "")), unit))
    return tuple(out)


@_cache(maxsize=50_000)
def entities(text: str) -> tuple[str, ...]:
    """Capitalised names in `text` that are not just a capitalised first word of a sentence."""
    text = normalise_quotes(text)
    out: list[str] = []
    for m in _CAPS.finditer(text):
        span = m.group().strip(" .-'")
        if not span or span.isdigit():
            continue
        at_start = _after_sentence_break(text, m.start())
        after = _NEXT_WORD.match(text, m.end())
        leads = bool(after) and after.group(1) in _LEADS_ON
        for i, part in enumerate(_split_at_periods(span)):
            name = _entity(part, at_start or i > 0, leads)
            if name:
                out.append(name)
    return tuple(out)


def _split_at_periods(span: str) -> list[str]:
    # "Germany. Recently" is two sentences; "Thomas K. Arnold" and "Dr. Smith" are one name.
    parts, current = [], []
    for word in span.split():
        current.append(word)
        if word.endswith(".") and len(word.rstrip(".")) > 1 and word.lower().rstrip(".") not in _ABBREVIATIONS \
                and "." not in word[:-1]:
            parts.append(" ".join(current).rstrip("."))
            current = []
    if current:
        parts.append(" ".join(current))
    return parts


# "Spell the rule out", "Begin with base cases": an opener followed by one of these is a verb or an
# adverb when it reads as an ordinary word (`is_ordinary`); "Agriculture played" and "Giant planets"
# are left as possible names.
_NEXT_WORD = re.compile(r"\s+([a-z]+)\b")
_LEADS_ON = frozenset("the a an your our their its this that these those with to for from into up out off by on "
                      "at of it them me us you all any each every some more less".split())


def _entity(span: str, at_start: bool, leads_on: bool = False) -> str:
    words = [w for w in span.split() if w.lower().strip(".'") not in STOPWORDS and not w.isdigit()]
    if at_start and words and (words[0].lower().strip(".'") in _COMMON_STARTS
                               or words[0].lower() in QUESTION_WORDS or (len(words) > 1 and is_ordinary(words[0]))):
        words = words[1:]  # "Typical LoRA settings": the opener is an ordinary word, the name is LoRA
    if at_start and len(words) == 1 and len(span.split()) == 1 and (
            words[0].lower() in _COMMON_WORDS or _WORD_SHAPE.search(words[0].lower())
            or (leads_on and is_ordinary(words[0]))):
        return ""  # "Meadows are ...", "Spell the rule out ...": an opener that reads as an ordinary word
    if not words or not words[0][:1].isupper():
        return ""
    if all(w.lower() in QUESTION_WORDS for w in words):
        return ""
    return " ".join(words)


# Endings of plurals, participles and abstract nouns: names rarely end so.
_WORD_SHAPE = re.compile(r"(?:[^s]s|ing|ed|tion|sion|ness|ment|ity|ly|ers|ies|ous|ive|able|ance|ence|ism|ist)$")

# Sentence-initial words that are ordinary words, not names ("The", "Honey", ...): a small list
# of frequent openers; anything else capitalised at a sentence start is treated as a possible name.
_COMMON_WORDS = frozenset("a an the this that these those it its there here yes no note however but and or so "
                          "if when while although though because since after before during in on at for with "
                          "from by to of as all some many most several both each every any one two three "
                          "first second third then also finally overall today recently currently now".split())


# Capitalised only because they open a sentence; never names by themselves.
_COMMON_STARTS = frozenset("however yes note moreover also although though after before during in on at "
                           "according overall today recently currently finally first second third then "
                           "while when because since many most some several other another these those this "
                           "there here it its his her their our we they he she you i instead meanwhile "
                           "additionally furthermore subsequently initially eventually later thus therefore hence "
                           "nevertheless nonetheless besides likewise similarly otherwise consequently accordingly "
                           "yet still despite following upon".split())


# Cardinal number words and their digits, both ways, as stems: "twenty product blurbs" is covered
# by "20 product blurbs" (`support.Matcher.variants`). "one" is left out: "one of" is rarely a count.
_CARDINALS = ("two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
              "seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety hundred dozen").split()
NUMBER_FORMS = {**{stem(w): str(_WORD_NUMBERS[w]) for w in _CARDINALS},
                **{str(_WORD_NUMBERS[w]): stem(w) for w in _CARDINALS}}


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Character spans of the sentences in `text` (abbreviations like 'Dr.' do not end one)."""
    spans: list[tuple[int, int]] = []
    start = 0
    for m in _SENTENCE_END.finditer(text):
        cut = m.start()
        prev = _LAST_WORD.search(text, max(start, cut - 40), cut)
        if prev and (prev.group(1).lower() in _ABBREVIATIONS or len(prev.group(1)) == 1) and not (
                prev.group(1).lower() == "no" and not text[m.end():m.end() + 1].isdigit()):
            continue  # "Dr. Smith", "Thomas K. Arnold", "No. 5" (but "No. A cheaper tier ..." is an answer)
        spans.append((start, cut))
        start = m.end()
    spans.append((start, len(text)))
    out = []
    for a, b in spans:
        while a < b and text[a].isspace():
            a += 1
        while b > a and text[b - 1].isspace():
            b -= 1
        if b > a:
            out.append((a, b))
    return out


@_cache(maxsize=50_000)
def content_words(text: str) -> tuple[tuple[str, str], ...]:
    """(stem, lower-cased word) for the content words of `text` in reading order (stopwords and
    negation cues dropped, hyphenated words split), for checks on word order."""
    return tuple(found for m in _TOKEN.finditer(normalise_quotes(text))
                 for found in _content_parts(m.group().lower()) if found[1] not in NEGATION_CUES)


def stem_sequence(text: str) -> tuple[str, ...]:
    """The content stems of `text` in reading order (see `content_words`)."""
    return tuple(s for s, _ in content_words(text))


# The answer pointing at the very text it is checked against: "According to the article, ...",
# "The author says that ...", "as the docs note". What follows the frame is the claim; the frame's
# own words ("article", "says") are not something the evidence must hold.
SELF_SOURCES = ("article", "author", "authors", "writer", "post", "blog post", "text", "document", "documentation",
                "docs", "guide", "page", "passage", "excerpt", "source", "context", "evidence", "tutorial", "readme")
_SELF = rf"(?:the|this) (?:{'|'.join(s.replace(' ', '[ ]') for s in SELF_SOURCES)})\b"
_SAYS = (r"(?:says|said|states|stated|notes|noted|explains|argues|claims|suggests|recommends|advises|warns|mentions|"
         r"describes|reports|writes|adds|stresses|emphasi[sz]es|points out|concludes|observes|cautions|insists)")
_SELF_FRAME = re.compile(
    rf"\b(?:according to|as (?:stated|noted|described|explained|said|put) in|per) {_SELF},?\s*"
    rf"|\b(?:as )?{_SELF}(?: also| itself)? {_SAYS}(?: that| to)?,?\s*", re.IGNORECASE)


def without_self_reference(text: str) -> str:
    """`text` with the frames that cite the evidence itself taken out: "According to the article, a
    good prompt teaches the logic" -> "a good prompt teaches the logic"."""
    return _SELF_FRAME.sub("", text).strip() or text

