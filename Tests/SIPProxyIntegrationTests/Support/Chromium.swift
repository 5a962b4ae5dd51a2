import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Headless Chromium, to see what a browser makes of an HTML page after its script ran (`--dump-dom`) and what
/// it draws (`--screenshot`).
enum Chromium {
    /// `chromium` (Debian) or `chromium-browser`, if installed.
    static var binary: String? { ToolRunner.which("chromium") ?? ToolRunner.which("chromium-browser") }

    /// Runs `chromium --headless ARGS` with a private profile in `directory`. Chromium starts a zygote, a
    /// renderer and more: it runs under timeout(1), which makes itself a process group leader and on expiry
    /// signals the whole group, and whatever still holds the profile afterwards is killed by its pid.
    static func run(_ arguments: [String], in directory: URL, timeout: Int = 60) async throws -> ToolRun {
        guard let chromium = Self.binary else {
            throw TestSupportError("chromium is needed for the HTML ladder tests (scripts/setup.sh installs it)")
        }
        guard let limit = ToolRunner.which("timeout") else { throw TestSupportError("timeout (coreutils) is missing") }
        let profile = directory.appendingPathComponent("chromium-profile").path
        // As root Chromium refuses to start without --no-sandbox; there is no GPU on a CI runner.
        let run = try await ToolRunner.run(
            limit,
            ["-k", "5", String(timeout), chromium, "--headless", "--no-sandbox", "--disable-gpu",
             "--no-first-run", "--user-data-dir=\(profile)"] + arguments,
            in: directory, timeout: TimeInterval(timeout + 15)
        )
        for pid in Self.processes(using: profile) { kill(pid, SIGKILL) }
        return run
    }

    /// Processes whose command line names `profile` (Linux: /proc; elsewhere none are found).
    static func processes(using profile: String) -> [pid_t] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap { entry in
            guard let pid = pid_t(entry), pid != getpid(),
                let data = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline")
            else { return nil }
            return String(decoding: data, as: UTF8.self).contains(profile) ? pid : nil
        }
    }
}

/// An 8-bit RGB or RGBA, non-interlaced PNG (what Chromium's screenshots are), decoded to pixels. Foundation
/// cannot inflate on Linux: python3's zlib does that; the chunks and the row filters are read here.
struct PNGImage {
    let width: Int
    let height: Int
    /// Bytes per pixel: 3 (RGB) or 4 (RGBA).
    let channels: Int
    /// Unfiltered rows, `width * channels` bytes each.
    let pixels: [UInt8]

    func rgb(_ x: Int, _ y: Int) -> (r: UInt8, g: UInt8, b: UInt8) {
        let i = (y * self.width + x) * self.channels
        return (self.pixels[i], self.pixels[i + 1], self.pixels[i + 2])
    }

    /// How many pixels of `xs` × `ys` satisfy `test`.
    func count(x xs: Range<Int>, y ys: Range<Int>, _ test: (UInt8, UInt8, UInt8) -> Bool) -> Int {
        var n = 0
        for y in ys.clamped(to: 0..<self.height) {
            for x in xs.clamped(to: 0..<self.width) {
                let p = self.rgb(x, y)
                if test(p.r, p.g, p.b) { n += 1 }
            }
        }
        return n
    }

    static func read(_ file: URL, scratch: URL) async throws -> PNGImage {
        let bytes = [UInt8](try Data(contentsOf: file))
        guard bytes.starts(with: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) else {
            throw TestSupportError("\(file.path) is not a PNG")
        }
        func be32(_ at: Int) -> Int { bytes[at..<at + 4].reduce(0) { $0 << 8 | Int($1) } }
        var header: (width: Int, height: Int, depth: UInt8, colour: UInt8, interlace: UInt8)?
        var compressed: [UInt8] = []
        var at = 8
        while at + 8 <= bytes.count {
            let length = be32(at)
            let type = String(decoding: bytes[at + 4..<at + 8], as: UTF8.self)
            let body = at + 8
            guard body + length + 4 <= bytes.count else { throw TestSupportError("truncated PNG chunk \(type)") }
            if type == "IHDR" {
                header = (be32(body), be32(body + 4), bytes[body + 8], bytes[body + 9], bytes[body + 12])
            } else if type == "IDAT" {
                compressed += bytes[body..<body + length]
            }
            at = body + length + 4
        }
        guard let header, header.depth == 8, header.colour == 2 || header.colour == 6, header.interlace == 0 else {
            throw TestSupportError("not an 8-bit RGB/RGBA non-interlaced PNG: \(String(describing: header))")
        }
        let channels = header.colour == 6 ? 4 : 3

        let deflated = scratch.appendingPathComponent("png.zlib")
        let inflated = scratch.appendingPathComponent("png.raw")
        try Data(compressed).write(to: deflated)
        guard let python = ToolRunner.which("python3") else { throw TestSupportError("python3 is needed to inflate PNG") }
        let script = "import sys, zlib; open(sys.argv[2], 'wb').write(zlib.decompress(open(sys.argv[1], 'rb').read()))"
        let run = try await ToolRunner.run(python, ["-c", script, deflated.path, inflated.path], in: scratch)
        guard run.succeeded else { throw TestSupportError("python3 could not inflate the PNG\n\(run)") }
        let raw = [UInt8](try Data(contentsOf: inflated))

        // Each row is a filter byte and the filtered row; filters predict from the pixel to the left (a), the
        // one above (b) and the one above-left (c).
        let stride = header.width * channels
        guard raw.count == header.height * (stride + 1) else {
            throw TestSupportError("PNG data is \(raw.count) bytes, not \(header.height) rows of \(stride + 1)")
        }
        var out = [UInt8](repeating: 0, count: header.height * stride)
        for y in 0..<header.height {
            let filter = raw[y * (stride + 1)]
            let row = y * (stride + 1) + 1
            for i in 0..<stride {
                let a = i >= channels ? Int(out[y * stride + i - channels]) : 0
                let b = y > 0 ? Int(out[(y - 1) * stride + i]) : 0
                let c = y > 0 && i >= channels ? Int(out[(y - 1) * stride + i - channels]) : 0
                let predicted: Int
                switch filter {
                case 0: predicted = 0
                case 1: predicted = a
                case 2: predicted = b
                case 3: predicted = (a + b) / 2
                case 4:
                    let p = a + b - c
                    let (pa, pb, pc) = (abs(p - a), abs(p - b), abs(p - c))
                    predicted = pa <= pb && pa <= pc ? a : (pb <= pc ? b : c)
                default: throw TestSupportError("PNG row \(y) has filter \(filter)")
                }
                out[y * stride + i] = UInt8(truncatingIfNeeded: Int(raw[row + i]) + predicted)
            }
        }
        return PNGImage(width: header.width, height: header.height, channels: channels, pixels: out)
    }
}
