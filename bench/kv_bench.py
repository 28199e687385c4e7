#!/usr/bin/env python3
"""Key-value write benchmark: requests/s and p50/p99 of test guest routes that write one key per
request, against a read-only route of the same guest, on the SQLite and on the Redis backend.

Targets, on one host per backend, interleaved round by round:
  empty      GET /                                     no key-value call
  read       GET /kv/get?store=default&key=bench-read  one `get` of a 64-byte value
  write      PUT /kv/set?store=default&key=<new key>   one `set` of a new 64-byte key per request
  increment  POST /kv/increment?store=default&key=bench-counter&delta=1
             one atomic increment, which SQLite commits with synchronous=FULL

SQLite runs on a file in the system temporary folder with the host's settings (WAL journal,
synchronous=NORMAL for `set`, FULL for increment and compare-and-swap). Redis is a redis-server
started here on a free loopback port with an append-only file synced every second
(`appendonly yes`, `appendfsync everysec`).

Usage: python3 bench/kv_bench.py [RUNS] [DURATION] [CONNECTIONS]   (defaults: 5, 10s, 32)
Needs wrk and redis-server (Debian packages `wrk`, `redis-server`).
"""

import os
import shutil
import subprocess
import sys
import tempfile
import time

import benchlib
from benchlib import Host, request

VALUE = "v" * 64


def scripts(work: str, backend: str) -> dict:
    """Returns one wrk script per target. Every script builds its requests in a `request`
    function, so wrk does the same work per request on every target."""
    template = """method = {method}
path = {path}
body = {body}
unique = {unique}
run_id = {run_id}
counter = 0
function request()
  counter = counter + 1
  local target = path
  if unique then target = path .. run_id .. "-" .. thread_number .. "-" .. counter end
  return wrk.format(method, target, nil, body)
end
"""
    targets = {
        "empty": ("GET", "/", None, False),
        "read": ("GET", "/kv/get?store=default&key=bench-read", None, False),
        "write": ("PUT", "/kv/set?store=default&key=bench-write-", VALUE, True),
        "increment": ("POST", "/kv/increment?store=default&key=bench-counter&delta=1", None, False),
    }
    result = {}
    for name, (method, path, body, unique) in targets.items():
        text = template.format(method=benchlib.lua_string(method), path=benchlib.lua_string(path),
                               body=benchlib.lua_string(body) if body else "nil", unique="true" if unique else "false",
                               run_id=benchlib.lua_string(f"{int(time.time() * 1000)}"))
        result[name] = benchlib.write_lua(os.path.join(work, f"{backend}-{name}.lua"), text)
    return result


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    duration = sys.argv[2] if len(sys.argv) > 2 else "10s"
    connections = int(sys.argv[3]) if len(sys.argv) > 3 else 32
    for tool in ("wrk", "redis-server"):
        if not shutil.which(tool):
            sys.exit(f"error: {tool} is missing; install it with apt-get install {tool}")
    benchlib.build()
    print("machine:", benchlib.machine())

    work = tempfile.mkdtemp(prefix="efalia-kv-")
    processes = []
    try:
        redis, redis_port = benchlib.start_redis(work, "--appendonly", "yes", "--appendfsync", "everysec")
        processes.append(redis)
        hosts = {
            "sqlite": Host(benchlib.GUEST, work, "sqlite", ["--max-concurrent-requests", "256"]),
            "redis": Host(benchlib.GUEST, work, "redis",
                          ["--max-concurrent-requests", "256", "--redis-url", f"redis://127.0.0.1:{redis_port}"]),
        }
        targets = []
        for backend, host in hosts.items():
            processes.append(host.process)
            host.wait_ready("/")
            status, _ = request("PUT", host.base + "/kv/set?store=default&key=bench-read", body=VALUE.encode())
            assert status == 204, f"{backend}: seeding the read key answered {status}"
            for name, script in scripts(work, backend).items():
                targets.append((backend, name, host.base + "/", script))

        for backend, name, url, script in targets:  # warm-up: 2 s each
            benchlib.run_wrk(url, script, "2s", connections)

        results = {(backend, name): [] for backend, name, _, _ in targets}
        for run in range(1, runs + 1):
            for backend, name, url, script in targets:
                result = benchlib.run_wrk(url, script, duration, connections)
                results[(backend, name)].append(result)
                print(f"run {run} {backend:6} {name:9}: {result['rps']:8.0f} req/s, p50 {result['p50'] / 1000:6.2f} ms, "
                      f"p99 {result['p99'] / 1000:6.2f} ms, non-2xx {result['non_2xx']}, "
                      f"socket errors {result['socket_errors']}, bad {result['bad']}", flush=True)

        print(f"\nmedian of {runs} runs ({duration}, {connections} connections, wrk -t2):")
        print("| backend | route | requests/s | p50 | p99 | ratio to read | errors | runs (requests/s) |")
        print("|---|---|---|---|---|---|---|---|")
        for (backend, name), rounds in results.items():
            rps = benchlib.median(r["rps"] for r in rounds)
            read_rps = benchlib.median(r["rps"] for r in results[(backend, "read")])
            failures = sum(r["non_2xx"] + r["bad"] + r["socket_errors"] for r in rounds)
            each = ", ".join(f"{r['rps']:.0f}" for r in rounds)
            print(f"| {backend} | {name} | {rps:.0f} | {benchlib.median(r['p50'] for r in rounds) / 1000:.2f} ms "
                  f"| {benchlib.median(r['p99'] for r in rounds) / 1000:.2f} ms | {rps / read_rps:.2f} | {failures} | {each} |")
        print("temporary folder filesystem:", subprocess.run(["df", "-T", work], capture_output=True, text=True)
              .stdout.splitlines()[-1].split()[1])
    finally:
        benchlib.stop_processes(processes)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
