// SIPSerializer: SIPMessage -> bytes (RFC 3261 §7).
//
// Header lines are written as `Name: value` in their stored order. Content-Length is always written and always
// matches the body: it is mandatory on streams (§18.3, §20.14) and harmless on datagrams.

import NIOCore

extension SIPMessage {
    /// The wire form of the message.
    public func serialize() -> ByteBuffer {
        var buffer = ByteBufferAllocator().buffer(capacity: 1024)
        self.write(into: &buffer)
        return buffer
    }

    public func write(into buffer: inout ByteBuffer) {
        switch self {
        case .request(let r):
            buffer.writeString(r.method.rawValue)
            buffer.writeStaticString(" ")
            buffer.writeString(r.uri.serialized)
            buffer.writeStaticString(" SIP/2.0\r\n")
            SIPMessage.writeHeaders(r.headers, body: r.body, into: &buffer)
        case .response(let r):
            buffer.writeStaticString("SIP/2.0 ")
            buffer.writeString(String(r.statusCode))
            buffer.writeStaticString(" ")
            buffer.writeString(r.reason)
            buffer.writeStaticString("\r\n")
            SIPMessage.writeHeaders(r.headers, body: r.body, into: &buffer)
        }
    }

    /// Bytes as an array, for tests and the trace tap.
    public var bytes: [UInt8] {
        var buffer = self.serialize()
        return buffer.readBytes(length: buffer.readableBytes) ?? []
    }

    private static func writeHeaders(_ headers: SIPHeaders, body: [UInt8], into buffer: inout ByteBuffer) {
        var wroteLength = false
        for field in headers.fields {
            if field.key == "content-length" {
                if wroteLength { continue }
                wroteLength = true
                buffer.writeString(field.name)
                buffer.writeStaticString(": ")
                buffer.writeString(String(body.count))
                buffer.writeStaticString("\r\n")
                continue
            }
            buffer.writeString(field.name)
            buffer.writeStaticString(": ")
            buffer.writeString(field.value)
            buffer.writeStaticString("\r\n")
        }
        if !wroteLength {
            buffer.writeStaticString("Content-Length: ")
            buffer.writeString(String(body.count))
            buffer.writeStaticString("\r\n")
        }
        buffer.writeStaticString("\r\n")
        buffer.writeBytes(body)
    }
}
