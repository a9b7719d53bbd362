import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing
import TallyCore
@testable import TallyServer

/// The three proxy dialects report the same bytes for the same events and range, and that is
/// the exact sum of the events themselves.
@Suite struct ProxyDialectAgreementTests {
    @Test func iproyalProxySellerAndGoProxiesAgree() async throws {
        var rng = SeededRandom(seed: 4_2026)
        let start = RFC3339.parse("2025-12-30T00:00:00Z")!
        let events = (0..<600).map { _ in
            ProxyEvent(time: RFC3339.format(start + rng.below(Int64(35 * 86400)), offset: 0), account: rng.pick(["acme", "sub1", "sub2", "other-sub"]),
                       host: "h\(rng.below(7)).com", port: rng.pick(["80", "443"]), country: rng.pick(["US", "DE"]), status: rng.pick(["200", "407"]),
                       bytes: rng.below(Int64(1) << 40), requests: 1 + rng.below(Int64(9)))
        }
        let (lo, hi) = (RFC3339.parse("2026-01-01T00:00:00Z")!, RFC3339.parse("2026-02-01T00:00:00Z")!)
        let expected = events.filter { e in
            let t = RFC3339.parse(e.time)!
            return e.account != "other-sub" && t >= lo && t < hi
        }.reduce(Int64(0)) { $0 + $1.bytes }

        let app = buildApplication(runtime: try await makeRuntime(yaml: proxyYAML()))
        try await app.test(.live) { client in
            try await ingest(client, events)
            let csv = try await client.execute(uri: "/v1/residential/data-usage-report?hash=01HQ5K3P97DY8EX9Y90YT1K6XA&date_from=2026-01-01&date_to=2026-01-31&measurement_unit=B&rounding_decimal=0",
                                               method: .get, headers: bearer("acme-token-1"))
            let lines = CSV.parse(csv.text)
            let iproyalTotal = Int64(lines.last![3])!
            #expect(lines.dropFirst().dropLast().reduce(Int64(0)) { $0 + Int64($1[3])! } == iproyalTotal)

            let details = try await client.execute(uri: "/personal/api/v2/fj4948ffhg58gh843gh/resident/traffic/details", method: .post, headers: [.contentType: "application/json"],
                                                   body: ByteBuffer(string: "{\"packageKey\":\"abc123\",\"date_start\":\"01.01.2026\",\"date_end\":\"31.01.2026\"}"))
            var proxySellerTotal: Int64 = 0
            if case .object(let logins)? = details.json?["data"] {
                for (_, hours) in logins {
                    if case .object(let hs) = hours { for (_, v) in hs { if case .number(let n) = v { proxySellerTotal += Int64(n)! } } }
                }
            }

            let traffic = try await client.execute(uri: "/api/v1/stats/traffic?start_at=2026-01-01&end_at=2026-01-31", method: .get, headers: bearer("acme-token-1"))
            let history = try await client.execute(uri: "/api/v1/stats/traffic/history?start_at=2026-01-01T00:00:00Z&end_at=2026-02-01T00:00:00Z&interval=hour", method: .get, headers: bearer("acme-token-1"))
            var historyTotal: Int64 = 0
            if case .array(let values)? = history.json?["values"] {
                #expect(values.count == 31 * 24)
                for v in values { if case .number(let n)? = v["bytes"] { historyTotal += Int64(n)! } }
            }
            #expect(expected > 0)
            #expect(iproyalTotal == expected)
            #expect(proxySellerTotal == expected)
            #expect(traffic.json?["bytes"] == .number(String(expected)))
            #expect(historyTotal == expected)
        }
    }
}
