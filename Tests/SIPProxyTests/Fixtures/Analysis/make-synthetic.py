#!/usr/bin/env python3
"""Writes the synthetic Analysis fixtures (deterministic): run from this folder.

tcp-split-coalesced.pcap  Ethernet/IPv4/TCP: an INVITE in three segments (out of order, one retransmitted with an
                          overlap), 100+180 in one segment, ACK+BYE in one segment, a 200 in two segments.
udp-frag-vlan.pcap        Ethernet with 802.1Q tags: an IPv4-fragmented UDP INVITE (fragments out of order), an RTP
                          packet, an IPv6-fragmented 200 OK, an ACK.
"""
import struct

def pcap(path, frames, linktype=1):
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, linktype))
        for ts, data in frames:
            f.write(struct.pack("<IIII", int(ts), int(round((ts - int(ts)) * 1e6)), len(data), len(data)))
            f.write(data)

def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF

def ip4(src, dst, proto, payload, ident=1, frag=0, more=False):
    flags = (0x2000 if more else 0) | (frag // 8)
    h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), ident, flags, 64, proto, 0, bytes(src), bytes(dst))
    return h[:10] + struct.pack("!H", csum(h)) + h[12:] + payload

def ip6(src, dst, nh, payload):
    return struct.pack("!IHBB16s16s", 0x60000000, len(payload), nh, 64, bytes(src), bytes(dst)) + payload

def eth(payload, ethertype=0x0800, vlan=None):
    head = b"\x02\0\0\0\0\x02" + b"\x02\0\0\0\0\x01"
    if vlan is not None:
        head += struct.pack("!HH", 0x8100, vlan)
    return head + struct.pack("!H", ethertype) + payload

def tcp(sport, dport, seq, ack, flags, payload=b""):
    return struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 5 << 4, flags, 65535, 0, 0) + payload

def udp(sport, dport, payload):
    return struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload

def sip(start, headers, body=b""):
    text = start + "\r\n" + "".join(h + "\r\n" for h in headers)
    text += "Content-Length: %d\r\n\r\n" % len(body)
    return text.encode() + body

A, B = [10, 0, 0, 1], [10, 0, 0, 2]
CALL = "Call-ID: split-coalesced-1@10.0.0.1"
FROM = 'From: "Alice" <sip:alice@10.0.0.1>;tag=a1'
TO = "To: <sip:bob@10.0.0.2>"
TOT = TO + ";tag=b1"
SDP_A = b"v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 49170 RTP/AVP 0 101\r\n" \
        b"a=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n"
SDP_B = b"v=0\r\no=- 2 2 IN IP4 10.0.0.2\r\ns=-\r\nc=IN IP4 10.0.0.2\r\nt=0 0\r\nm=audio 3456 RTP/AVP 8\r\n"
via = lambda b: "Via: SIP/2.0/TCP 10.0.0.1:5060;branch=z9hG4bK" + b
invite = sip("INVITE sip:bob@10.0.0.2 SIP/2.0", [via("inv1"), "Max-Forwards: 70", FROM, TO, CALL, "CSeq: 1 INVITE",
             "Contact: <sip:alice@10.0.0.1;transport=tcp>", "Content-Type: application/sdp"], SDP_A)
trying = sip("SIP/2.0 100 Trying", [via("inv1"), FROM, TO, CALL, "CSeq: 1 INVITE"])
ringing = sip("SIP/2.0 180 Ringing", [via("inv1"), FROM, TOT, CALL, "CSeq: 1 INVITE"])
ok = sip("SIP/2.0 200 OK", [via("inv1"), FROM, TOT, CALL, "CSeq: 1 INVITE", "Contact: <sip:bob@10.0.0.2>",
         "Content-Type: application/sdp"], SDP_B)
ack = sip("ACK sip:bob@10.0.0.2 SIP/2.0", [via("ack1"), "Max-Forwards: 70", FROM, TOT, CALL, "CSeq: 1 ACK"])
bye = sip("BYE sip:bob@10.0.0.2 SIP/2.0", [via("bye1"), "Max-Forwards: 70", FROM, TOT, CALL, "CSeq: 2 BYE"])
bye_ok = sip("SIP/2.0 200 OK", [via("bye1"), FROM, TOT, CALL, "CSeq: 2 BYE"])

def seg(ts, src, dst, sport, dport, seq, ack, flags, payload=b""):
    return (ts, eth(ip4(src, dst, 6, tcp(sport, dport, seq, ack, flags, payload))))

sa, sb = 1000, 5000
frames = [seg(1700000000.000, A, B, 40000, 5060, sa, 0, 0x02), seg(1700000000.001, B, A, 5060, 40000, sb, sa + 1, 0x12),
          seg(1700000000.002, A, B, 40000, 5060, sa + 1, sb + 1, 0x10)]
