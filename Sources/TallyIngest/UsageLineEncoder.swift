import TallyCore

/// The line formats usage can be written in: what `tally ingest` and a proxy's access log read.
public enum UsageLineFormat: String, Sendable, CaseIterable {
    /// Native NDJSON, one `POST /v1/events` event a line.
    case native
    /// CloudEvents NDJSON as OpenMeter takes them: `type` the product, `subject` the account.
    case cloudevents
    /// Squid's built-in `squid` access-log format; the account is the logged user name.
    case squid
    /// CSV with a header line: `time,account,product,id,source`, dimensions, metrics.
    case csv
}

/// Writes usage events as lines of one format, straight into a byte buffer (fast enough to
/// write benchmark data at millions of events a second).
public struct UsageLineEncoder: Sendable {
    public let format: UsageLineFormat
    let products: [ProductSpec]
    /// Per product, each dimension's and metric's `"name":` as JSON bytes, made once.
    let jsonKeys: [(dimensions: [[UInt8]], metrics: [[UInt8]])]
    let squidFields: (host: Int, port: Int, status: Int, bytes: Int)?

    /// Fails when the format cannot hold the products: CSV has one header, so one product;
    /// Squid needs `hostname`, `port` and `status` dimensions and a `bytes` metric.
    public init(format: UsageLineFormat, products: [ProductSpec]) throws(UsageLineEncoderError) {
        self.format = format
        self.products = products
        func key(_ name: String) -> [UInt8] { Array((JSONValue.quote(name) + ":").utf8) }
        jsonKeys = products.map { p in (p.dimensions.map(key), p.metrics.map { key($0.name) }) }
        if format == .csv && products.count != 1 {
            throw UsageLineEncoderError("CSV holds one product per file (its header names the columns); got \(products.count)")
        }
        if format == .squid {
            guard products.count == 1, let p = products.first, let h = p.dimensionIndex("hostname"), let port = p.dimensionIndex("port"),
                  let s = p.dimensionIndex("status"), let b = p.metricIndex("bytes") else {
                throw UsageLineEncoderError("Squid logs hold one proxy product with hostname, port and status dimensions and a bytes metric")
            }
            squidFields = (h, port, s, b)
        } else {
            squidFields = nil
        }
    }

    /// The line that starts a file: the CSV header, nothing for the other formats.
    public func header() -> [UInt8] {
        guard format == .csv, let p = products.first else { return [] }
        let names = ["time", "account", "product", "id", "source"] + p.dimensions + p.metrics.map(\.name)
        return Array((names.map(CSV.cell).joined(separator: ",") + "\n").utf8)
    }

    /// Appends `event` as one line (with its newline). The event's product must be one the encoder was made with.
    public func append(_ e: UsageEvent, to out: inout [UInt8]) {
        guard let i = products.firstIndex(where: { $0.name == e.product }) else { preconditionFailure("UsageLineEncoder: unknown product \(e.product)") }
        let p = products[i]
        switch format {
        case .native: native(e, p, jsonKeys[i], &out)
        case .cloudevents: cloudEvent(e, p, jsonKeys[i], &out)
        case .squid: squid(e, &out)
        case .csv: csv(e, p, &out)
        }
        out.append(0x0A)
    }

    private func native(_ e: UsageEvent, _ p: ProductSpec, _ keys: (dimensions: [[UInt8]], metrics: [[UInt8]]), _ out: inout [UInt8]) {
        out.append(0x7B)
        if let id = e.id { Bytes.field("\"id\":", id, &out) }
        if let source = e.source { Bytes.field("\"source\":", source, &out) }
        out.append(contentsOf: "\"time\":\"".utf8)
        Bytes.time(e.time, &out)
        out.append(contentsOf: "\",".utf8)
        Bytes.field("\"account\":", e.account, &out)
        Bytes.field("\"product\":", e.product, &out)
        out.append(contentsOf: "\"dimensions\":{".utf8)
        dimensions(e, keys.dimensions, &out)
        out.removeLast()
        out.append(contentsOf: "},\"metrics\":{".utf8)
        metrics(e, p, keys.metrics, &out)
        out.removeLast()
        out.append(contentsOf: "}}".utf8)
    }

