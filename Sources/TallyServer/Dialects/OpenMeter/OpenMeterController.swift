import Hummingbird
import NIOCore
import TallyCore
import TallyReports
import TallyStore

/// `GET /api/v1/meters`, `/api/v1/meters/{slug}` and `/api/v1/meters/{slug}/query`: OpenMeter's
/// meters over the one report engine (spec/dialects.md §5). A meter is one product metric.
struct OpenMeterController {
    let runtime: TallyRuntime

    /// Most windows one query may produce (a missing `from` starts at 1970).
    static let maxWindows: Int64 = 100_000

    func addRoutes(to router: Router<TallyContext>) {
        let group = router.group("api/v1/meters").add(middleware: DialectErrorMiddleware<OpenMeterProblem>(dialect: "openmeter"))
        group.get { request, _ in try list(request) }
        group.get(":slug") { request, context in try meter(request, context) }
        group.get(":slug/query") { request, context in try await query(request, context) }
    }

    /// The authenticated and admitted caller: 401, or 429 with `Retry-After`.
    func caller(_ request: Request) throws -> Caller {
        guard let caller = runtime.bearerCaller(request) else { throw OpenMeterProblem.unauthorized }
        let decision = runtime.admit(caller, face: "openmeter")
        guard decision.admitted else {
            throw OpenMeterProblem(.tooManyRequests, "rate limit reached; retry in \(decision.retryAfter) s", headers: decision.refusalHeaders)
        }
        return caller
    }

    func spec(_ context: TallyContext) throws -> MeterSpec {
        let slug = context.parameters.get("slug") ?? ""
        guard let m = runtime.config.meters.first(where: { $0.slug == slug }) else {
            throw OpenMeterProblem(.notFound, "meter not found: \(slug.prefix(64))")
        }
        return m
    }

    func list(_ request: Request) throws -> Response {
        _ = try caller(request)
        return json("[" + runtime.config.meters.map(render).joined(separator: ",") + "]")
    }

    func meter(_ request: Request, _ context: TallyContext) throws -> Response {
        _ = try caller(request)
        return json(render(try spec(context)))
    }

    /// A meter as OpenMeter describes one: a SUM over `data.<metric>` of events of type `<product>`.
    func render(_ m: MeterSpec) -> String {
        let dims = runtime.config.products[m.product]?.dimensions ?? []
        let epoch = "\"1970-01-01T00:00:00Z\""
        return "{\"id\":" + JSONValue.quote(m.slug) + ",\"slug\":" + JSONValue.quote(m.slug) + ",\"name\":" + JSONValue.quote(m.slug)
            + ",\"description\":" + JSONValue.quote("\(m.metric) of \(m.product)") + ",\"aggregation\":\"SUM\",\"eventType\":" + JSONValue.quote(m.product)
            + ",\"valueProperty\":" + JSONValue.quote("$." + m.metric) + ",\"groupBy\":{" + dims.map { JSONValue.quote($0) + ":" + JSONValue.quote("$." + $0) }.joined(separator: ",")
            + "},\"windowSize\":\"MINUTE\",\"createdAt\":" + epoch + ",\"updatedAt\":" + epoch + "}"
    }

