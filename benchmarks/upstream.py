"""The fast upstream (nginx serving a static JSON file) and the nginx reference proxy.

Two nginx instances, each one master + one worker, in the foreground under ``Processes``:

* the **origin** serves ``/v1/api/iserver/accounts`` (the IBKR ``getaccounts`` example body);
* the **proxy** maps ``/iserver/...`` to the origin's ``/v1/api/iserver/...`` with ``proxy_pass``
  and pooled keep-alive connections: the same route the generated REST adapter serves, so the
  adapter and the reference proxy are each one process in front of the same origin.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import yaml
from procs import Processes, free_port, http_status, wait_ready

ACCOUNTS_PATH = "/v1/api/iserver/accounts"
FALLBACK_BODY = {"accounts": ["DU1234567"], "aliases": {"DU1234567": "DU1234567"}}

_CONFIG = """\
worker_processes 1;
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    keepalive_requests 1000000;
    client_body_temp_path {dir}/tmp;
    proxy_temp_path {dir}/tmp;
{server}
}}
"""

_ORIGIN = """\
    server {{
        listen 127.0.0.1:{port};
        location / {{ root {root}; default_type application/json; }}
    }}
"""

_PROXY = """\
    upstream origin {{ server 127.0.0.1:{origin}; keepalive 64; }}
    server {{
        listen 127.0.0.1:{port};
        location /iserver/ {{
            proxy_pass http://origin/v1/api/iserver/;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }}
    }}
"""


@dataclass(frozen=True)
class Tools:
    nginx: str | None
    wrk: str | None
    note: str = ""


def ensure_tools() -> Tools:
    """nginx and wrk (the REST load driver), installed with apt-get when missing (root only)."""
    note = ""
    if not (shutil.which("nginx") and shutil.which("wrk")):
        if os.geteuid() == 0 and shutil.which("apt-get"):
            env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
            done = subprocess.run(
                ["sh", "-c", "apt-get update && apt-get install -y nginx wrk"],
                env=env,
                capture_output=True,
                text=True,
                timeout=600,
                check=False,
            )
            if done.returncode == 0:
                note = "installed nginx and wrk with apt-get"
            else:
                note = f"apt-get failed ({done.returncode}): {done.stderr.strip()[-300:]}"
        else:
            note = "nginx/wrk missing and not root: cannot apt-get install them"
    return Tools(nginx=shutil.which("nginx"), wrk=shutil.which("wrk"), note=note)


def accounts_body(examples: Path) -> bytes:
    """The ``getaccounts`` example of the seed spec's examples file, as compact JSON."""
    try:
        data = yaml.safe_load(examples.read_text(encoding="utf-8"))
        body = data["getaccounts"][0]["body"]
    except (OSError, KeyError, IndexError, TypeError, yaml.YAMLError):
        body = FALLBACK_BODY
    return json.dumps(body, separators=(",", ":")).encode()


def _start_nginx(
    procs: Processes, nginx: str, workdir: Path, name: str, server: str, probe: str
) -> int:
    """Start one nginx (master + 1 worker) serving *server*; wait until *probe* answers 200."""
    home = workdir / name
    (home / "tmp").mkdir(parents=True, exist_ok=True)
    conf = home / "nginx.conf"
    port = free_port()
    conf.write_text(_CONFIG.format(dir=home, server=server.format(port=port)))
    proc = procs.start(name, [nginx, "-p", str(home), "-c", str(conf)])
    wait_ready(procs, name, proc, lambda: http_status(port, probe) == 200, timeout=10.0)
    return port


def start_origin(procs: Processes, nginx: str, workdir: Path, body: bytes) -> int:
    """Start the origin nginx; return its port. Workers run as nobody: files must be readable."""
    root = workdir / "origin-root"
    target = root / ACCOUNTS_PATH.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(body)
    workdir.chmod(0o755)
    for path in [root, *root.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    server = _ORIGIN.replace("{root}", str(root))
    return _start_nginx(procs, nginx, workdir, "nginx-origin", server, ACCOUNTS_PATH)


def start_proxy(procs: Processes, nginx: str, workdir: Path, origin: int) -> int:
    """Start the reference proxy nginx in front of *origin*; return its port."""
    server = _PROXY.replace("{origin}", str(origin))
    return _start_nginx(procs, nginx, workdir, "nginx-proxy", server, "/iserver/accounts")


def nginx_version(nginx: str) -> str:
    done = subprocess.run([nginx, "-v"], capture_output=True, text=True, check=False)
    return (done.stderr or done.stdout).strip().removeprefix("nginx version: ")
