import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing
import TallyCore
@testable import TallyServer

@Suite struct GoProxiesTests {
    /// Logs in as the seed page's curl does and returns the token.
    static func login(_ client: some TestClientProtocol, _ username: String = "acme", _ password: String = "s3cret") async throws -> String {
        let r = try await client.execute(uri: "/api/v1/login", method: .post, headers: [.contentType: "application/json"],
                                         body: ByteBuffer(string: "{\"username\":\"\(username)\", \"password\":\"\(password)\"}"))
        #expect(r.status == .ok, "login: \(r.text)")
        guard case .string(let token)? = r.json?["token"] else { Issue.record("no token: \(r.text)"); return "" }
        return token
    }

    static func get(_ client: some TestClientProtocol, _ uri: String, token: String) async throws -> TestResponse {
        try await client.execute(uri: uri, method: .get, headers: bearer(token))
    }

    static let events = [
        ProxyEvent(time: "2026-01-05T10:00:00Z", account: "sub1", country: "US", status: "200", bytes: 100, requests: 3),
        ProxyEvent(time: "2026-01-05T10:50:00Z", account: "sub1", country: "de", status: "407", bytes: 20, requests: 2),
        ProxyEvent(time: "2026-01-06T00:00:00Z", account: "sub2", country: "DE", status: "200", bytes: 7, requests: 1),
        ProxyEvent(time: "2026-01-12T23:59:00Z", account: "acme", country: "", status: "502", bytes: 1, requests: 1),
        ProxyEvent(time: "2026-01-02T00:00:00Z", account: "other-sub", country: "FR", bytes: 1000),
    ]

    @Test func loginThenTrafficWithResolvedDefaults() async throws {
        let app = buildApplication(runtime: try await makeRuntime(yaml: proxyYAML()))
        try await app.test(.router) { client in
            try await ingest(client, Self.events + [ProxyEvent(time: "2026-06-01T00:10:00Z", account: "sub1", bytes: 42), ProxyEvent(time: "2026-05-31T23:59:59Z", account: "sub1", bytes: 1)])
            let token = try await Self.login(client)
            #expect(token.split(separator: ".").count == 3)
            // Defaults: start of the current month to the end of the current day, UTC (the clock is 2026-06-01T00:00:00Z).
            let r = try await Self.get(client, "/api/v1/stats/traffic", token: token)
            #expect(r.status == .ok)
            #expect(r.text == "{\"bytes\":42,\"filter\":{\"start_at\":\"2026-06-01T00:00:00Z\",\"end_at\":\"2026-06-01T23:59:59Z\"}}")
            let jan = try await Self.get(client, "/api/v1/stats/traffic?start_at=2026-01-01T00:00:00Z&end_at=2026-01-31T23:59:59Z", token: token)
            #expect(jan.text == "{\"bytes\":128,\"filter\":{\"start_at\":\"2026-01-01T00:00:00Z\",\"end_at\":\"2026-01-31T23:59:59Z\"}}")
            // Bare dates: the start of start_at's day to the end of end_at's day; offsets are honoured.
            let dates = try await Self.get(client, "/api/v1/stats/traffic?start_at=2026-01-06&end_at=2026-01-12", token: token)
            #expect(dates.text == "{\"bytes\":8,\"filter\":{\"start_at\":\"2026-01-06T00:00:00Z\",\"end_at\":\"2026-01-12T23:59:59Z\"}}")
            let offset = try await Self.get(client, "/api/v1/stats/traffic?start_at=\(q("2026-01-05T12:00:00+02:00"))&end_at=\(q("2026-01-05T11:00:00Z"))", token: token)
            #expect(offset.text == "{\"bytes\":120,\"filter\":{\"start_at\":\"2026-01-05T10:00:00Z\",\"end_at\":\"2026-01-05T11:00:00Z\"}}")
            // A plain account token works too.
            #expect(try await Self.get(client, "/api/v1/stats/traffic?start_at=2026-01-01&end_at=2026-01-31", token: "acme-token-1").json?["bytes"] == .number("128"))
        }
    }

