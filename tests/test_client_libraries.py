"""The official InfluxDB clients of other languages against the real binary: Node.js
(@influxdata/influxdb-client) and Go (influxdb-client-go/v2), installed by
scripts/bootstrap.sh from tests/clients/ (lock files pin them). Each writes, then shows
what a user sees for a bad line and for a type conflict: the client's own error, built
from the v2 error body's code and message."""
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

CLIENTS = Path(__file__).resolve().parent / "clients"


def go_binary():
    return shutil.which("go") or "/usr/local/go/bin/go"


@pytest.fixture(scope="session")
def go_client(tmp_path_factory):
    """The Go client, built offline from the module cache bootstrap filled."""
    out = tmp_path_factory.mktemp("go") / "influx-go-client"
    env = dict(os.environ, GOFLAGS="-mod=readonly", GOPROXY="off")
    built = subprocess.run([go_binary(), "build", "-o", str(out), "."], cwd=CLIENTS / "go",
                           env=env, capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, (
        f"cannot build tests/clients/go (run scripts/bootstrap.sh):\n{built.stderr}")
    return [str(out)]


@pytest.fixture(scope="session")
def node_client():
    node_dir = CLIENTS / "node"
    assert (node_dir / "node_modules" / "@influxdata" / "influxdb-client").is_dir(), (
        "the Node.js client is not installed: run scripts/bootstrap.sh")
    return [shutil.which("node") or "node", str(node_dir / "write.mjs")]


def run(command, server, bucket, lines):
    """The client's report of one write, as its script prints it."""
    out = subprocess.run([*command, server.url, "any-token", bucket], input=lines,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.fixture(params=["node", "go"])
def client(request):
    return request.getfixturevalue(f"{request.param}_client")


def test_write_and_the_errors_a_user_sees(server, client):
    assert run(client, server, "db", "cpu,host=a v=1 1\ncpu,host=b v=2 2\n") == {"ok": True}
    assert server.total_rows("db", "cpu", expected=2) == 2
    # The v1.8 compatibility bucket spelling.
    assert run(client, server, "db/autogen", "mem v=1 1\n") == {"ok": True}
    assert server.total_rows("db", "mem", expected=1) == 1

    bad = run(client, server, "db", "cpu,host=c v=3 3\ncpu v=\n")
    assert bad["ok"] is False and bad["statusCode"] == 400 and bad["code"] == "invalid"
    assert bad["message"] == ("partial write of line protocol occurred: line 2, column 7: "
                              'missing value for field key "v"')
    assert server.total_rows("db", "cpu", expected=3) == 3  # the good line is written

    conflict = run(client, server, "db", 'cpu v="high" 4\n')
    assert conflict["ok"] is False and conflict["statusCode"] == 400
    assert conflict["message"] == (
        "no line of the request was written: line 1, column 5: column 'v' of table 'cpu' "
        "has type f64 in the catalog; the line offers string")
    if "error" in conflict:  # Go: err.Error() is what gets printed
        assert conflict["error"] == "invalid: " + conflict["message"]