    private func cloudEvent(_ e: UsageEvent, _ p: ProductSpec, _ keys: (dimensions: [[UInt8]], metrics: [[UInt8]]), _ out: inout [UInt8]) {
        out.append(contentsOf: "{\"specversion\":\"1.0\",".utf8)
        if let id = e.id { Bytes.field("\"id\":", id, &out) }
        Bytes.field("\"source\":", e.source ?? "tally-generate", &out)
        Bytes.field("\"type\":", e.product, &out)
        Bytes.field("\"subject\":", e.account, &out)
        out.append(contentsOf: "\"time\":\"".utf8)
        Bytes.time(e.time, &out)
        out.append(contentsOf: "\",\"data\":{".utf8)
        dimensions(e, keys.dimensions, &out)
        metrics(e, p, keys.metrics, &out)
        out.removeLast()
        out.append(contentsOf: "}}".utf8)
    }

    /// `%ts.%03tu %6tr %>a %Ss/%03>Hs %<st %rm %ru %[un %Sh/%<a %mt`: port 80 as a plain GET,
    /// any other port as a CONNECT tunnel. Milliseconds and elapsed time derive from the size.
    private func squid(_ e: UsageEvent, _ out: inout [UInt8]) {
        guard let f = squidFields else { return }
        let bytes = e.metrics[f.bytes]
        let host = e.dimensions[f.host], port = e.dimensions[f.port], status = e.dimensions[f.status]
        Bytes.int(e.time, &out)
        out.append(0x2E)
        Bytes.padded(bytes % 1000, width: 3, zero: true, &out)
        out.append(0x20)
        Bytes.padded(3 + bytes / 40_000, width: 6, zero: false, &out)
        let plain = port == "80"
        out.append(contentsOf: " 10.0.0.1 ".utf8)
        out.append(contentsOf: (plain ? "TCP_MISS/" : "TCP_TUNNEL/").utf8)
        out.append(contentsOf: status.utf8)
        out.append(0x20)
        Bytes.int(bytes, &out)
        if plain {
            out.append(contentsOf: " GET http://".utf8)
            out.append(contentsOf: host.utf8)
            out.append(contentsOf: "/ ".utf8)
        } else {
            out.append(contentsOf: " CONNECT ".utf8)
            out.append(contentsOf: host.utf8)
            out.append(0x3A)
            out.append(contentsOf: port.utf8)
            out.append(0x20)
        }
        Bytes.squidUser(e.account, &out)
        out.append(contentsOf: " HIER_DIRECT/203.0.113.7 ".utf8)
        out.append(contentsOf: (plain ? "text/html" : "-").utf8)
    }

    private func csv(_ e: UsageEvent, _ p: ProductSpec, _ out: inout [UInt8]) {
        Bytes.time(e.time, &out)
        for text in [e.account, e.product, e.id ?? "", e.source ?? ""] {
            Bytes.csvCell(text, &out)
        }
        for text in e.dimensions {
            Bytes.csvCell(text, &out)
        }
        for (i, m) in p.metrics.enumerated() {
            out.append(0x2C)
            Bytes.metric(e.metrics[i], m.kind, &out)
        }
    }

    /// `"name":"value",` for every dimension.
    private func dimensions(_ e: UsageEvent, _ keys: [[UInt8]], _ out: inout [UInt8]) {
        for (i, key) in keys.enumerated() where i < e.dimensions.count {
            Bytes.field(key, e.dimensions[i], &out)
        }
    }

    /// `"name":value,` for every metric; decimals as exact JSON numbers (`0.004123`).
    private func metrics(_ e: UsageEvent, _ p: ProductSpec, _ keys: [[UInt8]], _ out: inout [UInt8]) {
        for (i, m) in p.metrics.enumerated() where i < e.metrics.count {
            out.append(contentsOf: keys[i])
            Bytes.metric(e.metrics[i], m.kind, &out)
            out.append(0x2C)
        }
    }
}

public struct UsageLineEncoderError: Error, Sendable, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}

