import Foundation
import Testing
import TallyCore
import TallySQLite
import TallyStore

@testable import TallyIngest

/// `tally ingest --format squid`: plain and gzip files into a real SQLite file.
@Suite("SquidIngestor")
struct SquidIngestorTests {
    typealias F = SquidFixture

    /// A log of `count` seeded lines (valid, denied, unknown users, garbled) and its oracle.
    static func log(seed: UInt64, count: Int, unassigned: Bool = true) -> (String, SquidOracle, [Int]) {
        var random = SeededRandom(seed: seed)
        var oracle = SquidOracle()
        var text = ""
        var garbled: [Int] = []
        for i in 0..<count {
            let (line, apply) = SquidTailTests.randomLine(&random, second: Int64(i))
            text += line
            var probe = SquidOracle()
            apply(&probe)
            if probe.malformed > 0 { garbled.append(i + 1) }
            if unassigned {
                apply(&oracle)
            } else {
                // The same line without a catch-all account.
                var o = SquidOracle()
                apply(&o)
                if o.usage.keys.contains(where: { $0.hasPrefix("unassigned|") }) {
                    oracle.lines += 1
                    oracle.rejected += 1
                } else {
                    apply(&oracle)
                }
            }
        }
        return (text, oracle, garbled)
    }

    static func ingestor(_ store: any UsageStore, unassigned: Bool = true, commitCells: Int = 500_000) throws -> SquidIngestor {
        var i = SquidIngestor(store: store, meter: try F.meter(unassigned: unassigned), now: F.fixedNow, logger: F.quiet)
        i.chunkBytes = 1000  // many chunks: order and line numbers across chunk borders
        i.commitCells = commitCells
        return i
    }

