"""Frame classifiers and the v7 taxonomy: findings, their expansion into Rekognition labels, NudeNet offline."""

from __future__ import annotations

import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, NamedTuple

import numpy as np
import pytest

from functions.common.flagging import DetectionClassifier, FlagPolicy
from functions.common.models import RawDetection, VideoSummary
from functions.common.taxonomy import LEVEL2_PARENTS, TOP_LEVEL_CATEGORIES
from sandbox.rekognition.classifier import (
    ALCOHOL,
    BLOOD_AND_WEAPONS,
    CLEAN,
    DEFAULT_PALETTE,
    LEVEL3_PARENTS,
    LOW_CONFIDENCE,
    NUDENET_LABELS,
    NUDITY,
    PALETTE_TOLERANCE,
    SMOKING_AND_DRINKING,
    SWIMWEAR,
    WEAPONS,
    Finding,
    ModerationLabel,
    NudeNetClassifier,
    PaletteClassifier,
    classifier_by_name,
    expand,
    known_labels,
)
from sandbox.rekognition.service import DEFAULT_MIN_CONFIDENCE


def solid(color: tuple[int, int, int], height: int = 48, width: int = 64) -> np.ndarray:
    frame = np.empty((height, width, 3), dtype=np.uint8)
    frame[:] = color
    return frame


# --- taxonomy and expand -------------------------------------------------------------------------------


def test_every_level3_parent_is_a_v7_level2_label() -> None:
    assert set(LEVEL3_PARENTS.values()) <= set(LEVEL2_PARENTS)
    assert set(LEVEL2_PARENTS.values()) <= set(TOP_LEVEL_CATEGORIES)


def test_expand_adds_both_ancestors_of_a_level3_label() -> None:
    assert expand([Finding("Exposed Female Nipple", 97.0)]) == (
        ModerationLabel("Explicit", "", 1, 97.0),
        ModerationLabel("Explicit Nudity", "Explicit", 2, 97.0),
        ModerationLabel("Exposed Female Nipple", "Explicit Nudity", 3, 97.0),
    )


def test_expand_adds_the_top_level_of_a_level2_label() -> None:
    assert expand([Finding("Alcoholic Beverages", 72.0)]) == (
        ModerationLabel("Alcohol", "", 1, 72.0),
        ModerationLabel("Alcoholic Beverages", "Alcohol", 2, 72.0),
    )


def test_expand_gives_each_ancestor_its_most_confident_descendant_once() -> None:
    # Given three violence findings at different levels and confidences
    findings = [Finding("Weapons", 77.0), Finding("Blood & Gore", 81.0), Finding("Physical Violence", 60.0)]

    # When expanded
    labels = expand(findings)

    # Then Violence and Graphic Violence appear once each, as confident as their best descendant
    assert labels == (
        ModerationLabel("Violence", "", 1, 81.0),
        ModerationLabel("Graphic Violence", "Violence", 2, 81.0),
        ModerationLabel("Weapons", "Violence", 2, 77.0),
        ModerationLabel("Blood & Gore", "Graphic Violence", 3, 81.0),
        ModerationLabel("Physical Violence", "Graphic Violence", 3, 60.0),
    )


def test_expand_keeps_a_label_found_directly_at_its_own_confidence_when_higher() -> None:
    labels = expand([Finding("Graphic Violence", 90.0), Finding("Blood & Gore", 70.0), Finding("Blood & Gore", 75.0)])

    assert labels == (
        ModerationLabel("Violence", "", 1, 90.0),
        ModerationLabel("Graphic Violence", "Violence", 2, 90.0),
        ModerationLabel("Blood & Gore", "Graphic Violence", 3, 75.0),
    )


def test_expand_reports_gambling_at_both_levels() -> None:
    # "Gambling" is a level-1 category and its own level-2 label
    assert expand([Finding("Gambling", 66.0)]) == (
        ModerationLabel("Gambling", "", 1, 66.0),
        ModerationLabel("Gambling", "Gambling", 2, 66.0),
    )


def test_expand_keeps_separate_top_levels_apart() -> None:
    labels = expand([Finding("Smoking", 66.0), Finding("Drinking", 58.0)])

    assert [(label.name, label.parent_name, label.taxonomy_level, label.confidence) for label in labels] == [
        ("Drugs & Tobacco", "", 1, 66.0),
        ("Alcohol", "", 1, 58.0),
        ("Drugs & Tobacco Paraphernalia & Use", "Drugs & Tobacco", 2, 66.0),
        ("Alcohol Use", "Alcohol", 2, 58.0),
        ("Smoking", "Drugs & Tobacco Paraphernalia & Use", 3, 66.0),
        ("Drinking", "Alcohol Use", 3, 58.0),
    ]


def test_expand_of_nothing_is_nothing() -> None:
    assert expand([]) == ()


