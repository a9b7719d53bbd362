import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import HummingbirdTesting
import Testing
import TallyCore
@testable import TallyServer

@Suite struct NativeAPITests {
    @Test func ingestThenReportExactly() async throws {
        let app = buildApplication(runtime: try await makeRuntime())
        try await app.test(.router) { client in
            let body = [
                event("e1", "2026-01-01T10:00:00Z", "acme-sub1", bytes: 2_150_000, requests: 3),
                event("e2", "2026-01-01T10:20:00Z", "sub1", host: "b.com", bytes: 5),
                event("e3", "2026-01-02T23:59:59Z", "01HQ5K3P97DY8EX9Y90YT1K6XA", bytes: 7),
            ].joined(separator: "\n")
            let r = try await client.execute(uri: "/v1/events", method: .post, headers: bearer("ingest-secret"), body: ByteBuffer(string: body))
            #expect(r.status == .ok)
            #expect(r.text == "{\"accepted\":3,\"duplicates\":0}")

            let q = try await client.execute(uri: "/v1/usage?product=residential&from=2026-01-01&to=2026-01-03&bucket=day&group_by=hostname&format=csv", method: .get, headers: bearer("acme-token-1"))
            #expect(q.status == .ok)
            #expect(q.text == """
            start,end,hostname,bytes,requests
            2026-01-01T00:00:00Z,2026-01-02T00:00:00Z,b.com,5,1
            2026-01-01T00:00:00Z,2026-01-02T00:00:00Z,example.com,2150000,3
            2026-01-02T00:00:00Z,2026-01-03T00:00:00Z,example.com,7,1

            """)
            // The sub-user sees only itself.
            let sub = try await client.execute(uri: "/v1/usage?product=residential&from=2026-01-01&to=2026-01-03&bucket=total&format=csv", method: .get, headers: bearer("sub1-token"))
            #expect(sub.text == "start,end,bytes,requests\n2026-01-01T00:00:00Z,2026-01-03T00:00:00Z,2150005,4\n")
        }
    }

    @Test func reportInZoneWithOffsetsInLabels() async throws {
        let app = buildApplication(runtime: try await makeRuntime())
        try await app.test(.router) { client in
            let body = [event(nil, "2025-11-02T05:30:00Z", "sub1", bytes: 1), event(nil, "2025-11-02T06:30:00Z", "sub1", bytes: 2)].joined(separator: "\n")
            _ = try await client.execute(uri: "/v1/events", method: .post, headers: bearer("ingest-secret"), body: ByteBuffer(string: body))
            let q = try await client.execute(uri: "/v1/usage?product=residential&from=2025-11-02T05:00:00Z&to=2025-11-02T07:00:00Z&bucket=hour&tz=america/new_york&metrics=bytes&format=csv", method: .get, headers: bearer("acme-token-1"))
            #expect(q.text == "start,end,bytes\n2025-11-02T01:00:00-04:00,2025-11-02T01:00:00-05:00,1\n2025-11-02T01:00:00-05:00,2025-11-02T02:00:00-05:00,2\n")
        }
    }

    @Test func invalidBatchStoresNothingAndListsEveryLine() async throws {
        let app = buildApplication(runtime: try await makeRuntime())
        try await app.test(.router) { client in
            let body = [
                event("ok", "2026-01-01T10:00:00Z", "sub1"),
                "{not json",
                event("x", "2026-01-01T10:00:00Z", "nobody"),
                event("y", "2030-01-01T10:00:00Z", "sub1"),
                "{\"time\":\"2026-01-01T10:00:00Z\",\"account\":\"sub1\",\"product\":\"residential\",\"metrics\":{\"bytes\":1.5}}",
            ].joined(separator: "\n")
            let r = try await client.execute(uri: "/v1/events", method: .post, headers: bearer("ingest-secret"), body: ByteBuffer(string: body))
            #expect(r.status == .badRequest)
            guard case .array(let details)? = r.json?["error"]?["details"] else { Issue.record("no details: \(r.text)"); return }
            #expect(details.compactMap { if case .number(let n)? = $0["line"] { return n } else { return nil } } == ["2", "3", "4", "5"])
            #expect(r.text.contains("unknown account \\\"nobody\\\""))
            #expect(r.text.contains("too far in the future"))
            #expect(r.text.contains("metric bytes must be a whole number"))
            let q = try await client.execute(uri: "/v1/usage?product=residential&from=2026-01-01&to=2026-01-02&bucket=total&format=csv", method: .get, headers: bearer("acme-token-1"))
            #expect(q.text == "start,end,bytes,requests\n")
        }
    }

    /// `ingest.max_body_bytes` holds whether the client declares the length (a live socket) or
    /// not (the router test client); a batch just under it is stored whole.
    @Test(arguments: [false, true])
    func ingestBodiesOverTheLimitAreRefused(live: Bool) async throws {
        let yaml = contractYAML.replacingOccurrences(of: "ingest:  { tokens: [ingest-secret],", with: "ingest:  { tokens: [ingest-secret], max_body_bytes: 4096,")
        let app = buildApplication(runtime: try await makeRuntime(yaml: yaml))
        try await app.test(live ? .live : .router) { client in
            let one = event(nil, "2026-01-01T10:00:00Z", "sub1", bytes: 3)
            let n = 4096 / (one.utf8.count + 1)
            let fits = Array(repeating: one, count: n).joined(separator: "\n")
            let over = try await client.execute(uri: "/v1/events", method: .post, headers: bearer("ingest-secret"), body: ByteBuffer(string: fits + "\n" + one))
            #expect(over.status == .contentTooLarge)
            #expect(over.json?["error"]?["code"] == .string("too_large"))
            let ok = try await client.execute(uri: "/v1/events", method: .post, headers: bearer("ingest-secret"), body: ByteBuffer(string: fits))
            #expect(ok.status == .ok)
            #expect(ok.text == "{\"accepted\":\(n),\"duplicates\":0}")
            let q = try await client.execute(uri: "/v1/usage?product=residential&from=2026-01-01&to=2026-01-02&bucket=total&metrics=bytes&format=csv", method: .get, headers: bearer("acme-token-1"))
            #expect(q.text == "start,end,bytes\n2026-01-01T00:00:00Z,2026-01-02T00:00:00Z,\(3 * n)\n")
        }
    }

    @Test func idempotencyKeyAndEventIDsCountOnce() async throws {
        let app = buildApplication(runtime: try await makeRuntime())
        try await app.test(.router) { client in
            var h = bearer("ingest-secret")
            h[HTTPField.Name("Idempotency-Key")!] = "batch-1"
            let body = ByteBuffer(string: [event("a", "2026-01-01T10:00:00Z", "sub1", bytes: 10), event("a", "2026-01-01T10:00:00Z", "sub1", bytes: 10)].joined(separator: "\n"))
            let first = try await client.execute(uri: "/v1/events", method: .post, headers: h, body: body)
            #expect(first.text == "{\"accepted\":1,\"duplicates\":1}")
            let retry = try await client.execute(uri: "/v1/events", method: .post, headers: h, body: body)
            #expect(retry.text == first.text)
            #expect(retry.headers[HTTPField.Name("Idempotent-Replayed")!] == "true")
            // Without the key, the event id still dedups.
            let again = try await client.execute(uri: "/v1/events", method: .post, headers: bearer("ingest-secret"), body: body)
            #expect(again.text == "{\"accepted\":0,\"duplicates\":2}")
            let q = try await client.execute(uri: "/v1/usage?product=residential&from=2026-01-01&to=2026-01-02&bucket=total&format=csv", method: .get, headers: bearer("acme-token-1"))
            #expect(q.text.hasSuffix(",10,1\n"))
        }
    }

    @Test func accountTokensIngestOnlyTheirSubtreeAndReadOnlyIt() async throws {
        let app = buildApplication(runtime: try await makeRuntime())
        try await app.test(.router) { client in
            let foreign = try await client.execute(uri: "/v1/events", method: .post, headers: bearer("sub1-token"), body: ByteBuffer(string: event(nil, "2026-01-01T10:00:00Z", "sub2")))
            #expect(foreign.status == .badRequest)
            #expect(foreign.text.contains("unknown account"))
            let own = try await client.execute(uri: "/v1/events", method: .post, headers: bearer("sub1-token"), body: ByteBuffer(string: event(nil, "2026-01-01T10:00:00Z", "sub1")))
            #expect(own.status == .ok)
            for (token, account, status) in [("other-token", "acme", HTTPResponse.Status.notFound), ("other-token", "nobody", .notFound), ("sub1-token", "acme", .notFound), ("acme-token-1", "sub2", .ok), ("bad", "acme", .unauthorized), ("ingest-secret", "acme", .forbidden)] {
                let r = try await client.execute(uri: "/v1/usage?account=\(account)&product=residential&from=2026-01-01&to=2026-01-02", method: .get, headers: bearer(token))
                #expect(r.status == status, "\(token) reading \(account)")
                #expect(!r.text.contains("Acme"))
            }
            let none = try await client.execute(uri: "/v1/usage?product=residential&from=2026-01-01&to=2026-01-02", method: .get)
            #expect(none.status == .unauthorized)
        }
    }

    @Test func everyBadParameterIsReportedAtOnce() async throws {
        let app = buildApplication(runtime: try await makeRuntime())
        try await app.test(.router) { client in
            let r = try await client.execute(uri: "/v1/usage?product=residential&from=yesterday&to=2026-13-01&bucket=fortnight&tz=Mars/Base&limit=0&fill=maybe&bogus=1", method: .get, headers: bearer("acme-token-1"))
            #expect(r.status == .badRequest)
            for p in ["from", "to", "bucket", "tz", "limit", "fill", "bogus"] { #expect(r.text.contains("\"parameter\":\"\(p)\""), "\(p)") }
            let r2 = try await client.execute(uri: "/v1/usage?product=residential&from=2026-01-02&to=2026-01-01&group_by=planet&metrics=gold&filter[moon]=x", method: .get, headers: bearer("acme-token-1"))
            #expect(r2.status == .badRequest)
            for p in ["to", "group_by", "metrics", "filter[moon]"] { #expect(r2.text.contains("\"parameter\":\"\(p)\""), "\(p)") }
            let r3 = try await client.execute(uri: "/v1/usage?product=residential&from=2026-01-01T00:07:00Z&to=2026-01-02", method: .get, headers: bearer("acme-token-1"))
            #expect(r3.status == .badRequest)
        }
    }

    @Test func decimalCostsAreExactInJSONAndCSV() async throws {
        let app = buildApplication(runtime: try await makeRuntime())
        try await app.test(.router) { client in
            let lines = (0..<1000).map { i in
                "{\"time\":\"2026-01-01T10:00:00Z\",\"account\":\"acme\",\"product\":\"messaging\",\"dimensions\":{\"direction\":\"outbound\"},\"metrics\":{\"cost\":\"0.000\(100 + i % 7)\",\"parts\":1,\"count\":1}}"
            }
            let r = try await client.execute(uri: "/v1/events", method: .post, headers: bearer("ingest-secret"), body: ByteBuffer(string: lines.joined(separator: "\n")))
            #expect(r.status == .ok)
            let expected = (0..<1000).reduce(Decimal(0)) { $0 + Decimal(string: "0.000\(100 + $1 % 7)")! }
            let q = try await client.execute(uri: "/v1/usage?product=messaging&from=2026-01-01&to=2026-01-02&bucket=day&metrics=cost&format=csv", method: .get, headers: bearer("acme-token-1"))
            let cell = q.text.split(separator: "\n")[1].split(separator: ",")[2]
            #expect(Decimal(string: String(cell)) == expected)
            #expect(cell == "0.102997")
            let j = try await client.execute(uri: "/v1/usage?product=messaging&from=2026-01-01&to=2026-01-02&bucket=day&metrics=cost", method: .get, headers: bearer("acme-token-1"))
            #expect(j.text.contains("\"cost\":\"0.102997\""))
        }
    }

    @Test func cursorPagesCoverTheWholeReport() async throws {
        let app = buildApplication(runtime: try await makeRuntime())
        try await app.test(.router) { client in
            let lines = (0..<50).map { i in event(nil, "2026-01-0\(1 + i % 5)T1\(i % 10):00:00Z", "sub1", host: "h\(i % 7).com", bytes: Int64(i)) }
            _ = try await client.execute(uri: "/v1/events", method: .post, headers: bearer("ingest-secret"), body: ByteBuffer(string: lines.joined(separator: "\n")))
            let base = "/v1/usage?product=residential&from=2026-01-01&to=2026-01-06&bucket=day&group_by=hostname"
            let all = try await client.execute(uri: base + "&format=csv", method: .get, headers: bearer("acme-token-1"))
            var rows: [String] = []
            var cursor: String? = nil
            repeat {
                let r = try await client.execute(uri: base + "&limit=4" + (cursor.map { "&cursor=\($0)" } ?? ""), method: .get, headers: bearer("acme-token-1"))
                guard case .array(let page)? = r.json?["rows"] else { Issue.record("\(r.text)"); return }
                #expect(page.count <= 4)
                rows += page.map { row in
                    guard case .string(let s)? = row["start"], case .string(let h)? = row["dimensions"]?["hostname"], case .number(let b)? = row["metrics"]?["bytes"] else { return "?" }
                    return "\(s),\(h),\(b)"
                }
                if case .string(let c)? = r.json?["next_cursor"] { cursor = c } else { cursor = nil }
            } while cursor != nil
            let expected = all.text.split(separator: "\n").dropFirst().map { l -> String in
                let c = l.split(separator: ",")
                return "\(c[0]),\(c[2]),\(c[3])"
            }
            #expect(rows == expected)
        }
    }

    @Test func cloudEventsAnswer204AndDedup() async throws {
        let app = buildApplication(runtime: try await makeRuntime())
        try await app.test(.router) { client in
            let ce = "[{\"specversion\":\"1.0\",\"id\":\"c1\",\"source\":\"svc\",\"type\":\"residential\",\"subject\":\"sub1\",\"time\":\"2026-01-01T10:00:00Z\",\"data\":{\"hostname\":\"x.com\",\"bytes\":100,\"requests\":1,\"extra\":\"ignored\"}},{\"specversion\":\"1.0\",\"id\":\"c1\",\"source\":\"svc\",\"type\":\"residential\",\"subject\":\"sub1\",\"time\":\"2026-01-01T10:00:00Z\",\"data\":{\"hostname\":\"x.com\",\"bytes\":100}}]"
            var h = bearer("ingest-secret")
            h[.contentType] = "application/cloudevents-batch+json"
            let r = try await client.execute(uri: "/api/v1/events", method: .post, headers: h, body: ByteBuffer(string: ce))
            #expect(r.status == .noContent)
            let bad = try await client.execute(uri: "/api/v1/events", method: .post, headers: h, body: ByteBuffer(string: "[{\"id\":\"z\"}]"))
            #expect(bad.status == .badRequest)
            #expect(bad.headers[.contentType] == "application/problem+json")
            let q = try await client.execute(uri: "/v1/usage?product=residential&from=2026-01-01&to=2026-01-02&bucket=total&group_by=hostname&format=csv", method: .get, headers: bearer("acme-token-1"))
            #expect(q.text == "start,end,hostname,bytes,requests\n2026-01-01T00:00:00Z,2026-01-02T00:00:00Z,x.com,100,1\n")
        }
    }

    @Test func opsEndpoints() async throws {
        let app = buildApplication(runtime: try await makeRuntime())
        try await app.test(.router) { client in
            #expect(try await client.execute(uri: "/healthz", method: .get).status == .ok)
            #expect(try await client.execute(uri: "/readyz", method: .get).status == .ok)
            _ = try await client.execute(uri: "/v1/events", method: .post, headers: bearer("ingest-secret"), body: ByteBuffer(string: event(nil, "2026-01-01T10:00:00Z", "sub1")))
            _ = try await client.execute(uri: "/v1/events", method: .post, headers: bearer("ingest-secret"), body: ByteBuffer(string: "nope"))
            let m = try await client.execute(uri: "/metrics", method: .get)
            #expect(m.text.contains("tally_events_accepted_total 1"))
            #expect(m.text.contains("tally_events_rejected_total 1"))
            #expect(m.text.contains("tally_ingest_duration_seconds_bucket"))
            let doc = try await client.execute(uri: "/openapi.json", method: .get)
            let paths = doc.json?["paths"]
            #expect(paths?["/v1/events"]?["post"] != nil)
            #expect(paths?["/v1/usage"]?["get"] != nil)
            // Every parameter the usage route accepts is documented, and nothing more.
            guard case .array(let params)? = paths?["/v1/usage"]?["get"]?["parameters"] else { Issue.record("no parameters"); return }
            let documented = Set(params.compactMap { if case .string(let n)? = $0["name"] { return n } else { return nil } })
            #expect(documented == ["account", "scope", "product", "from", "to", "bucket", "tz", "week_start", "group_by", "metrics", "fill", "sort", "limit", "cursor", "format", "filter"])
        }
    }
}