    static func gzip(_ scratch: SquidScratch, _ name: String) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["gzip", "-n", scratch.file(name)]
        try p.run()
        p.waitUntilExit()
        #expect(p.terminationStatus == 0)
    }

    @Test(arguments: [11, 12, 13] as [UInt64])
    func plainFileMatchesTheOracle(seed: UInt64) async throws {
        let scratch = try SquidScratch()
        let store = try await F.store(scratch)
        let (text, oracle, garbled) = Self.log(seed: seed, count: 2000)
        try scratch.append("access.log", text)
        // Few cells per commit: many commits, each overlapping the metering of the next cells.
        let tally = try await Self.ingestor(store, commitCells: 40).ingest(path: scratch.file("access.log"))
        #expect(try await F.totals(store) == oracle.usage)
        #expect(tally.lines == oracle.lines)
        #expect(tally.denied == oracle.denied)
        #expect(tally.malformed == oracle.malformed)
        #expect(tally.lines == tally.accepted + tally.denied + tally.rejected + tally.malformed)
        #expect(tally.problems.map(\.line) == Array(garbled.prefix(SquidTally.maxProblems)).map(Int64.init))
        try await store.close()
    }

    @Test func gzipFileMatchesThePlainOne() async throws {
        let scratch = try SquidScratch()
        let store = try await F.store(scratch)
        let (text, oracle, _) = Self.log(seed: 21, count: 3000)
        try scratch.append("access.log.1", text)
        try Self.gzip(scratch, "access.log.1")
        let tally = try await Self.ingestor(store).ingest(path: scratch.file("access.log.1.gz"))
        #expect(try await F.totals(store) == oracle.usage)
        #expect(tally.lines == oracle.lines)
        try await store.close()
    }

    @Test func aCorruptGzipFileFailsAndCommitsNothing() async throws {
        let scratch = try SquidScratch()
        let store = try await F.store(scratch)
        let (text, _, _) = Self.log(seed: 22, count: 3000)
        try scratch.append("access.log.1", text)
        try Self.gzip(scratch, "access.log.1")
        let whole = try Data(contentsOf: URL(fileURLWithPath: scratch.file("access.log.1.gz")))
        try whole.prefix(whole.count / 2).write(to: URL(fileURLWithPath: scratch.file("cut.gz")))
        await #expect(throws: IngestError.self) {
            _ = try await Self.ingestor(store).ingest(path: scratch.file("cut.gz"))
        }
        #expect(try await F.totals(store) == [:])
        try await store.close()
    }

    @Test func anUnterminatedLastLineIsCountedNeverMetered() async throws {
        let scratch = try SquidScratch()
        let store = try await F.store(scratch)
        let full = F.line(second: 1, user: "alice", host: "a.example", bytes: 10)
        let last = F.line(second: 2, user: "alice", host: "a.example", bytes: 20)
        try scratch.append("access.log", full + last.dropLast())
        let tally = try await Self.ingestor(store).ingest(path: scratch.file("access.log"))
        #expect(try await F.totals(store) == ["acct-alice|a.example": [10, 1]])
        #expect(tally.lines == 2)
        #expect(tally.malformed == 1)
        #expect(tally.problems.first?.line == 2)
        try await store.close()
    }

    @Test func unknownUsersAreRejectedWithoutACatchAll() async throws {
        let scratch = try SquidScratch()
        let store = try await F.store(scratch)
        let (text, oracle, _) = Self.log(seed: 31, count: 1500, unassigned: false)
        try scratch.append("access.log", text)
        let tally = try await Self.ingestor(store, unassigned: false).ingest(path: scratch.file("access.log"))
        #expect(try await F.totals(store) == oracle.usage)
        #expect(tally.rejected == oracle.rejected)
        #expect(tally.unknownUsers.keys.sorted() == ["-", "carol"])
        #expect(tally.unknownUsers.values.reduce(0, +) == oracle.rejected)
        try await store.close()
    }

    @Test func aLogformatWithRequestBytesBillsBothDirections() async throws {
        let scratch = try SquidScratch()
        let products = ProductCatalog([ProductSpec(
            name: "proxy", dimensions: ["hostname", "port", "method", "username", "result_code"],
            metrics: [MetricSpec(name: "bytes", kind: .integer), MetricSpec(name: "bytes_to_client", kind: .integer),
                      MetricSpec(name: "bytes_from_client", kind: .integer), MetricSpec(name: "requests", kind: .decimal(scale: 2))])])
        var config = TallyConfig(products: products, accounts: [Account(id: "a", username: "alice"), Account(id: "other")])
        config.ingest.unassignedAccount = "other"
        let meter = try SquidMeter(config: config, product: "proxy", logformat: "logformat tally %ts.%03tu %6tr %>a %Ss/%03>Hs %<st %>st %rm %ru %[un %Sh/%<a %mt")
        let store = try SQLiteUsageStore(path: scratch.file("p.sqlite"), logger: F.quiet)
        try await store.prepare(products: products)
        try scratch.append("access.log", """
            1767225600.100     12 127.0.0.1 TCP_TUNNEL/200 5000 700 CONNECT shop.example:8443 alice HIER_DIRECT/1.2.3.4 -
            1767225601.100     12 127.0.0.1 TCP_MISS/200 300 80 GET http://shop.example/a alice HIER_DIRECT/1.2.3.4 text/html
            1767225602.100     12 127.0.0.1 TCP_MISS/200 100 50 GET http://shop.example/b dave HIER_DIRECT/1.2.3.4 text/html

            """)
        let tally = try await SquidIngestor(store: store, meter: meter, now: F.fixedNow, logger: F.quiet).ingest(path: scratch.file("access.log"))
        #expect(tally.accepted == 3)
        #expect(tally.unassigned == 1)
        let rows = try await store.aggregate(StoreQuery(accounts: ["a", "other"], product: "proxy", tier: .day, from: F.t0, to: F.t0 + 86_400,
                                                        groupByAccount: true, groupBy: [0, 1, 2, 3, 4]))
        #expect(rows.map { [$0.account!] + $0.groups } == [
            ["a", "shop.example", "80", "GET", "alice", "TCP_MISS"],
            ["a", "shop.example", "8443", "CONNECT", "alice", "TCP_TUNNEL"],
            ["other", "shop.example", "80", "GET", "dave", "TCP_MISS"],
        ])
        #expect(rows.map(\.metrics) == [[380, 300, 80, 100], [5700, 5000, 700, 100], [150, 100, 50, 100]])
        try await store.close()
    }

    /// Cells become one event each with every dimension filled by name, whichever chunk (and so
    /// whichever string numbering) their lines were metered in; user names that differ only in
    /// Unicode normalization stay apart.
    @Test func cellsBecomeOneEventPerCellAcrossChunks() throws {
        let product = ProductSpec(
            name: "detailed", dimensions: ["hostname", "port", "status", "method", "result_code", "username", "country"],
            metrics: [MetricSpec(name: "bytes", kind: .decimal(scale: 2)), MetricSpec(name: "requests", kind: .integer),
                      MetricSpec(name: "fee", kind: .integer)])
        var config = TallyConfig(products: ProductCatalog([product]), accounts: [Account(id: "acct-alice", username: "alice"), Account(id: "other")])
        config.ingest.unassignedAccount = "other"
        let meter = try SquidMeter(config: config, product: "detailed", logformat: nil)
        let nfc = "caf\u{E9}", nfd = "cafe\u{301}"
        let first = F.line(second: 0, user: "alice", host: "A.example", bytes: 10) + F.line(second: 1, user: nfc, host: "b.example", bytes: 20, connect: true)
        let second = F.line(second: 2, user: nfd, host: "b.example", bytes: 30, connect: true) + F.line(second: 3, user: "alice", host: "a.example", bytes: 5)
            + F.line(second: 900, user: "alice", host: "a.example", bytes: 7, result: "TCP_HIT/304")
        var total = SquidTally()
        for text in [first, second] {
            var chunk = SquidTally()
            Array(text.utf8).withUnsafeBytes { meter.meter($0, into: &chunk, firstLine: 1, firstOffset: 0, now: F.fixedNow) }
            try total.merge(chunk)
        }
        let events = try meter.columns(total).events.sorted { ($0.time, $0.metrics[0]) < ($1.time, $1.metrics[0]) }
        let t = F.t0
        #expect(events == [
            UsageEvent(time: t, account: "acct-alice", product: "detailed", dimensions: ["a.example", "80", "200", "GET", "TCP_MISS", "alice", ""], metrics: [1500, 2, 0]),
            UsageEvent(time: t, account: "other", product: "detailed", dimensions: ["b.example", "443", "200", "CONNECT", "TCP_MISS", nfc, ""], metrics: [2000, 1, 0]),
            UsageEvent(time: t, account: "other", product: "detailed", dimensions: ["b.example", "443", "200", "CONNECT", "TCP_MISS", nfd, ""], metrics: [3000, 1, 0]),
            UsageEvent(time: t + 900, account: "acct-alice", product: "detailed", dimensions: ["a.example", "80", "304", "GET", "TCP_HIT", "alice", ""], metrics: [700, 1, 0]),
        ])
        // String == would call the two spellings equal: compare their bytes.
        #expect(events.map { Array($0.dimensions[5].utf8) } == [Array("alice".utf8), Array(nfc.utf8), Array(nfd.utf8), Array("alice".utf8)])
    }

    @Test func aProductWithoutSquidMetricsIsRefused() throws {
        let products = ProductCatalog([ProductSpec(name: "sms", dimensions: ["country"], metrics: [MetricSpec(name: "parts", kind: .integer)])])
        let config = TallyConfig(products: products, accounts: [Account(id: "a")])
        #expect(throws: IngestError.self) { try SquidMeter(config: config, product: "sms", logformat: nil) }
        #expect(throws: IngestError.self) { try SquidMeter(config: config, product: "nope", logformat: nil) }
        #expect(throws: IngestError.self) { try SquidMeter(config: SquidFixture.config(unassigned: true), product: "residential", logformat: "%ts %un") }
    }
}
