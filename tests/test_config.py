from __future__ import annotations

from pathlib import Path

import pytest

from monitor.config import Settings, check_source_spec, default_sources, load_settings
from monitor.errors import ConfigError
from monitor.types import SourceSpec

ROOT = Path(__file__).resolve().parents[1]


def test_no_file_needed_defaults_are_complete() -> None:
    settings = load_settings(None, env={})
    assert settings.home_country == "AZ"
    assert settings.resolved_database_url == "sqlite:///data/monitor.db"
    assert settings.fetch.allow_private is False and settings.fetch.allowed_hosts == ()
    assert len(settings.all_sources()) == len(default_sources()) >= 20


def test_default_sources_cover_the_mission_languages_and_kinds() -> None:
    sources = default_sources()
    assert {s.language for s in sources} >= {"en", "az", "ru", "tr"}
    assert {s.kind for s in sources} >= {"feed", "page"}
    assert all(s.note for s in sources), "every default source says what it is"
    assert any("news.google.com/rss/search" in s.url for s in sources)
    assert len({s.name for s in sources}) == len(sources)


def test_environment_overrides_the_file(tmp_path: Path) -> None:
    path = tmp_path / "m.toml"
    path.write_text('database_url = "sqlite:///file.db"\nhome_country = "TR"\n')
    env = {"MONITOR_DATABASE_URL": "postgresql+psycopg://u@h/db", "MONITOR_HOME_COUNTRY": "ge",
           "MONITOR_ALLOW_HOSTS": "127.0.0.1, 10.0.0.0/8"}
    settings = load_settings(path, env=env)
    assert settings.resolved_database_url == "postgresql+psycopg://u@h/db"
    assert settings.home_country == "GE"
    assert settings.fetch.allowed_hosts == ("127.0.0.1", "10.0.0.0/8")
    assert settings.config_path == path


def test_monitor_config_variable_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "m.toml"
    path.write_text('home_country = "KZ"\n')
    assert load_settings(None, env={"MONITOR_CONFIG": str(path)}).home_country == "KZ"


def test_file_sources_come_first_and_replace_defaults_by_name(tmp_path: Path) -> None:
    first = default_sources()[0]
    path = tmp_path / "m.toml"
    path.write_text(f'[[sources]]\nname = "{first.name}"\nurl = "https://mine.example/rss"\n'
                    '[[sources]]\nname = "extra"\nurl = "https://extra.example/rss"\n')
    settings = load_settings(path, env={})
    by_name = {s.name: s for s in settings.all_sources()}
    assert by_name[first.name].url == "https://mine.example/rss"
    assert "extra" in by_name
    assert len(settings.all_sources()) == len(default_sources()) + 1


