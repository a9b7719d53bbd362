import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing
import TallyCore
@testable import TallyServer

/// Proxy-Seller runs over a real socket (`.live`): the API key's IP allow-list needs the peer address.
@Suite struct ProxySellerTests {
    static let key = "fj4948ffhg58gh843gh"
    static let json: HTTPFields = [.contentType: "application/json"]

    static let accessTriple = "{\"status\":\"error\",\"data\":null,\"errors\":[{\"message\":\"Error api key\",\"code\":503,\"customData\":null},{\"message\":\"IP not allowed\",\"code\":503,\"customData\":null},{\"message\":\"Request limit reached\",\"code\":503,\"customData\":null}]}"
    static let notFoundTriple = "{\"status\":\"error\",\"data\":null,\"errors\":[{\"message\":\"key is required\",\"code\":0,\"customData\":null},{\"message\":\"not-found\",\"code\":404,\"customData\":null},{\"message\":\"not-found (404)\",\"code\":0,\"customData\":null}]}"
    static let incorrectDate = "{\"status\":\"error\",\"data\":null,\"errors\":[{\"message\":\"Incorrect date\",\"code\":0,\"customData\":null}]}"
    static let empty = "{\"status\":\"success\",\"data\":[],\"errors\":[]}"

    static func details(_ client: some TestClientProtocol, _ body: String, version: String = "v1", key: String = key, headers: HTTPFields = json) async throws -> TestResponse {
        try await client.execute(uri: "/personal/api/\(version)/\(key)/resident/traffic/details", method: .post, headers: headers, body: ByteBuffer(string: body))
    }

    @Test(arguments: ["v1", "v2"])
    func seedHourlyFigures(_ version: String) async throws {
        let app = buildApplication(runtime: try await makeRuntime(yaml: proxyYAML()))
        try await app.test(.live) { client in
            try await ingest(client, proxySellerSeedEvents(account: "sub1"))
            let r = try await Self.details(client, "{\"packageKey\":\"abc123\",\"date_start\":\"02.12.2025\",\"date_end\":\"22.01.2026\"}", version: version)
            #expect(r.status == .ok)
            #expect(r.headers[.contentType] == "application/json")
            let hours = proxySellerSeedHours.map { "\"\($0.hour)\":\($0.bytes)" }.joined(separator: ",")
            #expect(r.text == "{\"status\":\"success\",\"data\":{\"sub1\":{\(hours)}},\"errors\":[]}")
            // `key` is an alias of packageKey; with no dates the range is unbounded.
            let alias = try await Self.details(client, "{\"key\":\"abc123\",\"login\":\"sub1\"}", version: version)
            #expect(alias.text == r.text)
        }
    }