    @Test func usernameCountryAndCountries() async throws {
        let app = buildApplication(runtime: try await makeRuntime(yaml: proxyYAML()))
        try await app.test(.router) { client in
            try await ingest(client, Self.events)
            let token = try await Self.login(client)
            let range = "start_at=2026-01-01&end_at=2026-01-31"
            let sub1 = try await Self.get(client, "/api/v1/stats/traffic?\(range)&username=sub1", token: token)
            #expect(sub1.text == "{\"bytes\":120,\"filter\":{\"start_at\":\"2026-01-01T00:00:00Z\",\"end_at\":\"2026-01-31T23:59:59Z\",\"username\":\"sub1\"}}")
            // Country in any case, matching stored codes in any case, echoed upper-case.
            let de = try await Self.get(client, "/api/v1/stats/traffic?\(range)&country=dE", token: token)
            #expect(de.text == "{\"bytes\":27,\"filter\":{\"country\":\"DE\",\"start_at\":\"2026-01-01T00:00:00Z\",\"end_at\":\"2026-01-31T23:59:59Z\"}}")
            #expect(try await Self.get(client, "/api/v1/stats/traffic?\(range)&country=FR", token: token).json?["bytes"] == .number("0"))
            let countries = try await Self.get(client, "/api/v1/stats/countries", token: token)
            #expect(countries.text == "{\"countries\":[\"DE\",\"US\"]}")
            let other = try await Self.login(client, "other", "other-pass")
            #expect(try await Self.get(client, "/api/v1/stats/countries", token: other).text == "{\"countries\":[\"FR\"]}")
            // A sub-user's own token sees itself only, and not its siblings.
            let own = try await Self.get(client, "/api/v1/stats/traffic?\(range)", token: "sub1-token")
            #expect(own.json?["bytes"] == .number("120"))
            var answers: Set<String> = []
            for (token, user) in [(token, "other-sub"), (token, "nobody"), ("sub1-token", "sub2"), ("sub1-token", "acme")] {
                let r = try await Self.get(client, "/api/v1/stats/traffic?\(range)&username=\(user)", token: token)
                #expect(r.status == .notFound)
                answers.insert(r.text)
            }
            #expect(answers == ["{\"error\":{\"code\":\"not_found\",\"message\":\"user not found\",\"detail\":\"no such sub-user\"},\"status\":404,\"path\":\"/api/v1/stats/traffic\"}"])
        }
    }

    @Test func historyIntervalsAreZeroFilledAndClipped() async throws {
        let app = buildApplication(runtime: try await makeRuntime(yaml: proxyYAML()))
        try await app.test(.router) { client in
            try await ingest(client, Self.events)
            let token = try await Self.login(client)
            // auto over 48 h or less: hours.
            let hours = try await Self.get(client, "/api/v1/stats/traffic/history?start_at=\(q("2026-01-05T09:30:00Z"))&end_at=\(q("2026-01-05T12:10:00Z"))", token: token)
            #expect(hours.text == "{\"values\":[{\"start_at\":\"2026-01-05T09:30:00Z\",\"end_at\":\"2026-01-05T10:00:00Z\",\"bytes\":0},{\"start_at\":\"2026-01-05T10:00:00Z\",\"end_at\":\"2026-01-05T11:00:00Z\",\"bytes\":120},{\"start_at\":\"2026-01-05T11:00:00Z\",\"end_at\":\"2026-01-05T12:00:00Z\",\"bytes\":0},{\"start_at\":\"2026-01-05T12:00:00Z\",\"end_at\":\"2026-01-05T12:10:00Z\",\"bytes\":0}],\"filter\":{\"start_at\":\"2026-01-05T09:30:00Z\",\"end_at\":\"2026-01-05T12:10:00Z\",\"interval\":\"hour\"}}")
            // auto up to 62 days: days.
            let days = try await Self.get(client, "/api/v1/stats/traffic/history?start_at=2026-01-04&end_at=2026-01-06", token: token)
            #expect(days.json?["filter"]?["interval"] == .string("day"))
            guard case .array(let dv)? = days.json?["values"] else { Issue.record("\(days.text)"); return }
            #expect(dv.map { $0["bytes"] } == [.number("0"), .number("120"), .number("7")])
            #expect(dv.last?["end_at"] == .string("2026-01-06T23:59:59Z"))
            // auto beyond 62 days: ISO weeks from Monday, the first and last clipped.
            let weeks = try await Self.get(client, "/api/v1/stats/traffic/history?start_at=2025-12-31&end_at=2026-03-04", token: token)
            #expect(weeks.json?["filter"]?["interval"] == .string("week"))
            guard case .array(let wv)? = weeks.json?["values"] else { Issue.record("\(weeks.text)"); return }
            #expect(wv.count == 10)
            #expect(wv[0]["start_at"] == .string("2025-12-31T00:00:00Z"))
            #expect(wv[0]["end_at"] == .string("2026-01-05T00:00:00Z"))
            #expect(wv[1]["bytes"] == .number("127"))
            #expect(wv[2]["bytes"] == .number("1"))
            #expect(wv[9]["start_at"] == .string("2026-03-02T00:00:00Z"))
            #expect(wv[9]["end_at"] == .string("2026-03-04T23:59:59Z"))
            // An explicit interval wins over auto.
            let forced = try await Self.get(client, "/api/v1/stats/traffic/history?start_at=2026-01-05&end_at=2026-01-05&interval=day", token: token)
            #expect(forced.text == "{\"values\":[{\"start_at\":\"2026-01-05T00:00:00Z\",\"end_at\":\"2026-01-05T23:59:59Z\",\"bytes\":120}],\"filter\":{\"start_at\":\"2026-01-05T00:00:00Z\",\"end_at\":\"2026-01-05T23:59:59Z\",\"interval\":\"day\"}}")
        }
    }

