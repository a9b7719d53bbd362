import Hummingbird
import NIOCore
import TallyCore
import TallyReports
import TallyStore

/// GoProxies' reseller API: `POST /api/v1/login` and the `GET /api/v1/stats/...` statistics,
/// translated onto the one report engine (spec/dialects.md §3).
struct GoProxiesController {
    let runtime: TallyRuntime

    /// Login bodies are two short strings; anything larger is refused unread.
    static let maxBodyBytes = 16 << 10
    /// The most history values one answer holds (an hourly year is 8784).
    static let maxBuckets = 20_000

    func addRoutes(to router: Router<TallyContext>) {
        let group = router.group("api/v1").add(middleware: DialectErrorMiddleware<GoProxiesError>(dialect: "goproxies"))
        group.post("login") { request, _ in try await login(request) }
        group.get("stats/traffic") { request, _ in try await traffic(request) }
        group.get("stats/traffic/history") { request, _ in try await history(request, metric: ProxyUsage.bytes) }
        group.get("stats/requests/history") { request, _ in try await history(request, metric: ProxyUsage.requests) }
        group.get("stats/countries") { request, _ in try await countries(request) }
        group.notFoundBelow("stats")
    }

    func login(_ request: Request) async throws -> Response {
        let body: ByteBuffer
        do {
            body = try await request.body.collect(upTo: GoProxiesController.maxBodyBytes)
        } catch {
            throw GoProxiesError.invalid([("body", "too_large", "the request body must be at most \(GoProxiesController.maxBodyBytes) bytes")])
        }
        let parsed = try? body.withUnsafeReadableBytes { raw in try JSONParser.parse(raw.bindMemory(to: UInt8.self)) }
        guard case .object? = parsed else { throw GoProxiesError.invalid([("body", "invalid", "expected a JSON object {\"username\",\"password\"}")]) }
        var fields: [(parameter: String, code: String, message: String)] = []
        func text(_ name: String) -> String? {
            switch parsed?[name] {
            case .string(let s)? where !s.isEmpty: return s
            case nil, .null?, .string?: fields.append((name, "required", "\(name) is required"))
            default: fields.append((name, "invalid", "\(name) must be a string"))
            }
            return nil
        }
        let username = text("username")
        let password = text("password")
        guard fields.isEmpty, let username, let password else { throw GoProxiesError.invalid(fields) }
        guard let token = await runtime.login(username: username, password: password) else { throw GoProxiesError.badCredentials }
        return json(.object([("token", .string(token))]))
    }

    func traffic(_ request: Request) async throws -> Response {
        var stats = try await Stats(request, runtime: runtime, history: false)
        stats.query.bucket = .total
        stats.query.metrics = [ProxyUsage.bytes]
        let rows = try await stats.run(runtime)
        return json(.object([("bytes", .number(String(rows.first?.values[0] ?? 0))), ("filter", stats.filter)]))
    }

    func history(_ request: Request, metric: String) async throws -> Response {
        var stats = try await Stats(request, runtime: runtime, history: true)
        stats.query.metrics = [metric]
        stats.query.fillGaps = true
        let rows = try await stats.run(runtime)
        let values: [JSONValue] = rows.map { row in
            let n = JSONValue.number(String(row.values[0]))
            var item: [(String, JSONValue)] = [
                ("start_at", .string(RFC3339.format(max(row.start, stats.start), offset: 0))),
                ("end_at", .string(RFC3339.format(min(row.end, stats.end), offset: 0))),
            ]
            item += metric == ProxyUsage.bytes ? [("bytes", n)] : [("count", n), ("amount", n)]
            return .object(item)
        }
        return json(.object([("values", .array(values)), ("filter", stats.filter)]))
    }

    func countries(_ request: Request) async throws -> Response {
        let caller = try authenticate(request, runtime: runtime)
        // Every country the caller's tree ever had traffic in: from the epoch to the last day an event may fall on.
        let to = (floorDiv(runtime.now() + runtime.config.ingest.maxFuture, 86400) + 1) * 86400
        let query = ProxyUsage.query(subtreeOf: caller.account, runtime: runtime, from: 0, to: to)
        let values = try await runtime.engine.distinctValues(of: ProxyUsage.country, in: query)
        let codes = Set(values.map { $0.uppercased() }.filter(Stats.isCountryCode)).sorted()
        return json(.object([("countries", .array(codes.map(JSONValue.string)))]))
    }

