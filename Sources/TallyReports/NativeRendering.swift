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
        var out = ""
        out.reserveCapacity(rows.count * 64)
        for row in rows {
            out += RFC3339.format(row.start, in: r.query.zone)
            out += ","
            out += RFC3339.format(row.end, in: r.query.zone)
            if r.query.groupByAccount { out += "," + CSV.cell(row.account ?? "") }
            for g in row.groups { out += "," + CSV.cell(g) }
            for (v, m) in zip(row.values, r.metrics) { out += "," + value(v, m) }
            out += "\n"
        }
        return out
    }

    /// A metric value at its full declared scale (`12`, `0.000800`).
    public static func value(_ v: Int64, _ m: MetricSpec) -> String {
        Exact.render(v, scale: m.kind.scale, decimals: m.kind.scale)
    }

    /// One JSON row object.
    public static func jsonRow(_ row: ReportRow, of r: ReportResult) -> String {
        var s = "{\"start\":\"" + RFC3339.format(row.start, in: r.query.zone) + "\",\"end\":\"" + RFC3339.format(row.end, in: r.query.zone) + "\""
        if r.query.groupByAccount { s += ",\"account\":" + JSONValue.quote(row.account ?? "") }
        if !r.query.groupBy.isEmpty {
            s += ",\"dimensions\":{" + zip(r.query.groupBy, row.groups).map { JSONValue.quote($0) + ":" + JSONValue.quote($1) }.joined(separator: ",") + "}"
        }
        // Decimals are JSON strings so no client parses them into a binary float by accident.
        s += ",\"metrics\":{" + zip(r.metrics, row.values).map { m, v in
            JSONValue.quote(m.name) + ":" + (m.kind.scale == 0 ? String(v) : JSONValue.quote(value(v, m)))
        }.joined(separator: ",") + "}}"
        return s
    }
}
