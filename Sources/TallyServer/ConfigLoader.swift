import Foundation
import TallyCore
import Yams

/// Reads a YAML configuration file into a validated `TallyConfig`.
public enum ConfigLoader {
    public static func load(path: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> TallyConfig {
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
            throw ConfigError(problems: [ConfigProblem(path, "cannot read the file")])
        }
        return try load(yaml: text, environment: environment)
    }

    public static func load(yaml: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> TallyConfig {
        let node: Node?
        do {
            node = try Yams.compose(yaml: yaml)
        } catch {
            throw ConfigError(problems: [ConfigProblem("(yaml)", "\(error)")])
        }
        return try TallyConfig.load(node.map(convert) ?? .map([]), environment: environment)
    }

    static func convert(_ node: Node) -> ConfigNode {
        switch node {
        case .scalar(let s):
            if s.style == .plain && ["~", "null", "Null", "NULL", ""].contains(s.string) { return .null }
            return .scalar(s.string)
        case .mapping(let m):
            return .map(m.map { (k, v) in (k.string ?? "", convert(v)) })
        case .sequence(let seq):
            return .list(seq.map(convert))
        }
    }
}
