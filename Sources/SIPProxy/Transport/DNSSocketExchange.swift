// DNSSocketExchange: the resolver's queries on real sockets (NIOPosix stays in Transport/). Each UDP query gets a
// socket of its own on an OS-chosen port (Linux randomizes ephemeral ports: RFC 5452 §9.2 source port
// randomization), closed when the answer or the timeout comes; TCP connects, sends the length-prefixed query and
// reads one length-prefixed answer (RFC 1035 §4.2.2).

import NIOCore
import NIOPosix

/// DNS over NIO sockets.
struct DNSSocketExchange: DNSExchange {
    func udp(
        _ query: [UInt8], to server: SocketAddress, timeout: TimeAmount, on loop: EventLoop,
        accept: @escaping @Sendable ([UInt8]) -> Bool
    ) -> EventLoopFuture<[UInt8]> {
        let state = QueryState(promise: loop.makePromise(), loop: loop)
        let wildcard = server.protocol == .inet6 ? "::" : "0.0.0.0"
        DatagramBootstrap(group: loop)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        DNSDatagramHandler(server: server, accept: accept, state: state)
                    )
                }
            }
            .bind(host: wildcard, port: 0)
            .whenComplete { result in
                switch result {
                case .failure(let error):
                    state.finish(.failure(DNSError(.transport, "\(error)")))
                case .success(let channel):
                    state.channel = channel
                    state.arm(timeout, server)
                    let envelope = AddressedEnvelope(remoteAddress: server, data: ByteBuffer(bytes: query))
                    channel.writeAndFlush(envelope).whenFailure { error in
                        state.finish(.failure(DNSError(.transport, "\(error)")))
                    }
                }
            }
        return state.promise.futureResult
    }

    func tcp(_ query: [UInt8], to server: SocketAddress, timeout: TimeAmount, on loop: EventLoop) -> EventLoopFuture<[UInt8]> {
        let state = QueryState(promise: loop.makePromise(), loop: loop)
        state.arm(timeout, server)
        ClientBootstrap(group: loop)
            .connectTimeout(timeout)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(DNSStreamHandler(state: state))
                }
            }
            .connect(to: server)
            .whenComplete { result in
                switch result {
                case .failure(let error):
                    state.finish(.failure(DNSError(.transport, "\(error)")))
                case .success(let channel):
                    state.channel = channel
                    var buffer = ByteBuffer()
                    buffer.writeInteger(UInt16(truncatingIfNeeded: query.count))
                    buffer.writeBytes(query)
                    channel.writeAndFlush(buffer).whenFailure { error in
                        state.finish(.failure(DNSError(.transport, "\(error)")))
                    }
                }
            }
        return state.promise.futureResult
    }
}

/// One query's promise, timer and socket; completed once. `@unchecked Sendable`: touched on `loop` only.
private final class QueryState: @unchecked Sendable {
    let promise: EventLoopPromise<[UInt8]>
    let loop: EventLoop
    var channel: Channel?
    private var timer: Scheduled<Void>?
    private var done = false

    init(promise: EventLoopPromise<[UInt8]>, loop: EventLoop) {
        self.promise = promise
        self.loop = loop
    }

    func arm(_ timeout: TimeAmount, _ server: SocketAddress) {
        self.timer = self.loop.scheduleTask(in: timeout) {
            self.finish(.failure(DNSError(.timeout, "no answer from \(server.hostPort)")))
        }
    }

    func finish(_ result: Result<[UInt8], DNSError>) {
        guard !self.done else { return }
        self.done = true
        self.timer?.cancel()
        self.channel?.close(promise: nil)
        self.promise.completeWith(result.mapError { $0 as Error })
    }
}

/// Takes the first datagram from the server that is an answer to the query.
private final class DNSDatagramHandler: ChannelInboundHandler {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>

    let server: SocketAddress
    let accept: @Sendable ([UInt8]) -> Bool
    let state: QueryState

    init(server: SocketAddress, accept: @escaping @Sendable ([UInt8]) -> Bool, state: QueryState) {
        self.server = server
        self.accept = accept
        self.state = state
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let envelope = Self.unwrapInboundIn(data)
        // RFC 5452 §4.3: an answer comes from the address and port the query went to, with its id and question;
        // anything else is ignored (a forgery, or a late answer to an earlier query), and the wait goes on.
        guard envelope.remoteAddress == self.server else { return }
        let bytes = Array(envelope.data.readableBytesView)
        if self.accept(bytes) { self.state.finish(.success(bytes)) }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        // ICMP unreachable: this server will not answer; the next attempt may go elsewhere.
        self.state.finish(.failure(DNSError(.transport, "\(error)")))
    }
}

/// Reads one length-prefixed message from a TCP stream (RFC 1035 §4.2.2).
private final class DNSStreamHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    let state: QueryState
    private var buffer = ByteBuffer()

    init(state: QueryState) { self.state = state }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var incoming = Self.unwrapInboundIn(data)
        self.buffer.writeBuffer(&incoming)
        guard let length = self.buffer.getInteger(at: self.buffer.readerIndex, as: UInt16.self),
            self.buffer.readableBytes >= 2 + Int(length),
            let bytes = self.buffer.getBytes(at: self.buffer.readerIndex + 2, length: Int(length))
        else { return }
        self.state.finish(.success(bytes))
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.state.finish(.failure(DNSError(.transport, "connection closed before the answer")))
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        self.state.finish(.failure(DNSError(.transport, "\(error)")))
    }
}