    @Test func loginsDatesAndEmptyResults() async throws {
        let app = buildApplication(runtime: try await makeRuntime(yaml: proxyYAML()))
        try await app.test(.live) { client in
            try await ingest(client, [
                ProxyEvent(time: "2026-01-09T23:59:59Z", account: "sub1", bytes: 5),
                ProxyEvent(time: "2026-01-10T00:00:00Z", account: "sub1", bytes: 7),
                ProxyEvent(time: "2026-01-10T00:30:00Z", account: "sub2", bytes: 11),
                ProxyEvent(time: "2026-01-10T23:59:59Z", account: "acme", bytes: 13),
                ProxyEvent(time: "2026-01-11T00:00:00Z", account: "sub1", bytes: 17),
                ProxyEvent(time: "2026-01-10T05:00:00Z", account: "sub1", bytes: 0, requests: 4),
                ProxyEvent(time: "2026-01-10T05:00:00Z", account: "other-sub", bytes: 99),
            ])
            // One whole UTC day; one object per login (the package's own traffic under its own login); zero hours omitted.
            let day = try await Self.details(client, "{\"packageKey\":\"abc123\",\"date_start\":\"10.01.2026\",\"date_end\":\"10.01.2026\"}")
            #expect(day.text == "{\"status\":\"success\",\"data\":{\"acme\":{\"2026-01-10 23:00:00\":13},\"sub1\":{\"2026-01-10 00:00:00\":7},\"sub2\":{\"2026-01-10 00:00:00\":11}},\"errors\":[]}")
            let sub2 = try await Self.details(client, "{\"packageKey\":\"abc123\",\"login\":\"sub2\"}")
            #expect(sub2.text == "{\"status\":\"success\",\"data\":{\"sub2\":{\"2026-01-10 00:00:00\":11}},\"errors\":[]}")
            let from = try await Self.details(client, "{\"packageKey\":\"abc123\",\"login\":\"sub1\",\"date_start\":\"11.01.2026\"}")
            #expect(from.text == "{\"status\":\"success\",\"data\":{\"sub1\":{\"2026-01-11 00:00:00\":17}},\"errors\":[]}")
            let until = try await Self.details(client, "{\"packageKey\":\"abc123\",\"login\":\"sub1\",\"date_end\":\"09.01.2026\",\"date_start\":null}")
            #expect(until.text == "{\"status\":\"success\",\"data\":{\"sub1\":{\"2026-01-09 23:00:00\":5}},\"errors\":[]}")
            // Unknown logins, another tenant's login, the package itself as a "login" of a sibling, and an empty range: data [].
            for body in ["{\"packageKey\":\"abc123\",\"login\":\"nobody\"}", "{\"packageKey\":\"abc123\",\"login\":\"other-sub\"}",
                         "{\"packageKey\":\"abc123\",\"date_start\":\"01.02.2026\",\"date_end\":\"28.02.2026\"}",
                         "{\"packageKey\":\"abc123\",\"date_end\":\"01.01.1960\"}"] {
                let r = try await Self.details(client, body)
                #expect(r.status == .ok)
                #expect(r.text == Self.empty, "\(body)")
            }
        }
    }

    /// Without `date_start` the range starts at the epoch; it is read from the first day with
    /// usage on, so usage decades apart (and at the epoch itself, the earliest time ingest takes) all shows.
    @Test func unboundedRangeSpansDecades() async throws {
        let app = buildApplication(runtime: try await makeRuntime(yaml: proxyYAML()))
        try await app.test(.live) { client in
            try await ingest(client, [
                ProxyEvent(time: "1970-01-01T00:00:00Z", account: "sub1", bytes: 5),
                ProxyEvent(time: "1999-06-01T12:15:00Z", account: "sub2", bytes: 7),
                ProxyEvent(time: "2026-01-10T05:45:00Z", account: "sub1", bytes: 11),
            ])
            let all = try await Self.details(client, "{\"packageKey\":\"abc123\"}")
            #expect(all.text == "{\"status\":\"success\",\"data\":{\"sub1\":{\"1970-01-01 00:00:00\":5,\"2026-01-10 05:00:00\":11},\"sub2\":{\"1999-06-01 12:00:00\":7}},\"errors\":[]}")
            let sub2 = try await Self.details(client, "{\"packageKey\":\"abc123\",\"login\":\"sub2\",\"date_end\":\"01.01.2026\"}")
            #expect(sub2.text == "{\"status\":\"success\",\"data\":{\"sub2\":{\"1999-06-01 12:00:00\":7}},\"errors\":[]}")
        }
    }

