"""Each check on small hand-written cases: supported, number changed, entity swapped, negated,
antonym, attribution, and the answer-level signals (fabricated specifics, authority, drift, time)."""

from skilldeck.tools.verify import VerifyOptions, verify_answer

EVIDENCE = ["The Golden Gate Bridge opened in 1937 in San Francisco. Joseph Strauss was its chief engineer. "
            "The bridge is 2,737 metres long. It was not the longest suspension bridge after 1964."]


def only_claim(answer, evidence=EVIDENCE, **kw):
    report = verify_answer(answer, evidence, **kw)
    checkable = [c for c in report.claims if c.claim.check_worthy]
    assert len(checkable) == 1
    return checkable[0]


def names(result):
    return {s.name for s in result.signals}


def test_paraphrased_claim_is_supported_with_a_citation():
    c = only_claim("The Golden Gate Bridge in San Francisco opened in 1937.")
    assert c.lean == "supported" and c.signals == []
    assert c.citations[0].text == "The Golden Gate Bridge opened in 1937 in San Francisco."


def test_changed_number_is_contradicted():
    c = only_claim("The Golden Gate Bridge opened in 1938 in San Francisco.")
    assert c.lean == "contradicted" and "number_mismatch" in names(c)


def test_changed_quantity_is_contradicted_but_an_approximation_is_not():
    assert only_claim("The bridge is 3,000 metres long.").lean == "contradicted"
    assert only_claim("The bridge is about 2,700 metres long.").lean == "supported"
    assert only_claim("The bridge is 2737 metres long.").lean == "supported"


def test_swapped_entity_is_unsupported():
    c = only_claim("John Roebling was the chief engineer of the Golden Gate Bridge.")
    assert c.lean != "supported" and "entity_absent" in names(c)


def test_negated_claim_is_contradicted():
    c = only_claim("The Golden Gate Bridge did not open in 1937 in San Francisco.")
    assert c.lean == "contradicted" and "negation_mismatch" in names(c)
    c = only_claim("It was the longest suspension bridge after 1964.")
    assert c.lean == "contradicted" and "negation_mismatch" in names(c)


def test_antonym_is_contradicted():
    c = only_claim("The bridge was the longest suspension bridge after 1964.",
                   ["The bridge was the longest suspension bridge before 1964."])
    assert c.lean == "contradicted" and "antonym" in names(c)


def test_attribution_to_an_untraceable_source_is_unsupported():
    c = only_claim("According to a 2019 Caltrans report, the bridge opened in 1937.")
    assert c.lean != "supported" and "attribution_unsourced" in names(c)
    traced = only_claim("According to the Caltrans report, the bridge opened in 1937.",
                        ["The Caltrans report says the bridge opened in 1937."])
    assert traced.lean == "supported"


def test_unsourced_authority_is_an_answer_level_signal():
    report = verify_answer("Studies show the bridge opened in 1937.", EVIDENCE)
    assert "vague_authority" in {s.name for _, s in report.signals}


def test_fabricated_specifics_are_listed():
    answer = ("The bridge opened in 1937 (Smith et al., 2011). See https://example.org/gg and doi 10.1234/abc.99. "
              "Engineer Leon Moisseiff designed 42 towers.")
    found = {s.name for _, s in verify_answer(answer, EVIDENCE).signals}
    assert {"fabricated_citation", "fabricated_link", "fabricated_number", "fabricated_name"} <= found


def test_drift_fires_when_the_answer_misses_the_question():
    evidence = ["Honey is mostly sugar and raises blood glucose. Honey contains trace minerals and antioxidants."]
    q = "Can diabetics replace sugar with honey?"
    drifted = verify_answer("Honey contains minerals and antioxidants.", evidence, question=q)
    assert "drift" in {s.name for _, s in drifted.signals}
    on_topic = verify_answer("No: honey is mostly sugar and raises blood glucose, so diabetics cannot "
                             "replace sugar with it.", evidence, question=q)
    assert "drift" not in {s.name for _, s in on_topic.signals}
    assert "drift" not in {s.name for _, s in verify_answer("Joseph Strauss.", EVIDENCE,
                                                            question="Who was the chief engineer?").signals}


def test_unanchored_time_words_fire_only_without_a_date():
    loose = verify_answer("Recently the bridge was repainted.", ["The bridge was repainted in 2024."])
    assert "unanchored_time" in {s.name for _, s in loose.signals}
    anchored = verify_answer("In 2024 the bridge was recently repainted.", ["The bridge was repainted in 2024."])
    assert "unanchored_time" not in {s.name for _, s in anchored.signals}


def test_unrelated_evidence_leaves_a_claim_unsupported():
    c = only_claim("The Eiffel Tower is painted every seven years.")
    assert c.lean == "unsupported" and c.coverage < 0.5


