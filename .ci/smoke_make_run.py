#!/usr/bin/env python3
"""CI smoke test of `make run` on a fresh clone (SPEC §3), run by .ci/run before anything else.

Standard library only, so it runs with the system python3 before any virtualenv exists:

 1. `git clone` this checkout's committed HEAD into a temporary directory (uncommitted changes are
    not part of it) and run `make run` there, in a process group of its own, with a free PORT and
    CRISP_DEMO_TAXII_PORT, DATABASE_URL / REDIS_URL unset (SQLite + embedded Redis), and a known
    first admin. The clone has no .venv: make creates a brand-new one from requirements.txt only,
    installs the dashboard's npm packages and builds it.
 2. Wait (bounded) until the web answers and the worker, control worker, beat and demo TAXII server
    have said they are ready; log in for a token.
 3. Start the demo feed, wait until its run is running with at least one page stored, stop it
    (stop_now) and wait until it is `stopped`.
 4. Send SIGINT to the process group, like Ctrl-C in a terminal: everything must be gone within
    30 s, with no process left whose command line mentions the clone.

Prints one PASS or FAIL line (with the tail of the log on failure) and exits non-zero on failure.

    python3 .ci/smoke_make_run.py [--keep] [--source DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
STARTUP_TIMEOUT = 15 * 60  # venv + pip install + npm ci + dashboard build + migrate, on a slow machine
READY_TIMEOUT = 120  # the other processes of the set, once the web answers
RUNNING_TIMEOUT = 120  # the demo run is running with a page stored
STOPPED_TIMEOUT = 60  # stop_now reaches `stopped`
SHUTDOWN_TIMEOUT = 30  # SIGINT to the group until `make run` has exited
LEFTOVER_GRACE = 5
USERNAME = "smoke"
# What each process of the Procfile says once it is up (honcho prefixes the lines with its name).
READY_MARKS = {
    "worker": re.compile(r"worker\.1\s*\|.*celery@\S+ ready\."),
    "control worker": re.compile(r"control\.1\s*\|.*control@\S+ ready\."),
    "beat": re.compile(r"beat\.1\s*\|.*beat: Starting\.\.\."),
    "demo TAXII server": re.compile(r"demo_taxii\.1\s*\|.*\"api_root_url\""),
}
# A process of the set that cannot import what it needs (e.g. kombu's Redis transport without
# `packaging`) fails the smoke even if the stack limps on.
IMPORT_ERRORS = re.compile(r"(ModuleNotFoundError|ImportError): .*")


class SmokeFailure(Exception):
    pass


def log(message: str) -> None:
    print(f"smoke: {message}", flush=True)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


class Api:
    def __init__(self, port: int) -> None:
        self.base = f"http://{HOST}:{port}"
        self.token: str | None = None

    def request(self, method: str, path: str, body: dict | None = None) -> tuple[int, object]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base + path, data=data, method=method)
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        if self.token:
            request.add_header("Authorization", f"Token {self.token}")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, raw = error.code, error.read()
        try:
            return status, json.loads(raw) if raw else None
        except ValueError:
            return status, raw[:300].decode("utf-8", "replace")

    def expect(self, method: str, path: str, status: int, body: dict | None = None) -> object:
        got, payload = self.request(method, path, body)
        if got != status:
            raise SmokeFailure(f"{method} {path} answered {got} (expected {status}): {payload}")
        return payload

    def answers(self) -> bool:
        try:
            urllib.request.urlopen(self.base + "/api/", timeout=2).close()
        except urllib.error.HTTPError:
            return True  # 401 without a token: the web is up
        except (OSError, ValueError):
            return False
        return True


class Stack:
    """`make run` in the clone, in a process group of its own, output to a log file."""

    def __init__(self, clone: Path, log_path: Path, env: dict[str, str]) -> None:
        self.clone = clone
        self.log_path = log_path
        self._log = open(log_path, "wb")  # noqa: SIM115 - closed in close()
        self.process = subprocess.Popen(
            ["make", "run"],
            cwd=clone,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def alive(self) -> bool:
        return self.process.poll() is None

    def check_alive(self, during: str) -> None:
        if not self.alive():
            raise SmokeFailure(f"`make run` exited with code {self.process.returncode} {during}")

    def signal_group(self, signum: int) -> None:
        try:
            os.killpg(self.process.pid, signum)
        except ProcessLookupError:
            pass

    def leftovers(self) -> list[tuple[int, str]]:
        """Processes whose command line mentions the clone (ours, venv's python, redis-server…)."""
        found = []
        marker = str(self.clone).encode()
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if marker in cmdline:
                found.append((int(entry.name), cmdline.replace(b"\0", b" ").decode(errors="replace")[:200]))
        return found

    def kill_everything(self) -> None:
        """After a failure: the group, then anything else that still runs from the clone."""
        if self.alive():
            self.signal_group(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.signal_group(signal.SIGKILL)
                self.process.wait(10)
        for pid, _ in self.leftovers():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def close(self) -> None:
        self._log.close()


def wait_for(what: str, timeout: float, check, stack: Stack, interval: float = 0.5):
    """Poll check() until it returns something truthy; fail after timeout or if make run died."""
    deadline = time.monotonic() + timeout
    while True:
        stack.check_alive(f"while waiting for {what}")
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise SmokeFailure(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def smoke(stack: Stack, api: Api, password: str, demo_port: int, timings: dict[str, float]) -> None:
    started = time.monotonic()
    wait_for(f"the web on {api.base}", STARTUP_TIMEOUT, api.answers, stack, interval=2)
    timings["make run until the web answers"] = time.monotonic() - started

    def all_ready() -> bool:
        text = stack.text()
        if errors := IMPORT_ERRORS.search(text):
            raise SmokeFailure(f"a process could not import what it needs: {errors.group(0)}")
        return all(mark.search(text) for mark in READY_MARKS.values())

    try:
        wait_for("the worker, control worker, beat and demo TAXII server", READY_TIMEOUT, all_ready, stack)
    except SmokeFailure as failure:
        text = stack.text()
        missing = [name for name, mark in READY_MARKS.items() if not mark.search(text)]
        raise SmokeFailure(f"{failure} (not ready: {', '.join(missing) or 'none'})") from None
    timings["make run until every process is ready"] = time.monotonic() - started

    api.token = api.expect("POST", "/api/auth/token/", 200, {"username": USERNAME, "password": password})[
        "token"
    ]
    log("logged in")
    feeds = api.expect("GET", "/api/threat-feeds/", 200)
    feeds = feeds["results"] if isinstance(feeds, dict) else feeds
    demo = [f for f in feeds if (f.get("settings") or {}).get("demo") or f["name"].startswith("DEMO")]
    if len(demo) != 1:
        raise SmokeFailure(f"expected one demo feed, found {[f['name'] for f in feeds]}")
    feed = demo[0]
    if f"://{HOST}:{demo_port}/" not in feed["url"]:
        raise SmokeFailure(
            f"the demo feed points at {feed['url']}, not at the demo server's port {demo_port}"
        )
    log(f"demo feed #{feed['id']} {feed['name']!r} at {feed['url']}")

    run_started = time.monotonic()
    run = api.expect("POST", f"/api/threat-feeds/{feed['id']}/consume/", 202)
    task_id = run["task_id"]
    status_path = f"/api/threat-feeds/task-status/{task_id}/"
    log(f"run {task_id} {run['status']}")

    def running_with_a_page():
        snapshot = api.expect("GET", status_path, 200)
        if snapshot["status"] not in {"queued", "running"}:
            raise SmokeFailure(f"the demo run ended before it could be stopped: {snapshot}")
        if snapshot["status"] == "running" and snapshot["progress"]["pages"] >= 1:
            return snapshot

    snapshot = wait_for("the demo run to store a page", RUNNING_TIMEOUT, running_with_a_page, stack)
    log(f"running: {snapshot['progress']['pages']} pages, {snapshot['progress']['fetched']} objects")
    timings["consume until a page is stored"] = time.monotonic() - run_started

    cancelled_at = time.monotonic()
    api.expect(
        "POST", f"/api/threat-feeds/cancel-task/{task_id}/", 202, {"mode": "stop_now", "reason": "ci smoke"}
    )

    def stopped():
        snapshot = api.expect("GET", status_path, 200)
        if snapshot["status"] in {"completed", "failed", "cancelled", "interrupted"}:
            raise SmokeFailure(f"the demo run ended {snapshot['status']}, not stopped: {snapshot}")
        return snapshot if snapshot["status"] == "stopped" else None

    snapshot = wait_for("the demo run to be stopped", STOPPED_TIMEOUT, stopped, stack, interval=0.2)
    timings["stop_now until stopped"] = time.monotonic() - cancelled_at
    log(
        f"stopped: {snapshot['progress']['pages']} pages, {snapshot['progress']['fetched']} objects kept "
        f"({snapshot['cancellation']})"
    )

    # Ctrl-C: the terminal sends SIGINT to the whole foreground process group.
    shutdown_started = time.monotonic()
    stack.signal_group(signal.SIGINT)
    try:
        code = stack.process.wait(SHUTDOWN_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise SmokeFailure(f"`make run` still running {SHUTDOWN_TIMEOUT} s after SIGINT") from None
    timings["SIGINT until make run exited"] = time.monotonic() - shutdown_started
    log(f"`make run` exited with code {code} after SIGINT")
    leftovers = stack.leftovers()
    deadline = time.monotonic() + LEFTOVER_GRACE
    while leftovers and time.monotonic() < deadline:
        time.sleep(0.5)
        leftovers = stack.leftovers()
    if leftovers:
        listing = "\n".join(f"  {pid} {cmd}" for pid, cmd in leftovers)
        raise SmokeFailure(f"processes of the stack left behind after `make run` exited:\n{listing}")
    if "crisp: stack stopped." not in stack.text():
        raise SmokeFailure("`make run` did not report a clean stop ('crisp: stack stopped.')")


def clean_env(port: int, demo_port: int, password: str) -> dict[str, str]:
    env = dict(os.environ)
    for name in list(env):
        # The stack's own configuration (embedded defaults wanted), and an outer make or venv.
        if name in {"DATABASE_URL", "REDIS_URL", "VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "VENV"} or (
            name.startswith(("CRISP_", "DJANGO_", "MAKE", "MFLAGS"))
        ):
            del env[name]
    env.update(
        PORT=str(port),
        CRISP_DEMO_TAXII_PORT=str(demo_port),
        DJANGO_SUPERUSER_USERNAME=USERNAME,
        DJANGO_SUPERUSER_PASSWORD=password,
    )
    return env


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", default=str(ROOT), help="repository to clone (default: this one)")
    parser.add_argument("--keep", action="store_true", help="keep the clone and its venv afterwards")
    args = parser.parse_args()

    began = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="crisp-smoke-"))
    clone, log_path = workdir / "crisp", workdir / "make-run.log"
    head = subprocess.run(
        ["git", "-C", args.source, "log", "-1", "--format=%h"], check=False, capture_output=True, text=True
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "-C", args.source, "status", "--porcelain", "--untracked-files=no"],
        check=False,
        capture_output=True,
        text=True,
    ).stdout.strip()
    log(f"cloning {args.source} at {head} into {clone}")
    if dirty:
        log("note: uncommitted changes in the checkout are not part of the clone")
    subprocess.run(["git", "clone", "--quiet", args.source, str(clone)], check=True)

    port, demo_port = free_port(), free_port()
    while demo_port == port:
        demo_port = free_port()
    password = secrets.token_urlsafe(12)
    log(
        f"make run with PORT={port} CRISP_DEMO_TAXII_PORT={demo_port}, embedded SQLite + Redis; log {log_path}"
    )
    stack = Stack(clone, log_path, clean_env(port, demo_port, password))
    timings: dict[str, float] = {}
    failure: str | None = None
    try:
        smoke(stack, Api(port), password, demo_port, timings)
    except SmokeFailure as error:
        failure = str(error)
    except Exception as error:  # noqa: BLE001 - a bug here or an unexpected answer: still clean up and report
        failure = f"{type(error).__name__}: {error}"
    finally:
        stack.kill_everything()
        stack.close()

    timings["total"] = time.monotonic() - began
    for name, seconds in timings.items():
        log(f"{name}: {seconds:.1f} s")
    if failure:
        tail = stack.text().splitlines()[-120:]
        print("\n".join(["smoke: ----- last lines of the make run log -----", *tail, "smoke: -----"]))
        print(f"smoke: FAIL: {failure} (log: {log_path})", flush=True)
    else:
        print(f"smoke: PASS: make run on a fresh clone came up, ran and stopped the demo feed, and shut "
              f"down cleanly in {timings['total']:.0f} s", flush=True)  # fmt: skip
    if not args.keep:
        shutil.rmtree(clone, ignore_errors=True)
        if not failure:
            shutil.rmtree(workdir, ignore_errors=True)
    return 1 if failure else 0


if __name__ == "__main__":
    sys.exit(main())