    @Test func requestsHistoryWithStatusFilters() async throws {
        let app = buildApplication(runtime: try await makeRuntime(yaml: proxyYAML()))
        try await app.test(.router) { client in
            try await ingest(client, Self.events)
            let token = try await Self.login(client)
            let base = "/api/v1/stats/requests/history?start_at=2026-01-01&end_at=2026-01-31&interval=week"
            func counts(_ extra: String) async throws -> [JSONValue?] {
                let r = try await Self.get(client, base + extra, token: token)
                guard case .array(let v)? = r.json?["values"] else { Issue.record("\(r.text)"); return [] }
                #expect(v.allSatisfy { $0["count"] == $0["amount"] })
                return v.map { $0["count"] }
            }
            #expect(try await counts("") == [.number("0"), .number("6"), .number("1"), .number("0"), .number("0")])
            #expect(try await counts("&status=200") == [.number("0"), .number("4"), .number("0"), .number("0"), .number("0")])
            #expect(try await counts("&status_not=200") == [.number("0"), .number("2"), .number("1"), .number("0"), .number("0")])
            #expect(try await counts("&status_not=200&country=de") == [.number("0"), .number("2"), .number("0"), .number("0"), .number("0")])
            #expect(try await counts("&status=200&status_not=200") == [.number("0"), .number("0"), .number("0"), .number("0"), .number("0")])
            let echo = try await Self.get(client, base + "&status=407&status_not=502&username=sub1", token: token)
            #expect(echo.json?["filter"]?.serialized == "{\"start_at\":\"2026-01-01T00:00:00Z\",\"end_at\":\"2026-01-31T23:59:59Z\",\"interval\":\"week\",\"username\":\"sub1\",\"status\":407,\"status_not\":502}")
        }
    }

