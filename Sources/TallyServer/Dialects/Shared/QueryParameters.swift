import Foundation
import Hummingbird
import TallyCore

/// A request's query string as vendor clients send it: repeated keys, comma-joined lists and
/// bracketed keys (`filter[direction]`, `page%5Bsize%5D`), keys and values percent-decoded.
///
/// Hummingbird decodes values but not keys, and not `+`; vendor clients encode both.
struct QueryParameters: Sendable {
    /// Every `(key, value)` in request order.
    let pairs: [(key: String, value: String)]

    init(_ request: Request) { self.init(query: request.uri.query ?? "") }

    init(query: String) {
        pairs = query.split(separator: "&", omittingEmptySubsequences: true).map { item in
            let kv = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            return (QueryParameters.decode(kv[0]), kv.count > 1 ? QueryParameters.decode(kv[1]) : "")
        }
    }

    static func decode(_ s: Substring) -> String {
        let spaced = s.replacingOccurrences(of: "+", with: " ")
        return spaced.removingPercentEncoding ?? spaced
    }

    /// Every value given for `key`, in order.
    func all(_ key: String) -> [String] { pairs.filter { $0.key == key }.map(\.value) }

    /// The first value given for `key`.
    func first(_ key: String) -> String? { pairs.first { $0.key == key }?.value }

    func contains(_ key: String) -> Bool { pairs.contains { $0.key == key } }

    /// A list given comma-joined, repeated, or both (`metrics=a,b&metrics=c`); items trimmed, empty ones dropped.
    func list(_ key: String) -> [String] { all(key).flatMap(QueryParameters.split) }

    /// Items of a comma-joined value, trimmed, empty ones dropped.
    static func split(_ value: String) -> [String] {
        value.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    /// `(name, value)` of every `prefix[name]=value` pair, in order.
    func bracketed(_ prefix: String) -> [(name: String, value: String)] {
        pairs.compactMap { p in QueryParameters.bracketName(p.key, prefix: prefix).map { ($0, p.value) } }
    }

    /// `name` of a key spelled `prefix[name]`, or nil.
    static func bracketName(_ key: String, prefix: String) -> String? {
        guard key.count > prefix.count + 2, key.hasPrefix(prefix + "["), key.hasSuffix("]") else { return nil }
        return String(key.dropFirst(prefix.count + 1).dropLast())
    }
}

/// Metric values as exact JSON numbers (`12`, `0.0008`): never through a binary float.
enum DialectValue {
    static func jsonNumber(_ value: Int64, _ metric: MetricSpec) -> String {
        Exact.renderNatural(value, scale: metric.kind.scale)
    }
}
