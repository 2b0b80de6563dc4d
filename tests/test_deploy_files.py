"""The deploy files (Helm values, docker-compose, Dockerfile) agree with what the code reads:
module names, environment variables, ports. Parsed as YAML; no docker or Kubernetes needed."""

import importlib
import re
from pathlib import Path

import yaml

from confluence_pipeline import settings as settings_module
from confluence_pipeline.definitions import EXECUTORS
from confluence_pipeline.run_tags import SYNC_TAG

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
# What the code and Dagster's PostgreSQL storage read from the environment.
KNOWN_ENV = ({*settings_module._ENV_AUTH, *settings_module._ENV_STORAGE, "CONFLUENCE_SETTINGS", "CONFLUENCE_DATA_DIR",
              "CONFLUENCE_EXECUTOR", "PGPASSWORD", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "DAGSTER_HOME"}
             | set(re.findall(r"env: (DAGSTER_PG_\w+)", (DEPLOY / "dagster.yaml").read_text())))


def load(name: str):
    return yaml.safe_load((DEPLOY / name).read_text())


def module_after(args: list[str]) -> str:
    return args[args.index("-m") + 1]


def test_compose_runs_webserver_daemon_and_code_server_on_the_instance_the_code_expects():
    compose = load("docker-compose.yaml")
    services = compose["services"]
    assert set(services) == {"postgres", "code", "webserver", "daemon"}
    code_command = services["code"]["command"]
    code_port = int(code_command[code_command.index("-p") + 1])
    importlib.import_module(module_after(code_command))
    workspace = load("workspace.yaml")["load_from"][0]["grpc_server"]
    assert (workspace["host"], workspace["port"]) == ("code", code_port)
    assert "/opt/dagster/workspace.yaml" in services["webserver"]["command"]
    assert services["webserver"]["ports"] == ["3000:3000"]
    assert "3000" in services["webserver"]["command"]
    assert services["daemon"]["command"][:2] == ["dagster-daemon", "run"]
    for name in ("code", "webserver", "daemon"):
        env = services[name]["environment"]
        assert set(env) <= KNOWN_ENV, set(env) - KNOWN_ENV
        # the instance (deploy/dagster.yaml) reads every DAGSTER_PG_* variable, from the postgres service
        assert {v for v in KNOWN_ENV if v.startswith("DAGSTER_PG_")} <= set(env)
        assert env["DAGSTER_PG_HOST"] == "postgres" and env["DAGSTER_PG_PORT"] == "5432"
        assert "host=postgres" in env["CONFLUENCE_CATALOG"]
        assert env["DAGSTER_PG_DB"] == services["postgres"]["environment"]["POSTGRES_DB"]
    assert "CREATE DATABASE confluence_lake" in (DEPLOY / "postgres-init.sql").read_text()
    # the Dockerfile it builds puts the instance and the workspace where the commands look
    dockerfile = (DEPLOY / services["code"]["build"]["dockerfile"].removeprefix("deploy/")).read_text()
    assert "COPY deploy/dagster.yaml ${DAGSTER_HOME}/dagster.yaml" in dockerfile
    assert "COPY deploy/workspace.yaml /opt/dagster/workspace.yaml" in dockerfile
    assert "EXPOSE 4000" in dockerfile


def test_helm_values_launch_runs_on_kubernetes_with_the_settings_the_code_reads():
    values = load("helm-values.yaml")
    deployment = values["dagster-user-deployments"]["deployments"][0]
    importlib.import_module(module_after(deployment["dagsterApiGrpcArgs"]))
    env = {e["name"]: e["value"] for e in deployment["env"]}
    assert set(env) <= KNOWN_ENV, set(env) - KNOWN_ENV
    assert env["CONFLUENCE_EXECUTOR"] == "k8s" and env["CONFLUENCE_EXECUTOR"] in EXECUTORS
    assert env["CONFLUENCE_CATALOG"].startswith("postgres:")
    assert env["CONFLUENCE_LAKE_PATH"].startswith("s3://")
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    assert values["postgresql"]["service"]["port"] == 5432
    assert f"host={values['postgresql']['postgresqlHost']}" in env["CONFLUENCE_CATALOG"]
    # secrets come from a Kubernetes secret, never from the values
    assert not {"CONFLUENCE_API_TOKEN", "PGPASSWORD", "AWS_SECRET_ACCESS_KEY"} & set(env)
    assert deployment["envSecrets"] == values["runLauncher"]["config"]["k8sRunLauncher"]["envSecrets"]
    # the same run coordinator and run limit as deploy/dagster.yaml, in the processes that submit
    # runs (webserver, daemon), which therefore run the code location's image
    coordinator = values["dagsterDaemon"]["runCoordinator"]
    assert coordinator["type"] == "CustomRunCoordinator"
    custom = coordinator["config"]["customRunCoordinator"]
    instance = load("dagster.yaml")
    assert (custom["module"], custom["class"]) == (instance["run_coordinator"]["module"],
                                                   instance["run_coordinator"]["class"])
    assert getattr(importlib.import_module(custom["module"]), custom["class"])
    assert custom["config"]["max_concurrent_runs"] == instance["concurrency"]["runs"]["max_concurrent_runs"]
    assert custom["config"]["tag_concurrency_limits"] == instance["concurrency"]["runs"]["tag_concurrency_limits"]
    assert [(lim["key"], lim["limit"]) for lim in custom["config"]["tag_concurrency_limits"]] == [(SYNC_TAG, 1)]
    for process in ("dagsterWebserver", "dagsterDaemon"):
        assert values[process]["image"]["repository"] == deployment["image"]["repository"]


def test_the_cli_home_queues_runs_as_the_deployment_does():
    """The dagster.yaml the CLI writes into a home without one has deploy/dagster.yaml's queue."""
    from confluence_pipeline.runner import LOCAL_INSTANCE

    local, deploy = yaml.safe_load(LOCAL_INSTANCE), load("dagster.yaml")
    assert set(local) == {"run_coordinator", "concurrency"}  # Dagster's defaults otherwise (SQLite)
    assert local["run_coordinator"] == deploy["run_coordinator"]
    assert local["concurrency"]["runs"] == {k: v for k, v in deploy["concurrency"]["runs"].items()}
