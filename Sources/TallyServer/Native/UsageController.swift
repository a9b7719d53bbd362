import Hummingbird
import NIOCore
import TallyCore
import TallyReports
import TallyStore

/// `GET /v1/usage`: the native report, JSON with cursor pagination or streamed CSV.
struct UsageController {
    let runtime: TallyRuntime

    static let defaultLimit = 1000
    static let maxLimit = 10_000

    func addRoutes(to group: RouterGroup<TallyContext>) {
        group.get("v1/usage") { request, context in try await usage(request, context) }
    }

    func usage(_ request: Request, _ context: TallyContext) async throws -> Response {
        let started = ContinuousClock.now
        guard let principal = runtime.principal(request) else { throw NativeError.unauthorized }
        guard case .account(let caller) = principal else {
            throw NativeError(.forbidden, "forbidden", "service tokens may only ingest; read with an account token")
        }
        try runtime.admitNative(request)
        let parsed = try UsageRequest.parse(request.uri.queryParameters, caller: caller, runtime: runtime)
        let query = parsed.query
        let csv = request.uri.queryParameters["format"].map { $0 == "csv" } ?? (request.headers[.accept]?.contains("text/csv") ?? false)
        let meta: ReportResult
        do {
            meta = try runtime.engine.describe(query)
        } catch {
            throw NativeError(.badRequest, "invalid_parameters", "the query has \(error.problems.count) problem(s)", details: error.problems.map { ($0.parameter, $0.message) })
        }
        defer { runtime.metrics.reportLatency.record(ContinuousClock.now - started) }
        if csv {
            let engine = runtime.engine
            let logger = context.logger
            let q = query
            let body = ResponseBody { writer in
                var w = writer
                var headerWritten = false
                var renderer = NativeRenderer(meta)
                do {
                    // One write per slice of buckets the engine reads (a bounded number of rows).
                    _ = try await engine.stream(q, plan: meta.plan) { rows in
                        var bytes = headerWritten ? [] : Array(NativeRendering.csvHeader(meta).utf8)
                        headerWritten = true
                        renderer.appendCSV(rows, to: &bytes)
                        try await w.write(ByteBuffer(bytes: bytes))
                        return true
                    }
                    if !headerWritten {
                        try await w.write(ByteBuffer(string: NativeRendering.csvHeader(meta)))
                    }
                } catch {
                    // Headers are already sent: end the body early and log; the client sees a short read.
                    logger.error("csv report failed while streaming", metadata: ["error": "\(error)"])
                }
                try await w.finish(nil)
            }
            return Response(status: .ok, headers: [.contentType: "text/csv; charset=utf-8"], body: body)
        }
        let result: ReportResult
        do {
            result = try await runtime.engine.run(query, cursor: parsed.cursor, limit: parsed.limit)
        } catch let e as StoreError {
            throw e.code == .overflow ? NativeError(.unprocessableContent, "overflow", e.message) : NativeError(.serviceUnavailable, "unavailable", "the store could not answer; retry later")
        }
        return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: render(result, parsed))))
    }

    func render(_ r: ReportResult, _ p: UsageRequest) -> [UInt8] {
        let q = r.query
        var s = "{\"account\":" + JSONValue.quote(p.account) + ",\"scope\":" + JSONValue.quote(p.scope) + ",\"product\":" + JSONValue.quote(q.product)
        s += ",\"from\":\"" + RFC3339.format(q.from, in: q.zone) + "\",\"to\":\"" + RFC3339.format(q.to, in: q.zone) + "\""
        s += ",\"bucket\":\"" + q.bucket.rawValue + "\",\"tz\":" + JSONValue.quote(q.zone.identifier) + ",\"week_start\":\"" + q.weekStart.name + "\""
        s += ",\"group_by\":[" + ((q.groupByAccount ? ["account"] : []) + q.groupBy).map(JSONValue.quote).joined(separator: ",") + "]"
        s += ",\"metrics\":[" + r.metrics.map { JSONValue.quote($0.name) }.joined(separator: ",") + "]"
        s += ",\"complete_until\":\"" + RFC3339.format(r.completeUntil, in: q.zone) + "\""
        s += ",\"plan\":{\"tier\":\"" + r.plan.tier.label + "\",\"buckets\":\(r.plan.boundaries.count - 1)}"
        s += ",\"rows\":["
        var out = Array(s.utf8)
        out.reserveCapacity(out.count + r.rows.count * 160)
        var renderer = NativeRenderer(r)
        for (i, row) in r.rows.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            renderer.appendJSON(row, to: &out)
        }
        out += "],\"next_cursor\":\(r.nextCursor.map { JSONValue.quote($0.token) } ?? "null")}".utf8
        return out
    }
}

/// The parameters of `GET /v1/usage`, parsed with every problem reported at once.
struct UsageRequest {
    var query: ReportQuery
    var account: String
    var scope: String
    var cursor: ReportCursor?
    var limit: Int

