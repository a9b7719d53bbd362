import TallyCore

/// Realistic synthetic usage for demos, tests and benchmarks: residential proxy traffic of
/// sub-users (long-tailed host popularity, diurnal and weekly load, countries, statuses) and
/// messaging with exact decimal costs.
///
/// Deterministic for a seed, at any scale: every account-hour draws from its own random stream
/// (seeded by the seed, the product, the hour and the account name), so an hour of an account
/// holds the same events whatever range it is generated in. Only IEEE-exact arithmetic (no
/// `cos` or `pow`) touches the draws, so every platform writes the same bytes.
public struct SyntheticUsage: Sendable {
    public let seed: UInt64
    public let hosts: [String]
    let hostTail: LongTail
    /// The `source` of every event: ids are unique within one seed's data.
    let source: String

    public init(seed: UInt64 = 42, hostCount: Int = 200) {
        self.seed = seed
        let popular = ["example.com", "google.com", "amazon.com", "youtube.com", "facebook.com", "wikipedia.org", "instagram.com", "reddit.com", "x.com", "linkedin.com"]
        let count = max(1, hostCount)
        hosts = Array((popular + (0..<max(0, count - popular.count)).map { "site\($0).example.net" }).prefix(count))
        hostTail = LongTail(count: count)
        source = "gen-\(seed)"
    }

    /// The residential product the generated events fit (the README's configuration).
    public static let residentialProduct = ProductSpec(
        name: "residential", dimensions: ["hostname", "port", "country", "status"],
        metrics: [MetricSpec(name: "bytes", kind: .integer), MetricSpec(name: "requests", kind: .integer)])

    /// The messaging product the generated events fit; `cost` has 6 decimals.
    public static let messagingProduct = ProductSpec(
        name: "messaging", dimensions: ["direction", "currency", "message_type", "country_code"],
        metrics: [MetricSpec(name: "cost", kind: .decimal(scale: 6)), MetricSpec(name: "parts", kind: .integer), MetricSpec(name: "count", kind: .integer)])

    /// Accounts that share a product and an average event rate.
    ///
    /// Accounts are long-tailed too: the i-th (from 0) gets a share proportional to
    /// 1/sqrt(i+1), scaled so that the average account sees `perHour` events an hour.
    public struct Traffic: Sendable {
        public enum Kind: Sendable { case residential, messaging }
        public var kind: Kind
        public var accounts: [String]
        public var perHour: Double
        let weights: [Double]
        let nameSeeds: [UInt64]

        public init(_ kind: Kind, accounts: [String], perHour: Double) {
            self.kind = kind
            self.accounts = accounts
            self.perHour = max(0, perHour)
            let raw = accounts.indices.map { 1 / Double($0 + 1).squareRoot() }
            let mean = raw.reduce(0, +) / Double(max(1, raw.count))
            weights = raw.map { $0 / mean }
            nameSeeds = accounts.map(SyntheticUsage.fnv1a)
        }
    }

    /// Calls `body` with the events of each hour in `[from, to)`, in time order (one call per hour).
    public func events(_ traffic: [Traffic], from: Int64, to: Int64, ids: Bool = true, _ body: ([UsageEvent]) throws -> Void) rethrows {
        var hour = floorDiv(from, 3600) * 3600
        var out: [UsageEvent] = []
        while hour < to {
            out.removeAll(keepingCapacity: true)
            for t in traffic { events(t, hour: hour, ids: ids, into: &out) }
            if hour < from || hour + 3600 > to { out.removeAll { $0.time < from || $0.time >= to } }
            out.sort { $0.time < $1.time }
            try body(out)
            hour += 3600
        }
    }

    /// Residential proxy events for `accounts` over `[from, to)`, about `perHour` events per account-hour.
    public func residential(accounts: [String], from: Int64, to: Int64, perHour: Double, id: Bool = true) -> [UsageEvent] {
        collect([Traffic(.residential, accounts: accounts, perHour: perHour)], from: from, to: to, ids: id)
    }

