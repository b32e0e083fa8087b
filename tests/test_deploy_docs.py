"""The deployment files and docs/deploy.md against the code they describe: the environment table
lists every setting with its true default, the example env file is a configuration that starts,
and every `cartwise` command and option named by the Procfile, the compose file, the Dockerfile
and the systemd units exists."""

from __future__ import annotations

import contextlib
import io
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

from cartwise.cli import main
from cartwise.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
DOC = ROOT / "docs" / "deploy.md"
UNITS = sorted((DEPLOY / "systemd").glob("*.service"))


def _settings_rows(
    model: type[BaseModel] = Settings, prefix: str = ""
) -> Iterator[tuple[str, Any]]:
    """(environment variable, default) for every setting, nested groups joined with `__`."""
    for name, field in model.model_fields.items():
        kind = field.annotation
        if isinstance(kind, type) and issubclass(kind, BaseModel):
            yield from _settings_rows(kind, f"{prefix}{name}__")
        else:
            default = field.get_default(call_default_factory=True)
            yield f"CARTWISE_{prefix}{name}".upper(), default


def _default_cell(value: Any) -> str:
    """How the table writes a default."""
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, float):
        return f"`{value:g}`"
    if value == "":
        return "empty"
    return f"`{value}`"


def _environment_table() -> dict[str, str]:
    """The first table under `## Environment` in docs/deploy.md: variable → default cell."""
    section = DOC.read_text().split("\n## Environment\n", 1)[1].split("\n## ", 1)[0]
    lines = section.splitlines()
    start = next(n for n, line in enumerate(lines) if line.startswith("|"))
    rows: dict[str, str] = {}
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        name = re.fullmatch(r"`(CARTWISE_\w+)`", cells[0])
        if name:
            rows[name.group(1)] = cells[1]
    return rows


def test_the_environment_table_lists_every_setting_with_its_default() -> None:
    documented = _environment_table()
    expected = dict(_settings_rows())
    missing = [
        f"| `{name}` | {_default_cell(default)} | | … |"
        for name, default in expected.items()
        if name not in documented
    ]
    assert not missing, "add to the table in docs/deploy.md (## Environment):\n" + "\n".join(
        missing
    )
    unknown = sorted(set(documented) - set(expected))
    assert not unknown, f"docs/deploy.md documents settings that do not exist: {unknown}"
    wrong = {
        name: (documented[name], _default_cell(default))
        for name, default in expected.items()
        if documented[name] != _default_cell(default)
    }
    assert not wrong, f"defaults in docs/deploy.md differ (documented, actual): {wrong}"


def _env_file(path: Path) -> dict[str, str]:
    pairs = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            key, _, value = line.partition("=")
            pairs[key] = value
    return pairs


def test_the_example_env_file_is_a_production_configuration_that_starts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    example = DEPLOY / "cartwise.env.example"
    settings_names = dict(_settings_rows())
    commented = re.findall(r"^# (CARTWISE_\w+)=", example.read_text(), re.M)
    values = _env_file(example)
    assert not (set(values) | set(commented)) - set(settings_names)
    for name in list(settings_names):
        monkeypatch.delenv(name, raising=False)
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    settings = Settings()
    settings.check()  # outside demo mode: a long enough secret key
    assert settings.demo_mode is False
    assert settings.jobs.in_process is False
    assert settings.resolved_database_url().startswith("postgresql://")
    assert settings.redis_url and settings.redis_url.startswith("redis://")
    assert settings.shopify.configured


def _help(*words: str) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main([*words, "--help"]) == 0
    return out.getvalue()


def _subcommands(help_text: str) -> set[str]:
    listing = help_text.split("\ncommands:\n", 1)[1]
    return set(re.findall(r"^ {4}([a-z][\w-]*)", listing, re.M))


