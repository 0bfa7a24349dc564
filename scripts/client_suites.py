#!/usr/bin/env python3
"""Run an official NATS client's own test suite with natrium standing in for nats-server.

    make client-suites SUITE=/path/to/nats.py          # or /path/to/nats.node
    scripts/client_suites.py /path/to/suite [options]

The suite is a checked-out copy of github nats-io/nats.py (tag v2.15.0) or nats-io/nats.node
(tag v2.29.3) outside this repository; this script fetches nothing (see docs/compat.md,
"Client test suites", for how to check them out and `--prepare` for their test
dependencies). The suites launch `nats-server` from PATH, so the script puts a `nats-server`
link to the server under test first on PATH and runs them unchanged.

Everything runs inside private network, mount and PID namespaces (`unshare`): only loopback
exists, so the suites' fixed ports (4222, 8222, …) cannot collide with anything else on the
machine and no test can reach the internet. The public demo server several nats.node tests
use (demo.nats.io) is mapped to 127.0.0.2 through a bind-mounted /etc/hosts, where a second
instance of the server under test listens on 4222 (plain) and 4443 (TLS, with a certificate
for demo.nats.io from a throw-away CA that Node.js is told to trust). Whatever the suite
leaves running dies with the PID namespace when the run ends.

Each test file runs on its own, bounded by --file-timeout; the whole run by --timeout. A test
that had not finished when its file was cut off counts as failed ("timeout").

The server under test is natrium (`cargo build --bins`, target/debug/natrium) unless
NATS_SERVER (or --server) names another binary, e.g. the official nats-server for the
baseline. --json saves the per-test results; --compare BASELINE.json lists the tests that
pass in the baseline and not in this run.
"""

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# nats.py: the core client files (no JetStream) and the JetStream file, as issue 9 groups them.
NATSPY_CORE = [
    "test_client.py",
    "test_client_nkeys.py",
    "test_client_websocket.py",
    "test_client_v2.py",
    "test_client_async_await.py",
    "test_custom_headers_websocket.py",
    "test_micro_service.py",
    "test_parser.py",
]
NATSPY_JETSTREAM = ["test_js.py"]
# Files that need no server (test_nuid) or an external one (test_compatibility: NATS_URL).
NATSPY_OTHER = ["test_nuid.py", "test_compatibility.py"]

# nats.node: the files that need JetStream (jetstream.js) or a cluster (noiptls.js); the rest
# is core.
NATSNODE_JETSTREAM = ["jetstream.js", "noiptls.js"]

DEMO_HOST = "demo.nats.io"
DEMO_IP = "127.0.0.2"


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# Suites


def detect(suite):
    if os.path.isfile(os.path.join(suite, "nats", "tests", "test_client.py")):
        return "nats.py"
    pkg = os.path.join(suite, "package.json")
    if os.path.isfile(pkg) and os.path.isfile(os.path.join(suite, "test", "helpers", "launcher.js")):
        with open(pkg) as f:
            if json.load(f).get("name") == "nats":
                return "nats.node"
    sys.exit(f"{suite}: neither a nats.py nor a nats.node checkout")


def natspy_python(suite):
    return os.path.join(suite, ".venv-natrium", "bin", "python")


def prepare(kind, suite):
    """Installs the suite's test dependencies with the registries' own clients."""
    if kind == "nats.py":
        venv = os.path.join(suite, ".venv-natrium")
        if not os.path.exists(natspy_python(suite)):
            subprocess.run([sys.executable, "-m", "venv", venv], check=True)
        # pyproject.toml's dev group plus the optional extras the core tests use; pytest-timeout
        # bounds each test.
        subprocess.run(
            [natspy_python(suite), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
             "pytest>=9", "pytest-asyncio>=0.21", "pytest-timeout", "nkeys", "aiohttp"],
            check=True,
        )
    else:
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=suite, check=True)
        if not os.path.isdir(os.path.join(suite, "lib")):
            # The tests require ../lib (the compiled client), which the repository builds from a
            # clone of nats.deno; the published package of the same version carries it.
            with open(os.path.join(suite, "package.json")) as f:
                version = json.load(f)["version"]
            tmp = tempfile.mkdtemp(prefix="nats-pack-")
            try:
                subprocess.run(["npm", "pack", f"nats@{version}", "--silent"], cwd=tmp, check=True)
                tgz = [n for n in os.listdir(tmp) if n.endswith(".tgz")][0]
                subprocess.run(["tar", "xzf", tgz], cwd=tmp, check=True)
                shutil.copytree(os.path.join(tmp, "package", "lib"), os.path.join(suite, "lib"))
            finally:
                shutil.rmtree(tmp)


