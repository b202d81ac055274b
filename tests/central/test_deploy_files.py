"""The deployment files against the project they deploy.

Docker and Kubernetes cannot run here, so these tests hold the Dockerfile,
docker-compose.yml, the CI workflow, .ci/run, the Kubernetes manifests, the Prometheus,
Grafana and backup files to what does exist: every command they start is parsed by the
real program's own argument parser and names an importable application, every
environment variable is one central/settings.py reads (with the same defaults), the
health checks hit the real health endpoint, every file a container mounts is in the
repository, and every metric a dashboard panel or an alert queries is one the web
server exports (read from the live Prometheus registry: django-prometheus's metrics and
central/metrics/collector.py). The health check command and the backup scripts are also
run for real; `kubectl kustomize` renders the manifests when kubectl is installed.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import re
import shlex
import shutil
import stat
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from unittest.mock import ANY
from urllib.parse import urlparse

import psycopg
import pytest
import yaml
from celery import Celery
from celery.app.utils import find_app
from celery.bin.celery import celery as celery_cli
from daphne.cli import CommandLineInterface
from daphne.utils import import_by_path
from django.conf import settings as django_settings
from django.core.management import CommandError, get_commands, load_command_class
from django.db import connection
from django.urls import resolve

import central.env
from central.celery import app as central_celery_app
from tests.conftest import worker_environment

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
COMPOSE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
WORKFLOW = ROOT / ".github" / "workflows" / "ci.yml"
CI_RUN = ROOT / ".ci" / "run"
KUBERNETES = ROOT / "deploy" / "kubernetes"
BACKUP = ROOT / "deploy" / "backup"
PROMETHEUS = ROOT / "deploy" / "prometheus"
GRAFANA = ROOT / "deploy" / "grafana"
OPERATIONS_DOC = ROOT / "docs" / "operations.md"
DEPLOY_README = ROOT / "deploy" / "README.md"

HEALTH_PATH = "/api/health/"
HEALTH_HOST = "localhost"
WEB_COMMAND = ["daphne", "-b", "0.0.0.0", "-p", "8000", "central.asgi:application"]
WORKER_SERVICES = {"worker-default", "worker-marketdata", "worker-backtests", "worker-replays"}
APP_SERVICES = {"migrate", "web", "beat", "stream"} | WORKER_SERVICES
# Services from public images, beside the app's: their commands are checked separately.
IMAGE_SERVICES = {"db", "redis", "prometheus", "grafana", "backup"}
# Secrets the manifests use that kustomization.yaml does not generate: each must be
# explained in deploy/README.md (how to create it).
EXTERNAL_SECRETS = {"central-tls"}
SHELL_OPERATOR_CHARS = ";&|()\n"
SHELL_KEYWORDS = {"until", "while", "if", "then", "do", "else", "elif", "!", "exec"}


# --- Reading the files ----------------------------------------------------------------


def load_yaml_documents(path: Path) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def app_services() -> dict[str, dict]:
    """The compose services built from the Dockerfile."""
    return {name: svc for name, svc in compose()["services"].items() if "build" in svc}


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for line in DOCKERFILE.read_text().splitlines():
        if line.lstrip().startswith("#"):
            continue
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        logical = (pending + line).strip()
        pending = ""
        if logical:
            keyword, _, rest = logical.partition(" ")
            instructions.append((keyword.upper(), rest.strip()))
    return instructions


def dockerfile(keyword: str) -> list[str]:
    return [rest for kw, rest in dockerfile_instructions() if kw == keyword]


def dockerfile_healthcheck() -> list[str]:
    (healthcheck,) = dockerfile("HEALTHCHECK")
    return json.loads(healthcheck[healthcheck.index("CMD ") + len("CMD ") :])


def kubernetes_manifests() -> dict[str, list[dict]]:
    return {
        path.name: load_yaml_documents(path)
        for path in sorted(KUBERNETES.glob("*.yaml"))
        if path.name != "kustomization.yaml"
    }


def kustomization() -> dict:
    return yaml.safe_load((KUBERNETES / "kustomization.yaml").read_text())


def kubernetes_objects(kind: str | None = None) -> Iterator[tuple[str, dict]]:
    for filename, docs in kubernetes_manifests().items():
        for doc in docs:
            if kind is None or doc["kind"] == kind:
                yield filename, doc


def pod_spec(obj: dict) -> dict:
    return obj["spec"]["template"]["spec"]


def kubernetes_containers() -> Iterator[tuple[str, dict, dict]]:
    """(id, pod spec, container) for every container and init container."""
    for filename, obj in kubernetes_objects():
        if obj["kind"] not in {"Deployment", "Job"}:
            continue
        spec = pod_spec(obj)
        for container in spec.get("initContainers", []) + spec["containers"]:
            yield f"{filename}:{container['name']}", spec, container


def kubernetes_deployment(name: str) -> dict:
    (obj,) = [o for _, o in kubernetes_objects("Deployment") if o["metadata"]["name"] == name]
    return obj


def env_file_variables(path: Path, *, commented: bool) -> dict[str, str]:
    """NAME=value lines; with commented=True also the optional "# NAME=value" ones."""
    prefix = r"(?:#\s*)?" if commented else ""
    pattern = re.compile(rf"^{prefix}([A-Z][A-Z0-9_]*)=(.*)$")
    return {m[1]: m[2] for line in path.read_text().splitlines() if (m := pattern.match(line))}


def workflow() -> dict:
    return yaml.safe_load(WORKFLOW.read_text())


def workflow_steps() -> list[tuple[str, dict]]:
    """(job name, step) for every step of every job."""
    return [(name, step) for name, job in workflow()["jobs"].items() for step in job["steps"]]


def workflow_image_tag() -> str:
    (build,) = [
        step for _, step in workflow_steps() if step.get("uses", "").startswith("docker/build-push")
    ]
    return build["with"]["tags"]


def makefile_targets() -> set[str]:
    text = (ROOT / "Makefile").read_text()
    return set(re.findall(r"^([A-Za-z0-9_.-]+)\s*:(?!=)", text, re.MULTILINE))


# --- Settings variables ---------------------------------------------------------------


_NOT_CONSTANT = object()


def _constant(node: ast.expr):
    """The value of an expression made only of literals and arithmetic, else a marker."""
    allowed = (ast.Constant, ast.BinOp, ast.UnaryOp, ast.operator, ast.unaryop)
    if all(isinstance(n, allowed) for n in ast.walk(node)):
        return eval(compile(ast.Expression(node), "<settings default>", "eval"))
    return _NOT_CONSTANT


def settings_variables() -> dict[str, tuple[str, list]]:
    """Every NAME read by env_str/env_bool/env_int/env_list in central/settings.py, with
    the reader and its default arguments (None when a default is not a literal)."""
    tree = ast.parse((ROOT / "central" / "settings.py").read_text())
    found: dict[str, tuple[str, list]] = {}
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in {"env_str", "env_bool", "env_int", "env_list"}
            and node.args
            and isinstance(node.args[0], ast.Constant)
        ):
            defaults = [_constant(arg) for arg in node.args[1:]]
            literal = None if _NOT_CONSTANT in defaults else defaults
            found[node.args[0].value] = (node.func.id, literal)
    return found


def read_as_settings_would(name: str, raw: str, monkeypatch) -> object:
    """NAME=raw read through the reader the settings use for NAME (which may raise)."""
    reader_name, defaults = settings_variables()[name]
    # With the variable set, a default matters only to env_int given ""; any will do.
    placeholder = {"env_int": [0], "env_bool": [False]}.get(reader_name, [])
    monkeypatch.setenv(name, raw)
    return getattr(central.env, reader_name)(name, *(defaults or placeholder))


def settings_default(name: str, monkeypatch) -> object:
    """What the settings get for NAME when it is unset; only for literal defaults."""
    reader_name, defaults = settings_variables()[name]
    assert defaults is not None, f"the settings' default for {name} is not a literal"
    monkeypatch.delenv(name, raising=False)
    return getattr(central.env, reader_name)(name, *defaults)


# --- Commands ---------------------------------------------------------------------------


def shell_commands(script: str) -> list[list[str]]:
    """The simple commands of a shell script, without leading VAR=value assignments."""
    lexer = shlex.shlex(script, posix=True, punctuation_chars=SHELL_OPERATOR_CHARS)
    lexer.whitespace = " \t\r"
    lexer.whitespace_split = True
    commands: list[list[str]] = []
    current: list[str] = []
    for token in [*lexer, ";"]:
        if token and set(token) <= set(SHELL_OPERATOR_CHARS):
            while current and (current[0] in SHELL_KEYWORDS or re.match(r"^\w+=", current[0])):
                current.pop(0)
            if current and current != ["done"] and current != ["fi"]:
                commands.append(current)
            current = []
        else:
            current.append(token)
    return commands


def exec_commands(command: list[str] | str) -> list[list[str]]:
    """Exec-form commands, unwrapping `sh -c SCRIPT` and compose's CMD / CMD-SHELL."""
    if isinstance(command, str):
        return shell_commands(command)
    if command[0] == "CMD":
        return exec_commands(command[1:])
    if command[0] == "CMD-SHELL":
        return shell_commands(command[1])
    if command[0] in {"sh", "bash"} and command[1] == "-c":
        return shell_commands(command[2])
    return [list(command)]


