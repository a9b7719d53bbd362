import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing
import TallyCore
@testable import TallyServer

/// `GET /api/v1/meters[/{slug}[/query]]` over CloudEvents ingested at `/api/v1/events`.
@Suite struct OpenMeterDialectTests {
    static let may1 = RFC3339.parse("2026-03-06T00:00:00Z")!
    /// Six days across New York's spring-forward night (2026-03-08), so one local day has 23 hours.
    static let events = RawMessage.generate(seed: 7, count: 500, start: may1, days: 6, accounts: ["acme", "acme-sub1", "sub2", "other"])

    /// The CloudEvent of a raw message (`subject` as given: id or username).
    static func cloudEvent(_ e: RawMessage, id: String) -> String {
        "{\"specversion\":\"1.0\",\"id\":\"\(id)\",\"source\":\"om-test\",\"type\":\"messaging\",\"subject\":\"\(e.account)\",\"time\":\"\(RFC3339.format(e.time, offset: 0))\","
            + "\"data\":{\"direction\":\"\(e.direction)\",\"currency\":\"USD\",\"message_type\":\"\(e.type)\",\"country_code\":\"\(e.country)\",\"cost\":\(RawMessage.decimal(e.costMicros)),\"parts\":\(e.parts),\"count\":1}}"
    }

    static func ingestCloudEvents(_ events: [RawMessage], _ client: some TestClientProtocol) async throws {
        var h = bearer("ingest-secret")
        h[.contentType] = "application/cloudevents-batch+json"
        let body = "[" + events.enumerated().map { cloudEvent($1, id: "e\($0)") }.joined(separator: ",") + "]"
        let r = try await client.execute(uri: "/api/v1/events", method: .post, headers: h, body: ByteBuffer(string: body))
        #expect(r.status == .noContent, "\(r.text)")
    }

    /// The oracle: sums of cost per (window start in `zone`, subject?) computed with Foundation's calendar.
    static func windows(_ events: [RawMessage], accounts: Set<String>, from: Int64, to: Int64, zone: String, component: Calendar.Component) -> [Int64: Int64] {
        var cal = Calendar(identifier: .gregorian)
        cal.timeZone = TimeZone(identifier: zone)!
        var out: [Int64: Int64] = [:]
        for e in events where accounts.contains(e.account) && e.time >= from && e.time < to {
            let start = cal.dateInterval(of: component, for: Date(timeIntervalSince1970: TimeInterval(e.time)))!.start
            out[max(from, Int64(start.timeIntervalSince1970)), default: 0] += e.costMicros
        }
        return out
    }

    static func rows(_ r: TestResponse) -> [JSONValue] { r.json?["data"]?.items ?? [] }

    @Test(arguments: [("HOUR", "Asia/Kolkata", Calendar.Component.hour), ("DAY", "America/New_York", .day), ("DAY", "Asia/Kathmandu", .day)])
    func windowsInAZoneMatchTheRawEvents(_ w: (String, String, Calendar.Component)) async throws {
        let app = buildApplication(runtime: try await makeRuntime())
        try await app.test(.router) { client in
            try await Self.ingestCloudEvents(Self.events, client)
            let from = Self.may1, to = Self.may1 + 6 * 86400
            let r = try await client.execute(uri: "/api/v1/meters/messaging_cost/query?from=2026-03-06T00:00:00.000Z&to=2026-03-12T00:00:00Z&windowSize=\(w.0)&windowTimeZone=\(w.1)", method: .get, headers: bearer("acme-token-1"))
            #expect(r.status == .ok, "\(r.text)")
            let zone = Zone(named: w.1)!
            let expected = Self.windows(Self.events, accounts: ["acme", "acme-sub1", "sub2"], from: from, to: to, zone: w.1, component: w.2)
            var got: [Int64: Int64] = [:]
            for row in Self.rows(r) {
                let start = RFC3339.parse(row["windowStart"]!.string!)!
                guard case .number(let v)? = row["value"], case .success(let micros) = Exact.parse(v, scale: 6) else { Issue.record("bad value in \(row)"); continue }
                got[start] = micros
                #expect(row["windowStart"]!.string == RFC3339.format(start, in: zone))
                #expect(row["subject"] == .null)
                #expect(row["groupBy"] == .object([]))
            }
            #expect(got == expected)
            #expect(r.json?["windowSize"]?.string == w.0)
            if w.1 == "America/New_York" {
                // The spring-forward day is 23 hours long.
                let short = Self.rows(r).first { $0["windowStart"]?.string == "2026-03-08T00:00:00-05:00" }
                #expect(short?["windowEnd"]?.string == "2026-03-09T00:00:00-04:00")
            }
        }
    }

