// TraceFileSystem: the few POSIX file operations the trace writer needs (the library does not use Foundation).

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

enum TraceFileSystem {
    /// `mkdir -p` with the trace permissions (see `FileAccess`): 0700, or 0750 for a group. An existing directory
    /// with looser permissions is tightened; the notice returned says so (the recorder logs it).
    @discardableResult
    static func createDirectory(_ path: String, permissions: FileAccess = .ownerOnly) throws(TraceError) -> String? {
        let notice: String?
        do throws(FileAccessError) {
            notice = try permissions.createDirectory(path)
        } catch {
            throw TraceError(.directory, error.description)
        }
        guard access(path, W_OK | X_OK) == 0 else {
            throw TraceError(.directory, "directory \(path) is not writable: \(Self.lastError())")
        }
        return notice
    }

    /// The names of the entries of a directory (without `.` and `..`).
    static func entries(_ path: String) throws(TraceError) -> [String] {
        guard let dir = opendir(path) else {
            throw TraceError(.directory, "cannot list directory \(path): \(Self.lastError())")
        }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafePointer(to: &entry.pointee.d_name) {
                String(cString: UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self))
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    static func exists(_ path: String) -> Bool {
        var info = stat()
        return lstat(path, &info) == 0
    }

    /// The size in octets, nil if the file does not exist.
    static func size(_ path: String) -> Int64? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return Int64(info.st_size)
    }

    static func remove(_ path: String) throws(TraceError) {
        if unlink(path) != 0 && errno != ENOENT {
            throw TraceError(.directory, "cannot delete \(path): \(Self.lastError())")
        }
    }

    static func join(_ directory: String, _ name: String) -> String {
        directory.hasSuffix("/") ? directory + name : directory + "/" + name
    }

    static func lastError() -> String {
        String(cString: strerror(errno))
    }
}

/// The names of the recorder's capture files: `sip-YYYYMMDD-HHMMSS-NNNN.pcap`, the time in UTC when the file was
/// opened and a sequence number (mod 10,000), so that names sort by time.
enum TraceFileName {
    static let prefix = "sip-"
    static let suffix = ".pcap"

    static func make(time: TraceTimestamp, sequence: Int) -> String {
        var seconds = time_t(time.seconds)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func pad(_ value: Int32, _ width: Int) -> String {
            let digits = String(value)
            return String(repeating: "0", count: max(0, width - digits.count)) + digits
        }
        let date = pad(parts.tm_year + 1900, 4) + pad(parts.tm_mon + 1, 2) + pad(parts.tm_mday, 2)
        let clock = pad(parts.tm_hour, 2) + pad(parts.tm_min, 2) + pad(parts.tm_sec, 2)
        return Self.prefix + date + "-" + clock + "-" + pad(Int32(sequence % 10_000), 4) + Self.suffix
    }

    /// The sequence number if `name` is one of our file names, else nil.
    static func sequence(of name: String) -> Int? {
        let bytes = Array(name.utf8)
        // "sip-" 8 digits "-" 6 digits "-" 4 digits ".pcap"
        guard bytes.count == 29, name.hasPrefix(Self.prefix), name.hasSuffix(Self.suffix),
            bytes[12] == UInt8(ascii: "-"), bytes[19] == UInt8(ascii: "-")
        else { return nil }
        let digitRanges = [4..<12, 13..<19, 20..<24]
        let isDigit = { (byte: UInt8) in byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }
        for range in digitRanges where !bytes[range].allSatisfy(isDigit) {
            return nil
        }
        return Int(String(decoding: bytes[20..<24], as: UTF8.self))
    }

    /// Our files in the directory, oldest first.
    static func list(_ directory: String) throws(TraceError) -> [String] {
        try TraceFileSystem.entries(directory).filter { Self.sequence(of: $0) != nil }.sorted()
    }
}