/// Byte-level writers for the encoder.
private enum Bytes {
    /// `key` (already `"name":`), the value as a JSON string, and `,`.
    static func field(_ key: StaticString, _ value: String, _ out: inout [UInt8]) {
        out.append(contentsOf: UnsafeBufferPointer(start: key.utf8Start, count: key.utf8CodeUnitCount))
        string(value, &out)
        out.append(0x2C)
    }

    static func field(_ key: [UInt8], _ value: String, _ out: inout [UInt8]) {
        out.append(contentsOf: key)
        string(value, &out)
        out.append(0x2C)
    }

    /// `,` and a CSV cell, quoted where needed.
    static func csvCell(_ s: String, _ out: inout [UInt8]) {
        out.append(0x2C)
        if s.utf8.contains(where: { $0 == 0x2C || $0 == 0x22 || $0 == 0x0A || $0 == 0x0D }) {
            out.append(contentsOf: CSV.cell(s).utf8)
        } else {
            out.append(contentsOf: s.utf8)
        }
    }

    /// A JSON string, escaped where needed.
    static func string(_ s: String, _ out: inout [UInt8]) {
        out.append(0x22)
        if s.utf8.allSatisfy({ $0 >= 0x20 && $0 != 0x22 && $0 != 0x5C }) {
            out.append(contentsOf: s.utf8)
        } else {
            let quoted = JSONValue.quote(s)
            out.append(contentsOf: quoted.utf8.dropFirst().dropLast())
        }
        out.append(0x22)
    }

    static func int(_ v: Int64, _ out: inout [UInt8]) {
        if v < 0 { out.append(0x2D) }
        var m = v.magnitude
        var digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                     UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
            (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var n = 0
        withUnsafeMutableBytes(of: &digits) { d in
            repeat {
                d[n] = UInt8(48 + m % 10)
                m /= 10
                n += 1
            } while m > 0
            while n > 0 {
                n -= 1
                out.append(d[n])
            }
        }
    }

    /// `v` right-aligned in `width` columns, padded with zeros or spaces.
    static func padded(_ v: Int64, width: Int, zero: Bool, _ out: inout [UInt8]) {
        var digits = 1, x = v / 10
        while x > 0 { digits += 1; x /= 10 }
        for _ in digits..<max(digits, width) { out.append(zero ? 0x30 : 0x20) }
        int(v, &out)
    }

    static func metric(_ v: Int64, _ kind: MetricKind, _ out: inout [UInt8]) {
        if kind.scale == 0 { int(v, &out) } else { out.append(contentsOf: Exact.renderNatural(v, scale: kind.scale).utf8) }
    }

    /// `YYYY-MM-DDTHH:MM:SSZ`.
    static func time(_ t: Int64, _ out: inout [UInt8]) {
        let date = CivilDate(dayNumber: floorDiv(t, 86400))
        let s = floorMod(t, 86400)
        padded(Int64(date.year), width: 4, zero: true, &out)
        out.append(0x2D)
        padded(Int64(date.month), width: 2, zero: true, &out)
        out.append(0x2D)
        padded(Int64(date.day), width: 2, zero: true, &out)
        out.append(0x54)
        padded(s / 3600, width: 2, zero: true, &out)
        out.append(0x3A)
        padded(s / 60 % 60, width: 2, zero: true, &out)
        out.append(0x3A)
        padded(s % 60, width: 2, zero: true, &out)
        out.append(0x5A)
    }

    /// A Squid `%[un` user name: `-` for none, URL-style escapes for spaces and other unsafe bytes.
    static func squidUser(_ user: String, _ out: inout [UInt8]) {
        if user.isEmpty { out.append(0x2D); return }
        let hex = Array("0123456789ABCDEF".utf8)
        for b in user.utf8 {
            if b > 0x20 && b < 0x7F && b != 0x25 && b != 0x22 && b != 0x5C {
                out.append(b)
            } else {
                out.append(0x25)
                out.append(hex[Int(b >> 4)])
                out.append(hex[Int(b & 0x0F)])
            }
        }
    }
}
