#!/usr/bin/env python3
"""Save benchmark: throughput and host peak memory of a large save through the callback.

Runs the release host with the release connector, a minimal Document Server stand-in that serves
one file over HTTP on 127.0.0.1, and sends a signed status-2 callback. In the same run it times a
plain loopback download of the same file to disk with curl, so the ratio holds across machines.

Usage: python3 bench/save_bench.py [SIZE_MB] [RUNS]      (defaults: 200 MB, 3 runs)
Prints the median save time, throughput, the loopback baseline, and the host's peak RSS (VmHWM)
before and after the saves.
"""

import http.server
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

from benchlib import CONNECTOR_BUILD, free_port, hs256, wait_for_response

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HOST = os.path.join(ROOT, "target/release/efalia-host")
COMPONENT = os.path.join(ROOT, "target/wasm32-wasip2/component/efalia_onlyoffice.wasm")
DS_SECRET = "bench-ds-secret-0123456789abcdefghijkl"
DOC = "5b1c2d3e-4f50-4a61-8b72-93a4b5c6d7e8"


def make_zip_like(path: str, size: int) -> None:
    """Writes a file that starts and ends like a ZIP archive, with random bytes between."""
    with open(path, "wb") as out:
        out.write(b"PK\x03\x04")
        left = size - 4 - 22
        while left > 0:
            piece = os.urandom(min(left, 8 << 20))
            out.write(piece)
            left -= len(piece)
        out.write(b"PK\x05\x06" + bytes(18))


def serve_stand_in(path: str, port: int) -> http.server.ThreadingHTTPServer:
    """Serves `path` on every GET and discards the body of every PUT."""

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):
            size = os.path.getsize(path)
            self.send_response(200)
            self.send_header("Content-Length", str(size))
            self.end_headers()
            with open(path, "rb") as source:
                while chunk := source.read(1 << 20):
                    self.wfile.write(chunk)

        def do_PUT(self):
            left = int(self.headers.get("Content-Length", "0"))
            while left > 0:
                chunk = self.rfile.read(min(left, 1 << 20))
                if not chunk:
                    break
                left -= len(chunk)
            self.send_response(204)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def peak_rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        return int(re.search(r"VmHWM:\s+(\d+)", status.read()).group(1))


def request(method: str, url: str, token: str = None, body: bytes = None, content_type: str = None):
    req = urllib.request.Request(url, data=body, method=method)
    if token:
        req.add_header("Authorization", "Bearer " + token)
    if content_type:
        req.add_header("Content-Type", content_type)
    with urllib.request.urlopen(req, timeout=600) as response:
        return response.status, response.read()


def write_config(path: str, host_port: int, ds_base: str, size: int) -> None:
    """Writes the host configuration: the stand-in at `ds_base` as Document Server, documents up to 2 * `size`."""
    with open(path, "w") as out:
        out.write(f"""[variables]
public_base_url = "http://127.0.0.1:{host_port}"
user_jwt_secret = "bench-user-secret-0123456789abcdefghij"
onlyoffice_jwt_secret = "{DS_SECRET}"
connector_secret = "bench-connector-secret-0123456789abcdef"
onlyoffice_public_url = "{ds_base}"
onlyoffice_internal_url = "{ds_base}"
max_document_bytes = "{size * 2}"
[component]
allowed_outbound_hosts = ["{{{{ onlyoffice_internal_url }}}}"]
""")


def signed_callback(key: str, ds_base: str) -> bytes:
    """Returns a status-2 callback body for `key`, signed as the Document Server, pointing at the stand-in's file."""
    now = int(time.time())
    body = {"key": key, "status": 2, "url": f"{ds_base}/cache/output.docx?md5=x&expires={now + 900}",
            "filetype": "docx", "users": ["u-101"], "actions": [{"type": 0, "userid": "u-101"}]}
    body["token"] = hs256({**body, "iat": now, "exp": now + 300}, DS_SECRET)
    return json.dumps(body).encode()


def main() -> None:
    size_mb = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    size = size_mb * 1000 * 1000
    subprocess.run(["cargo", "build", "--release", "--locked", "-q", "-p", "efalia-host"], cwd=ROOT, check=True)
    subprocess.run(CONNECTOR_BUILD, cwd=ROOT, check=True)

    work = tempfile.mkdtemp(prefix="efalia-bench-")
    big = os.path.join(work, "big.docx")
    make_zip_like(big, size)
    ds_port, host_port = free_port(), free_port()
    ds_base = f"http://127.0.0.1:{ds_port}"
    config = os.path.join(work, "bench.toml")
    write_config(config, host_port, ds_base, size)
    host = subprocess.Popen([HOST, "serve", COMPONENT, "--listen", f"127.0.0.1:{host_port}", "--config", config,
                             "--sqlite-path", os.path.join(work, "kv.sqlite3")],
                            stderr=open(os.path.join(work, "host.log"), "w"), env={**os.environ, "RUST_LOG": "warn"})
    server = serve_stand_in(big, ds_port)
    try:
        base = f"http://127.0.0.1:{host_port}"
        wait_for_response(base + "/health", 100)
        user = subprocess.run([HOST, "dev-token", "--config", config], capture_output=True, text=True, check=True).stdout.strip()
        with open(os.path.join(ROOT, "tests/fixtures/rapport.docx"), "rb") as fixture:
            request("PUT", f"{base}/api/documents/{DOC}/binaire?nom=rapport.docx", user, fixture.read())
        _, acces = request("GET", f"{base}/api/only-office/{DOC}/acces", user)
        callback = json.loads(acces)["callback"]
        before = peak_rss_kib(host.pid)

        save_times, download_times = [], []
        for _ in range(runs):
            _, meta = request("GET", f"{base}/api/documents/{DOC}", user)
            key = json.loads(meta)["cle_onlyoffice"]
            body = signed_callback(key, ds_base)
            started = time.monotonic()
            status, answer = request("POST", callback, body=body, content_type="application/json")
            save_times.append(time.monotonic() - started)
            assert status == 200 and json.loads(answer) == {"error": 0}, answer

            target = os.path.join(work, "download.bin")
            started = time.monotonic()
            subprocess.run(["curl", "-s", "-o", target, f"{ds_base}/cache/output.docx"], check=True)
            download_times.append(time.monotonic() - started)
            os.remove(target)

        after = peak_rss_kib(host.pid)
        save = statistics.median(save_times)
        download = statistics.median(download_times)
        print(f"file: {size_mb} MB, runs: {runs}")
        print(f"save through the callback: median {save:.2f} s, {size / save / 1e6:.1f} MB/s (runs: {', '.join(f'{t:.2f}' for t in save_times)})")
        print(f"loopback download to a file (curl): median {download:.2f} s, {size / download / 1e6:.1f} MB/s")
        print(f"ratio save / download throughput: {download / save:.2f}")
        print(f"host peak RSS: {before / 1024:.1f} MiB before the saves, {after / 1024:.1f} MiB after (growth {(after - before) / 1024:.1f} MiB)")
    finally:
        host.terminate()
        host.wait()
        server.shutdown()
        subprocess.run(["rm", "-rf", work])


if __name__ == "__main__":
    main()
