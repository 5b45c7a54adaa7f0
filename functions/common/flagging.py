"""When a detection flags a video: a threshold per top-level category, some categories ignored."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from functions.common.models import Detection, RawDetection, VideoSummary
from functions.common.taxonomy import TopCategoryResolver


@dataclass(frozen=True)
class FlagPolicy:
    """The flag threshold (0–100), per-category overrides and ignored categories."""

    threshold: float = 80.0
    category_thresholds: Mapping[str, float] = field(default_factory=dict)
    ignored_categories: frozenset[str] = frozenset()

    def is_ignored(self, top_category: str) -> bool:
        return top_category in self.ignored_categories

    def threshold_for(self, top_category: str) -> float:
        return self.category_thresholds.get(top_category, self.threshold)

    def flags(self, top_category: str, confidence: float) -> bool:
        """True when a detection in this category at this confidence flags the video."""
        return not self.is_ignored(top_category) and confidence >= self.threshold_for(top_category)


class DetectionClassifier:
    """Numbers a job's detections, resolves their categories and applies the flag policy."""

    def __init__(self, policy: FlagPolicy, start_index: int = 0) -> None:
        self.policy = policy
        self._resolver = TopCategoryResolver()
        self._next_index = start_index

    @property
    def next_index(self) -> int:
        """Index the next detection will get (= detections classified so far, resumes included)."""
        return self._next_index

    def classify(self, raws: Iterable[RawDetection], summary: VideoSummary) -> list[Detection]:
        """Turn one page of raw detections into detections, folding each into the summary."""
        raws = list(raws)
        for raw in raws:
            self._resolver.learn(raw.name, raw.parent_name)
        detections = []
        for raw in raws:
            top = self._resolver.top_category(raw.name, raw.parent_name, raw.taxonomy_level)
            detection = Detection(
                index=self._next_index,
                raw=raw,
                top_category=top,
                flagged=self.policy.flags(top, raw.confidence),
            )
            self._next_index += 1
            summary.add(detection, ignored=self.policy.is_ignored(top))
            detections.append(detection)
        return detections
