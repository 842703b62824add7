#!/usr/bin/env python3
"""Compares the TTFT sheepdog recorded for each request of a bench with the TTFT seen on the wire.

    scripts/ttft-check.py CAPTURE.pcap SERVER_PORT REQUESTS.csv [MOCK_TTFT_MS]

CAPTURE.pcap: `tcpdump -w` of the bench's traffic with the mock on loopback (Ethernet or Linux
cooked frames, IPv4, TCP; microsecond or nanosecond timestamps). SERVER_PORT: the mock's port.
REQUESTS.csv: the bench's `requests.csv`. Standard library only.

Each TCP connection (one client port) is put back together in both directions. Client to
server: the HTTP/1.1 POSTs, one after the other (keep-alive); a synthetic prompt's text starts
with the request's serial number (`"content":"0042 ...`, the bench's `synthetic-42`). Server to
client: the answers in the same order, chunked or not; the first SSE event with a non-empty
`delta.content` (or `text`) is the first token (the role-only chunk before it carries none).

Wire TTFT = time of the packet that completes the first token's event - time of the packet
that carries the first byte of the POST. It is joined on the serial number with the row's
`ttft_ms`; rows with more than one attempt, failed rows and serials sent twice are left out.

The gap (sheepdog - wire) is split in two with the clocks lined up on the fastest send: `send`
is how much later than the earliest-looking request the POST left after the attempt was noted
(`sent_ms`), `receive` is the rest: from the token's packet to sheepdog's stamp.
"""

import bisect
import csv
import json
import math
import re
import struct
import sys

SERIAL = re.compile(rb'"(?:content|prompt|input)":\s*"(\d{4,}) ')


def packets(path):
    """Yields (time in s, src port, dst port, seq, flags, payload) of each TCP/IPv4 packet."""
    with open(path, "rb") as f:
        head = f.read(24)
        if len(head) < 24:
            sys.exit(f"{path}: not a pcap file (too short)")
        magic = head[:4]
        formats = {
            b"\xd4\xc3\xb2\xa1": ("<", 1e-6),
            b"\xa1\xb2\xc3\xd4": (">", 1e-6),
            b"\x4d\x3c\xb2\xa1": ("<", 1e-9),
            b"\xa1\xb2\x3c\x4d": (">", 1e-9),
        }
        if magic not in formats:
            sys.exit(f"{path}: not a pcap file (magic {magic.hex()}; pcapng is not read)")
        endian, unit = formats[magic]
        linktype = struct.unpack(endian + "I", head[20:24])[0] & 0x0FFFFFFF
        link_len = {1: 14, 113: 16}.get(linktype)
        if link_len is None:
            sys.exit(f"{path}: link type {linktype} is not read (Ethernet or Linux cooked only)")
        record = struct.Struct(endian + "IIII")
        while True:
            rh = f.read(16)
            if len(rh) < 16:
                return
            sec, frac, incl, _orig = record.unpack(rh)
            frame = f.read(incl)
            if len(frame) < incl:
                return
            ethertype = frame[link_len - 2 : link_len]
            if ethertype != b"\x08\x00":
                continue
            ip = link_len
            ihl = (frame[ip] & 0x0F) * 4
            total = struct.unpack_from("!H", frame, ip + 2)[0]
            if frame[ip + 9] != 6:
                continue
            tcp = ip + ihl
            sport, dport, seq = struct.unpack_from("!HHI", frame, tcp)
            offset = (frame[tcp + 12] >> 4) * 4
            flags = frame[tcp + 13]
            payload = frame[tcp + offset : ip + total]
            yield sec + frac * unit, sport, dport, seq, flags, payload


