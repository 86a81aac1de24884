"""docker-compose.yml, Dockerfile, Procfile and .env.example agree with each other and with the code.

There is no Docker engine here: the compose file is validated by the Compose client itself (`docker compose config`
or Debian's `docker-compose config`), which parses, interpolates and checks the schema without an engine.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from honcho.environ import parse_procfile
from ops_processes import REPO, base_env

from worker.celery_app import QUEUES
from worker.redis_server import PERSISTENCE_OPTIONS

SERVICES = {"redis", "local_openai", "worker", "web", "flower"}
REQUIRED = {
    "OPENAI_API_KEY": "k-test",
    "WEB_AUTH_TOKEN": "t-test",
    "SECRET_KEY": "s-test",
    "FLOWER_BASIC_AUTH": "u:p",
    "REDIS_PASSWORD": "r0test",
}
# Options that take a value in the commands compared below; the value of the KEPT ones must match exactly.
VALUE_OPTIONS = {
    "-A",
    "-Q",
    "-n",
    "--pool",
    "--concurrency",
    "--loglevel",
    "--host",
    "--port",
    "--data-dir",
    "--bind",
    "--workers",
    "--access-logfile",
    "--address",
}
KEPT = {"-A", "-Q", "--pool"}


def compose_client() -> list[str] | None:
    if shutil.which("docker") and subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0:
        return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    return None


CLIENT = compose_client()
needs_compose = pytest.mark.skipif(
    CLIENT is None,
    reason="neither the Docker Compose plugin (`docker compose`) nor Debian's `docker-compose` is "
    "installed, so the file cannot be validated: apt-get install docker-compose",
)


def compose_config(tmp_path: Path, env_file: Path | None = None, **env: str) -> subprocess.CompletedProcess:
    if env_file is None:
        env_file = tmp_path / "empty.env"
        env_file.write_text("")
    return subprocess.run(
        [*CLIENT, "--env-file", str(env_file), "-f", str(REPO / "docker-compose.yml"), "config"],
        cwd=REPO,
        env=base_env(**env),
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture(scope="module")
def compose(tmp_path_factory) -> dict:
    if CLIENT is None:
        pytest.skip("no Compose client")
    result = compose_config(tmp_path_factory.mktemp("compose"), **REQUIRED)
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)


def signature(argv: list[str]) -> tuple:
    """What a command runs, ignoring where and how big: program or module, positionals, KEPT option values, and
    the names (not values) of the other options."""
    program, rest = Path(argv[0]).name, argv[1:]
    if program.startswith("python") and rest[:1] == ["-m"]:
        program, rest = rest[1], rest[2:]
    positionals, kept, names = [], {}, set()
    tokens = iter(rest)
    for token in tokens:
        if not token.startswith("-"):
            positionals.append(token)
            continue
        name, eq, value = token.partition("=")
        if not eq and name in VALUE_OPTIONS:
            value = next(tokens)
        names.add(name)
        if name in KEPT:
            kept[name] = frozenset(value.split(",")) if name == "-Q" else value
    return program, tuple(positionals), tuple(sorted(kept.items())), frozenset(names)


def procfile_argv() -> dict[str, list[str]]:
    """Each Procfile process's command line: what follows the last `exec` (before it: pidfile and environment)."""
    processes = parse_procfile((REPO / "Procfile").read_text()).processes
    return {name: shlex.split(command.rsplit(" exec ", 1)[1]) for name, command in processes.items()}


def procfile_commands() -> dict[str, list[str]]:
    """Each Procfile process's service command, without the `worker.supervisor ... --` that restarts it."""
    commands = {}
    for name, argv in procfile_argv().items():
        supervised = argv[1:3] == ["-m", "worker.supervisor"]
        commands[name] = argv[argv.index("--") + 1 :] if supervised else argv
    return commands


@needs_compose
def test_compose_file_is_valid_and_has_the_five_services(compose):
    assert set(compose["services"]) == SERVICES


@needs_compose
@pytest.mark.parametrize("missing", sorted(REQUIRED))
def test_each_secret_is_required_with_a_message(tmp_path, missing):
    result = compose_config(tmp_path, **{k: v for k, v in REQUIRED.items() if k != missing})
    assert result.returncode != 0
    assert missing in result.stderr, result.stderr


@needs_compose
def test_env_example_copied_unfilled_fails_loudly(tmp_path):
    result = compose_config(tmp_path, env_file=REPO / ".env.example")
    assert result.returncode != 0
    assert any(name in result.stderr for name in REQUIRED), result.stderr


@needs_compose
def test_redis_is_the_official_image_with_aof_noeviction_and_a_volume(compose):
    redis_service = compose["services"]["redis"]
    assert redis_service["image"].split(":")[0] == "redis"
    command = redis_service["command"]
    for name, value in PERSISTENCE_OPTIONS.items():
        assert command[command.index(f"--{name}") + 1] == value, name
    assert command[command.index("--requirepass") + 1] == REQUIRED["REDIS_PASSWORD"]
    for name in SERVICES - {"redis"}:
        assert compose["services"][name]["environment"]["REDIS_URL"] == "redis://:r0test@redis:6379/0", name
    volumes = redis_service["volumes"]
    assert any((v["target"] if isinstance(v, dict) else v.split(":")[1]) == "/data" for v in volumes)
    assert set(compose["volumes"]) >= {"redis-data"}