    @Test func subjectsFilterAndSplitAndForeignSubjectsHaveNoUsage() async throws {
        let app = buildApplication(runtime: try await makeRuntime())
        try await app.test(.router) { client in
            try await Self.ingestCloudEvents(Self.events, client)
            let range = "from=2026-03-06T00:00:00Z&to=2026-03-12T00:00:00Z"
            let sum = { (accounts: Set<String>) in Self.events.filter { accounts.contains($0.account) }.reduce(Int64(0)) { $0 + $1.costMicros } }
            let bySubject = try await client.execute(uri: "/api/v1/meters/messaging_cost/query?\(range)&subject=sub1&subject=acme-sub2&subject=other&subject=ghost", method: .get, headers: bearer("acme-token-1"))
            let rows = Self.rows(bySubject).map(\.textFields)
            // Rows name each subject as the caller did, in account order.
            #expect(rows.map { $0["subject"] } == ["sub1", "acme-sub2"])
            #expect(rows.map { $0["value"]! } == [naturalDecimal(RawMessage.decimal(sum(["acme-sub1"]))), naturalDecimal(RawMessage.decimal(sum(["sub2"])))])
            #expect(rows.allSatisfy { $0["windowStart"] == "2026-03-06T00:00:00Z" && $0["windowEnd"] == "2026-03-12T00:00:00Z" })
            // Foreign and unknown subjects alone: the same empty answer.
            for s in ["other", "ghost"] {
                let r = try await client.execute(uri: "/api/v1/meters/messaging_cost/query?\(range)&subject=\(s)", method: .get, headers: bearer("acme-token-1"))
                #expect(r.status == .ok)
                #expect(Self.rows(r).isEmpty)
            }
            let grouped = try await client.execute(uri: "/api/v1/meters/messaging_cost/query?\(range)&groupBy=subject&groupBy=direction&filterGroupBy%5Bcountry_code%5D=US", method: .get, headers: bearer("acme-token-1"))
            var expected: [String: Int64] = [:]
            for e in Self.events where e.account != "other" && e.country == "US" {
                expected[(e.account == "sub2" ? "acme-sub2" : e.account) + "/" + e.direction, default: 0] += e.costMicros
            }
            let got = Dictionary(uniqueKeysWithValues: Self.rows(grouped).map { row in
                (row["subject"]!.string! + "/" + row["groupBy"]!["direction"]!.string!, naturalDecimal(row.textFields["value"]!))
            })
            #expect(got == expected.mapValues { naturalDecimal(RawMessage.decimal($0)) })
        }
    }

    @Test func csvByAccept() async throws {
        let app = buildApplication(runtime: try await makeRuntime())
        try await app.test(.router) { client in
            let e = [
                RawMessage(time: Self.may1 + 60, account: "sub1", direction: "inbound", country: "US", type: "SMS", costMicros: 800, parts: 17),
                RawMessage(time: Self.may1 + 3700, account: "sub1", direction: "outbound", country: "US", type: "SMS", costMicros: 1_000_001, parts: 1),
            ]
            try await Self.ingestCloudEvents(e, client)
            var h = bearer("sub1-token")
            h[.accept] = "text/csv"
            let r = try await client.execute(uri: "/api/v1/meters/messaging_cost/query?from=2026-03-06T00:00:00Z&to=2026-03-06T02:00:00Z&windowSize=HOUR&groupBy=direction&subject=sub1", method: .get, headers: h)
            #expect(r.headers[.contentType] == "text/csv")
            #expect(r.headers[.contentDisposition] == "attachment; filename=messaging_cost.csv")
            #expect(r.text == "window_start,window_end,subject,direction,value\n2026-03-06T00:00:00Z,2026-03-06T01:00:00Z,sub1,inbound,0.000800\n2026-03-06T01:00:00Z,2026-03-06T02:00:00Z,sub1,outbound,1.000001\n")
            let parts = try await client.execute(uri: "/api/v1/meters/messaging_parts/query?from=2026-03-06T00:00:00Z&to=2026-03-06T02:00:00Z", method: .get, headers: bearer("sub1-token"))
            #expect(parts.text == "{\"from\":\"2026-03-06T00:00:00Z\",\"to\":\"2026-03-06T02:00:00Z\",\"data\":[{\"value\":18,\"windowStart\":\"2026-03-06T00:00:00Z\",\"windowEnd\":\"2026-03-06T02:00:00Z\",\"subject\":null,\"groupBy\":{}}]}")
        }
    }

