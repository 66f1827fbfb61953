"""Values the classifiers take and give. Texts and labels in, never database rows."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["CountryEvidence", "CueHit", "Document", "LabeledItem", "Mention", "Prediction"]


@dataclass(frozen=True, slots=True)
class Document:
    """One text to classify."""

    id: str
    title: str
    text: str
    language: str | None = None


@dataclass(frozen=True, slots=True)
class LabeledItem:
    """One labeled item in the labeling guide's format."""

    id: str
    title: str
    text: str
    relevant: bool
    countries: tuple[str, ...] = ()
    domains: tuple[str, ...] = ()
    language: str | None = None
    url: str = ""

    @property
    def document(self) -> Document:
        return Document(self.id, self.title, self.text, self.language)


@dataclass(frozen=True, slots=True)
class Mention:
    """A place in the text that names a country (name, demonym, city, institution)."""

    code: str  # ISO 3166-1 alpha-2
    surface: str  # the words as written
    start: int  # character offsets in the text given (title + "\n\n" + text)
    end: int
    kind: str  # name | demonym | city | capital | alias


@dataclass(frozen=True, slots=True)
class CountryEvidence:
    """A country found in a text, with whether it is a party to the cooperation."""

    code: str
    party: bool
    score: float  # 0..1, how strongly the text makes it a party
    mentions: tuple[Mention, ...]
    reasons: tuple[str, ...] = ()  # e.g. "in title", "near 'signed'", "only in references"


@dataclass(frozen=True, slots=True)
class CueHit:
    """A taxonomy cue term found in a text."""

    domain: str
    term: str
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Prediction:
    """What the classifier says of one document."""

    id: str
    relevant: bool
    relevance: float
    countries: tuple[str, ...]
    domains: tuple[str, ...]
    scores: Mapping[str, float]  # domain id -> calibrated probability
    model_version: str
    evidence: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # tag -> words