def deploy_commands() -> list[tuple[str, list[str]]]:
    """Every command line the deployment files would run with the project's code."""
    found: list[tuple[str, str | list[str]]] = []
    for name, svc in app_services().items():
        found.append((f"compose:{name}", svc["command"]))
        test = svc.get("healthcheck", {}).get("test")
        if test:
            found.append((f"compose:{name}:healthcheck", test))
    found.append(("Dockerfile:CMD", json.loads(dockerfile("CMD")[-1])))
    found.append(("Dockerfile:HEALTHCHECK", dockerfile_healthcheck()))
    found += [("Dockerfile:RUN", run) for run in dockerfile("RUN") if "manage.py" in run]
    for ident, _, container in kubernetes_containers():
        found.append((f"k8s:{ident}", container["command"]))
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            if "exec" in container.get(probe, {}):
                found.append((f"k8s:{ident}:{probe}", container[probe]["exec"]["command"]))
    for job, step in workflow_steps():
        if "run" in step:
            found.append((f"ci.yml:{job}:{step.get('name', step['run'])}", step["run"]))
    return [
        (f"{ident}:{' '.join(argv[:4])}", argv)
        for ident, command in found
        for argv in exec_commands(command)
    ]


def program(argv: list[str]) -> str:
    return Path(argv[0]).name


def check_manage_py(argv: list[str]) -> None:
    script_at = argv.index("manage.py")
    name, args = argv[script_at + 1], argv[script_at + 2 :]
    commands = get_commands()
    assert name in commands, f"manage.py has no '{name}' command"
    parser = load_command_class(commands[name], name).create_parser("manage.py", name)
    try:
        parser.parse_args(args)
    except CommandError as exc:
        pytest.fail(f"manage.py {name} {' '.join(args)}: {exc}")


def check_daphne(argv: list[str]) -> None:
    try:
        args = CommandLineInterface().parser.parse_args(argv[1:])
    except SystemExit:
        pytest.fail(f"daphne rejects its arguments: {argv}")
    assert import_by_path(args.application) is not None


def check_celery(argv: list[str]) -> None:
    assert argv[1] in {"-A", "--app"}, f"celery must be given the app first: {argv}"
    app = find_app(argv[2])
    assert isinstance(app, Celery)
    assert app is central_celery_app
    subcommand, args = argv[3], argv[4:]
    assert subcommand in celery_cli.commands, f"celery has no '{subcommand}' command"
    params = celery_cli.commands[subcommand].params
    known = {opt for param in params for opt in (*param.opts, *param.secondary_opts)}
    for arg in args:
        if arg.startswith("-"):
            assert arg.split("=")[0] in known, f"celery {subcommand} has no option {arg}"


def check_python(argv: list[str]) -> None:
    if "manage.py" in argv:
        check_manage_py(argv)
    elif argv[1] == "-c":
        compile(argv[2], "<python -c>", "exec")
    elif argv[1] == "-m":
        assert importlib.util.find_spec(argv[2]) is not None, f"no module {argv[2]}"
    else:
        pytest.fail(f"unexpected python invocation: {argv}")


def check_docker(argv: list[str]) -> None:
    """`docker run [--rm] [-e NAME=value]... IMAGE COMMAND...`: the command inside the
    image is checked like any other."""
    assert argv[1] == "run", f"only `docker run` is expected: {argv}"
    args = argv[2:]
    while args[0].startswith("-"):
        option = args.pop(0)
        assert option in {"--rm", "-e", "--env"}, f"unexpected docker run option {option}"
        if option in {"-e", "--env"}:
            name = args.pop(0).split("=")[0]
            assert name in settings_variables(), f"docker run sets {name}, which nothing reads"
    image, command = args[0], args[1:]
    assert image == workflow_image_tag(), f"docker run uses {image}, the workflow builds another"
    CHECKERS[program(command)](command)


def check_pip_audit(argv: list[str]) -> None:
    from pip_audit._cli import _parser  # a dev dependency: the workflow's scan tool

    try:
        _parser().parse_args(argv[1:])
    except SystemExit:
        pytest.fail(f"pip-audit rejects its arguments: {argv}")


def check_make(argv: list[str]) -> None:
    for target in argv[1:]:
        if "=" not in target and not target.startswith("-"):
            assert target in makefile_targets(), f"the Makefile has no '{target}' target"


CHECKERS = {
    "python": check_python,
    "daphne": check_daphne,
    "celery": check_celery,
    "make": check_make,
    "docker": check_docker,
    "pip-audit": check_pip_audit,
}


DEPLOY_COMMANDS = deploy_commands()


@pytest.mark.parametrize(
    "argv", [argv for _, argv in DEPLOY_COMMANDS], ids=[ident for ident, _ in DEPLOY_COMMANDS]
)
def test_every_command_is_accepted_by_the_program_it_runs(argv):
    checker = CHECKERS.get(program(argv))
    if checker is None:
        assert program(argv) in {"echo", "sleep"}, f"no check for {argv}"
        return
    checker(argv)


def test_the_commands_that_need_checking_were_all_found():
    programs = {program(argv) for _, argv in DEPLOY_COMMANDS}
    assert {"python", "daphne", "celery", "make", "docker", "pip-audit"} <= programs


# --- Processes: the same everywhere --------------------------------------------------


def worker_queues(argv: list[str]) -> set[str]:
    queue_flag = next(i for i, arg in enumerate(argv) if arg in {"-Q", "--queues"})
    return set(argv[queue_flag + 1].split(","))


def routed_queues() -> set[str]:
    routes = django_settings.CELERY_TASK_ROUTES.values()
    return {django_settings.CELERY_TASK_DEFAULT_QUEUE} | {route["queue"] for route in routes}