def test_expand_rejects_an_unknown_label() -> None:
    with pytest.raises(ValueError, match="'Nudity'"):  # a v6 name, gone from v7
        expand([Finding("Weapons", 90.0), Finding("Nudity", 80.0)])


# --- PaletteClassifier -------------------------------------------------------------------------------


class Outcome(NamedTuple):
    """What a video of one palette colour comes to in modlake: top-level categories and the video's max confidence."""

    seen: set[str]  # what the frame's findings roll up to, at any confidence
    reported: set[str]  # what Rekognition returns at its default MinConfidence
    flagged: set[str]  # what modlake's default flag policy flags
    max_confidence: float | None


# Each colour's meaning, as its docstring and the README's demo (which flags beach-party.mp4 at 97.0 for Explicit
# and Swimwear or Underwear, and action-trailer.mp4 at 91.0 for Violence) promise it.
PALETTE_OUTCOMES = {
    CLEAN: Outcome(set(), set(), set(), None),
    NUDITY: Outcome({"Explicit"}, {"Explicit"}, {"Explicit"}, 97.0),
    SWIMWEAR: Outcome({"Swimwear or Underwear"}, {"Swimwear or Underwear"}, {"Swimwear or Underwear"}, 88.0),
    WEAPONS: Outcome({"Violence"}, {"Violence"}, {"Violence"}, 91.0),
    ALCOHOL: Outcome({"Alcohol"}, {"Alcohol"}, set(), 72.0),  # seen, but below the flag threshold
    LOW_CONFIDENCE: Outcome({"Explicit"}, set(), set(), None),  # seen, but below MinConfidence: never reported
    BLOOD_AND_WEAPONS: Outcome({"Violence"}, {"Violence"}, {"Violence"}, 81.0),
    SMOKING_AND_DRINKING: Outcome({"Drugs & Tobacco", "Alcohol"}, {"Drugs & Tobacco", "Alcohol"}, set(), 66.0),
}


def test_every_palette_colour_has_an_expected_outcome() -> None:
    assert set(PALETTE_OUTCOMES) == set(DEFAULT_PALETTE)


@pytest.mark.parametrize("color", list(PALETTE_OUTCOMES), ids=str)
def test_a_palette_colour_frame_is_reported_and_flagged_as_documented(color: tuple[int, int, int]) -> None:
    # Given a frame of the colour, classified and expanded as the local Rekognition does
    findings = PaletteClassifier().classify(solid(color))
    labels = expand(findings)
    reported = [label for label in labels if label.confidence >= DEFAULT_MIN_CONFIDENCE]
    # When modlake's collector classifies what Rekognition would return, with the default flag policy
    summary = VideoSummary()
    raws = [
        RawDetection(0, label.name, label.parent_name, label.taxonomy_level, label.confidence) for label in reported
    ]
    DetectionClassifier(FlagPolicy()).classify(raws, summary)
    # Then the findings are level-2 or level-3 labels (what a classifier reports), and the frame comes to the
    # categories, flags and confidence the colour stands for
    assert {finding.label for finding in findings} <= {label.name for label in labels if label.taxonomy_level > 1}
    seen = {label.name for label in labels if label.taxonomy_level == 1}
    outcome = Outcome(seen, summary.categories, summary.flagged_categories, summary.max_confidence)
    assert outcome == PALETTE_OUTCOMES[color]


def test_palette_colours_are_far_enough_apart_not_to_be_confused() -> None:
    colors = np.array(list(DEFAULT_PALETTE), dtype=int)
    for index, color in enumerate(colors):
        others = np.delete(colors, index, axis=0)
        assert np.abs(others - color).max(axis=1).min() > 2 * PALETTE_TOLERANCE


def test_palette_matches_the_mean_colour_within_tolerance() -> None:
    classifier = PaletteClassifier()
    # Half the frame 20 brighter, half 20 darker: the mean is exactly WEAPONS
    frame = solid(WEAPONS).astype(np.int16)
    frame[:24] += 20
    frame[24:] -= 20
    assert classifier.classify(frame.astype(np.uint8)) == [Finding("Weapons", 91.0)]
    # Within tolerance on every channel still matches; one channel beyond it does not
    near = (WEAPONS[0] + PALETTE_TOLERANCE, WEAPONS[1] - PALETTE_TOLERANCE, WEAPONS[2])
    far = (WEAPONS[0], WEAPONS[1] - PALETTE_TOLERANCE - 2, WEAPONS[2])
    assert classifier.classify(solid(near)) == [Finding("Weapons", 91.0)]
    assert classifier.classify(solid(far)) == []
    assert classifier.classify(solid((0, 0, 0))) == []


def test_palette_rejects_a_palette_with_an_unknown_label() -> None:
    with pytest.raises(ValueError, match="Violence Light"):
        PaletteClassifier({(1, 2, 3): (Finding("Violence Light", 50.0),)})


