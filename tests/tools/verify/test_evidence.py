"""Evidence loading: inline strings, objects, files and globs, with provenance and clear errors."""

import pytest

from skilldeck.tools.errors import InvalidInputError, NotFoundError
from skilldeck.tools.verify import EvidenceLimits, load_evidence


def test_inline_strings_and_objects_get_ids_and_sources():
    ev = load_evidence(["First fact. Second fact.", {"id": "doc7", "source": "https://example.org", "text": "Third."}])
    assert [(s.item.id, s.item.source, s.text) for s in ev.sentences] == [
        ("e1", "inline", "First fact."), ("e1", "inline", "Second fact."), ("doc7", "https://example.org", "Third.")]
    assert ev.sentences[1].start == 12 and ev.sentences[1].citation()["quote"] == "Second fact."


def test_files_and_globs_keep_file_line_and_character_span(tmp_path):
    (tmp_path / "docs").mkdir()
    text = "# Title\n\nThe bridge opened in 1932.\nIt is 1,149 metres long.\n"
    (tmp_path / "docs" / "bridge.md").write_text(text)
    (tmp_path / "docs" / "other.txt").write_text("Unrelated.")
    ev = load_evidence(paths=["docs/**/*.md"], base_dir=tmp_path)
    assert len(ev.items) == 1
    second = [s for s in ev.sentences if "metres" in s.text][0]
    cite = second.citation()
    assert cite["line"] == 4 and text[cite["start"]:cite["end"]] == "It is 1,149 metres long."
    assert cite["source"].endswith("bridge.md")
    assert len(load_evidence(paths=[tmp_path / "docs"]).items) == 2


def test_missing_file_and_empty_glob_are_named(tmp_path):
    with pytest.raises(NotFoundError, match="nope.md"):
        load_evidence(paths=["nope.md"], base_dir=tmp_path)
    with pytest.raises(NotFoundError, match=r"\*\*/\*.rst"):
        load_evidence(paths=["**/*.rst"], base_dir=tmp_path)


def test_binary_and_oversized_files_are_refused(tmp_path):
    (tmp_path / "blob.txt").write_bytes(b"\x00\x01\x02binary")
    with pytest.raises(InvalidInputError, match="binary"):
        load_evidence(paths=["blob.txt"], base_dir=tmp_path)
    (tmp_path / "big.txt").write_text("word " * 1000)
    with pytest.raises(InvalidInputError, match="limit is 100"):
        load_evidence(paths=["big.txt"], base_dir=tmp_path, limits=EvidenceLimits(max_file_bytes=100))


def test_wrong_types_say_what_is_expected():
    with pytest.raises(InvalidInputError, match="expected a string or an object"):
        load_evidence([42])
    with pytest.raises(InvalidInputError, match="no string 'text'"):
        load_evidence([{"id": "x", "body": "hi"}])
    with pytest.raises(InvalidInputError, match="expected a path string"):
        load_evidence(paths=[3.5])


def test_semicolon_clauses_are_separate_evidence_sentences():
    ev = load_evidence(["The tower was not built in 1900; it opened in 1889."])
    assert [s.text for s in ev.sentences] == ["The tower was not built in 1900", "it opened in 1889."]


def test_paragraphs_joined_without_a_space_still_split_after_a_number_or_quote():
    # Scraped text often loses the space between paragraphs: "...founded in 1987.Hot Rod is ...".
    ev = load_evidence(['The magazine was founded in 1987.Hot Rod is a car magazine. It aired "Pilot".The end came soon.',
                        "Version 3.5 was fast. It cost 2.50 dollars."])
    assert [s.text for s in ev.sentences] == [
        "The magazine was founded in 1987.", "Hot Rod is a car magazine.", 'It aired "Pilot".', "The end came soon.",
        "Version 3.5 was fast.", "It cost 2.50 dollars."]
