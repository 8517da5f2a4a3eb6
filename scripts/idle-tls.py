"""Server RSS per idle MQTT connection, plain and over TLS, shardhub beside Mosquitto in the
same run (scripts/idle-tls.sh starts the servers; not in CI; docs/tls.md).

Opens N connections to one address, each completing its TLS handshake (when asked) and an
MQTT 5.0 CONNECT/CONNACK, holds them all, and prints the server's VmRSS before and after as
JSON. Usage: idle-tls.py HOST PORT PID N [CAFILE]"""

import asyncio
import json
import ssl
import sys
import time


def connect_packet(client_id: bytes) -> bytes:
    # MQTT 5.0 CONNECT: protocol name, level 5, clean start, keep alive 600 s, no properties.
    body = b"\x00\x04MQTT\x05\x02\x02\x58\x00" + len(client_id).to_bytes(2, "big") + client_id
    return b"\x10" + bytes([len(body)]) + body


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


async def one(host, port, ctx, i, held):
    reader, writer = await asyncio.open_connection(host, port, ssl=ctx)
    writer.write(connect_packet(f"idle-{i}".encode()))
    await writer.drain()
    ack = await reader.readexactly(2)
    rest = await reader.readexactly(ack[1])
    if ack[0] != 0x20 or rest[1] != 0:
        raise RuntimeError(f"CONNACK {ack + rest}")
    held.append(writer)


async def main():
    host, port, pid, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    ctx = None
    if len(sys.argv) > 5:
        ctx = ssl.create_default_context(cafile=sys.argv[5])
    before = rss_kib(pid)
    held = []
    started = time.monotonic()
    # At most 200 handshakes in flight: the client, not the server, is the slow side here.
    gate = asyncio.Semaphore(200)

    async def gated(i):
        async with gate:
            await one(host, port, ctx, i, held)

    await asyncio.gather(*(gated(i) for i in range(n)))
    opened = time.monotonic() - started
    await asyncio.sleep(2)
    after = rss_kib(pid)
    print(json.dumps({"connections": len(held), "rss_before_kib": before, "rss_after_kib": after,
                      "kib_per_connection": round((after - before) / len(held), 3),
                      "open_secs": round(opened, 2)}))
    for w in held:
        w.close()


asyncio.run(main())