def check_prepared(kind, suite):
    if kind == "nats.py":
        missing = not os.path.exists(natspy_python(suite))
    else:
        missing = not (os.path.isdir(os.path.join(suite, "node_modules"))
                       and os.path.isdir(os.path.join(suite, "lib")))
    if missing:
        sys.exit(f"{suite}: test dependencies missing; run once with --prepare")


def files_of(kind, suite, group):
    if kind == "nats.py":
        tests = os.path.join(suite, "nats", "tests")
        present = sorted(n for n in os.listdir(tests) if n.startswith("test_") and n.endswith(".py"))
        groups = {"core": NATSPY_CORE, "jetstream": NATSPY_JETSTREAM}
    else:
        tests = os.path.join(suite, "test")
        present = sorted(n for n in os.listdir(tests) if n.endswith(".js"))
        groups = {
            "core": [n for n in present if n not in NATSNODE_JETSTREAM],
            "jetstream": NATSNODE_JETSTREAM,
        }
    if group == "all":
        return present
    return [n for n in groups[group] if n in present]


def group_of(kind, name):
    if kind == "nats.py":
        return "jetstream" if name in NATSPY_JETSTREAM else "core" if name in NATSPY_CORE else "other"
    return "jetstream" if name in NATSNODE_JETSTREAM else "core"


# ---------------------------------------------------------------------------------------------
# Running one file (inside the namespace)

PYTEST_LINE = re.compile(r"^(\S+\.py::\S+) (PASSED|FAILED|ERROR|SKIPPED|XFAIL|XPASS)\b")
TAP_LINE = re.compile(r"^(ok|not ok) \d+ - (.*?)(?: # (SKIP|TODO)\b.*)?$")


def run_bounded(cmd, cwd, env, timeout, logf):
    """Runs cmd in its own process group; returns (stdout text, timed_out)."""
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
        timed_out = False
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        timed_out = True
    # Servers the suite started in their own process group outlive this kill, but not the run:
    # they are in its PID namespace.
    text = out.decode(errors="replace")
    logf.write(text)
    logf.flush()
    return text, timed_out


def run_natspy_file(suite, name, env, file_timeout, test_timeout, logf, select):
    py = natspy_python(suite)
    path = f"nats/tests/{name}"
    base = [py, "-m", "pytest", "-p", "no:cacheprovider", "-o", "addopts="]
    if select:
        base += ["-k", select]
    collected, _ = run_bounded(base + ["--collect-only", "-q", path], suite, env, 120, logf)
    ids = [l.strip() for l in collected.splitlines() if "::" in l and not l.startswith(" ")]
    out, timed_out = run_bounded(base + ["-v", f"--timeout={test_timeout}", path], suite, env,
                                 file_timeout, logf)
    results = {}
    for line in out.splitlines():
        m = PYTEST_LINE.match(line)
        if m:
            tid, st = m.groups()
            st = {"PASSED": "passed", "XPASS": "passed", "SKIPPED": "skipped", "XFAIL": "skipped"}.get(st, "failed")
            # A teardown ERROR after PASSED makes the test fail.
            if results.get(tid) != "failed":
                results[tid] = st
    for tid in ids:
        results.setdefault(tid, "timeout" if timed_out else "failed")
    return results


def run_natsnode_file(suite, name, env, file_timeout, test_timeout, logf, select):
    cmd = [os.path.join(suite, "node_modules", ".bin", "ava"), "--tap", "-T", f"{test_timeout * 1000}",
           f"test/{name}"]
    if select:
        cmd += ["--match", select]
    out, timed_out = run_bounded(cmd, suite, env, file_timeout, logf)
    results = {}
    stem = name[:-3]
    for line in out.splitlines():
        m = TAP_LINE.match(line)
        if not m:
            continue
        ok, title, directive = m.groups()
        title = title.strip()
        if title.startswith(stem + " › "):
            title = title[len(stem) + 3:]
        tid = f"{name}::{title}"
        if directive:
            results[tid] = "skipped"
        elif ok == "ok":
            results[tid] = "passed"
        else:
            results[tid] = "failed"
    if timed_out or not results:
        # ava prints nothing for tests still pending when it is killed; record the file.
        results.setdefault(f"{name}::(file)", "timeout" if timed_out else "failed")
    return results


# ---------------------------------------------------------------------------------------------
# Demo server stand-in (nats.node)