    @Test func authenticationAndLoginErrors() async throws {
        let app = buildApplication(runtime: try await makeRuntime(yaml: proxyYAML()))
        try await app.test(.router) { client in
            for path in ["/api/v1/stats/traffic", "/api/v1/stats/traffic/history", "/api/v1/stats/requests/history", "/api/v1/stats/countries"] {
                for headers in [HTTPFields(), bearer("nope"), bearer("ingest-secret"), bearer("a.b.c"), bearer("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhY21lIn0.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")] {
                    let r = try await client.execute(uri: path, method: .get, headers: headers)
                    #expect(r.status == .unauthorized)
                    #expect(r.json?["error"]?["code"] == .string("unauthenticated"))
                    #expect(r.json?["path"] == .string(path))
                    #expect(r.json?["status"] == .number("401"))
                }
            }
            for (body, status) in [("{\"username\":\"acme\",\"password\":\"wrong\"}", HTTPResponse.Status.unauthorized),
                                   ("{\"username\":\"nobody\",\"password\":\"s3cret\"}", .unauthorized),
                                   ("{\"username\":\"sub1\",\"password\":\"s3cret\"}", .unauthorized),
                                   ("{\"username\":\"acme\"}", .badRequest), ("{\"password\":\"s3cret\"}", .badRequest),
                                   ("{\"username\":1,\"password\":\"s3cret\"}", .badRequest), ("[]", .badRequest), ("nope", .badRequest), ("", .badRequest)] {
                let r = try await client.execute(uri: "/api/v1/login", method: .post, headers: [.contentType: "application/json"], body: ByteBuffer(string: body))
                #expect(r.status == status, "\(body): \(r.text)")
                #expect(r.json?["path"] == .string("/api/v1/login"))
            }
            let route = try await client.execute(uri: "/api/v1/stats/nothing", method: .get, headers: bearer("acme-token-1"))
            #expect(route.status == .notFound)
            #expect(route.json?["error"]?["code"] == .string("not_found"))
            #expect(route.json?["path"] == .string("/api/v1/stats/nothing"))
        }
    }

    /// Every bad parameter: 400 `invalid_argument` naming it in `fields`, never a 500.
    @Test(arguments: [
        ("end_at", "/api/v1/stats/traffic?start_at=2026-01-31&end_at=2026-01-01"),
        ("end_at", "/api/v1/stats/traffic?start_at=2026-01-05T10:00:00Z&end_at=2026-01-05T10:00:00Z"),
        ("start_at", "/api/v1/stats/traffic?start_at=yesterday"),
        ("start_at", "/api/v1/stats/traffic?start_at=2026-02-30"),
        ("start_at", "/api/v1/stats/traffic?start_at=2026-01-01T10:00:00"),
        ("end_at", "/api/v1/stats/traffic/history?end_at=1767225600"),
        ("end_at", "/api/v1/stats/traffic?start_at=1800-01-01&end_at=2026-01-01"),
        ("interval", "/api/v1/stats/traffic/history?interval=month"),
        ("interval", "/api/v1/stats/traffic/history?interval=HOUR"),
        ("interval", "/api/v1/stats/traffic/history?start_at=2020-01-01&end_at=2026-01-01&interval=hour"),
        ("country", "/api/v1/stats/traffic?country=USA"),
        ("country", "/api/v1/stats/traffic?country=1"),
        ("country", "/api/v1/stats/traffic/history?country=%C3%BC%C3%BC"),
        ("status", "/api/v1/stats/requests/history?status=ok"),
        ("status", "/api/v1/stats/requests/history?status=99"),
        ("status", "/api/v1/stats/requests/history?status=2000"),
        ("status", "/api/v1/stats/requests/history?status=200.0"),
        ("status_not", "/api/v1/stats/requests/history?status_not=-1"),
        ("status_not", "/api/v1/stats/requests/history?status_not=99999999999999999999999"),
    ])
    func badParameters(_ field: String, _ uri: String) async throws {
        let app = buildApplication(runtime: try await makeRuntime(yaml: proxyYAML()))
        try await app.test(.router) { client in
            let r = try await Self.get(client, uri, token: "acme-token-1")
            #expect(r.status == .badRequest, "\(uri): \(r.text)")
            #expect(r.json?["error"]?["code"] == .string("invalid_argument"))
            #expect(r.json?["error"]?["fields"]?[field] != nil, "\(uri): \(r.text)")
            #expect(r.json?["status"] == .number("400"))
        }
    }

    @Test func rateLimitedWithRetryAfter() async throws {
        let app = buildApplication(runtime: try await makeRuntime(yaml: proxyYAML(), extraYAML: "auth: { rate_limits: { goproxies: { limit: 1, window: 1h } } }"))
        try await app.test(.router) { client in
            #expect(try await Self.get(client, "/api/v1/stats/countries", token: "acme-token-1").status == .ok)
            let r = try await Self.get(client, "/api/v1/stats/traffic", token: "acme-token-1")
            #expect(r.status == .tooManyRequests)
            #expect(r.headers[.retryAfter] == "3600")
            #expect(r.json?["error"]?["code"] == .string("resource_exhausted"))
        }
    }
}
