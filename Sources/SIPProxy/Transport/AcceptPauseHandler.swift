// AcceptPauseHandler: stop accepting for a moment when the process is out of descriptors (EMFILE, ENFILE) or
// memory, instead of retrying accept() in a tight loop.
//
// NIO's AcceptBackoffHandler only holds back the *next* read: swift-nio's server channel clears its pending-read
// flag only after a successful accept, so when the very first accept of a read fails, the read interest stays
// armed and level-triggered epoll wakes the loop at once, again and again (measured: 13,000 failed accept4 calls
// in 2 s, a whole core). Turning autoRead off removes the read interest until the pause is over.

import NIOCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

final class AcceptPauseHandler: ChannelInboundHandler {
    typealias InboundIn = Channel
    typealias InboundOut = Channel

    private let pause: TimeAmount
    private let onPause: (IOError) -> Void
    private var paused = false

    init(pause: TimeAmount = .seconds(1), onPause: @escaping (IOError) -> Void) {
        self.pause = pause
        self.onPause = onPause
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        guard let io = error as? IOError, [EMFILE, ENFILE, ENOBUFS, ENOMEM].contains(io.errnoCode) else {
            context.fireErrorCaught(error)
            return
        }
        guard !self.paused, let options = context.channel.syncOptions else { return }
        self.paused = true
        self.onPause(io)
        try? options.setOption(.autoRead, value: false)
        context.eventLoop.assumeIsolated().scheduleTask(in: self.pause) {
            self.paused = false
            try? context.channel.syncOptions?.setOption(.autoRead, value: true)
        }
    }
}
