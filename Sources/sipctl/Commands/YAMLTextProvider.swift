// YAMLTextProvider: a swift-configuration provider over YAML text the command already holds. `FileProvider` can
// only read the file as written, and its YAML snapshot refuses the whole file when a list holds mappings (the
// `{name, pin}` rooms of `conferences:`); the file is then read through this provider without that key, which
// `ConferenceConfig` reads on its own.

import Configuration

struct YAMLTextProvider: ConfigProvider {
    private let base: YAMLSnapshot

    init(text: String, name: String) throws {
        let bytes = Array(text.utf8)
        self.base = try YAMLSnapshot(data: bytes.span.bytes, providerName: "YAMLTextProvider[\(name)]", parsingOptions: .default)
    }

    var providerName: String { self.base.providerName }

    func value(forKey key: AbsoluteConfigKey, type: ConfigType) throws -> LookupResult {
        try self.base.value(forKey: key, type: type)
    }

    func fetchValue(forKey key: AbsoluteConfigKey, type: ConfigType) async throws -> LookupResult {
        try self.base.value(forKey: key, type: type)
    }

    /// The text never changes: the value, once (what a file read once gives too).
    func watchValue<Return: ~Copyable>(
        forKey key: AbsoluteConfigKey, type: ConfigType,
        updatesHandler: nonisolated(nonsending) (ConfigUpdatesAsyncSequence<Result<LookupResult, any Error>, Never>) async throws -> Return
    ) async throws -> Return {
        try await self.watchValueFromValue(forKey: key, type: type, updatesHandler: updatesHandler)
    }

    func snapshot() -> any ConfigSnapshot { self.base }

    func watchSnapshot<Return: ~Copyable>(
        updatesHandler: nonisolated(nonsending) (ConfigUpdatesAsyncSequence<any ConfigSnapshot, Never>) async throws -> Return
    ) async throws -> Return {
        try await self.watchSnapshotFromSnapshot(updatesHandler: updatesHandler)
    }
}