@needs_compose
def test_every_service_has_a_healthcheck_and_waits_for_healthy_dependencies(compose):
    services = compose["services"]
    for name, service in services.items():
        assert service.get("healthcheck", {}).get("test"), f"{name} has no healthcheck"
    # The same endpoints test_make_up.py finds answering on the running stack.
    probes = {name: " ".join(services[name]["healthcheck"]["test"]) for name in services}
    assert "127.0.0.1:5000/healthz" in probes["web"] and "127.0.0.1:8100/healthz" in probes["local_openai"]
    assert "127.0.0.1:5555/healthcheck" in probes["flower"]
    assert "inspect ping" in probes["worker"] and "redis-cli ping" in probes["redis"]
    for name in ("worker", "web", "flower"):
        depends = services[name]["depends_on"]
        assert "redis" in depends, name
        assert all(dep["condition"] == "service_healthy" for dep in depends.values()), name


@needs_compose
def test_services_are_configured_only_through_the_environment(compose):
    for name, service in compose["services"].items():
        assert "env_file" not in service, name
    assert compose["services"]["flower"]["environment"]["FLOWER_BASIC_AUTH"] == REQUIRED["FLOWER_BASIC_AUTH"]
    web_env = compose["services"]["web"]["environment"]
    assert web_env["WEB_AUTH_TOKEN"] == REQUIRED["WEB_AUTH_TOKEN"] and web_env["SECRET_KEY"] == REQUIRED["SECRET_KEY"]
    # Flower treats every FLOWER_* variable as one of its options and refuses unknown ones such as FLOWER_URL.
    assert "FLOWER_URL" not in compose["services"]["flower"]["environment"]


@needs_compose
@pytest.mark.parametrize("service", sorted(SERVICES - {"redis"}))
def test_compose_commands_match_the_procfile(compose, service):
    assert signature(compose["services"][service]["command"]) == signature(procfile_commands()[service])


def test_procfile_runs_the_five_services_with_the_project_entry_points():
    commands = procfile_commands()
    assert set(commands) == SERVICES
    assert signature(commands["redis"])[0] == "worker.redis_server"
    assert signature(commands["local_openai"])[0] == "local_openai"
    worker = signature(commands["worker"])
    assert worker[:3] == ("celery", ("worker",), (("--pool", "threads"), ("-A", "worker"), ("-Q", frozenset(QUEUES))))
    assert signature(commands["flower"])[:2] == ("celery", ("flower",))
    assert signature(commands["web"])[:2] == ("gunicorn", ("web:create_app()",))


def test_make_up_restarts_redis_and_the_worker_when_they_exit():
    """honcho stops the whole stack when one service exits; these two must come back by themselves instead."""
    for name, argv in procfile_argv().items():
        supervised = signature(argv)[0] == "worker.supervisor"
        assert supervised == (name in {"redis", "worker"}), name
        if supervised:
            assert argv[argv.index("--name") + 1] == name


@needs_compose
@pytest.mark.parametrize("service", sorted(SERVICES))
def test_compose_restarts_every_service_unless_stopped(compose, service):
    assert compose["services"][service]["restart"] == "unless-stopped"


def test_dockerfile_default_command_is_the_worker():
    cmd = re.search(r"^CMD (\[.*\])$", (REPO / "Dockerfile").read_text(), re.M)
    assert cmd, "Dockerfile has no exec-form CMD"
    assert signature(json.loads(cmd.group(1)))[:3] == signature(procfile_commands()["worker"])[:3]


def test_make_up_runs_honcho_on_this_procfile():
    result = subprocess.run(["make", "-n", "up"], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert re.search(r"\.venv/bin/honcho start -f Procfile\b", result.stdout), result.stdout


def test_dockerfile_installs_cpu_torch_at_the_pinned_version_then_the_requirements():
    dockerfile = (REPO / "Dockerfile").read_text()
    pin = re.search(r"^torch==(\S+)$", (REPO / "requirements.txt").read_text(), re.M).group(1)
    torch_line = re.search(r"pip install --index-url https://download\.pytorch\.org/whl/cpu torch==(\S+)", dockerfile)
    assert torch_line and torch_line.group(1) == pin
    order = [
        dockerfile.index(torch_line.group(0)),
        dockerfile.index("pip install -r requirements.txt"),
        dockerfile.index("pip install --no-deps -r requirements-nodeps.txt"),
    ]
    assert order == sorted(order)


def test_env_example_documents_every_variable():
    documented = set(re.findall(r"^#?([A-Z][A-Z0-9_]*)=", (REPO / ".env.example").read_text(), re.M))
    used = set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)", (REPO / "docker-compose.yml").read_text()))
    used |= set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)", (REPO / "Procfile").read_text()))
    settings_source = (REPO / "shared/settings.py").read_text()
    used |= set(re.findall(r'_(?:text|number|url)\(env, "([A-Z][A-Z0-9_]*)"', settings_source))
    assert "REDIS_URL" in used and "TQ_DATA_DIR" in used  # the patterns above still find the settings
    assert used - documented == set()


@needs_compose
@pytest.mark.parametrize(
    "extra, expected",
    [("", ("localhost", "127.0.0.1", "::1")), ("tq.example.com", ("localhost", "127.0.0.1", "::1", "tq.example.com"))],
)
def test_web_trusts_its_healthcheck_host_and_the_configured_names(tmp_path, extra, expected):
    from shared.settings import load_settings

    result = compose_config(tmp_path, **REQUIRED, TQ_TRUSTED_HOSTS=extra)
    assert result.returncode == 0, result.stderr
    web = yaml.safe_load(result.stdout)["services"]["web"]
    assert load_settings(web["environment"]).trusted_hosts == expected
    assert "127.0.0.1:5000/healthz" in " ".join(web["healthcheck"]["test"])
