import Testing
import TallyCore

@testable import TallyIngest

@Suite("SyntheticUsage")
struct SyntheticUsageTests {
    static let day: Int64 = CivilDate(year: 2026, month: 3, day: 2).dayNumber * 86400  // a Monday
    static let subUsers = (1...100).map { "user\($0)" }
    static let catalog = ProductCatalog([SyntheticUsage.residentialProduct, SyntheticUsage.messagingProduct])

    static func mixed(seed: UInt64 = 7, days: Int64 = 2, ids: Bool = true) -> [UsageEvent] {
        let traffic = [SyntheticUsage.Traffic(.residential, accounts: ["sub 1", "sub\"2", "sub3"], perHour: 20),
                       SyntheticUsage.Traffic(.messaging, accounts: ["tel1", "tel2"], perHour: 5)]
        var all: [UsageEvent] = []
        SyntheticUsage(seed: seed, hostCount: 50).events(traffic, from: day, to: day + days * 86400, ids: ids) { all += $0 }
        return all
    }

    static func encode(_ events: [UsageEvent], _ format: UsageLineFormat, _ products: [ProductSpec]) throws -> [UInt8] {
        let encoder = try UsageLineEncoder(format: format, products: products)
        var out = encoder.header()
        for e in events { encoder.append(e, to: &out) }
        return out
    }

    /// A validator whose account ids are the generated names, so decoded events compare equal.
    static func validator(_ names: [String]) -> EventValidator {
        EventValidator(catalog: catalog, accounts: AccountDirectory(names.map { Account(id: $0) }), maxFuture: 900, scope: nil, now: day + 400 * 86400)
    }

    @Test func sameSeedSameBytesOtherSeedOtherData() throws {
        let a = try Self.encode(Self.mixed(), .native, [SyntheticUsage.residentialProduct, SyntheticUsage.messagingProduct])
        let b = try Self.encode(Self.mixed(), .native, [SyntheticUsage.residentialProduct, SyntheticUsage.messagingProduct])
        #expect(a == b)
        #expect(Self.mixed(seed: 8) != Self.mixed())
    }

    @Test func anHourIsTheSameWhateverRangeItIsGeneratedIn() {
        let gen = SyntheticUsage(seed: 3, hostCount: 100)
        let hour = Self.day + 13 * 3600
        let alone = gen.residential(accounts: ["a", "b"], from: hour, to: hour + 3600, perHour: 30)
        let wide = gen.residential(accounts: ["b", "a", "c"], from: Self.day, to: Self.day + 86400, perHour: 30)
        #expect(!alone.isEmpty)
        // The account weights follow list position, so compare an account with the same position.
        #expect(alone.filter { $0.account == "a" } == gen.residential(accounts: ["a", "x"], from: Self.day, to: Self.day + 86400, perHour: 30).filter { $0.account == "a" && $0.time >= hour && $0.time < hour + 3600 })
        #expect(wide.allSatisfy { $0.time >= Self.day && $0.time < Self.day + 86400 })
        #expect(zip(wide, wide.dropFirst()).allSatisfy { $0.time <= $1.time })
    }

    @Test func ratesAverageOutToPerHourWithLongTailedAccountsAndADailyCurve() {
        let events = SyntheticUsage(seed: 11, hostCount: 1000).residential(accounts: Self.subUsers, from: Self.day, to: Self.day + 14 * 86400, perHour: 2)
        let expected = 2.0 * 100 * 14 * 24
        #expect(abs(Double(events.count) - expected) < expected * 0.05)
        var perAccount: [String: Int] = [:], perHour = [Int](repeating: 0, count: 24), perHost: [String: Int] = [:]
        for e in events {
            perAccount[e.account, default: 0] += 1
            perHour[Int(floorMod(e.time, 86400) / 3600)] += 1
            perHost[e.dimensions[0], default: 0] += 1
        }
        let first = Double(perAccount["user1"] ?? 0), last = Double(perAccount["user100"] ?? 0)
        #expect(first / last > 6 && first / last < 16)  // 1/sqrt(1) against 1/sqrt(100)
        #expect(Double(perHour[19]) / Double(perHour[4]) > 2.5)
        let counts = perHost.values.sorted(by: >)
        #expect(counts[0] > 30 * counts[counts.count / 2])  // Zipf-like: the top host dwarfs the median one
        #expect(perHost.count > 500)
    }

