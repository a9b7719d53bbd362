import Foundation
import TallyCore
import TallyStore

/// A reason one input line (or CSV row, or array element) was refused; `line` counts from 1.
public struct EventProblem: Error, Sendable, Equatable, CustomStringConvertible {
    public var line: Int
    public var message: String
    public init(line: Int, message: String) {
        self.line = line
        self.message = message
    }
    public var description: String { "line \(line): \(message)" }
}

/// Events decoded from one input, and every problem found in it.
public struct DecodedBatch: Sendable {
    public var columns: EventColumns
    public var problems: [EventProblem] = []
    /// Lines read (events, problems and blank lines).
    public var lines = 0

    public init(metricStride: Int = ProductSpec.maxMetrics) {
        columns = EventColumns(metricStride: metricStride)
    }

    /// The events one by one (built on each call; prefer `columns`).
    public var events: [UsageEvent] { columns.events }
}

/// Turns loose event fields into a validated `UsageEvent`: resolves the account, checks the
/// product, its dimensions and metrics, parses exact values and the time.
public struct EventValidator: Sendable {
    public let catalog: ProductCatalog
    public let accounts: AccountDirectory
    public let maxFuture: Int64
    /// When set, only accounts in this account's subtree may be named (an account's own token).
    public let scope: String?
    public let now: Int64

    public static let maxValueBytes = 256

    public init(catalog: ProductCatalog, accounts: AccountDirectory, maxFuture: Int64, scope: String?, now: Int64) {
        self.catalog = catalog
        self.accounts = accounts
        self.maxFuture = maxFuture
        self.scope = scope
        self.now = now
    }

    /// Metric values kept per event in decoded columns: the most any product has.
    public var metricStride: Int { max(1, catalog.products.map(\.metrics.count).max() ?? 1) }

    /// Strict fields: an unknown dimension or metric is an error unless `ignoreUnknown`
    /// (CloudEvents `data`, which commonly carries more than is metered).
    public func event(id: String?, source: String?, time: String?, account: String?, product: String?,
                      dimensions: [(String, String)], metrics: [(String, String)], ignoreUnknown: Bool = false) -> Result<UsageEvent, EventRejection> {
        var problems: [String] = []
        if let id, id.isEmpty || id.utf8.count > EventValidator.maxValueBytes { problems.append("id must be 1 to \(EventValidator.maxValueBytes) bytes") }
        if let source, source.utf8.count > EventValidator.maxValueBytes { problems.append("source longer than \(EventValidator.maxValueBytes) bytes") }
        var instant: Int64 = 0
        if let time {
            if let t = RFC3339.parse(time) {
                instant = t
                if t > now + maxFuture { problems.append("time \(time) is too far in the future") }
                if t < 0 { problems.append("time \(time) is before 1970") }
            } else {
                problems.append("time \"\(time.prefix(40))\" is not an RFC 3339 instant (like 2026-01-01T10:00:00Z)")
            }
        } else {
            problems.append("time is required")
        }
        var accountID = ""
        if let account {
            if let a = accounts.resolve(account), scope.map({ accounts.isWithin(a.id, subtreeOf: $0) }) ?? true {
                accountID = a.id
            } else {
                problems.append("unknown account \"\(account.prefix(64))\"")
            }
        } else {
            problems.append("account is required")
        }
        guard let product else {
            problems.append("product is required")
            return .reject(problems.joined(separator: "; "))
        }
        guard let spec = catalog[product] else {
            problems.append("unknown product \"\(product.prefix(64))\" (expected one of: \(catalog.names.joined(separator: ", ")))")
            return .reject(problems.joined(separator: "; "))
        }
        var dims = [String](repeating: "", count: spec.dimensions.count)
        for (k, v) in dimensions {
            guard let i = spec.dimensionIndex(k) else {
                if !ignoreUnknown { problems.append("unknown dimension \"\(k.prefix(64))\" of \(product)") }
                continue
            }
            if v.utf8.count > EventValidator.maxValueBytes { problems.append("dimension \(k) longer than \(EventValidator.maxValueBytes) bytes") }
            dims[i] = v
        }
        var values = [Int64](repeating: 0, count: spec.metrics.count)
        for (k, text) in metrics {
            guard let i = spec.metricIndex(k) else {
                if !ignoreUnknown { problems.append("unknown metric \"\(k.prefix(64))\" of \(product)") }
                continue
            }
            switch Exact.parse(text, scale: spec.metrics[i].kind.scale) {
            case .success(let v): values[i] = v
            case .failure(let e): problems.append("metric \(k) \(e)")
            }
        }
        if !problems.isEmpty { return .reject(problems.joined(separator: "; ")) }
        return .success(UsageEvent(id: id, source: source, time: instant, account: accountID, product: product, dimensions: dims, metrics: values))
    }

