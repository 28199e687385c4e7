#!/usr/bin/env python3
"""Bounded load run: SESSIONS simulated editing sessions at once for DURATION seconds against the
release host and connector (SQLite store), with a Document Server stand-in for saves.

Each session owns one document and one keep-alive connection, and loops without pause:
  token      POST /api/only-office/token (user token)
  acces      GET  /api/only-office/{id}/acces (user token)
  binaire    GET  the session's binaire URL with the Document Server's header token
  callback   POST its callback URL, a signed status-1 callback that must return {"error":0}
and every SAVE_EVERY loops:
  save       POST a signed status-2 callback; the connector downloads tests/fixtures/
             rapport-modifie.docx from the stand-in (`python3 -m http.server` in its own
             process) and stores it as a new version, which must return {"error":0}
  metadata   GET  /api/documents/{id} (user token) for the new document key
Any other status or body counts as an error, and the script exits with status 1 if there is one.

The client is one Python process with asyncio on the same two cores as the host. It reports its
own CPU time, and how late its event loop wakes up against a 10 ms ticker. A late loop reads
responses late, which inflates the measured latencies.

Usage: python3 bench/load_run.py [SESSIONS] [DURATION] [SAVE_EVERY]   (defaults: 200, 60, 10)
"""

import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid

import benchlib
from benchlib import Host, request

KINDS = ("token", "acces", "binaire", "callback", "save", "metadata")


class Connection:
    """One HTTP/1.1 keep-alive connection with a minimal request and response codec."""

    def __init__(self, port: int):
        self.port = port
        self.reader = None
        self.writer = None

    async def send(self, method: str, target: str, headers: dict, body: bytes = b"") -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        lines = [f"{method} {target} HTTP/1.1", f"Host: 127.0.0.1:{self.port}", f"Content-Length: {len(body)}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        status = int(status_line.split(" ", 2)[1])
        fields = {}
        for line in header_lines:
            if ":" in line:
                name, value = line.split(":", 1)
                fields[name.strip().lower()] = value.strip()
        if "content-length" in fields:
            payload = await self.reader.readexactly(int(fields["content-length"]))
        elif fields.get("transfer-encoding", "").lower() == "chunked":
            payload = await self.read_chunked()
        else:
            payload = b""
        if fields.get("connection", "").lower() == "close":
            self.close()
        return status, payload

    async def read_chunked(self) -> bytes:
        parts = []
        while True:
            size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await self.reader.readuntil(b"\r\n")
                return b"".join(parts)
            parts.append(await self.reader.readexactly(size))
            await self.reader.readexactly(2)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


class Session:
    """One editing session on its own document."""

    def __init__(self, load: "LoadRun", document: str):
        self.load = load
        self.document = document
        self.connection = Connection(load.host.port)
        self.user_headers = {"Authorization": "Bearer " + load.user}
        self.binaire_path = None
        self.binaire_headers = None
        self.callback_path = None
        self.callback_body = None
        self.key = None

    async def timed(self, kind: str, method: str, target: str, headers: dict, body: bytes = b"",
                    expected: bytes = None) -> bytes | None:
        """Sends one request and returns its body, or None after recording an error."""
        started = time.perf_counter()
        try:
            status, payload = await asyncio.wait_for(self.connection.send(method, target, headers, body), 60)
        except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError, ValueError) as err:
            self.connection.close()
            self.load.error(kind, f"{type(err).__name__}")
            return None
        self.load.latencies[kind].append(time.perf_counter() - started)
        if status != 200 or (expected is not None and payload != expected):
            self.load.error(kind, f"status {status}, body {payload[:120]!r}")
            return None
        return payload

    def sign_status(self, status: int) -> bytes:
        now = int(time.time())
        body = {"key": self.key, "status": status, "users": [benchlib.USER],
                "actions": [{"type": 1 if status == 1 else 0, "userid": benchlib.USER}]}
        if status == 2:
            body["url"] = f"{self.load.ds_base}/cache/edited.docx?md5=x&expires={now + 900}"
            body["filetype"] = "docx"
        body["token"] = benchlib.hs256({**body, "iat": now, "exp": now + 3600}, self.load.ds_secret)
        return json.dumps(body).encode()

    async def refresh_key(self) -> None:
        payload = await self.timed("metadata", "GET", f"/api/documents/{self.document}", self.user_headers)
        if payload:
            self.key = json.loads(payload)["cle_onlyoffice"]
            self.callback_body = self.sign_status(1)

    async def run(self, deadline: float) -> None:
        base = self.load.host.base
        payload = await self.timed("acces", "GET", f"/api/only-office/{self.document}/acces", self.user_headers)
        if payload is None:
            return
        acces = json.loads(payload)
        # The Document Server keeps using the URLs of the configuration it was given.
        self.binaire_path = acces["binaire"].removeprefix(base)
        self.callback_path = acces["callback"].removeprefix(base)
        now = int(time.time())
        ds_header = benchlib.hs256({"payload": {"url": acces["binaire"]}, "iat": now, "exp": now + 3600}, self.load.ds_secret)
        self.binaire_headers = {"Authorization": "Bearer " + ds_header}
        config = json.dumps({"document": {"url": acces["binaire"]},
                             "editorConfig": {"callbackUrl": acces["callback"], "lang": "fr"}}).encode()
        token_headers = {**self.user_headers, "Content-Type": "application/json"}
        json_headers = {"Content-Type": "application/json"}
        await self.refresh_key()

        loops = 0
        while time.monotonic() < deadline:
            loops += 1
            await self.timed("token", "POST", "/api/only-office/token", token_headers, config)
            await self.timed("acces", "GET", f"/api/only-office/{self.document}/acces", self.user_headers)
            await self.timed("binaire", "GET", self.binaire_path, self.binaire_headers)
            await self.timed("callback", "POST", self.callback_path, json_headers, self.callback_body, b'{"error":0}')
            if loops % self.load.save_every == 0:
                await self.timed("save", "POST", self.callback_path, json_headers, self.sign_status(2), b'{"error":0}')
                await self.refresh_key()
        self.connection.close()