class Direction:
    """One direction of a connection: its bytes in order and when each packet's bytes came."""

    def __init__(self):
        self.base = None
        self.buf = bytearray()
        self.starts = []  # stream offset where each packet's new bytes start
        self.times = []
        self.pending = {}
        self.gap = False

    def add(self, time, seq, flags, payload):
        if flags & 0x02:  # SYN: the data starts one past it
            self.base = (seq + 1) & 0xFFFFFFFF
            return
        if not payload:
            return
        if self.base is None:  # the SYN was not captured
            self.base = seq
        off = (seq - self.base) & 0xFFFFFFFF
        if off > len(self.buf):
            self.pending.setdefault(off, (time, payload))
            return
        self._append(time, off, payload)
        while self.pending:  # segments that came early, now reached
            first = min(self.pending)
            if first > len(self.buf):
                break
            t, p = self.pending.pop(first)
            self._append(t, first, p)

    def _append(self, time, off, payload):
        new = payload[len(self.buf) - off :]
        if not new:  # a retransmission: the first copy's time counts
            return
        self.starts.append(len(self.buf))
        self.times.append(time)
        self.buf += new

    def time_at(self, offset):
        """When the packet carrying the byte at `offset` was seen."""
        return self.times[bisect.bisect_right(self.starts, offset) - 1]

    def finish(self):
        self.gap = bool(self.pending)


def headers_end(buf, pos):
    end = buf.find(b"\r\n\r\n", pos)
    if end < 0:
        return None, None
    lines = bytes(buf[pos:end]).split(b"\r\n")
    fields = {}
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        fields[name.strip().lower()] = value.strip().lower()
    return end + 4, fields


def requests(d):
    """(serial or None, time of the POST's first packet) of each request on the connection."""
    out, pos, buf = [], 0, d.buf
    while pos < len(buf):
        if not buf.startswith(b"POST ", pos):
            break
        body, fields = headers_end(buf, pos)
        if body is None:
            break
        length = int(fields.get(b"content-length", b"0"))
        if body + length > len(buf):
            break
        m = SERIAL.search(buf, body, body + length)
        out.append((int(m.group(1)) if m else None, d.time_at(pos)))
        pos = body + length
    return out


def is_token(data):
    try:
        chunk = json.loads(data)
    except ValueError:
        return False
    for choice in chunk.get("choices") or []:
        delta = choice.get("delta") or {}
        if delta.get("content") or choice.get("text"):
            return True
    return chunk.get("type") == "response.output_text.delta" and bool(chunk.get("delta"))


def first_token(body, raw):
    """Raw offset of the last byte of the first token event; `raw(i)` maps body offsets."""
    pos = 0
    while True:
        end = body.find(b"\n\n", pos)
        if end < 0:
            return None
        for line in bytes(body[pos:end]).split(b"\n"):
            if line.startswith(b"data:"):
                data = line[5:].strip()
                if data != b"[DONE]" and is_token(data):
                    return raw(end + 1)
        pos = end + 2


def responses(d):
    """Time of the first token's packet (or None) of each answer on the connection."""
    out, pos, buf = [], 0, d.buf
    while pos < len(buf) and buf.startswith(b"HTTP/1.", pos):
        start, fields = headers_end(buf, pos)
        if start is None:
            break
        body, pieces = bytearray(), []  # pieces: (body offset, raw offset)
        if fields.get(b"transfer-encoding", b"").endswith(b"chunked"):
            at, complete = start, False
            while True:
                eol = buf.find(b"\r\n", at)
                if eol < 0:
                    break
                size = int(bytes(buf[at:eol]).split(b";")[0], 16)
                if size == 0:
                    trailer = buf.find(b"\r\n\r\n", eol)
                    at, complete = (trailer + 4 if trailer >= 0 else len(buf)), trailer >= 0
                    break
                pieces.append((len(body), eol + 2))
                body += buf[eol + 2 : eol + 2 + size]
                at = eol + 2 + size + 2
            end = at
        else:
            length = int(fields.get(b"content-length", b"0"))
            pieces.append((0, start))
            body += buf[start : start + length]
            end, complete = start + length, start + length <= len(buf)

        def raw(i):
            k = bisect.bisect_right([p[0] for p in pieces], i) - 1
            return pieces[k][1] + i - pieces[k][0]

        token = first_token(body, raw) if pieces else None
        out.append(d.time_at(token) if token is not None else None)
        if not complete:
            break
        pos = end
    return out


def pct(values, q):
    s = sorted(values)
    return s[max(0, math.ceil(q * len(s)) - 1)]


