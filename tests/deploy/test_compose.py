"""deploy/compose (runtime.md §6.3): the compose file's structure, the files it mounts, the
Prometheus and Grafana provisioning, and `docker-compose config -q` (Debian's docker-compose
checks the file without an engine). The dashboard's series against a live /metrics are
checked by tests/e2e/test_metrics.py."""

import json
import shutil

import pytest
import yaml

from conftest import REPO_ROOT, run

COMPOSE_DIR = REPO_ROOT / "deploy" / "compose"
COMPOSE = COMPOSE_DIR / "docker-compose.yml"
DASHBOARD = COMPOSE_DIR / "grafana" / "dashboards" / "rstmdb-cpp.json"


def compose():
    return yaml.safe_load(COMPOSE.read_text())


def test_rstmdb_service_is_built_hardened_and_configured():
    svc = compose()["services"]["rstmdb"]
    build = svc["build"]
    assert (COMPOSE_DIR / build["context"] / build["dockerfile"]).resolve() == \
        (REPO_ROOT / "deploy" / "docker" / "Dockerfile").resolve()
    assert svc["restart"] == "unless-stopped"
    assert svc["stop_grace_period"] == "30s"
    assert set(svc["ports"]) == {"7401:7401", "9090:9090"}
    assert "rstmdb-data:/data" in svc["volumes"]
    assert "../config/config.yaml:/etc/rstmdb/config.yaml:ro" in svc["volumes"]
    assert svc["environment"]["RSTMDB_CONFIG"] == "/etc/rstmdb/config.yaml"
    assert svc["environment"]["RSTMDB_METRICS_ENABLED"] == "true"
    assert svc["read_only"] is True
    assert svc["cap_drop"] == ["ALL"]
    assert "no-new-privileges:true" in svc["security_opt"]


def test_prometheus_and_grafana_are_pinned_and_wired():
    services = compose()["services"]
    prom, graf = services["prometheus"], services["grafana"]
    for s in (prom, graf):
        image = s["image"]
        assert ":" in image and not image.endswith(":latest"), "unpinned image %s" % image
    assert prom["depends_on"]["rstmdb"]["condition"] == "service_healthy"
    assert "9091:9090" in prom["ports"]
    assert "3000:3000" in graf["ports"]
    assert graf["environment"]["GF_SECURITY_ADMIN_PASSWORD"] == "${GRAFANA_ADMIN_PASSWORD:-admin}"
    scrape = yaml.safe_load((COMPOSE_DIR / "prometheus.yml").read_text())
    jobs = {j["job_name"]: j for j in scrape["scrape_configs"]}
    assert jobs["rstmdb"]["static_configs"][0]["targets"] == ["rstmdb:9090"]
    assert scrape["global"]["scrape_interval"] == "5s"


def test_every_bind_mounted_file_exists():
    for name, svc in compose()["services"].items():
        for volume in svc.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith((".", "/")):
                assert (COMPOSE_DIR / source).exists(), "%s mounts missing %s" % (name, source)


def test_grafana_provisioning_points_at_our_dashboard():
    graf = compose()["services"]["grafana"]
    ds = yaml.safe_load((COMPOSE_DIR / "grafana/provisioning/datasources/prometheus.yml").read_text())
    [source] = ds["datasources"]
    assert source["type"] == "prometheus" and source["url"] == "http://prometheus:9090"
    providers = yaml.safe_load((COMPOSE_DIR / "grafana/provisioning/dashboards/rstmdb.yml").read_text())
    [provider] = providers["providers"]
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards"
    assert "./grafana/dashboards:/var/lib/grafana/dashboards:ro" in graf["volumes"]
    home = graf["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert home == "/var/lib/grafana/dashboards/" + DASHBOARD.name
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] == "rstmdb-cpp"
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            assert target["datasource"]["uid"] == source["uid"], panel["title"]


def test_docker_compose_accepts_the_file(tmp_path):
    if shutil.which("docker-compose") is None:
        pytest.fail("docker-compose is not installed (tests/deploy/run.sh installs it)")
    run(["docker-compose", "-f", COMPOSE, "config", "-q"], cwd=str(COMPOSE_DIR))


def test_promtool_accepts_the_scrape_config():
    if shutil.which("promtool") is None:
        pytest.skip("promtool is not installed (Debian's prometheus package; optional)")
    run(["promtool", "check", "config", COMPOSE_DIR / "prometheus.yml"])
