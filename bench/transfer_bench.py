#!/usr/bin/env python3
"""Transfer benchmark: save callback, upload and Document Server download, per file size.

For each size, the script starts a fresh release host, so its peak RSS belongs to that size. The
host uses a SQLite store, or with --redis a redis-server that the script starts on a free loopback
port. A Document Server stand-in serves the file on 127.0.0.1. Each operation runs against a plain
loopback transfer of the same bytes in the same run, timed with curl:

- save: signed status-2 callback (`POST /api/only-office/{id}/remplacer`), which makes the
  connector download the file from the stand-in; baseline: curl downloads it from the stand-in.
- upload: curl `PUT /api/documents/{id}/binaire`; baseline: curl PUTs it to the stand-in, which
  reads and discards the body.
- download: curl `GET /api/only-office/{id}/binaire?authorization=...` as the Document Server
  does; baseline: curl downloads the file from the stand-in.

Usage: python3 bench/transfer_bench.py [--redis] [--sizes 10,100,500] [--runs 5,5,3]
Sizes are in MB (10^6 bytes). Prints one line per size and operation and a Markdown table.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time

from benchlib import CONNECTOR_BUILD, free_port, start_redis, wait_for_response
from save_bench import (COMPONENT, HOST, ROOT, make_zip_like, peak_rss_kib, request, serve_stand_in,
                        signed_callback, write_config)

DOC = "6c2d3e4f-5061-4a72-8b83-a4b5c6d7e8f9"


def curl(*args: str) -> float:
    """Runs curl quietly, fails on an HTTP error, and returns the elapsed seconds."""
    started = time.monotonic()
    subprocess.run(["curl", "-sS", "--fail", "-o", os.devnull, *args], check=True)
    return time.monotonic() - started


def curl_to_file(url: str, target: str) -> float:
    started = time.monotonic()
    subprocess.run(["curl", "-sS", "--fail", "-o", target, url], check=True)
    elapsed = time.monotonic() - started
    os.remove(target)
    return elapsed


def measure_size(size_mb: int, runs: int, use_redis: bool, binaries: tuple[str, str]) -> dict:
    size = size_mb * 1000 * 1000
    work = tempfile.mkdtemp(prefix="efalia-transfer-")
    redis = None
    host = None
    server = None
    try:
        big = os.path.join(work, "big.docx")
        make_zip_like(big, size)
        ds_port, host_port = free_port(), free_port()
        ds_base = f"http://127.0.0.1:{ds_port}"
        config = os.path.join(work, "bench.toml")
        write_config(config, host_port, ds_base, size)
        store_args = ["--sqlite-path", os.path.join(work, "kv.sqlite3")]
        if use_redis:
            # No persistence: the Redis figures include no disk write.
            redis, redis_port = start_redis(work, "--appendonly", "no")
            url = f"redis://127.0.0.1:{redis_port}/0"
            store_args = ["--redis-url", url]
        host = subprocess.Popen(
            [binaries[0], "serve", binaries[1], "--listen", f"127.0.0.1:{host_port}", "--config", config,
             "--max-request-body", str(size * 2), *store_args],
            stderr=open(os.path.join(work, "host.log"), "w"), env={**os.environ, "RUST_LOG": "warn"})
        server = serve_stand_in(big, ds_port)
        base = f"http://127.0.0.1:{host_port}"
        wait_for_response(base + "/health", 300)
        user = subprocess.run([binaries[0], "dev-token", "--config", config], capture_output=True, text=True,
                              check=True).stdout.strip()
        with open(os.path.join(ROOT, "tests/fixtures/rapport.docx"), "rb") as fixture:
            request("PUT", f"{base}/api/documents/{DOC}/binaire?nom=rapport.docx", user, fixture.read())
        before = peak_rss_kib(host.pid)

        times = {name: [] for name in ("upload", "upload_base", "save", "save_base", "download", "download_base")}
        upload_url = f"{base}/api/documents/{DOC}/binaire?nom=rapport.docx"
        auth = ["-H", f"Authorization: Bearer {user}"]
        target = os.path.join(work, "download.bin")
        for _ in range(runs):
            times["upload"].append(curl("-T", big, *auth, upload_url))
            times["upload_base"].append(curl("-T", big, f"{ds_base}/sink"))

            _, meta = request("GET", f"{base}/api/documents/{DOC}", user)
            key = json.loads(meta)["cle_onlyoffice"]
            _, acces = request("GET", f"{base}/api/only-office/{DOC}/acces", user)
            callback = json.loads(acces)["callback"]
            body = signed_callback(key, ds_base)
            started = time.monotonic()
            status, reply = request("POST", callback, body=body, content_type="application/json")
            times["save"].append(time.monotonic() - started)
            assert status == 200, reply
            assert json.loads(reply) == {"error": 0}, reply
            times["save_base"].append(curl_to_file(f"{ds_base}/cache/output.docx", target))

            _, acces = request("GET", f"{base}/api/only-office/{DOC}/acces", user)
            binaire = json.loads(acces)["binaire"]
            times["download"].append(curl_to_file(binaire, target))
            times["download_base"].append(curl_to_file(f"{ds_base}/cache/output.docx", target))
        after = peak_rss_kib(host.pid)
        return {"size_mb": size_mb, "runs": runs, "times": times, "rss_before": before, "rss_after": after}
    finally:
        if host:
            host.terminate()
            host.wait()
        if server:
            server.shutdown()
        if redis:
            redis.terminate()
            redis.wait()
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis", action="store_true", help="use a Redis store instead of SQLite")
    parser.add_argument("--sizes", default="10,100,500", help="file sizes in MB, comma-separated")
    parser.add_argument("--runs", default="5,5,3", help="runs per size, comma-separated, same order as --sizes")
    parser.add_argument("--no-build", action="store_true", help="use the binaries as they are, without cargo build")
    parser.add_argument("--host", default=HOST, help="efalia-host binary (default: the release build)")
    parser.add_argument("--component", default=COMPONENT, help="connector .wasm (default: the component build)")
    args = parser.parse_args()
    sizes = [int(part) for part in args.sizes.split(",")]
    runs = [int(part) for part in args.runs.split(",")]
    if len(runs) != len(sizes):
        parser.error("--runs needs one count per size")
    if not args.no_build:
        subprocess.run(["cargo", "build", "--release", "--locked", "-q", "-p", "efalia-host"], cwd=ROOT, check=True)
        subprocess.run(CONNECTOR_BUILD, cwd=ROOT, check=True)

    store = "redis" if args.redis else "sqlite"
    rows = []
    for size_mb, count in zip(sizes, runs):
        result = measure_size(size_mb, count, args.redis, (args.host, args.component))
        size = size_mb * 1e6
        growth = (result["rss_after"] - result["rss_before"]) / 1024
        for operation in ("save", "upload", "download"):
            ours = statistics.median(result["times"][operation])
            plain = statistics.median(result["times"][operation + "_base"])
            line = (f"{store} {size_mb} MB {operation}: median of {count} {ours:.3f} s ({size / ours / 1e6:.1f} MB/s), "
                    f"loopback {plain:.3f} s ({size / plain / 1e6:.1f} MB/s), ratio {plain / ours:.2f}; "
                    f"runs {', '.join(f'{t:.3f}' for t in result['times'][operation])}")
            print(line, flush=True)
            rows.append(f"| {store} | {size_mb} MB | {operation} | {count} | {ours:.2f} s, {size / ours / 1e6:.0f} MB/s | "
                        f"{plain:.2f} s, {size / plain / 1e6:.0f} MB/s | {plain / ours:.2f} |")
        print(f"{store} {size_mb} MB host peak RSS: {result['rss_before'] / 1024:.1f} -> "
              f"{result['rss_after'] / 1024:.1f} MiB (growth {growth:.1f} MiB)", flush=True)
        rows.append(f"| {store} | {size_mb} MB | peak RSS | | {result['rss_before'] / 1024:.1f} → "
                    f"{result['rss_after'] / 1024:.1f} MiB (+{growth:.1f} MiB) | | |")
    print()
    print("| store | file | operation | runs | ours (median) | plain loopback (median) | ratio |")
    print("|---|---|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