    @Test func cloudEventsWithTheSameSourceAndIDCountOnce() async throws {
        let app = buildApplication(runtime: try await makeRuntime())
        try await app.test(.router) { client in
            let e = RawMessage(time: Self.may1 + 60, account: "sub1", direction: "inbound", country: "US", type: "SMS", costMicros: 250, parts: 1)
            var h = bearer("ingest-secret")
            h[.contentType] = "application/cloudevents-batch+json"
            let batch = "[" + Self.cloudEvent(e, id: "same") + "," + Self.cloudEvent(e, id: "same") + "," + Self.cloudEvent(e, id: "other") + "]"
            let first = try await client.execute(uri: "/api/v1/events", method: .post, headers: h, body: ByteBuffer(string: batch))
            #expect(first.status == .noContent)
            h[.contentType] = "application/cloudevents+json"
            let again = try await client.execute(uri: "/api/v1/events", method: .post, headers: h, body: ByteBuffer(string: Self.cloudEvent(e, id: "same")))
            #expect(again.status == .noContent)
            let r = try await client.execute(uri: "/api/v1/meters/messaging_count/query?from=2026-03-06T00:00:00Z&to=2026-03-07T00:00:00Z", method: .get, headers: bearer("acme-token-1"))
            #expect(Self.rows(r).first?["value"] == .number("2"))
        }
    }

    @Test func metersListDefaultsAndConfiguredMeters() async throws {
        let app = buildApplication(runtime: try await makeRuntime())
        try await app.test(.router) { client in
            let r = try await client.execute(uri: "/api/v1/meters", method: .get, headers: bearer("sub1-token"))
            #expect(r.json?.items.compactMap { $0["slug"]?.string } == ["residential_bytes", "residential_requests", "messaging_cost", "messaging_parts", "messaging_count"])
            let one = try await client.execute(uri: "/api/v1/meters/messaging_cost", method: .get, headers: bearer("sub1-token"))
            #expect(one.json?["eventType"]?.string == "messaging")
            #expect(one.json?["valueProperty"]?.string == "$.cost")
            #expect(one.json?["aggregation"]?.string == "SUM")
            #expect(one.json?["groupBy"]?["country_code"]?.string == "$.country_code")
        }
        let runtime = try await makeRuntime(extraYAML: "meters:\n  sms_spend: { product: messaging, metric: cost }\n  traffic: { product: residential, metric: bytes }\n")
        #expect(runtime.config.meters == [MeterSpec(slug: "sms_spend", product: "messaging", metric: "cost"), MeterSpec(slug: "traffic", product: "residential", metric: "bytes")])
        try await buildApplication(runtime: runtime).test(.router) { client in
            try await Self.ingestCloudEvents([RawMessage(time: Self.may1, account: "sub1", direction: "inbound", country: "US", type: "SMS", costMicros: 5, parts: 1)], client)
            let r = try await client.execute(uri: "/api/v1/meters/sms_spend/query?from=2026-03-06T00:00:00Z&to=2026-03-07T00:00:00Z", method: .get, headers: bearer("acme-token-1"))
            #expect(Self.rows(r).first?["value"] == .number("0.000005"))
            let gone = try await client.execute(uri: "/api/v1/meters/messaging_cost/query", method: .get, headers: bearer("acme-token-1"))
            #expect(gone.status == .notFound)
        }
    }