def test_bounds_in_a_claim_are_checked_against_the_evidence_value():
    evidence = ["The shopping centre has 440 stores."]
    assert only_claim("The shopping centre has over 400 stores.", evidence).lean == "supported"
    assert only_claim("The shopping centre has over 450 stores.", evidence).lean != "supported"
    assert only_claim("The shopping centre has fewer than 500 stores.", evidence).lean == "supported"


def test_a_capitalised_opener_shaped_like_a_word_is_not_taken_for_a_name():
    from skilldeck.tools.verify.text import entities

    assert entities("Meadows are home to bellflowers.") == ()
    assert entities("Mumbai is a city in India.") == ("Mumbai", "India")


def test_expected_answer_type_reads_the_real_question_word():
    from skilldeck.tools.verify.signals import drift, expected_answer_type

    assert expected_answer_type("What is the length of the track where the race was staged?") == "quantity"
    assert expected_answer_type("The race was won by a driver who retired in what year?") == "time"
    assert expected_answer_type("Are both bands American?") == "yes_no"
    assert expected_answer_type("Is Lyon or Paris larger?") == "choice"
    assert drift("no", "Are both bands American?") == []
    assert drift("Paris", "Is Lyon or Paris larger?") == []


def test_short_claim_whose_predicate_is_absent_is_unsupported():
    c = only_claim("Joseph Strauss was an astronaut.")
    assert c.lean == "unsupported" and "predicate_absent" in names(c)
    assert only_claim("Joseph Strauss was the chief engineer.").lean == "supported"


def test_predicate_check_leaves_long_paraphrased_claims_to_coverage():
    from skilldeck.tools.verify.support import SupportConfig

    c = only_claim("The Golden Gate Bridge, designed by its chief engineer Joseph Strauss, opened in 1937 "
                   "in San Francisco and was admired.")
    assert "predicate_absent" not in names(c)
    strict = verify_answer("Joseph Strauss was an astronaut.", EVIDENCE,
                           options=VerifyOptions(support=SupportConfig(predicate_max_words=0)))
    assert "predicate_absent" not in {s.name for c in strict.claims for s in c.signals}


def test_exclusive_terms_contradict_nationality_month_and_colour():
    evidence = ["Ken Loach is an English film director born in June 1936. His car is red."]
    c = only_claim("Ken Loach is an American film director.", evidence)
    assert c.lean == "contradicted" and "exclusive_mismatch" in names(c)
    assert only_claim("Ken Loach is an English film director.", evidence).lean == "supported"
    assert "exclusive_mismatch" in names(only_claim("Ken Loach is a film director born in July 1936.", evidence))
    from skilldeck.tools.verify.checks import check_exclusive

    assert check_exclusive("Ken Loach may direct a film.", evidence) == []  # "may" is not the month here
    assert check_exclusive("His car is blue.", evidence)[0].name == "exclusive_mismatch"


def test_common_words_weigh_less_than_rare_ones():
    from skilldeck.tools.tokens import is_common
    from skilldeck.tools.verify.support import SupportConfig, _weights
    from skilldeck.tools.verify.text import terms

    assert is_common("found") and is_common("people") and not is_common("Adamawa") and not is_common("harmonies")
    weights = _weights(terms("The harmonies were found near the city"), SupportConfig())
    assert weights["harmony"] == 1.0 and weights["found"] == SupportConfig().common_weight < 1.0


def test_discourse_openers_possessives_and_hyphenated_names_are_read_as_names_should_be():
    from skilldeck.tools.verify.text import entities

    assert "Instead" not in " ".join(entities("Instead of Teaneck High School, he chose Scanlan."))
    evidence = ["Ryan Adams recorded 1989 in 2015. The submarine U-30 was commissioned in 1914."]
    assert "entity_absent" not in names(only_claim("Adams's cover of 1989 was recorded in 2015.", evidence))
    assert "entity_absent" not in names(only_claim("The U-30 was commissioned in 1914.", evidence))
    assert only_claim("The U-31 was commissioned in 1914.", evidence).lean == "contradicted"


def test_an_acronym_of_a_named_body_or_a_spelled_out_country_is_not_a_missing_name():
    evidence = ["The National Institutes of Health says adult women in the United States need 310 mg of magnesium."]
    c = only_claim("The National Institutes of Health (NIH) says adult women in the U.S. need 310 mg of magnesium.",
                   evidence)
    assert "entity_absent" not in names(c) and c.lean == "supported"
    c = only_claim("The CDC says adult women in the U.S. need 310 mg of magnesium.", evidence)
    assert "entity_absent" in names(c)


def test_a_quantity_matches_only_a_value_in_the_same_unit():
    from skilldeck.tools.verify.text import quantities

    assert quantities("300 km (186 miles) per hour, 10 in 2010, 5 m people") == ((300.0, "km"), (186.0, "mile"))
    evidence = ["The peregrine falcon dives at more than 300 km (186 miles) per hour."]
    assert only_claim("The peregrine falcon dives at over 180 miles per hour.", evidence).lean == "supported"
    assert only_claim("The peregrine falcon dives at more than 300 km per hour.", evidence).lean == "supported"
    wrong = only_claim("The peregrine falcon dives at 300 miles per hour.", evidence)
    assert wrong.lean != "supported" and {"number_mismatch", "number_absent"} & names(wrong)