def test_web_server_command_is_the_same_in_image_compose_and_kubernetes():
    web_container = pod_spec(kubernetes_deployment("central-web"))["containers"][0]
    assert json.loads(dockerfile("CMD")[-1]) == WEB_COMMAND
    assert app_services()["web"]["command"] == WEB_COMMAND
    assert web_container["command"] == WEB_COMMAND


def kubernetes_workers() -> dict[str, dict]:
    return {
        obj["metadata"]["name"]: obj
        for _, obj in kubernetes_objects("Deployment")
        if obj["metadata"]["labels"]["app.kubernetes.io/component"] == "worker"
    }


def test_one_worker_per_queue_and_every_routed_queue_is_consumed():
    """Tasks are routed by kind, so each queue has its own workers (scaled on their own):
    in compose and in Kubernetes, every queue a task can be sent to is consumed by
    exactly one worker service or Deployment, named after its queue."""
    compose_workers = {name: svc["command"] for name, svc in app_services().items()}
    compose_workers = {n: c for n, c in compose_workers.items() if c[3:4] == ["worker"]}
    k8s_workers = {
        name: pod_spec(obj)["containers"][0]["command"]
        for name, obj in kubernetes_workers().items()
    }
    for prefix, workers in (("worker-", compose_workers), ("central-worker-", k8s_workers)):
        queues = [worker_queues(argv) for argv in workers.values()]
        assert all(len(q) == 1 for q in queues), workers
        assert sorted(q for (q,) in queues) == sorted(routed_queues())
        for name, argv in workers.items():
            assert name == prefix + worker_queues(argv).pop()
    assert set(compose_workers) == WORKER_SERVICES
    for name, obj in kubernetes_workers().items():
        queue = obj["spec"]["template"]["metadata"]["labels"]["central/queue"]
        assert name == f"central-worker-{queue}"


def test_beat_runs_once_and_writes_its_schedule_where_it_may():
    beat = kubernetes_deployment("central-beat")
    assert beat["spec"]["replicas"] == 1
    assert beat["spec"]["strategy"]["type"] == "Recreate"
    mounts = {m["mountPath"] for m in pod_spec(beat)["containers"][0]["volumeMounts"]}
    for argv in (app_services()["beat"]["command"], pod_spec(beat)["containers"][0]["command"]):
        schedule = Path(argv[argv.index("--schedule") + 1])
        assert schedule.parent == Path("/tmp")
    assert "/tmp" in mounts


# --- Dockerfile -----------------------------------------------------------------------


def test_dockerfile_is_multi_stage_and_runs_as_a_non_root_user():
    stages = dockerfile("FROM")
    assert len(stages) >= 2
    assert any(" AS builder" in stage for stage in stages)
    assert any("--from=builder" in copy for copy in dockerfile("COPY"))
    user = dockerfile("USER")[-1].split(":")[0]
    assert user not in {"root", "0"}
    uid = int(user)
    for ident, spec, _ in kubernetes_containers():
        assert spec["securityContext"]["runAsNonRoot"] is True, ident
        assert spec["securityContext"]["runAsUser"] == uid, ident


def test_dockerfile_collects_static_files_at_build_time():
    (collect,) = [run for run in dockerfile("RUN") if "collectstatic" in run]
    assert "SECRET_KEY=" in collect
    env = " ".join(dockerfile("ENV"))
    assert "STATIC_ROOT=" in env
    assert "STATIC_ROOT" in settings_variables()


def test_dockerfile_builder_installs_exactly_the_project_dependencies(tmp_path):
    import tomllib

    (run,) = [run for run in dockerfile("RUN") if "tomllib" in run]
    (python_c,) = [argv for argv in shell_commands(run) if argv[:2] == ["python", "-c"]]
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    subprocess.run([sys.executable, "-c", python_c[2]], cwd=tmp_path, check=True)
    with open(ROOT / "pyproject.toml", "rb") as f:
        dependencies = tomllib.load(f)["project"]["dependencies"]
    assert (tmp_path / "requirements.txt").read_text().splitlines() == dependencies
    assert "--requirement requirements.txt" in run


def test_health_checks_target_the_health_endpoint():
    assert resolve(HEALTH_PATH).url_name == "health"
    image_check = dockerfile_healthcheck()
    assert image_check[:2] == ["python", "-c"]
    assert f"127.0.0.1:8000{HEALTH_PATH}" in image_check[2]
    assert f"'Host': '{HEALTH_HOST}'" in image_check[2]
    # compose repeats the image's check for web (the worker's and beat's differ).
    assert app_services()["web"]["healthcheck"]["test"] == ["CMD", *image_check]
    web = pod_spec(kubernetes_deployment("central-web"))["containers"][0]
    for probe in ("startupProbe", "readinessProbe"):
        http = web[probe]["httpGet"]
        assert http["path"] == HEALTH_PATH
        assert http["port"] == web["ports"][0]["name"]
        assert {"name": "Host", "value": HEALTH_HOST} in http["httpHeaders"]


def test_the_health_checks_host_is_allowed_where_they_run():
    compose_hosts = compose()["x-app-env"]["ALLOWED_HOSTS"]
    assert HEALTH_HOST in re.fullmatch(r"\$\{ALLOWED_HOSTS:-(.*)\}", compose_hosts)[1].split(",")
    configmap = next(o for _, o in kubernetes_objects("ConfigMap"))
    assert HEALTH_HOST in configmap["data"]["ALLOWED_HOSTS"].split(",")


def run_image_healthcheck(live_server) -> subprocess.CompletedProcess:
    code = dockerfile_healthcheck()[2]
    port = urlparse(live_server.url).port
    assert "127.0.0.1:8000" in code
    code = code.replace("127.0.0.1:8000", f"127.0.0.1:{port}")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)


def test_image_healthcheck_fails_while_the_platform_is_down(live_server, settings):
    settings.ALLOWED_HOSTS = [HEALTH_HOST]
    settings.HEALTH_DISK_MIN_FREE_MB = 10**12
    result = run_image_healthcheck(live_server)
    assert result.returncode != 0
    assert "503" in result.stderr


@pytest.mark.celery_worker
def test_image_healthcheck_passes_when_the_platform_is_up(live_server, settings, celery_worker):
    settings.ALLOWED_HOSTS = [HEALTH_HOST]
    result = run_image_healthcheck(live_server)
    assert result.returncode == 0, result.stderr


# --- docker-compose.yml -----------------------------------------------------------------


def test_compose_has_the_stack_and_builds_app_services_from_the_dockerfile():
    services = compose()["services"]
    assert set(services) == IMAGE_SERVICES | APP_SERVICES
    assert set(app_services()) == APP_SERVICES
    assert services["db"]["image"].startswith("timescale/timescaledb:")
    assert "pg_isready" in " ".join(services["db"]["healthcheck"]["test"])
    assert services["redis"]["image"] == "redis:7"
    assert "ping" in services["redis"]["healthcheck"]["test"]
    for name, svc in app_services().items():
        assert svc["build"] == ".", name
        # Every app process gets the same settings; the ASGI web server alone drops
        # persistent database connections (Django's advice under ASGI).
        expected = compose()["x-app-env"] | ({"DB_CONN_MAX_AGE": "0"} if name == "web" else {})
        assert svc["environment"] == expected, name


def test_compose_starts_app_processes_after_migrations_on_healthy_services():
    services = app_services()
    assert services["migrate"]["depends_on"] == {"db": {"condition": "service_healthy"}}
    assert services["migrate"]["restart"] == "no"
    for name in APP_SERVICES - {"migrate"}:
        assert services[name]["depends_on"] == {
            "db": {"condition": "service_healthy"},
            "redis": {"condition": "service_healthy"},
            "migrate": {"condition": "service_completed_successfully"},
        }, name
    assert services["web"]["ports"] == ["${WEB_PORT:-8000}:8000"]


