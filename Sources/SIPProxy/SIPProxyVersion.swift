// SIPProxyVersion: what `sipctl --version` prints.

public enum SIPProxyVersion {
    /// Semantic version of the proxy; raised with each release of the issues' work (0.3: shards and the timer wheel).
    public static let current = "0.3.0"
}