    /// A native event object: `{"id","source","time","account","product","dimensions":{},"metrics":{}}`.
    public func native(_ v: JSONValue) -> Result<UsageEvent, EventRejection> {
        guard case .object(let fields) = v else { return .reject("expected an event object, got \(v.typeName)") }
        var id: String?, source: String?, time: String?, account: String?, product: String?
        var dims: [(String, String)] = []
        var mets: [(String, String)] = []
        var problems: [String] = []
        for (k, value) in fields {
            switch k {
            case "id": id = scalarText(value, "id", &problems)
            case "source": source = scalarText(value, "source", &problems)
            case "time": time = stringField(value, "time", &problems)
            case "account": account = stringField(value, "account", &problems)
            case "product": product = stringField(value, "product", &problems)
            case "dimensions": dims = stringMap(value, "dimensions", &problems)
            case "metrics": mets = numberMap(value, "metrics", &problems)
            default: problems.append("unknown field \"\(k.prefix(64))\"")
            }
        }
        if !problems.isEmpty { return .reject(problems.joined(separator: "; ")) }
        return event(id: id, source: source, time: time, account: account, product: product, dimensions: dims, metrics: mets)
    }

    /// A CloudEvent as OpenMeter takes it: `type` is the product, `subject` the account,
    /// `data` holds dimensions and metrics by name.
    public func cloudEvent(_ v: JSONValue) -> Result<UsageEvent, EventRejection> {
        guard case .object(let fields) = v else { return .reject("expected a CloudEvent object, got \(v.typeName)") }
        var problems: [String] = []
        var id: String?, source: String?, time: String?, subject: String?, type: String?
        var data: [(String, JSONValue)] = []
        for (k, value) in fields {
            switch k {
            case "id": id = scalarText(value, "id", &problems)
            case "source": source = stringField(value, "source", &problems)
            case "time": time = stringField(value, "time", &problems)
            case "subject": subject = stringField(value, "subject", &problems)
            case "type": type = stringField(value, "type", &problems)
            case "specversion":
                if case .string(let s) = value, s == "1.0" {} else { problems.append("specversion must be \"1.0\"") }
            case "data":
                if case .object(let d) = value { data = d } else if value != .null { problems.append("data must be an object") }
            default: break  // datacontenttype, dataschema and extensions are accepted and ignored
            }
        }
        if id == nil { problems.append("id is required") }
        if source == nil { problems.append("source is required") }
        if !problems.isEmpty { return .reject(problems.joined(separator: "; ")) }
        guard let type, let spec = catalog[type] else {
            return .reject(type.map { "unknown type \"\($0.prefix(64))\" (the type names a product: \(catalog.names.joined(separator: ", ")))" } ?? "type is required")
        }
        var dims: [(String, String)] = []
        var mets: [(String, String)] = []
        for (k, value) in data {
            if spec.metricIndex(k) != nil {
                switch value {
                case .number(let n): mets.append((k, n))
                case .string(let s): mets.append((k, s))
                default: problems.append("data.\(k) must be a number")
                }
            } else if spec.dimensionIndex(k) != nil {
                switch value {
                case .string(let s): dims.append((k, s))
                case .number(let n): dims.append((k, n))
                case .bool(let b): dims.append((k, b ? "true" : "false"))
                default: problems.append("data.\(k) must be a string")
                }
            }
        }
        if !problems.isEmpty { return .reject(problems.joined(separator: "; ")) }
        return event(id: id, source: source, time: time ?? RFC3339.format(now, offset: 0), account: subject, product: type,
                     dimensions: dims, metrics: mets, ignoreUnknown: true)
    }