    func json(_ value: JSONValue) -> Response {
        Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: value.serialized)))
    }

    /// The bearer caller (an account token, or a JWT from `login`), admitted by the rate limit.
    func authenticate(_ request: Request, runtime: TallyRuntime) throws -> Caller {
        guard let caller = runtime.bearerCaller(request) else { throw GoProxiesError.unauthenticated }
        let decision = runtime.admit(caller, face: "goproxies")
        guard decision.admitted else { throw GoProxiesError.tooManyRequests(decision) }
        return caller
    }

    /// The parameters shared by the statistics calls, resolved into one engine query.
    struct Stats {
        enum Interval: String { case hour, day, week, auto }

        /// The requested range in epoch seconds: `[start, end)`; every 15-minute cell overlapping it counts.
        var start: Int64
        var end: Int64
        var query: ReportQuery
        /// The resolved values, echoed back as `filter`.
        var filter: JSONValue

        init(_ request: Request, runtime: TallyRuntime, history: Bool) async throws {
            let caller = try GoProxiesController(runtime: runtime).authenticate(request, runtime: runtime)
            let p = QueryParameters(request)
            var fields: [(parameter: String, code: String, message: String)] = []
            func present(_ name: String) -> String? { p.first(name).flatMap { $0.isEmpty ? nil : $0 } }

            let now = runtime.now()
            let today = CivilDate(dayNumber: floorDiv(now, 86400))
            var start = CivilDate(year: today.year, month: today.month, day: 1).dayNumber * 86400
            var end = (today.dayNumber + 1) * 86400 - 1
            func instant(_ name: String, endOfDay: Bool) -> Int64? {
                guard let v = present(name) else { return nil }
                if let t = RFC3339.parse(v) { return t }
                if let d = CivilDate(iso: v) { return endOfDay ? (d.dayNumber + 1) * 86400 - 1 : d.dayNumber * 86400 }
                fields.append((name, "invalid_format", "expected an RFC 3339 date-time (2026-01-31T23:59:59Z) or a date (2026-01-31)"))
                return nil
            }
            if let s = instant("start_at", endOfDay: false) { start = s }
            if let e = instant("end_at", endOfDay: true) { end = e }
            if fields.isEmpty && end <= start { fields.append(("end_at", "invalid_argument", "end_at must be after start_at")) }

            var country: String?
            if let c = present("country") {
                if Stats.isCountryCode(c.uppercased()) { country = c.uppercased() } else { fields.append(("country", "invalid_format", "expected an ISO 3166-1 alpha-2 country code such as US")) }
            }
            var interval: Interval?
            if history {
                let i = present("interval") ?? "auto"
                if let v = Interval(rawValue: i) { interval = v } else { fields.append(("interval", "invalid_argument", "expected one of hour, day, week, auto")) }
            }
            var status: Int?
            var statusNot: Int?
            func statusCode(_ name: String) -> Int? {
                guard let v = present(name) else { return nil }
                guard v.allSatisfy(\.isASCII), let n = Int(v), (100...599).contains(n), v.first != "+" else {
                    fields.append((name, "invalid_argument", "expected an HTTP status code from 100 to 599"))
                    return nil
                }
                return n
            }
            if history && request.uri.path.hasSuffix("requests/history") {
                status = statusCode("status")
                statusNot = statusCode("status_not")
            }
            guard fields.isEmpty else { throw GoProxiesError.invalid(fields) }

            var account = caller.account
            let username = present("username")
            if let username {
                guard let sub = runtime.account(username, as: .username, within: caller.account) else { throw GoProxiesError.userNotFound }
                account = sub.id
            }

            // The 15-minute cells overlapping [start, end).
            var q = ProxyUsage.query(subtreeOf: account, runtime: runtime, from: floorDiv(start, 900) * 900, to: floorDiv(end + 899, 900) * 900)
            var resolved = interval
            if let i = interval {
                let length = end - start
                let bucket: Interval = i != .auto ? i : length <= 48 * 3600 ? .hour : length <= 62 * 86400 ? .day : .week
                resolved = i == .auto ? bucket : i
                q.bucket = bucket == .hour ? .hour : bucket == .day ? .day : .week
                q.weekStart = .monday
            }
            if let country {
                // Stored codes in any letter case match.
                let stored = try await runtime.engine.distinctValues(of: ProxyUsage.country, in: q).filter { $0.uppercased() == country }
                q.filters[ProxyUsage.country] = stored.isEmpty ? [country] : stored
            }
            if let status { q.filters[ProxyUsage.status] = [String(status)] }
            if let statusNot { q.exclusions[ProxyUsage.status] = [String(statusNot)] }
            do {
                let plan = try runtime.engine.describe(q).plan
                if plan.boundaries.count - 1 > GoProxiesController.maxBuckets {
                    throw GoProxiesError.invalid([("interval", "out_of_range", "\(plan.boundaries.count - 1) \(resolved?.rawValue ?? "") buckets; at most \(GoProxiesController.maxBuckets): use a coarser interval or a shorter range")])
                }
            } catch let e as ReportError {
                throw GoProxiesError.invalid(e.problems.map { ($0.parameter == "from" ? "start_at" : $0.parameter == "to" ? "end_at" : $0.parameter, "out_of_range", $0.message) })
            }

            var echo: [(String, JSONValue)] = []
            if let country { echo.append(("country", .string(country))) }
            echo.append(("start_at", .string(RFC3339.format(start, offset: 0))))
            echo.append(("end_at", .string(RFC3339.format(end, offset: 0))))
            if let resolved { echo.append(("interval", .string(resolved.rawValue))) }
            if let username { echo.append(("username", .string(username))) }
            if let status { echo.append(("status", .number(String(status)))) }
            if let statusNot { echo.append(("status_not", .number(String(statusNot)))) }
            self.start = start
            self.end = end
            self.query = q
            self.filter = .object(echo)
        }

        static func isCountryCode(_ s: String) -> Bool {
            s.utf8.count == 2 && s.utf8.allSatisfy { $0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z") }
        }

        func run(_ runtime: TallyRuntime) async throws -> [ReportRow] {
            let started = ContinuousClock.now
            defer { runtime.metrics.reportLatency.record(ContinuousClock.now - started) }
            return try await runtime.engine.run(query).rows
        }
    }
}
