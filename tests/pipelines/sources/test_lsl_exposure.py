"""Who can reach an outlet started with the shipped LSL configuration, asked through this machine's own network
address (issue 20, item 13).

An outlet (``tests/fixtures/lsl_players.py``, in a child with the shipped configuration on a port range of its own)
is asked the way liblsl asks, by raw UDP ``LSL:shortinfo`` queries, so the test depends on no resolver
configuration: through loopback (it answers: the probe works), through the machine's non-loopback IPv4 address,
its subnet broadcast and its global IPv6 addresses on the discovery port, and on IPv6 at every port of the range
(nothing answers: ``ListenAddress = 127.0.0.1``, ``IPv6 = disable``). What liblsl 1.17 cannot restrict is measured
too: the outlet's IPv4 service port answers a query sent to the network address, and its data port streams samples
to a client that connects there. That is why the dashboard says the outlets are reachable from the network
(:func:`affectstream.pipelines.sources.lsl.lsl_exposure`); should a liblsl release bind those ports to loopback,
the second test fails and the warning and docs/THREAT_MODEL.md must be revisited.
"""

from __future__ import annotations

import configparser
import json
import socket
import subprocess
import time
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from affectstream.pipelines.sources.lsl import LSL_CONFIG, lsl_exposure
from fixtures.lsl_players import private_lsl_env, start_player, stop

#: Seconds a probe waits for answers (liblsl answers a matching query at once; loopback replies take < 10 ms).
WAIT_S = 1.0


def _network_addresses() -> tuple[list[str], list[str], list[str]]:
    """This machine's IPv4 addresses, IPv4 broadcast addresses and global IPv6 addresses, loopback excluded."""
    try:
        links = json.loads(subprocess.run(["ip", "-j", "addr", "show", "up"], capture_output=True, text=True,
                                          timeout=10, check=True).stdout)
    except (OSError, subprocess.SubprocessError, ValueError):
        links = []
    v4, broadcast, v6 = [], [], []
    for link in links:
        for a in link.get("addr_info", []):
            if a.get("scope") != "global":
                continue
            (v4 if a.get("family") == "inet" else v6).append(a["local"])
            if a.get("broadcast"):
                broadcast.append(a["broadcast"])
    if not v4:  # no iproute2: the address the kernel would send from (connecting a UDP socket sends nothing)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            try:
                s.connect(("192.0.2.1", 9))
                if not s.getsockname()[0].startswith("127."):
                    v4.append(s.getsockname()[0])
            except OSError:
                pass
    return v4, broadcast, v6


def _ask(targets: list[tuple[str, int]], source_id: str, wait: float = WAIT_S) -> dict[tuple[str, int], str]:
    """Send liblsl's discovery query for ``source_id`` to every ``(address, port)``; the XML answers by target."""
    v4 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    v4.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
    v6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    answers: dict[tuple[str, int], str] = {}
    with v4, v6:
        v4.bind(("0.0.0.0", 0))
        v6.bind(("::", 0))
        for k, (host, port) in enumerate(targets):
            sock = v6 if ":" in host else v4
            query = f"LSL:shortinfo\r\nsource_id='{source_id}'\r\n{sock.getsockname()[1]} q{k}\r\n"
            try:
                sock.sendto(query.encode(), (host, port))
            except OSError:  # an address this machine cannot send to at all cannot reach the outlet either
                pass
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and len(answers) < len(targets):
            for sock in (v4, v6):
                sock.settimeout(0.02)
                try:
                    data = sock.recv(65536).decode(errors="replace")
                except (TimeoutError, OSError):
                    continue
                qid, _, xml = data.partition("\r\n")
                answers[targets[int(qid[1:])]] = xml
    return answers


