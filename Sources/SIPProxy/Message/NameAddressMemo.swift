// NameAddressMemo: the From and To values of recent messages, parsed once.
//
// Every message of a call carries the same From, and the same To once the callee has tagged it: an INVITE, its
// 100, 180 and 200, the ACK, the BYE and its 200 repeat two texts seven times each on the way in. Parsing them
// (a name-addr with its URI and parameters, RFC 3261 §20.20 and §20.39) was a twentieth of the proxy's CPU per
// call (issue 12). A shard keeps the parsed values of recent texts; a hit is one hash of the header value.
// Parsing is a pure function of the text, so a hit gives exactly what parsing would.

/// Parsed name-addrs by their header text, for one event loop (not shared between threads).
struct NameAddressMemo: Sendable {
    /// Entries kept before the memo starts over; bounds its memory with `maxLength`.
    static let defaultCapacity = 4096
    /// Longer values are parsed each time: the memo's memory stays under capacity × (this + the parsed value).
    static let maxLength = 256

    private var entries: [String: NameAddress] = [:]
    private let capacity: Int

    init(capacity: Int = NameAddressMemo.defaultCapacity) {
        self.capacity = capacity
    }

    /// A memo that keeps nothing: every value is parsed (callers without a shard, tests, the trace reader).
    static var disabled: NameAddressMemo { NameAddressMemo(capacity: 0) }

    var count: Int { self.entries.count }

    /// `NameAddress.parse(text)`, from the memo when the same text was parsed recently. Malformed values are
    /// not kept (the message is answered 400 and the text is unlikely to come back).
    mutating func parse(_ text: String) -> NameAddress? {
        guard self.capacity > 0, text.utf8.count <= Self.maxLength else { return NameAddress.parse(text) }
        if let known = self.entries[text] { return known }
        guard let parsed = NameAddress.parse(text) else { return nil }
        // Starting over when full keeps the bound without tracking use: the calls in progress refill it at once,
        // and a peer sending ever new values only keeps it from helping, never makes it grow.
        if self.entries.count >= self.capacity { self.entries.removeAll(keepingCapacity: true) }
        self.entries[text] = parsed
        return parsed
    }
}