    func json(_ body: String) -> Response {
        Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: body)))
    }

    func query(_ request: Request, _ context: TallyContext) async throws -> Response {
        let started = ContinuousClock.now
        let caller = try caller(request)
        let meter = try spec(context)
        guard let product = runtime.config.products[meter.product], let metric = product.metrics.first(where: { $0.name == meter.metric }) else {
            throw OpenMeterProblem(.notFound, "meter not found: \(meter.slug)")
        }
        let q = try Query.parse(QueryParameters(request), meter: meter, product: product, caller: caller.account, runtime: runtime)
        defer { runtime.metrics.reportLatency.record(ContinuousClock.now - started) }
        let result: ReportResult
        do {
            result = try await runtime.engine.run(q.query)
        } catch let e as ReportError {
            throw OpenMeterProblem(.badRequest, e.description)
        } catch let e as StoreError where e.code == .overflow {
            throw OpenMeterProblem(.unprocessableContent, e.message)
        }
        if request.headers[.accept]?.contains("text/csv") == true {
            let body = q.csvHeader + result.rows.map { q.csvLine($0, metric) }.joined()
            return Response(status: .ok, headers: [.contentType: "text/csv", .contentDisposition: "attachment; filename=\(meter.slug).csv"],
                            body: .init(byteBuffer: ByteBuffer(string: body)))
        }
        let zone = q.query.zone
        var s = "{\"from\":\"" + RFC3339.format(q.query.from, in: zone) + "\",\"to\":\"" + RFC3339.format(q.query.to, in: zone) + "\""
        if let w = q.windowSize { s += ",\"windowSize\":\"" + w + "\"" }
        s += ",\"data\":[" + result.rows.map { q.jsonRow($0, metric) }.joined(separator: ",") + "]}"
        return json(s)
    }

    /// The parameters of one meter query.
    struct Query {
        var query: ReportQuery
        /// `MINUTE`, `HOUR`, `DAY` or `MONTH` as asked; nil means one window over the whole range.
        var windowSize: String?
        /// Rows are split by subject (`groupBy=subject`, or subjects named).
        var bySubject: Bool
        /// Account id → the subject name the caller used for it.
        var subjectNames: [String: String]

        /// Engine buckets per window size: the store keeps 15 minutes, the finest window it can give for MINUTE.
        static let windows: [String: (bucket: Bucket, nominalSeconds: Int64)] = [
            "MINUTE": (.quarterHour, 900), "HOUR": (.hour, 3600), "DAY": (.day, 86400), "MONTH": (.month, 28 * 86400),
        ]

        static func parse(_ params: QueryParameters, meter: MeterSpec, product: ProductSpec, caller: String, runtime: TallyRuntime) throws(OpenMeterProblem) -> Query {
            var problems: [String] = []
            var zone = Zone.utc
            if let tz = params.first("windowTimeZone") {
                if let z = Zone(named: tz) { zone = z } else { problems.append("invalid time zone: \(tz.prefix(64))") }
            }
            var bucket = Bucket.total
            var windowSize: String?
            var nominal: Int64 = 0
            if let w = params.first("windowSize") {
                if let known = windows[w.uppercased()] {
                    windowSize = w.uppercased()
                    bucket = known.bucket
                    nominal = known.nominalSeconds
                } else {
                    problems.append("invalid windowSize: \(w.prefix(32)) (expected MINUTE, HOUR, DAY or MONTH)")
                }
            }
            func instant(_ name: String) -> Int64? {
                guard let text = params.first(name) else { return nil }
                if let t = RFC3339.parse(text) { return t }
                problems.append("\(name) must be an RFC 3339 date-time, got \(text.prefix(64))")
                return nil
            }
            // `to` defaults to now (rounded up to the store's 15 minutes), `from` to the Unix epoch.
            let to = instant("to") ?? (floorDiv(runtime.now() + 899, 900) * 900)
            let from = instant("from") ?? 0
            if to <= from { problems.append("from must be before to") }
            for (name, t) in [("from", from), ("to", to)] where floorMod(t, 900) != 0 {
                problems.append("\(name) must fall on a quarter hour (usage is kept at 15-minute resolution)")
            }
            if nominal > 0, to > from, (to - from) / nominal > maxWindows {
                problems.append("the range holds more than \(maxWindows) windows; narrow from and to")
            }

            var groupBy: [String] = []
            var bySubject = false
            for g in params.all("groupBy") {
                if g == "subject" {
                    bySubject = true
                } else if product.dimensionIndex(g) == nil {
                    problems.append("invalid group by: \(g.prefix(64))")
                } else if !groupBy.contains(g) {
                    groupBy.append(g)
                }
            }
            var filters: [String: [String]] = [:]
            for (k, v) in params.bracketed("filterGroupBy") {
                if product.dimensionIndex(k) == nil { problems.append("invalid group by filter: \(k.prefix(64))") } else { filters[k, default: []].append(v) }
            }
            for unsupported in ["filterCustomerId", "advancedMeterGroupByFilters"] where params.contains(unsupported) {
                problems.append("\(unsupported) is not supported: filter by subject or filterGroupBy")
            }
            if !problems.isEmpty { throw OpenMeterProblem(.badRequest, "invalid query parameters: " + problems.joined(separator: "; ")) }

            // Subjects both filter and split; an unknown or foreign subject simply has no usage.
            var names: [String: String] = [:]
            var accounts: [String] = []
            let subjects = params.all("subject")
            if subjects.isEmpty {
                accounts = runtime.directory.subtree(of: caller)
            } else {
                bySubject = true
                for s in subjects {
                    guard let a = runtime.account(s, within: caller), names[a.id] == nil else { continue }
                    names[a.id] = s
                    accounts.append(a.id)
                }
            }
            var query = ReportQuery(accounts: accounts, product: meter.product, from: from, to: to)
            query.bucket = bucket
            query.zone = zone
            query.groupBy = groupBy
            query.groupByAccount = bySubject
            query.filters = filters
            query.metrics = [meter.metric]
            return Query(query: query, windowSize: windowSize, bySubject: bySubject, subjectNames: names)
        }

        func subject(_ row: ReportRow) -> String? {
            guard bySubject, let id = row.account else { return nil }
            return subjectNames[id] ?? id
        }

        func jsonRow(_ row: ReportRow, _ metric: MetricSpec) -> String {
            let z = query.zone
            return "{\"value\":" + DialectValue.jsonNumber(row.values[0], metric) + ",\"windowStart\":\"" + RFC3339.format(row.start, in: z)
                + "\",\"windowEnd\":\"" + RFC3339.format(row.end, in: z) + "\",\"subject\":" + (subject(row).map(JSONValue.quote) ?? "null")
                + ",\"groupBy\":{" + zip(query.groupBy, row.groups).map { JSONValue.quote($0) + ":" + JSONValue.quote($1) }.joined(separator: ",") + "}}"
        }

        /// OpenMeter's CSV: `window_start,window_end,subject,<groupBy>,value`.
        var csvHeader: String {
            (["window_start", "window_end", "subject"] + query.groupBy + ["value"]).map(CSV.cell).joined(separator: ",") + "\n"
        }

        /// One CSV line; the value with at least six decimals, as OpenMeter prints it, never rounded.
        func csvLine(_ row: ReportRow, _ metric: MetricSpec) -> String {
            let z = query.zone
            let cells = [RFC3339.format(row.start, in: z), RFC3339.format(row.end, in: z), subject(row) ?? ""] + row.groups
            return cells.map(CSV.cell).joined(separator: ",") + "," + Exact.render(row.values[0], scale: metric.kind.scale, decimals: max(6, metric.kind.scale)) + "\n"
        }
    }
}
