// LogWriter: lines leave the caller through a queue and reach the file descriptor in order, in batches; a full
// queue drops lines and says how many.

import Foundation
import Testing

@testable import SIPProxy

#if canImport(Glibc)
import Glibc
#endif

@Suite("Log writer")
struct LogWriterTests {
    /// A pipe whose read end the test drains without blocking.
    final class Pipe {
        let read: Int32
        let write: Int32
        init() {
            var fds: [Int32] = [0, 0]
            _ = pipe(&fds)
            (self.read, self.write) = (fds[0], fds[1])
            _ = fcntl(self.read, F_SETFL, fcntl(self.read, F_GETFL) | O_NONBLOCK)
        }
        deinit {
            close(self.read)
            close(self.write)
        }
        func drain() -> String {
            var out: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 65_536)
            while true {
                let n = buffer.withUnsafeMutableBytes { Glibc.read(self.read, $0.baseAddress, $0.count) }
                if n <= 0 { break }
                out += buffer[0..<n]
            }
            return String(decoding: out, as: UTF8.self)
        }
    }

    @Test("lines from several threads arrive whole and in each thread's order; flush writes what is queued")
    func ordered() async {
        let pipe = Pipe()
        let writer = LogWriter(fileDescriptor: pipe.write)
        await withTaskGroup(of: Void.self) { group in
            for t in 0..<4 {
                group.addTask {
                    for n in 0..<200 { writer.write("thread \(t) line \(n)\n") }
                }
            }
        }
        writer.flush()
        let lines = pipe.drain().split(separator: "\n")
        #expect(lines.count == 800)
        for t in 0..<4 {
            let mine = lines.filter { $0.hasPrefix("thread \(t) ") }.map { Int($0.split(separator: " ").last!)! }
            #expect(mine == Array(0..<200), "thread \(t)'s lines in order, none torn")
        }
        writer.shutdown()
    }

    @Test("the writer thread writes on its own, without a flush")
    func background() async throws {
        let pipe = Pipe()
        let writer = LogWriter(fileDescriptor: pipe.write)
        writer.write("hello\n")
        var got = ""
        for _ in 0..<200 where !got.contains("hello") {
            try await Task.sleep(for: .milliseconds(10))
            got += pipe.drain()
        }
        #expect(got == "hello\n")
        writer.shutdown()
    }

    @Test("past its capacity the queue drops lines and the next batch says how many")
    func bounded() {
        let pipe = Pipe()
        let writer = LogWriter(fileDescriptor: pipe.write, capacity: 100)
        for n in 0..<20 { writer.write("line \(n) of ten octets\n") }
        writer.flush()
        let text = pipe.drain()
        #expect(text.hasPrefix("line 0 of ten octets\nline 1 of ten octets\n"))
        #expect(text.contains("(16 log lines dropped: stderr was not taking them fast enough)"), "\(text)")
        writer.shutdown()
    }
}
