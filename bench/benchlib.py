"""Shared helpers of the route, key-value, start-up and load benchmarks.

Python 3.11 standard library only. Every server runs on 127.0.0.1 on a port chosen here, and
every temporary file goes in a folder the caller removes.
"""

import base64
import hashlib
import hmac
import json
import os
import platform
import re
import socket
import statistics
import subprocess
import time
import tomllib
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HOST = os.path.join(ROOT, "target/release/efalia-host")
CONNECTOR = os.path.join(ROOT, "target/wasm32-wasip2/component/efalia_onlyoffice.wasm")
# The connector's build: a cdylib alone, so that LTO applies, with the `component` profile.
CONNECTOR_BUILD = ["cargo", "rustc", "--locked", "-q", "--profile", "component", "--target", "wasm32-wasip2",
                   "-p", "efalia-onlyoffice", "--lib", "--crate-type", "cdylib"]
GUEST = os.path.join(ROOT, "target/guest/wasm32-wasip2/release/host_test_guest.wasm")
USER = "u-101"


def build() -> None:
    """Builds the release host, the connector and the test guest, unless
    EFALIA_BENCH_SKIP_BUILD=1 is set, which keeps the binaries already in target/."""
    if os.environ.get("EFALIA_BENCH_SKIP_BUILD") == "1":
        return
    steps = [
        ["cargo", "build", "--release", "--locked", "-q", "-p", "efalia-host"],
        CONNECTOR_BUILD,
        ["cargo", "build", "--release", "--locked", "-q", "--target", "wasm32-wasip2",
         "--manifest-path", "host/tests/guest/Cargo.toml", "--target-dir", "target/guest"],
    ]
    for step in steps:
        subprocess.run(step, cwd=ROOT, check=True)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hs256(claims: dict, secret: str) -> str:
    """Signs `claims` as an HS256 JWT."""
    signing_input = b64url(b'{"alg":"HS256","typ":"JWT"}') + "." + b64url(json.dumps(claims).encode())
    signature = hmac.new(secret.encode(), signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + b64url(signature)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_redis(work: str, *settings: str) -> tuple[subprocess.Popen, int]:
    """Starts redis-server on a free loopback port with its data in `work/redis` and the extra
    `settings` (for example `--appendonly yes`), and waits for its PING reply."""
    port = free_port()
    folder = os.path.join(work, "redis")
    os.mkdir(folder)
    server = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", *settings,
                               "--dir", folder, "--logfile", os.path.join(folder, "redis.log")],
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                if sock.recv(16).startswith(b"+PONG"):
                    return server, port
        except OSError:
            time.sleep(0.1)
    server.terminate()
    raise RuntimeError(f"redis-server did not start on port {port}")


def wait_for_response(url: str, attempts: int) -> None:
    """Waits until `url` returns any HTTP response, at most `attempts` tenths of a second."""
    for _ in range(attempts):
        try:
            request("GET", url)
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"no response from {url}")


def request(method: str, url: str, token: str = None, body: bytes = None, headers: dict = None):
    """Sends one request and returns (status, body); HTTP errors return their status too."""
    req = urllib.request.Request(url, data=body, method=method)
    if token:
        req.add_header("Authorization", "Bearer " + token)
    for name, value in (headers or {}).items():
        req.add_header(name, value)
    try:
        with urllib.request.urlopen(req, timeout=60) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


class Host:
    """An `efalia-host serve` process on a free loopback port, stopped by `stop()`."""

    def __init__(self, component: str, work: str, name: str, args: list = (), env: dict = None, port: int = None):
        self.port = port or free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = os.path.join(work, f"{name}.log")
        command = [HOST, "serve", component, "--listen", f"127.0.0.1:{self.port}", *args]
        if "--redis-url" not in args and "--sqlite-path" not in args:
            command += ["--sqlite-path", os.path.join(work, f"{name}.sqlite3")]
        self.process = subprocess.Popen(command, stderr=open(self.log_path, "w"),
                                        env={**os.environ, "RUST_LOG": "warn", **(env or {})})

    def wait_ready(self, path: str = "/", attempts: int = 300) -> None:
        """Waits until `path` returns any response, at most `attempts` tenths of a second."""
        for _ in range(attempts):
            if self.process.poll() is not None:
                raise RuntimeError(f"the host exited; log in {self.log_path}")
            try:
                request("GET", self.base + path)
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"the host did not respond on {self.base}")

    def cpu_seconds(self) -> float:
        """Returns the user and system CPU time the host used so far, from /proc."""
        return process_cpu_seconds(self.process.pid)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait()


def stop_processes(processes: list) -> None:
    """Terminates each process and waits for it to exit."""
    for process in processes:
        process.terminate()
        process.wait()


