import Foundation
import Hummingbird
import NIOCore
import TallyCore
import TallyReports
import TallyStore

/// `POST /personal/api/{v1|v2}/{apiKey}/resident/traffic/details`: Proxy-Seller's hourly traffic
/// per list login of a package, translated onto the one report engine (spec/dialects.md §2).
struct ProxySellerController {
    let runtime: TallyRuntime

    static let versions: Set<String> = ["v1", "v2"]
    /// Request bodies are a few small fields; anything larger is refused unread.
    static let maxBodyBytes = 64 << 10

    func addRoutes(to router: Router<TallyContext>) {
        let group = router.group("personal/api").add(middleware: DialectErrorMiddleware<ProxySellerError>(dialect: "proxy_seller"))
        // No catch-all below: Hummingbird refuses `**` beside the `:version` parameter.
        group.post(":version/:apiKey/resident/traffic/details") { request, context in try await trafficDetails(request, context) }
    }

    func trafficDetails(_ request: Request, _ context: TallyContext) async throws -> Response {
        let started = ContinuousClock.now
        guard let version = context.parameters.get("version"), ProxySellerController.versions.contains(version) else { throw HTTPError(.notFound) }
        let rawKey = context.parameters.get("apiKey") ?? ""
        guard case .success(let caller) = runtime.apiKeyCaller(rawKey.removingPercentEncoding ?? rawKey, request: request, context: context),
              runtime.admit(caller, face: "proxy_seller").admitted else { throw ProxySellerError.access }
        let body: ByteBuffer
        do {
            body = try await request.body.collect(upTo: ProxySellerController.maxBodyBytes)
        } catch {
            throw ProxySellerError.notFound
        }
        let details = try Details.parse(body, now: runtime.now(), maxFuture: runtime.config.ingest.maxFuture)
        guard let package = runtime.account(details.packageKey, as: .packageKey, within: caller.account) else { throw ProxySellerError.notFound }
        var root = package.id
        if let login = details.login {
            // An unknown login, or one outside the package, has no traffic.
            guard let list = runtime.account(login, as: .username, within: package.id) else { return Details.success(nil) }
            root = list.id
        }
        guard details.from < details.to else { return Details.success(nil) }
        var query = ProxyUsage.query(subtreeOf: root, runtime: runtime, from: details.from, to: details.to)
        query.bucket = .hour
        query.groupByAccount = true
        query.metrics = [ProxyUsage.bytes]
        defer { runtime.metrics.reportLatency.record(ContinuousClock.now - started) }
        let result: ReportResult
        do {
            if !details.startGiven {
                // Unbounded: from the first day with usage, not decades of empty hours since 1970.
                guard let first = try await runtime.engine.usedDays(query).first else { return Details.success(nil) }
                query.from = max(query.from, first)
            }
            result = try await runtime.engine.run(query)
        } catch is ReportError {
            // Only the dates can make a query invalid here (a range beyond the engine's).
            throw ProxySellerError.incorrectDate
        }
        return Details.success(render(result.rows))
    }

    /// `{"<login>":{"YYYY-MM-DD HH:00:00":bytes,...},...}`: logins in name order, hours in time
    /// order, hours without traffic left out; nil when nothing is left.
    func render(_ rows: [ReportRow]) -> String? {
        let directory = runtime.directory
        var hours: [String: [String]] = [:]
        for row in rows where row.values[0] != 0 {
            guard let id = row.account else { continue }
            let login = directory[id]?.username ?? id
            let t = RFC3339.format(row.start, offset: 0)
            hours[login, default: []].append(JSONValue.quote(t.prefix(10) + " " + t.dropFirst(11).prefix(8)) + ":" + String(row.values[0]))
        }
        guard !hours.isEmpty else { return nil }
        return "{" + hours.keys.sorted().map { JSONValue.quote($0) + ":{" + hours[$0]!.joined(separator: ",") + "}" }.joined(separator: ",") + "}"
    }

    /// The body of one request: `packageKey` (or `key`), `login`, `date_start`, `date_end`.
    struct Details {
        var packageKey: String
        var login: String?
        /// Epoch seconds: the start of `date_start` (UTC), or the epoch when it is missing.
        var from: Int64
        /// Epoch seconds: the end of `date_end` (UTC), or of the latest day an event may fall on.
        var to: Int64
        /// Whether `date_start` was given (else `from` is the epoch).
        var startGiven: Bool

        static func parse(_ body: ByteBuffer, now: Int64, maxFuture: Int64) throws(ProxySellerError) -> Details {
            let json: JSONValue
            if body.readableBytes == 0 {
                json = .object([])
            } else {
                do {
                    json = try body.withUnsafeReadableBytes { raw in try JSONParser.parse(raw.bindMemory(to: UInt8.self)) }
                } catch {
                    throw .notFound
                }
            }
            guard case .object = json else { throw .notFound }
            // `package_key` is deliberately not an alias: the vendor reads only these two names.
            guard let key = text(json["packageKey"]) ?? text(json["key"]), !key.isEmpty else { throw .notFound }
            var login: String?
            if let l = json["login"], l != .null {
                guard let s = text(l) else { throw .incorrectLogin }
                login = s.isEmpty ? nil : s
            }
            let start = try date(json["date_start"])
            let end = try date(json["date_end"])
            if let start, let end, end < start { throw .incorrectDate }
            let latestDay = floorDiv(now + maxFuture, 86400)
            return Details(packageKey: key, login: login, from: (start?.dayNumber ?? 0) * 86400, to: ((end?.dayNumber ?? latestDay) + 1) * 86400, startGiven: start != nil)
        }

        /// A string field; JSON numbers count as their text, as a PHP backend reads them.
        static func text(_ v: JSONValue?) -> String? {
            switch v {
            case .string(let s)?: return s
            case .number(let n)?: return n
            default: return nil
            }
        }

        /// `dd.mm.yyyy`, strictly; nil when absent (null or empty is absent too).
        static func date(_ v: JSONValue?) throws(ProxySellerError) -> CivilDate? {
            guard let v, v != .null else { return nil }
            guard case .string(let s) = v else { throw .incorrectDate }
            if s.isEmpty { return nil }
            let u = Array(s.utf8)
            guard u.count == 10, u[2] == UInt8(ascii: "."), u[5] == UInt8(ascii: "."),
                  let d = Digits.parse(u[0..<2]), let m = Digits.parse(u[3..<5]), let y = Digits.parse(u[6..<10]),
                  let date = CivilDate(iso: Digits.pad(y, 4) + "-" + Digits.pad(m, 2) + "-" + Digits.pad(d, 2)) else { throw .incorrectDate }
            return date
        }

        /// The success envelope; no data is `[]`, as the vendor (and its client's docs) say.
        static func success(_ data: String?) -> Response {
            let body = "{\"status\":\"success\",\"data\":" + (data ?? "[]") + ",\"errors\":[]}"
            return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: body)))
        }
    }
}