    @Test func accessFailuresAreTheTriple() async throws {
        let app = buildApplication(runtime: try await makeRuntime(yaml: proxyYAML(), extraYAML: "auth: { rate_limits: { proxy_seller: { limit: 3, window: 1m } } }"))
        try await app.test(.live) { client in
            for key in ["wrong", "", "fj4948ffhg58gh843gH", String(repeating: "k", count: 600)] where !key.isEmpty {
                let r = try await Self.details(client, "{\"packageKey\":\"abc123\"}", key: key)
                #expect(r.status == .ok)
                #expect(r.text == Self.accessTriple, "\(key.prefix(20))")
            }
            for _ in 0..<3 { #expect(try await Self.details(client, "{\"packageKey\":\"abc123\"}").text == Self.empty) }
            // The fourth request in the minute is over the limit; the other tenant's key has its own allowance.
            #expect(try await Self.details(client, "{\"packageKey\":\"abc123\"}").text == Self.accessTriple)
            #expect(try await Self.details(client, "{\"packageKey\":\"other-pkg\"}", key: "other-key").text == Self.empty)
        }
    }

    @Test func ipAllowList() async throws {
        let app = buildApplication(runtime: try await makeRuntime(yaml: proxyYAML(acmeIPs: "[10.0.0.0/8]"), extraYAML: "auth: { trusted_proxies: [127.0.0.1/32] }"))
        try await app.test(.live) { client in
            let direct = try await Self.details(client, "{\"packageKey\":\"abc123\"}")
            #expect(direct.text == Self.accessTriple)
            var forwarded = Self.json
            forwarded[HTTPField.Name("X-Forwarded-For")!] = "10.1.2.3"
            let allowed = try await Self.details(client, "{\"packageKey\":\"abc123\"}", headers: forwarded)
            #expect(allowed.text == Self.empty)
            forwarded[HTTPField.Name("X-Forwarded-For")!] = "192.168.1.1"
            let refused = try await Self.details(client, "{\"packageKey\":\"abc123\"}", headers: forwarded)
            #expect(refused.text == Self.accessTriple)
        }
    }

    /// Every bad body: the vendor's own error envelope, with HTTP 200, never a 500.
    @Test(arguments: [
        ("{}", notFoundTriple),
        ("", notFoundTriple),
        ("not json", notFoundTriple),
        ("[\"abc123\"]", notFoundTriple),
        ("{\"packageKey\":\"\"}", notFoundTriple),
        ("{\"packageKey\":null}", notFoundTriple),
        ("{\"packageKey\":{\"k\":1}}", notFoundTriple),
        ("{\"package_key\":\"abc123\"}", notFoundTriple),
        ("{\"packageKey\":\"nosuch\"}", notFoundTriple),
        ("{\"packageKey\":\"other-pkg\"}", notFoundTriple),
        ("{\"packageKey\":\"abc123\",\"date_start\":\"2026-01-01\"}", incorrectDate),
        ("{\"packageKey\":\"abc123\",\"date_start\":\"32.01.2026\"}", incorrectDate),
        ("{\"packageKey\":\"abc123\",\"date_start\":\"29.02.2025\"}", incorrectDate),
        ("{\"packageKey\":\"abc123\",\"date_end\":\"1.1.2026\"}", incorrectDate),
        ("{\"packageKey\":\"abc123\",\"date_end\":\"01.01.26\"}", incorrectDate),
        ("{\"packageKey\":\"abc123\",\"date_end\":20260101}", incorrectDate),
        ("{\"packageKey\":\"abc123\",\"date_end\":[\"01.01.2026\"]}", incorrectDate),
        ("{\"packageKey\":\"abc123\",\"date_start\":\"21.01.2026\",\"date_end\":\"20.01.2026\"}", incorrectDate),
        ("{\"packageKey\":\"abc123\",\"date_start\":\"01.01.0001\",\"date_end\":\"01.01.2026\"}", incorrectDate),
        ("{\"packageKey\":\"abc123\",\"login\":{\"name\":\"sub1\"}}", "{\"status\":\"error\",\"data\":null,\"errors\":[{\"message\":\"Incorrect login\",\"code\":0,\"customData\":null}]}"),
    ])
    func badBodies(_ body: String, _ expected: String) async throws {
        let app = buildApplication(runtime: try await makeRuntime(yaml: proxyYAML()))
        try await app.test(.live) { client in
            let r = try await Self.details(client, body)
            #expect(r.status == .ok)
            #expect(r.text == expected, "\(body)")
        }
    }

    @Test func unknownVersionsAndMethods() async throws {
        let app = buildApplication(runtime: try await makeRuntime(yaml: proxyYAML()))
        try await app.test(.live) { client in
            let v3 = try await Self.details(client, "{\"packageKey\":\"abc123\"}", version: "v3")
            #expect(v3.status == .notFound)
            #expect(v3.json?["status"] == .string("error"))
            let get = try await client.execute(uri: "/personal/api/v1/\(Self.key)/resident/traffic/details", method: .get)
            #expect(get.status.code < 500)
            #expect(get.json?["status"] == .string("error") || get.status == .notFound)
            let big = try await Self.details(client, "{\"packageKey\":\"abc123\",\"pad\":\"" + String(repeating: "x", count: 100_000) + "\"}")
            #expect(big.status == .ok)
            #expect(big.text == Self.notFoundTriple)
        }
    }
}
