"""Skill search: fields and weights, word forms, names, synonyms, phrases, reasons, hybrid blending, speed."""

import dataclasses
import statistics
import time

import pytest

from skilldeck.tools.skills.catalog import SkillCatalog
from skilldeck.tools.skills.search import SearchTuning, SkillSearch
from skilldeck.tools.skills.skill import SkillRoot
from skilldeck.tools.skills.terms import stem, terms, words
from tests.fixtures.skill_factory import make_skill


def skill(root, name, description, body="# Title\n\nDo it.\n", files=None, extra=""):
    make_skill(root, name, f"name: {name}\ndescription: {description}\n{extra}", body=body, files=files)


def index(root, semantic=None):
    return SkillSearch(SkillCatalog([SkillRoot(root, "t")]).skills, semantic=semantic)


def top(search, query, limit=3):
    return [h.skill.name for h in search.search(query, limit)]


@pytest.fixture
def collection(tmp_path):
    skill(tmp_path, "slack-gif-creator", "Creates animated GIFs optimized for Slack. Use when asked for a GIF.")
    skill(tmp_path, "pdf-forms", "Fills in PDF forms. Use when a fillable PDF must be completed.")
    skill(tmp_path, "sql-tuning", "Speeds up slow SQL queries with indexes. Use when a query is slow.")
    skill(tmp_path, "regex-kit", "Builds and explains patterns in regexBuilder with test cases. Use for text matching.")
    skill(tmp_path, "webapp-testing", "Drives a local site in a headless browser. Use to check pages.")
    skill(tmp_path, "brand-colors", "Applies the company color palette and typography. Use for on-brand docs.")
    return tmp_path


def test_word_forms_meet():
    assert stem("animations") == stem("animated") == stem("animate")
    assert stem("queries") == stem("query") and stem("running") == stem("run") and stem("colours") == stem("color")
    assert terms("FastMCP servers for LLMs") == ["fast", "mcp", stem("servers"), "llm"]
    # Adverbs meet their adjectives, and -ical meets -ic.
    assert stem("automatically") == stem("automatic") and stem("easily") == stem("easy")
    assert stem("statistically") == stem("statistical") == stem("statistics")
    assert stem("interactively") == stem("interactive") and stem("numerical") == stem("numeric")
    assert stem("daily") != stem("day") and stem("apply") != stem("app")  # too short, or not an adverb


def test_plural_and_verb_forms_match(collection):
    assert top(collection and index(collection), "animating gifs")[0] == "slack-gif-creator"
    assert top(index(collection), "filling a form")[0] == "pdf-forms"


def test_camel_case_and_hyphenated_names_are_split_and_joined(collection):
    search = index(collection)
    assert top(search, "regex builder")[0] == "regex-kit"  # "regex builder" meets "regexBuilder"
    assert top(search, "test my web app")[0] == "webapp-testing"  # "web app" meets "webapp"


def test_words_of_any_script_are_whole_words_and_diacritics_do_not_matter(tmp_path):
    assert words("Zürich’s CO₂ naïve Москва") == ["zurich", "s", "co2", "naive", "москва"]
    assert words("数据分析工具") == ["数据", "据分", "分析", "析工", "工具"]  # no spaces: character pairs
    skill(tmp_path, "rechnung", "Prüft Rechnungen für die Buchhaltung. Use for German invoices.")
    skill(tmp_path, "cafe-menu", "Writes the café menu and its prices. Use for menus.")
    skill(tmp_path, "data-report", "生成数据分析报告. Use for Chinese data reports.")
    skill(tmp_path, "rich-text", "Converts rich text to Markdown. Use for RTF files.")
    search = index(tmp_path)
    assert top(search, "rechnungen prufen", 1) == ["rechnung"]  # typed without the umlaut
    assert top(search, "update the cafe menu", 1) == ["cafe-menu"]
    assert top(search, "写一份数据分析报告", 1) == ["data-report"]
    assert search.search("Zürich", 3) == []  # one word, not "z" + "rich"


def test_a_requests_camel_case_name_is_one_word(tmp_path):
    skill(tmp_path, "press-release", "Writes a press release and its word count. Use for announcements.")
    skill(tmp_path, "chem-kit", "Computes molecule descriptors with RDKit. Use for cheminformatics.")
    skill(tmp_path, "mcp-servers", "Builds MCP servers in Python with FastMCP. Use for tool servers.")
    search = index(tmp_path)
    # "WordPress" is not "word" + "press", and "HealthKit" shares no word with "RDKit".
    assert [h for h in search.search("write a WordPress plugin", 3) if h.fits] == []
    assert [h.skill.name for h in search.search("read steps from HealthKit", 3)] == []
    assert top(search, "a FastMCP server", 1) == ["mcp-servers"]  # held whole as well as split
    split = SkillSearch(search.skills, tuning=SearchTuning(whole_names=False))
    assert [h.skill.name for h in split.search("read steps from HealthKit", 3)] == ["chem-kit"]
    assert split.search("write a WordPress plugin", 1)[0].fits  # split, "press" and "word" made it fit