def make_demo_certs(work):
    """A throw-away CA and a certificate for demo.nats.io, for the TLS demo stand-in."""
    d = os.path.join(work, "demo-certs")
    os.makedirs(d)
    q = dict(cwd=d, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-keyout", "ca-key.pem", "-out", "ca.pem", "-subj", "/CN=natrium client-suites CA"], **q)
    subprocess.run(["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", "key.pem",
                    "-out", "req.pem", "-subj", f"/CN={DEMO_HOST}"], **q)
    with open(os.path.join(d, "ext.cnf"), "w") as f:
        f.write(f"subjectAltName=DNS:{DEMO_HOST},IP:{DEMO_IP}\n")
    subprocess.run(["openssl", "x509", "-req", "-in", "req.pem", "-CA", "ca.pem", "-CAkey", "ca-key.pem",
                    "-CAcreateserial", "-days", "2", "-out", "cert.pem", "-extfile", "ext.cnf"], **q)
    return d


def start_demo(server, work, certs):
    """Starts the demo.nats.io stand-ins; returns their Popen objects."""
    procs = []
    for port, tls in ((4222, False), (4443, True)):
        cmd = [server, "-a", DEMO_IP, "-p", str(port)]
        if tls:
            cmd += ["--tls", "--tlscert", os.path.join(certs, "cert.pem"),
                    "--tlskey", os.path.join(certs, "key.pem")]
        logf = open(os.path.join(work, f"demo-{port}.log"), "w")
        procs.append(subprocess.Popen(cmd, stdout=logf, stderr=logf, start_new_session=True))
    deadline = time.time() + 10
    for port in (4222, 4443):
        while True:
            try:
                socket.create_connection((DEMO_IP, port), timeout=1).close()
                break
            except OSError:
                if time.time() > deadline:
                    sys.exit(f"demo stand-in on {DEMO_IP}:{port} did not start (see {work}/demo-{port}.log)")
                time.sleep(0.05)
    return procs


# ---------------------------------------------------------------------------------------------
# Inside the namespace


def inner(work):
    with open(os.path.join(work, "plan.json")) as f:
        plan = json.load(f)
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    subprocess.run(["mount", "--bind", os.path.join(work, "hosts"), "/etc/hosts"], check=True)

    suite, kind = plan["suite"], plan["kind"]
    env = dict(os.environ)
    env["PATH"] = os.path.join(work, "bin") + os.pathsep + env.get("PATH", "")
    env.pop("NATS_URL", None)
    demo = []
    if kind == "nats.py":
        env["PYTHONPATH"] = os.path.join(suite, "nats", "src")
        # nats.py runs its handshake_first tests only when told the server's release.
        if plan["server_version"]:
            env.setdefault("NATS_SERVER_VERSION", plan["server_version"])
    else:
        certs = make_demo_certs(work)
        # The launcher writes its config files and looks for ports files under TMPDIR.
        env["TMPDIR"] = os.path.join(work, "tmp")
        os.makedirs(env["TMPDIR"], exist_ok=True)
        env["NODE_EXTRA_CA_CERTS"] = os.path.join(certs, "ca.pem")
        demo = start_demo(plan["server"], work, certs)

    results = {}
    deadline = time.time() + plan["timeout"]
    try:
        with open(os.path.join(work, "suite.log"), "w") as logf:
            for name in plan["files"]:
                left = deadline - time.time()
                log(f"[client-suites] {name} …")
                if left <= 5:
                    results[f"{name}::(file)"] = "timeout"
                    continue
                ft = min(plan["file_timeout"], left)
                logf.write(f"\n===== {name}\n")
                if kind == "nats.py":
                    r = run_natspy_file(suite, name, env, ft, plan["test_timeout"], logf, plan["select"])
                else:
                    r = run_natsnode_file(suite, name, env, ft, plan["test_timeout"], logf, plan["select"])
                results.update(r)
                counts = summarize(r)
                log(f"[client-suites] {name}: {fmt_counts(counts)}")
                with open(os.path.join(work, "results.json"), "w") as f:
                    json.dump(results, f, indent=1, sort_keys=True)
    finally:
        for p in demo:
            p.send_signal(signal.SIGTERM)
        for p in demo:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()


# ---------------------------------------------------------------------------------------------
# Reporting


def summarize(results):
    c = {"passed": 0, "failed": 0, "skipped": 0}
    for st in results.values():
        c["failed" if st in ("failed", "timeout") else st] += 1
    return c


def fmt_counts(c):
    return f"{c['passed']} passed, {c['failed']} failed, {c['skipped']} skipped"


def report(kind, results, baseline):
    print(f"\n{kind}: server {os.environ.get('CLIENT_SUITES_SERVER_LABEL', '')}".rstrip())
    groups = {}
    for tid, st in results.items():
        groups.setdefault(group_of(kind, tid.split("::")[0].split("/")[-1]), {})[tid] = st
    for g in ("core", "jetstream", "other"):
        if g in groups:
            print(f"  {g:10} {fmt_counts(summarize(groups[g]))}")
    print(f"  {'total':10} {fmt_counts(summarize(results))}")
    failing = sorted(t for t, st in results.items() if st in ("failed", "timeout"))
    if failing:
        print("\nfailing tests:")
        for t in failing:
            print(f"  {t}{'  (timeout)' if results[t] == 'timeout' else ''}")
    if baseline is not None:
        ran = {t.split("::")[0] for t in results}
        regress = sorted(t for t, st in baseline.items()
                         if st == "passed" and t.split("::")[0] in ran and results.get(t) != "passed")
        print(f"\npassing in the baseline, not here: {len(regress)}")
        for t in regress:
            print(f"  {t}  ({results.get(t, 'not run')})")


def server_version(server):
    """The nats-server release the binary is or claims compatibility with (`v2.15.1`)."""
    out = subprocess.run([server, "--version"], capture_output=True, text=True).stdout
    found = re.findall(r"v2\.\d+\.\d+", out)
    return found[-1] if found else ""


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("suite", help="path of a nats.py or nats.node checkout")
    ap.add_argument("--server", default=os.environ.get("NATS_SERVER"),
                    help="server binary to test (default: natrium, built with cargo; env NATS_SERVER)")
    ap.add_argument("--group", choices=["core", "jetstream", "all"], default="all",
                    help="which test files (default: all)")
    ap.add_argument("--files", help="comma-separated test file names, instead of --group")
    ap.add_argument("-k", dest="select", help="only tests matching (pytest -k / ava --match)")
    ap.add_argument("--file-timeout", type=int, default=900, help="seconds per test file (900)")
    ap.add_argument("--test-timeout", type=int, default=60, help="seconds per test (60)")
    ap.add_argument("--timeout", type=int, default=3600, help="seconds for the whole run (3600)")
    ap.add_argument("--release", action="store_true", help="build and test natrium's release binary")
    ap.add_argument("--prepare", action="store_true", help="install the suite's test dependencies first")
    ap.add_argument("--json", help="write the per-test results here")
    ap.add_argument("--compare", help="a --json file of a baseline run to compare with")
    ap.add_argument("--inner", help=argparse.SUPPRESS)
    a = ap.parse_args()

    if a.inner:
        inner(a.inner)
        return

    suite = os.path.abspath(a.suite)
    kind = detect(suite)
    if a.prepare:
        prepare(kind, suite)
    check_prepared(kind, suite)

    if a.server:
        server = os.path.abspath(shutil.which(a.server) or a.server)
        label = server
    else:
        profile = ["--release"] if a.release else []
        subprocess.run(["cargo", "build", "--bins", *profile], cwd=REPO, check=True)
        server = os.path.join(REPO, "target", "release" if a.release else "debug", "natrium")
        label = f"natrium ({server})"
    if not os.access(server, os.X_OK):
        sys.exit(f"{server}: not an executable")
    os.environ["CLIENT_SUITES_SERVER_LABEL"] = label

    files = a.files.split(",") if a.files else files_of(kind, suite, a.group)
    work = tempfile.mkdtemp(prefix="client-suites-")
    os.makedirs(os.path.join(work, "bin"))
    os.symlink(server, os.path.join(work, "bin", "nats-server"))
    with open(os.path.join(work, "hosts"), "w") as f:
        f.write(f"127.0.0.1 localhost\n::1 localhost ip6-localhost\n{DEMO_IP} {DEMO_HOST}\n")
    plan = dict(suite=suite, kind=kind, server=server, server_version=server_version(server),
                files=files, timeout=a.timeout,
                file_timeout=a.file_timeout, test_timeout=a.test_timeout, select=a.select)
    with open(os.path.join(work, "plan.json"), "w") as f:
        json.dump(plan, f)

    # A private network namespace (only loopback), mount namespace (for /etc/hosts) and PID
    # namespace: when the run ends or is killed, every process it started dies with it.
    ns = ["unshare", "--net", "--mount", "--pid", "--fork", "--kill-child", "--mount-proc"]
    if os.geteuid() != 0:
        ns.append("--map-root-user")
    log(f"[client-suites] {kind} at {suite} against {label}; logs in {work}")
    proc = subprocess.Popen(ns + [sys.executable, os.path.abspath(__file__), suite, "--inner", work],
                            start_new_session=True)
    try:
        proc.wait(timeout=a.timeout + 120)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        log("[client-suites] overall timeout")
    except KeyboardInterrupt:
        os.killpg(proc.pid, signal.SIGKILL)
        raise

    try:
        with open(os.path.join(work, "results.json")) as f:
            results = json.load(f)
    except FileNotFoundError:
        results = {}
    for name in files:
        if not any(t.startswith(name + "::") or t.startswith(f"nats/tests/{name}::") for t in results):
            results[f"{name}::(file)"] = "failed"
    baseline = None
    if a.compare:
        with open(a.compare) as f:
            baseline = json.load(f)
    report(kind, results, baseline)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=1, sort_keys=True)
    log(f"[client-suites] the suite's output is in {work}/suite.log")
    sys.exit(1 if any(st in ("failed", "timeout") for st in results.values()) else 0)


if __name__ == "__main__":
    main()
