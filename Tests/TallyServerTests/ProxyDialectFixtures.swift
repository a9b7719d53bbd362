import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing
import TallyCore

/// Events and helpers shared by the IPRoyal, Proxy-Seller and GoProxies dialect tests.
struct ProxyEvent {
    var time: String
    var account: String
    var host = "example.com"
    var port = "443"
    var country = "US"
    var status = "200"
    var bytes: Int64
    var requests: Int64 = 1

    var ndjson: String {
        "{\"time\":\"\(time)\",\"account\":\"\(account)\",\"product\":\"residential\",\"dimensions\":{\"hostname\":" + JSONValue.quote(host)
            + ",\"port\":\"\(port)\",\"country\":\"\(country)\",\"status\":\"\(status)\"},\"metrics\":{\"bytes\":\(bytes),\"requests\":\(requests)}}"
    }
}

/// Commits events through the native ingest API with the service token.
func ingest(_ client: some TestClientProtocol, _ events: [ProxyEvent]) async throws {
    let r = try await client.execute(uri: "/v1/events", method: .post, headers: bearer("ingest-secret"), body: ByteBuffer(string: events.map(\.ndjson).joined(separator: "\n")))
    #expect(r.status == .ok, "ingest: \(r.text)")
}

/// Percent-encodes a query value (`+`, `:` and `/` included).
func q(_ s: String) -> String {
    s.addingPercentEncoding(withAllowedCharacters: CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "-._~"))) ?? s
}

/// The IPRoyal seed page's example report: (date, hostname, port, GB in hundredths, requests).
let iproyalSeedRows: [(date: String, host: String, port: String, centiGB: Int64, requests: Int64)] = [
    ("2026-01-01", "example.com", "443", 215, 1248),
    ("2026-01-01", "api.example.com", "443", 478, 5310),
    ("2026-01-01", "cdn.example.com", "80", 92, 612),
    ("2026-01-02", "example.com", "443", 184, 1102),
    ("2026-01-02", "api.example.com", "443", 523, 6047),
    ("2026-01-03", "example.com", "443", 307, 2415),
    ("2026-01-03", "images.example.com", "443", 841, 9823),
]

/// The seed page's CSV, verbatim.
let iproyalSeedCSV = """
date,hostname,port,data,measurement unit,requests count
2026-01-01,example.com,443,2.15,GB,1248
2026-01-01,api.example.com,443,4.78,GB,5310
2026-01-01,cdn.example.com,80,0.92,GB,612
2026-01-02,example.com,443,1.84,GB,1102
2026-01-02,api.example.com,443,5.23,GB,6047
2026-01-03,example.com,443,3.07,GB,2415
2026-01-03,images.example.com,443,8.41,GB,9823
,,total:,26.40,,26557

"""

/// Events reproducing the seed rows for `account`: each row's bytes (its GB figure × 2^30, floored)
/// and requests split over three events at different hours of its UTC day.
func iproyalSeedEvents(account: String) -> [ProxyEvent] {
    iproyalSeedRows.flatMap { row -> [ProxyEvent] in
        let bytes = row.centiGB * (1 << 30) / 100
        let parts: [(String, Int64, Int64)] = [("01:07:00", bytes / 3, row.requests / 3), ("12:30:00", bytes / 3, row.requests / 3),
                                               ("23:59:59", bytes - 2 * (bytes / 3), row.requests - 2 * (row.requests / 3))]
        return parts.map { time, b, r in
            ProxyEvent(time: "\(row.date)T\(time)Z", account: account, host: row.host, port: row.port, bytes: b, requests: r)
        }
    }
}

/// The contract configuration with the sibling tenant `other` given a package, key, password and
/// sub-user, so foreign identifiers of every kind exist; `acmeIPs` replaces acme's `allowed_ips`.
func proxyYAML(acmeIPs: String = "[127.0.0.1/32, \"::1/128\"]") -> String {
    contractYAML
        .replacingOccurrences(of: "allowed_ips: [127.0.0.1/32, \"::1/128\"]", with: "allowed_ips: \(acmeIPs)")
        .replacingOccurrences(of: "  - id: other\n    tokens: [other-token]", with: """
          - id: other
            tokens: [other-token]
            username: other
            package_key: other-pkg
            api_keys: [other-key]
            password: other-pass
            children:
              - { id: other-sub, username: other-sub, hash: OTHERHASH0000000000000000001 }
        """)
}

/// The Proxy-Seller seed page's hourly figures of its one login.
let proxySellerSeedHours: [(hour: String, bytes: Int64)] = [
    ("2025-12-02 14:00:00", 431879), ("2025-12-02 15:00:00", 890159), ("2025-12-02 16:00:00", 1650503),
    ("2025-12-02 17:00:00", 2453952), ("2025-12-02 18:00:00", 2326935), ("2025-12-02 19:00:00", 1871175),
    ("2025-12-02 20:00:00", 1949695), ("2025-12-02 21:00:00", 234030), ("2025-12-02 22:00:00", 212451),
    ("2025-12-02 23:00:00", 2311198), ("2025-12-03 00:00:00", 2132501), ("2025-12-03 01:00:00", 2530564),
    ("2026-01-22 03:00:00", 20947346), ("2026-01-22 04:00:00", 20222530), ("2026-01-22 05:00:00", 18709287),
    ("2026-01-22 06:00:00", 18247463), ("2026-01-22 07:00:00", 7678039), ("2026-01-22 12:00:00", 41008),
    ("2026-01-22 15:00:00", 710170), ("2026-01-22 18:00:00", 5140074), ("2026-01-22 21:00:00", 1016758),
]

/// Events giving each seed hour its figure: two events inside the hour (minutes 05 and 59:59).
func proxySellerSeedEvents(account: String) -> [ProxyEvent] {
    proxySellerSeedHours.flatMap { h -> [ProxyEvent] in
        let day = h.hour.prefix(10), hour = h.hour.dropFirst(11).prefix(2)
        return [ProxyEvent(time: "\(day)T\(hour):05:00Z", account: account, host: "a.com", bytes: h.bytes / 2),
                ProxyEvent(time: "\(day)T\(hour):59:59Z", account: account, host: "b.com", bytes: h.bytes - h.bytes / 2)]
    }
}