def compose_interpolated_variables() -> set[str]:
    return set(re.findall(r"(?<!\$)\$\{([A-Z_][A-Z0-9_]*)", COMPOSE.read_text()))


def test_compose_defaults_are_the_settings_defaults(monkeypatch):
    for name, value in compose()["x-app-env"].items():
        default = re.fullmatch(rf"\$\{{{name}:-(.*)\}}", value)
        if default is None or settings_variables()[name][1] is None:
            continue
        expected = settings_default(name, monkeypatch)
        assert read_as_settings_would(name, default[1], monkeypatch) == expected, (
            f"compose: {value}, settings: {expected!r}"
        )


# --- Environment variables --------------------------------------------------------------


def deploy_environment_variables() -> dict[str, set[str]]:
    """Variable names the deployment files hand to the project's processes, by file."""
    used: dict[str, set[str]] = {
        "docker-compose.yml": {
            var for svc in app_services().values() for var in svc.get("environment", {})
        },
        "secrets.env.example": set(
            env_file_variables(KUBERNETES / "secrets.env.example", commented=False)
        ),
    }
    for filename, obj in kubernetes_objects("ConfigMap"):
        used.setdefault(filename, set()).update(obj["data"])
    for ident, _, container in kubernetes_containers():
        used.setdefault(ident, set()).update(e["name"] for e in container.get("env", []))
    return used


def test_deploy_files_only_set_variables_the_settings_read():
    known = set(settings_variables())
    for source, names in deploy_environment_variables().items():
        assert names <= known, f"{source} sets variables the settings never read: {names - known}"


def test_deploy_files_set_what_production_settings_require():
    required = {"SECRET_KEY", "FIELD_ENCRYPTION_KEY", "DATABASE_URL", "REDIS_URL", "ALLOWED_HOSTS"}
    used = deploy_environment_variables()
    assert required <= used["docker-compose.yml"]
    k8s = used["secrets.env.example"] | used["configmap.yaml"]
    assert required <= k8s
    secret_keys = used["secrets.env.example"]
    assert {"SECRET_KEY", "FIELD_ENCRYPTION_KEY", "DATABASE_URL", "REDIS_URL"} <= secret_keys


def test_kubernetes_config_values_read_cleanly(monkeypatch):
    configmap = next(o for _, o in kubernetes_objects("ConfigMap"))
    for name, raw in configmap["data"].items():
        read_as_settings_would(name, raw, monkeypatch)
    assert configmap["data"].get("TIMESCALEDB", "auto") in {"auto", "off"}
    assert configmap["data"]["DEBUG"] == "false"


def test_env_example_documents_every_settings_variable():
    documented = set(env_file_variables(ENV_EXAMPLE, commented=True))
    missing = set(settings_variables()) - documented
    assert not missing, f".env.example does not document {sorted(missing)}"


def test_env_example_documents_nothing_unknown():
    documented = set(env_file_variables(ENV_EXAMPLE, commented=True))
    unknown = documented - set(settings_variables()) - compose_interpolated_variables()
    assert not unknown, f".env.example documents variables nothing reads: {sorted(unknown)}"
    assert compose_interpolated_variables() <= documented


def test_env_example_defaults_are_the_settings_defaults(monkeypatch):
    optional = env_file_variables(ENV_EXAMPLE, commented=True)
    required = env_file_variables(ENV_EXAMPLE, commented=False)
    for name, raw in optional.items():
        if name in required or name not in settings_variables():
            continue
        if settings_variables()[name][1] is None:
            continue
        expected = settings_default(name, monkeypatch)
        assert read_as_settings_would(name, raw, monkeypatch) == expected, (
            f".env.example shows {name}={raw}, settings say {expected!r}"
        )


def test_env_example_leaves_the_secrets_empty():
    required = env_file_variables(ENV_EXAMPLE, commented=False)
    assert set(required) == {
        "SECRET_KEY",
        "FIELD_ENCRYPTION_KEY",
        "POSTGRES_PASSWORD",
        "METRICS_TOKEN",
        "GRAFANA_ADMIN_PASSWORD",
    }
    assert all(value == "" for value in required.values())
    assert all(
        value == ""
        for value in env_file_variables(
            KUBERNETES / "secrets.env.example", commented=False
        ).values()
    )


# --- CI ----------------------------------------------------------------------------------


def test_workflow_runs_lint_and_tests_on_both_pythons_against_real_services():
    wf = workflow()
    triggers = wf.get("on", wf.get(True))  # YAML 1.1 reads a bare `on` key as True
    assert {"push", "pull_request"} <= set(triggers)
    job = wf["jobs"]["test"]
    assert job["runs-on"].startswith("ubuntu")
    assert [str(v) for v in job["strategy"]["matrix"]["python-version"]] == ["3.11", "3.12"]
    runs = [step["run"] for step in job["steps"] if "run" in step]
    assert "make lint" in runs
    assert "make test" in runs

    postgres, redis = job["services"]["postgres"], job["services"]["redis"]
    database = urlparse(job["env"]["DATABASE_URL"])
    assert database.scheme in {"postgres", "postgresql"}
    assert (database.username, database.password, database.path.lstrip("/")) == (
        postgres["env"]["POSTGRES_USER"],
        postgres["env"]["POSTGRES_PASSWORD"],
        postgres["env"]["POSTGRES_DB"],
    )
    assert f"{database.port}:5432" in postgres["ports"]
    assert urlparse(job["env"]["REDIS_URL"]).port == 6379
    assert "6379:6379" in redis["ports"]
    assert "--health-cmd" in postgres["options"]
    assert "--health-cmd" in redis["options"]


def test_ci_run_is_an_executable_bash_script_that_runs_make_test():
    text = CI_RUN.read_text()
    assert CI_RUN.stat().st_mode & stat.S_IXUSR
    assert text.startswith("#!/usr/bin/env bash\n")
    assert "set -euo pipefail" in text
    assert re.findall(r"^\s*make\s+([\w-]+)", text, re.MULTILINE) == ["test"]
    assert "test" in makefile_targets()
    # The browser tests drive Debian's Chromium (Playwright's download is not relied on).
    assert "apt-get install -y --no-install-recommends chromium" in text
    subprocess.run(["bash", "-n", str(CI_RUN)], check=True)


# --- Kubernetes --------------------------------------------------------------------------


def test_kustomization_lists_every_manifest_and_generates_the_referenced_secret():
    kust = kustomization()
    assert sorted(kust["resources"]) == sorted(kubernetes_manifests())
    secret_names = {gen["name"] for gen in kust["secretGenerator"]}
    configmaps = {o["metadata"]["name"] for _, o in kubernetes_objects("ConfigMap")}
    images = {image["name"] for image in kust["images"]}
    for ident, _, container in kubernetes_containers():
        assert container["image"] in images, ident
        refs = container["envFrom"]
        assert {r["configMapRef"]["name"] for r in refs if "configMapRef" in r} <= configmaps
        assert {r["secretRef"]["name"] for r in refs if "secretRef" in r} <= secret_names
        assert {r["secretRef"]["name"] for r in refs if "secretRef" in r}, ident
    for gen in kust["secretGenerator"]:
        for env_file in gen["envs"]:
            assert (KUBERNETES / f"{env_file}.example").exists()
            ignored = (KUBERNETES / ".gitignore").read_text().split()
            assert env_file in ignored, f"{env_file} holds secrets and must be git-ignored"