def test_names_written_as_one_word_match_their_split_form(tmp_path):
    skill(tmp_path, "mcp-servers", "Builds MCP servers in Python with FastMCP. Use for tool servers.")
    skill(tmp_path, "mail", "Drafts e-mail replies. Use for inbox triage.")
    search = index(tmp_path)
    hit = search.search("fastmcp decorators", 1)[0]
    assert hit.skill.name == "mcp-servers" and "fastmcp (description)" in hit.why
    assert top(search, "email")[0] == "mail"


def test_synonyms_widen_the_query_and_say_so(collection):
    (hit,) = index(collection).search("pick a colour scheme for our slides", 1)
    assert hit.skill.name == "brand-colors"
    assert "colour" in hit.why and "description" in hit.why
    gif = index(collection).search("short looping animation", 1)[0]
    assert gif.skill.name == "slack-gif-creator" and "≈" in gif.why


def test_description_outweighs_headings(tmp_path):
    skill(tmp_path, "in-description", "Converts invoices to ledgers. Use for invoices.")
    skill(tmp_path, "in-heading", "Handles accounting chores. Use for bookkeeping.", body="# Steps\n\n## Invoices\n")
    assert top(index(tmp_path), "invoices") == ["in-description", "in-heading"]


def test_when_to_use_headings_and_file_names_are_searched(tmp_path):
    skill(tmp_path, "deploys", "Ships services.", extra="when_to_use: rolling back a bad release\n")
    skill(tmp_path, "cluster-ops", "Runs cluster chores.", files={"references/readiness-probes.md": "# Probes\n"})
    skill(tmp_path, "writing", "Edits prose.", body="# Style\n\n## Oxford comma\n")
    search = index(tmp_path)
    assert top(search, "roll back the release")[0] == "deploys"
    hit = search.search("readiness probes failing", 1)[0]
    assert hit.skill.name == "cluster-ops" and "files" in hit.why
    assert top(search, "oxford comma")[0] == "writing"


def test_phrases_rank_above_scattered_words(tmp_path):
    skill(tmp_path, "prompt-caching", "Sets up prompt caching for long contexts. Use when caching.")
    skill(tmp_path, "scattered", "Tunes a prompt; explains how a cache evicts; Use when caching matters.")
    hit = index(tmp_path).search("prompt caching", 1)[0]
    assert hit.skill.name == "prompt-caching" and "'prompt caching'" in hit.why


def test_unknown_word_matches_a_longer_known_word(tmp_path):
    skill(tmp_path, "page-snapshots", "Takes screenshots of pages. Use for visual checks.")
    hit = index(tmp_path).search("whole screen", 1)[0]
    assert hit.skill.name == "page-snapshots" and "screen~screenshots" in hit.why


def test_nothing_to_match_returns_nothing(collection):
    search = index(collection)
    assert search.search("the and of to", 5) == []
    assert search.search("quantum chromodynamics", 5) == []
    assert search.search("gif", 0) == []
    assert SkillSearch([]).search("gif", 5) == []


class FakeSemantic:
    def __init__(self, scores):
        self.values = scores

    def scores(self, query):
        return self.values


def test_hybrid_blends_semantic_scores_and_reports_them(tmp_path):
    skill(tmp_path, "a-lexical", "Makes charts from tables. Use for charts.")
    skill(tmp_path, "b-semantic", "Renders figures of numbers. Use for quarterly reviews.")
    skills = SkillCatalog([SkillRoot(tmp_path, "t")]).skills
    lexical_only = SkillSearch(skills).search("charts", 2)
    assert [h.skill.name for h in lexical_only] == ["a-lexical"]
    hybrid = SkillSearch(skills, semantic=FakeSemantic([0.3, 0.9])).search("charts", 2)
    assert [h.skill.name for h in hybrid] == ["a-lexical", "b-semantic"]
    assert "semantic similarity 0.90" in hybrid[1].why
    not_ready = SkillSearch(skills, semantic=FakeSemantic(None)).search("charts", 2)
    assert [h.skill.name for h in not_ready] == ["a-lexical"]


