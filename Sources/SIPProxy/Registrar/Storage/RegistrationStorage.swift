// RegistrationStorage: which location backend the proxy keeps its bindings in (`sipctl serve --registrations`,
// `--location`).

import Logging

/// Where registrations persist. Memory only is `nil` in `ProxyConfiguration.registrations`.
public enum RegistrationStorage: Sendable, Equatable, CustomStringConvertible {
    /// An SQLite file (the default of `sipctl serve`: `registrations.sqlite` in the runtime folder).
    case sqlite(path: String)
    /// A PostgreSQL database shared by several proxies (`--location postgresql://user@host:port/db`).
    case postgres(url: String)

    /// Opens the backend. Blocking: call at start, before the shards run. `ownerURI` is where other proxies
    /// reach this one (a shared backend writes it in the rows).
    public func makeStore(
        instanceID: String?, ownerURI: String = "", logger: Logger = Logger(label: "registrations")
    ) throws(BindingStoreError) -> any BindingStore {
        switch self {
        case .sqlite(let path): return try SQLiteBindingStore(path: path, instanceID: instanceID)
        case .postgres(let url):
            return try PostgresBindingStore(url: url, instanceID: instanceID, ownerURI: ownerURI, logger: logger)
        }
    }

    public var description: String {
        switch self {
        case .sqlite(let path): return "sqlite:\(path)"
        case .postgres(let url): return url
        }
    }
}
