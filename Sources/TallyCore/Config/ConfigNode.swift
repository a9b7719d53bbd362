/// A parsed configuration document, independent of its syntax (YAML is read in TallyServer).
public indirect enum ConfigNode: Sendable, Equatable {
    case scalar(String)
    case list([ConfigNode])
    case map([(String, ConfigNode)])
    case null

    public static func == (a: ConfigNode, b: ConfigNode) -> Bool {
        switch (a, b) {
        case (.scalar(let x), .scalar(let y)): return x == y
        case (.list(let x), .list(let y)): return x == y
        case (.map(let x), .map(let y)): return x.map(\.0) == y.map(\.0) && x.map(\.1) == y.map(\.1)
        case (.null, .null): return true
        default: return false
        }
    }

    public subscript(key: String) -> ConfigNode? {
        if case .map(let pairs) = self { return pairs.first { $0.0 == key }?.1 }
        return nil
    }
}

/// One problem found while loading a configuration, with the path of the offending key.
public struct ConfigProblem: Error, Sendable, Equatable, CustomStringConvertible {
    public var path: String
    public var message: String
    public init(_ path: String, _ message: String) {
        self.path = path
        self.message = message
    }
    public var description: String { "\(path): \(message)" }
}

/// Every problem of a configuration, reported at once.
public struct ConfigError: Error, Sendable, CustomStringConvertible {
    public var problems: [ConfigProblem]
    public init(problems: [ConfigProblem]) { self.problems = problems }
    public var description: String {
        "invalid configuration (\(problems.count) problem\(problems.count == 1 ? "" : "s")):\n" + problems.map { "  " + $0.description }.joined(separator: "\n")
    }
}

/// Reads typed values out of a `ConfigNode`, collecting problems instead of stopping at the first.
public final class ConfigReader {
    public private(set) var problems: [ConfigProblem] = []
    let environment: [String: String]

    public init(environment: [String: String]) { self.environment = environment }

    public func fail(_ path: String, _ message: String) { problems.append(ConfigProblem(path, message)) }

    /// A string scalar with `${ENV_VAR}` references replaced.
    public func string(_ node: ConfigNode?, _ path: String) -> String? {
        guard let node else { return nil }
        switch node {
        case .null: return nil
        case .scalar(let s): return expand(s, path)
        default:
            fail(path, "expected a string")
            return nil
        }
    }

    public func int(_ node: ConfigNode?, _ path: String, range: ClosedRange<Int>) -> Int? {
        guard let s = string(node, path) else { return nil }
        guard let v = Int(s), range.contains(v) else {
            fail(path, "expected an integer in \(range.lowerBound)...\(range.upperBound), got \"\(s)\"")
            return nil
        }
        return v
    }

    public func bool(_ node: ConfigNode?, _ path: String) -> Bool? {
        guard let s = string(node, path) else { return nil }
        switch s.lowercased() {
        case "true", "yes", "on": return true
        case "false", "no", "off": return false
        default:
            fail(path, "expected true or false, got \"\(s)\"")
            return nil
        }
    }

    /// A duration such as `90s`, `15m`, `24h`, `7d` (seconds).
    public func duration(_ node: ConfigNode?, _ path: String) -> Int64? {
        guard let s = string(node, path) else { return nil }
        if let d = ConfigReader.parseDuration(s) { return d }
        fail(path, "expected a duration like 90s, 15m, 24h or 7d, got \"\(s)\"")
        return nil
    }

    public static func parseDuration(_ s: String) -> Int64? {
        guard let unit = s.last, let n = Int64(s.dropLast()), n >= 0, n < 1_000_000_000 else { return nil }
        switch unit {
        case "s": return n
        case "m": return n * 60
        case "h": return n * 3600
        case "d": return n * 86400
        default: return nil
        }
    }

    public func strings(_ node: ConfigNode?, _ path: String) -> [String] {
        guard let node else { return [] }
        switch node {
        case .null: return []
        case .list(let items):
            return items.enumerated().compactMap { i, item in string(item, "\(path)[\(i)]") }
        case .scalar:
            return string(node, path).map { [$0] } ?? []
        default:
            fail(path, "expected a list of strings")
            return []
        }
    }

    public func map(_ node: ConfigNode?, _ path: String) -> [(String, ConfigNode)] {
        guard let node else { return [] }
        switch node {
        case .map(let pairs): return pairs
        case .null: return []
        default:
            fail(path, "expected a mapping")
            return []
        }
    }

    public func list(_ node: ConfigNode?, _ path: String) -> [ConfigNode] {
        guard let node else { return [] }
        switch node {
        case .list(let items): return items
        case .null: return []
        default:
            fail(path, "expected a list")
            return []
        }
    }

    /// Reports keys of a mapping that are not among `known` (typos must not pass silently).
    public func checkKeys(_ node: ConfigNode?, _ path: String, known: Set<String>) {
        guard case .map(let pairs)? = node else { return }
        for (k, _) in pairs where !known.contains(k) {
            fail(path.isEmpty ? k : "\(path).\(k)", "unknown key (expected one of: \(known.sorted().joined(separator: ", ")))")
        }
    }

    func expand(_ s: String, _ path: String) -> String {
        guard s.contains("${") else { return s }
        var out = ""
        var rest = Substring(s)
        while let open = rest.range(of: "${") {
            out += rest[..<open.lowerBound]
            guard let close = rest[open.upperBound...].firstIndex(of: "}") else {
                fail(path, "unterminated ${ in value")
                return s
            }
            let name = String(rest[open.upperBound..<close])
            if let value = environment[name] {
                out += value
            } else {
                fail(path, "environment variable \(name) is not set")
            }
            rest = rest[rest.index(after: close)...]
        }
        return out + rest
    }
}