def line(name, values, in_ms=False):
    """p50, p90, p99 and max of `values` (seconds, or ms with `in_ms`), in ms."""
    v = values if in_ms else [x * 1e3 for x in values]
    return f"  {name:<34} p50 {pct(v, .5):8.3f}  p90 {pct(v, .9):8.3f}  p99 {pct(v, .99):8.3f}  max {max(v):8.3f} ms"


def main():
    if len(sys.argv) not in (4, 5):
        sys.exit(__doc__.strip().split("\n\n")[1])
    path, port, rows_path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    mock_ttft = float(sys.argv[4]) if len(sys.argv) == 5 else 200.0

    conns, current = [], {}  # client port -> (to server, to client)
    count = 0
    for time, sport, dport, seq, flags, payload in packets(path):
        count += 1
        client, up = (sport, True) if dport == port else (dport, False)
        if sport != port and dport != port:
            continue
        if up and flags & 0x02 and client in current and current[client][0].buf:
            del current[client]  # the port was used again for a new connection
        if client not in current:
            current[client] = (Direction(), Direction())
            conns.append(current[client])
        (current[client][0] if up else current[client][1]).add(time, seq, flags, payload)

    wire, seen, unpaired, gaps = {}, {}, 0, 0
    for up, down in conns:
        up.finish()
        down.finish()
        gaps += up.gap or down.gap
        for (serial, posted), token in zip(requests(up), responses(down)):
            if serial is None or token is None:
                unpaired += 1
                continue
            seen[serial] = seen.get(serial, 0) + 1
            wire[serial] = (posted, token)

    matched, skipped = [], 0
    with open(rows_path, newline="") as f:
        for row in csv.DictReader(f):
            m = re.fullmatch(r"synthetic-(\d+)", row["id"])
            if not m or not row["ttft_ms"] or row["attempts"] != "1":
                skipped += 1
                continue
            serial = int(m.group(1))
            if serial not in wire or seen[serial] != 1:
                skipped += 1
                continue
            posted, token = wire[serial]
            matched.append((row["warmup"] == "true", float(row["sent_ms"]) / 1e3, float(row["ttft_ms"]) / 1e3, posted, token))

    print(f"packets: {count}; connections: {len(conns)} ({gaps} with missing bytes); "
          f"answers on the wire with a serial and a first token: {len(wire)} ({unpaired} without)")
    if not matched:
        sys.exit("no request of requests.csv was found on the wire")
    # Lines the two clocks up on the request whose POST left soonest after it was noted.
    offset = min(posted - sent for _, sent, _, posted, _ in matched)
    for label, rows in (("measured (warm-up excluded)", [r for r in matched if not r[0]]),
                        ("warm-up (new connections)", [r for r in matched if r[0]])):
        if not rows:
            continue
        gap = [ttft - (token - posted) for _, _, ttft, posted, token in rows]
        send = [posted - sent - offset for _, sent, _, posted, _ in rows]
        receive = [g - s for g, s in zip(gap, send)]
        wire_ttft = [token - posted for _, _, _, posted, token in rows]
        within = sum(abs(g) <= 1e-3 for g in gap) / len(gap)
        off_mock = [abs(w * 1e3 - mock_ttft) for w in wire_ttft]
        print(f"\n{label}: {len(rows)} requests matched ({skipped} rows of requests.csv not matched in all)")
        print(line("sheepdog TTFT - wire TTFT", gap))
        print(f"  {'':<34} within 1 ms: {within:.1%}; negative: {sum(g < 0 for g in gap)}")
        print(line("  of which send (POST left late)", send))
        print(line("  of which receive (stamp late)", receive))
        print(line("sheepdog TTFT", [r[2] for r in rows]))
        print(line(f"wire TTFT (mock: {mock_ttft:g} ms)", wire_ttft))
        print(line("|wire TTFT - mock TTFT|", off_mock, in_ms=True))
        print(f"  {'':<34} within 1 ms of the mock: {sum(o <= 1 for o in off_mock) / len(off_mock):.1%}")


if __name__ == "__main__":
    main()
