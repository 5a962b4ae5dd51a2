// TraceGroup: the group the trace folder is shared with (`sipctl serve --trace-group`, YAML `trace_group`).

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A Unix group by name and id, resolved once at start-up.
public struct TraceGroup: Sendable, Codable, Equatable {
    public var name: String
    public var id: UInt32

    public init(name: String, id: UInt32) {
        self.name = name
        self.id = id
    }

    /// Looks the group up in the group database (getgrnam_r); nil when there is no such group.
    public static func named(_ name: String) -> TraceGroup? {
        guard !name.isEmpty else { return nil }
        var entry = group()
        var result: UnsafeMutablePointer<group>?
        var size = 16 << 10
        while true {
            var buffer = [CChar](repeating: 0, count: size)
            let rc = getgrnam_r(name, &entry, &buffer, buffer.count, &result)
            // ERANGE: a group with many members does not fit; try a larger buffer (bounded).
            if rc == ERANGE && size < 1 << 20 {
                size *= 4
                continue
            }
            guard rc == 0, result != nil else { return nil }
            return TraceGroup(name: name, id: UInt32(entry.gr_gid))
        }
    }
}
