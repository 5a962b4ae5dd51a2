// ForwardingStore: the forwarding rules in force (config file + run-time changes) and their persistence.
//
// Run-time changes (`sipctl forward set/clear`) are kept as per-user overrides of the config file's rules and
// written to a JSON state file (default `forwarding.json` in the proxy's working directory):
//
//     {"version":1,"users":{"bob":{"always":"carol"},"carol":{}}}
//
// An empty rule is a cleared user: no forwarding even if the config file has a rule for them. The file is
// written whole to a temporary file and renamed over the old one (atomic on POSIX), on a queue of its own,
// never on the event loop; it is read once at start-up.

import Dispatch
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The rules in force: a value, confined to the core's event loop.
public struct ForwardingTable: Sendable, Equatable {
    /// Rules from the configuration file.
    public var base: [String: ForwardingRule]
    /// Run-time changes by user (an empty rule clears the user).
    public var overrides: [String: ForwardingRule]

    public init(base: [String: ForwardingRule] = [:], overrides: [String: ForwardingRule] = [:]) {
        self.base = base
        self.overrides = overrides
    }

    /// The effective rules: overrides replace the config's rule of their user; empty rules are dropped.
    public var rules: [String: ForwardingRule] {
        var result = self.base
        for (user, rule) in self.overrides { result[user] = rule }
        return result.filter { !$0.value.isEmpty }
    }

    public func rule(for user: String) -> ForwardingRule? {
        let rule = self.overrides[user] ?? self.base[user]
        return rule?.isEmpty == false ? rule : nil
    }

    /// Merges the named fields into the user's current rule (what `sipctl forward set` does).
    public mutating func set(_ user: String, _ change: ForwardingRule) {
        var rule = self.rule(for: user) ?? ForwardingRule()
        if let v = change.always { rule.always = v.isEmpty ? nil : v }
        if let v = change.busy { rule.busy = v.isEmpty ? nil : v }
        if let v = change.noAnswer { rule.noAnswer = v.isEmpty ? nil : v }
        if let v = change.noAnswerAfter { rule.noAnswerAfter = v }
        if let v = change.unavailable { rule.unavailable = v.isEmpty ? nil : v }
        if rule.noAnswer == nil { rule.noAnswerAfter = nil }
        self.overrides[user] = rule
    }

    /// Removes every rule of the user (also a configured one, until set again).
    public mutating func clear(_ user: String) {
        // A configured user keeps an empty override so the config's rule stays off after a restart.
        self.overrides[user] = self.base[user] == nil ? nil : ForwardingRule()
    }
}

/// The state file's content.
struct ForwardingStateFile: Codable, Equatable {
    var version = 1
    var users: [String: ForwardingRule]
}

/// Reads and writes the state file.
public final class ForwardingStore: Sendable {
    public let path: String
    private let queue = DispatchQueue(label: "sipproxy.forwarding-store")

    public init(path: String) {
        self.path = path
    }

    /// The overrides saved by an earlier run; none when the file does not exist.
    public func load() throws(ForwardingError) -> [String: ForwardingRule] {
        guard FileManager.default.fileExists(atPath: self.path) else { return [:] }
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: self.path))
        } catch {
            throw ForwardingError("cannot read \(self.path): \(error.localizedDescription)")
        }
        do {
            let file = try JSONDecoder().decode(ForwardingStateFile.self, from: data)
            var users: [String: ForwardingRule] = [:]
            for (user, rule) in file.users {
                do throws(ForwardingError) {
                    try rule.validate()
                } catch {
                    throw ForwardingError("\(self.path): user \(user): \(error)")
                }
                users[user] = rule
            }
            return users
        } catch let error as ForwardingError {
            throw error
        } catch {
            throw ForwardingError("\(self.path) is not a forwarding state file: \(error)")
        }
    }

    /// Writes the overrides atomically (temporary file in the same directory, then rename).
    public func saveNow(_ overrides: [String: ForwardingRule]) throws(ForwardingError) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        let data: Data
        do {
            data = try encoder.encode(ForwardingStateFile(users: overrides))
        } catch {
            throw ForwardingError("cannot encode the forwarding rules: \(error)")
        }
        let temporary = self.path + ".tmp-\(getpid())"
        try Self.writePrivately(data, to: temporary)
        if rename(temporary, self.path) != 0 {
            let code = errno
            unlink(temporary)
            throw ForwardingError("cannot rename \(temporary) to \(self.path): \(String(cString: strerror(code)))")
        }
    }

    /// Writes `data` to a new owner-only file (0600: the rules name users and their numbers), synced to disk.
    private static func writePrivately(_ data: Data, to path: String) throws(ForwardingError) {
        let fd: Int32
        do throws(FileAccessError) {
            fd = try FileAccess.ownerOnly.open(path, flags: O_WRONLY | O_TRUNC)
        } catch {
            throw ForwardingError(error.description)
        }
        defer { _ = close(fd) }
        let written = data.withUnsafeBytes { raw -> Bool in
            var offset = 0
            while offset < raw.count {
                let n = write(fd, raw.baseAddress! + offset, raw.count - offset)
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { return false }
                offset += n
            }
            return true
        }
        guard written, fsync(fd) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(path)
            throw ForwardingError("cannot write \(path): \(reason)")
        }
    }

    /// Writes on the store's queue, then calls `done` there with the outcome. Writes keep their order.
    public func save(
        _ overrides: [String: ForwardingRule],
        done: @escaping @Sendable (Result<Void, ForwardingError>) -> Void
    ) {
        self.queue.async {
            do throws(ForwardingError) {
                try self.saveNow(overrides)
                done(.success(()))
            } catch {
                done(.failure(error))
            }
        }
    }
}