def test_a_century_matches_the_years_it_holds():
    evidence = ["The potato reached Spain around 1570 and spread across Europe by 1600."]
    assert "number_absent" not in names(only_claim("Potatoes reached Spain in the 16th century.", evidence))
    assert only_claim("Potatoes reached Spain in the 15th century.", evidence).lean != "supported"


def test_a_bare_name_answer_is_not_negated_by_the_evidence():
    evidence = ["Carpentier drove the Ford Fusion, not the Dodge Charger, in 2006."]
    assert only_claim("Ford Fusion", evidence, question="What car did Carpentier drive in 2006?").lean == "supported"
    c = only_claim("Carpentier drove the Dodge Charger in 2006.", evidence)
    assert c.lean == "contradicted" and "negation_mismatch" in names(c)


def test_a_negation_after_a_comma_is_about_what_follows_it_not_what_precedes_it():
    evidence = ["Require preference capture and make clinician override first-class, not an afterthought."]
    c = only_claim("The fix is to make clinician override first-class.", evidence)
    assert "negation_mismatch" not in names(c)
    from skilldeck.tools.verify.checks import check_negation

    assert check_negation("Make clinician override first-class.", evidence[0]) == []
    assert check_negation("Treat clinician override as an afterthought.", evidence[0])  # what the "not" is about


def test_little_and_few_negate_but_a_little_and_a_name_do_not():
    from skilldeck.tools.verify.checks import check_negation

    evidence = "The report describes output that looks polished but lacks substance."
    assert check_negation("The report describes output that looks polished but has little substance.", evidence) == []
    assert check_negation("The report describes output that looks polished and has substance.", evidence)
    assert check_negation("The report describes output with a little substance.", evidence)


def test_a_season_written_short_ends_in_the_year_its_long_form_names():
    from skilldeck.tools.verify.text import numbers

    evidence = ["The name change will take place over the coming 2018-2019 academic year."]
    c = only_claim("The name change takes place during the 2018–19 academic year.", evidence)
    assert not names(c) & {"number_absent", "number_mismatch"}
    c = only_claim("The name change takes place during the 2018–21 academic years.", evidence)
    assert c.lean == "contradicted" and "number_mismatch" in names(c)  # 2021, where the evidence says 2019
    # A score, an ISO date and a span of more than twenty years stay plain numbers.
    assert [v for v, k, _ in numbers("won 10–7 on 2018-05-14; 1950–99")] == [10, 7, 2018, 5, 14, 1950, 99]
    assert (2000.0, "year", "00") in numbers("the 1999–00 season")


def test_a_number_word_the_evidence_lacks_counts_as_a_missing_word_and_a_missing_digit_as_fabricated():
    # "first" and "three" are often implied ("13 years since I was on a stage", a list of three
    # names): their absence counts against the claim like a missing word, never as a fabricated
    # specific, and the rest of the evidence decides between unsure and not supported.
    ev = ["Adams returned to Broadway. \"It's been 13 years since I was on a proper stage,\" she said."]
    worded = only_claim("It was her first stage appearance in 13 years.", ev)
    assert "number_word_absent" in names(worded) and "number_absent" not in names(worded)
    assert worded.outcome != "supported" and worded.reason != "fabricated_number"
    fabricated = only_claim("The Golden Gate Bridge opened in 1937 after 4 years of work.")
    assert fabricated.outcome == "not_supported" and "number_absent" in names(fabricated)
    # A number word against another number of its kind in the evidence stays a fabricated number.
    offices = only_claim("The firm has three offices.", ["The firm has 5 offices in Europe."])
    assert offices.outcome == "not_supported" and "number_absent" in names(offices)
    # And it does not rescue a claim whose other words the evidence lacks (the review's case).
    museum = ["The museum opened in 1990. Its garden is behind the building."]
    assert only_claim("The museum keeps three sculptures in a garden behind the building.", museum).outcome \
        != "supported"


def test_what_the_evidence_says_of_another_name_is_a_doubt_for_the_claims_subject():
    ev = ["Cooking Light is an American monthly food and lifestyle magazine founded in 1987. "
          "Hot Rod is a monthly American car magazine devoted to hot rodding."]
    moved = only_claim("Hot Rod was founded in 1987.", ev)
    assert "subject_unbound" in names(moved) and moved.outcome != "supported"
    assert "'Cooking Light'" in next(s.detail for s in moved.signals if s.name == "subject_unbound")
    kept = only_claim("Cooking Light was founded in 1987.", ev)
    assert "subject_unbound" not in names(kept)
    # Said of the subject in its own sentence: no doubt, though another sentence names someone else.
    own = only_claim("Hot Rod is devoted to hot rodding.", ev)
    assert "subject_unbound" not in names(own)
