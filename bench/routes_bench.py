#!/usr/bin/env python3
"""Route benchmark: requests/s and p50/p99 of the connector's editor routes against the empty
component, in the same release host binary, with the same wrk settings, in the same run.

Targets, each measured once per round and the rounds interleaved so a change of machine load
hits every target alike:
  empty      the test guest's `GET /` (a two-byte body, no key-value or config call)
  token      POST /api/only-office/token with the configuration a web client posts
  acces      GET  /api/only-office/{id}/acces
  binaire    GET  /api/only-office/{id}/binaire?authorization=... with the Document Server's header
             token, on tests/fixtures/rapport.docx (4452 bytes)
  remplacer  POST /api/only-office/{id}/remplacer, a signed status-1 callback; every body must be
             {"error":0}

Usage: python3 bench/routes_bench.py [RUNS] [DURATION] [CONNECTIONS]   (defaults: 5, 10s, 32)
Needs wrk (Debian package `wrk`). Prints each run, then the medians and the ratio to `empty`.
"""

import json
import os
import shutil
import sys
import tempfile
import time

import benchlib
from benchlib import Host, lua_string, request

DOCUMENT = "7c0e1f2a-3b4c-4d5e-8f60-718293a4b5c6"
TARGET_RATIO = 0.7


def prepare_connector(work: str, log_level: str = "warn") -> tuple[Host, dict]:
    """Starts the connector, uploads a document and returns the host and one wrk script per route."""
    config, variables = benchlib.dev_config(work)
    port = benchlib.free_port()
    host = Host(benchlib.CONNECTOR, work, "connector", ["--config", config, "--max-concurrent-requests", "256"],
                env={**benchlib.connector_env(port), "RUST_LOG": log_level}, port=port)
    host.wait_ready("/health")
    user = benchlib.dev_token(config)
    base = host.base

    with open(os.path.join(benchlib.ROOT, "tests/fixtures/rapport.docx"), "rb") as fixture:
        status, _ = request("PUT", f"{base}/api/documents/{DOCUMENT}/binaire?nom=rapport.docx", user, fixture.read())
    assert status in (200, 201), f"upload answered {status}"
    status, acces = request("GET", f"{base}/api/only-office/{DOCUMENT}/acces", user)
    assert status == 200, f"/acces answered {status}"
    urls = json.loads(acces)
    status, meta = request("GET", f"{base}/api/documents/{DOCUMENT}", user)
    assert status == 200, f"document metadata answered {status}"
    key = json.loads(meta)["cle_onlyoffice"]

    ds_secret = variables["onlyoffice_jwt_secret"]
    now = int(time.time())
    lifetime = 7200
    config_body = json.dumps({"document": {"url": urls["binaire"]},
                              "editorConfig": {"callbackUrl": urls["callback"], "lang": "fr"}})
    ds_header = benchlib.hs256({"payload": {"url": urls["binaire"]}, "iat": now, "exp": now + lifetime}, ds_secret)
    callback = {"key": key, "status": 1, "users": [benchlib.USER], "actions": [{"type": 1, "userid": benchlib.USER}]}
    callback["token"] = benchlib.hs256({**callback, "iat": now, "exp": now + lifetime}, ds_secret)
    callback_body = json.dumps(callback)

    # One request of each kind outside wrk, so a setup mistake fails here with its status.
    checks = {
        "token": request("POST", f"{base}/api/only-office/token", user, config_body.encode(),
                         {"Content-Type": "application/json"}),
        "acces": request("GET", f"{base}/api/only-office/{DOCUMENT}/acces", user),
        "binaire": request("GET", urls["binaire"], headers={"Authorization": "Bearer " + ds_header}),
        "remplacer": request("POST", urls["callback"], body=callback_body.encode(),
                             headers={"Content-Type": "application/json"}),
    }
    for name, (status, body) in checks.items():
        assert status == 200, f"{name} answered {status}: {body[:200]!r}"
    assert json.loads(checks["remplacer"][1]) == {"error": 0}

    def path_of(url: str) -> str:
        return url.removeprefix(base)

    scripts = {
        "token": f"""wrk.method = "POST"
wrk.path = "/api/only-office/token"
wrk.body = {lua_string(config_body)}
wrk.headers["Authorization"] = {lua_string("Bearer " + user)}
wrk.headers["Content-Type"] = "application/json"
""",
        "acces": f"""wrk.path = {lua_string(f"/api/only-office/{DOCUMENT}/acces")}
wrk.headers["Authorization"] = {lua_string("Bearer " + user)}
""",
        "binaire": f"""wrk.path = {lua_string(path_of(urls["binaire"]))}
wrk.headers["Authorization"] = {lua_string("Bearer " + ds_header)}
""",
        "remplacer": f"""wrk.method = "POST"
wrk.path = {lua_string(path_of(urls["callback"]))}
wrk.body = {lua_string(callback_body)}
wrk.headers["Content-Type"] = "application/json"
expected_body = {lua_string('{"error":0}')}
""",
    }
    return host, scripts


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    duration = sys.argv[2] if len(sys.argv) > 2 else "10s"
    connections = int(sys.argv[3]) if len(sys.argv) > 3 else 32
    if not shutil.which("wrk"):
        sys.exit("error: wrk is missing; install it with apt-get install wrk")
    benchlib.build()
    print("machine:", benchlib.machine())

    work = tempfile.mkdtemp(prefix="efalia-routes-")
    hosts = []
    try:
        empty = Host(benchlib.GUEST, work, "empty", ["--max-concurrent-requests", "256"])
        hosts.append(empty)
        empty.wait_ready("/")
        connector, bodies = prepare_connector(work)
        hosts.append(connector)

        targets = {"empty": (empty.base + "/", benchlib.write_lua(os.path.join(work, "empty.lua"), ""))}
        for name, body in bodies.items():
            targets[name] = (connector.base + "/", benchlib.write_lua(os.path.join(work, f"{name}.lua"), body))

        for name, (url, script) in targets.items():  # warm-up: 2 s each
            benchlib.run_wrk(url, script, "2s", connections)

        results = {name: [] for name in targets}
        for run in range(1, runs + 1):
            for name, (url, script) in targets.items():
                result = benchlib.run_wrk(url, script, duration, connections)
                results[name].append(result)
                print(f"run {run} {name:9}: {result['rps']:8.0f} req/s, p50 {result['p50'] / 1000:6.2f} ms, "
                      f"p99 {result['p99'] / 1000:6.2f} ms, non-2xx {result['non_2xx']}, "
                      f"socket errors {result['socket_errors']}, checked {result['checked']}, bad {result['bad']}",
                      flush=True)

        print(f"\nmedian of {runs} runs ({duration}, {connections} connections, wrk -t2):")
        print("| route | requests/s | p50 | p99 | ratio to empty | non-2xx or bad bodies | runs (requests/s) |")
        print("|---|---|---|---|---|---|---|")
        empty_rps = benchlib.median(r["rps"] for r in results["empty"])
        for name, rounds in results.items():
            rps = benchlib.median(r["rps"] for r in rounds)
            failures = sum(r["non_2xx"] + r["bad"] + r["socket_errors"] for r in rounds)
            verdict = "" if name == "empty" else f"{rps / empty_rps:.2f}" + (" (below 0.7)" if rps / empty_rps < TARGET_RATIO else "")
            each = ", ".join(f"{r['rps']:.0f}" for r in rounds)
            print(f"| {name} | {rps:.0f} | {benchlib.median(r['p50'] for r in rounds) / 1000:.2f} ms "
                  f"| {benchlib.median(r['p99'] for r in rounds) / 1000:.2f} ms | {verdict} | {failures} | {each} |")
        print(f"connector host CPU: {connector.cpu_seconds():.1f} s, empty host CPU: {empty.cpu_seconds():.1f} s")
    finally:
        for host in hosts:
            host.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
