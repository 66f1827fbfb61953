"""Classifiers: relevance, partner countries and health domains (no feeds, no database).

Texts and labels in, predictions out::

    from classifiers import Document, load_model, save_model, train

    clf = train([])                      # the seeds, plus any labeled items given
    [p] = clf.predict([Document("1", "Azerbaijan and Latvia ...", "...")])
    p.relevant, p.countries, p.domains, p.scores, p.evidence
    save_model(clf, "models/current")    # numpy arrays + a JSON sidecar, never pickle
    clf = load_model("models/current")
"""

from __future__ import annotations

from classifiers.countries import partner_countries, party_codes
from classifiers.dataset import (
    load_seeds,
    parse_labeled_lines,
    read_labeled,
    split_passages,
    write_labeled,
)
from classifiers.errors import (
    ClassifierError,
    GazetteerError,
    LabelError,
    ModelMismatchError,
    ModelNotFoundError,
    TaxonomyError,
)
from classifiers.evaluation import EvaluationReport, cross_validate, evaluate
from classifiers.persistence import load_model, read_sidecar, save_model
from classifiers.prediction import Classifier, Evidence, Explanation
from classifiers.taxonomy import DOMAIN_IDS, Taxonomy, load_taxonomy
from classifiers.training import train
from classifiers.types import CountryEvidence, CueHit, Document, LabeledItem, Mention, Prediction

__all__ = [
    "DOMAIN_IDS",
    "Classifier",
    "ClassifierError",
    "CountryEvidence",
    "CueHit",
    "Document",
    "EvaluationReport",
    "Evidence",
    "Explanation",
    "GazetteerError",
    "LabelError",
    "LabeledItem",
    "Mention",
    "ModelMismatchError",
    "ModelNotFoundError",
    "Prediction",
    "Taxonomy",
    "TaxonomyError",
    "cross_validate",
    "evaluate",
    "load_model",
    "load_seeds",
    "load_taxonomy",
    "parse_labeled_lines",
    "partner_countries",
    "party_codes",
    "read_labeled",
    "read_sidecar",
    "save_model",
    "split_passages",
    "train",
    "write_labeled",
]
