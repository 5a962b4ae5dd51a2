// ConferenceConfig: the `conferences:` list of a config file. An entry is either the text `--conference` takes
// (`"800"`, `"801:4321"`) or a mapping `{name: "801", pin: "4321"}`, which reads better when a room has a PIN.
// swift-configuration's YAML reader only knows lists of scalars, so the list is read here, from the node tree,
// where each mistake can name its line.

import Yams

public enum ConferenceConfig {
    /// The keys of a room written as a mapping.
    static let entryKeys: Set<String> = ["name", "pin"]

    /// Applies the `conferences:` list of a whole YAML config file to `settings` (replacing the rooms and PINs
    /// the flags' defaults set); an absent or empty key changes nothing. A bad entry is a one-line error with its
    /// line.
    public static func apply(yaml text: String, name: String, to settings: inout ConferenceSettings) throws(ConfigurationError) {
        let root: Node?
        do throws(YAMLDocument.SyntaxError) {
            root = try YAMLDocument.compose(text)
        } catch {
            throw ConfigurationError("\(name)\(error.line.map { " line \($0)" } ?? ""): \(error.message)")
        }
        guard let root, case .mapping(let top) = root, let section = top["conferences"] else { return }
        func fail(_ message: String, _ node: Node) -> ConfigurationError {
            ConfigurationError("\(name)\(node.mark.map { " line \($0.line)" } ?? ""): \(message)")
        }
        if case .scalar(let s) = section, s.style == .plain, ["", "~", "null"].contains(s.string) { return }
        guard case .sequence(let entries) = section else {
            throw fail("'conferences' takes a list of rooms (\"800\", \"801:4321\" or {name: \"801\", pin: \"4321\"})", section)
        }
        var rooms = settings
        rooms.rooms = []
        rooms.pins = [:]
        for entry in entries {
            switch entry {
            case .scalar(let scalar):
                guard rooms.add(scalar.string) else {
                    throw fail("invalid room '\(scalar.string)' in conferences: a room number or name (letters, digits, - _ .), optionally :PIN (1-16 digits or *)", entry)
                }
            case .mapping(let fields):
                var room: String?
                var pin: String?
                for (keyNode, valueNode) in fields {
                    let key = keyNode.scalar?.string ?? ""
                    guard Self.entryKeys.contains(key) else {
                        throw fail("unknown key '\(key)' in a room of conferences (name, pin)", keyNode)
                    }
                    guard let value = valueNode.scalar?.string, !value.isEmpty else {
                        throw fail("'\(key)' of a room in conferences takes a single value", valueNode)
                    }
                    if key == "name" { room = value } else { pin = value }
                }
                guard let room else { throw fail("a room in conferences needs a name ({name: \"801\", pin: \"4321\"})", entry) }
                guard ConferenceSettings.isRoomName(room) else {
                    throw fail("invalid room name '\(room)' in conferences: letters, digits, - _ .", entry)
                }
                guard rooms.add(room: room, pin: pin) else {
                    throw fail("invalid pin '\(pin ?? "")' of room \(room) in conferences: 1-16 digits or *", entry)
                }
            case .sequence, .alias:
                throw fail("a room in conferences is \"800\", \"801:4321\" or {name: \"801\", pin: \"4321\"}", entry)
            }
        }
        settings = rooms
    }

    /// The file's text without its `conferences:` key, for the generic reader (which refuses a list holding
    /// mappings); nil when the file has no such key, so it is read as written.
    public static func withoutConferences(yaml text: String) -> String? {
        guard let root = try? Yams.compose(yaml: text), case .mapping(let top) = root, top["conferences"] != nil else { return nil }
        let kept = Node.Mapping(
            top.filter { $0.key.scalar?.string != "conferences" }.map { ($0.key, $0.value) }, top.tag, top.style, top.mark)
        return try? Yams.serialize(node: .mapping(kept))
    }
}