def process_cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    # Fields 14 and 15 of /proc/PID/stat (utime, stime) are at 11 and 12 after the command name.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def connector_env(host_port: int, ds_base: str = "http://127.0.0.1:9") -> dict:
    """Returns the variable overrides of a bench connector: its own base URL, the Document
    Server stand-in's URLs, and token lifetimes longer than any bench run."""
    return {
        "EFALIA_VARIABLE_PUBLIC_BASE_URL": f"http://127.0.0.1:{host_port}",
        "EFALIA_VARIABLE_ONLYOFFICE_PUBLIC_URL": ds_base,
        "EFALIA_VARIABLE_ONLYOFFICE_INTERNAL_URL": ds_base,
        "EFALIA_VARIABLE_BINAIRE_TOKEN_LIFETIME": "7200",
        "EFALIA_VARIABLE_CONFIG_TOKEN_LIFETIME": "7200",
    }


def dev_config(work: str) -> tuple[str, dict]:
    """Writes a development configuration with `efalia-host dev-config` and returns its path and
    its variables. The secrets it prints go nowhere."""
    path = os.path.join(work, "efalia.toml")
    subprocess.run([HOST, "dev-config", path], check=True, stderr=subprocess.DEVNULL)
    with open(path, "rb") as config:
        return path, tomllib.load(config)["variables"]


def dev_token(config: str, user: str = USER, lifetime: int = 7200) -> str:
    return subprocess.run([HOST, "dev-token", "--config", config, "--user", user, "--lifetime", str(lifetime)],
                          capture_output=True, text=True, check=True).stdout.strip()


def to_microseconds(text: str) -> float:
    """Converts a wrk latency such as `2.29ms` to microseconds."""
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    value, unit = float(match.group(1)), match.group(2)
    return value * {"us": 1, "ms": 1e3, "s": 1e6, "m": 60e6}[unit]


# Counts responses per thread; `expected_body`, when the script sets it, must match every body.
# The same hook runs for every target of a comparison, so wrk spends the same work on each.
WRK_CHECK_LUA = """
checked = 0
bad = 0
local threads = {}
function setup(thread)
  table.insert(threads, thread)
  thread:set("thread_number", #threads)
end
function response(status, headers, body)
  checked = checked + 1
  if status < 200 or status > 299 or (expected_body ~= nil and body ~= expected_body) then
    bad = bad + 1
  end
end
function done(summary, latency, requests)
  local all_checked, all_bad = 0, 0
  for _, thread in ipairs(threads) do
    all_checked = all_checked + thread:get("checked")
    all_bad = all_bad + thread:get("bad")
  end
  io.write(string.format("checked %d bad %d\\n", all_checked, all_bad))
end
"""


def lua_string(text: str) -> str:
    """Quotes `text` as a Lua string literal."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def write_lua(path: str, body: str) -> str:
    with open(path, "w") as script:
        script.write(body + WRK_CHECK_LUA)
    os.chmod(path, 0o600)
    return path


def run_wrk(url: str, script: str, duration: str, connections: int, threads: int = 2) -> dict:
    """Runs wrk once and returns requests/s, p50 and p99 in microseconds, and error counts."""
    output = subprocess.run(["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}", "--latency", "-s", script, url],
                            capture_output=True, text=True, check=True).stdout
    result = {"rps": float(re.search(r"^Requests/sec:\s+([\d.]+)", output, re.M).group(1))}
    for percentile in ("50", "99"):
        result[f"p{percentile}"] = to_microseconds(re.search(rf"^\s+{percentile}%\s+(\S+)", output, re.M).group(1))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    result["non_2xx"] = int(non_2xx.group(1)) if non_2xx else 0
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    result["socket_errors"] = sum(int(count) for count in socket_errors.groups()) if socket_errors else 0
    checked = re.search(r"checked (\d+) bad (\d+)", output)
    result["checked"], result["bad"] = int(checked.group(1)), int(checked.group(2))
    return result


def median(values) -> float:
    return statistics.median(list(values))


def machine() -> str:
    """Describes the machine and tool versions for a results record."""
    with open("/proc/cpuinfo") as cpuinfo:
        model = re.search(r"model name\s*:\s*(.*)", cpuinfo.read()).group(1)
    with open("/proc/meminfo") as meminfo:
        memory = int(re.search(r"MemTotal:\s+(\d+)", meminfo.read()).group(1)) / 1024 / 1024
    versions = [
        subprocess.run(["rustc", "--version"], capture_output=True, text=True).stdout.strip(),
        subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.splitlines()[0].split(" [")[0],
        "Python " + platform.python_version(),
    ]
    load = os.getloadavg()
    return (f"{os.cpu_count()} cores ({model}), {memory:.0f} GiB, {platform.platform()}; "
            f"{'; '.join(versions)}; load average at start {load[0]:.2f}")
