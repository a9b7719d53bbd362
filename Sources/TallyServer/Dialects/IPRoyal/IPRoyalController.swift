import Hummingbird
import NIOCore
import TallyCore
import TallyReports
import TallyStore

/// `GET /v1/residential/data-usage-report`: IPRoyal's data usage report as CSV, per local date,
/// hostname and port, translated onto the one report engine (spec/dialects.md §1).
struct IPRoyalController {
    let runtime: TallyRuntime

    func addRoutes(to router: Router<TallyContext>) {
        let group = router.group("v1/residential").add(middleware: DialectErrorMiddleware<IPRoyalError>(dialect: "iproyal"))
        group.get("data-usage-report") { request, context in try await dataUsageReport(request, context) }
        group.notFoundBelow("")
    }

    func dataUsageReport(_ request: Request, _ context: TallyContext) async throws -> Response {
        let started = ContinuousClock.now
        guard let caller = runtime.bearerCaller(request) else { throw IPRoyalError.unauthenticated }
        let decision = runtime.admit(caller, face: "iproyal")
        guard decision.admitted else { throw IPRoyalError.tooManyRequests(decision) }
        let report = try Report.parse(QueryParameters(request), byteBase: runtime.config.byteBase)
        guard let account = runtime.account(report.hash, as: .hash, within: caller.account) else { throw IPRoyalError.userNotFound }
        let query = report.query(subtreeOf: account.id, runtime: runtime)
        do {
            _ = try runtime.engine.describe(query)
        } catch {
            // Only the range can fail here (a date of a zone's local mean time, or a range beyond the engine's).
            throw IPRoyalError.validation(error.problems.map { (Report.parameter(of: $0.parameter), $0.message) })
        }
        let engine = runtime.engine
        let logger = context.logger
        let metrics = runtime.metrics
        let body = ResponseBody { writer in
            var w = writer
            do {
                try await w.write(ByteBuffer(string: Report.header))
                var wroteRows = false
                _ = try await engine.stream(query) { rows in
                    wroteRows = true
                    try await w.write(ByteBuffer(string: report.lines(rows)))
                    return true
                }
                if wroteRows {
                    var total = query
                    total.bucket = .total
                    total.groupBy = []
                    let sums = try await engine.run(total).rows.first?.values ?? [0, 0]
                    try await w.write(ByteBuffer(string: report.totalLine(bytes: sums[0], requests: sums[1])))
                }
            } catch {
                // Headers are already sent: end the body early and log; the client sees a short read.
                logger.error("iproyal csv failed while streaming", metadata: ["error": "\(error)"])
            }
            metrics.reportLatency.record(ContinuousClock.now - started)
            try await w.finish(nil)
        }
        return Response(status: .ok, headers: [
            .contentType: "text/csv",
            .contentDisposition: "attachment; filename=\"data-usage-\(report.hash)-\(report.dateFrom)-\(report.dateTo).csv\"",
        ], body: body)
    }

    /// One report request, parsed with every problem reported at once (422).
    struct Report {
        static let header = "date,hostname,port,data,measurement unit,requests count\n"
        static let units = ["B", "KB", "MB", "GB"]
        static let maxDecimals = 12

        var hash: String
        var dateFrom: CivilDate
        var dateTo: CivilDate
        /// The unit's name and its power of the byte base (B = 0 ... GB = 3).
        var unit: String
        var unitPower: Int
        var decimals: Int
        var zone: Zone
        /// `units.byte_base`: KB = base, MB = base², GB = base³.
        var byteBase: Int64

