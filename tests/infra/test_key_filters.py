"""The EventBridge key filters: suffixes in any letter case, optionally under a literal prefix."""

from __future__ import annotations

import pytest

from sandbox.event_patterns import matches
from stacks.ingest import case_variants, key_filters


def _matches(filters: list[dict[str, object]], key: str) -> bool:
    """Whether EventBridge would match the key against the filters (sandbox.event_patterns, AWS's semantics)."""
    return matches({"detail": {"object": {"key": filters}}}, {"detail": {"object": {"key": key}}})


def test_without_prefix_each_suffix_is_one_case_insensitive_filter() -> None:
    # Given two suffixes and no prefix
    # When the filters are built
    filters = key_filters(["mp4", "mov"], "")
    # Then there is one equals-ignore-case suffix filter per suffix, dot included
    assert filters == [{"suffix": {"equals-ignore-case": ".mp4"}}, {"suffix": {"equals-ignore-case": ".mov"}}]


def test_with_prefix_every_letter_case_variant_is_a_wildcard() -> None:
    # Given a prefix (EventBridge cannot AND prefix and case-insensitive suffix on one field)
    # When the filters are built
    filters = key_filters(["mp4"], "videos/")
    # Then each upper/lower spelling of the suffix is its own wildcard; the digit appears once
    assert sorted(f["wildcard"] for f in filters) == sorted(
        ["videos/*.mp4", "videos/*.mP4", "videos/*.Mp4", "videos/*.MP4"]
    )


def test_prefix_wildcard_characters_are_escaped() -> None:
    # Given a prefix holding the wildcard metacharacters * and \
    # When the filters are built
    (first, *_) = key_filters(["a"], "in*box\\")
    # Then both are escaped with a backslash so they match literally
    assert first == {"wildcard": "in\\*box\\\\*.a"}


def test_suffixes_that_differ_only_in_case_give_no_duplicate_wildcards() -> None:
    # Given the same suffix spelled twice
    # When the filters are built with a prefix
    filters = key_filters(["mov", "MOV"], "p/")
    # Then every variant appears once
    wildcards = [f["wildcard"] for f in filters]
    assert len(wildcards) == len(set(wildcards)) == 8


@pytest.mark.parametrize(
    ("prefix", "key", "expected"),
    [
        ("", "a/b/clip.mp4", True),
        ("", "CLIP.MoV", True),
        ("", "clip.mp4.txt", False),
        ("", "clipmp4", False),
        ("uploads/", "uploads/x/clip.MP4", True),
        ("uploads/", "other/clip.mp4", False),
        ("uploads/", "uploads/clip.avi", False),
        ("in*box/", "in*box/clip.Mov", True),
        ("in*box/", "inXbox/clip.mov", False),
    ],
)
def test_filters_match_exactly_the_intended_keys(prefix: str, key: str, expected: bool) -> None:
    # Given the filters for mp4 and mov under a prefix (or none)
    filters = key_filters(["mp4", "mov"], prefix)
    # When a key is checked with EventBridge's matching rules
    # Then only keys under the prefix with a supported suffix, in any case, match
    assert _matches(filters, key) is expected


def test_case_variants_cover_every_spelling() -> None:
    # Given a three-letter suffix / When its variants are listed / Then all 2**3 spellings appear once
    assert sorted(case_variants("mov")) == sorted({"mov", "moV", "mOv", "mOV", "Mov", "MoV", "MOv", "MOV"})


def test_no_suffix_is_an_error() -> None:
    # Given no suffixes / When filters are built / Then it fails instead of matching nothing
    with pytest.raises(ValueError, match="suffix"):
        key_filters([], "")


def test_a_pattern_too_large_for_eventbridge_is_refused() -> None:
    # Given many long suffixes under a long prefix (2**n variants each)
    # When the filters are built
    # Then a clear error names the settings to change
    with pytest.raises(ValueError, match="key_prefix"):
        key_filters(["mpeg", "webm", "mkv", "avi"], "a-very-long-prefix/" * 4)
