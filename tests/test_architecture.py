"""The import arrows of the design, and the curated public names."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# package -> packages it must never import
FORBIDDEN = {
    "storage": ("monitor", "classifiers"),
    "classifiers": ("monitor", "storage"),
}
# stage modules: may import monitor.types/errors/config and their libraries, not each other
STAGES = ("fetching", "sources", "extraction", "dedupe", "tagging")
STAGE_ALLOWED = {"monitor.types", "monitor.errors", "monitor.config"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def _modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_storage_and_classifiers_never_import_monitor(package: str) -> None:
    bad = []
    for path in _modules(package):
        for name in _imports(path):
            if name.split(".")[0] in FORBIDDEN[package]:
                bad.append(f"{path.relative_to(ROOT)} imports {name}")
    assert not bad, "\n".join(bad)


def test_stages_do_not_import_each_other_or_the_pipeline() -> None:
    bad = []
    for stage in STAGES:
        paths = _modules(f"monitor/{stage}") if (ROOT / "monitor" / stage).is_dir() else [
            ROOT / "monitor" / f"{stage}.py"]
        for path in paths:
            for name in _imports(path):
                if not name.startswith("monitor."):
                    continue
                if name in STAGE_ALLOWED or any(name.startswith(a + ".") for a in STAGE_ALLOWED):
                    continue
                if name.startswith(f"monitor.{stage}"):
                    continue
                bad.append(f"{path.relative_to(ROOT)} imports {name}")
    assert not bad, "\n".join(bad)


def test_only_the_cli_configures_logging_and_reads_argv() -> None:
    bad = []
    for package in ("monitor", "storage", "classifiers"):
        for path in _modules(package):
            rel = path.relative_to(ROOT).as_posix()
            if rel.startswith("monitor/cli/") or rel == "monitor/__main__.py":
                continue
            text = path.read_text(encoding="utf-8")
            for needle in ("logging.basicConfig", "sys.argv", ".addHandler(", "setLevel("):
                if needle in text:
                    bad.append(f"{rel} uses {needle}")
    assert not bad, "\n".join(bad)


def test_only_config_reads_the_environment() -> None:
    bad = []
    for package in ("monitor", "storage", "classifiers"):
        for path in _modules(package):
            rel = path.relative_to(ROOT).as_posix()
            if rel in ("monitor/config/loading.py", "storage/migrations/env.py"):
                continue
            text = path.read_text(encoding="utf-8")
            if "os.environ" in text or "os.getenv" in text:
                bad.append(rel)
    assert not bad, "modules reading the environment: " + ", ".join(bad)


# what alerts and digests say is decided by pure modules; sending is at the edge
PURE = ("alerts", "digests", "rendering", "labeling")
IO_MODULES = ("monitor.pipeline", "monitor.mail", "monitor.webhooks", "monitor.fetching",
              "storage.db", "storage.repository", "smtplib", "httpx", "sqlalchemy", "sqlmodel")


@pytest.mark.parametrize("module", PURE)
def test_message_modules_are_pure(module: str) -> None:
    names = _imports(ROOT / "monitor" / f"{module}.py")
    bad = sorted(n for n in names if any(n == m or n.startswith(m + ".") for m in IO_MODULES))
    assert not bad, f"monitor/{module}.py imports {bad}"


PUBLIC = {
    "monitor.errors": {
        "BlockedAddressError", "ClassificationError", "ConfigError", "DropItem",
        "DeliveryError", "ExtractionError", "FetchError", "PermanentDeliveryError",
        "TemporaryDeliveryError", "LabelingError", "FetchTimeoutError", "GoneError",
        "HTTPStatusError",
        "MonitorError", "ParseError",
        "RateLimitedError", "ResponseTooLargeError", "SourceError", "TooManyRedirectsError",
        "TransportError",
    },
    "storage.errors": {"DatabaseUnavailableError", "MigrationError", "NotFoundError",
                       "StorageError"},
    "monitor.config": {"AlertRule", "AlertSettings", "ChannelSettings", "ClassifierSettings",
                       "DedupeSettings", "DigestSettings", "FetchSettings", "ItemFilter",
                       "MailSettings", "ScheduleSettings", "Settings", "WebSettings", "WebUser",
                       "check_source_spec",
                       "default_sources", "load_settings"},
    "monitor.pipeline": {"Analysis", "Pipeline", "analyse_page", "spec_to_create"},
    "classifiers": {
        "DOMAIN_IDS", "Classifier", "ClassifierError", "CountryEvidence", "CueHit", "Document",
        "EvaluationReport", "Evidence", "Explanation", "GazetteerError", "LabelError",
        "LabeledItem", "Mention", "ModelMismatchError", "ModelNotFoundError", "Prediction",
        "Taxonomy", "TaxonomyError", "cross_validate", "evaluate", "load_model", "load_seeds",
        "load_taxonomy", "parse_labeled_lines", "partner_countries", "party_codes",
        "read_labeled", "read_sidecar", "save_model", "split_passages", "train", "write_labeled",
    },
}


@pytest.mark.parametrize("module", sorted(PUBLIC))
def test_public_names_are_curated(module: str) -> None:
    mod = importlib.import_module(module)
    assert set(mod.__all__) == PUBLIC[module]
    for name in mod.__all__:
        assert getattr(mod, name) is not None, name


def test_error_tree_matches_docstring() -> None:
    import monitor.errors as errors

    doc = errors.__doc__ or ""
    for name in errors.__all__:
        assert name in doc, f"{name} missing from the tree in monitor/errors.py"
        assert issubclass(getattr(errors, name), errors.MonitorError)
