import TallyCore

/// Realistic synthetic usage: proxy traffic with long-tailed host popularity and a diurnal
/// curve, and messaging with decimal costs. Deterministic for a seed.
public struct SyntheticUsage: Sendable {
    public var seed: UInt64
    public var hosts: [String]

    public init(seed: UInt64 = 42, hostCount: Int = 200) {
        self.seed = seed
        let popular = ["example.com", "google.com", "amazon.com", "youtube.com", "facebook.com", "wikipedia.org", "instagram.com", "reddit.com", "x.com", "linkedin.com"]
        hosts = Array((popular + (0..<max(0, hostCount - popular.count)).map { "site\($0).example.net" }).prefix(hostCount))
    }

    static let countries = ["US", "DE", "GB", "FR", "BR", "IN", "JP", "CA", "NL", "PL"]
    static let statuses = ["200", "200", "200", "200", "204", "301", "302", "404", "403", "500"]

    /// A Zipf-like pick: index i is chosen with weight about 1/(i+1).
    static func longTail(_ n: Int, _ r: inout SeededRandom) -> Int {
        let u = Double(r.next() >> 11) / Double(1 << 53)
        return min(n - 1, Int(pow(Double(n + 1), u)) - 1)
    }

    /// Relative load by UTC hour (a day's curve peaking in the evening).
    static func diurnal(_ hour: Int) -> Double {
        0.35 + 0.65 * (0.5 - 0.5 * cos(Double((hour + 6) % 24) / 24 * 2 * .pi))
    }

    /// Residential proxy events for `accounts` over `[from, to)`, about `perHour` events per account-hour.
    public func residential(accounts: [String], from: Int64, to: Int64, perHour: Int, id: Bool = true) -> [UsageEvent] {
        var r = SeededRandom(seed: seed)
        var out: [UsageEvent] = []
        var n = 0
        var hour = floorDiv(from, 3600) * 3600
        while hour < to {
            let load = SyntheticUsage.diurnal(Int(floorMod(hour, 86400) / 3600))
            for a in accounts {
                let count = Int(Double(perHour) * load * (0.5 + Double(r.next() % 1000) / 1000))
                for _ in 0..<count {
                    let t = hour + Int64(r.next() % 3600)
                    guard t >= from, t < to else { continue }
                    let host = hosts[SyntheticUsage.longTail(hosts.count, &r)]
                    let port = r.next() % 10 < 8 ? "443" : "80"
                    let bytes = Int64(200 + r.next() % 2_000_000)
                    n += 1
                    out.append(UsageEvent(id: id ? "r\(seed)-\(n)" : nil, source: "synthetic", time: t, account: a, product: "residential",
                                          dimensions: [host, port, SyntheticUsage.countries[SyntheticUsage.longTail(10, &r)], SyntheticUsage.statuses[Int(r.next() % 10)]],
                                          metrics: [bytes, 1]))
                }
            }
            hour += 3600
        }
        return out
    }

    /// Messaging events (cost with 6 decimals, parts, count) for `accounts` over `[from, to)`.
    public func messaging(accounts: [String], from: Int64, to: Int64, perHour: Int) -> [UsageEvent] {
        var r = SeededRandom(seed: seed &+ 1)
        var out: [UsageEvent] = []
        var n = 0
        var hour = floorDiv(from, 3600) * 3600
        let types = ["SMS", "MMS"]
        let codes = ["US", "GB", "DE", "IN", "BR"]
        while hour < to {
            let load = SyntheticUsage.diurnal(Int(floorMod(hour, 86400) / 3600))
            for a in accounts {
                for _ in 0..<Int(Double(perHour) * load) {
                    let t = hour + Int64(r.next() % 3600)
                    guard t >= from, t < to else { continue }
                    let parts = Int64(1 + r.next() % 3)
                    let mms = r.next() % 10 == 0
                    let costMicros = parts * (mms ? 15_000 : 4_000) + Int64(r.next() % 800)
                    n += 1
                    out.append(UsageEvent(id: "m\(seed)-\(n)", source: "synthetic", time: t, account: a, product: "messaging",
                                          dimensions: [r.next() % 3 == 0 ? "inbound" : "outbound", "USD", types[mms ? 1 : 0], codes[SyntheticUsage.longTail(5, &r)]],
                                          metrics: [costMicros, parts, 1]))
                }
            }
            hour += 3600
        }
        return out
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
