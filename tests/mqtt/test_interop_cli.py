"""Interop with the mosquitto command-line clients (a second, independent MQTT implementation):
mosquitto_pub -> mosquitto_sub (-C n -W timeout), MQTT 5 and 3.1.1 via -V, live and through a
persistent session, retained messages and MQTT 5 properties, and paho <-> CLI both ways."""

import shutil
import subprocess
import threading
import time

import pytest

import expect

VERSIONS = [pytest.param("mqttv5", id="v5"), pytest.param("mqttv311", id="v311")]
pytestmark = pytest.mark.skipif(not shutil.which("mosquitto_sub"),
                                reason="mosquitto-clients not installed")


def _base(broker, version, *more):
    return ["-h", broker.host, "-p", str(broker.port), "-V", version, *more]


def pub(broker, version, topic, message, *more, check=True):
    r = subprocess.run(["mosquitto_pub", *_base(broker, version), "-t", topic, "-m", message,
                        *more], capture_output=True, text=True, timeout=15)
    if check:
        assert r.returncode == 0, f"mosquitto_pub failed ({r.returncode}): {r.stderr}"
    return r


def sub(broker, version, topic, *more, timeout=15):
    r = subprocess.run(["mosquitto_sub", *_base(broker, version), "-t", topic, *more],
                       capture_output=True, text=True, timeout=timeout)
    return r


class LiveSub:
    """mosquitto_sub -d -C n -W t in the background; ready() once its SUBACK arrived."""

    def __init__(self, broker, version, topic, count, *more, wait_s=10):
        # Line-buffered, so the SUBACK debug line shows while it runs (a pipe is buffered).
        line_buffered = ["stdbuf", "-oL"] if shutil.which("stdbuf") else []
        self.p = subprocess.Popen([*line_buffered, "mosquitto_sub", *_base(broker, version), "-d", "-t", topic,
                                   "-C", str(count), "-W", str(wait_s), *more],
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines: list[str] = []
        self.subscribed = threading.Event()
        self.t = threading.Thread(target=self._read, daemon=True)
        self.t.start()

    def _read(self):
        for line in self.p.stdout:
            line = line.rstrip("\n")
            self.lines.append(line)
            if "received SUBACK" in line:
                self.subscribed.set()

    def ready(self, timeout=5):
        assert self.subscribed.wait(timeout), f"mosquitto_sub never subscribed: {self.lines}"

    def finish(self, timeout=15) -> tuple[int, list[str]]:
        rc = self.p.wait(timeout)
        self.t.join(2)
        payloads = [l for l in self.lines
                    if not l.startswith("Client ") and not l.startswith("Subscribed")]
        return rc, payloads


@pytest.mark.parametrize("version", VERSIONS)
def test_pub_to_sub_live(broker, uid, version):
    topic = uid("t")
    s = LiveSub(broker, version, topic, 3, "-q", "1")
    s.ready()
    for i, q in enumerate(("0", "1", "2")):
        pub(broker, version, topic, f"live-{i}", "-q", q)
    rc, payloads = s.finish()
    assert rc == 0, s.lines
    assert payloads == ["live-0", "live-1", "live-2"], s.lines


@pytest.mark.parametrize("version", VERSIONS)
def test_persistent_session_queues_for_the_cli(broker, uid, version):
    topic, cid = uid("t"), uid("cli")
    session = ["-c", "-i", cid, "-q", "1"] + (["-x", "300"] if version == "mqttv5" else [])
    r = sub(broker, version, topic, *session, "-E")   # subscribe, then leave
    assert r.returncode == 0, r.stderr
    for i in range(3):
        pub(broker, version, topic, f"queued-{i}", "-q", "1")
    r = sub(broker, version, topic, *session, "-C", "3", "-W", "5")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["queued-0", "queued-1", "queued-2"]


@pytest.mark.parametrize("version", VERSIONS)
def test_retained_via_cli(broker, uid, version):
    topic = uid("t")
    pub(broker, version, topic, "sticky", "-r", "-q", "1")
    r = sub(broker, version, topic, "-C", "1", "-W", "5", "-v")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == f"{topic} sticky"
    pub(broker, version, topic, "", "-r", "-q", "1")   # an empty payload clears it
    r = sub(broker, version, topic, "-C", "1", "-W", "1")
    assert r.returncode == 27 and r.stdout == "", (r.returncode, r.stdout)   # 27: timed out


def test_v5_properties_via_cli(broker, uid):
    topic = uid("t")
    pub(broker, "mqttv5", topic, "with props", "-r", "-q", "1",
        "-D", "publish", "user-property", "k", "v",
        "-D", "publish", "content-type", "text/plain",
        "-D", "publish", "response-topic", "replies/x",
        "-D", "publish", "correlation-data", "c0rr")
    r = sub(broker, "mqttv5", topic, "-q", "1", "-C", "1", "-W", "5",
            "-F", "%t|%q|%r|%C|%P|%R|%D|%p")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == f"{topic}|1|1|text/plain|k:v|replies/x|c0rr|with props"


@pytest.mark.parametrize("version", VERSIONS)
def test_paho_and_cli_interoperate(broker, mqtt, uid, version):
    topic = uid("t")
    paho_version = 5 if version == "mqttv5" else 4
    p = mqtt(uid("paho"), version=paho_version)
    p.subscribe(f"{topic}/to-paho", qos=1)
    s = LiveSub(broker, version, f"{topic}/to-cli", 1, "-q", "1")
    s.ready()
    pub(broker, version, f"{topic}/to-paho", "from cli", "-q", "1")
    assert p.recv().payload == b"from cli"
    p.publish(f"{topic}/to-cli", b"from paho", qos=1)
    rc, payloads = s.finish()
    assert rc == 0 and payloads == ["from paho"], s.lines


@pytest.mark.shardhub_only
@pytest.mark.broker_config(mqtt={"auth": "token", "token_secret": expect.TOKEN_SECRET})
@pytest.mark.parametrize("version", VERSIONS)
def test_cli_with_token(broker, uid, version):
    import jwt
    cid = uid("dev")
    tok = jwt.encode({"sub": cid, "exp": int(time.time()) + 600}, expect.TOKEN_SECRET,
                     algorithm="HS256")
    topic = f"devices/{cid}/state"
    ok = pub(broker, version, topic, "on", "-i", cid, "-u", cid, "-P", tok, "-q", "1", "-r")
    assert ok.returncode == 0
    bad = pub(broker, version, topic, "on", "-i", cid, "-u", cid, "-P", "nope", "-q", "1",
              check=False)
    assert bad.returncode != 0
    r = sub(broker, version, topic, "-i", cid, "-u", cid, "-P", tok, "-C", "1", "-W", "5")
    assert r.stdout.strip() == "on", (r.returncode, r.stderr)