        static func parse(_ p: QueryParameters, byteBase: Int64) throws(IPRoyalError) -> Report {
            var problems: [(parameter: String, message: String)] = []
            /// A parameter's value; an empty one counts as missing, as it does in IPRoyal's (Laravel) validation.
            func value(_ name: String) -> String? {
                guard let v = p.first(name), !v.isEmpty else {
                    problems.append((name, "The \(label(name)) field is required."))
                    return nil
                }
                return v
            }
            func date(_ name: String) -> CivilDate? {
                guard let v = value(name) else { return nil }
                guard let d = CivilDate(iso: v) else {
                    problems.append((name, "The \(label(name)) field must match the format Y-m-d."))
                    return nil
                }
                return d
            }
            let hash = value("hash")
            let from = date("date_from")
            let to = date("date_to")
            if let from, let to, to < from {
                problems.append(("date_to", "The date to field must be a date after or equal to date from."))
            }
            var unitPower = 0
            let unit = value("measurement_unit")
            if let unit {
                if let i = units.firstIndex(of: unit) { unitPower = i } else { problems.append(("measurement_unit", "The selected measurement unit is invalid.")) }
            }
            var decimals = 0
            if let r = value("rounding_decimal") {
                if let n = Int(r), r.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == "-") }) {
                    if n < 0 { problems.append(("rounding_decimal", "The rounding decimal field must be at least 0.")) }
                    else if n > maxDecimals { problems.append(("rounding_decimal", "The rounding decimal field must not be greater than \(maxDecimals).")) }
                    else { decimals = n }
                } else {
                    problems.append(("rounding_decimal", "The rounding decimal field must be an integer."))
                }
            }
            var zone = Zone.utc
            if let tz = p.first("time_zone") {
                if let z = Zone(named: tz) { zone = z } else { problems.append(("time_zone", "The time zone field must be a valid timezone.")) }
            }
            guard problems.isEmpty, let hash, let from, let to, let unit else { throw IPRoyalError.validation(problems) }
            return Report(hash: hash, dateFrom: from, dateTo: to, unit: unit, unitPower: unitPower, decimals: decimals, zone: zone, byteBase: byteBase)
        }

        /// `date_from` → `date from`, as Laravel names fields in its messages.
        static func label(_ parameter: String) -> String { parameter.replacingOccurrences(of: "_", with: " ") }

        /// The request parameter an engine problem is about.
        static func parameter(of engineParameter: String) -> String {
            switch engineParameter {
            case "from": return "date_from"
            case "to": return "date_to"
            default: return engineParameter
            }
        }

        /// Daily buckets in the zone from the first instant of `date_from` to the end of `date_to`,
        /// bytes and requests per hostname and port.
        func query(subtreeOf account: String, runtime: TallyRuntime) -> ReportQuery {
            var q = ProxyUsage.query(subtreeOf: account, runtime: runtime, from: zone.startOfDay(dateFrom), to: zone.startOfDay(dateTo.adding(days: 1)))
            q.bucket = .day
            q.zone = zone
            q.groupBy = [ProxyUsage.hostname, ProxyUsage.port]
            q.metrics = [ProxyUsage.bytes, ProxyUsage.requests]
            return q
        }

        /// `data` in the unit with exactly `decimals` decimals, rounded half-up from the exact byte count.
        func data(_ bytes: Int64) -> String {
            var divisor: Int64 = 1
            for _ in 0..<unitPower { divisor *= byteBase }
            return Exact.render(bytes, scale: 0, divisor: divisor, decimals: decimals)
        }

        /// CSV lines of rows (whole days: the engine hands out a day's rows together),
        /// ordered by date, hostname, then port (numerically where both ports are numbers).
        func lines(_ rows: [ReportRow]) -> String {
            var out = ""
            for row in rows.sorted(by: Report.order) {
                let date = CivilDate(dayNumber: floorDiv(row.start + zone.offset(at: row.start), 86400))
                out += date.description + "," + CSV.cell(row.groups[0]) + "," + CSV.cell(row.groups[1]) + "," + data(row.values[0]) + "," + unit + "," + String(row.values[1]) + "\n"
            }
            return out
        }

        static func order(_ a: ReportRow, _ b: ReportRow) -> Bool {
            if a.start != b.start { return a.start < b.start }
            if a.groups[0] != b.groups[0] { return a.groups[0] < b.groups[0] }
            if let x = Int(a.groups[1]), let y = Int(b.groups[1]), x != y { return x < y }
            return a.groups[1] < b.groups[1]
        }

        /// `,,total:,<exact total converted and rounded once>,,<requests>`.
        func totalLine(bytes: Int64, requests: Int64) -> String {
            ",,total:," + data(bytes) + ",," + String(requests) + "\n"
        }
    }
}
