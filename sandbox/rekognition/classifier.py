"""Frame classifiers for the local Rekognition Video moderation, and the v7 taxonomy their labels roll up through.

A classifier looks at one RGB frame and says which Rekognition v7 labels (level 2 or 3) it sees, with a
confidence from 0 to 100. `expand` turns those findings into what Rekognition reports for the frame: each
label plus all its ancestors, each ancestor as confident as its most confident descendant.

Two classifiers: `NudeNetClassifier` runs a real detector (NudeNet's ONNX model, shipped inside its wheel,
so nothing downloads at run time) and covers the nudity and swimwear labels; `PaletteClassifier` is
deterministic, for tests and the demo: a frame's mean colour picks its findings from a palette.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Protocol

import numpy as np

from functions.common.taxonomy import LEVEL2_PARENTS, TOP_LEVEL_CATEGORIES


@dataclass(frozen=True)
class Finding:
    """A Rekognition v7 moderation label name (level 2 or 3) seen in one frame, with confidence 0–100."""

    label: str
    confidence: float


@dataclass(frozen=True)
class ModerationLabel:
    """One moderation label as Rekognition reports it: `parent_name` is "" at taxonomy level 1."""

    name: str
    parent_name: str
    taxonomy_level: int
    confidence: float


class FrameClassifier(Protocol):
    """What the local moderation needs from a model: findings for one frame. Implementations are thread-safe."""

    name: str

    def classify(self, frame: np.ndarray) -> list[Finding]:
        """Findings in one RGB uint8 frame (height x width x 3); [] when nothing is there."""
        ...


# Level-3 label -> its level-2 parent (taxonomy v7, as in the Rekognition Developer Guide's
# "Label categories" table). Level-2 -> level-1 comes from functions.common.taxonomy.LEVEL2_PARENTS.
LEVEL3_PARENTS: Mapping[str, str] = MappingProxyType(
    {
        "Exposed Male Genitalia": "Explicit Nudity",
        "Exposed Female Genitalia": "Explicit Nudity",
        "Exposed Buttocks or Anus": "Explicit Nudity",
        "Exposed Female Nipple": "Explicit Nudity",
        "Bare Back": "Non-Explicit Nudity",
        "Exposed Male Nipple": "Non-Explicit Nudity",
        "Partially Exposed Buttocks": "Non-Explicit Nudity",
        "Partially Exposed Female Breast": "Non-Explicit Nudity",
        "Implied Nudity": "Non-Explicit Nudity",
        "Obstructed Female Nipple": "Obstructed Intimate Parts",
        "Obstructed Male Genitalia": "Obstructed Intimate Parts",
        "Weapon Violence": "Graphic Violence",
        "Physical Violence": "Graphic Violence",
        "Self-Harm": "Graphic Violence",
        "Blood & Gore": "Graphic Violence",
        "Explosions and Blasts": "Graphic Violence",
        "Emaciated Bodies": "Death and Emaciation",
        "Corpses": "Death and Emaciation",
        "Air Crash": "Crashes",
        "Pills": "Products",
        "Smoking": "Drugs & Tobacco Paraphernalia & Use",
        "Drinking": "Alcohol Use",
    }
)


def taxonomy_path(label: str) -> tuple[str, ...]:
    """The label and its ancestors, from level 1 down to the label itself; unknown names raise ValueError.

    A name that is both a level-1 and a level-2 label ("Gambling") is read as level 2, the level
    classifiers report; a name that is only a top-level category is accepted as level 1.
    """
    if label in LEVEL3_PARENTS:
        parent = LEVEL3_PARENTS[label]
        return (LEVEL2_PARENTS[parent], parent, label)
    if label in LEVEL2_PARENTS:
        return (LEVEL2_PARENTS[label], label)
    if label in TOP_LEVEL_CATEGORIES:
        return (label,)
    raise ValueError(f"{label!r} is not a Rekognition v7 moderation label")


def known_labels() -> frozenset[str]:
    """Every label name `expand` accepts: the v7 taxonomy's levels 1, 2 and 3."""
    return frozenset(LEVEL3_PARENTS) | frozenset(LEVEL2_PARENTS) | frozenset(TOP_LEVEL_CATEGORIES)


def expand(findings: Sequence[Finding]) -> tuple[ModerationLabel, ...]:
    """One frame's findings as Rekognition reports them: each label and all its ancestors, once each.

    An ancestor's confidence is that of its most confident descendant in the frame (and a label found
    directly keeps the higher of its own and its descendants'). Ordered by taxonomy level, then by
    confidence (highest first), then by name, so the output is deterministic.
    """
    confidence: dict[tuple[str, int], float] = {}
    parent_of: dict[tuple[str, int], str] = {}
    for finding in findings:
        path = taxonomy_path(finding.label)
        for depth, name in enumerate(path):
            key = (name, depth + 1)
            confidence[key] = max(confidence.get(key, finding.confidence), finding.confidence)
            parent_of[key] = path[depth - 1] if depth else ""
    labels = (
        ModerationLabel(name=name, parent_name=parent_of[(name, level)], taxonomy_level=level, confidence=value)
        for (name, level), value in confidence.items()
    )
    return tuple(sorted(labels, key=lambda label: (label.taxonomy_level, -label.confidence, label.name)))


