// Next-hop selection (RFC 3261 §16.6 steps 6-7; domain names are resolved first, in ProxyCore+DNS) and the proxy's own Via and
// Record-Route values (§16.6 steps 4 and 8).

import NIOCore

extension ProxyCore {
    /// The transport destination of a forwarded request: the top Route when present, else the target. A target
    /// that is a registered contact is reached over the flow its REGISTER came on, so phones behind NAT and TCP
    /// phones are reached on the connection they opened.
    func destination(for request: SIPRequest, target: ForwardTarget, from peer: Peer) -> Peer? {
        if let resolved = target.resolved.first { return resolved }
        let now = self.now()
        if let route = request.routes.first {
            return self.destination(for: route.uri, from: peer, now: now)
        }
        if let binding = target.binding { return self.destination(for: binding, from: peer, now: now) }
        return self.destination(for: target.uri, from: peer, now: now)
    }

    /// Where a registered contact is reached: through the proxy that holds its flow, over the flow itself, or a
    /// new connection to where it registered from.
    func destination(for binding: Binding, from peer: Peer, now: NIODeadline) -> Peer? {
        if binding.owner != nil { return self.owner(of: binding, from: peer, now: now) }
        return self.flow(of: binding) ?? self.reconnect(to: binding, from: peer)
    }

    func destination(for uri: SIPURI, from peer: Peer, now: NIODeadline) -> Peer? {
        if let binding = self.registrar.binding(forContact: uri, now: now) {
            if binding.owner != nil, let owner = self.owner(of: binding, from: peer, now: now) { return owner }
            if let flow = self.flow(of: binding) { return flow }
        }
        let transport = TransportKind(uri: uri)
        let host = SIPURI(host: uri.maddr ?? uri.host).bareHost
        guard let address = try? SocketAddress(ipAddress: host, port: uri.port ?? 5060) else {
            // Only IP literals are routed here: a domain name is resolved before the request gets this far
            // (ProxyCore+DNS, RFC 3263); what still arrives (a 2xx ACK, stateless) has no transaction to wait in.
            self.logger.info("cannot route to host '\(host)': not an IP address")
            return nil
        }
        if self.transport.refusal(address) != nil { return nil }
        guard let listener = self.transport.localAddress(for: transport, to: address, preferred: peer.local) else {
            self.logger.info("no \(transport) listener to reach \(address.hostPort)")
            return nil
        }
        return Peer(transport: transport, remote: address, local: listener)
    }

    /// The proxy that holds another proxy's binding (a shared location store, issue 16 item 2): the request goes
    /// there unchanged, Request-URI the phone's Contact, and that proxy finds its own binding for the Contact and
    /// sends it over the flow (its relay policy lets a request to a registered Contact through).
    private func owner(of binding: Binding, from peer: Peer, now: NIODeadline) -> Peer? {
        guard let text = binding.ownerURI, let uri = SIPURI.parse(text),
            self.registrar.binding(forContact: uri, now: now) == nil
        else {
            self.logger.info("no address for the proxy \(binding.owner ?? "") that holds \(binding.contact.uri)")
            return nil
        }
        return self.destination(for: uri, from: peer, now: now)
    }

    /// The flow a binding was registered over, if it can still be used: UDP always; TCP while the connection
    /// is open (a closed one is re-opened to the Contact address instead).
    private func flow(of binding: Binding) -> Peer? {
        let source = binding.source
        switch source.transport {
        case .udp:
            return source
        case .tcp, .tls:
            if let id = source.connection, self.transport.isOpen(id) { return source }
            return nil
        }
    }

    /// A TCP or TLS binding whose connection closed: a new connection goes to the address the REGISTER came from, never
    /// to whatever host the Contact names, so a binding cannot aim the proxy at a third party. The Contact's port
    /// is used when the Contact names that same address (the phone's listening port); else the source port.
    private func reconnect(to binding: Binding, from peer: Peer) -> Peer? {
        let source = binding.source.remote
        guard let ip = source.ipText else { return nil }
        let contactHost = SIPURI(host: binding.contact.uri.maddr ?? binding.contact.uri.host).bareHost
        let port = contactHost == ip.lowercased() ? (binding.contact.uri.port ?? 5060) : (source.port ?? 5060)
        guard let address = try? SocketAddress(ipAddress: ip, port: port),
            let listener = self.transport.localAddress(for: binding.source.transport, to: address, preferred: binding.source.local)
        else { return nil }
        return Peer(transport: binding.source.transport, remote: address, local: listener)
    }

    /// `SIP/2.0/UDP host:port;branch=...` for the socket the request leaves from.
    func via(_ destination: Peer, branch: String) -> Via {
        Via(transport: destination.transport.rawValue, host: self.advertisedHost(destination.local),
            port: destination.local.port ?? 5060, parameters: SIPParameters([SIPParameter("branch", branch)]))
    }

    /// `<sip:host:port;transport=tcp;lr;sptag=...>` for a listener (§16.6 step 4, §19.1.1 lr), tagged for the
    /// dialog's Call-ID (`RouteSigner`).
    func recordRoute(_ listener: SocketAddress, _ transport: TransportKind, callID: String) -> String {
        var uri = "sip:\(self.advertisedHost(listener)):\(listener.port ?? 5060)"
        if let parameter = transport.uriParameter { uri += ";transport=\(parameter)" }
        return "<\(uri);lr;\(RouteSigner.parameter)=\(self.shared.routeSigner.tag(callID: callID))>"
    }
}
