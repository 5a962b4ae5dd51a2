// MetricsServer: what each path answers while starting, when ready and while shutting down (no socket: the
// routing is tested on an EmbeddedChannel's loop).

import NIOCore
import NIOEmbedded
import NIOHTTP1
import Testing

@testable import SIPProxy

@Suite struct MetricsServerTests {
    func answer(_ server: MetricsServer, _ path: String, method: HTTPMethod = .GET) throws -> (Int, String) {
        let loop = EmbeddedEventLoop()
        let future = server.answer(method, path, on: loop)
        loop.run()
        let (status, _, body) = try future.wait()
        return (Int(status.code), String(decoding: body, as: UTF8.self))
    }

    @Test func healthFollowsTheProxysLife() throws {
        let server = MetricsServer(channel: EmbeddedChannel())
        #expect(try self.answer(server, "/health") == (503, "unavailable\n"))
        #expect(try self.answer(server, "/metrics").0 == 503)
        server.setReady(true)
        #expect(try self.answer(server, "/health") == (200, "ok\n"))
        #expect(try self.answer(server, "/health?verbose=1") == (200, "ok\n"))
        server.setReady(false)
        #expect(try self.answer(server, "/health").0 == 503)
    }

    @Test func otherPathsAndMethods() throws {
        let server = MetricsServer(channel: EmbeddedChannel())
        #expect(try self.answer(server, "/").0 == 404)
        #expect(try self.answer(server, "/metrics", method: .POST).0 == 405)
    }

    @Test func metricsAddressParsing() throws {
        #expect(try MetricsSettings.parseAddress("127.0.0.1:9090", source: "--metrics") == (try SocketAddress(ipAddress: "127.0.0.1", port: 9090)))
        #expect(try MetricsSettings.parseAddress("[::1]:9090", source: "--metrics").port == 9090)
        for bad in ["127.0.0.1", "localhost:9090", "127.0.0.1:70000", ":9090", ""] {
            #expect(throws: ConfigurationError.self) { try MetricsSettings.parseAddress(bad, source: "--metrics") }
        }
    }
}
