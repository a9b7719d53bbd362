import Foundation
import HummingbirdTesting
import NIOCore
import TallyCore

/// One raw messaging event of a dialect test, and the oracle the tests compute expectations from.
struct RawMessage {
    var time: Int64
    var account: String
    var direction: String
    var country: String
    var type: String
    /// Cost in millionths (the catalog's scale 6), kept as an integer so the oracle needs no decimals.
    var costMicros: Int64
    var parts: Int64

    /// The native NDJSON line ingesting this event; the cost is written as decimal text.
    var ndjson: String {
        "{\"time\":\"\(RFC3339.format(time, offset: 0))\",\"account\":\"\(account)\",\"product\":\"messaging\",\"dimensions\":{\"direction\":\"\(direction)\",\"currency\":\"USD\",\"message_type\":\"\(type)\",\"country_code\":\"\(country)\"},\"metrics\":{\"cost\":\"\(RawMessage.decimal(costMicros))\",\"parts\":\(parts),\"count\":1}}"
    }

    /// `micros / 10^6` as decimal text with six places, by integer arithmetic only.
    static func decimal(_ micros: Int64) -> String {
        let frac = String(micros % 1_000_000)
        return "\(micros / 1_000_000)." + String(repeating: "0", count: 6 - frac.count) + frac
    }

    func value(of dimension: String) -> String {
        switch dimension {
        case "direction": return direction
        case "country_code": return country
        case "message_type": return type
        case "currency": return "USD"
        case "date": return CivilDate(dayNumber: floorDiv(time, 86400)).description
        case "date_time": return RFC3339.format(floorDiv(time, 3600) * 3600, offset: 0)
        default: return "?"
        }
    }

    /// Seeded messages spread over `days` days from `start` across the given accounts.
    static func generate(seed: UInt64, count: Int, start: Int64, days: Int64, accounts: [String]) -> [RawMessage] {
        var r = SeededRandom(seed: seed)
        return (0..<count).map { _ in
            RawMessage(time: start + r.below(days * 86400), account: r.pick(accounts), direction: r.pick(["inbound", "outbound"]),
                       country: r.pick(["US", "DE", "NL"]), type: r.pick(["SMS", "MMS"]), costMicros: r.below(Int64(90_000)), parts: 1 + r.below(Int64(4)))
        }
    }
}

/// Expected Telnyx rows: sums per (user_id?, dimension values) as `[column: text]`, metrics as integer text.
func telnyxOracle(_ events: [RawMessage], accounts: Set<String>, from: Int64, to: Int64, dimensions: [String],
                  filters: [String: Set<String>] = [:], perAccount: Bool) -> [[String: String]] {
    var sums: [[String]: (cost: Int64, parts: Int64)] = [:]
    for e in events where accounts.contains(e.account) && e.time >= from && e.time < to
        && filters.allSatisfy({ $0.value.contains(e.value(of: $0.key)) }) {
        let key = (perAccount ? [e.account] : []) + dimensions.map { e.value(of: $0) }
        sums[key, default: (0, 0)].cost += e.costMicros
        sums[key, default: (0, 0)].parts += e.parts
    }
    return sums.map { key, v in
        var row: [String: String] = ["product": "messaging", "cost": RawMessage.decimal(v.cost), "parts": String(v.parts)]
        var k = key[...]
        if perAccount { row["user_id"] = k.removeFirst() }
        for (d, value) in zip(dimensions, k) { row[d] = value }
        return row
    }
}

/// Ingests native NDJSON lines with the service token, in batches.
func ingest(_ lines: [String], _ client: some TestClientProtocol) async throws {
    var i = 0
    while i < lines.count {
        let chunk = lines[i..<min(lines.count, i + 5000)].joined(separator: "\n")
        let r = try await client.execute(uri: "/v1/events", method: .post, headers: bearer("ingest-secret"), body: ByteBuffer(string: chunk))
        precondition(r.status == .ok, "ingest failed: \(r.status) \(String(buffer: r.body))")
        i += 5000
    }
}

extension JSONValue {
    /// An object's members as text (strings as they are, numbers as their exact JSON text).
    var textFields: [String: String] {
        guard case .object(let pairs) = self else { return [:] }
        var out: [String: String] = [:]
        for (k, v) in pairs {
            switch v {
            case .string(let s), .number(let s): out[k] = s
            default: out[k] = v.serialized
            }
        }
        return out
    }

    var items: [JSONValue] {
        if case .array(let a) = self { return a }
        return []
    }

    var int: Int? {
        if case .number(let n) = self { return Int(n) }
        return nil
    }

    var string: String? {
        if case .string(let s) = self { return s }
        return nil
    }
}

/// Decimal text with its trailing fraction zeros removed (`1.500000` → `1.5`, `2.000000` → `2`).
func naturalDecimal(_ s: String) -> String {
    guard s.contains(".") else { return s }
    var t = s
    while t.hasSuffix("0") { t.removeLast() }
    if t.hasSuffix(".") { t.removeLast() }
    return t
}
