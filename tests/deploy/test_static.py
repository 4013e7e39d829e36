"""Offline checks of the deployment files (runtime.md §6.5): the unit's directives, the
install rules' bindir rewrite, `systemd-analyze verify` and `security`, sysusers and tmpfiles
applied to an empty root, and the Dockerfile's required instructions."""

import re
import shutil

import pytest

from conftest import (DOCKERFILE, INSTALL_SH, REPO_ROOT, SYSUSERS, TMPFILES, UNIT, build_dir, run,
                      runtime_packages)

# runtime.md §6.1, in order. `/usr/local/bin` is the source form; install rewrites it.
UNIT_SECTIONS = {
    "Unit": [
        ("Description", "rstmdb-compatible state machine database"),
        ("After", "network-online.target"),
        ("Wants", "network-online.target"),
    ],
    "Service": [
        ("Type", "notify"),
        ("User", "rstmdb"),
        ("Group", "rstmdb"),
        ("ExecStartPre", "/usr/local/bin/rstmdbd check-config --config /etc/rstmdb/config.yaml"),
        ("ExecStart", "/usr/local/bin/rstmdbd --config /etc/rstmdb/config.yaml"),
        ("ExecReload", "/bin/kill -HUP $MAINPID"),
        ("Restart", "on-failure"),
        ("RestartPreventExitStatus", "64 65 78"),
        ("TimeoutStopSec", "60s"),
        ("KillMode", "mixed"),
        ("LimitNOFILE", "65536"),
        ("StateDirectory", "rstmdb"),
        ("StateDirectoryMode", "0700"),
        ("ConfigurationDirectory", "rstmdb"),
        ("ReadWritePaths", "/var/lib/rstmdb"),
        ("UMask", "0077"),
        ("ProtectSystem", "strict"),
        ("ProtectProc", "invisible"),
        ("RestrictAddressFamilies", "AF_INET AF_INET6 AF_UNIX"),
        ("SystemCallArchitectures", "native"),
        ("SystemCallFilter", "@system-service"),
        ("SystemCallFilter", "~@privileged"),
        ("SystemCallErrorNumber", "EPERM"),
        ("CapabilityBoundingSet", ""),
        ("NoNewPrivileges", "yes"),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
        ("PrivateDevices", "yes"),
        ("ProtectKernelTunables", "yes"),
        ("ProtectKernelModules", "yes"),
        ("ProtectKernelLogs", "yes"),
        ("ProtectControlGroups", "yes"),
        ("ProtectClock", "yes"),
        ("ProtectHostname", "yes"),
        ("RestrictNamespaces", "yes"),
        ("RestrictRealtime", "yes"),
        ("RestrictSUIDSGID", "yes"),
        ("LockPersonality", "yes"),
        ("MemoryDenyWriteExecute", "yes"),
    ],
    "Install": [("WantedBy", "multi-user.target")],
}


def parse_unit(text):
    sections, current = {}, None
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        m = re.fullmatch(r"\[(\w+)\]", line)
        if m:
            current = m.group(1)
            assert current not in sections, "section [%s] twice" % current
            sections[current] = []
            continue
        key, sep, value = line.partition("=")
        assert sep and current, "not a directive: %r" % line
        sections[current].append((key, value))
    return sections


def test_unit_has_exactly_the_specified_directives():
    text = UNIT.read_text()
    assert parse_unit(text) == UNIT_SECTIONS
    # The watchdog stays available but off (commented).
    assert re.search(r"^#WatchdogSec=30s$", text, re.M)


def install_tree(tmp_path, prefix):
    dest = tmp_path / "dest"
    run(["cmake", "--install", build_dir(), "--prefix", prefix], env={"DESTDIR": str(dest), "PATH": "/usr/bin:/bin"})
    return dest


@pytest.mark.parametrize("prefix", ["/usr/local", "/opt/rstmdb-test"])
def test_install_rules(tmp_path, prefix):
    dest = install_tree(tmp_path, prefix)
    root = dest / prefix.lstrip("/")
    for rel in ("bin/rstmdbd", "bin/rstmdb-bench", "lib/systemd/system/rstmdb.service",
                "lib/sysusers.d/rstmdb.conf", "lib/tmpfiles.d/rstmdb.conf", "share/doc/rstmdb/config.yaml"):
        assert (root / rel).is_file(), rel
    if (REPO_ROOT / "tools" / "cli" / "CMakeLists.txt").exists():
        assert (root / "bin/rstmdb-cli").is_file()
    unit = (root / "lib/systemd/system/rstmdb.service").read_text()
    expected = UNIT.read_text().replace("/usr/local/bin/", prefix + "/bin/")
    assert unit == expected
    assert "ExecStart=%s/bin/rstmdbd --config" % prefix in unit
    assert (root / "lib/sysusers.d/rstmdb.conf").read_text() == SYSUSERS.read_text()
    assert (root / "lib/tmpfiles.d/rstmdb.conf").read_text() == TMPFILES.read_text()
    # Nothing outside the prefix (install.sh writes /etc/rstmdb itself).
    assert sorted(p.name for p in dest.iterdir()) == [prefix.strip("/").split("/")[0]]


