// BindingStore: where the location service's bindings persist (issue 16: SQLite by default, PostgreSQL next).
//
// The in-memory `LocationStore` stays the one place lookups go (every INVITE reads it under its mutex); a backend
// is only written behind (`BindingWriteBack`) and read once, at start. Its methods block, so they run on the
// persistence thread (`RegistrationPersistence`), never on an event loop.

/// A location backend.
public protocol BindingStore: AnyObject {
    /// Where the bindings live, for `sipctl status` (`sqlite:/srv/sip/registrations.sqlite`).
    var location: String { get }
    /// The identifier of this proxy instance in the backend: the owner written in its rows.
    var instanceID: String { get }
    /// What happened when the backend was opened and is worth a log line and a status line (a file set aside).
    var openingNotice: String? { get }

    /// The bindings stored that have not lapsed at `now`; lapsed ones are deleted.
    func load(now: WallClock) throws(BindingStoreError) -> [StoredBinding]
    /// Writes a batch of changes atomically (one transaction): all of it or none.
    func apply(_ changes: [BindingChange]) throws(BindingStoreError)
    /// Releases the backend (closes the file or connection). Nothing is called afterwards.
    func close()
}

/// The one error type of the location backends.
public struct BindingStoreError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// The backend cannot be opened or created (permissions, a missing folder).
        case open
        /// A read failed.
        case read
        /// A batch could not be written; the changes stay queued for the next attempt.
        case write
    }

    public var kind: Kind
    public var message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { self.message }
}

/// A backend several proxies share (PostgreSQL, issue 16 item 2): each proxy writes its own rows and reads the
/// others' changes, so a phone registered through one proxy is found by all of them.
public protocol SharedBindingStore: BindingStore {
    /// Where other proxies reach this one (its SIP listener URI), written in its rows.
    var ownerURI: String { get }
    /// The rows of other instances changed since the last call (the first call: since `load`): upserts for live
    /// rows, removals for rows their owner deleted. Blocking; called on the persistence thread.
    func poll(now: WallClock) throws(BindingStoreError) -> [BindingChange]
    /// Starts waiting for other proxies' change notices (PostgreSQL LISTEN/NOTIFY) on a connection of its own:
    /// `changed` runs, on some other thread, when one committed changes, and when the wait (re)starts (what came
    /// meanwhile must be read). Polling stays the fallback while it is not waiting (`isListening` false).
    func startListening(_ changed: @escaping @Sendable () -> Void)
    /// Whether change notices arrive now (false before `startListening`, and while reconnecting).
    var isListening: Bool { get }
}

extension SharedBindingStore {
    /// A backend without notices: polling only.
    public func startListening(_ changed: @escaping @Sendable () -> Void) {}
    public var isListening: Bool { false }
}
