// ControlProtocol: the JSON protocol spoken on the proxy's Unix-domain control socket, shared by `sipctl` and
// the proxy.
//
// One JSON object per line in each direction (newline-delimited JSON, UTF-8). The client writes a request,
// the proxy answers with exactly one response line; a connection may carry several requests in turn.
//
//     -> {"command":"registrations"}
//     <- {"ok":true,"registrations":[{"aor":"sip:bob@192.0.2.5","user":"bob","contact":"<sip:bob@192.0.2.12:5060>",
//          "transport":"UDP","source":"192.0.2.12:5060","expiresIn":3597}]}
//     -> {"command":"nonsense"}
//     <- {"ok":false,"error":"unknown command 'nonsense'"}
//
// Commands: `registrations`; `status`. Unknown fields are ignored so older clients keep working.

import Foundation

/// A request line.
public struct ControlRequest: Codable, Sendable, Equatable {
    public var command: String

    public init(command: String) {
        self.command = command
    }
}

/// One current binding, as `sipctl registrations` shows it.
public struct RegistrationInfo: Codable, Sendable, Equatable {
    public var aor: String
    public var user: String
    public var contact: String
    public var transport: String
    /// The address the REGISTER came from (`ip:port`): requests for the phone go back there.
    public var source: String
    public var expiresIn: Int
}

/// Proxy-wide figures for `sipctl status`.
public struct ProxyStatus: Codable, Sendable, Equatable {
    public var listeners: [String]
    public var users: Int
    public var bindings: Int
    public var serverTransactions: Int
    public var clientTransactions: Int
    public var uptimeSeconds: Int
}

/// A response line.
public struct ControlResponse: Codable, Sendable, Equatable {
    public var ok: Bool
    public var error: String?
    public var registrations: [RegistrationInfo]?
    public var status: ProxyStatus?

    public init(ok: Bool = true, error: String? = nil) {
        self.ok = ok
        self.error = error
    }

    public static func failure(_ message: String) -> ControlResponse { ControlResponse(ok: false, error: message) }
}

/// Encoding shared by both ends: compact, one line, stable key order.
public enum ControlCoding {
    public static func encode<T: Encodable>(_ value: T) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    public static func decode<T: Decodable>(_ type: T.Type, from line: String) throws -> T {
        try JSONDecoder().decode(type, from: Data(line.utf8))
    }
}