a, b = sa + 1, sb + 1
p1, p2, p3 = invite[:200], invite[200:400], invite[400:]
frames += [seg(1700000000.010, A, B, 40000, 5060, a + 200, b, 0x18, p2),          # out of order
           seg(1700000000.011, A, B, 40000, 5060, a, b, 0x18, p1),                # the hole
           seg(1700000000.012, A, B, 40000, 5060, a + 100, b, 0x18, invite[100:300]),  # overlap retransmission
           seg(1700000000.013, A, B, 40000, 5060, a + 400, b, 0x18, p3)]
a += len(invite)
frames.append(seg(1700000000.020, B, A, 5060, 40000, b, a, 0x18, trying + ringing))  # coalesced
b += len(trying + ringing)
frames += [seg(1700000001.500, B, A, 5060, 40000, b, a, 0x18, ok[:150]),
           seg(1700000001.501, B, A, 5060, 40000, b + 150, a, 0x18, ok[150:])]
b += len(ok)
frames.append(seg(1700000001.510, A, B, 40000, 5060, a, b, 0x18, ack + bye))          # coalesced
a += len(ack + bye)
frames.append(seg(1700000001.520, B, A, 5060, 40000, b, a, 0x18, bye_ok))
frames.append(seg(1700000001.520, B, A, 5060, 40000, b, a, 0x18, bye_ok))              # exact retransmission
pcap("tcp-split-coalesced.pcap", frames)

# UDP with VLAN tags and IPv4/IPv6 fragments.
C6 = [0x20, 0x01, 0x0d, 0xb8] + [0] * 11 + [1]
D6 = [0x20, 0x01, 0x0d, 0xb8] + [0] * 11 + [2]
CALL2 = "Call-ID: frag-vlan-1@192.0.2.10"
FROM2 = "From: <sip:carol@192.0.2.10>;tag=c1"
TO2 = "To: <sip:dave@192.0.2.20>"
TOT2 = TO2 + ";tag=d1"
big_sdp = b"v=0\r\no=- 3 3 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\n" \
          b"m=audio 20000 RTP/AVP 8 0 101\r\na=rtpmap:101 telephone-event/8000\r\n" + \
          b"".join(b"a=x-filler-%03d:%s\r\n" % (i, b"f" * 40) for i in range(60))
uvia = "Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKfrag1"
invite2 = sip("INVITE sip:dave@192.0.2.20 SIP/2.0", [uvia, "Max-Forwards: 70", FROM2, TO2, CALL2, "CSeq: 7 INVITE",
              "Content-Type: application/sdp"], big_sdp)
X, Y = [192, 0, 2, 10], [192, 0, 2, 20]
dgram = udp(5060, 5060, invite2)
pieces = [dgram[0:1480], dgram[1480:2960], dgram[2960:]]
offs = [0, 1480, 2960]
fr = []
for i in (2, 0, 1):                                                    # out of order
    fr.append(eth(ip4(X, Y, 17, pieces[i], ident=77, frag=offs[i], more=(i < 2)), vlan=100))
frames = [(1700000100.000 + 0.001 * k, f) for k, f in enumerate(fr)]
rtp = udp(20000, 30000, b"\x80\x08" + b"\0" * 170)
frames.append((1700000100.010, eth(ip4(X, Y, 17, rtp, ident=78), vlan=100)))
ok2 = sip("SIP/2.0 200 OK", [uvia, FROM2, TOT2, CALL2, "CSeq: 7 INVITE", "Content-Type: application/sdp"],
          b"v=0\r\no=- 4 4 IN IP6 2001:db8::2\r\ns=-\r\nc=IN IP6 2001:db8::2\r\nt=0 0\r\nm=audio 30000 RTP/AVP 8\r\n"
          + b"a=sendrecv\r\n" + b"a=x-pad:" + b"p" * 1400 + b"\r\n")
d6 = udp(5060, 5060, ok2)
half = 1232
frag_hdr = lambda off, more: struct.pack("!BBHI", 17, 0, off | (1 if more else 0), 0x1234)
frames.append((1700000100.500, eth(ip6(D6, C6, 44, frag_hdr(0, True) + d6[:half]), 0x86DD, vlan=200)))
frames.append((1700000100.501, eth(ip6(D6, C6, 44, frag_hdr(half, False) + d6[half:]), 0x86DD, vlan=200)))
ack2 = sip("ACK sip:dave@192.0.2.20 SIP/2.0", ["Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKack2",
           "Max-Forwards: 70", FROM2, TOT2, CALL2, "CSeq: 7 ACK"])
frames.append((1700000100.600, eth(ip4(X, Y, 17, udp(5060, 5060, ack2), ident=79), vlan=100)))
pcap("udp-frag-vlan.pcap", frames)
