"""Errors raised by ``classifiers``.

The tree::

    ClassifierError
    ├── TaxonomyError        the taxonomy file is invalid (names the key)
    ├── GazetteerError       the country data is invalid
    ├── LabelError           labeled data breaks the labeling guide (names the line)
    ├── ModelNotFoundError   no model in the given directory
    └── ModelMismatchError   a saved model does not match this code or taxonomy
"""

from __future__ import annotations

__all__ = [
    "ClassifierError",
    "GazetteerError",
    "LabelError",
    "ModelMismatchError",
    "ModelNotFoundError",
    "TaxonomyError",
]


class ClassifierError(Exception):
    """Base class of the errors ``classifiers`` raises on purpose."""


class TaxonomyError(ClassifierError):
    """The taxonomy file is invalid."""


class GazetteerError(ClassifierError):
    """The gazetteer data is invalid."""


class LabelError(ClassifierError):
    """Labeled data does not follow the labeling guide.

    ``problems`` lists ``(line, message)`` pairs; nothing is accepted partially.
    """

    def __init__(self, problems: list[tuple[int, str]], *, path: str | None = None) -> None:
        self.problems = problems
        self.path = path
        where = f"{path}: " if path else ""
        shown = "; ".join(f"line {n}: {m}" for n, m in problems[:10])
        more = f" (and {len(problems) - 10} more)" if len(problems) > 10 else ""
        super().__init__(f"{where}{shown}{more}")


class ModelNotFoundError(ClassifierError):
    """There is no saved model where one was expected."""


class ModelMismatchError(ClassifierError):
    """A saved model was made by other code or for another taxonomy."""