    static func parse(_ raw: Parameters, caller: String, runtime: TallyRuntime) throws -> UsageRequest {
        var problems: [(String, String)] = []
        // Repeated keys are joined with commas: lists accumulate, single values then fail to parse.
        var params: [String: String] = [:]
        // Keys are percent-decoded too (`filter%5Bhostname%5D` is `filter[hostname]`): Hummingbird decodes only values.
        for (k, v) in raw {
            let key = String(k).removingPercentEncoding ?? String(k)
            params[key] = params[key].map { $0 + "," + v } ?? String(v)
        }
        let known: Set<String> = ["account", "scope", "product", "from", "to", "bucket", "tz", "week_start", "group_by", "metrics", "fill", "sort", "limit", "cursor", "format"]
        for (k, _) in params where !known.contains(String(k)) && !(k.hasPrefix("filter[") && k.hasSuffix("]")) {
            problems.append((String(k), "unknown parameter"))
        }
        // Account: default the caller; any id, username or hash inside the caller's subtree.
        var accountID = caller
        if let a = params["account"] {
            if let acct = runtime.account(a, within: caller) {
                accountID = acct.id
            } else {
                throw NativeError(.notFound, "account_not_found", "no account \"\(a.prefix(64))\" is visible to this token")
            }
        }
        let scope = params["scope"] ?? "subtree"
        if scope != "subtree" && scope != "node" { problems.append(("scope", "expected subtree or node")) }
        let accounts = scope == "node" ? [accountID] : runtime.directory.subtree(of: accountID)

        let catalog = runtime.config.products
        let product = params["product"] ?? (catalog.products.count == 1 ? catalog.products[0].name : "")
        if product.isEmpty { problems.append(("product", "required (one of: \(catalog.names.joined(separator: ", ")))")) }

        var zone = Zone.utc
        if let tz = params["tz"] {
            if let z = Zone(named: tz) { zone = z } else { problems.append(("tz", "unknown IANA time zone \"\(tz.prefix(64))\"")) }
        }
        func instant(_ name: String) -> Int64? {
            guard let v = params[name] else {
                problems.append((name, "required: an RFC 3339 instant or a YYYY-MM-DD date"))
                return nil
            }
            if let t = zone.instant(parsing: v) { return t }
            problems.append((name, "\"\(v.prefix(64))\" is neither an RFC 3339 instant nor a YYYY-MM-DD date"))
            return nil
        }
        let from = instant("from")
        let to = instant("to")

        var query = ReportQuery(accounts: accounts, product: product, from: from ?? 0, to: to ?? 900)
        query.zone = zone
        if let b = params["bucket"] {
            if let bucket = Bucket(rawValue: b) { query.bucket = bucket } else { problems.append(("bucket", "expected one of 15m, hour, day, week, month, total")) }
        }
        if let w = params["week_start"] {
            if let ws = WeekStart(name: w) { query.weekStart = ws } else { problems.append(("week_start", "expected a weekday name like monday or sunday")) }
        }
        for g in list(params["group_by"]) {
            if g == "account" { query.groupByAccount = true } else { query.groupBy.append(g) }
        }
        query.metrics = list(params["metrics"])
        var seenMetrics = Set<String>()
        if let twice = query.metrics.first(where: { !seenMetrics.insert($0).inserted }) {
            problems.append(("metrics", "\"\(twice.prefix(64))\" is listed more than once"))
        }
        for (k, v) in params where k.hasPrefix("filter[") && k.hasSuffix("]") {
            let dim = String(k.dropFirst(7).dropLast())
            query.filters[dim, default: []] += list(String(v))
        }
        if let f = params["fill"] {
            switch f {
            case "zero": query.fillGaps = true
            case "none": query.fillGaps = false
            default: problems.append(("fill", "expected zero or none"))
            }
        }
        for s in list(params["sort"]) {
            query.sort.append(s.hasPrefix("-") ? .init(field: String(s.dropFirst()), descending: true) : .init(field: s))
        }
        var limit = UsageController.defaultLimit
        if let l = params["limit"] {
            if let v = Int(l), (1...UsageController.maxLimit).contains(v) { limit = v } else { problems.append(("limit", "expected an integer from 1 to \(UsageController.maxLimit)")) }
        }
        var cursor: ReportCursor?
        if let c = params["cursor"] {
            if let rc = ReportCursor(token: c) { cursor = rc } else { problems.append(("cursor", "not a cursor returned by this API")) }
        }
        if let f = params["format"], f != "csv" && f != "json" { problems.append(("format", "expected csv or json")) }
        if !problems.isEmpty {
            throw NativeError(.badRequest, "invalid_parameters", "the query has \(problems.count) problem(s)", details: problems)
        }
        return UsageRequest(query: query, account: accountID, scope: scope, cursor: cursor, limit: limit)
    }

    static func list(_ v: String?) -> [String] {
        guard let v else { return [] }
        return v.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }
}
