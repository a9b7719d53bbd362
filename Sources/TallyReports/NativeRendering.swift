import TallyCore

/// The native report shapes: CSV (`start,end,<groups>,<metrics>`) and JSON rows.
public enum NativeRendering {
    /// The CSV header; `account` comes first among the groups when accounts are kept apart.
    public static func csvHeader(_ r: ReportResult) -> String {
        var cols = ["start", "end"]
        if r.query.groupByAccount { cols.append("account") }
        cols += r.query.groupBy
        cols += r.metrics.map(\.name)
        return cols.map(CSV.cell).joined(separator: ",") + "\n"
    }

    /// CSV lines for rows; instants carry the zone's offset, values are exact.
    public static func csvRows(_ rows: [ReportRow], of r: ReportResult) -> String {
        var out: [UInt8] = []
        var renderer = NativeRenderer(r)
        renderer.appendCSV(rows, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// A metric value at its full declared scale (`12`, `0.000800`).
    public static func value(_ v: Int64, _ m: MetricSpec) -> String {
        Exact.render(v, scale: m.kind.scale, decimals: m.kind.scale)
    }

    /// One JSON row object.
    public static func jsonRow(_ row: ReportRow, of r: ReportResult) -> String {
        var out: [UInt8] = []
        var renderer = NativeRenderer(r)
        renderer.appendJSON(row, to: &out)
        return String(decoding: out, as: UTF8.self)
    }
}

/// Renders native rows as bytes, straight into a buffer.
///
/// Rows come bucket by bucket, so each bucket's start and end are formatted once (a zone's
/// offset lookup and date arithmetic per row cost more than the rest of the row), and the
/// constant parts of a JSON row (its dimension and metric names) are prepared once.
public struct NativeRenderer {
    let zone: Zone
    let groupByAccount: Bool
    let metrics: [MetricSpec]
    /// `"name":` for each group-by dimension, the first with `,"dimensions":{` before it.
    let dimensionKeys: [[UInt8]]
    /// `"name":` for each metric, the first with `,"metrics":{` before it.
    let metricKeys: [[UInt8]]
    private var instants: [(instant: Int64, text: [UInt8])] = [(Int64.min, []), (Int64.min, [])]

    public init(_ r: ReportResult) {
        zone = r.query.zone
        groupByAccount = r.query.groupByAccount
        metrics = r.metrics
        dimensionKeys = r.query.groupBy.enumerated().map { i, d in Array(((i == 0 ? ",\"dimensions\":{" : ",") + JSONValue.quote(d) + ":").utf8) }
        metricKeys = r.metrics.enumerated().map { i, m in Array(((i == 0 ? ",\"metrics\":{" : ",") + JSONValue.quote(m.name) + ":").utf8) }
    }

    /// Appends CSV lines for rows.
    public mutating func appendCSV(_ rows: [ReportRow], to out: inout [UInt8]) {
        out.reserveCapacity(out.count + rows.count * 64)
        for row in rows {
            appendInstant(row.start, slot: 0, to: &out)
            out.append(UInt8(ascii: ","))
            appendInstant(row.end, slot: 1, to: &out)
            if groupByAccount {
                out.append(UInt8(ascii: ","))
                NativeRenderer.appendCSVCell(row.account ?? "", to: &out)
            }
            for g in row.groups {
                out.append(UInt8(ascii: ","))
                NativeRenderer.appendCSVCell(g, to: &out)
            }
            for (v, m) in zip(row.values, metrics) {
                out.append(UInt8(ascii: ","))
                appendValue(v, m, to: &out)
            }
            out.append(UInt8(ascii: "\n"))
        }
    }

    /// Appends one JSON row object: integer metrics as numbers, decimals as strings (so no
    /// client parses them into a binary float by accident).
    public mutating func appendJSON(_ row: ReportRow, to out: inout [UInt8]) {
        out.append(contentsOf: "{\"start\":\"".utf8)
        appendInstant(row.start, slot: 0, to: &out)
        out.append(contentsOf: "\",\"end\":\"".utf8)
        appendInstant(row.end, slot: 1, to: &out)
        out.append(UInt8(ascii: "\""))
        if groupByAccount {
            out.append(contentsOf: ",\"account\":".utf8)
            NativeRenderer.appendJSONString(row.account ?? "", to: &out)
        }
        for (key, g) in zip(dimensionKeys, row.groups) {
            out.append(contentsOf: key)
            NativeRenderer.appendJSONString(g, to: &out)
        }
        if !dimensionKeys.isEmpty { out.append(UInt8(ascii: "}")) }
        if metricKeys.isEmpty { out.append(contentsOf: ",\"metrics\":{".utf8) }
        for ((key, m), v) in zip(zip(metricKeys, metrics), row.values) {
            out.append(contentsOf: key)
            if m.kind.scale == 0 {
                appendValue(v, m, to: &out)
            } else {
                out.append(UInt8(ascii: "\""))
                appendValue(v, m, to: &out)
                out.append(UInt8(ascii: "\""))
            }
        }
        out.append(contentsOf: "}}".utf8)
    }

    /// An instant in RFC 3339 with the zone's offset, formatted once while it repeats.
    private mutating func appendInstant(_ t: Int64, slot: Int, to out: inout [UInt8]) {
        if instants[slot].instant != t {
            let other = instants[1 - slot]
            instants[slot] = (t, other.instant == t ? other.text : Array(RFC3339.format(t, in: zone).utf8))
        }
        out.append(contentsOf: instants[slot].text)
    }

    private func appendValue(_ v: Int64, _ m: MetricSpec, to out: inout [UInt8]) {
        if m.kind.scale == 0 {
            NativeRenderer.appendInteger(v, to: &out)
        } else {
            out.append(contentsOf: NativeRendering.value(v, m).utf8)
        }
    }

    /// Decimal digits of `v`, as `String(v)` writes them.
    static func appendInteger(_ v: Int64, to out: inout [UInt8]) {
        if v < 0 { out.append(UInt8(ascii: "-")) }
        var m = v.magnitude
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)  // 20 digits at most, on the stack
        var n = 0
        withUnsafeMutableBytes(of: &digits) { d in
            repeat {
                d[n] = UInt8(truncatingIfNeeded: m % 10) + 48
                m /= 10
                n += 1
            } while m > 0
            for i in stride(from: n - 1, through: 0, by: -1) { out.append(d[i]) }
        }
    }

    /// A CSV cell: the bytes themselves unless quoting is needed (then `CSV.cell` decides).
    static func appendCSVCell(_ s: String, to out: inout [UInt8]) {
        if s.utf8.contains(where: { $0 == 44 || $0 == 34 || $0 == 10 || $0 == 13 }) {
            out.append(contentsOf: CSV.cell(s).utf8)
        } else {
            out.append(contentsOf: s.utf8)
        }
    }

    /// A JSON string: the bytes in quotes unless one needs escaping (then `JSONValue.quote`).
    static func appendJSONString(_ s: String, to out: inout [UInt8]) {
        if s.utf8.contains(where: { $0 < 0x20 || $0 == 34 || $0 == 92 }) {
            out.append(contentsOf: JSONValue.quote(s).utf8)
        } else {
            out.append(UInt8(ascii: "\""))
            out.append(contentsOf: s.utf8)
            out.append(UInt8(ascii: "\""))
        }
    }
}