    @Test func residentialEventsLookLikeProxyTraffic() {
        let events = SyntheticUsage(seed: 5).residential(accounts: ["u"], from: Self.day, to: Self.day + 86400, perHour: 200)
        let hosts = Set(SyntheticUsage(seed: 5).hosts)
        for e in events {
            #expect(hosts.contains(e.dimensions[0]))
            #expect(["443", "80"].contains(e.dimensions[1]))
            #expect(e.dimensions[2].count == 2)
            #expect(Int(e.dimensions[3]).map { (200..<600).contains($0) } == true)
            #expect(e.metrics[0] >= 200 && e.metrics[1] == 1)
        }
        #expect(Set(events.map(\.dimensions[2])).count > 10)
        #expect(Set(events.compactMap(\.id)).count == events.count)
    }

    @Test func messagingCostsAreExactMillionths() throws {
        let events = SyntheticUsage(seed: 9).messaging(accounts: ["tel1"], from: Self.day, to: Self.day + 86400, perHour: 50)
        #expect(events.count > 500)
        #expect(events.contains { $0.metrics[0] % 1000 != 0 })  // digits down to the sixth decimal
        let csv = String(decoding: try Self.encode(Array(events.prefix(1)), .csv, [SyntheticUsage.messagingProduct]), as: UTF8.self)
        let cost = CSV.parse(csv)[1][9]
        #expect(Exact.parse(cost, scale: 6) == .success(events[0].metrics[0]))
    }

    @Test(arguments: [UsageLineFormat.native, .cloudevents])
    func jsonLinesDecodeToTheSameEvents(format: UsageLineFormat) throws {
        let events = Self.mixed()
        var bytes = try Self.encode(events, format, [SyntheticUsage.residentialProduct, SyntheticUsage.messagingProduct])
        let v = Self.validator(["sub 1", "sub\"2", "sub3", "tel1", "tel2"])
        let decoded = bytes.withUnsafeMutableBufferPointer { b in
            format == .native ? EventDecoder.native(UnsafeBufferPointer(b), validator: v) : EventDecoder.cloudEvents(UnsafeBufferPointer(b), validator: v)
        }
        #expect(decoded.problems.isEmpty)
        #expect(decoded.events == events)
    }

    @Test func csvDecodesToTheSameEventsOneProductAFile() throws {
        let events = Self.mixed(ids: false)
        let v = Self.validator(["sub 1", "sub\"2", "sub3", "tel1", "tel2"])
        for product in [SyntheticUsage.residentialProduct, SyntheticUsage.messagingProduct] {
            let mine = events.filter { $0.product == product.name }
            let text = String(decoding: try Self.encode(mine, .csv, [product]), as: UTF8.self)
            let decoded = EventDecoder.csv(text, validator: v)
            #expect(decoded.problems.isEmpty)
            // An empty id or source cell is an absent value.
            #expect(decoded.events == mine)
        }
        #expect(throws: UsageLineEncoderError.self) { try UsageLineEncoder(format: .csv, products: Self.catalog.products) }
    }

    @Test func squidLinesDecodeToTheSameUsage() throws {
        let events = Self.mixed().filter { $0.product == "residential" }
        let text = String(decoding: try Self.encode(events, .squid, [SyntheticUsage.residentialProduct]), as: UTF8.self)
        let lines = text.split(separator: "\n").map(String.init)
        #expect(lines.count == events.count)
        for (line, e) in zip(lines, events) {
            guard case .record(let r) = SquidLogFormat.native.decode(line) else {
                Issue.record("not a Squid line: \(line)")
                continue
            }
            #expect(r.user == e.account)
            #expect(r.time / 1000 == e.time)
            #expect(r.host == e.dimensions[0] && String(r.port) == e.dimensions[1] && String(r.status) == e.dimensions[3])
            #expect(r.bytesToClient == e.metrics[0])
            #expect(r.method == (e.dimensions[1] == "80" ? "GET" : "CONNECT"))
            #expect(!r.denied)
        }
        #expect(throws: UsageLineEncoderError.self) { try UsageLineEncoder(format: .squid, products: [SyntheticUsage.messagingProduct]) }
    }
}
