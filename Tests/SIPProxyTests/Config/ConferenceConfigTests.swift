// ConferenceConfig: `conferences:` in a config file, as strings ("801:4321") or mappings ({name, pin}); a bad
// entry is one line naming its line; the rest of the file goes to the generic reader without the key.

import Testing

@testable import SIPProxy

@Suite("Config file: conferences")
struct ConferenceConfigTests {
    static func apply(_ text: String, to settings: ConferenceSettings = ConferenceSettings()) -> Result<ConferenceSettings, ConfigurationError> {
        var copy = settings
        do throws(ConfigurationError) {
            try ConferenceConfig.apply(yaml: text, name: "proxy.yaml", to: &copy)
            return .success(copy)
        } catch {
            return .failure(error)
        }
    }

    @Test("strings and mappings mix; a mapping's PIN is the room's; the list replaces the rooms set before")
    func stringsAndMappings() throws {
        let text = """
            log_level: info
            conferences:
              - "800"
              - "801:4321"
              - {name: "802", pin: "99*"}
              - name: lab-a
            conference_size: 10
            """
        var before = ConferenceSettings()
        _ = before.add("700:1")
        let settings = try Self.apply(text, to: before).get()
        #expect(settings.rooms == ["800", "801", "802", "lab-a"])
        #expect(settings.pins == ["801": "4321", "802": "99*"])
        #expect(try Self.apply("conferences: [\"800\", {name: 805}]\n").get().rooms == ["800", "805"], "flow style, a number as name")
    }

    @Test("no key, an empty key: the rooms stay")
    func absent() throws {
        var before = ConferenceSettings()
        _ = before.add("800")
        #expect(try Self.apply("log_level: info\n", to: before).get().rooms == ["800"])
        #expect(try Self.apply("conferences:\n", to: before).get().rooms == ["800"])
        #expect(try Self.apply("", to: before).get().rooms == ["800"])
    }

    @Test("a bad entry is one line with its line number", arguments: [
        ("conferences:\n  - \"800\"\n  - \"8 00\"\n", "proxy.yaml line 3: invalid room '8 00' in conferences"),
        ("conferences:\n  - {name: \"801\", pin: \"12#\"}\n", "proxy.yaml line 2: invalid pin '12#' of room 801 in conferences"),
        ("conferences:\n  - {pin: \"1234\"}\n", "proxy.yaml line 2: a room in conferences needs a name"),
        ("conferences:\n  - {name: \"801\", code: \"1\"}\n", "proxy.yaml line 2: unknown key 'code' in a room of conferences (name, pin)"),
        ("conferences:\n  - {name: \"a b\"}\n", "proxy.yaml line 2: invalid room name 'a b' in conferences"),
        ("conferences:\n  - [\"800\"]\n", "proxy.yaml line 2: a room in conferences is"),
        ("conferences: \"800\"\n", "proxy.yaml line 1: 'conferences' takes a list of rooms"),
        ("conferences:\n  - {name: [\"801\"]}\n", "proxy.yaml line 2: 'name' of a room in conferences takes a single value"),
    ])
    func badEntry(text: String, expected: String) {
        guard case .failure(let error) = Self.apply(text) else {
            Issue.record("accepted: \(text)")
            return
        }
        #expect(error.description.hasPrefix(expected), "\(error)")
        #expect(!error.description.contains("\n"))
    }

    @Test("the generic reader gets the file without conferences, other keys as written")
    func withoutConferences() throws {
        let text = "log_level: info\nconferences:\n  - {name: \"801\", pin: \"4321\"}\nconference_size: 10\nmedia:\n  rtp_ports: 20000-20999\n"
        let rest = try #require(ConferenceConfig.withoutConferences(yaml: text))
        #expect(!rest.contains("conferences") && !rest.contains("4321"), "\(rest)")
        #expect(rest.contains("log_level: info") && rest.contains("conference_size: 10"), "\(rest)")
        #expect(rest.contains("media:\n  rtp_ports: 20000-20999"), "\(rest)")
        try ConfigSchema.check(rest, name: "proxy.yaml")
        #expect(ConferenceConfig.withoutConferences(yaml: "log_level: info\n") == nil, "read as written when there is no such key")
    }

    @Test("the schema leaves conferences to its reader and knows conference_participants")
    func schema() throws {
        try ConfigSchema.check("conferences:\n  - {name: \"801\", pin: \"4321\"}\nconference_participants: 50\n", name: "proxy.yaml")
        #expect(throws: ConfigurationError.self) { try ConfigSchema.check("conference_participants: many\n", name: "proxy.yaml") }
    }
}
