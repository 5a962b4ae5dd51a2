// `sipctl registrations` and `sipctl status`: what the running proxy knows.

import ArgumentParser
import SIPProxy

struct Registrations: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List the current registrations of the running proxy (AOR, contact, transport, source, expiry)."
    )

    @OptionGroup var options: GlobalOptions

    func run() async throws {
        let response = try await ControlCommand.send("registrations", self.options)
        let list = response.registrations ?? []
        if self.options.json {
            print(try ControlCoding.encode(list))
        } else {
            print(RegistrationInfo.table(list), terminator: "")
            print("stored in: \(response.registrationStore?.summary(now: .now()) ?? "memory only (lost at restart)")")
        }
    }
}

struct Status: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show the running proxy's listeners and counters.")

    @OptionGroup var options: GlobalOptions

    func run() async throws {
        let response = try await ControlCommand.send("status", self.options)
        guard let status = response.status else { throw SipCtlError("the proxy sent no status") }
        if self.options.json {
            print(try ControlCoding.encode(status))
            return
        }
        print("listening:  \(status.listeners.joined(separator: ", "))")
        print("users:      \(status.users) (\(status.bindings) bindings)")
        print("transactions: \(status.serverTransactions) server, \(status.clientTransactions) client")
        if let shards = status.shards, shards.count > 1 {
            // One line per shard: how evenly the Call-IDs spread the work, and how much the sockets hand over.
            for s in shards {
                print("shard \(s.shard):    \(s.messages) messages (\(s.handedOver) handed to another shard), "
                    + "\(s.serverTransactions)+\(s.clientTransactions) transactions, \(s.timers) timers, "
                    + "\(s.connections) connections")
            }
        }
        if let l = status.limits {
            print("relay:      \(l.relay)")
            print("limits:     \(l.connections)/\(l.maxConnections) tcp connections (\(l.maxConnectionsPerSource) per address), "
                + "\(l.maxTransactions) transactions, \(l.maxBindings) bindings, \(l.maxContactsPerUser) contacts per user, "
                + "\(l.maxMessageSize) octets per message, idle \(l.idleTimeoutSeconds) s")
            print("rate limit: \(l.rateLimit); banned now: \(l.bannedSources.isEmpty ? "none" : l.bannedSources.joined(separator: ", "))")
            print("refused:    \(l.rateLimitedRequests) rate-limited requests, \(l.refusedConnections) connections, "
                + "\(l.refusedDestinations) destinations, \(l.oversizedMessages) oversized messages; "
                + "\(l.sendErrors) send errors, \(l.listenerRestarts) listener restarts, \(l.acceptPauses) accept pauses, "
                + "\(l.stalledConnections ?? 0) connections closed unread")
        }
        if let l = status.limits, let overload = l.overload, let shards = status.shards {
            // The shards refuse by the highest share among them (OverloadBoard).
            let shed = shards.compactMap(\.shedPermille).max() ?? 0
            let delay = shards.compactMap(\.queueDelayMs).max() ?? 0
            let lag = shards.compactMap(\.loopLagMs).max() ?? 0
            let refused = shards.compactMap(\.shedRequests).reduce(0, +)
            print("overload:   \(overload); now \(shed / 10) % shed (queue \(delay) ms, loop lag \(lag) ms), "
                + "\(refused) requests refused")
        }
        if let media = status.media { print("media:      \(media)") }
        if let conference = status.limits?.conference { print("conference: \(conference) (beyond: 486, 503)") }
        print("registrations: \(status.registrationStore?.summary(now: .now()) ?? "memory only (lost at restart)")")
        if let copy = status.journalDatabase { print("journal db: \(copy.summary(now: .now()))") }
        print("uptime:     \(status.uptimeSeconds) s")
    }
}

/// Sends a control command and turns transport failures and `ok: false` answers into one-line errors.
enum ControlCommand {
    static func send(_ command: String, _ options: GlobalOptions) async throws -> ControlResponse {
        try await self.send(ControlRequest(command: command), options)
    }

    static func send(_ request: ControlRequest, _ options: GlobalOptions) async throws -> ControlResponse {
        let command = request.command
        let response: ControlResponse
        do {
            response = try await ControlClient.send(request, socket: options.socketPath)
        } catch let error as ControlClientError {
            throw SipCtlError(error.message)
        }
        guard response.ok else { throw SipCtlError(response.error ?? "the proxy refused '\(command)'") }
        return response
    }
}
