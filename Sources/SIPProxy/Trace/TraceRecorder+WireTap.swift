// TraceRecorder+WireTap: the recorder as the transport edge's observer. The transport hands over bytes and
// addresses; the recorder makes its `TraceEvent` (and parses a message only when its filter needs parsed fields).

import NIOCore

extension TraceRecorder: WireTap {
    public func message(
        _ direction: WireDirection,
        _ bytes: ByteBuffer,
        transport: TransportKind,
        source: SocketAddress,
        destination: SocketAddress,
        connection: ConnectionID?
    ) {
        // Nobody listening (no file, no follower, no active HEP sink): the payload is not even copied.
        guard self.isTapped else { return }
        self.record(
            TraceEvent(
                direction: direction,
                transport: transport,
                source: source,
                destination: destination,
                connection: connection,
                payload: Array(bytes.readableBytesView)
            )
        )
    }

    public func connectionClosed(
        _ direction: WireDirection,
        source: SocketAddress,
        destination: SocketAddress,
        connection: ConnectionID?
    ) {
        guard self.isTapped else { return }
        self.record(.connectionClosed(direction: direction, source: source, destination: destination, connection: connection))
    }
}