    /// Messaging events (cost with 6 decimals, parts, count) for `accounts` over `[from, to)`.
    public func messaging(accounts: [String], from: Int64, to: Int64, perHour: Double) -> [UsageEvent] {
        collect([Traffic(.messaging, accounts: accounts, perHour: perHour)], from: from, to: to, ids: true)
    }

    func collect(_ traffic: [Traffic], from: Int64, to: Int64, ids: Bool) -> [UsageEvent] {
        var all: [UsageEvent] = []
        events(traffic, from: from, to: to, ids: ids) { all += $0 }
        return all
    }

    /// Appends one hour's events of every account of `traffic` (not sorted, not clipped).
    func events(_ traffic: Traffic, hour: Int64, ids: Bool, into out: inout [UsageEvent]) {
        let hourNumber = floorDiv(hour, 3600)
        let day = floorDiv(hour, 86400)
        let load = traffic.perHour * SyntheticUsage.diurnal[Int(floorMod(hourNumber, 24))] * SyntheticUsage.weekly[CivilDate.isoWeekday(dayNumber: day) - 1]
        let tag: UInt64 = traffic.kind == .residential ? 0x5245_5349 : 0x4D53_4753
        let idPrefix = (traffic.kind == .residential ? "r" : "m") + String(hourNumber) + "."
        for (a, account) in traffic.accounts.enumerated() {
            let idSuffix = "." + account
            var r = SeededRandom(seed: SyntheticUsage.mix(seed, tag, UInt64(bitPattern: hourNumber), traffic.nameSeeds[a]))
            let jitter = 0.7 + 0.6 * r.unit()
            let rate = load * traffic.weights[a] * jitter
            let whole = rate.rounded(.down)
            let count = Int(whole) + (r.unit() < rate - whole ? 1 : 0)
            for k in 0..<count {
                let t = hour + r.below(Int64(3600))
                let id = ids ? idPrefix + String(k) + idSuffix : nil
                switch traffic.kind {
                case .residential: out.append(residential(&r, time: t, account: account, shift: Int(traffic.nameSeeds[a] % UInt64(hosts.count)), id: id))
                case .messaging: out.append(messaging(&r, time: t, account: account, id: id))
                }
            }
        }
    }

    /// One proxied request: half of a sub-user's hosts follow the global popularity, half its own.
    func residential(_ r: inout SeededRandom, time: Int64, account: String, shift: Int, id: String?) -> UsageEvent {
        let rank = hostTail.pick(&r)
        let host = hosts[r.below(2) == 0 ? rank : (rank + shift) % hosts.count]
        let tunnel = r.below(100) < 85
        let status = tunnel ? SyntheticUsage.tunnelStatuses.pick(&r) : SyntheticUsage.plainStatuses.pick(&r)
        // Log-uniform sizes: 200 B to about 65 MB through a tunnel, up to 4 MB in plain HTTP.
        let bytes = Int64(200 + r.below(800)) << Int64(r.below(tunnel ? 17 : 13))
        return UsageEvent(id: id, source: source, time: time, account: account, product: "residential",
                          dimensions: [host, tunnel ? "443" : "80", SyntheticUsage.countries.pick(&r), status],
                          metrics: [bytes, 1])
    }

    /// One message: cost is parts x the destination's price per part (in millionths of a dollar) plus a small carrier fee.
    func messaging(_ r: inout SeededRandom, time: Int64, account: String, id: String?) -> UsageEvent {
        let (country, price) = SyntheticUsage.messagePrices.pick(&r)
        let mms = r.below(10) == 0
        let inbound = r.below(10) < 3
        let parts = mms ? 1 : Int64(SyntheticUsage.smsParts.pick(&r))
        let perPart = (mms ? price * 4 : price) / (inbound ? 2 : 1)
        let cost = parts * perPart + r.below(Int64(500))
        return UsageEvent(id: id, source: source, time: time, account: account, product: "messaging",
                          dimensions: [inbound ? "inbound" : "outbound", "USD", mms ? "MMS" : "SMS", country],
                          metrics: [cost, parts, 1])
    }

