#!/usr/bin/env python3
"""Start-up and per-request instantiation benchmark of the release host.

1. Start-up: the time from starting `efalia-host serve` with the release connector to the first
   200 response of `GET /health`, polled every 5 ms. The host compiles the component with
   Cranelift at every start, because it keeps no compiled-code cache. The same is measured for the
   test guest.
2. Per-request time inside the host: with RUST_LOG=info the host logs `duration_us` for every
   request, from the moment hyper hands it the request to the moment the guest has set the
   response head, so it covers the store creation, the instantiation and the guest's handler.
   Sequential requests on one connection (no queueing) are sent to the test guest's `GET /`
   (a handler that does nothing), to the connector's unknown path (instantiation, route parsing
   and a 404 JSON body, with no config or key-value call) and to its `GET /health` (one config
   read). The guest's figure is an upper bound of the instantiation time.

Usage: python3 bench/startup_bench.py [STARTS] [REQUESTS]   (defaults: 7, 2000)
"""

import http.client
import os
import re
import shutil
import sys
import tempfile
import time

import benchlib
from benchlib import Host


def first_success(host: Host, path: str, started: float) -> float:
    """Polls `path` every 5 ms until it returns 200, and returns the seconds since `started`."""
    deadline = started + 120
    while time.monotonic() < deadline:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", host.port, timeout=5)
            connection.request("GET", path)
            if connection.getresponse().status == 200:
                return time.monotonic() - started
        except OSError:
            pass
        time.sleep(0.005)
    raise RuntimeError(f"no 200 response on {path} within 120 s; log in {host.log_path}")


def durations(host: Host, path: str, count: int) -> list[int]:
    """Sends `count` sequential requests on one connection and returns the host's `duration_us`."""
    connection = http.client.HTTPConnection("127.0.0.1", host.port, timeout=10)
    for _ in range(count):
        connection.request("GET", path)
        connection.getresponse().read()
    connection.close()
    time.sleep(0.2)  # lets the host flush its log
    with open(host.log_path) as log:
        text = log.read()
    escaped = re.escape(path)
    return [int(value) for value in re.findall(rf"path={escaped}[}} ].*?duration_us=(\d+)", text)][-count:]


def main() -> None:
    starts = int(sys.argv[1]) if len(sys.argv) > 1 else 7
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
    benchlib.build()
    print("machine:", benchlib.machine())
    work = tempfile.mkdtemp(prefix="efalia-startup-")
    try:
        config, _ = benchlib.dev_config(work)
        for name, component, path in (("connector", benchlib.CONNECTOR, "/health"), ("guest", benchlib.GUEST, "/")):
            times = []
            for run in range(starts):
                port = benchlib.free_port()
                started = time.monotonic()
                host = Host(component, work, f"{name}-start-{run}", ["--config", config],
                            env=benchlib.connector_env(port), port=port)
                try:
                    times.append(first_success(host, path, started))
                finally:
                    host.stop()
            print(f"start-up to the first 200, {name} ({os.path.getsize(component)} bytes): "
                  f"median {benchlib.median(times) * 1000:.0f} ms "
                  f"(runs: {', '.join(f'{t * 1000:.0f}' for t in times)} ms)")

        hosts = []
        try:
            port = benchlib.free_port()
            connector = Host(benchlib.CONNECTOR, work, "connector-requests", ["--config", config],
                             env={**benchlib.connector_env(port), "RUST_LOG": "info"}, port=port)
            guest = Host(benchlib.GUEST, work, "guest-requests", [], env={"RUST_LOG": "info"})
            hosts += [connector, guest]
            connector.wait_ready("/health")
            guest.wait_ready("/")
            for label, host, path in (("guest GET / (no-op handler)", guest, "/"),
                                      ("connector unknown path (404)", connector, "/inconnu"),
                                      ("connector GET /health", connector, "/health")):
                durations(host, path, 200)  # warm-up
                values = durations(host, path, count)
                values.sort()
                print(f"{label}: {len(values)} requests, host duration_us median {benchlib.median(values):.0f}, "
                      f"p90 {values[int(len(values) * 0.9)]}, p99 {values[int(len(values) * 0.99)]}")
        finally:
            for host in hosts:
                host.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