    private func stringField(_ v: JSONValue, _ name: String, _ problems: inout [String]) -> String? {
        if case .string(let s) = v { return s }
        problems.append("\(name) must be a string, got \(v.typeName)")
        return nil
    }

    private func scalarText(_ v: JSONValue, _ name: String, _ problems: inout [String]) -> String? {
        switch v {
        case .string(let s): return s
        case .number(let n): return n
        default:
            problems.append("\(name) must be a string, got \(v.typeName)")
            return nil
        }
    }

    private func stringMap(_ v: JSONValue, _ name: String, _ problems: inout [String]) -> [(String, String)] {
        guard case .object(let pairs) = v else {
            problems.append("\(name) must be an object, got \(v.typeName)")
            return []
        }
        return pairs.compactMap { k, value in
            switch value {
            case .string(let s): return (k, s)
            case .number(let n): return (k, n)
            case .bool(let b): return (k, b ? "true" : "false")
            default:
                problems.append("\(name).\(k) must be a string, got \(value.typeName)")
                return nil
            }
        }
    }

    private func numberMap(_ v: JSONValue, _ name: String, _ problems: inout [String]) -> [(String, String)] {
        guard case .object(let pairs) = v else {
            problems.append("\(name) must be an object, got \(v.typeName)")
            return []
        }
        return pairs.compactMap { k, value in
            switch value {
            case .number(let n): return (k, n)
            case .string(let s): return (k, s)
            default:
                problems.append("\(name).\(k) must be a number, got \(value.typeName)")
                return nil
            }
        }
    }
}

/// Decoders of whole inputs into validated events (every problem collected, line numbered).
public enum EventDecoder {
    /// Native events: NDJSON (one object per line) or one JSON array of objects.
    ///
    /// Lines of the usual shape take `NativeFastPath`; the rest the general parser and validator.
    public static func native(_ body: UnsafeBufferPointer<UInt8>, validator: EventValidator, firstLine: Int = 1) -> DecodedBatch {
        var fast = NativeFastPath(validator: validator)
        return objects(body, validator: validator, firstLine: firstLine, fast: { fast.decode($0, from: $1, into: &$2) }, validate: validator.native)
    }

    /// CloudEvents: one event object, a JSON array of them (the batch content type), or NDJSON.
    public static func cloudEvents(_ body: UnsafeBufferPointer<UInt8>, validator: EventValidator, firstLine: Int = 1) -> DecodedBatch {
        objects(body, validator: validator, firstLine: firstLine, fast: { _, _, _ in nil }, validate: validator.cloudEvent)
    }

