"""Rekognition moderation taxonomy v7: the top-level categories and how labels roll up to them."""

from __future__ import annotations

TOP_LEVEL_CATEGORIES: tuple[str, ...] = (
    "Explicit",
    "Non-Explicit Nudity of Intimate parts and Kissing",
    "Swimwear or Underwear",
    "Violence",
    "Visually Disturbing",
    "Drugs & Tobacco",
    "Alcohol",
    "Rude Gestures",
    "Gambling",
    "Hate Symbols",
)

# Level-2 label -> its top-level category (taxonomy v7). Level-3 labels name a level-2 parent.
LEVEL2_PARENTS: dict[str, str] = {
    "Explicit Nudity": "Explicit",
    "Explicit Sexual Activity": "Explicit",
    "Sex Toys": "Explicit",
    "Non-Explicit Nudity": "Non-Explicit Nudity of Intimate parts and Kissing",
    "Obstructed Intimate Parts": "Non-Explicit Nudity of Intimate parts and Kissing",
    "Kissing on the Lips": "Non-Explicit Nudity of Intimate parts and Kissing",
    "Female Swimwear or Underwear": "Swimwear or Underwear",
    "Male Swimwear or Underwear": "Swimwear or Underwear",
    "Weapons": "Violence",
    "Graphic Violence": "Violence",
    "Death and Emaciation": "Visually Disturbing",
    "Crashes": "Visually Disturbing",
    "Products": "Drugs & Tobacco",
    "Drugs & Tobacco Paraphernalia & Use": "Drugs & Tobacco",
    "Alcohol Use": "Alcohol",
    "Alcoholic Beverages": "Alcohol",
    "Middle Finger": "Rude Gestures",
    "Gambling": "Gambling",
    "Nazi Party": "Hate Symbols",
    "White Supremacy": "Hate Symbols",
    "Extremist": "Hate Symbols",
}

UNKNOWN_CATEGORY = "Unknown"


class TopCategoryResolver:
    """Maps a label to its top-level category, learning parents from the job's own results.

    Rekognition reports a label's direct parent only; level-3 labels need the level-2 parent's
    parent. The built-in v7 map covers today's taxonomy, and parents seen in the same job cover
    labels a newer taxonomy adds.
    """

    def __init__(self) -> None:
        self._learned: dict[str, str] = {}

    def learn(self, name: str, parent: str) -> None:
        """Remember a (label, parent) pair seen in the results."""
        if parent:
            self._learned.setdefault(name, parent)

    def top_category(self, name: str, parent: str, level: int | None) -> str:
        """Top-level category of a label given its direct parent."""
        if not parent:
            return name
        seen = {name}
        current = parent
        while True:
            if current in TOP_LEVEL_CATEGORIES and current not in LEVEL2_PARENTS:
                return current
            next_parent = LEVEL2_PARENTS.get(current) or self._learned.get(current)
            if next_parent is None:
                return current if level == 2 else UNKNOWN_CATEGORY
            if next_parent == current or next_parent in seen:
                return next_parent
            seen.add(current)
            current = next_parent