def _check_cartwise_command(argv: list[str], where: str) -> None:
    """`argv` (starting at the program) names only commands and options `cartwise` has."""
    assert Path(argv[0]).name == "cartwise", f"{where}: not a cartwise command: {argv}"
    words: list[str] = []
    rest = argv[1:]
    while rest and not rest[0].startswith("-"):
        assert rest[0] in _subcommands(_help(*words)), (
            f"{where}: `cartwise {' '.join([*words, rest[0]])}` is not a command "
            f"({' '.join(['cartwise', *words, '--help'])})"
        )
        words.append(rest.pop(0))
    assert words, f"{where}: no command in {argv}"
    options = _help(*words)
    for token in rest:
        if token.startswith("--"):
            option = token.split("=", 1)[0]
            assert re.search(rf"(^|\s){re.escape(option)}\b", options), (
                f"{where}: `cartwise {' '.join(words)}` has no option {option}"
            )


def _procfile() -> dict[str, str]:
    lines = (DEPLOY / "Procfile").read_text().splitlines()
    return dict(line.split(": ", 1) for line in lines if line.strip())


def _compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    return loaded


def _commands() -> list[pytest.ParameterSet]:
    found = [
        pytest.param(shlex.split(command), id=f"Procfile-{kind}")
        for kind, command in _procfile().items()
    ]
    for name, service in _compose()["services"].items():
        if "build" in service:
            found.append(pytest.param(service["command"], id=f"compose-{name}"))
    cmd = re.search(r"^CMD (\[.*\])$", (DEPLOY / "Dockerfile").read_text(), re.M)
    assert cmd is not None
    found.append(pytest.param(yaml.safe_load(cmd.group(1)), id="Dockerfile-CMD"))
    for unit in UNITS:
        for line in re.findall(r"^ExecStart=(.+)$", unit.read_text(), re.M):
            found.append(pytest.param(shlex.split(line), id=unit.name))
    return found


@pytest.mark.parametrize("argv", _commands())
def test_every_command_the_deployment_files_run_exists(
    argv: list[str], request: pytest.FixtureRequest
) -> None:
    _check_cartwise_command(argv, request.node.callspec.id)


def test_the_procfile_runs_the_release_step_the_web_and_a_worker() -> None:
    processes = {kind: shlex.split(command)[1:3] for kind, command in _procfile().items()}
    assert processes == {
        "release": ["db", "upgrade"],
        "web": ["serve", "--host"],
        "worker": ["worker"],
    }


def test_compose_is_labelled_not_run_and_wires_the_production_profile() -> None:
    text = (DEPLOY / "compose.yaml").read_text()
    assert text.startswith("# NOT RUN")
    services = _compose()["services"]
    assert set(services) == {"postgres", "redis", "migrate", "web", "worker"}
    assert services["migrate"]["command"] == ["cartwise", "db", "upgrade"]
    for name in ("web", "worker"):
        service = services[name]
        env = service["environment"]
        assert env["CARTWISE_DATABASE_URL"].startswith("postgresql://"), name
        assert env["CARTWISE_REDIS_URL"].startswith("redis://"), name
        assert env["CARTWISE_JOBS__IN_PROCESS"] == "false", name
        assert service["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
    assert services["web"]["command"][:2] == ["cartwise", "serve"]
    assert services["worker"]["command"] == ["cartwise", "worker"]


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="needs systemd-analyze")
def test_the_systemd_units_verify(tmp_path: Path) -> None:
    """`systemd-analyze verify` on each unit, with `ExecStart` pointed at the installed
    `cartwise` (it checks that the program exists) and the env file at the example."""
    program = str(Path(sys.executable).with_name("cartwise"))
    assert Path(program).exists(), "cartwise is not installed beside this Python"
    shutil.copy(DEPLOY / "cartwise.env.example", tmp_path / "cartwise.env")
    units = []
    for unit in UNITS:
        text = unit.read_text().replace("/opt/cartwise/venv/bin/cartwise", program)
        text = text.replace("/etc/cartwise/cartwise.env", str(tmp_path / "cartwise.env"))
        (tmp_path / unit.name).write_text(text)
        units.append(str(tmp_path / unit.name))
    done = subprocess.run(
        ["systemd-analyze", "verify", *units],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=tmp_path,
    )
    assert done.returncode == 0 and not done.stderr.strip(), done.stderr
