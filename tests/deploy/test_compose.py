"""deploy/compose (runtime.md §6.3): the compose file's structure, the files it mounts, the
Prometheus and Grafana provisioning, and `docker-compose config -q` (Debian's docker-compose
checks the file without an engine). The rstmdb service itself runs as the file composes it
(the image run with the service's volumes, environment, read-only root, tmpfs, dropped
capabilities and security options): it becomes healthy with the mounted sample config, and
every series our dashboard queries is in its live /metrics. (tests/e2e/test_metrics.py also
checks upstream's dashboard series against the built server.)"""

import http.client
import json
import re
import shutil
import subprocess
import time

import pytest
import yaml

from conftest import REPO_ROOT, client, connect_in_netns, inspect, run, unique, wait_for_server, write_workload
from metrics_helpers import Scrape

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


def compose_run_args(svc, volume):
    """`podman run` options equivalent to the compose service's keys this test knows; any
    other key fails the test, so a new key in the file gets a translation here."""
    known = {"build", "image", "restart", "stop_grace_period", "ports", "volumes", "environment",
             "read_only", "tmpfs", "cap_drop", "security_opt"}
    assert set(svc) <= known, "compose keys without a translation: %s" % sorted(set(svc) - known)
    args = ["--read-only"] if svc.get("read_only") else []
    for path in svc.get("tmpfs", []):
        args += ["--tmpfs", path]
    for cap in svc.get("cap_drop", []):
        args += ["--cap-drop", cap]
    for opt in svc.get("security_opt", []):
        args += ["--security-opt", opt]
    for spec in svc["volumes"]:
        source, _, rest = spec.partition(":")
        if source.startswith((".", "/")):
            source = str((COMPOSE_DIR / source).resolve())
        else:
            assert source == "rstmdb-data", spec
            source = volume
        args += ["-v", "%s:%s" % (source, rest)]
    for key, value in svc["environment"].items():
        args += ["-e", "%s=%s" % (key, value)]
    return args


def http_get(pid, port, path):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.sock = connect_in_netns(pid, port)  # request() uses this socket instead of connecting
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.read().decode()
    finally:
        conn.close()


def test_rstmdb_service_runs_as_composed(image):
    svc = compose()["services"]["rstmdb"]
    name, volume = unique("rstmdb-compose"), unique("rstmdb-compose-vol")
    run(["podman", "volume", "create", volume])
    try:
        run(["podman", "run", "-d", "--name", name, "--network", "none"] + compose_run_args(svc, volume) + [image])
        pid = wait_for_server(
            lambda: (lambda s: int(s[1]) if s[0] == "true" and int(s[1]) > 0 else None)(
                inspect("container", name, "{{.State.Running}} {{.State.Pid}}").split()),
            30, "the composed rstmdb service")
        logs = run(["podman", "logs", name]).stdout + run(["podman", "logs", name]).stderr
        # The mounted sample config loads as it is, with the image's environment on top.
        assert "config: file=/etc/rstmdb/config.yaml bind=0.0.0.0:7401 data_dir=/data" in logs, logs
        assert not re.search(r"\b(WARN|WARNING|ERROR)\b", logs), logs
        p = run(["podman", "healthcheck", "run", name], check=False)
        assert p.returncode == 0, "healthcheck failed: %s %s\n%s" % (p.stdout, p.stderr, logs)
        with client(pid) as c:
            write_workload(c, instances=10, prefix="compose")
        status, body = http_get(pid, 9090, "/ready")
        assert status == 200, (status, body)
        status, body = http_get(pid, 9090, "/metrics")
        assert status == 200, (status, body[:2000])
        served = Scrape(body)
        dashboard = DASHBOARD.read_text()
        names = set(re.findall(r"\b((?:rstmdb|process)_[a-z_]+)", dashboard))
        assert len(names) > 20, names
        missing = [n for n in sorted(names)
                   if n not in served.types
                   and not (re.sub(r"_(bucket|sum|count)$", "", n) in served.types
                            and served.types[re.sub(r"_(bucket|sum|count)$", "", n)] == "histogram")]
        assert not missing, "dashboard series not in the live /metrics: %s" % missing
        grace = int(svc["stop_grace_period"].rstrip("s"))
        start = time.monotonic()
        run(["podman", "stop", "-t", str(grace), name], timeout=grace + 30)
        took = time.monotonic() - start
        assert inspect("container", name, "{{.State.ExitCode}}") == "0"
        logs = run(["podman", "logs", name]).stderr + run(["podman", "logs", name]).stdout
        assert "Server stopped" in logs, logs
        assert took < 5 + 2, "podman stop took %.1f s" % took  # the server's own drain grace, not compose's
    finally:
        subprocess.run(["podman", "rm", "-f", "-v", "-t", "0", name], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=60)
        subprocess.run(["podman", "volume", "rm", "-f", volume], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=60)
