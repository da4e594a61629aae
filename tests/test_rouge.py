"""ROUGE as PENS scores it, against values computed by hand on tiny strings."""

from __future__ import annotations

import pytest

from pmgen.scoring.rouge import EmptyOutput, RougeScheme, RougeScores, corpus_rouge, rouge_f1

CAT_CANDIDATE = "the cat sat on the mat"
CAT_REFERENCE = "the cat lay on a mat"


def _close(scores: RougeScores, expected: tuple[float, float, float]) -> None:
    assert scores.as_tuple() == pytest.approx(expected, abs=1e-5)


def test_pens_counts_each_ngram_once() -> None:
    # Unigram sets: candidate {the, cat, sat, on, mat} (5: "the" twice counts once),
    # reference {the, cat, lay, on, a, mat} (6), shared {the, cat, on, mat} (4):
    # F = 2 * 4 / (5 + 6) = 8/11. Bigrams: 5 and 5, shared {the cat}: F = 2/10.
    # LCS "the cat on mat": 4 distinct words over 5 and 6 distinct words: 8/11.
    scores = rouge_f1(CAT_CANDIDATE, CAT_REFERENCE)
    _close(scores, (800 / 11, 20.0, 800 / 11))
    assert (scores.rows, scores.empty_outputs) == (1, 0)
    assert str(scores) == "R-1 72.73 / R-2 20.00 / R-L 72.73"


def test_rouge_score_scheme_counts_with_multiplicity() -> None:
    # Six tokens each; "the" is matched once (min(2, 1)): 4 of 6 either way, F = 2/3.
    # Bigrams as above: 1 of 5 and 1 of 5. LCS length 4 of 6 tokens: 2/3.
    scores = rouge_f1(CAT_CANDIDATE, CAT_REFERENCE, scheme="rouge_score")
    _close(scores, (200 / 3, 20.0, 200 / 3))


def test_case_does_not_matter() -> None:
    for scheme in RougeScheme:
        _close(rouge_f1("The CAT Sat", "the cat sat", scheme), (100.0, 100.0, 100.0))
        _close(rouge_f1("THE CAT SAT", "The Cat Sat", scheme), (100.0, 100.0, 100.0))


def test_pens_keeps_punctuation_on_words_and_cuts_sentences_at_dots() -> None:
    # "win," is not "win": 3 of 4 unigrams shared, F = 6/8; bigrams: only "dogs lose"
    # of 3 and 3, F = 1/3; LCS "cats dogs lose" 3 of 4 distinct words, F = 6/8.
    _close(rouge_f1("Cats win, dogs lose", "cats win dogs lose"), (75.0, 100 / 3, 75.0))
    # rouge_score keeps only [a-z0-9] runs, so the comma goes.
    _close(rouge_f1("Cats win, dogs lose", "cats win dogs lose", "rouge_score"), (100.0,) * 3)
    # A final full stop ends a sentence and is no word.
    _close(rouge_f1("City wins.", "city wins"), (100.0, 100.0, 100.0))


def test_pens_lcs_counts_distinct_words_of_the_lcs_it_walks_back() -> None:
    # Reference "a a b", candidate "a b a": LCS length 2; walking back, a tie steps
    # along the candidate, giving "a b": 2 distinct words over 2 and 2 distinct words.
    # Unigram sets {a, b} both: 100. Bigrams {aa, ab} vs {ab, ba}: 1 of 2 each, 50.
    _close(rouge_f1("a b a", "a a b"), (100.0, 50.0, 100.0))
    # rouge_score: 2 of 3 tokens for the LCS; bigrams 1 of 2 each.
    _close(rouge_f1("a b a", "a a b", "rouge_score"), (100.0, 50.0, 200 / 3))


def test_empty_output_scores_zero_alone() -> None:
    for scheme in RougeScheme:
        for empty in ("", "   ", "\n"):
            scores = rouge_f1(empty, "news of the day", scheme)
            assert scores.as_tuple() == (0.0, 0.0, 0.0)
            assert scores.empty_outputs == 1
    # Only dots: no words to match.
    assert rouge_f1("...", "news of the day").as_tuple() == (0.0, 0.0, 0.0)


def test_corpus_averages_rows_in_percent_and_scores_empty_outputs_as_pens_does() -> None:
    candidates = ["", "a b", CAT_CANDIDATE]
    references = ["news today", "a b", CAT_REFERENCE]
    # PENS scores "" as "news": unigrams 1 of 1 and 1 of 2, F = 2/3; no bigram, 0;
    # LCS "news": 2/3. Row 2 is 100 on all three; row 3 as above.
    pens = corpus_rouge(candidates, references)
    expected_pens = (
        (200 / 3 + 100 + 800 / 11) / 3,
        (0 + 100 + 20) / 3,
        (200 / 3 + 100 + 800 / 11) / 3,
    )
    _close(pens, expected_pens)
    assert (pens.rows, pens.empty_outputs) == (3, 1)
    zero = corpus_rouge(iter(candidates), iter(references), empty=EmptyOutput.ZERO)
    _close(zero, ((100 + 800 / 11) / 3, 40.0, (100 + 800 / 11) / 3))
    assert (zero.rows, zero.empty_outputs) == (3, 1)


def test_corpus_streams_a_generator() -> None:
    rows = 10_000
    scores = corpus_rouge((f"story {i}" for i in range(rows)), (f"story {i}" for i in range(rows)))
    _close(scores, (100.0, 100.0, 100.0))
    assert scores.rows == rows


def test_an_empty_reference_scores_zero_and_stays_in_the_mean() -> None:
    # a PENS user who left one title empty: the pair counts, with ROUGE 0 (issue 12)
    for scheme in RougeScheme:
        assert rouge_f1("a b", "", scheme).as_tuple() == (0.0, 0.0, 0.0)
        assert rouge_f1("a b", "  ", scheme).as_tuple() == (0.0, 0.0, 0.0)
    scores = corpus_rouge(["a b", "c d", ""], ["a b", "...", ""])
    _close(scores, (100.0 / 3, 100.0 / 3, 100.0 / 3))
    assert (scores.rows, scores.empty_references, scores.empty_outputs) == (3, 2, 1)


def test_bad_input_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="references end after 1 rows"):
        corpus_rouge(["a", "b"], ["a"])
    with pytest.raises(ValueError, match="candidates end after 0 rows"):
        corpus_rouge([], ["a"])
    with pytest.raises(ValueError, match="no rows to score"):
        corpus_rouge([], [])
    with pytest.raises(ValueError, match=r"unknown ROUGE scheme 'rouge-1'.*'pens'"):
        rouge_f1("a", "a", scheme="rouge-1")
    with pytest.raises(ValueError, match="unknown empty-output policy 'skip'"):
        corpus_rouge(["a"], ["a"], empty="skip")
    with pytest.raises(TypeError, match="must be strings"):
        corpus_rouge([None], ["a"])  # type: ignore[list-item]