@pytest.mark.parametrize(
    ("text", "key", "line", "message"),
    [
        ('home_country = "AZ"\n\n[fetch]\ntimeout = 3\n', "fetch.timeout", 4, "unknown key"),
        ('[fetch]\nread_timeout = "slow"\n', "fetch.read_timeout", 2, "must be a number"),
        ('[[sources]]\nname = "a"\nurl = "https://a.org/"\n\n[[sources]]\nname = "b"\n'
         'url = "https://b.org/"\ninterval = "often"\n', "sources[1].interval", 8,
         "must be a number"),
        ('[[sources]]\nname = "a"\nurl = "ftp://a.org/"\n', "sources[0].url", 3,
         "absolute http"),
        ('[[sources]]\nname = "a"\nurl = "https://a.org/"\nkind = "atom"\n', "sources[0].kind",
         4, "must be one of feed | page | sitemap"),
        ('home_country = "Azerbaijan"\n', "home_country", 1, "alpha-2"),
        ('[schedule]\njitter = 3\n', "schedule.jitter", 2, "between 0 and 1"),
    ],
)
def test_bad_config_names_key_and_line(
    tmp_path: Path, text: str, key: str, line: int, message: str
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_settings(path, env={})
    assert info.value.key == key
    assert info.value.line == line
    assert message in str(info.value)
    assert f"{path}:{line}: {key}:" in str(info.value)


def test_toml_syntax_error_has_a_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('home_country = "AZ"\ndata_dir = \n')
    with pytest.raises(ConfigError) as info:
        load_settings(path, env={})
    assert info.value.line == 2
    assert "not valid TOML" in str(info.value)


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_settings(tmp_path / "nope.toml", env={})


def test_example_config_in_deploy_is_valid() -> None:
    settings = load_settings(ROOT / "deploy" / "monitor.example.toml", env={})
    assert isinstance(settings, Settings)
    assert {s.name for s in settings.sources} == {"cardiology-institute", "ministry-press-page"}


def test_check_source_spec_rejects_bad_command_line_sources() -> None:
    check_source_spec(SourceSpec("ok-name", "https://example.org/rss"))
    with pytest.raises(ConfigError, match=r"source\.name"):
        check_source_spec(SourceSpec("Bad Name!", "https://example.org/rss"))
    with pytest.raises(ConfigError, match="link_pattern"):
        check_source_spec(SourceSpec("p", "https://example.org/", kind="page",
                                     link_pattern="(unclosed"))


def test_default_seeds_dir_is_the_checkouts_seeds() -> None:
    assert (Settings().seeds_dir / "labels.jsonl").is_file()


_NOTIFY = """
[mail]
host = "smtp.example.org"
sender = "monitor@example.org"

[[channels]]
name = "desk"
kind = "email"
to = ["desk@example.org"]

[[alerts.rules]]
name = "turkey"
countries = ["TR"]
domains = ["cardiology"]
channels = ["desk"]

[[digests]]
name = "morning"
to = ["team@example.org"]
time = "07:30"
timezone = "Asia/Baku"
"""


def test_alert_and_digest_sections_load_and_smtp_secrets_come_from_the_environment(
        tmp_path: Path) -> None:
    path = tmp_path / "m.toml"
    path.write_text(_NOTIFY)
    settings = load_settings(path, env={"MONITOR_SMTP_USERNAME": "bot",
                                        "MONITOR_SMTP_PASSWORD": "s3cret"})
    assert settings.alerts.rules[0].countries == ("TR",)
    assert settings.channel("desk") is not None and settings.digest("morning") is not None
    assert (settings.mail.username, settings.mail.password) == ("bot", "s3cret")
    assert "s3cret" not in repr(settings)


@pytest.mark.parametrize(("change", "key", "message"), [
    (('host = "smtp.example.org"', 'host = "x"\npassword = "p"'), "mail.password",
     "MONITOR_SMTP_PASSWORD"),
    (('channels = ["desk"]', 'channels = ["nope"]'), "alerts.rules[0].channels",
     "no channel named 'nope'"),
    (('domains = ["cardiology"]', 'domains = ["heart"]'), "alerts.rules[0].domains",
     "unknown domain 'heart'"),
    (('countries = ["TR"]', 'countries = ["tr"]'), "alerts.rules[0].countries",
     "upper-case"),
    (('time = "07:30"', 'time = "7.30"'), "digests[0].time", "HH:MM"),
    (('timezone = "Asia/Baku"', 'timezone = "Mars/Olympus"'), "digests[0].timezone",
     "unknown time zone"),
    (('to = ["team@example.org"]', 'to = ["team\\r\\nBcc: x@y.org"]'), "digests[0].to",
     "not an email address"),
    (('name = "turkey"', 'name = "builtin-x"'), "alerts.rules[0].name", "reserved"),
])
def test_bad_alert_and_digest_config_names_key_and_line(
        tmp_path: Path, change: tuple[str, str], key: str, message: str) -> None:
    path = tmp_path / "m.toml"
    path.write_text(_NOTIFY.replace(*change))
    with pytest.raises(ConfigError) as info:
        load_settings(path, env={})
    assert info.value.key == key and message in str(info.value)
    assert info.value.line is not None