def verify_copy(tmp_path):
    """The unit with its Exec paths on the built binary (they must exist for verify)."""
    binary = build_dir() / "server" / "rstmdbd"
    assert binary.exists(), "build the tree first"
    path = tmp_path / "rstmdb.service"
    path.write_text(UNIT.read_text().replace("/usr/local/bin/rstmdbd", str(binary)))
    return path


def test_systemd_analyze_verify(tmp_path):
    path = verify_copy(tmp_path)
    p = run(["systemd-analyze", "verify", path], check=False, cwd=tmp_path)
    assert p.returncode == 0, p.stdout + p.stderr
    # verify reports problems on stderr even when it exits 0 for some of them.
    problems = [line for line in p.stderr.splitlines() if "rstmdb.service" in line]
    assert not problems, p.stderr
    # It does catch a broken unit (the check is live).
    broken = tmp_path / "broken.service"
    broken.write_text(path.read_text().replace("Type=notify", "Type=notifyy")
                      .replace(str(build_dir() / "server" / "rstmdbd"), "/nonexistent/rstmdbd"))
    p = run(["systemd-analyze", "verify", broken], check=False, cwd=tmp_path)
    assert p.returncode != 0 or "broken.service" in p.stderr


def test_systemd_analyze_security_exposure(tmp_path):
    path = verify_copy(tmp_path)
    p = run(["systemd-analyze", "security", "--offline=true", "--threshold=20", path], check=False)
    assert p.returncode == 0, p.stdout + p.stderr
    m = re.search(r"Overall exposure level for rstmdb\.service: (\d+\.\d+)", p.stdout)
    assert m, p.stdout
    assert float(m.group(1)) <= 2.0, p.stdout


def test_sysusers_and_tmpfiles_on_an_empty_root(tmp_path):
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    run(["systemd-sysusers", "--root=%s" % root, SYSUSERS.resolve()])
    passwd = [line.split(":") for line in (root / "etc/passwd").read_text().splitlines()]
    users = {u[0]: u for u in passwd}
    u = users["rstmdb"]
    assert int(u[2]) < 1000 and u[4] == "rstmdb state machine database"
    assert u[5:] == ["/var/lib/rstmdb", "/usr/sbin/nologin"]
    groups = {g.split(":")[0]: g.split(":") for g in (root / "etc/group").read_text().splitlines()}
    assert groups["rstmdb"][2] == u[3]
    uid, gid = int(u[2]), int(u[3])

    run(["systemd-tmpfiles", "--create", "--root=%s" % root, TMPFILES.resolve()])
    for rel, mode, owner in (("var/lib/rstmdb", 0o700, (uid, gid)), ("etc/rstmdb", 0o750, (0, gid)),
                             ("var/backups/rstmdb", 0o700, (uid, gid))):
        st = (root / rel).stat()
        assert (st.st_mode & 0o7777, (st.st_uid, st.st_gid)) == (mode, owner), rel


DOCKERFILE_REQUIRED = [
    r"^FROM debian:bookworm-slim AS build$",
    r"^FROM debian:bookworm-slim$",
    r"^USER 1000:1000$",
    r'^VOLUME \["/data"\]$',
    r"^EXPOSE 7401 9090$",
    r"^STOPSIGNAL SIGTERM$",
    r"^HEALTHCHECK --interval=10s --timeout=5s --start-period=30s \\\n"
    r'  CMD \["rstmdb-cli", "-s", "127\.0\.0\.1:7401", "ping"\]$',
    r'^ENTRYPOINT \["/usr/bin/tini", "--", "rstmdbd"\]$',
    r"^ENV RSTMDB_BIND=0\.0\.0\.0:7401 RSTMDB_DATA=/data RSTMDB_METRICS_BIND=0\.0\.0\.0:9090$",
    r"^COPY --from=build /out/usr/local/bin/ /usr/local/bin/$",
    r"ln -s rstmdbd /usr/local/bin/rstmdb",
    r"useradd -r -u 1000 -g 1000 -d /data -s /usr/sbin/nologin rstmdb",
    r"install -d -o 1000 -g 1000 -m 0700 /data",
]


def test_dockerfile_required_instructions():
    text = DOCKERFILE.read_text()
    for pattern in DOCKERFILE_REQUIRED:
        assert re.search(pattern, text, re.M), "Dockerfile lacks %s" % pattern
    assert len(re.findall(r"^FROM ", text, re.M)) == 2
    # Versioned Boost only: the unversioned packages are 1.74.
    assert not re.search(r"libboost-(?!json1\.81)[a-z-]+-dev|libboost-dev", text)
    assert {"tini", "ca-certificates"} <= set(runtime_packages())
    assert not [p for p in runtime_packages() if p.endswith("-dev")]


def test_dockerignore():
    ignored = (REPO_ROOT / ".dockerignore").read_text().split()
    for entry in (".git", "build*/", "certs/", "**/*.pem", "**/*.key", "data/"):
        assert entry in ignored, entry


def test_install_script_is_valid_bash():
    run(["bash", "-n", INSTALL_SH])


def test_shell_scripts_pass_shellcheck():
    if shutil.which("shellcheck") is None:
        pytest.fail("shellcheck is not installed (tests/deploy/run.sh installs it)")
    scripts = [INSTALL_SH, REPO_ROOT / "deploy" / "install-deps.sh", REPO_ROOT / "tests" / "deploy" / "run.sh",
               REPO_ROOT / ".ci" / "run"]
    run(["shellcheck"] + scripts)
