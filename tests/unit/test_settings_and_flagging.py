"""Settings from the environment, the flag policy and the taxonomy roll-up."""

from __future__ import annotations

import pytest

from functions.common.flagging import DetectionClassifier, FlagPolicy
from functions.common.models import VideoSummary
from functions.common.settings import CollectSettings, SettingsError, StartSettings
from functions.common.taxonomy import TOP_LEVEL_CATEGORIES, TopCategoryResolver
from tests.helpers import detection

COLLECT_ENV = {
    "VIDEOS_TABLE": "t",
    "ANALYTICS_BUCKET": "lake",
    "START_QUEUE_URL": "https://sqs/start",
    "COLLECT_QUEUE_URL": "https://sqs/collect",
    "EVENT_BUS_NAME": "default",
    "EVENT_SOURCE": "modlake",
    "AGGREGATE_BY": "TIMESTAMPS",
    "FLAG_THRESHOLD": "80",
    "CATEGORY_THRESHOLDS": '{"Alcohol": 95}',
    "IGNORED_CATEGORIES": '["Swimwear or Underwear"]',
}


def test_collect_settings_convert_types() -> None:
    settings = CollectSettings.from_env(COLLECT_ENV)
    assert settings.flag_threshold == 80.0
    assert settings.category_thresholds == {"Alcohol": 95.0}
    assert settings.ignored_categories == ("Swimwear or Underwear",)


def test_missing_variables_are_named() -> None:
    with pytest.raises(SettingsError, match="MEDIA_BUCKET"):
        StartSettings.from_env({"VIDEOS_TABLE": "t"})


@pytest.mark.parametrize(
    ("key", "value"), [("FLAG_THRESHOLD", "high"), ("IGNORED_CATEGORIES", '"Alcohol"'), ("CATEGORY_THRESHOLDS", "[1]")]
)
def test_bad_values_fail_clearly(key: str, value: str) -> None:
    with pytest.raises(SettingsError, match=key):
        CollectSettings.from_env(COLLECT_ENV | {key: value})


def test_env_keys_are_the_upper_case_field_names() -> None:
    assert "REKOGNITION_ROLE_ARN" in StartSettings.env_keys()
    assert set(CollectSettings.env_keys()) == set(COLLECT_ENV)


def test_resolver_rolls_level3_up_to_top_level() -> None:
    resolver = TopCategoryResolver()
    assert resolver.top_category("Explicit", "", 1) == "Explicit"
    assert resolver.top_category("Weapons", "Violence", 2) == "Violence"
    assert resolver.top_category("Blood & Gore", "Graphic Violence", 3) == "Violence"
    assert resolver.top_category("Gambling", "Gambling", 2) == "Gambling"
    assert resolver.top_category("Exposed Buttocks or Anus", "Explicit Nudity", 3) == "Explicit"
    assert resolver.top_category("Mystery", "Unknown Parent", 3) == "Unknown"


def test_resolver_learns_parents_of_new_labels_from_the_job() -> None:
    resolver = TopCategoryResolver()
    resolver.learn("New Level 2", "Violence")
    assert resolver.top_category("New Level 3", "New Level 2", 3) == "Violence"


def test_every_level2_parent_is_a_top_level_category() -> None:
    from functions.common.taxonomy import LEVEL2_PARENTS

    assert set(LEVEL2_PARENTS.values()) <= set(TOP_LEVEL_CATEGORIES)


def test_flag_policy_threshold_override_and_ignore() -> None:
    policy = FlagPolicy(80.0, {"Alcohol": 95.0}, frozenset({"Gambling"}))
    assert policy.flags("Violence", 80.0) and not policy.flags("Violence", 79.99)
    assert not policy.flags("Alcohol", 90.0) and policy.flags("Alcohol", 95.0)
    assert not policy.flags("Gambling", 100.0)


def test_classifier_numbers_across_pages_and_summarises() -> None:
    summary = VideoSummary()
    classifier = DetectionClassifier(FlagPolicy(), start_index=10)
    first = classifier.classify([detection(100, "Violence", confidence=85.0)], summary)
    second = classifier.classify([detection(50, "Alcohol", confidence=70.0)], summary)
    assert [d.index for d in first + second] == [10, 11]
    assert summary.label_count == 2 and summary.flagged_label_count == 1 and summary.first_flagged_ms == 100
    assert summary.categories == {"Violence", "Alcohol"} and summary.flagged_categories == {"Violence"}
    assert VideoSummary.from_json(summary.to_json()) == summary