@pytest.mark.parametrize(
    "frame",
    [np.zeros((4, 4), np.uint8), np.zeros((4, 4, 4), np.uint8), np.zeros((4, 4, 3), np.float32)],
)
def test_classifiers_reject_a_frame_that_is_not_rgb_uint8(frame: np.ndarray) -> None:
    with pytest.raises(ValueError, match="RGB uint8"):
        PaletteClassifier().classify(frame)
    with pytest.raises(ValueError, match="RGB uint8"):
        NudeNetClassifier(detector_factory=lambda threads: RecordingDetector([])).classify(frame)


# --- NudeNetClassifier ----------------------------------------------------------------------------------


class RecordingDetector:
    """Stands in for nudenet.NudeDetector: returns canned detections and keeps the images it was given."""

    def __init__(self, detections: list[dict[str, Any]]) -> None:
        self.detections = detections
        self.images: list[np.ndarray] = []

    def detect(self, image_path: Any) -> list[dict[str, Any]]:
        self.images.append(image_path)
        return self.detections


def test_nudenet_detections_map_to_v7_labels_keeping_the_best_score() -> None:
    # Given a detector that sees two exposed breasts, buttocks and an anus, a face and covered buttocks
    detector = RecordingDetector(
        [
            {"class": "FEMALE_BREAST_EXPOSED", "score": 0.61, "box": [0, 0, 5, 5]},
            {"class": "FEMALE_BREAST_EXPOSED", "score": 0.83, "box": [9, 0, 5, 5]},
            {"class": "BUTTOCKS_EXPOSED", "score": 0.4, "box": [0, 9, 5, 5]},
            {"class": "ANUS_EXPOSED", "score": 0.55, "box": [0, 9, 2, 2]},
            {"class": "FACE_FEMALE", "score": 0.99, "box": [0, 0, 3, 3]},
            {"class": "BUTTOCKS_COVERED", "score": 0.9, "box": [0, 9, 5, 5]},
        ]
    )
    classifier = NudeNetClassifier(detector_factory=lambda threads: detector)

    # When a frame is classified
    findings = classifier.classify(solid(NUDITY))

    # Then each label appears once at its best score as a percentage; faces and covered buttocks are not labels
    assert [(finding.label, round(finding.confidence, 6)) for finding in findings] == [
        ("Exposed Buttocks or Anus", 55.0),
        ("Exposed Female Nipple", 83.0),
    ]


def test_nudenet_gets_the_frame_in_bgr_as_cv2_imread_gives_it() -> None:
    detector = RecordingDetector([])
    classifier = NudeNetClassifier(detector_factory=lambda threads: detector)

    classifier.classify(solid((10, 20, 30)))

    (image,) = detector.images
    assert image.shape == (48, 64, 3) and image.dtype == np.uint8 and image.flags.c_contiguous
    assert tuple(image[0, 0]) == (30, 20, 10)


def test_nudenet_label_table_maps_real_classes_onto_labels_expand_knows() -> None:
    import nudenet.nudenet

    nudenet_classes = set(vars(nudenet.nudenet)["__labels"])
    assert set(NUDENET_LABELS) <= nudenet_classes
    assert set(NUDENET_LABELS.values()) <= known_labels()
    for label in NUDENET_LABELS.values():
        assert expand([Finding(label, 50.0)])[-1].name == label
    # Faces, feet, armpits and bellies are not moderation content
    assert not {name for name in NUDENET_LABELS if name.split("_")[0] in {"FACE", "FEET", "ARMPITS", "BELLY"}}


def test_nudenet_loads_the_detector_once_across_threads() -> None:
    # Given a slow detector factory, counted
    created: list[int] = []
    lock = threading.Lock()

    def factory(threads: int) -> RecordingDetector:
        time.sleep(0.05)
        with lock:
            created.append(threads)
        return RecordingDetector([])

    classifier = NudeNetClassifier(inference_threads=2, detector_factory=factory)

    # When eight frames are classified from four threads at once
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(classifier.classify, [solid(CLEAN)] * 8))

    # Then one detector was made, with the asked thread count
    assert created == [2]
    assert results == [[]] * 8


def test_nudenet_real_model_runs_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given no network at all
    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("the classifier tried to reach the network")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    classifier = NudeNetClassifier()

    # When the real model loads from the wheel and classifies a synthetic frame (a gradient, no people)
    classifier.load()
    ramp = np.linspace(0, 255, 160, dtype=np.uint8)
    frame = np.stack(np.broadcast_arrays(ramp[None, :], ramp[:, None] // 2, np.uint8(90)), axis=-1).copy()
    findings = classifier.classify(frame[:120])

    # Then it returns a list with no moderation findings
    assert findings == []


def test_classifier_by_name() -> None:
    assert isinstance(classifier_by_name("palette"), PaletteClassifier)
    nudenet = classifier_by_name("nudenet")
    assert isinstance(nudenet, NudeNetClassifier) and nudenet.name == "nudenet"
    with pytest.raises(ValueError, match="nudenet, palette"):
        classifier_by_name("rekognition")