    /// Relative load by UTC hour (a mix of European and American evenings), mean 1.
    static let diurnal: [Double] = {
        let shape: [Double] = [0.62, 0.52, 0.45, 0.40, 0.38, 0.40, 0.48, 0.60, 0.74, 0.86, 0.95, 1.02,
                               1.08, 1.12, 1.16, 1.20, 1.24, 1.30, 1.36, 1.40, 1.38, 1.24, 1.02, 0.80]
        let mean = shape.reduce(0, +) / 24
        return shape.map { $0 / mean }
    }()

    /// Relative load by ISO weekday (Monday first): quieter weekends, mean 1.
    static let weekly: [Double] = [1.08, 1.08, 1.08, 1.08, 1.08, 0.8, 0.8]

    static let countries = Weighted([("US", 30), ("DE", 8), ("GB", 8), ("FR", 6), ("BR", 6), ("IN", 6), ("JP", 5), ("CA", 5), ("NL", 4), ("PL", 3),
                                     ("IT", 3), ("ES", 3), ("AU", 3), ("MX", 2), ("TR", 2), ("ID", 2), ("KR", 2), ("SE", 1), ("UA", 1), ("ZA", 1)])
    /// CONNECT tunnels are 200 unless the upstream fails; plain HTTP carries the origin's status.
    static let tunnelStatuses = Weighted([("200", 97), ("503", 2), ("502", 1)])
    static let plainStatuses = Weighted([("200", 80), ("304", 5), ("404", 5), ("301", 3), ("302", 3), ("403", 2), ("204", 1), ("500", 1)])
    /// Destination and price per SMS part in millionths of a dollar.
    static let messagePrices = Weighted([(("US", Int64(4_000)), 40), (("CA", 4_500), 8), (("GB", 35_000), 10), (("DE", 75_000), 6), (("FR", 60_000), 5),
                                         (("IN", 2_500), 12), (("BR", 15_000), 8), (("MX", 9_000), 5), (("NL", 90_000), 3), (("AU", 40_000), 3)])
    static let smsParts = Weighted([(1, 70), (2, 20), (3, 8), (4, 2)])

    /// FNV-1a of a name: a stable per-account seed (Swift's `hashValue` changes between runs).
    static func fnv1a(_ s: String) -> UInt64 {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for b in s.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01B3 }
        return h
    }

    static func mix(_ values: UInt64...) -> UInt64 {
        var r = SeededRandom(seed: 0)
        for v in values { r = SeededRandom(seed: r.next() ^ v) }
        return r.next()
    }
}

/// A Zipf-like pick among `count` items: item i has weight 1/(i+1).
struct LongTail: Sendable {
    let cumulative: [Double]

    init(count: Int) {
        var sum = 0.0
        cumulative = (0..<count).map { i in
            sum += 1 / Double(i + 1)
            return sum
        }
    }

    func pick(_ r: inout SeededRandom) -> Int {
        let u = r.unit() * cumulative[cumulative.count - 1]
        var lo = 0, hi = cumulative.count - 1
        while lo < hi {
            let mid = (lo + hi) / 2
            if cumulative[mid] > u { hi = mid } else { lo = mid + 1 }
        }
        return lo
    }
}

/// A pick among values with integer weights.
struct Weighted<Value: Sendable>: Sendable {
    let values: [Value]
    let bounds: [Int]

    init(_ pairs: [(Value, Int)]) {
        values = pairs.map(\.0)
        var sum = 0
        bounds = pairs.map { sum += $0.1; return sum }
    }

    func pick(_ r: inout SeededRandom) -> Value {
        let u = r.below(bounds[bounds.count - 1])
        return values[bounds.firstIndex { $0 > u }!]
    }
}

extension SeededRandom {
    /// A uniform value in [0, 1) with 53 random bits.
    mutating func unit() -> Double { Double(next() >> 11) / 9_007_199_254_740_992 }
}