def test_kubernetes_manifests_are_namespace_less_and_labelled():
    kinds = sorted(obj["kind"] for _, obj in kubernetes_objects())
    assert kinds == sorted(
        ["ConfigMap", "Job", "Service", "Ingress", "PodDisruptionBudget"]
        + ["Deployment"] * (2 + len(WORKER_SERVICES))
        + ["HorizontalPodAutoscaler"] * (1 + len(WORKER_SERVICES))
    )
    for filename, obj in kubernetes_objects():
        assert "namespace" not in obj["metadata"], filename
        assert obj["metadata"]["labels"]["app.kubernetes.io/name"] == "central", filename


def test_kubernetes_service_selects_the_web_pods_on_their_port():
    ((_, service),) = kubernetes_objects("Service")
    web = kubernetes_deployment("central-web")
    assert service["spec"]["selector"] == web["spec"]["selector"]["matchLabels"]
    assert (
        web["spec"]["selector"]["matchLabels"].items()
        <= web["spec"]["template"]["metadata"]["labels"].items()
    )
    port_names = {p["name"] for p in pod_spec(web)["containers"][0]["ports"]}
    assert {p["targetPort"] for p in service["spec"]["ports"]} <= port_names


def test_kubernetes_containers_have_resources_and_a_locked_down_context():
    for ident, spec, container in kubernetes_containers():
        resources = container["resources"]
        assert {"cpu", "memory"} <= set(resources["requests"]), ident
        assert "memory" in resources["limits"], ident
        context = container["securityContext"]
        assert context["allowPrivilegeEscalation"] is False, ident
        assert context["capabilities"]["drop"] == ["ALL"], ident
        # Read-only image; /tmp (uploads, beat's schedule, tempfile) is a scratch volume.
        assert context["readOnlyRootFilesystem"] is True, ident
        (tmp,) = [m["name"] for m in container["volumeMounts"] if m["mountPath"] == "/tmp"]
        assert {"name": tmp, "emptyDir": ANY} in spec["volumes"], ident


def test_app_pods_wait_for_migrations_applied_by_the_job():
    ((_, job),) = kubernetes_objects("Job")
    assert pod_spec(job)["containers"][0]["command"] == [
        "python",
        "manage.py",
        "migrate",
        "--no-input",
    ]
    for name in ("central-web", *kubernetes_workers()):
        (init,) = pod_spec(kubernetes_deployment(name))["initContainers"]
        assert ["python", "manage.py", "migrate", "--check"] in exec_commands(init["command"])


# --- Backup scripts ----------------------------------------------------------------------


def test_backup_scripts_are_executable_bash_reading_database_url():
    for script in ("backup.sh", "restore.sh"):
        path = BACKUP / script
        assert path.stat().st_mode & stat.S_IXUSR, script
        assert path.read_text().startswith("#!/usr/bin/env bash\n"), script
        assert "set -euo pipefail" in path.read_text(), script
        subprocess.run(["bash", "-n", str(path)], check=True)
    assert "DATABASE_URL" in (BACKUP / "common.sh").read_text()
    assert "pg_dump --format=custom" in (BACKUP / "backup.sh").read_text()


def postgres_client_bin(server_major: int) -> Path | None:
    """A folder with pg_dump, pg_restore and psql able to talk to this server."""
    candidates: list[Path] = []
    try:
        import pgserver

        candidates.append(Path(pgserver.__file__).parent / "pginstall" / "bin")
    except ImportError:
        pass
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    if shutil.which("pg_dump"):
        candidates.append(Path(shutil.which("pg_dump")).parent)
    for folder in candidates:
        if not all((folder / tool).exists() for tool in ("pg_dump", "pg_restore", "psql")):
            continue
        version = subprocess.run(
            [folder / "pg_dump", "--version"], capture_output=True, text=True
        ).stdout
        found = re.search(r"(\d+)(?:\.\d+)?", version)
        if found and int(found[1]) >= server_major:
            return folder
    return None