    @Test func badMeterConfigurationIsReported() throws {
        let yaml = contractYAML + "\nmeters:\n  bad-slug: { product: messaging, metric: cost }\n  a: { product: nope, metric: cost }\n  b: { product: messaging, metric: bytes }\n  c: { product: messaging }\n  d: { product: messaging, metric: cost, unit: x }\n"
        do {
            _ = try ConfigLoader.load(yaml: yaml, environment: [:])
            Issue.record("accepted a bad meters section")
        } catch let e as ConfigError {
            #expect(e.problems.map(\.path) == ["meters.bad-slug", "meters.a.product", "meters.b.metric", "meters.c.metric", "meters.d.unit"])
        }
    }

    /// A bad query and the status it must get (always problem+json).
    static let badQueries: [(String, Int)] = [
        ("messaging_cost/query?windowSize=WEEK", 400),
        ("messaging_cost/query?windowTimeZone=Mars/Olympus", 400),
        ("messaging_cost/query?from=yesterday", 400),
        ("messaging_cost/query?from=2026-03-06T00:00:00Z&to=2026-03-06T00:00:00Z", 400),
        ("messaging_cost/query?from=2026-03-06T00:00:00Z&to=2026-03-05T00:00:00Z", 400),
        ("messaging_cost/query?from=2026-03-06T00:07:00Z&to=2026-03-07T00:00:00Z", 400),
        ("messaging_cost/query?groupBy=hostname", 400),
        ("messaging_cost/query?filterGroupBy%5Bhostname%5D=x", 400),
        ("messaging_cost/query?filterCustomerId=c1", 400),
        ("messaging_cost/query?windowSize=MINUTE", 400),
        ("messaging_cost/query?from=%FF&to=%00", 400),
        ("nope/query", 404),
        ("nope", 404),
    ]

    @Test(arguments: badQueries) func everyBadParameterGetsAProblem(_ bad: (String, Int)) async throws {
        let app = buildApplication(runtime: try await makeRuntime())
        try await app.test(.router) { client in
            let r = try await client.execute(uri: "/api/v1/meters/" + bad.0, method: .get, headers: bearer("acme-token-1"))
            #expect(Int(r.status.code) == bad.1, "\(r.text)")
            #expect(r.headers[.contentType] == "application/problem+json")
            #expect(r.json?["status"]?.int == bad.1)
            #expect(r.json?["detail"]?.string?.isEmpty == false)
        }
    }

    @Test func rateLimitAnswers429WithRetryAfter() async throws {
        let app = buildApplication(runtime: try await makeRuntime(extraYAML: "auth: { rate_limits: { openmeter: { limit: 2, window: 1h } } }"))
        try await app.test(.router) { client in
            for _ in 0..<2 {
                #expect(try await client.execute(uri: "/api/v1/meters", method: .get, headers: bearer("acme-token-1")).status == .ok)
            }
            let r = try await client.execute(uri: "/api/v1/meters/messaging_cost/query", method: .get, headers: bearer("acme-token-1"))
            #expect(r.status == .tooManyRequests)
            #expect(r.headers[.contentType] == "application/problem+json")
            #expect(r.headers[.retryAfter] == "3600")
            // Another credential has its own window.
            #expect(try await client.execute(uri: "/api/v1/meters", method: .get, headers: bearer("sub1-token")).status == .ok)
        }
    }

    @Test(arguments: [nil, "Bearer nope", "Bearer ingest-secret"]) func badCredentialsGet401(_ authorization: String?) async throws {
        let app = buildApplication(runtime: try await makeRuntime())
        try await app.test(.router) { client in
            var h: HTTPFields = [:]
            if let authorization { h[.authorization] = authorization }
            for path in ["/api/v1/meters", "/api/v1/meters/messaging_cost", "/api/v1/meters/messaging_cost/query"] {
                let r = try await client.execute(uri: path, method: .get, headers: h)
                #expect(r.status == .unauthorized)
                #expect(r.headers[.contentType] == "application/problem+json")
            }
        }
    }
}