# NudeNet 3.4 class -> Rekognition v7 label. Classes not listed (faces, feet, armpits, bellies) are
# not moderation content. BUTTOCKS_COVERED and ANUS_COVERED fire on clothed people (jeans, shorts) and
# say nothing about gender, so they map to no label rather than to a swimwear label that would guess.
# NudeNet's FEMALE_BREAST_EXPOSED box covers the breast with its nipple, which v7 files as
# "Exposed Female Nipple"; covered breasts and genitalia are what its training set shows as
# bikinis and lingerie, hence "Female Swimwear or Underwear".
NUDENET_LABELS: Mapping[str, str] = MappingProxyType(
    {
        "FEMALE_BREAST_EXPOSED": "Exposed Female Nipple",
        "FEMALE_GENITALIA_EXPOSED": "Exposed Female Genitalia",
        "MALE_GENITALIA_EXPOSED": "Exposed Male Genitalia",
        "BUTTOCKS_EXPOSED": "Exposed Buttocks or Anus",
        "ANUS_EXPOSED": "Exposed Buttocks or Anus",
        "MALE_BREAST_EXPOSED": "Exposed Male Nipple",
        "FEMALE_BREAST_COVERED": "Female Swimwear or Underwear",
        "FEMALE_GENITALIA_COVERED": "Female Swimwear or Underwear",
    }
)


class Detector(Protocol):
    """The part of nudenet.NudeDetector we use, so a test can stand in a fake detector."""

    def detect(self, image_path: Any) -> list[dict[str, Any]]:
        """Detections in a BGR image as cv2.imread returns it: [{"class": …, "score": 0–1, "box": […]}]."""
        ...


class NudeNetClassifier:
    """Nudity and swimwear findings from NudeNet's detector (ONNX model loaded from the wheel, once, lazily).

    The onnxruntime session runs `inference_threads` threads (default 1) that sleep rather than spin
    when idle: `analyze` decodes video on the other cores while a frame is classified, and spinning
    inference threads took CPU from the decoder (benchmark: ~1.5 CPU seconds more per 30 s clip).
    Thread-safe: the detector is created under a lock, and onnxruntime sessions and OpenCV calls are
    safe to run concurrently.
    """

    name = "nudenet"

    def __init__(self, inference_threads: int = 1, detector_factory: Callable[[int], Detector] | None = None) -> None:
        if inference_threads < 1:
            raise ValueError(f"inference_threads must be at least 1, got {inference_threads}")
        self.inference_threads = inference_threads
        self._detector_factory = detector_factory or nudenet_detector
        self._detector: Detector | None = None
        self._lock = threading.Lock()

    def load(self) -> None:
        """Load the model now (it otherwise loads on the first frame), e.g. to time loading apart from work."""
        self._loaded()

    def classify(self, frame: np.ndarray) -> list[Finding]:
        """Map NudeNet's detections in one RGB frame onto v7 labels, keeping each label's highest confidence."""
        _check_frame(frame)
        # NudeDetector.detect treats an ndarray as cv2.imread's output (BGR): give it exactly that.
        bgr = np.ascontiguousarray(frame[:, :, ::-1])
        detections: list[dict[str, Any]] = self._loaded().detect(bgr)
        best: dict[str, float] = {}
        for detection in detections:
            label = NUDENET_LABELS.get(detection["class"])
            if label is not None:
                best[label] = max(best.get(label, 0.0), min(float(detection["score"]) * 100.0, 100.0))
        return [Finding(label, confidence) for label, confidence in sorted(best.items())]

    def _loaded(self) -> Detector:
        with self._lock:
            if self._detector is None:
                self._detector = self._detector_factory(self.inference_threads)
            return self._detector


def nudenet_detector(inference_threads: int) -> Detector:
    """NudeNet's detector, its onnxruntime session replaced by one with our thread settings.

    NudeDetector takes no session options, so the session it builds (about 0.1 s, once) is swapped for
    ours; `detect` only uses `onnx_session`. Imported here because onnxruntime is slow to import.
    """
    import nudenet.nudenet
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = inference_threads
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    model = Path(nudenet.nudenet.__file__).with_name("320n.onnx")  # shipped in the wheel: nothing downloads
    detector = nudenet.nudenet.NudeDetector(model_path=str(model))
    detector.onnx_session = onnxruntime.InferenceSession(
        str(model), sess_options=options, providers=["CPUExecutionProvider"]
    )
    return detector


