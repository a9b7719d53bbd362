import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing
import TallyCore
@testable import TallyServer

/// Bounded concurrent load over real sockets (several connections to a live server): in every
/// window, the requests a face admits never pass its limit, and each refusal is the face's own.
@Suite struct RateLimitLoadTests {
    static let connections = 8

    /// One request of a face's burst, and how its answers read.
    struct Face: CustomTestStringConvertible, Sendable {
        let name: String
        let method: HTTPRequest.Method
        let uri: String
        var headers: HTTPFields = [:]
        var body: String?
        /// The configured limit per window (nil: the face's default).
        var limit: Int?
        let admitted: @Sendable (TestClient.Response) -> Bool
        /// Checks a refusal is the face's own answer (status, body, headers).
        let refusal: @Sendable (TestClient.Response) -> Bool
        var testDescription: String { name }
    }

    static func text(_ r: TestClient.Response) -> String { r.body.map { String(buffer: $0) } ?? "" }

    /// `429` with `Retry-After` (and the X-RateLimit trio with the limit) in a JSON body.
    static func retryAfter(_ r: TestClient.Response, limit: Int) -> Bool {
        r.status == .tooManyRequests && (Int(r.headers[.retryAfter] ?? "") ?? 0) >= 1 && (r.headers[HTTPField.Name("X-RateLimit-Limit")!] ?? String(limit)) == String(limit)
            && text(r).contains("{") && !text(r).contains("acme-token")
    }

    static let faces: [Face] = [
        Face(name: "Proxy-Seller (1000 per calendar minute, the access triple)", method: .post,
             uri: "/personal/api/v1/fj4948ffhg58gh843gh/resident/traffic/details", body: #"{"packageKey":"abc123","date_start":"01.01.2026","date_end":"01.01.2026"}"#,
             admitted: { $0.status == .ok && text($0).hasPrefix(#"{"status":"success""#) },
             refusal: { $0.status == .ok && text($0) == #"{"status":"error","data":null,"errors":[{"message":"Error api key","code":503,"customData":null},{"message":"IP not allowed","code":503,"customData":null},{"message":"Request limit reached","code":503,"customData":null}]}"# }),
        Face(name: "Telnyx (429, code 10011, x-ratelimit headers)", method: .get, uri: "/v2/usage_reports/options", headers: bearer("acme-token-1"), limit: 40,
             admitted: { $0.status == .ok },
             refusal: { r in
                 r.status == .tooManyRequests && text(r).contains(#""code":"10011""#) && r.headers[HTTPField.Name("x-ratelimit-limit")!] == "40"
                     && r.headers[HTTPField.Name("x-ratelimit-remaining")!] == "0" && Int(r.headers[HTTPField.Name("x-ratelimit-reset")!] ?? "").map { $0 % 60 == 0 } == true
             }),
        Face(name: "IPRoyal (429, Retry-After)", method: .get,
             uri: "/v1/residential/data-usage-report?hash=01HQ5K3P97DY8EX9Y90YT1K6XA&date_from=2026-01-01&date_to=2026-01-01&measurement_unit=B&rounding_decimal=0",
             headers: bearer("acme-token-1"), limit: 40, admitted: { $0.status == .ok }, refusal: { retryAfter($0, limit: 40) }),
        Face(name: "GoProxies (429, Retry-After)", method: .get, uri: "/api/v1/stats/countries", headers: bearer("acme-token-1"), limit: 40,
             admitted: { $0.status == .ok }, refusal: { retryAfter($0, limit: 40) }),
        Face(name: "OpenMeter (429, Retry-After, problem+json)", method: .get, uri: "/api/v1/meters", headers: bearer("acme-token-1"), limit: 40,
             admitted: { $0.status == .ok }, refusal: { retryAfter($0, limit: 40) && $0.headers[.contentType] == "application/problem+json" }),
        Face(name: "native (429, Retry-After)", method: .get, uri: "/v1/usage?product=residential&from=2026-01-01&to=2026-01-02", headers: bearer("acme-token-1"), limit: 40,
             admitted: { $0.status == .ok }, refusal: { retryAfter($0, limit: 40) && text($0).contains("rate_limited") }),
    ]

    /// The face's key in `auth.rate_limits`.
    static func key(_ f: Face) -> String {
        ["Proxy-Seller": "proxy_seller", "Telnyx": "telnyx", "IPRoyal": "iproyal", "GoProxies": "goproxies", "OpenMeter": "openmeter", "native": "native"][String(f.name.prefix { $0 != " " })]!
    }

    @Test(arguments: faces)
    func admittedPerWindowNeverPassTheLimit(_ face: Face) async throws {
        let limit = face.limit ?? 1000
        // Half-way through a calendar minute: the window ends 30 s on, whatever the burst takes.
        let clock = TestClock(fixedNow + 30)
        let limits = face.limit.map { "rate_limits: { \(Self.key(face)): { limit: \($0), window: 1m } }" } ?? "rate_limits: {}"
        let rt = try await makeRuntime(yaml: authYAML(limits), clock: clock)
        try await buildApplication(runtime: rt).test(.live) { client in
            let port = try #require(client.port)
            for window in 0..<2 {
                let perConnection = (limit + limit / 10) / Self.connections + 1
                let answers = try await withThrowingTaskGroup(of: [TestClient.Response].self) { group in
                    for _ in 0..<Self.connections {
                        group.addTask {
                            try await TestClient.withClient(host: "127.0.0.1", port: port) { c in
                                var out: [TestClient.Response] = []
                                for _ in 0..<perConnection {
                                    let head = TestClient.Request(face.uri, method: face.method, authority: "localhost", headers: face.headers, body: face.body.map { ByteBuffer(string: $0) })
                                    out.append(try await c.execute(head))
                                }
                                return out
                            }
                        }
                    }
                    return try await group.reduce([], +)
                }
                let admitted = answers.filter(face.admitted).count
                #expect(answers.count == Self.connections * perConnection)
                #expect(admitted == limit, "window \(window): \(admitted) admitted, limit \(limit)")
                let refused = answers.filter { !face.admitted($0) }
                #expect(refused.allSatisfy(face.refusal), "window \(window): \(refused.first.map { "\($0.status) \($0.headers) \(Self.text($0))" } ?? "")")
                clock.advance(60)
            }
        }
    }
}
