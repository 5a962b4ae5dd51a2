// RegistrationStorage: which location backend the proxy keeps its bindings in (`sipctl serve --registrations`).

/// Where registrations persist. Memory only is `nil` in `ProxyConfiguration.registrations`.
public enum RegistrationStorage: Sendable, Equatable, CustomStringConvertible {
    /// An SQLite file (the default of `sipctl serve`: `registrations.sqlite` in the runtime folder).
    case sqlite(path: String)

    /// Opens the backend. Blocking: call at start, before the shards run.
    public func makeStore(instanceID: String?) throws(BindingStoreError) -> any BindingStore {
        switch self {
        case .sqlite(let path): return try SQLiteBindingStore(path: path, instanceID: instanceID)
        }
    }

    public var description: String {
        switch self {
        case .sqlite(let path): return "sqlite:\(path)"
        }
    }
}