# Palette colours (RGB). Channels stay within 30..230 so a textured clip's texture never clips and each
# frame's mean stays on its colour; any two colours are far more than 2 x PALETTE_TOLERANCE apart.
CLEAN: tuple[int, int, int] = (128, 128, 128)
"""Grey: nothing to moderate."""
NUDITY: tuple[int, int, int] = (220, 30, 30)
"""Red: Exposed Female Nipple 97 (Explicit > Explicit Nudity)."""
SWIMWEAR: tuple[int, int, int] = (230, 130, 30)
"""Orange: Female Swimwear or Underwear 88 (Swimwear or Underwear)."""
WEAPONS: tuple[int, int, int] = (30, 180, 60)
"""Green: Weapons 91 (Violence)."""
ALCOHOL: tuple[int, int, int] = (30, 70, 220)
"""Blue: Alcoholic Beverages 72 (Alcohol)."""
LOW_CONFIDENCE: tuple[int, int, int] = (140, 40, 200)
"""Purple: Exposed Male Genitalia 42, below Rekognition's default MinConfidence of 50."""
BLOOD_AND_WEAPONS: tuple[int, int, int] = (30, 200, 210)
"""Cyan: two findings under one top level: Blood & Gore 81 (Graphic Violence) and Weapons 77 (Violence 81)."""
SMOKING_AND_DRINKING: tuple[int, int, int] = (220, 210, 40)
"""Yellow: two findings under different top levels: Smoking 66 (Drugs & Tobacco) and Drinking 58 (Alcohol)."""

DEFAULT_PALETTE: Mapping[tuple[int, int, int], tuple[Finding, ...]] = MappingProxyType(
    {
        CLEAN: (),
        NUDITY: (Finding("Exposed Female Nipple", 97.0),),
        SWIMWEAR: (Finding("Female Swimwear or Underwear", 88.0),),
        WEAPONS: (Finding("Weapons", 91.0),),
        ALCOHOL: (Finding("Alcoholic Beverages", 72.0),),
        LOW_CONFIDENCE: (Finding("Exposed Male Genitalia", 42.0),),
        BLOOD_AND_WEAPONS: (Finding("Blood & Gore", 81.0), Finding("Weapons", 77.0)),
        SMOKING_AND_DRINKING: (Finding("Smoking", 66.0), Finding("Drinking", 58.0)),
    }
)

PALETTE_TOLERANCE = 24
"""How far (per channel) a frame's mean colour may be from a palette colour and still match it."""


class PaletteClassifier:
    """Deterministic findings from a frame's mean colour, so tests and the demo know exactly what to expect.

    A frame matches the nearest palette colour whose every channel is within `tolerance` of the frame's
    mean; a frame matching none has no findings. Stateless, hence thread-safe.
    """

    name = "palette"

    def __init__(
        self,
        palette: Mapping[tuple[int, int, int], Sequence[Finding]] = DEFAULT_PALETTE,
        tolerance: float = PALETTE_TOLERANCE,
    ) -> None:
        for findings in palette.values():
            for finding in findings:
                taxonomy_path(finding.label)  # fail at construction on a label expand() would reject
        self._colors = np.array(list(palette), dtype=np.float64).reshape(-1, 3)
        self._findings = [tuple(findings) for findings in palette.values()]
        self._tolerance = tolerance

    def classify(self, frame: np.ndarray) -> list[Finding]:
        """The findings of the palette colour this frame's mean colour matches; [] if none."""
        _check_frame(frame)
        if not self._findings:
            return []
        mean = frame.reshape(-1, 3).mean(axis=0)
        distance = np.abs(self._colors - mean).max(axis=1)
        nearest = int(distance.argmin())
        return list(self._findings[nearest]) if distance[nearest] <= self._tolerance else []


CLASSIFIERS: Mapping[str, type[NudeNetClassifier] | type[PaletteClassifier]] = MappingProxyType(
    {NudeNetClassifier.name: NudeNetClassifier, PaletteClassifier.name: PaletteClassifier}
)


def classifier_by_name(name: str) -> FrameClassifier:
    """A new classifier chosen by name (for a `--classifier` flag); unknown names raise ValueError."""
    factory = CLASSIFIERS.get(name)
    if factory is None:
        raise ValueError(f"unknown classifier {name!r}; choose one of: {', '.join(sorted(CLASSIFIERS))}")
    return factory()


def _check_frame(frame: np.ndarray) -> None:
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
        raise ValueError(f"expected an RGB uint8 frame (height x width x 3), got {frame.dtype} {frame.shape}")
