// FileAccess: who may read the proxy's runtime files (SIP traces, the call journal, the forwarding state).

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Permissions of runtime folders and files. Traces and the call journal say who called whom and hold whatever
/// phones sent (digest credentials, addresses, SDP), so they are private by default: folders 0700, files 0600.
/// The trace folder may be shared with one group (`sipctl serve --trace-group`): 0750 and 0640, that group.
///
/// Modes are set with chmod/fchmod after creation, so the process's umask neither loosens nor tightens them,
/// and a file or folder an older version left with looser modes is brought to them.
public struct FileAccess: Sendable, Equatable, Codable {
    public var directoryMode: UInt32
    public var fileMode: UInt32
    /// The group given to created folders and files (chown); nil keeps the process's group.
    public var groupID: UInt32?

    public init(directoryMode: UInt32, fileMode: UInt32, groupID: UInt32? = nil) {
        self.directoryMode = directoryMode
        self.fileMode = fileMode
        self.groupID = groupID
    }

    public static let ownerOnly = FileAccess(directoryMode: 0o700, fileMode: 0o600)

    /// Readable (not writable) by the members of one group.
    public static func readableByGroup(_ groupID: UInt32) -> FileAccess {
        FileAccess(directoryMode: 0o750, fileMode: 0o640, groupID: groupID)
    }

    /// Opens (`O_CREAT`, close-on-exec) a file with these permissions and returns its descriptor; an existing file
    /// is brought to them too.
    public func open(_ path: String, flags: Int32) throws(FileAccessError) -> Int32 {
        let fd = openFile(path, flags | O_CREAT | O_CLOEXEC, mode_t(self.fileMode))
        guard fd >= 0 else { throw FileAccessError("cannot open \(path): \(FileAccessError.lastError())") }
        if let group = self.groupID, fchown(fd, uid_t.max, gid_t(group)) != 0 {
            let reason = FileAccessError.lastError()
            _ = closeFile(fd)
            throw FileAccessError("cannot give \(path) to group \(group): \(reason)")
        }
        if fchmod(fd, mode_t(self.fileMode)) != 0 {
            let reason = FileAccessError.lastError()
            _ = closeFile(fd)
            throw FileAccessError("cannot set the mode of \(path): \(reason)")
        }
        return fd
    }

    /// `mkdir -p` with these permissions for every folder it creates. The last folder, if it already existed, is
    /// tightened (shared with the group: set) to them; the returned notice says what changed, or why a folder
    /// that is shared (sticky, like /tmp) or someone else's was left alone. nil when nothing was worth saying.
    public func createDirectory(_ path: String) throws(FileAccessError) -> String? {
        var prefix = path.hasPrefix("/") ? "/" : ""
        var createdLast = false
        for component in path.split(separator: "/") {
            prefix += component
            createdLast = mkdir(prefix, mode_t(self.directoryMode)) == 0
            if createdLast {
                try self.apply(toCreatedDirectory: prefix)
            } else if errno != EEXIST {
                throw FileAccessError("cannot create directory \(prefix): \(FileAccessError.lastError())")
            }
            prefix += "/"
        }
        var info = stat()
        guard stat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR else {
            throw FileAccessError("\(path) is not a directory")
        }
        return createdLast ? nil : try self.adjust(existing: path, info)
    }

    private func apply(toCreatedDirectory path: String) throws(FileAccessError) {
        if let group = self.groupID, chown(path, uid_t.max, gid_t(group)) != 0 {
            throw FileAccessError("cannot give \(path) to group \(group): \(FileAccessError.lastError())")
        }
        if chmod(path, mode_t(self.directoryMode)) != 0 {
            throw FileAccessError("cannot set the mode of \(path): \(FileAccessError.lastError())")
        }
    }

    private func adjust(existing path: String, _ info: stat) throws(FileAccessError) -> String? {
        let current = UInt32(info.st_mode) & 0o7777
        // Private: only take permissions away (a 0500 folder stays). Shared: the group needs exactly r-x.
        let wanted = self.groupID == nil ? current & self.directoryMode : self.directoryMode
        let regroup = self.groupID.map { $0 != UInt32(info.st_gid) } ?? false
        guard wanted != current || regroup else { return nil }
        guard UInt32(info.st_uid) == UInt32(geteuid()), current & UInt32(S_ISVTX) == 0 else {
            return "\(path) has mode \(Self.octal(current)) but is shared or not ours: left as it is"
        }
        if regroup, let group = self.groupID, chown(path, uid_t.max, gid_t(group)) != 0 {
            throw FileAccessError("cannot give \(path) to group \(group): \(FileAccessError.lastError())")
        }
        if wanted != current, chmod(path, mode_t(wanted)) != 0 {
            throw FileAccessError("cannot set the mode of \(path): \(FileAccessError.lastError())")
        }
        let group = regroup ? ", group \(self.groupID ?? 0)" : ""
        return "permissions of \(path) changed from \(Self.octal(current)) to \(Self.octal(wanted))\(group)"
    }

    static func octal(_ mode: UInt32) -> String {
        let digits = String(mode, radix: 8)
        return String(repeating: "0", count: max(0, 4 - digits.count)) + digits
    }
}

/// A runtime file or folder that could not be created with its permissions.
public struct FileAccessError: Error, Sendable, Equatable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }

    static func lastError() -> String { String(cString: strerror(errno)) }
}

// The global functions, out of reach of `FileAccess.open` inside the type.
private func openFile(_ path: String, _ flags: Int32, _ mode: mode_t) -> Int32 { open(path, flags, mode) }
private func closeFile(_ fd: Int32) -> Int32 { close(fd) }