@pytest.fixture(scope="module")
def outlet(tmp_path_factory):
    """A child publishing one EEG stream under the shipped configuration; its ports and its discovery answer."""
    v4, broadcast, v6 = _network_addresses()
    if not v4 and not v6:
        pytest.skip("this machine has no non-loopback network address to ask through")
    env = private_lsl_env(tmp_path_factory.mktemp("lsl_exposure"))
    cfg = configparser.ConfigParser(strict=False, inline_comment_prefixes=(";",))
    cfg.read(env["LSLAPICFG"])
    ports = cfg["ports"]
    mport, base, n = int(ports["MulticastPort"]), int(ports["BasePort"]), int(ports["PortRange"])
    source_id = f"exposure-{uuid.uuid4().hex}"
    child = start_player(120, f"exposure-EEG:EEG:float32:{source_id}", env=env)
    try:
        deadline, xml = time.monotonic() + 30, None
        while xml is None and time.monotonic() < deadline and child.poll() is None:
            xml = _ask([("127.0.0.1", mport)], source_id).get(("127.0.0.1", mport))
        if xml is None:
            pytest.fail(f"the outlet never answered on loopback: {child.stderr.read().decode()[-500:]}")
        yield dict(source_id=source_id, info=ET.fromstring(xml), mport=mport, ports=range(base, base + n),
                   v4=v4, broadcast=broadcast, v6=v6)
    finally:
        stop(child)


def test_the_outlet_answers_no_discovery_query_from_the_network(outlet):
    """Before the fix the discovery responder listened on every interface (a broadcast from any machine on the
    subnet found the stream) and each IPv6 port answered; the shipped configuration closes both."""
    assert "ListenAddress = 127.0.0.1" in LSL_CONFIG.read_text() and "IPv6 = disable" in LSL_CONFIG.read_text()
    assert outlet["info"].findtext("source_id") == outlet["source_id"]
    mport = outlet["mport"]
    targets = ([(a, mport) for a in outlet["v4"] + outlet["broadcast"]]
               + [(a, p) for a in outlet["v6"] for p in (mport, *outlet["ports"])])
    answers = _ask([("127.0.0.1", mport), *targets], outlet["source_id"])
    assert ("127.0.0.1", mport) in answers  # the probe works: asked through loopback, the outlet answers
    through_network = sorted(set(answers) - {("127.0.0.1", mport)})
    assert not through_network, f"answered through the network: {through_network}"


def test_what_liblsl_cannot_restrict_is_measured_and_flagged(outlet, monkeypatch):
    """liblsl 1.17 binds each outlet's service and data ports to every interface, whatever the configuration:
    asked at the network address, the service port answers and the data port streams samples."""
    if not outlet["v4"]:
        pytest.skip("this machine has no non-loopback IPv4 address")
    lan, info = outlet["v4"][0], outlet["info"]
    service, data_port = int(info.findtext("v4service_port")), int(info.findtext("v4data_port"))
    assert service in outlet["ports"] and (lan, service) in _ask([(lan, service)], outlet["source_id"])
    with socket.create_connection((lan, data_port), timeout=5) as feed:
        feed.sendall(f"LSL:streamfeed/110 {info.findtext('uid')}\r\nMax-Buffer-Length: 100\r\n\r\n".encode())
        received, deadline = b"", time.monotonic() + 10
        while b"\r\n\r\n" not in received or len(received.partition(b"\r\n\r\n")[2]) < 200:
            assert time.monotonic() < deadline, received[:200]
            received += feed.recv(4096)
    assert received.startswith(b"LSL/110 200 OK")  # then two test-pattern samples and the stream's samples
    monkeypatch.setenv("LSLAPICFG", str(LSL_CONFIG))  # the shipped one (under pytest -n, conftest adds a session id)
    exposure = lsl_exposure()
    assert exposure.shipped and "every network interface" in exposure.detail
    assert "network" in exposure.label


def test_exposure_names_the_configuration_in_effect(monkeypatch, tmp_path):
    own = tmp_path / "lab.cfg"
    own.write_text("[multicast]\nResolveScope = site\n")
    monkeypatch.setenv("LSLAPICFG", str(own))
    mine = lsl_exposure()
    assert not mine.shipped and f"LSLAPICFG={own}" in mine.detail and "other machines" in mine.detail
    monkeypatch.setenv("LSLAPICFG", str(tmp_path / "typo.cfg"))  # liblsl then falls back to its defaults
    assert "not a readable file" in lsl_exposure().detail
    monkeypatch.delenv("LSLAPICFG")
    assert "unset" in lsl_exposure().detail and not lsl_exposure().shipped
    monkeypatch.setenv("LSLAPICFG", str(Path(LSL_CONFIG).parent / ".." / LSL_CONFIG.parent.name / LSL_CONFIG.name))
    assert lsl_exposure().shipped  # the same file through another path