@pytest.fixture
def scratch_databases(db):
    """Two empty databases beside the test database, dropped afterwards."""
    params = connection.get_connection_params()
    params = {k: v for k, v in params.items() if k in {"host", "port", "user", "password"}}
    names = [f"backup_src_{os.getpid()}", f"backup_dst_{os.getpid()}"]
    with psycopg.connect(dbname="postgres", autocommit=True, **params) as admin:
        for name in names:
            admin.execute(f"DROP DATABASE IF EXISTS {name}")
            admin.execute(f"CREATE DATABASE {name}")
    yield names, params
    with psycopg.connect(dbname="postgres", autocommit=True, **params) as admin:
        for name in names:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def test_backup_then_restore_round_trips_a_database(scratch_databases, tmp_path):
    (source, target), params = scratch_databases
    client_bin = postgres_client_bin(connection.pg_version // 10000)
    assert client_bin is not None, "pgserver's wheel brings pg_dump; it is missing"
    with psycopg.connect(dbname=source, autocommit=True, **params) as conn:
        conn.execute("CREATE TABLE trade (id serial PRIMARY KEY, pnl numeric(20, 8))")
        conn.execute("INSERT INTO trade (pnl) SELECT g / 7.0 FROM generate_series(1, 500) g")
    path = f"{client_bin}{os.pathsep}{os.environ['PATH']}"
    dumps = tmp_path / "dumps"
    stale = dumps / "central-20000101T000000Z.dump"
    dumps.mkdir()
    stale.write_text("expired")
    os.utime(stale, (0, 0))

    backup = subprocess.run(
        [BACKUP / "backup.sh", dumps],
        env=worker_environment(source, PATH=path, BACKUP_RETENTION_DAYS="7"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert backup.returncode == 0, backup.stderr
    (dump,) = dumps.glob("central-*.dump")
    assert dump != stale

    refused = subprocess.run(
        [BACKUP / "restore.sh", dump],
        env=worker_environment(source, PATH=path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert refused.returncode != 0
    assert "not empty" in refused.stderr

    restore = subprocess.run(
        [BACKUP / "restore.sh", dump],
        env=worker_environment(target, PATH=path),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert restore.returncode == 0, restore.stderr
    with psycopg.connect(dbname=target, **params) as conn:
        count, total = conn.execute("SELECT count(*), sum(pnl) FROM trade").fetchone()
    with psycopg.connect(dbname=source, **params) as conn:
        assert (count, total) == conn.execute("SELECT count(*), sum(pnl) FROM trade").fetchone()
    assert count == 500


# --- Compose: wiring between services ------------------------------------------------------


def table_counts(conn) -> dict[str, int]:
    tables = conn.execute(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
    ).fetchall()
    return {
        name: conn.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0] for (name,) in tables
    }


def candle_checksum(conn) -> str:
    from marketdata.models import Candle

    table = Candle._meta.db_table
    return conn.execute(
        f"SELECT md5(string_agg(c::text, ',' ORDER BY c::text)) FROM \"{table}\" c"
    ).fetchone()[0]


@pytest.mark.django_db(transaction=True)
def test_a_populated_central_database_restores_into_a_fresh_server(tmp_path, analyst):
    """The issue's check: Central's own database, with candles and users in it, dumped by
    deploy/backup/backup.sh and restored by restore.sh into a newly started, empty
    PostgreSQL server: every table has as many rows and the candles the same checksum."""
    from central.embedded_servers import embedded_postgres
    from tests.backtest.conftest import store_candles

    store_candles(count=700)
    store_candles(symbol="ETHUSDT", count=300, seed=3)
    client_bin = postgres_client_bin(connection.pg_version // 10000)
    assert client_bin is not None, "pgserver's wheel brings pg_dump; it is missing"
    path = f"{client_bin}{os.pathsep}{os.environ['PATH']}"
    source_db = connection.settings_dict["NAME"]
    dumps = tmp_path / "dumps"
    dumps.mkdir()

    backup = subprocess.run(
        [BACKUP / "backup.sh", dumps],
        env=worker_environment(source_db, PATH=path),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert backup.returncode == 0, backup.stderr
    (dump,) = dumps.glob("central-*.dump")

    with embedded_postgres(tmp_path / "fresh", throwaway=True) as fresh_url:
        env = dict(worker_environment(source_db, PATH=path), DATABASE_URL=fresh_url)
        restore = subprocess.run(
            [BACKUP / "restore.sh", dump], env=env, capture_output=True, text=True, timeout=600
        )
        assert restore.returncode == 0, restore.stderr
        with psycopg.connect(fresh_url) as restored:
            restored_counts, restored_sum = table_counts(restored), candle_checksum(restored)
    params = connection.get_connection_params()
    with psycopg.connect(**{**params, "dbname": source_db}) as original:
        original_counts, original_sum = table_counts(original), candle_checksum(original)

    assert restored_counts == original_counts
    assert sum(count for name, count in restored_counts.items() if "candle" in name) >= 1000
    assert restored_counts["auth_user"] >= 1
    assert restored_sum == original_sum and restored_sum is not None


def compose_mounts(service: dict) -> dict[str, str]:
    """Container path -> source of each "source:target[:mode]" volume of a service."""
    mounts = {}
    for volume in service.get("volumes", []):
        source, target, *_ = volume.split(":")
        mounts[target] = source
    return mounts


def repository_path(service: dict, container_path: str) -> Path | None:
    """The repository file a bind mount puts at container_path, else None."""
    for target, source in compose_mounts(service).items():
        if source.startswith("./") and (
            container_path == target or container_path.startswith(target.rstrip("/") + "/")
        ):
            return ROOT / source / Path(container_path).relative_to(target)
    return None


def test_compose_references_resolve():
    spec = compose()
    services = spec["services"]
    for name, svc in services.items():
        depends_on = svc.get("depends_on", {})
        assert set(depends_on) <= set(services), f"{name} depends on an unknown service"
        assert name not in depends_on, name
        for source in compose_mounts(svc).values():
            if source.startswith("./"):
                assert (ROOT / source).exists(), f"{name} mounts {source}, which does not exist"
            else:
                assert source in spec["volumes"], f"{name} uses the undeclared volume {source}"
        for secret in svc.get("secrets", []):
            assert secret in spec["secrets"], f"{name} uses the undeclared secret {secret}"
    used = {s for svc in services.values() for s in compose_mounts(svc).values()}
    assert set(spec["volumes"]) <= used, "a declared volume is never mounted"


def test_compose_keeps_monitoring_private():
    for name in ("prometheus", "grafana"):
        for port in compose()["services"][name]["ports"]:
            assert port.startswith("127.0.0.1:"), f"{name} is published beyond localhost: {port}"
    grafana = compose()["services"]["grafana"]["environment"]
    assert grafana["GF_SECURITY_ADMIN_PASSWORD"].startswith("${GRAFANA_ADMIN_PASSWORD:?")
    assert grafana["GF_USERS_ALLOW_SIGN_UP"] == "false"


# --- Prometheus ----------------------------------------------------------------------------


def prometheus_config() -> dict:
    return yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())


def prometheus_flag(name: str) -> str:
    (value,) = [
        arg.split("=", 1)[1]
        for arg in compose()["services"]["prometheus"]["command"]
        if arg.startswith(f"--{name}=")
    ]
    return value


def test_prometheus_loads_the_repository_config_and_its_rules():
    prometheus = compose()["services"]["prometheus"]
    assert repository_path(prometheus, prometheus_flag("config.file")) == (
        PROMETHEUS / "prometheus.yml"
    )
    assert compose_mounts(prometheus)[prometheus_flag("storage.tsdb.path")] in compose()["volumes"]
    rule_files = prometheus_config()["rule_files"]
    assert rule_files
    for rule_file in rule_files:
        path = repository_path(prometheus, rule_file)
        assert path is not None and path.exists(), rule_file
        assert yaml.safe_load(path.read_text())["groups"]


def test_prometheus_scrapes_the_web_server_with_the_web_servers_token(settings):
    """The scrape reaches web:8000/metrics with a Host Django accepts and the bearer token
    the web server is given: both come from the one METRICS_TOKEN variable."""
    (job,) = prometheus_config()["scrape_configs"]
    assert job["job_name"] == "central-web"
    assert resolve(job["metrics_path"]).url_name == "prometheus-django-metrics"
    ((target,),) = [static["targets"] for static in job["static_configs"]]
    host, port = target.split(":")
    assert host == "web" and host in compose()["services"]
    assert any(p.endswith(f":{port}") for p in compose()["services"]["web"]["ports"])
    default_hosts = re.fullmatch(
        r"\$\{ALLOWED_HOSTS:-(.*)\}", compose()["x-app-env"]["ALLOWED_HOSTS"]
    )
    assert host in default_hosts[1].split(",")

    auth = job["authorization"]
    assert auth["type"] == "Bearer"
    (secret,) = compose()["services"]["prometheus"]["secrets"]
    assert auth["credentials_file"] == f"/run/secrets/{secret}"
    assert compose()["secrets"][secret] == {"environment": "METRICS_TOKEN"}
    assert compose()["x-app-env"]["METRICS_TOKEN"].startswith("${METRICS_TOKEN:?")
    assert "METRICS_TOKEN" in settings_variables()


# --- Metric names: dashboards and alerts against what /metrics exports ----------------------


PROMQL_WORDS = {
    "by", "without", "on", "ignoring", "group_left", "group_right", "bool",
    "and", "or", "unless", "offset", "inf", "nan",
}  # fmt: skip
# Labels Prometheus adds to every scraped series (prometheus.yml's target labels included).
TARGET_LABELS = {"job", "instance", "service", "__name__"}
SAMPLE_SUFFIXES = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "gaugehistogram": ("_bucket", "_gcount", "_gsum"),
    "summary": ("", "_count", "_sum", "_created"),
}


def exported_metrics() -> dict[str, set[str]]:
    """Every sample name the web server's /metrics can carry, with its label names: the
    families registered in the process's Prometheus registry (django-prometheus's
    request, database and cache metrics; the platform collector of central.metrics),
    plus "up", which Prometheus records per scrape."""
    from django_prometheus.middleware import Metrics
    from prometheus_client import REGISTRY

    Metrics.get_instance()  # django-prometheus registers the request metrics lazily
    import django_prometheus.cache.metrics
    import django_prometheus.db.metrics  # noqa: F401

    known = {"up": set()}
    # The registry's collectors (a private mapping: prometheus_client has no public list).
    for collector in list(REGISTRY._collector_to_names):
        if not hasattr(collector, "describe"):
            continue
        for family in collector.describe():
            if not family.name.startswith(("django_", "central_")):
                continue
            labels = getattr(collector, "_labelnames", None) or getattr(family, "_labelnames", ())
            for suffix in SAMPLE_SUFFIXES[family.type]:
                extra = {"le"} if suffix == "_bucket" else set()
                known[family.name + suffix] = set(labels) | extra
    return known


def promql_references(expr: str) -> tuple[list[tuple[str, set[str]]], set[str]]:
    """([(metric, labels its matchers use)], labels used by by/without/on/ignoring)."""
    expr = re.sub(r"\[[^\]]*\]", " ", expr)  # ranges and subqueries: [5m], [$__rate_interval]
    grouping: set[str] = set()
    clause = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")
    for match in clause.finditer(expr):
        grouping |= {label.strip() for label in match[1].split(",") if label.strip()}
    expr = clause.sub(" ", expr)
    selectors: list[tuple[str, set[str]]] = []
    token = re.compile(r"(?<![\w.])([A-Za-z_:][\w:]*)\s*(\{[^}]*\})?(\s*\()?")
    for match in token.finditer(expr):
        name, matchers, call = match[1], match[2], match[3]
        if call or name in PROMQL_WORDS:
            continue
        labels = set(re.findall(r"([A-Za-z_]\w*)\s*(?:=~|!~|!=|=)", matchers or ""))
        selectors.append((name, labels))
    return selectors, grouping


def check_query(where: str, expr: str, legend: str = "") -> set[str]:
    """Fail unless every metric and label in expr exists; return the metric names."""
    known = exported_metrics()
    selectors, grouping = promql_references(expr)
    assert selectors, f"{where}: no metric in {expr!r}"
    for name, labels in selectors:
        assert name in known, f"{where}: /metrics exports no {name!r} ({expr})"
        assert labels <= known[name] | TARGET_LABELS, f"{where}: {name} has no label {labels}"
    available = set().union(*(known[name] for name, _ in selectors)) | TARGET_LABELS
    assert grouping <= available, f"{where}: grouping by unknown labels {grouping - available}"
    legend_labels = set(re.findall(r"\{\{\s*(\w+)\s*\}\}", legend))
    assert legend_labels <= grouping | available, f"{where}: legend uses {legend_labels}"
    return {name for name, _ in selectors}


def test_promql_reference_parser():
    selectors, grouping = promql_references(
        'sum by (le, view) (rate(a_bucket{status=~"5..", job="x"}[$__rate_interval]))'
        " / clamp_min(sum(b_total offset 5m), 1e-9) > 0.25 and c"
    )
    assert selectors == [("a_bucket", {"status", "job"}), ("b_total", set()), ("c", set())]
    assert grouping == {"le", "view"}
    # The check refuses names and labels /metrics does not export.
    check_query("known", 'sum by (status) (central_backtests{status="failed"})', "{{status}}")
    for wrong in ("central_queue_depth", 'central_backtests{queue="x"}', "sum by (q) (up)"):
        with pytest.raises(AssertionError):
            check_query("wrong", wrong)
    with pytest.raises(AssertionError):
        check_query("wrong legend", "central_backtests", "{{kind}}")


def grafana_dashboards() -> dict[str, dict]:
    return {
        p.name: json.loads(p.read_text()) for p in sorted((GRAFANA / "dashboards").glob("*.json"))
    }


def dashboard_panels() -> list[tuple[str, dict]]:
    return [
        (f"{name}:{panel['title']}", panel)
        for name, dashboard in grafana_dashboards().items()
        for panel in dashboard["panels"]
        if panel["type"] != "row"
    ]


def test_grafana_is_provisioned_from_the_repository():
    grafana = compose()["services"]["grafana"]
    provisioning = repository_path(grafana, "/etc/grafana/provisioning")
    assert provisioning == GRAFANA / "provisioning"
    (datasource,) = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())[
        "datasources"
    ]
    assert datasource["type"] == "prometheus"
    assert urlparse(datasource["url"]).hostname == "prometheus"
    assert any(
        p.endswith(f":{urlparse(datasource['url']).port}")
        for p in compose()["services"]["prometheus"]["ports"]
    )
    (provider,) = yaml.safe_load((provisioning / "dashboards" / "central.yml").read_text())[
        "providers"
    ]
    dashboards = repository_path(grafana, provider["options"]["path"])
    assert dashboards == GRAFANA / "dashboards"
    assert grafana_dashboards()
    for ident, panel in dashboard_panels():
        uids = [panel["datasource"]["uid"]] + [t["datasource"]["uid"] for t in panel["targets"]]
        assert set(uids) == {datasource["uid"]}, ident


def test_every_dashboard_query_uses_exported_metrics_and_labels():
    panels = dashboard_panels()
    assert len(panels) >= 20
    for ident, panel in panels:
        assert panel["description"], f"{ident} explains nothing"
        assert panel["targets"], ident
        for target in panel["targets"]:
            check_query(ident, target["expr"], target.get("legendFormat", ""))


def test_the_dashboard_shows_every_platform_metric_and_the_web_basics():
    used = {
        name
        for ident, panel in dashboard_panels()
        for target in panel["targets"]
        for name in check_query(ident, target["expr"])
    }
    platform = {name for name in exported_metrics() if name.startswith("central_")}
    # Each platform family shows on at least one panel (its main sample suffices).
    families = {re.sub(r"_(total|created|bucket|gcount|gsum)$", "", name) for name in platform}
    shown = {re.sub(r"_(total|created|bucket|gcount|gsum)$", "", name) for name in used}
    missing = families - shown - {"central_run_duration_window_seconds"}
    assert not missing, f"no panel shows {sorted(missing)}"
    assert {
        "django_http_requests_total_by_method_total",
        "django_http_requests_latency_seconds_by_view_method_bucket",
        "django_http_responses_total_by_status_total",
    } <= used


def alert_rules() -> list[dict]:
    groups = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def test_alert_rules_query_exported_metrics_and_are_documented():
    rules = alert_rules()
    names = [rule["alert"] for rule in rules]
    assert len(names) == len(set(names))
    docs = OPERATIONS_DOC.read_text()
    for rule in rules:
        check_query(rule["alert"], rule["expr"])
        assert rule["labels"]["severity"] in {"warning", "critical"}, rule["alert"]
        assert rule["annotations"]["summary"], rule["alert"]
        assert re.search(rf"^#+ .*`{rule['alert']}`", docs, re.MULTILINE), (
            f"docs/operations.md has no section on {rule['alert']}"
        )
    # The kinds of trouble operators asked to be told about.
    for needed in ("WorkerDown", "QueueDepth", "SyncLag", "RateLimited", "5xx", "BacktestFailures"):
        assert any(needed in name for name in names), needed
    # Alerts a dashboard panel points to exist.
    for ident, panel in dashboard_panels():
        for alert in re.findall(r"\b(Central[A-Z]\w+)", panel["description"]):
            assert alert in names, f"{ident} names the unknown alert {alert}"


def test_operations_doc_explains_every_dashboard_panel():
    docs = OPERATIONS_DOC.read_text()
    for ident, panel in dashboard_panels():
        assert f"**{panel['title']}**" in docs, f"docs/operations.md does not explain {ident}"


# --- Backup service ------------------------------------------------------------------------


def test_backup_service_runs_the_repository_script_on_a_schedule():
    services = compose()["services"]
    backup = services["backup"]
    # pg_dump must be of the server's major version or newer.
    db_major = re.search(r"pg(\d+)", services["db"]["image"])[1]
    assert re.fullmatch(rf"postgres:{db_major}(-\w+)?", backup["image"]), backup["image"]
    commands = exec_commands(backup["command"])
    scripts = [argv for argv in commands if argv[0].startswith("/")]
    assert [Path(argv[0]).name for argv in scripts] == ["backup.sh"]
    for argv in scripts:
        script = repository_path(backup, argv[0])
        assert script == BACKUP / "backup.sh"
        assert script.stat().st_mode & stat.S_IXUSR
        (dump_dir,) = argv[1:]
        assert compose_mounts(backup)[dump_dir] in compose()["volumes"]
    # Everything else is a shell builtin or coreutils, present in every Debian image.
    assert {argv[0] for argv in commands} - {argv[0] for argv in scripts} <= {
        "true",
        "echo",
        "sleep",
    }
    sleep = next(argv for argv in commands if argv[0] == "sleep")
    assert sleep[1] == "$$BACKUP_INTERVAL_SECONDS"  # compose turns $$ into $
    env = backup["environment"]
    assert env["DATABASE_URL"] == compose()["x-app-env"]["DATABASE_URL"]
    assert "BACKUP_RETENTION_DAYS" in env and "BACKUP_INTERVAL_SECONDS" in env
    assert "BACKUP_RETENTION_DAYS" in (BACKUP / "backup.sh").read_text()
    assert backup["depends_on"]["db"] == {"condition": "service_healthy"}


# --- Kubernetes: autoscaling, ingress, disruption budget --------------------------------


def test_every_web_and_worker_deployment_is_autoscaled_on_cpu_it_requests():
    hpas = [obj for _, obj in kubernetes_objects("HorizontalPodAutoscaler")]
    targets = [hpa["spec"]["scaleTargetRef"] for hpa in hpas]
    assert all(t["kind"] == "Deployment" and t["apiVersion"] == "apps/v1" for t in targets)
    scaled = [t["name"] for t in targets]
    assert sorted(scaled) == sorted(["central-web", *kubernetes_workers()])
    for hpa in hpas:
        spec = hpa["spec"]
        deployment = kubernetes_deployment(spec["scaleTargetRef"]["name"])
        assert 1 <= spec["minReplicas"] <= spec["maxReplicas"], hpa["metadata"]["name"]
        # The HPA owns the count: a replicas field would reset it on every apply.
        assert "replicas" not in deployment["spec"], deployment["metadata"]["name"]
        (metric,) = spec["metrics"]
        assert metric["resource"]["name"] == "cpu"
        for container in pod_spec(deployment)["containers"]:
            assert "cpu" in container["resources"]["requests"]
    assert kubernetes_deployment("central-beat")["spec"]["replicas"] == 1
    assert "central-beat" not in scaled


def test_ingress_routes_to_the_web_service_and_its_tls_secret_is_documented():
    ((_, ingress),) = kubernetes_objects("Ingress")
    ((_, service),) = kubernetes_objects("Service")
    service_ports = {p["name"] for p in service["spec"]["ports"]}
    backends = [
        path["backend"]["service"]
        for rule in ingress["spec"]["rules"]
        for path in rule["http"]["paths"]
    ]
    assert backends
    for backend in backends:
        assert backend["name"] == service["metadata"]["name"]
        assert backend["port"]["name"] in service_ports
    configmap = next(o for _, o in kubernetes_objects("ConfigMap"))
    allowed = configmap["data"]["ALLOWED_HOSTS"].split(",")
    for rule in ingress["spec"]["rules"]:
        assert rule["host"] in allowed
    for tls in ingress["spec"]["tls"]:
        assert tls["secretName"] in EXTERNAL_SECRETS
        assert tls["secretName"] in DEPLOY_README.read_text()
    # WebSockets: idle live-progress sockets must outlive the proxy's default 60 s.
    annotations = ingress["metadata"]["annotations"]
    assert int(annotations["nginx.ingress.kubernetes.io/proxy-read-timeout"]) >= 3600


def test_the_web_disruption_budget_selects_the_web_pods():
    ((_, pdb),) = kubernetes_objects("PodDisruptionBudget")
    web = kubernetes_deployment("central-web")
    assert pdb["spec"]["selector"]["matchLabels"] == web["spec"]["selector"]["matchLabels"]
    (web_hpa,) = [
        o
        for _, o in kubernetes_objects("HorizontalPodAutoscaler")
        if o["spec"]["scaleTargetRef"]["name"] == "central-web"
    ]
    assert pdb["spec"]["minAvailable"] < web_hpa["spec"]["minReplicas"]


def test_probes_where_they_apply():
    """Web pods: startup and readiness on /api/health/ (test above), liveness by TCP;
    every worker: liveness by Celery ping of its own node."""
    web = pod_spec(kubernetes_deployment("central-web"))["containers"][0]
    assert {"startupProbe", "readinessProbe", "livenessProbe"} <= set(web)
    for name, obj in kubernetes_workers().items():
        (worker,) = pod_spec(obj)["containers"]
        (ping,) = exec_commands(worker["livenessProbe"]["exec"]["command"])
        assert ping[3:5] == ["inspect", "ping"], name
        assert "celery@$HOSTNAME" in ping, name


def test_kustomize_renders_the_manifests(tmp_path):
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed")
    folder = tmp_path / "kubernetes"
    shutil.copytree(KUBERNETES, folder)
    shutil.copy(folder / "secrets.env.example", folder / "secrets.env")
    rendered = subprocess.run(
        [kubectl, "kustomize", str(folder)], capture_output=True, text=True, timeout=60
    )
    assert rendered.returncode == 0, rendered.stderr
    objects = [doc for doc in yaml.safe_load_all(rendered.stdout) if doc]
    kinds = sorted(o["kind"] for o in objects)
    assert kinds == sorted([o["kind"] for _, o in kubernetes_objects()] + ["Secret"])
    (secret,) = [o for o in objects if o["kind"] == "Secret"]
    # The generated name carries a hash; every reference was rewritten to it.
    for obj in objects:
        if obj["kind"] in {"Deployment", "Job"}:
            spec = obj["spec"]["template"]["spec"]
            for container in spec.get("initContainers", []) + spec["containers"]:
                refs = [r["secretRef"]["name"] for r in container["envFrom"] if "secretRef" in r]
                assert refs == [secret["metadata"]["name"]]
        assert obj["metadata"]["labels"]["app.kubernetes.io/part-of"] == "central"


# --- CI: image build and dependency scan -------------------------------------------------------


def test_workflow_builds_the_image_without_pushing_and_scans_it():
    jobs = workflow()["jobs"]
    assert {"test", "image", "dependencies"} <= set(jobs)
    uses = [step.get("uses", "") for step in jobs["image"]["steps"]]
    assert any(u.startswith("docker/setup-buildx-action@") for u in uses)
    (build,) = [
        s
        for s in jobs["image"]["steps"]
        if s.get("uses", "").startswith("docker/build-push-action@")
    ]
    assert build["with"]["push"] is False
    assert (ROOT / build["with"]["context"] / build["with"]["file"]) == DOCKERFILE
    (scan,) = [
        s
        for s in jobs["image"]["steps"]
        if s.get("uses", "").startswith("aquasecurity/trivy-action@")
    ]
    assert scan["with"]["image-ref"] == build["with"]["tags"] == workflow_image_tag()
    assert any("docker run" in s.get("run", "") for s in jobs["image"]["steps"])


def dev_dependencies() -> list[str]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"][
        "dev"
    ]


def test_workflow_audits_the_installed_dependencies():
    steps = workflow()["jobs"]["dependencies"]["steps"]
    runs = [step["run"] for step in steps if "run" in step]
    # pip-audit is a dev dependency, so `make install` brings it (and this test's checker).
    audit = next(i for i, run in enumerate(runs) if run.startswith(".venv/bin/pip-audit"))
    assert runs.index("make install") < audit
    assert any(dep.startswith("pip-audit") for dep in dev_dependencies())
    # The project itself is not on PyPI; everything it installs is audited.
    assert "--skip-editable" in runs[audit].split()