class LoadRun:
    def __init__(self, host: Host, user: str, ds_base: str, ds_secret: str, save_every: int):
        self.host = host
        self.user = user
        self.ds_base = ds_base
        self.ds_secret = ds_secret
        self.save_every = save_every
        self.latencies = {kind: [] for kind in KINDS}
        self.errors = []
        self.loop_lag = []

    def error(self, kind: str, detail: str) -> None:
        self.errors.append((kind, detail))

    async def ticker(self, deadline: float) -> None:
        while time.monotonic() < deadline:
            started = time.perf_counter()
            await asyncio.sleep(0.01)
            self.loop_lag.append(time.perf_counter() - started - 0.01)

    async def run(self, documents: list, duration: float) -> None:
        deadline = time.monotonic() + duration
        sessions = [Session(self, document) for document in documents]
        await asyncio.gather(self.ticker(deadline), *(session.run(deadline) for session in sessions))


def percentile(values: list, fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def main() -> None:
    sessions = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    duration = float(sys.argv[2]) if len(sys.argv) > 2 else 60
    save_every = int(sys.argv[3]) if len(sys.argv) > 3 else 10
    benchlib.build()
    print("machine:", benchlib.machine())

    work = tempfile.mkdtemp(prefix="efalia-load-")
    processes = []
    try:
        ds_folder = os.path.join(work, "ds", "cache")
        os.makedirs(ds_folder)
        shutil.copy(os.path.join(benchlib.ROOT, "tests/fixtures/rapport-modifie.docx"), os.path.join(ds_folder, "edited.docx"))
        ds_port = benchlib.free_port()
        ds = subprocess.Popen([sys.executable, "-m", "http.server", str(ds_port), "--bind", "127.0.0.1",
                               "--directory", os.path.join(work, "ds")],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        processes.append(ds)
        ds_base = f"http://127.0.0.1:{ds_port}"

        config, variables = benchlib.dev_config(work)
        port = benchlib.free_port()
        host = Host(benchlib.CONNECTOR, work, "connector", ["--config", config],
                    env=benchlib.connector_env(port, ds_base), port=port)
        processes.append(host.process)
        host.wait_ready("/health")
        user = benchlib.dev_token(config)
        with open(os.path.join(benchlib.ROOT, "tests/fixtures/rapport.docx"), "rb") as fixture:
            original = fixture.read()
        documents = [str(uuid.uuid4()) for _ in range(sessions)]
        for document in documents:
            status, _ = request("PUT", f"{host.base}/api/documents/{document}/binaire?nom=rapport.docx", user, original)
            assert status in (200, 201), f"upload answered {status}"

        load = LoadRun(host, user, ds_base, variables["onlyoffice_jwt_secret"], save_every)
        host_cpu, ds_cpu = host.cpu_seconds(), benchlib.process_cpu_seconds(ds.pid)
        client_cpu, started = time.process_time(), time.monotonic()
        asyncio.run(load.run(documents, duration))
        elapsed = time.monotonic() - started
        client_cpu = time.process_time() - client_cpu
        host_cpu = host.cpu_seconds() - host_cpu
        ds_cpu = benchlib.process_cpu_seconds(ds.pid) - ds_cpu

        total = sum(len(values) for values in load.latencies.values())
        print(f"{sessions} sessions, {elapsed:.1f} s, a save every {save_every} loops: {total} requests, "
              f"{total / elapsed:.0f} requests/s, {len(load.errors)} errors")
        print("| request | count | requests/s | p50 | p99 | max |")
        print("|---|---|---|---|---|---|")
        for kind, values in load.latencies.items():
            if values:
                print(f"| {kind} | {len(values)} | {len(values) / elapsed:.0f} | {percentile(values, 0.5) * 1000:.1f} ms "
                      f"| {percentile(values, 0.99) * 1000:.1f} ms | {max(values) * 1000:.1f} ms |")
        print(f"CPU over the run: host {host_cpu:.1f} s ({host_cpu / elapsed * 100:.0f} % of one core), "
              f"client {client_cpu:.1f} s ({client_cpu / elapsed * 100:.0f} %), "
              f"stand-in {ds_cpu:.1f} s ({ds_cpu / elapsed * 100:.0f} %), of {os.cpu_count()} cores")
        print(f"client event loop lateness: p50 {percentile(load.loop_lag, 0.5) * 1000:.1f} ms, "
              f"p99 {percentile(load.loop_lag, 0.99) * 1000:.1f} ms")
        for kind, detail in load.errors[:10]:
            print(f"error: {kind}: {detail}")
        if load.errors:
            # The host logs paths without their query, so these lines carry no token.
            with open(host.log_path) as log:
                failures = sorted({line.split(": ", 1)[-1].strip() for line in log if " ERROR " in line})
            for line in failures[:5]:
                print("host log:", line)
            sys.exit(1)
    finally:
        benchlib.stop_processes(processes)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
