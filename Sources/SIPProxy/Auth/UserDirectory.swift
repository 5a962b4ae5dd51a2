// UserDirectory: the users and passwords of `sipctl serve --auth FILE`.
//
//     realm: lab.example      # optional; default: the first --domain, else the advertised or listening address
//     users:
//       alice: secret
//       bob: "1234"
//     admins: [teacher]       # optional: may change anyone's registrations
//     algorithms: [SHA-256, MD5]   # optional: the challenges offered, in this order (default: MD5)

import Yams

/// The one error type of the authentication layer: a bad auth file, naming the line.
public struct AuthError: Error, Sendable, CustomStringConvertible, Equatable {
    public var file: String
    public var line: Int?
    public var message: String

    public var description: String {
        if let line { return "\(self.file):\(line): \(self.message)" }
        return "\(self.file): \(self.message)"
    }
}

/// Who may use the proxy.
public struct UserDirectory: Sendable, Equatable {
    public var realm: String?
    public var passwords: [String: String]
    public var admins: Set<String>
    /// The challenges offered, in order (RFC 8760 §2.4: one per algorithm). MD5 alone by default: phones in the
    /// field fail on a SHA-256 challenge rather than skip it (baresip 1.0's libre rejects the whole response when
    /// one challenge names an unknown algorithm; SIPp 3.6 answers only the first and only MD5). An auth file
    /// with `algorithms: [SHA-256, MD5]` offers both.
    public var algorithms: [DigestAlgorithm]

    public init(
        realm: String? = nil,
        passwords: [String: String],
        admins: Set<String> = [],
        algorithms: [DigestAlgorithm] = [.md5]
    ) {
        self.realm = realm
        self.passwords = passwords
        self.admins = admins
        self.algorithms = algorithms
    }

    /// Parses the YAML text of an auth file; `name` appears in errors.
    public static func parse(_ text: String, name: String) throws(AuthError) -> UserDirectory {
        func fail(_ message: String, _ node: Node?) -> AuthError {
            AuthError(file: name, line: node?.mark?.line, message: message)
        }
        let root: Node?
        do throws(YAMLDocument.SyntaxError) {
            root = try YAMLDocument.compose(text)
        } catch {
            throw AuthError(file: name, line: error.line, message: error.message)
        }
        guard let root, case .mapping(let top) = root else {
            throw fail("expected a mapping with 'users:' (user: password lines)", root)
        }
        var directory = UserDirectory(passwords: [:])
        var sawUsers = false
        for (keyNode, valueNode) in top {
            switch keyNode.scalar?.string {
            case "realm":
                guard let realm = valueNode.scalar?.string, !realm.isEmpty, !realm.contains("\"") else {
                    throw fail("'realm' must be text without quotes", valueNode)
                }
                directory.realm = realm
            case "users":
                sawUsers = true
                guard case .mapping(let users) = valueNode else {
                    throw fail("'users' must map user names to passwords", valueNode)
                }
                for (userNode, passwordNode) in users {
                    guard let user = userNode.scalar?.string, Self.isValidUser(user) else {
                        throw fail("'\(userNode.scalar?.string ?? "?")' is not a user name (letters, digits, . _ - +)", userNode)
                    }
                    guard let password = passwordNode.scalar?.string, !password.isEmpty else {
                        throw fail("the password of \(user) must be non-empty text", passwordNode)
                    }
                    guard directory.passwords[user] == nil else { throw fail("user \(user) is listed twice", userNode) }
                    directory.passwords[user] = password
                }
            case "admins":
                guard case .sequence(let list) = valueNode else { throw fail("'admins' must be a list of users", valueNode) }
                for node in list {
                    guard let user = node.scalar?.string else { throw fail("an admin must be a user name", node) }
                    directory.admins.insert(user)
                }
            case "algorithms":
                guard case .sequence(let list) = valueNode, !list.isEmpty else {
                    throw fail("'algorithms' must be a list: MD5, SHA-256", valueNode)
                }
                directory.algorithms = []
                for node in list {
                    guard let name = node.scalar?.string, let algorithm = DigestAlgorithm(parameter: name) else {
                        throw fail("unknown algorithm '\(node.scalar?.string ?? "?")' (MD5 or SHA-256)", node)
                    }
                    if !directory.algorithms.contains(algorithm) { directory.algorithms.append(algorithm) }
                }
            default:
                throw fail("unknown key '\(keyNode.scalar?.string ?? "?")' (expected realm, users, admins, algorithms)", keyNode)
            }
        }
        guard sawUsers, !directory.passwords.isEmpty else { throw fail("no users: add 'users:' with 'name: password' lines", root) }
        for admin in directory.admins where directory.passwords[admin] == nil {
            throw AuthError(file: name, line: nil, message: "admin \(admin) is not in 'users'")
        }
        return directory
    }

    static func isValidUser(_ user: String) -> Bool {
        !user.isEmpty && user.utf8.count <= 64
            && user.unicodeScalars.allSatisfy { $0.properties.isAlphabetic || ("0"..."9").contains($0) || "._-+".unicodeScalars.contains($0) }
    }
}
