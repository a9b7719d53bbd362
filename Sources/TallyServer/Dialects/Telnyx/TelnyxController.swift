import Hummingbird
import NIOCore
import TallyCore
import TallyReports
import TallyStore

/// `GET /v2/usage_reports` and `GET /v2/usage_reports/options`: Telnyx's usage reports,
/// translated onto the one report engine (spec/dialects.md §4).
struct TelnyxController {
    let runtime: TallyRuntime

    /// The two time dimensions every product has besides its own: engine day and hour buckets in UTC.
    static let timeDimensions = ["date", "date_time"]

    func addRoutes(to router: Router<TallyContext>) {
        let group = router.group("v2").add(middleware: DialectErrorMiddleware<TelnyxError>(dialect: "telnyx"))
        group.get("usage_reports") { request, context in try await usageReports(request, context) }
        group.get("usage_reports/options") { request, _ in try options(request) }
        group.notFoundBelow("")
    }

    /// The authenticated and admitted caller: 401 with code 10009, or 429 with code 10011.
    func caller(_ request: Request) throws -> Caller {
        guard let caller = runtime.bearerCaller(request) else { throw TelnyxError.authentication }
        let decision = runtime.admit(caller, face: "telnyx")
        guard decision.admitted else { throw TelnyxError.tooManyRequests(headers: decision.refusalHeaders) }
        return caller
    }