def test_when_no_lexical_hit_fits_the_semantic_score_decides_more(tmp_path):
    skill(tmp_path, "ad-images", "Generates product images for ads.",
          body="# Ad images\n\nMake the picture.\n\n## Example: a banana smoothie brand\n")
    skill(tmp_path, "recipe-nutrition", "Works out what a dish contains per serving.")
    skills = SkillCatalog([SkillRoot(tmp_path, "t")]).skills
    cosines = FakeSemantic([{"ad-images": 0.25, "recipe-nutrition": 0.6}[s.name] for s in skills])
    query = "how many calories are in a banana"
    # The one matched word sits in a heading: no lexical hit fits, so the semantic match leads.
    assert not SkillSearch(skills).search(query, 1)[0].fits
    led = SkillSearch(skills, semantic=cosines).search(query, 1)[0]
    assert led.skill.name == "recipe-nutrition" and led.fits  # a cosine of 0.6 fits without a shared word
    weak = FakeSemantic([{"ad-images": 0.1, "recipe-nutrition": 0.3}[s.name] for s in skills])
    assert not SkillSearch(skills, semantic=weak).search(query, 1)[0].fits
    even = SkillSearch(skills, semantic=cosines, tuning=SearchTuning(semantic_lead=False))
    assert even.search(query, 1)[0].skill.name == "ad-images"


def test_search_stays_fast_at_thousands_of_skills(collection):
    base = SkillCatalog([SkillRoot(collection, "t")]).skills
    many = [dataclasses.replace(s, name=f"{s.name}-{i}", _headings=list(s.headings))
            for i in range(3000) for s in base[i % len(base):i % len(base) + 1]]
    search = SkillSearch(many)
    times = []
    for query in ["make a looping gif for slack", "slow sql query", "fill in the pdf form", "web app test"] * 5:
        start = time.perf_counter()
        search.search(query, 5)
        times.append(time.perf_counter() - start)
    assert statistics.median(times) < 0.05  # 3,000 skills; the benchmark measures 10,000


def test_semantic_text_adds_the_body_intro_and_its_key_the_truncation_length(tmp_path, monkeypatch):
    from skilldeck.tools.skills import embeddings
    from skilldeck.tools.skills.embeddings import semantic_text

    skill(tmp_path, "perf-review", "Finds hot loops.",
          body="# Perf review\n\nWhen a page is slow and the same list is scanned again and again.\n\n## Steps\n\nx\n")
    (found,) = SkillCatalog([SkillRoot(tmp_path, "t")]).skills
    text = semantic_text(found)
    assert text == "perf review. Finds hot loops. When a page is slow and the same list is scanned again and again."
    assert semantic_text(found, intro="") == "perf review. Finds hot loops."
    key = embeddings._key(text)
    monkeypatch.setattr(embeddings, "MAX_TOKENS", 256)
    assert embeddings._key(text) != key  # a vector encoded at another length is not reused


def test_the_users_request_adds_its_words_at_half_the_weight_of_the_task(tmp_path):
    # An agent names the task ("batch effect correction"); the user's story still carries words
    # ("cluster", "run") a skill uses, which may decide between skills the task alone leaves close.
    skill(tmp_path, "batch-correction", "Corrects batch effects between single-cell runs that cluster by run.")
    skill(tmp_path, "batch-jobs", "Runs batch jobs on a cluster scheduler with retries.")
    skill(tmp_path, "cell-typing", "Annotates cell types of single-cell clusters with marker genes.")
    search = index(tmp_path)
    request = "my five runs cluster by run instead of by cell type"
    assert top(search, request)[0] != "batch-correction"  # the story alone: words of other skills win
    found = search.search("batch effect correction", 3, request=request)
    assert found[0].skill.name == "batch-correction" and "cluster (description)" in found[0].why
    alone = search.search("batch effect correction", 3)
    assert found[0].score > alone[0].score  # the request's words add to the task's ...
    twice = search.search("batch effect correction cluster", 3, request="cluster")[0]
    assert twice.score == search.search("batch effect correction cluster", 3)[0].score  # ... a word in both once


def test_request_words_count_half_towards_the_fit_so_an_unrelated_story_can_withhold_it(tmp_path):
    # The request's unmatched words weigh half against the fit: the answer still ranks the skill
    # first, and says it fits only while the task's words are most of what was asked.
    skill(tmp_path, "sql-tuning", "Speeds up slow SQL queries with indexes. Use when a query is slow.")
    search = index(tmp_path)
    short = search.search("speed up slow SQL query", 1, request="it hangs")[0]
    long = search.search("speed up slow SQL query", 1, request="the dashboard my manager opens every morning hangs")[0]
    assert short.skill.name == long.skill.name == "sql-tuning"
    assert short.fits and not long.fits and long.confidence < short.confidence