    static func objects(_ body: UnsafeBufferPointer<UInt8>, validator: EventValidator, firstLine: Int,
                        fast: (UnsafeBufferPointer<UInt8>, Int, inout EventColumns) -> Int?,
                        validate: (JSONValue) -> Result<UsageEvent, EventRejection>) -> DecodedBatch {
        var out = DecodedBatch(metricStride: validator.metricStride)
        out.columns.reserveCapacity(events: body.count / 128)  // an event line is rarely shorter
        var start = 0
        while start < body.count, [32, 9, 10, 13].contains(body[start]) { start += 1 }
        if start < body.count, body[start] == 91 {  // a JSON array: elements are numbered from 1
            switch Result(catching: { () throws(JSONError) -> JSONValue in try JSONParser.parse(body) }) {
            case .success(.array(let items)):
                for (i, item) in items.enumerated() { append(validate(item), line: i + 1, to: &out) }
            case .success: out.problems.append(EventProblem(line: 1, message: "expected an array of events"))
            case .failure(let e): out.problems.append(EventProblem(line: 1, message: e.description))
            }
            out.lines = 1
            return out
        }
        var line = firstLine
        var lineStart = 0
        let n = body.count
        while lineStart < n {
            if let end = fast(body, lineStart, &out.columns) {
                line += 1
                lineStart = end + 1
                continue
            }
            let i = memchr(body.baseAddress! + lineStart, 10, n - lineStart).map { UnsafePointer($0.assumingMemoryBound(to: UInt8.self)) - body.baseAddress! } ?? n
            var lineEnd = i
            if lineEnd > lineStart, body[lineEnd - 1] == 13 { lineEnd -= 1 }
            let slice = UnsafeBufferPointer(rebasing: body[lineStart..<lineEnd])
            if !slice.allSatisfy({ $0 == 32 || $0 == 9 }) {
                switch Result(catching: { () throws(JSONError) -> JSONValue in try JSONParser.parse(slice) }) {
                case .success(let v): append(validate(v), line: line, to: &out)
                case .failure(let e): out.problems.append(EventProblem(line: line, message: e.description))
                }
            }
            line += 1
            lineStart = i + 1
        }
        out.lines = line - firstLine
        return out
    }

    static func append(_ r: Result<UsageEvent, EventRejection>, line: Int, to out: inout DecodedBatch) {
        switch r {
        case .success(let e): out.columns.append(e)
        case .failure(let m): out.problems.append(EventProblem(line: line, message: m.message))
        }
    }

    /// CSV with a header naming its columns: `time`, `account`, `product`, optional `id` and
    /// `source`, and any dimension or metric names. Empty cells are absent values.
    public static func csv(_ text: String, validator: EventValidator) -> DecodedBatch {
        var out = DecodedBatch(metricStride: validator.metricStride)
        let records = CSV.parse(text)
        guard let header = records.first else { return out }
        let known: Set<String> = ["time", "account", "product", "id", "source"]
        let allDims = Set(validator.catalog.products.flatMap(\.dimensions))
        let allMetrics = Set(validator.catalog.products.flatMap { $0.metrics.map(\.name) })
        for (i, h) in header.enumerated() where !known.contains(h) && !allDims.contains(h) && !allMetrics.contains(h) {
            out.problems.append(EventProblem(line: 1, message: "column \(i + 1) \"\(h.prefix(64))\" is neither a field, a dimension nor a metric"))
        }
        if !out.problems.isEmpty { return out }
        for (r, row) in records.dropFirst().enumerated() {
            let line = r + 2
            if row.count == 1 && row[0].isEmpty { continue }
            guard row.count == header.count else {
                out.problems.append(EventProblem(line: line, message: "expected \(header.count) cells, got \(row.count)"))
                continue
            }
            var fields: [String: String] = [:]
            var dims: [(String, String)] = []
            var mets: [(String, String)] = []
            let product = row[header.firstIndex(of: "product") ?? 0]
            let spec = validator.catalog[product]
            for (h, v) in zip(header, row) where !v.isEmpty {
                if known.contains(h) { fields[h] = v; continue }
                if spec?.dimensionIndex(h) != nil { dims.append((h, v)) } else if spec?.metricIndex(h) != nil { mets.append((h, v)) } else if spec != nil {
                    out.problems.append(EventProblem(line: line, message: "\(h) is not a dimension or metric of \(product)"))
                }
            }
            append(validator.event(id: fields["id"], source: fields["source"], time: fields["time"], account: fields["account"],
                                   product: fields["product"], dimensions: dims, metrics: mets), line: line, to: &out)
        }
        return out
    }
}


/// Why one event was refused.
public struct EventRejection: Error, Sendable, Equatable {
    public var message: String
}

extension Result where Failure == EventRejection {
    static func reject(_ message: String) -> Self { .failure(EventRejection(message: message)) }
}