    func usageReports(_ request: Request, _ context: TallyContext) async throws -> Response {
        let started = ContinuousClock.now
        let caller = try caller(request)
        let parsed = try Usage.parse(QueryParameters(request), catalog: runtime.config.products, now: runtime.now())
        var query = parsed.query
        query.accounts = parsed.managed ? runtime.directory.subtree(of: caller.account) : [caller.account]
        query.groupByAccount = parsed.managed
        defer { runtime.metrics.reportLatency.record(ContinuousClock.now - started) }
        let result: ReportResult
        do {
            result = try await runtime.engine.run(query)
        } catch let e as ReportError {
            throw TelnyxError.invalid(e.problems.map { TelnyxError.invalid("Invalid value", $0.message, parameter: $0.parameter) })
        } catch let e as StoreError where e.code == .overflow {
            throw TelnyxError(.unprocessableContent, [TelnyxError.Record(code: "10015", title: "Sum out of range", detail: e.message)])
        }
        if parsed.csv {
            let body = parsed.csvHeader + result.rows.map { parsed.csvLine($0, result, caller: caller.account) }.joined()
            return Response(status: .ok, headers: [.contentType: "text/csv; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: body)))
        }
        let total = result.rows.count
        let first = min(total, (parsed.pageNumber - 1) * parsed.pageSize)
        let page = result.rows[first..<min(total, first + parsed.pageSize)]
        let totalPages = (total + parsed.pageSize - 1) / parsed.pageSize
        let json = "{\"data\":[" + page.map { parsed.jsonRow($0, result) }.joined(separator: ",") + "],\"meta\":{\"total_pages\":\(totalPages)"
            + ",\"total_results\":\(total),\"page_number\":\(parsed.pageNumber),\"page_size\":\(parsed.pageSize)}}"
        return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: json)))
    }

    func options(_ request: Request) throws -> Response {
        _ = try caller(request)
        let catalog = runtime.config.products
        var products = catalog.products
        if let name = QueryParameters(request).first("product") {
            guard let p = catalog[name] else { throw TelnyxError.invalid([Usage.productProblem(catalog)]) }
            products = [p]
        }
        let items = products.map { p in
            "{\"product\":" + JSONValue.quote(p.name) + ",\"product_dimensions\":[" + Usage.dimensions(of: p).map(JSONValue.quote).joined(separator: ",")
                + "],\"product_metrics\":[" + p.metrics.map { JSONValue.quote($0.name) }.joined(separator: ",") + "],\"record_types\":null}"
        }
        return Response(status: .ok, headers: [.contentType: "application/json"],
                        body: .init(byteBuffer: ByteBuffer(string: "{\"data\":[" + items.joined(separator: ",") + "]}")))
    }

    /// The parameters of one `GET /v2/usage_reports`, with every problem reported at once.
    struct Usage {
        static let maxPageSize = 5000
        static let defaultPageSize = 20
        /// The longest range one report may cover.
        static let maxRange: Int64 = 31 * 86400

        /// The engine query; accounts are filled in by the controller.
        var query: ReportQuery
        /// The requested dimensions in order, `date` and `date_time` included.
        var dimensions: [String]
        var managed = false
        var csv = false
        var pageNumber = 1
        var pageSize = defaultPageSize

        static func dimensions(of p: ProductSpec) -> [String] { p.dimensions + TelnyxController.timeDimensions }

        static func productProblem(_ catalog: ProductCatalog) -> TelnyxError.Record {
            TelnyxError.invalid("Product invalid value", "Available product values: " + catalog.names.joined(separator: ","), parameter: "product")
        }

        static func parse(_ params: QueryParameters, catalog: ProductCatalog, now: Int64) throws(TelnyxError) -> Usage {
            var problems: [TelnyxError.Record] = []
            var usage = Usage(query: ReportQuery(accounts: [], product: "", from: 0, to: 0), dimensions: [])

            let range = dateRange(params, now: now, problems: &problems)
            usage.query.from = range.from
            usage.query.to = range.to

            if let m = params.first("managed_accounts") {
                switch m.lowercased() {
                case "true": usage.managed = true
                case "false": usage.managed = false
                default: problems.append(TelnyxError.invalid("Managed accounts invalid value", "managed_accounts must be true or false", parameter: "managed_accounts"))
                }
            }
            if let f = params.first("format") {
                switch f.lowercased() {
                case "csv": usage.csv = true
                case "json": usage.csv = false
                default: problems.append(TelnyxError.invalid("Format invalid value", "Available format values: csv,json", parameter: "format"))
                }
            }
            usage.pageNumber = pageValue(params, "page[number]", range: 1...Int.max / (maxPageSize + 1), default: 1, problems: &problems)
            usage.pageSize = pageValue(params, "page[size]", range: 1...maxPageSize, default: defaultPageSize, problems: &problems)

            guard let name = params.first("product"), let spec = catalog[name] else {
                throw TelnyxError.invalid([productProblem(catalog)] + problems)
            }
            usage.query.product = spec.name
            let available = dimensions(of: spec)
            var dims: [String] = []
            for d in params.list("dimensions") where !dims.contains(d) { dims.append(d) }
            let badDims = dims.filter { !available.contains($0) }
            if !params.contains("dimensions") || !badDims.isEmpty {
                let why = badDims.isEmpty ? "dimensions is required. " : "Invalid values: " + badDims.map { String($0.prefix(64)) }.joined(separator: ",") + ". "
                problems.append(TelnyxError.invalid("Dimensions invalid values", why + "Available dimensions values for \(spec.name): " + available.joined(separator: ","), parameter: "dimensions"))
            }
            usage.dimensions = dims.filter { available.contains($0) }

            var metrics: [String] = []
            for m in params.list("metrics") where !metrics.contains(m) { metrics.append(m) }
            let badMetrics = metrics.filter { spec.metricIndex($0) == nil }
            if metrics.isEmpty || !badMetrics.isEmpty {
                let why = badMetrics.isEmpty ? "metrics is required. " : "Invalid values: " + badMetrics.map { String($0.prefix(64)) }.joined(separator: ",") + ". "
                problems.append(TelnyxError.invalid("Metrics invalid values", why + "Available metrics values for \(spec.name): " + spec.metrics.map(\.name).joined(separator: ","), parameter: "metrics"))
            }
            usage.query.metrics = metrics.filter { spec.metricIndex($0) != nil }

            usage.query.groupBy = usage.dimensions.filter { !timeDimensions.contains($0) }
            usage.query.bucket = usage.dimensions.contains("date_time") ? .hour : usage.dimensions.contains("date") ? .day : .total
            for (dim, values) in filters(params, problems: &problems) {
                if spec.dimensionIndex(dim) == nil {
                    let why = available.contains(dim) ? "\(dim) cannot be filtered; filter on a product dimension: " : "Unknown dimension \(dim.prefix(64)). Available filter dimensions for \(spec.name): "
                    problems.append(TelnyxError.invalid("Filter invalid values", why + spec.dimensions.joined(separator: ","), parameter: "filter"))
                } else if !usage.dimensions.contains(dim) {
                    problems.append(TelnyxError.invalid("Filter invalid values", "The filtered dimension \(dim) must also be listed in dimensions", parameter: "filter"))
                } else {
                    usage.query.filters[dim, default: []] += values
                }
            }
            usage.query.sort = sort(params.list("sort"), dimensions: usage.dimensions, metrics: usage.query.metrics)
            guard problems.isEmpty else { throw TelnyxError.invalid(problems) }
            return usage
        }

        /// `page[number]` or `page[size]`: an integer in `range`.
        static func pageValue(_ params: QueryParameters, _ name: String, range: ClosedRange<Int>, default d: Int, problems: inout [TelnyxError.Record]) -> Int {
            guard let text = params.first(name) else { return d }
            if let v = Int(text), range.contains(v) { return v }
            let bound = range.upperBound == maxPageSize ? "from 1 to \(maxPageSize)" : "of at least 1"
            problems.append(TelnyxError.invalid("Page invalid value", "\(name) must be an integer \(bound)", parameter: name))
            return d
        }

        /// `[from, to)` in UTC from `date_range` (which wins) or `start_date`/`end_date`; `today` when none is given.
        static func dateRange(_ params: QueryParameters, now: Int64, problems: inout [TelnyxError.Record]) -> (from: Int64, to: Int64) {
            let today = floorDiv(now, 86400) * 86400
            func fail(_ parameter: String, _ detail: String) -> (Int64, Int64) {
                problems.append(TelnyxError.invalid("Date range invalid", detail, parameter: parameter))
                return (today, today + 86400)
            }
            var from = today, to = today + 86400
            var parameter = "date_range"
            if let keyword = params.first("date_range") {
                guard let r = keywordRange(keyword.lowercased(), today: today) else {
                    return fail("date_range", "Available date_range values: today,yesterday,this_week,last_week,this_month,last_month,last_N_days,last_N_weeks")
                }
                (from, to) = r
            } else if params.contains("start_date") || params.contains("end_date") {
                var start: Int64?, end: Int64?
                if let text = params.first("start_date") {
                    guard let t = Zone.utc.instant(parsing: text) else { return fail("start_date", "start_date must be a date-time like 2024-02-01T00:00:00Z") }
                    start = t
                }
                if let text = params.first("end_date") {
                    guard let t = Zone.utc.instant(parsing: text) else { return fail("end_date", "end_date must be a date-time like 2024-03-01T00:00:00Z") }
                    end = t
                }
                // One side alone: the other is the end of today, or the longest range before end_date.
                to = end ?? today + 86400
                from = start ?? to - maxRange
                parameter = end == nil ? "start_date" : "end_date"
            }
            if to <= from { return fail(parameter, "end_date must be after start_date") }
            if to - from > maxRange { return fail(parameter, "The maximum time range is 31 days") }
            if floorMod(from, 900) != 0 || floorMod(to, 900) != 0 {
                return fail(floorMod(from, 900) != 0 ? "start_date" : "end_date", "start_date and end_date must fall on a quarter hour (usage is kept at 15-minute resolution)")
            }
            return (from, to)
        }

        /// The UTC range of a `date_range` keyword; `last_N_*` run from midnight N days (weeks) ago to the end of today.
        static func keywordRange(_ k: String, today: Int64) -> (Int64, Int64)? {
            let day: Int64 = 86400
            let date = CivilDate(dayNumber: today / day)
            let monday = today - Int64(date.isoWeekday - 1) * day
            let monthStart = CivilDate(year: date.year, month: date.month, day: 1).dayNumber * day
            let previousMonth = date.month == 1 ? CivilDate(year: date.year - 1, month: 12, day: 1) : CivilDate(year: date.year, month: date.month - 1, day: 1)
            let nextMonth = date.month == 12 ? CivilDate(year: date.year + 1, month: 1, day: 1) : CivilDate(year: date.year, month: date.month + 1, day: 1)
            switch k {
            case "today": return (today, today + day)
            case "yesterday": return (today - day, today)
            case "this_week": return (monday, monday + 7 * day)
            case "last_week": return (monday - 7 * day, monday)
            case "this_month": return (monthStart, nextMonth.dayNumber * day)
            case "last_month": return (previousMonth.dayNumber * day, monthStart)
            default:
                let parts = k.split(separator: "_")
                guard parts.count == 3, parts[0] == "last", let n = Int64(parts[1]), n >= 1, n <= 1000 else { return nil }
                switch parts[2] {
                case "days": return (today - n * day, today + day)
                case "weeks": return (today - 7 * n * day, today + day)
                default: return nil
                }
            }
        }

        /// Dimension → accepted values from `filter[dim]=v` (repeated or comma-joined: OR) and the
        /// string form `filter=filter[dim]=v` (several expressions joined with `&`).
        static func filters(_ params: QueryParameters, problems: inout [TelnyxError.Record]) -> [(String, [String])] {
            var out: [(String, [String])] = params.bracketed("filter").map { ($0.name, QueryParameters.split($0.value)) }
            for expression in params.all("filter") {
                for part in expression.split(separator: "&") {
                    let kv = part.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                    guard kv.count == 2, let dim = QueryParameters.bracketName(String(kv[0]), prefix: "filter") else {
                        problems.append(TelnyxError.invalid("Filter invalid values", "filter must look like filter[dimension]=value", parameter: "filter"))
                        continue
                    }
                    out.append((dim, QueryParameters.split(String(kv[1]))))
                }
            }
            return out
        }

        /// The engine order: requested keys first (`-key` descending, unknown keys ignored), then
        /// the dimensions ascending in the order they were requested.
        static func sort(_ keys: [String], dimensions: [String], metrics: [String]) -> [ReportQuery.Sort] {
            func field(_ key: String) -> String? {
                if timeDimensions.contains(key) { return dimensions.contains(key) ? "start" : nil }
                if key == "user_id" { return "account" }
                return dimensions.contains(key) || metrics.contains(key) ? key : nil
            }
            let requested = keys.compactMap { k -> ReportQuery.Sort? in
                let descending = k.hasPrefix("-")
                return field(descending ? String(k.dropFirst()) : k).map { ReportQuery.Sort(field: $0, descending: descending) }
            }
            return requested + dimensions.compactMap(field).map { ReportQuery.Sort(field: $0) }
        }

        /// A dimension's value in a row: the UTC date or hour of its bucket, or its group value.
        func value(of dimension: String, in row: ReportRow, _ r: ReportResult) -> String {
            switch dimension {
            case "date": return CivilDate(dayNumber: floorDiv(row.start, 86400)).description
            case "date_time": return RFC3339.format(floorDiv(row.start, 3600) * 3600, in: .utc)
            default: return r.query.groupBy.firstIndex(of: dimension).map { row.groups[$0] } ?? ""
            }
        }

        /// One JSON row: `user_id` (managed accounts only), dimensions as strings, `product`, metrics as numbers.
        func jsonRow(_ row: ReportRow, _ r: ReportResult) -> String {
            var fields: [String] = []
            if managed { fields.append("\"user_id\":" + JSONValue.quote(row.account ?? "")) }
            for d in dimensions { fields.append(JSONValue.quote(d) + ":" + JSONValue.quote(value(of: d, in: row, r))) }
            fields.append("\"product\":" + JSONValue.quote(r.query.product))
            for (m, v) in zip(r.metrics, row.values) { fields.append(JSONValue.quote(m.name) + ":" + DialectValue.jsonNumber(v, m)) }
            return "{" + fields.joined(separator: ",") + "}"
        }

        /// `user_id,<dimensions>,product,<metrics>`.
        var csvHeader: String {
            (["user_id"] + dimensions + ["product"] + query.metrics).map(CSV.cell).joined(separator: ",") + "\n"
        }

        /// One CSV line; metrics with six decimals (`0.000800`, `17.000000`).
        func csvLine(_ row: ReportRow, _ r: ReportResult, caller: String) -> String {
            let cells = [row.account ?? caller] + dimensions.map { value(of: $0, in: row, r) } + [r.query.product]
            return (cells.map(CSV.cell) + zip(r.metrics, row.values).map { Exact.render($1, scale: $0.kind.scale, decimals: 6) }).joined(separator: ",") + "\n"
        }
    }
}
