import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing
import TallyCore
@testable import TallyServer

@Suite struct IPRoyalTests {
    static let sub1Hash = "01HQ5K3P97DY8EX9Y90YT1K6XB"
    static let acmeHash = "01HQ5K3P97DY8EX9Y90YT1K6XA"

    static func uri(hash: String = sub1Hash, from: String = "2026-01-01", to: String = "2026-01-31", unit: String = "GB", decimals: String = "2", extra: String = "") -> String {
        "/v1/residential/data-usage-report?hash=\(hash)&date_from=\(from)&date_to=\(to)&measurement_unit=\(unit)&rounding_decimal=\(decimals)" + extra
    }

    /// The seed's lines with the rows of each date ordered by hostname, then port (spec/dialects.md §1).
    static var seedInFixedOrder: String {
        var lines = iproyalSeedCSV.split(separator: "\n").map(String.init)
        let header = lines.removeFirst()
        let total = lines.removeLast()
        let rows = lines.map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
            .sorted { ($0[0], $0[1], Int($0[2])!) < ($1[0], $1[1], Int($1[2])!) }
        return ([header] + rows.map { $0.joined(separator: ",") } + [total]).joined(separator: "\n") + "\n"
    }

    @Test func seedExampleByteForByte() async throws {
        let app = buildApplication(runtime: try await makeRuntime())
        try await app.test(.router) { client in
            try await ingest(client, iproyalSeedEvents(account: "sub1"))
            let r = try await client.execute(uri: Self.uri(), method: .get, headers: bearer("sub1-token"))
            #expect(r.status == .ok)
            #expect(r.headers[.contentType] == "text/csv")
            #expect(r.headers[.contentDisposition] == "attachment; filename=\"data-usage-\(Self.sub1Hash)-2026-01-01-2026-01-31.csv\"")
            #expect(r.text == Self.seedInFixedOrder)
            // The same lines as the seed, only reordered within dates.
            #expect(r.text.split(separator: "\n").sorted() == iproyalSeedCSV.split(separator: "\n").sorted())
            // A reseller's hash covers its sub-users.
            let parent = try await client.execute(uri: Self.uri(hash: Self.acmeHash), method: .get, headers: bearer("acme-token-1"))
            #expect(parent.text == Self.seedInFixedOrder)
        }
    }

