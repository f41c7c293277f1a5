"""The Dockerfile, .dockerignore, docker-compose.yml and .env.example (parsed, not built:
there is no container engine in the test environment; CI builds and smoke-tests the image)."""

from __future__ import annotations

import fnmatch
import re
import shutil
import subprocess
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = (ROOT / "Dockerfile").read_text(encoding="utf-8")
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
ENTRYPOINT = ROOT / "deploy" / "docker" / "entrypoint.sh"
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|API_KEY|COOKIE_KEY|AUDIT_KEY")


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined and comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE)
    result = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            result.append((keyword.upper(), rest.strip()))
    return result


def _dockerignore() -> list[str]:
    lines = (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def _ignored(path: str) -> bool:
    """Docker's rule: the last matching pattern wins; `!` re-includes."""
    ignored = False
    for pattern in _dockerignore():
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!").rstrip("/")
        candidates = [pattern, pattern.removeprefix("**/")]
        parts = Path(path).parts
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        if any(fnmatch.fnmatch(prefix, c) for c in candidates for prefix in prefixes):
            ignored = not negate
    return ignored


# ----------------------------------------------------------------------------- Dockerfile


def test_multi_stage_build_from_an_exactly_pinned_base():
    stages = [args for keyword, args in _instructions() if keyword == "FROM"]
    assert len(stages) >= 2, "build wheels in one stage, run from a slim one"
    default = re.search(r"^ARG PYTHON_IMAGE=(\S+)", DOCKERFILE, re.M)
    assert default, "the base image is a build argument with a pinned default"
    image = default.group(1)
    assert re.fullmatch(r"python:\d+\.\d+\.\d+-slim-\w+(@sha256:[0-9a-f]{64})?", image), image
    assert "latest" not in image
    assert all(stage.split()[0] == "${PYTHON_IMAGE}" for stage in stages)


def test_runtime_installs_only_runtime_requirements_from_built_wheels():
    runtime = DOCKERFILE.split("AS runtime", 1)[1]
    assert "requirements-dev" not in DOCKERFILE
    assert "--no-index" in runtime and "from=builder" in runtime
    assert "build-essential" not in runtime, "no compiler in the runtime image"


def test_runs_as_a_numeric_non_root_user():
    users = [args for keyword, args in _instructions() if keyword == "USER"]
    assert users, "no USER instruction"
    uid = users[-1].split(":")[0]
    assert uid.isdigit() and int(uid) != 0, "a numeric uid lets Kubernetes verify runAsNonRoot"


def test_healthcheck_polls_streamlit_health_endpoint():
    checks = [args for keyword, args in _instructions() if keyword == "HEALTHCHECK"]
    assert len(checks) == 1 and "/_stcore/health" in checks[0]
    assert "8501" in checks[0]


def test_data_directory_is_a_volume_and_ports_are_exposed():
    instructions = _instructions()
    assert ("VOLUME", '["/data"]') in instructions
    assert any(k == "EXPOSE" and "8501" in a and "9464" in a for k, a in instructions)
    assert "MLTRAINER_DATA_DIR=/data" in DOCKERFILE
    assert "PROMETHEUS_MULTIPROC_DIR=/tmp/" in DOCKERFILE, "per-container metrics directory"


def test_sandbox_requirements_are_documented():
    assert "SYS_ADMIN" in DOCKERFILE and "docs/security.md" in DOCKERFILE
    assert "libseccomp2" in DOCKERFILE


def test_every_copied_path_exists_and_is_in_the_build_context():
    for keyword, args in _instructions():
        if keyword != "COPY" or "--from=" in args:
            continue
        parts = [part for part in args.split() if not part.startswith("--")]
        for source in parts[:-1]:
            assert (ROOT / source).exists(), f"COPY {source}: no such file"
            assert not _ignored(source), f"COPY {source}: excluded by .dockerignore"


def test_the_copied_python_code_is_compiled_to_bytecode_in_the_image():
    # PYTHONDONTWRITEBYTECODE is set and the code is read-only, so without a build-time
    # compileall each process start compiles the app's modules from source.
    compiled: set[str] = set()
    for keyword, args in _instructions():
        if keyword == "RUN" and "compileall" in args:
            compiled.update(args.split("compileall", 1)[1].split())
    for keyword, args in _instructions():
        if keyword != "COPY" or "--from=" in args:
            continue
        parts = [part for part in args.split() if not part.startswith("--")]
        for source in parts[:-1]:
            path = ROOT / source
            if path.suffix == ".py" or (path.is_dir() and any(path.rglob("*.py"))):
                covered = {source, str(Path(source).parent)} & compiled
                assert covered, f"COPY {source}: Python code not byte-compiled in the image"


def test_dockerignore_keeps_secrets_and_local_state_out():
    for path in (
        ".env",
        ".streamlit/secrets.toml",
        ".venv/bin/python",
        "data/mltrainer.db",
        ".git/config",
        "tests/conftest.py",
    ):
        assert _ignored(path), f"{path} would be sent to the Docker daemon"
    assert not _ignored(".env.example")
    for path in (
        "app.py",
        "engine/config.py",
        "requirements.txt",
        "deploy/dask/mltrainer_preload.py",
        "deploy/docker/entrypoint.sh",
    ):
        assert not _ignored(path), f"{path} is needed in the image"


def test_entrypoint_is_executable_valid_shell_and_knows_every_role():
    assert ENTRYPOINT.stat().st_mode & 0o111, "entrypoint.sh must be executable"
    text = ENTRYPOINT.read_text(encoding="utf-8")
    for role in ("app)", "worker)", "migrate)", 'exec "$@"'):
        assert role in text
    shell = shutil.which("sh")
    if shell:
        result = subprocess.run([shell, "-n", str(ENTRYPOINT)], capture_output=True, text=True)
        assert result.returncode == 0, result.stderr


# ----------------------------------------------------------------------------- compose


def _service(name: str) -> dict:
    return COMPOSE["services"][name]


def test_compose_has_the_whole_stack():
    assert {
        "app",
        "scheduler",
        "worker",
        "postgres",
        "redis",
        "prometheus",
        "grafana",
        "migrate",
    } <= set(COMPOSE["services"])


def test_compose_dask_uses_the_project_image_and_database():
    image = _service("app")["image"]
    for name in ("scheduler", "worker", "migrate"):
        assert _service(name)["image"] == image, f"{name} must run the project's image"
    assert _service("scheduler")["command"][:2] == ["dask", "scheduler"]
    worker = _service("worker")
    assert worker["command"][:3] == ["dask", "worker", "tcp://scheduler:8786"]
    preload = worker["command"][worker["command"].index("--preload") + 1]
    assert (ROOT / preload.removeprefix("/app/")).exists()
    for name in ("app", "worker", "migrate"):
        env = _service(name)["environment"]
        assert (
            env["DATABASE_URL"].startswith("postgresql://")
            and "@postgres:5432/" in env["DATABASE_URL"]
        )
        assert "@redis:6379" in env["REDIS_URL"]
        assert env["MLTRAINER_EXECUTOR"] == "dask"
        assert env["MLTRAINER_DASK_ADDRESS"] == "tcp://scheduler:8786"


def test_compose_keeps_state_in_volumes():
    volumes = set(COMPOSE["volumes"])
    assert any(v.startswith("postgres-data:") for v in _service("postgres")["volumes"])
    assert any(
        v.split(":")[0] in volumes and v.endswith(":/data") for v in _service("app")["volumes"]
    )
    assert _service("app")["volumes"] == _service("worker")["volumes"], "shared data directory"


def test_compose_images_are_pinned():
    for name, service in COMPOSE["services"].items():
        image = service["image"]
        if image.startswith("${MLTRAINER_IMAGE"):
            continue
        assert ":" in image and not image.endswith(":latest"), f"{name}: {image}"


def test_compose_secrets_come_from_the_env_file():
    text = (ROOT / "docker-compose.yml").read_text(encoding="utf-8")
    for name, service in COMPOSE["services"].items():
        environment = service.get("environment") or {}
        for key, value in environment.items():
            if SECRET_NAME.search(key):
                assert str(value).startswith("${"), f"{name}.{key} must come from .env"
    used = set(re.findall(r"\$\{([A-Z_][A-Z0-9_]*)", text))
    example = {
        line.split("=", 1)[0]
        for line in (ROOT / ".env.example").read_text(encoding="utf-8").splitlines()
        if line and not line.startswith("#") and "=" in line
    }
    assert used <= example, f".env.example lacks {sorted(used - example)}"


def _gitignore_ignores(path: str) -> bool:
    """Fallback when git cannot answer (not a checkout, or a foreign-owned one)."""
    ignored = False
    for line in (ROOT / ".gitignore").read_text(encoding="utf-8").splitlines():
        pattern = line.strip()
        if not pattern or pattern.startswith("#"):
            continue
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!").lstrip("/").rstrip("/")
        if fnmatch.fnmatch(path, pattern):
            ignored = not negate
    return ignored


def test_env_file_is_git_ignored_and_the_example_is_not():
    def ignored(path: str) -> bool:
        git = shutil.which("git")
        if git and (ROOT / ".git").exists():
            result = subprocess.run([git, "check-ignore", "-q", path], cwd=ROOT)
            if result.returncode in (0, 1):
                return result.returncode == 0
        return _gitignore_ignores(path)

    assert ignored(".env"), ".env must be git-ignored"
    assert not ignored(".env.example"), ".env.example must be committed"


def test_compose_monitoring_mounts_existing_files():
    for name in ("prometheus", "grafana"):
        for volume in _service(name)["volumes"]:
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), f"{name} mounts missing {source}"
    dashboards = ROOT / "deploy" / "grafana" / "dashboards"
    home = _service("grafana")["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert (dashboards / Path(home).name).exists()


def test_compose_services_wait_for_their_dependencies():
    assert _service("app")["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert _service("migrate")["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in ("postgres", "redis", "scheduler", "worker"):
        assert "healthcheck" in _service(name), f"{name} has no healthcheck"
