import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing
import TallyCore
@testable import TallyServer

/// Request spellings at the edge of the native and Telnyx parsers, each with its clear answer.
@Suite struct RequestEdgeCaseTests {
    static let usage = "/v1/usage?product=residential&from=2026-01-01&to=2026-01-02&bucket=total"

    @Test func duplicateMetricsAreA400NamingTheParameter() async throws {
        let rt = try await makeRuntime()
        try await buildApplication(runtime: rt).test(.router) { client in
            for metrics in ["bytes,bytes", "bytes,requests,bytes", "requests&metrics=requests"] {
                let r = try await client.execute(uri: Self.usage + "&metrics=" + metrics, method: .get, headers: bearer("acme-token-1"))
                #expect(r.status == .badRequest, "\(metrics): \(r.text)")
                #expect(r.json?["error"]?["code"] == .string("invalid_parameters"))
                #expect(r.json?["error"]?["details"]?.items.contains { $0["parameter"] == .string("metrics") && $0["message"]?.string?.contains("more than once") == true } == true, "\(r.text)")
            }
            let distinct = try await client.execute(uri: Self.usage + "&metrics=bytes,requests", method: .get, headers: bearer("acme-token-1"))
            #expect(distinct.status == .ok, "\(distinct.text)")
        }
    }

    @Test func percentEncodedFilterKeysAreFilters() async throws {
        let rt = try await makeRuntime()
        try await buildApplication(runtime: rt).test(.router) { client in
            let events = [event(nil, "2026-01-01T10:00:00Z", "acme", host: "a.example", bytes: 5), event(nil, "2026-01-01T10:00:00Z", "acme", host: "b.example", bytes: 7)]
            try await ingest(events, client)
            var totals: [String: JSONValue?] = [:]
            for key in ["filter[hostname]", "filter%5Bhostname%5D", "filter%5bhostname%5d", "filter%5Bhostname]"] {
                let r = try await client.execute(uri: Self.usage + "&\(key)=b.example&metrics=bytes", method: .get, headers: bearer("acme-token-1"))
                #expect(r.status == .ok, "\(key): \(r.text)")
                totals[key] = r.json?["rows"]?.items.first?["metrics"]?["bytes"]
            }
            #expect(Set(totals.values.map { $0?.serialized ?? "nil" }) == ["7"], "\(totals)")
        }
    }

    @Test(arguments: ["/v2/nope", "/v2/usage_reports/options/extra", "/v2/usage_reports/x/y", "/v2/a/b/c/d"])
    func unknownPathsUnderV2AnswerInTelnyxFormat(_ path: String) async throws {
        let rt = try await makeRuntime()
        try await buildApplication(runtime: rt).test(.router) { client in
            for method in [HTTPRequest.Method.get, .post, .delete] {
                let r = try await client.execute(uri: path, method: method, headers: bearer("acme-token-1"))
                #expect(r.status == .notFound, "\(method) \(path): \(r.status)")
                #expect(r.json?["errors"]?.items.first?["code"] == .string("10005"), "\(method) \(path): \(r.text)")
            }
        }
    }
}