    @Test func unitsRoundingAndExactTotals() async throws {
        let app = buildApplication(runtime: try await makeRuntime())
        try await app.test(.router) { client in
            try await ingest(client, [
                ProxyEvent(time: "2026-02-01T10:00:00Z", account: "sub1", host: "a.com", bytes: 1234, requests: 2),
                ProxyEvent(time: "2026-02-01T10:00:00Z", account: "sub1", host: "b.com", bytes: 410),
                ProxyEvent(time: "2026-02-01T11:00:00Z", account: "sub1", host: "c.com", bytes: 410),
            ])
            func csv(_ unit: String, _ decimals: String) async throws -> String {
                try await client.execute(uri: Self.uri(from: "2026-02-01", to: "2026-02-01", unit: unit, decimals: decimals), method: .get, headers: bearer("sub1-token")).text
            }
            #expect(try await csv("B", "2") == """
            date,hostname,port,data,measurement unit,requests count
            2026-02-01,a.com,443,1234.00,B,2
            2026-02-01,b.com,443,410.00,B,1
            2026-02-01,c.com,443,410.00,B,1
            ,,total:,2054.00,,4

            """)
            // 1234 / 1024 = 1.205..., 410 / 1024 = 0.400...; the total (2.005...) is rounded once, not summed from cells.
            #expect(try await csv("KB", "0") == """
            date,hostname,port,data,measurement unit,requests count
            2026-02-01,a.com,443,1,KB,2
            2026-02-01,b.com,443,0,KB,1
            2026-02-01,c.com,443,0,KB,1
            ,,total:,2,,4

            """)
            // Trailing zeros kept; half-up: 1234 B is 0.001176... MB at 4 decimals = 0.0012.
            #expect(try await csv("MB", "4").contains("2026-02-01,a.com,443,0.0012,MB,2\n"))
            #expect(try await csv("GB", "12").contains("2026-02-01,a.com,443,0.000001149252,GB,2\n"))
        }
    }

    @Test func byteBaseComesFromTheConfiguration() async throws {
        let runtime = try await makeRuntime(extraYAML: "")
        var yaml = contractYAML.replacingOccurrences(of: "units:   { byte_base: 1024 }", with: "units:   { byte_base: 1000 }")
        yaml += "\n"
        let config = try ConfigLoader.load(yaml: yaml, environment: [:])
        let decimal = TallyRuntime(config: config, store: runtime.store, logger: runtime.logger, now: { fixedNow })
        let app = buildApplication(runtime: decimal)
        try await app.test(.router) { client in
            try await ingest(client, [ProxyEvent(time: "2026-02-01T10:00:00Z", account: "sub1", bytes: 1500)])
            let r = try await client.execute(uri: Self.uri(from: "2026-02-01", to: "2026-02-01", unit: "KB", decimals: "1"), method: .get, headers: bearer("sub1-token"))
            #expect(r.text.contains("2026-02-01,example.com,443,1.5,KB,1\n"))
        }
    }

    @Test func datesAreLocalToTheTimeZoneInAnyCase() async throws {
        let app = buildApplication(runtime: try await makeRuntime())
        try await app.test(.router) { client in
            // 03:00 UTC on Jan 2 is still Jan 1 in New York; 23:30 UTC on Jan 1 is Jan 2 in Kathmandu (+05:45).
            try await ingest(client, [
                ProxyEvent(time: "2026-01-02T03:00:00Z", account: "sub1", host: "ny.com", bytes: 10),
                ProxyEvent(time: "2026-01-01T23:30:00Z", account: "sub1", host: "np.com", bytes: 20),
            ])
            let ny = try await client.execute(uri: Self.uri(from: "2026-01-01", to: "2026-01-01", unit: "B", decimals: "0", extra: "&time_zone=america/NEW_YORK"), method: .get, headers: bearer("sub1-token"))
            #expect(ny.text == "date,hostname,port,data,measurement unit,requests count\n2026-01-01,np.com,443,20,B,1\n2026-01-01,ny.com,443,10,B,1\n,,total:,30,,2\n")
            let ktm = try await client.execute(uri: Self.uri(from: "2026-01-02", to: "2026-01-02", unit: "B", decimals: "0", extra: "&time_zone=Asia/Kathmandu"), method: .get, headers: bearer("sub1-token"))
            #expect(ktm.text == "date,hostname,port,data,measurement unit,requests count\n2026-01-02,np.com,443,20,B,1\n2026-01-02,ny.com,443,10,B,1\n,,total:,30,,2\n")
            let utc = try await client.execute(uri: Self.uri(from: "2026-01-01", to: "2026-01-02", unit: "B", decimals: "0"), method: .get, headers: bearer("sub1-token"))
            #expect(utc.text == "date,hostname,port,data,measurement unit,requests count\n2026-01-01,np.com,443,20,B,1\n2026-01-02,ny.com,443,10,B,1\n,,total:,30,,2\n")
        }
    }

    @Test func emptyRangeIsTheHeaderOnlyAndOddHostnamesAreQuoted() async throws {
        let app = buildApplication(runtime: try await makeRuntime())
        try await app.test(.router) { client in
            let empty = try await client.execute(uri: Self.uri(), method: .get, headers: bearer("sub1-token"))
            #expect(empty.status == .ok)
            #expect(empty.text == "date,hostname,port,data,measurement unit,requests count\n")
            try await ingest(client, [
                ProxyEvent(time: "2026-01-05T10:00:00Z", account: "sub1", host: "a,b.com", port: "8080", bytes: 1),
                ProxyEvent(time: "2026-01-05T10:00:00Z", account: "sub1", host: "q\"x.com", port: "80", bytes: 1),
                ProxyEvent(time: "2026-01-05T10:00:00Z", account: "sub1", host: "a,b.com", port: "443", bytes: 1),
                ProxyEvent(time: "2026-01-05T10:00:00Z", account: "sub1", host: "a,b.com", port: "80", bytes: 1),
            ])
            let r = try await client.execute(uri: Self.uri(unit: "B", decimals: "0"), method: .get, headers: bearer("sub1-token"))
            // Ports in numeric order within a hostname.
            #expect(r.text == "date,hostname,port,data,measurement unit,requests count\n2026-01-05,\"a,b.com\",80,1,B,1\n2026-01-05,\"a,b.com\",443,1,B,1\n2026-01-05,\"a,b.com\",8080,1,B,1\n2026-01-05,\"q\"\"x.com\",80,1,B,1\n,,total:,4,,4\n")
            #expect(CSV.parse(r.text)[1][1] == "a,b.com")
        }
    }

    @Test func tokensAndForeignHashes() async throws {
        let app = buildApplication(runtime: try await makeRuntime())
        try await app.test(.router) { client in
            for headers in [HTTPFields(), bearer("nope"), bearer("ingest-secret"), [.authorization: "Basic YTpi"]] {
                let r = try await client.execute(uri: Self.uri(), method: .get, headers: headers)
                #expect(r.status == .unauthorized)
                #expect(r.headers[.contentType] == "application/json")
                #expect(r.text == "{\"error\":{\"code\":\"unauthenticated\",\"message\":\"Unauthenticated.\"}}")
            }
            // Unknown, a parent's, and another tenant's view of a hash: one answer.
            var answers: Set<String> = []
            for (token, hash) in [("sub1-token", "nosuchhash"), ("sub1-token", Self.acmeHash), ("other-token", Self.sub1Hash), ("other-token", Self.acmeHash)] {
                let r = try await client.execute(uri: Self.uri(hash: hash), method: .get, headers: bearer(token))
                #expect(r.status == .notFound, "\(token) \(hash)")
                answers.insert(r.text)
            }
            #expect(answers == ["{\"error\":{\"code\":\"not_found\",\"message\":\"Residential user not found.\"}}"])
            let ok = try await client.execute(uri: Self.uri(hash: Self.sub1Hash), method: .get, headers: bearer("acme-token-1"))
            #expect(ok.status == .ok)
            let route = try await client.execute(uri: "/v1/residential/nothing-here", method: .get, headers: bearer("acme-token-1"))
            #expect(route.status == .notFound)
            #expect(route.json?["error"]?["code"] == .string("not_found"))
        }
    }

    /// Every parameter's bad values: each a 422 naming the parameter, never a 500.
    @Test(arguments: [
        ("hash", uri(hash: "")),
        ("hash", "/v1/residential/data-usage-report?date_from=2026-01-01&date_to=2026-01-02&measurement_unit=GB&rounding_decimal=2"),
        ("date_from", uri(from: "")),
        ("date_from", uri(from: "2026-1-01")),
        ("date_from", uri(from: "2026-02-30")),
        ("date_from", uri(from: "yesterday")),
        ("date_from", uri(from: "2026-01-01T00:00:00Z")),
        ("date_to", uri(to: "31.01.2026")),
        ("date_to", uri(from: "2026-02-01", to: "2026-01-31")),
        ("date_to", uri(from: "1900-01-01", to: "2026-01-31")),
        ("date_from", uri(from: "0001-01-01", to: "0001-01-02", extra: "&time_zone=Europe/London")),
        ("measurement_unit", uri(unit: "gb")),
        ("measurement_unit", uri(unit: "TB")),
        ("measurement_unit", uri(unit: "")),
        ("rounding_decimal", uri(decimals: "-1")),
        ("rounding_decimal", uri(decimals: "13")),
        ("rounding_decimal", uri(decimals: "1.5")),
        ("rounding_decimal", uri(decimals: "two")),
        ("rounding_decimal", uri(decimals: "+2")),
        ("rounding_decimal", uri(decimals: "99999999999999999999")),
        ("rounding_decimal", uri(decimals: "")),
        ("time_zone", uri(extra: "&time_zone=Mars/Base")),
        ("time_zone", uri(extra: "&time_zone=")),
        ("time_zone", uri(extra: "&time_zone=+02:00")),
    ])
    func badParameters(_ parameter: String, _ uri: String) async throws {
        let app = buildApplication(runtime: try await makeRuntime())
        try await app.test(.router) { client in
            let r = try await client.execute(uri: uri, method: .get, headers: bearer("sub1-token"))
            #expect(r.status == .unprocessableContent, "\(uri): \(r.text)")
            #expect(r.json?["error"]?["code"] == .string("validation_failed"))
            guard case .array(let messages)? = r.json?["error"]?["detailed_messages"]?[parameter], !messages.isEmpty else {
                Issue.record("no detailed message for \(parameter): \(r.text)")
                return
            }
        }
    }

    @Test func everyProblemAtOnceAndValidationBeforeTheHash() async throws {
        let app = buildApplication(runtime: try await makeRuntime())
        try await app.test(.router) { client in
            let r = try await client.execute(uri: "/v1/residential/data-usage-report?hash=foreign&date_from=x&measurement_unit=PB&rounding_decimal=-3&time_zone=Nowhere/City", method: .get, headers: bearer("sub1-token"))
            #expect(r.status == .unprocessableContent)
            guard case .object(let detailed)? = r.json?["error"]?["detailed_messages"] else { Issue.record("\(r.text)"); return }
            #expect(detailed.map(\.0) == ["date_from", "date_to", "measurement_unit", "rounding_decimal", "time_zone"])
            #expect(r.json?["error"]?["message"] == .string("The date from field must match the format Y-m-d. (and 4 more errors)"))
        }
    }

    @Test func rateLimitedWithRetryAfter() async throws {
        let app = buildApplication(runtime: try await makeRuntime(extraYAML: "auth: { rate_limits: { iproyal: { limit: 2, window: 1m } } }"))
        try await app.test(.router) { client in
            for _ in 0..<2 {
                #expect(try await client.execute(uri: Self.uri(), method: .get, headers: bearer("sub1-token")).status == .ok)
            }
            let r = try await client.execute(uri: Self.uri(), method: .get, headers: bearer("sub1-token"))
            #expect(r.status == .tooManyRequests)
            #expect(r.headers[.retryAfter] == "60")
            #expect(r.json?["error"]?["code"] == .string("too_many_requests"))
            // Another credential has its own allowance.
            #expect(try await client.execute(uri: Self.uri(), method: .get, headers: bearer("acme-token-1")).status == .ok)
        }
    }
}
